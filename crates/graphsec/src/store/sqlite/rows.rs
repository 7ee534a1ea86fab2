//! A profile's rows as SQL: reading the row a write names, planning an update of it, and
//! writing rows, tags and audit records.

use crate::domain::etag::IfMatch;
use crate::domain::profile::ProfileInput;
use crate::store::row_cache::{CacheChange, CachedRow};
use crate::store::{Actor, AuditRecord, IndexedColumns, Scope, StoreError, StoredProfile, UpdatePlan, WriteOutcome};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use std::collections::HashSet;

pub(super) fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// Where a profile's row is, and the version it was read at.
pub(super) struct RowRef {
    pub(super) rowid: i64,
    pub(super) tenant: String,
    pub(super) id: String,
    pub(super) version: i64,
}

/// The next text of a row, the columns copied from it whose values changed, and the distinct
/// tags it loses and gains.
pub(super) struct RowChange {
    pub(super) text: String,
    pub(super) columns: Vec<(&'static str, Option<String>)>,
    pub(super) tags_removed: Vec<String>,
    pub(super) tags_added: Vec<String>,
}

impl RowChange {
    fn between(previous: &Map<String, Value>, doc: &Map<String, Value>) -> Result<RowChange, StoreError> {
        let (old, new) = (IndexedColumns::of(previous)?, IndexedColumns::of(doc)?);
        let columns = [
            ("user_principal_name", old.user_principal_name, new.user_principal_name),
            ("display_name", old.display_name, new.display_name),
            ("risk_score", old.risk_score, new.risk_score),
            ("azure_subscription_id", old.azure_subscription_id, new.azure_subscription_id),
            ("created_date_time", old.created_date_time, new.created_date_time),
            ("last_modified_date_time", old.last_modified_date_time, new.last_modified_date_time),
        ]
        .into_iter()
        .filter(|(_, before, after)| before != after)
        .map(|(column, _, after)| (column, after.map(str::to_string)))
        .chain((old.tags != new.tags).then(|| ("tags_json", tags_json(&new.tags))))
        .collect();
        let (old_tags, new_tags): (HashSet<&str>, HashSet<&str>) =
            (old.tags.iter().copied().collect(), new.tags.iter().copied().collect());
        Ok(RowChange {
            text: serde_json::to_string(doc)?,
            columns,
            tags_removed: old_tags.difference(&new_tags).map(|t| t.to_string()).collect(),
            tags_added: new_tags.difference(&old_tags).map(|t| t.to_string()).collect(),
        })
    }
}

/// What an update does to the row it names, decided on the connection's snapshot.
pub(super) enum RowUpdate {
    /// Answered without writing.
    Answered(WriteOutcome),
    InPlace {
        from: RowRef,
        change: RowChange,
        audit: AuditRecord,
    },
    /// Into another tenant (auth off only): a delete and an insert.
    ToTenant {
        from: RowRef,
        doc: Map<String, Value>,
        audit: AuditRecord,
    },
}

/// Plans an update of `found`, the row the update names as read (`None`: there is none).
pub(super) fn plan_row_update(
    found: Option<(RowRef, StoredProfile)>,
    scope: &Scope,
    id: &str,
    if_match: Option<&IfMatch>,
    input: &ProfileInput,
    now: &str,
    actor: &Actor,
) -> Result<RowUpdate, StoreError> {
    let Some((from, current)) = found else {
        return Ok(RowUpdate::Answered(WriteOutcome::NotFound));
    };
    let (previous, doc, tenant, changed) = match crate::store::plan_update(scope, id, if_match, input, now, &current)? {
        UpdatePlan::Answer(outcome) => return Ok(RowUpdate::Answered(outcome)),
        UpdatePlan::Write { previous, doc, tenant, changed } => (previous, doc, tenant, changed),
    };
    let audit = crate::store::update_audit(actor, &tenant, id, changed);
    if tenant != from.tenant {
        return Ok(RowUpdate::ToTenant { from, doc, audit });
    }
    Ok(RowUpdate::InPlace { change: RowChange::between(&previous, &doc)?, from, audit })
}

/// Stores an in-place update with its audit row; `None` when the row is no longer at the version
/// it was planned from.
pub(super) fn write_in_place(
    conn: &Connection,
    from: &RowRef,
    change: &RowChange,
    audit: &AuditRecord,
    cache: &mut Vec<CacheChange>,
) -> Result<Option<WriteOutcome>, StoreError> {
    if !update_row(conn, from, change)? {
        return Ok(None);
    }
    insert_audit(conn, audit)?;
    let version = from.version + 1;
    cache.push(CacheChange::Put {
        tenant: from.tenant.clone(),
        id: from.id.clone(),
        row: CachedRow { rowid: from.rowid, version, doc: change.text.clone() },
    });
    Ok(Some(WriteOutcome::Written(StoredProfile { doc: change.text.clone(), version })))
}

/// The row a [`CachedRow`] describes, as [`select_for_write`] would have read it.
pub(super) fn from_cache(tenant: &str, id: &str, row: CachedRow) -> (RowRef, StoredProfile) {
    (
        RowRef { rowid: row.rowid, tenant: tenant.to_string(), id: id.to_string(), version: row.version },
        StoredProfile { doc: row.doc, version: row.version },
    )
}

pub(super) fn insert(conn: &Connection, doc: &Map<String, Value>, version: i64) -> Result<WriteOutcome, StoreError> {
    let text = serde_json::to_string(doc)?;
    if insert_row(conn, &IndexedColumns::of(doc)?, &text, version)? {
        Ok(WriteOutcome::Written(StoredProfile { doc: text, version }))
    } else {
        Ok(WriteOutcome::Conflict)
    }
}

/// Inserts a profile's row and tags unless its (tenant, id) is taken; true when it did.
pub(super) fn insert_row(
    conn: &Connection,
    columns: &IndexedColumns,
    text: &str,
    version: i64,
) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO profiles (tenant, id, version, user_principal_name, display_name, risk_score, \
         azure_subscription_id, created_date_time, last_modified_date_time, tags_json, doc) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            columns.tenant,
            columns.id,
            version,
            columns.user_principal_name,
            columns.display_name,
            columns.risk_score,
            columns.azure_subscription_id,
            columns.created_date_time,
            columns.last_modified_date_time,
            tags_json(&columns.tags),
            text,
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    insert_tags(conn, columns.tenant, columns.id, &columns.tags)?;
    Ok(true)
}

