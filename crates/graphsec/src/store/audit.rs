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
