//! A profile's history as a chain (migration 6): each audit row names the previous row of its
//! (tenant, profile id) in `prev`, and the newest row's seq, the head, is kept in the profile's
//! row (`profiles.audit_head`) while the row exists, else in `audit_heads`. Writing a link costs
//! no insert at a random place of an index; reading a page follows up to a page of links.
//!
//! Links go strictly down, and a link is followed only to a row of the same tenant and profile:
//! seqs of deleted rows can be given out again (SQLite reuses the largest rowid once it is gone),
//! so a head left pointing at a pruned row may meet another profile's row, and the walk stops
//! there rather than show it.

use crate::store::audit::{self, AuditQuery, AuditRecord, HistoryPage, HistoryPosition, HistoryQuery};
use crate::store::{Scope, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::VecDeque;

/// An audit row's INSERT with `prev`, completed by the rest of the statement; the parameters
/// ?1 to ?9 are the values of `audit::audit_values`.
macro_rules! append_sql {
    ($rest:literal) => {
        concat!(
            "INSERT INTO audit_log (id, at, tenant, caller, app, request_id, operation, profile_id, changed, prev) ",
            $rest
        )
    };
}

/// Appends `record` to its profile's chain, wherever the head is.
pub(super) fn append(conn: &Connection, record: &AuditRecord) -> Result<(), StoreError> {
    let (text, changed) = audit::audit_values(record)?;
    let values = text.into_iter().chain([changed.as_str()]);
    conn.prepare_cached(append_sql!(
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, COALESCE(\
         (SELECT audit_head FROM profiles WHERE tenant = ?3 AND id = ?8), \
         (SELECT seq FROM audit_heads WHERE profile_id = ?8 AND tenant = ?3)))"
    ))?
    .execute(rusqlite::params_from_iter(values))?;
    let seq = conn.last_insert_rowid();
    let (tenant, id) = (&record.tenant, &record.profile_id);
    if !set_row_head(conn, tenant, id, seq)? {
        conn.prepare_cached(
            "INSERT INTO audit_heads (profile_id, tenant, seq) VALUES (?1, ?2, ?3) \
             ON CONFLICT (profile_id, tenant) DO UPDATE SET seq = excluded.seq",
        )?
        .execute(params![id, tenant, seq])?;
    }
    Ok(())
}

/// Appends an update's `record` after the head held by the row `rowid`, if that row is still
/// `(tenant, id)` at `version`: the new head's seq, or `None` when the row has moved on. The
/// caller writes the returned seq into the row as it rewrites it.
pub(super) fn append_to_row(
    conn: &Connection,
    record: &AuditRecord,
    rowid: i64,
    version: i64,
) -> Result<Option<i64>, StoreError> {
    let (text, changed) = audit::audit_values(record)?;
    let values = text.into_iter().chain([changed.as_str()]);
    let mut stmt = conn.prepare_cached(append_sql!(
        "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, audit_head FROM profiles \
         WHERE rowid = ?10 AND tenant = ?3 AND id = ?8 AND version = ?11"
    ))?;
    for (i, value) in values.enumerate() {
        stmt.raw_bind_parameter(i + 1, value)?;
    }
    stmt.raw_bind_parameter(10, rowid)?;
    stmt.raw_bind_parameter(11, version)?;
    Ok((stmt.raw_execute()? == 1).then(|| conn.last_insert_rowid()))
}

/// Moves the head of `(tenant, id)` from `audit_heads` (the profile was deleted or moved away
/// before) into its new row.
pub(super) fn adopt_head(conn: &Connection, tenant: &str, id: &str) -> Result<(), StoreError> {
    let parked: Option<i64> = conn
        .prepare_cached("DELETE FROM audit_heads WHERE profile_id = ?1 AND tenant = ?2 RETURNING seq")?
        .query_row([id, tenant], |r| r.get(0))
        .optional()?;
    if let Some(seq) = parked {
        set_row_head(conn, tenant, id, seq)?;
    }
    Ok(())
}

/// Writes `seq` as the head of the row `(tenant, id)`; false when there is no such row.
fn set_row_head(conn: &Connection, tenant: &str, id: &str, seq: i64) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached("UPDATE profiles SET audit_head = ?1 WHERE tenant = ?2 AND id = ?3")?
        .execute(params![seq, tenant, id])?;
    Ok(changed == 1)
}

/// Keeps the head of a row about to be deleted in `audit_heads`, so its history outlives it.
pub(super) fn park_head(conn: &Connection, tenant: &str, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_heads (profile_id, tenant, seq) \
         SELECT id, tenant, audit_head FROM profiles WHERE tenant = ?1 AND id = ?2 AND audit_head IS NOT NULL \
         ON CONFLICT (profile_id, tenant) DO UPDATE SET seq = excluded.seq",
    )?
    .execute([tenant, id])?;
    Ok(())
}

