//! A profile's rows as SQL: reading the row a write names, and writing rows, tags and audit
//! records inside the writer's transaction.

use super::chain;
use crate::domain::write::{Change, Current};
use crate::store::audit::AuditRecord;
use crate::store::row_cache::{CacheChange, CachedRow};
use crate::store::sql::{self, NamedRow};
use crate::store::{IndexedColumns, Scope, StoreError, StoredProfile, WriteOutcome};
use odata::Dialect::Sqlite;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::collections::HashSet;

static NAMED_ROW: NamedRow = sql::named_row!("rowid, tenant, doc, version", "");

pub(super) fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))
}

/// The row a write names, as found, with where it is.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub(super) rowid: i64,
    pub(super) tenant: String,
    pub(super) id: String,
    pub(super) version: i64,
    pub(super) doc: String,
}

impl Found {
    /// The row as the domain's rules are given it.
    pub(super) fn current(&self) -> Current<'_> {
        Current { tenant: &self.tenant, doc: &self.doc, version: self.version }
    }

    /// The row as a cached entry describes it.
    pub(super) fn cached(tenant: &str, id: &str, row: CachedRow) -> Found {
        Found { rowid: row.rowid, tenant: tenant.to_string(), id: id.to_string(), version: row.version, doc: row.doc }
    }

    pub(super) fn stored(self) -> StoredProfile {
        StoredProfile { doc: self.doc, version: self.version }
    }
}

/// A decided rewrite of a row in its tenant, as SQL: the row and the version it was decided on,
/// its next text, the copied columns whose values change, the distinct tags it loses and gains,
/// and the audit record.
pub(super) struct Edit {
    rowid: i64,
    tenant: String,
    id: String,
    /// The version the rewrite was decided on; it is written only over that version.
    version: i64,
    text: String,
    columns: Vec<(&'static str, Option<String>)>,
    tags_removed: Vec<String>,
    tags_added: Vec<String>,
    audit: AuditRecord,
}

impl Edit {
    pub(super) fn of(found: &Found, change: Change) -> Result<Edit, StoreError> {
        let (old, new) =
            (IndexedColumns::of_copied(&change.copied_before)?, IndexedColumns::of_copied(&change.copied)?);
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
        // Most PATCHes leave the tags alone: then no tag row changes, and no set is built.
        let (tags_removed, tags_added) = match old.tags == new.tags {
            true => (Vec::new(), Vec::new()),
            false => {
                let (old_tags, new_tags): (HashSet<&str>, HashSet<&str>) =
                    (old.tags.iter().copied().collect(), new.tags.iter().copied().collect());
                let removed = old_tags.difference(&new_tags).map(|t| t.to_string()).collect();
                (removed, new_tags.difference(&old_tags).map(|t| t.to_string()).collect())
            }
        };
        Ok(Edit {
            rowid: found.rowid,
            tenant: found.tenant.clone(),
            id: found.id.clone(),
            version: found.version,
            text: change.text,
            columns,
            tags_removed,
            tags_added,
            audit: change.audit,
        })
    }

    /// Stores the rewrite with its audit row; `None` when the row is no longer at the version it
    /// was decided on.
    pub(super) fn write(
        &self,
        conn: &Connection,
        cache: &mut Vec<CacheChange>,
    ) -> Result<Option<WriteOutcome>, StoreError> {
        let Some(audit_head) = chain::append_to_row(conn, &self.audit, self.rowid, self.version)? else {
            return Ok(None);
        };
        if !self.update_row(conn, audit_head)? {
            return Err(StoreError::Other("a row changed between its audit row and its rewrite".into()));
        }
        let version = self.version + 1;
        cache.push(CacheChange::Put {
            tenant: self.tenant.clone(),
            id: self.id.clone(),
            row: CachedRow { rowid: self.rowid, version, doc: self.text.clone() },
        });
        Ok(Some(WriteOutcome::Written(StoredProfile { doc: self.text.clone(), version })))
    }

