//! The audit trail's record of a write: who asked, when, what it did to which profile, and which
//! members it changed.

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

/// Who asked for a write, as the audit trail names them.
#[derive(Debug, Clone, Copy)]
pub struct Author<'a> {
    pub caller: &'a str,
    pub app: &'a str,
    pub request_id: &'a str,
}

/// What a write did to a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
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

/// What one write did, before it is stamped with who asked and when.
pub(crate) struct Entry<'a> {
    pub operation: Operation,
    pub tenant: &'a str,
    pub profile_id: &'a str,
    pub changed: Vec<String>,
}

impl AuditRecord {
    /// The record of `entry`, at `at`: the same timestamp as the write it records.
    pub(crate) fn new(author: Author<'_>, entry: Entry<'_>, at: &str) -> AuditRecord {
        AuditRecord {
            id: uuid::Uuid::new_v4().to_string(),
            at: at.to_string(),
            tenant: entry.tenant.to_string(),
            caller: author.caller.to_string(),
            app: author.app.to_string(),
            request_id: author.request_id.to_string(),
            operation: entry.operation.name().to_string(),
            profile_id: entry.profile_id.to_string(),
            changed: capped(entry.changed),
        }
    }
}

/// The members a create set: every member that is not null.
pub(crate) fn created_members(doc: &Map<String, Value>) -> Vec<String> {
    doc.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_of_members_is_cut_with_a_note() {
        let names: Vec<String> = (0..10_000).map(|i| format!("member{i:05}")).collect();
        let cut = capped(names);
        let note = cut.last().map(String::as_str).unwrap_or_default();
        assert!(note.starts_with("... and ") && note.contains("more members"), "{note}");
        assert!(cut.iter().map(|n| n.len() + 3).sum::<usize>() <= MAX_AUDIT_CHANGED_BYTES + 100);
        assert_eq!(capped(vec!["a".into()]), ["a"]);
    }
}
