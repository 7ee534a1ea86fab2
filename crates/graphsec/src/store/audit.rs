//! The audit trail's rows: what a write records, and how large a row may grow.

use super::Actor;
use serde_json::{Map, Value};

/// One audit-trail row.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub id: String,
    pub at: String,
    pub tenant: String,
    pub caller: String,
    pub app: String,
    pub request_id: String,
    pub operation: String,
    pub profile_id: String,
    pub changed: Vec<String>,
}

/// Most bytes of member names one audit row lists; past it the list ends with a note of how many
/// more there were, so that no request can make an audit row large.
const MAX_AUDIT_CHANGED_BYTES: usize = 64 * 1024;

/// `changed`, cut at [`MAX_AUDIT_CHANGED_BYTES`]. The note cannot be mistaken for a member: names
/// have no spaces.
fn capped(mut changed: Vec<String>) -> Vec<String> {
    let mut bytes = 0;
    let Some(cut) = changed.iter().position(|name| {
        bytes += name.len() + 3;
        bytes > MAX_AUDIT_CHANGED_BYTES
    }) else {
        return changed;
    };
    let more = changed.len() - cut;
    changed.truncate(cut);
    changed.push(format!("... and {more} more members (list cut at {MAX_AUDIT_CHANGED_BYTES} bytes)"));
    changed
}

impl AuditRecord {
    pub(crate) fn new(
        actor: &Actor,
        operation: &str,
        tenant: &str,
        profile_id: &str,
        changed: Vec<String>,
    ) -> AuditRecord {
        let changed = capped(changed);
        AuditRecord {
            id: uuid::Uuid::new_v4().to_string(),
            at: crate::domain::datetime::now(),
            tenant: tenant.to_string(),
            caller: actor.caller.clone(),
            app: actor.app.clone(),
            request_id: actor.request_id.clone(),
            operation: operation.to_string(),
            profile_id: profile_id.to_string(),
            changed,
        }
    }
}

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

/// The properties a create set: every member that is not null.
pub(crate) fn created_members(doc: &Map<String, Value>) -> Vec<String> {
    doc.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.clone()).collect()
}

/// The audit row of an update that was written.
pub(crate) fn update_audit(actor: &Actor, tenant: &str, id: &str, changed: Vec<String>) -> AuditRecord {
    AuditRecord::new(actor, "update", tenant, id, changed)
}