pub(super) fn insert_audit(conn: &Connection, record: &AuditRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_log (id, at, tenant, caller, app, request_id, operation, profile_id, changed) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        record.id,
        record.at,
        record.tenant,
        record.caller,
        record.app,
        record.request_id,
        record.operation,
        record.profile_id,
        serde_json::to_string(&record.changed)?,
    ])?;
    Ok(())
}

/// Deletes up to `limit` of the oldest audit rows, in the order they were written, as long as
/// they were written before `before`. Write order is time order but for clocks that step back,
/// and walking it needs no index on the time (which every write would have to update).
pub(super) fn prune_audit(conn: &Connection, before: &str, limit: u32) -> Result<u64, StoreError> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log ORDER BY seq LIMIT ?2) AND at < ?1",
        )?
        .execute(params![before, limit])?;
    Ok(deleted as u64)
}

/// Rewrites a row in place if it is still at the version it was read at, touching only the
/// indexed columns (and tags) that changed, so a PATCH of one member updates one index rather
/// than all of them. False when the row is no longer there at that version.
pub(super) fn update_row(conn: &Connection, from: &RowRef, change: &RowChange) -> Result<bool, StoreError> {
    let mut sql = String::from("UPDATE profiles SET version = ?1, doc = ?2");
    for (i, (column, _)) in change.columns.iter().enumerate() {
        sql.push_str(&format!(", {column} = ?{}", i + 7));
    }
    // The rowid finds the row without an index search; tenant and id make sure it is the same
    // profile (rowids of deleted rows are reused).
    sql.push_str(" WHERE rowid = ?3 AND tenant = ?4 AND id = ?5 AND version = ?6");
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.raw_bind_parameter(1, from.version + 1)?;
    stmt.raw_bind_parameter(2, &change.text)?;
    stmt.raw_bind_parameter(3, from.rowid)?;
    stmt.raw_bind_parameter(4, &from.tenant)?;
    stmt.raw_bind_parameter(5, &from.id)?;
    stmt.raw_bind_parameter(6, from.version)?;
    for (i, (_, value)) in change.columns.iter().enumerate() {
        stmt.raw_bind_parameter(i + 7, value)?;
    }
    if stmt.raw_execute()? == 0 {
        return Ok(false);
    }
    if !change.tags_removed.is_empty() {
        let mut tag_delete =
            conn.prepare_cached("DELETE FROM profile_tags WHERE tenant = ?1 AND tag = ?2 AND id = ?3")?;
        for tag in &change.tags_removed {
            tag_delete.execute([&from.tenant, tag, &from.id])?;
        }
    }
    insert_tags(conn, &from.tenant, &from.id, &change.tags_added)?;
    Ok(true)
}