/// Forgets the heads of deleted profiles whose every audit row retention has removed.
pub(super) fn prune_heads(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached(
        "DELETE FROM audit_heads WHERE seq < COALESCE((SELECT min(seq) FROM audit_log), 9223372036854775807)",
    )?
    .execute([])?;
    Ok(())
}

/// One page of a history, newest first: the chains of the profile in the scope (one per tenant
/// holding the id) walked together, the highest seq first.
pub(super) fn page(conn: &Connection, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
    let open = match &query.after {
        None => heads(conn, &query.scope, &query.profile_id)?,
        Some(HistoryPosition::Chain(open)) => open.clone(),
        Some(HistoryPosition::Time(..)) => return Err(audit::foreign_position()),
    };
    let mut walk = Walk::new(conn, open, &query.profile_id)?;
    let mut records = Vec::new();
    while records.len() < query.top as usize {
        match walk.next()? {
            Some(record) => records.push(record),
            None => return Ok(HistoryPage { records, next: None }),
        }
    }
    let rest = walk.open.clone();
    let next = walk.next()?.map(|_| HistoryPosition::Chain(rest));
    Ok(HistoryPage { records, next })
}

/// `graphsec audit --profile-id`: the oldest `limit` entries of the profile's chains (in
/// `tenant`, or in all) that match the other filters, in `SELECT_AUDIT`'s order. Walks the whole
/// history, keeping no more than `limit` entries.
pub(super) fn oldest(conn: &Connection, query: &AuditQuery, profile_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
    let scope = query.tenant.clone().map_or(Scope::AllTenants, Scope::Tenant);
    let mut walk = Walk::new(conn, heads(conn, &scope, profile_id)?, profile_id)?;
    let mut kept = VecDeque::new();
    while let Some(record) = walk.next()? {
        let wanted = query.operation.as_ref().is_none_or(|op| &record.operation == op)
            && query.since.as_ref().is_none_or(|since| &record.at >= since);
        if wanted {
            kept.push_back(record);
            if kept.len() > query.limit as usize {
                kept.pop_front();
            }
        }
    }
    let mut records: Vec<AuditRecord> = kept.into();
    records.sort_by(|x, y| (&x.at, &x.id).cmp(&(&y.at, &y.id)));
    Ok(records)
}

/// Chains walked together, newest first: `open` holds the next seq to read of each, with the
/// tenant it belongs to.
struct Walk<'c, 'q> {
    read: rusqlite::CachedStatement<'c>,
    open: Vec<(i64, String)>,
    profile_id: &'q str,
}

impl<'c, 'q> Walk<'c, 'q> {
    fn new(conn: &'c Connection, open: Vec<(i64, String)>, profile_id: &'q str) -> Result<Walk<'c, 'q>, StoreError> {
        let read = conn.prepare_cached(
            "SELECT id, at, tenant, caller, app, request_id, operation, profile_id, changed, prev \
             FROM audit_log WHERE seq = ?1",
        )?;
        Ok(Walk { read, open, profile_id })
    }

    /// The newest entry not read yet, if any.
    fn next(&mut self) -> Result<Option<AuditRecord>, StoreError> {
        while let Some(newest) = (0..self.open.len()).max_by_key(|&i| self.open[i].0) {
            let (seq, tenant) = self.open[newest].clone();
            let entry = self
                .read
                .query_row(params![seq], |row| Ok((audit::audit_record(row), row.get::<_, Option<i64>>(9)?)))
                .optional()?
                .map(|(record, prev)| record.map(|record| (record, prev)))
                .transpose()?;
            let Some((record, prev)) = entry.filter(|(r, _)| r.tenant == tenant && r.profile_id == self.profile_id)
            else {
                // The chain ends here: its next row was pruned, or its seq now names another row.
                self.open.swap_remove(newest);
                continue;
            };
            match prev.filter(|&prev| prev < seq) {
                Some(prev) => self.open[newest].0 = prev,
                None => {
                    self.open.swap_remove(newest);
                }
            }
            return Ok(Some(record));
        }
        Ok(None)
    }
}

/// The head of each chain of `id` in the scope, with its tenant.
fn heads(conn: &Connection, scope: &Scope, id: &str) -> Result<Vec<(i64, String)>, StoreError> {
    let tenant = match scope {
        Scope::Tenant(tenant) => Some(tenant.as_str()),
        Scope::AllTenants => None,
    };
    let mut stmt = conn.prepare_cached(
        "SELECT audit_head, tenant FROM profiles \
         WHERE id = ?2 AND (?1 IS NULL OR tenant = ?1) AND audit_head IS NOT NULL \
         UNION ALL SELECT seq, tenant FROM audit_heads WHERE profile_id = ?2 AND (?1 IS NULL OR tenant = ?1)",
    )?;
    let heads = stmt.query_map(params![tenant, id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(heads.collect::<Result<_, _>>()?)
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
