//! The audit trail in SQL, the same on both engines: writing a record, reading records back, and
//! what a record read back must hold.

use super::StoreError;
use super::sql::Statement;
pub use crate::domain::audit::AuditRecord;

/// Filters of `graphsec audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub tenant: Option<String>,
    pub profile_id: Option<String>,
    pub operation: Option<String>,
    /// Wire-form timestamp: entries at or after it.
    pub since: Option<String>,
    pub limit: u32,
}

pub(crate) static INSERT_AUDIT: Statement = Statement::new(
    "INSERT INTO audit_log (id, at, tenant, caller, app, request_id, operation, profile_id, changed) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
);

/// Audit rows, oldest first; parameters: tenant, profile id, operation, since (each NULL for
/// any), limit.
pub(crate) static SELECT_AUDIT: Statement = Statement::new(
    "SELECT id, at, tenant, caller, app, request_id, operation, profile_id, changed FROM audit_log \
     WHERE (CAST($1 AS TEXT) IS NULL OR tenant = $1) AND (CAST($2 AS TEXT) IS NULL OR profile_id = $2) \
     AND (CAST($3 AS TEXT) IS NULL OR operation = $3) AND (CAST($4 AS TEXT) IS NULL OR at >= $4) \
     ORDER BY at, id LIMIT $5",
);

/// One profile's entries in a tenant, newest first, strictly before a position: parameters
/// tenant, profile id, the position's `at` and `id`, limit (PostgreSQL; SQLite walks a chain).
pub(crate) static SELECT_HISTORY_IN_TENANT: Statement = Statement::new(
    "SELECT id, at, tenant, caller, app, request_id, operation, profile_id, changed FROM audit_log \
     WHERE tenant = $1 AND profile_id = $2 AND (at, id) < ($3, $4) ORDER BY at DESC, id DESC LIMIT $5",
);

/// As [`SELECT_HISTORY_IN_TENANT`] in every tenant (`--auth off`); parameters profile id, `at`,
/// `id`, limit.
pub(crate) static SELECT_HISTORY_ANY_TENANT: Statement = Statement::new(
    "SELECT id, at, tenant, caller, app, request_id, operation, profile_id, changed FROM audit_log \
     WHERE profile_id = $1 AND (at, id) < ($2, $3) ORDER BY at DESC, id DESC LIMIT $4",
);

/// A page of one profile's audit trail, newest first.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub scope: super::Scope,
    pub profile_id: String,
    /// Where the previous page stopped; `None` for the first page.
    pub after: Option<HistoryPosition>,
    /// Entries on a page.
    pub top: u32,
}

/// Where the next page of a history starts, as each engine finds it again. It travels inside a
/// signed skiptoken, so a store is only given back a position it made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum HistoryPosition {
    /// PostgreSQL: strictly before this entry's `(at, id)`.
    Time(String, String),
    /// SQLite: the next entry to read of each chain still open, as `(seq, tenant)`.
    Chain(Vec<(i64, String)>),
}

/// One page of a history and where the next one starts, if there are more entries.
#[derive(Debug)]
pub struct HistoryPage {
    pub records: Vec<AuditRecord>,
    pub next: Option<HistoryPosition>,
}

/// Sorts after every stored `at` (they all start with a digit): the position of a first page.
const NEWEST: &str = "~";

impl HistoryQuery {
    /// The PostgreSQL statement for this query, and its text parameters before the limit (which
    /// is one past the page, to learn whether there are more).
    pub(crate) fn time_statement(&self, dialect: odata::Dialect) -> Result<(&'static str, Vec<&str>), StoreError> {
        let (at, id) = match &self.after {
            None => (NEWEST, ""),
            Some(HistoryPosition::Time(at, id)) => (at.as_str(), id.as_str()),
            Some(HistoryPosition::Chain(_)) => return Err(foreign_position()),
        };
        Ok(match &self.scope {
            super::Scope::Tenant(tenant) => {
                (SELECT_HISTORY_IN_TENANT.text(dialect), vec![tenant.as_str(), &self.profile_id, at, id])
            }
            super::Scope::AllTenants => (SELECT_HISTORY_ANY_TENANT.text(dialect), vec![&self.profile_id, at, id]),
        })
    }

    /// The page of up to `top + 1` entries read in time order, its last one dropped to mark
    /// that there are more.
    pub(crate) fn time_page(&self, mut records: Vec<AuditRecord>) -> HistoryPage {
        let next = match records.len() > self.top as usize {
            true => {
                records.truncate(self.top as usize);
                records.last().map(|last| HistoryPosition::Time(last.at.clone(), last.id.clone()))
            }
            false => None,
        };
        HistoryPage { records, next }
    }
}

/// A position of the other engine's kind: the skiptoken was made by a server on another store.
pub(crate) fn foreign_position() -> StoreError {
    StoreError::Other("a history position made by another kind of store".into())
}

/// The values of [`INSERT_AUDIT`], in order: eight columns of text, then `changed` as JSON.
pub(crate) fn audit_values(record: &AuditRecord) -> Result<([&str; 8], String), StoreError> {
    let text = [
        record.id.as_str(),
        &record.at,
        &record.tenant,
        &record.caller,
        &record.app,
        &record.request_id,
        &record.operation,
        &record.profile_id,
    ];
    Ok((text, serde_json::to_string(&record.changed)?))
}

/// Reads a column of text from an engine's row.
pub(crate) trait TextColumns {
    fn text(&self, index: usize) -> Result<String, StoreError>;
}

/// A row of [`SELECT_AUDIT`]. A `changed` column that is not a JSON list of names is
/// [`StoreError::Corrupt`].
pub(crate) fn audit_record(row: &impl TextColumns) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.text(0)?,
        at: row.text(1)?,
        tenant: row.text(2)?,
        caller: row.text(3)?,
        app: row.text(4)?,
        request_id: row.text(5)?,
        operation: row.text(6)?,
        profile_id: row.text(7)?,
        changed: serde_json::from_str(&row.text(8)?)?,
    })
}