    /// Rewrites the row if it is still at the version it was read at, touching only the indexed
    /// columns (and tags) that changed, so a PATCH of one member updates one index rather than
    /// all of them, and makes `audit_head` its chain's head. False when the row is no longer
    /// there at that version.
    fn update_row(&self, conn: &Connection, audit_head: i64) -> Result<bool, StoreError> {
        let mut sql = String::from("UPDATE profiles SET version = ?1, doc = ?2, audit_head = ?7");
        for (i, (column, _)) in self.columns.iter().enumerate() {
            sql.push_str(&format!(", {column} = ?{}", i + 8));
        }
        // The rowid finds the row without an index search; tenant and id make sure it is the same
        // profile (rowids of deleted rows are reused).
        sql.push_str(" WHERE rowid = ?3 AND tenant = ?4 AND id = ?5 AND version = ?6");
        let mut stmt = conn.prepare_cached(&sql)?;
        stmt.raw_bind_parameter(1, self.version + 1)?;
        stmt.raw_bind_parameter(2, &self.text)?;
        stmt.raw_bind_parameter(3, self.rowid)?;
        stmt.raw_bind_parameter(4, &self.tenant)?;
        stmt.raw_bind_parameter(5, &self.id)?;
        stmt.raw_bind_parameter(6, self.version)?;
        stmt.raw_bind_parameter(7, audit_head)?;
        for (i, (_, value)) in self.columns.iter().enumerate() {
            stmt.raw_bind_parameter(i + 8, value)?;
        }
        if stmt.raw_execute()? == 0 {
            return Ok(false);
        }
        if !self.tags_removed.is_empty() {
            let mut tag_delete =
                conn.prepare_cached("DELETE FROM profile_tags WHERE tenant = ?1 AND tag = ?2 AND id = ?3")?;
            for tag in &self.tags_removed {
                tag_delete.execute([&self.tenant, tag, &self.id])?;
            }
        }
        insert_tags(conn, &self.tenant, &self.id, &self.tags_added)?;
        Ok(true)
    }
}

/// Inserts a profile, `text` its document, at `version`: `Written`, or `Conflict` when its tenant
/// has the id already.
pub(super) fn insert(
    conn: &Connection,
    columns: &IndexedColumns,
    text: String,
    version: i64,
) -> Result<WriteOutcome, StoreError> {
    if insert_row(conn, columns, &text, version)? {
        Ok(WriteOutcome::Written(StoredProfile { doc: text, version }))
    } else {
        Ok(WriteOutcome::Conflict)
    }
}

/// Inserts a profile's row and tags unless its (tenant, id) is taken; true when it did. A
/// profile deleted (or moved away) before takes its history's head back.
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
    chain::adopt_head(conn, columns.tenant, columns.id)?;
    insert_tags(conn, columns.tenant, columns.id, &columns.tags)?;
    Ok(true)
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
    chain::prune_heads(conn)?;
    Ok(deleted as u64)
}

/// The `tags_json` column: a profile's string tags as a JSON array, NULL when it has none.
fn tags_json(tags: &[&str]) -> Option<String> {
    (!tags.is_empty()).then(|| Value::from(tags).to_string())
}

/// Indexes the tags of a profile; a tag it already has is skipped.
fn insert_tags(conn: &Connection, tenant: &str, id: &str, tags: &[impl AsRef<str>]) -> Result<(), StoreError> {
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
    chain::park_head(conn, tenant, id)?;
    conn.prepare_cached("DELETE FROM profiles WHERE tenant = ?1 AND id = ?2")?.execute([tenant, id])?;
    cache.push(CacheChange::Remove { tenant: tenant.to_string(), id: id.to_string() });
    Ok(())
}

/// Deletes the profiles, their tags and the audit trail of `tenant`, or of every tenant; how many
/// profiles.
pub(super) fn reset(conn: &Connection, tenant: Option<&str>) -> Result<u64, StoreError> {
    let mut profiles = 0;
    for table in ["profile_tags", "profiles", "audit_log", "audit_heads"] {
        let deleted = match tenant {
            Some(tenant) => conn.execute(&format!("DELETE FROM {table} WHERE tenant = ?1"), [tenant])?,
            None => conn.execute(&format!("DELETE FROM {table}"), [])?,
        };
        if table == "profiles" {
            profiles = deleted as u64;
        }
    }
    Ok(profiles)
}

/// The row an id names within the scope (see [`NamedRow`]).
pub(super) fn find(conn: &Connection, scope: &Scope, id: &str) -> Result<Option<Found>, StoreError> {
    let (sql, values) = NAMED_ROW.of(Sqlite, scope, id);
    let found = conn
        .prepare_cached(sql)?
        .query_row(rusqlite::params_from_iter(values), |r| {
            Ok(Found { rowid: r.get(0)?, tenant: r.get(1)?, id: id.to_string(), doc: r.get(2)?, version: r.get(3)? })
        })
        .optional()?;
    Ok(found)
}
