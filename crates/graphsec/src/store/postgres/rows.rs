//! The statements of a write transaction, one function per step. Each runs on the caller's
//! transaction; whether a failed one is tried again is decided by the caller.

use super::{pg, stored};
use crate::domain::write::Current;
use crate::store::audit::{self, AuditRecord};
use crate::store::sql::{self, NamedRow};
use crate::store::{IndexedColumns, NewProfile, Scope, StoreError, StoredProfile, WriteOutcome};
use odata::Dialect::Postgres as Pg;
use sqlx::{Postgres, Row, Transaction};
use std::collections::HashMap;

static NAMED_ROW_FOR_UPDATE: NamedRow = sql::named_row!("tenant, wire, version", " FOR UPDATE");

/// The row a write names, as found, locked until the transaction ends.
pub(super) struct Found {
    pub(super) tenant: String,
    pub(super) profile: StoredProfile,
}

impl Found {
    pub(super) fn current(&self) -> Current<'_> {
        Current { tenant: &self.tenant, doc: &self.profile.doc, version: self.profile.version }
    }
}

/// The row an id names within the scope (see [`NamedRow`]), locked for the write.
pub(super) async fn find_for_update(
    tx: &mut Transaction<'_, Postgres>,
    scope: &Scope,
    id: &str,
) -> Result<Option<Found>, StoreError> {
    let (sql, values) = NAMED_ROW_FOR_UPDATE.of(Pg, scope, id);
    let mut query = sqlx::query(sql);
    for value in values {
        query = query.bind(value);
    }
    match query.fetch_optional(&mut **tx).await.map_err(pg)? {
        None => Ok(None),
        Some(r) => Ok(Some(Found { tenant: r.try_get(0).map_err(pg)?, profile: stored(&r, 1)? })),
    }
}

/// Inserts a profile, `wire` its document, at `version`: `Written`, or `Conflict` when its tenant
/// has the id already.
pub(super) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    columns: &IndexedColumns<'_>,
    wire: String,
    version: i64,
) -> Result<WriteOutcome, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO profiles (tenant, id, version, user_principal_name, display_name, risk_score, \
         azure_subscription_id, created_date_time, last_modified_date_time, doc, wire) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11) ON CONFLICT (tenant, id) DO NOTHING",
    )
    .bind(columns.tenant)
    .bind(columns.id)
    .bind(version)
    .bind(columns.user_principal_name)
    .bind(columns.display_name)
    .bind(columns.risk_score)
    .bind(columns.azure_subscription_id)
    .bind(columns.created_date_time)
    .bind(columns.last_modified_date_time)
    .bind(&wire)
    .bind(&wire)
    .execute(&mut **tx)
    .await
    .map_err(pg)?
    .rows_affected();
    if inserted == 0 {
        return Ok(WriteOutcome::Conflict);
    }
    insert_tags(tx, columns).await?;
    Ok(WriteOutcome::Written(StoredProfile { doc: wire, version }))
}

pub(super) async fn update_in_place(
    tx: &mut Transaction<'_, Postgres>,
    columns: &IndexedColumns<'_>,
    wire: String,
    read_version: i64,
) -> Result<WriteOutcome, StoreError> {
    let updated = sqlx::query(
        "UPDATE profiles SET version = version + 1, user_principal_name = $3, display_name = $4, risk_score = $5, \
         azure_subscription_id = $6, created_date_time = $7, last_modified_date_time = $8, doc = $9::jsonb, wire = $10 \
         WHERE tenant = $1 AND id = $2 AND version = $11",
    )
    .bind(columns.tenant)
    .bind(columns.id)
    .bind(columns.user_principal_name)
    .bind(columns.display_name)
    .bind(columns.risk_score)
    .bind(columns.azure_subscription_id)
    .bind(columns.created_date_time)
    .bind(columns.last_modified_date_time)
    .bind(&wire)
    .bind(&wire)
    .bind(read_version)
    .execute(&mut **tx)
    .await
    .map_err(pg)?
    .rows_affected();
    if updated != 1 {
        // The row lock makes this unreachable; refuse rather than write over an unseen change.
        return Ok(WriteOutcome::PreconditionFailed);
    }
    sqlx::query("DELETE FROM profile_tags WHERE tenant = $1 AND id = $2")
        .bind(columns.tenant)
        .bind(columns.id)
        .execute(&mut **tx)
        .await
        .map_err(pg)?;
    insert_tags(tx, columns).await?;
    Ok(WriteOutcome::Written(StoredProfile { doc: wire, version: read_version + 1 }))
}