/// The `tags_json` column: a profile's string tags as a JSON array, NULL when it has none.
pub(super) fn tags_json(tags: &[&str]) -> Option<String> {
    (!tags.is_empty()).then(|| Value::from(tags).to_string())
}

/// Indexes the tags of a profile; a tag it already has is skipped.
pub(super) fn insert_tags(
    conn: &Connection,
    tenant: &str,
    id: &str,
    tags: &[impl AsRef<str>],
) -> Result<(), StoreError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut tag_insert =
        conn.prepare_cached("INSERT OR IGNORE INTO profile_tags (tenant, tag, id) VALUES (?1, ?2, ?3)")?;
    for tag in tags {
        tag_insert.execute([tenant, tag.as_ref(), id])?;
    }
    Ok(())
}

pub(super) fn exists(conn: &Connection, tenant: &str, id: &str) -> Result<bool, StoreError> {
    Ok(conn.prepare_cached("SELECT 1 FROM profiles WHERE tenant = ?1 AND id = ?2")?.exists([tenant, id])?)
}

pub(super) fn delete_row(
    conn: &Connection,
    tenant: &str,
    id: &str,
    cache: &mut Vec<CacheChange>,
) -> Result<(), StoreError> {
    // profile_tags is keyed by tag first, so the row's tags_json says which rows to remove.
    conn.prepare_cached(
        "DELETE FROM profile_tags WHERE tenant = ?1 AND id = ?2 AND tag IN \
         (SELECT value FROM json_each((SELECT tags_json FROM profiles WHERE tenant = ?1 AND id = ?2)))",
    )?
    .execute([tenant, id])?;
    conn.prepare_cached("DELETE FROM profiles WHERE tenant = ?1 AND id = ?2")?.execute([tenant, id])?;
    cache.push(CacheChange::Remove { tenant: tenant.to_string(), id: id.to_string() });
    Ok(())
}

/// The row an id names within the scope. With every tenant in scope, the same id may exist in
/// several tenants; the lowest tenant id is taken so the choice is stable.
pub(super) fn select_for_write(
    conn: &Connection,
    scope: &Scope,
    id: &str,
) -> Result<Option<(RowRef, StoredProfile)>, StoreError> {
    let row = |r: &rusqlite::Row<'_>| {
        let version = r.get(3)?;
        Ok((
            RowRef { rowid: r.get(0)?, tenant: r.get(1)?, id: id.to_string(), version },
            StoredProfile { doc: r.get(2)?, version },
        ))
    };
    let found = match scope {
        Scope::Tenant(tenant) => conn
            .prepare_cached("SELECT rowid, tenant, doc, version FROM profiles WHERE tenant = ?1 AND id = ?2")?
            .query_row([tenant.as_str(), id], row)
            .optional()?,
        Scope::AllTenants => conn
            .prepare_cached("SELECT rowid, tenant, doc, version FROM profiles WHERE id = ?1 ORDER BY tenant LIMIT 1")?
            .query_row([id], row)
            .optional()?,
    };
    Ok(found)
}

pub(super) fn select_one(conn: &Connection, scope: &Scope, id: &str) -> Result<Option<StoredProfile>, StoreError> {
    Ok(select_for_write(conn, scope, id)?.map(|(_, profile)| profile))
}