async fn insert_tags(tx: &mut Transaction<'_, Postgres>, columns: &IndexedColumns<'_>) -> Result<(), StoreError> {
    if columns.tags.is_empty() {
        return Ok(());
    }
    let positions: Vec<i64> = (0..columns.tags.len() as i64).collect();
    sqlx::query("INSERT INTO profile_tags (tenant, id, pos, tag) SELECT $1, $2, t.pos, t.tag FROM UNNEST($3::bigint[], $4::text[]) AS t(pos, tag)")
        .bind(columns.tenant)
        .bind(columns.id)
        .bind(&positions)
        .bind(&columns.tags)
        .execute(&mut **tx)
        .await
        .map_err(pg)?;
    Ok(())
}

/// One multi-row INSERT for the profiles and one for their tags: bulk loads run at database speed
/// rather than at one round trip per row.
pub(super) async fn import(
    tx: &mut Transaction<'_, Postgres>,
    profiles: &[NewProfile],
) -> Result<WriteOutcome, StoreError> {
    let (columns, tags_of) = import_columns(profiles)?;
    let mut query = sqlx::query_as(
        "INSERT INTO profiles (tenant, id, version, user_principal_name, display_name, risk_score, \
         azure_subscription_id, created_date_time, last_modified_date_time, doc, wire) \
         SELECT t.tenant, t.id, 1, t.upn, t.dn, t.rs, t.sub, t.created, t.modified, t.doc::jsonb, t.wire \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) \
         AS t(tenant, id, upn, dn, rs, sub, created, modified, doc, wire) \
         ON CONFLICT (tenant, id) DO NOTHING RETURNING tenant, id",
    );
    for column in &columns {
        query = query.bind(column);
    }
    let inserted: Vec<(String, String)> = query.fetch_all(&mut **tx).await.map_err(pg)?;
    let (mut tenants, mut ids, mut positions, mut tags) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for key in &inserted {
        for (pos, tag) in tags_of.get(key).into_iter().flatten().enumerate() {
            tenants.push(key.0.clone());
            ids.push(key.1.clone());
            positions.push(pos as i64);
            tags.push(tag.clone());
        }
    }
    if !tags.is_empty() {
        sqlx::query(
            "INSERT INTO profile_tags (tenant, id, pos, tag) SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[])",
        )
        .bind(&tenants)
        .bind(&ids)
        .bind(&positions)
        .bind(&tags)
        .execute(&mut **tx)
        .await
        .map_err(pg)?;
    }
    let inserted_count = inserted.len() as u64;
    Ok(WriteOutcome::Imported { inserted: inserted_count, skipped: profiles.len() as u64 - inserted_count })
}

/// The profiles' ten text columns, as arrays for `UNNEST`, and each (tenant, id)'s first tags.
type ImportColumns = ([Vec<Option<String>>; 10], HashMap<(String, String), Vec<String>>);

fn import_columns(profiles: &[NewProfile]) -> Result<ImportColumns, StoreError> {
    let mut text: [Vec<Option<String>>; 10] = Default::default();
    let mut tags_of = HashMap::new();
    for profile in profiles {
        let c = IndexedColumns::of(&profile.doc)?;
        let values = [
            Some(c.tenant),
            Some(c.id),
            c.user_principal_name,
            c.display_name,
            c.risk_score,
            c.azure_subscription_id,
            c.created_date_time,
            c.last_modified_date_time,
        ];
        for (column, value) in text.iter_mut().zip(values) {
            column.push(value.map(str::to_string));
        }
        text[8].push(Some(profile.text.clone()));
        text[9].push(Some(profile.text.clone()));
        tags_of
            .entry((c.tenant.to_string(), c.id.to_string()))
            .or_insert_with(|| c.tags.iter().map(|t| t.to_string()).collect::<Vec<_>>());
    }
    Ok((text, tags_of))
}

pub(super) async fn insert_audit(tx: &mut Transaction<'_, Postgres>, record: &AuditRecord) -> Result<(), StoreError> {
    let (text, changed) = audit::audit_values(record)?;
    let mut query = sqlx::query(audit::INSERT_AUDIT.text(Pg));
    for value in text {
        query = query.bind(value);
    }
    query.bind(changed).execute(&mut **tx).await.map_err(pg)?;
    Ok(())
}

pub(super) async fn delete_row(tx: &mut Transaction<'_, Postgres>, tenant: &str, id: &str) -> Result<(), StoreError> {
    for sql in
        ["DELETE FROM profiles WHERE tenant = $1 AND id = $2", "DELETE FROM profile_tags WHERE tenant = $1 AND id = $2"]
    {
        sqlx::query(sql).bind(tenant).bind(id).execute(&mut **tx).await.map_err(pg)?;
    }
    Ok(())
}
