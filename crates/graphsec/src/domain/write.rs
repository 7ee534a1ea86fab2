//! The rules of a write, the same on every store: whether a create, update or delete happens,
//! what it stores, and what the audit trail records of it.
//!
//! Each decision is pure. It is given the row the write names as read (inside the store's
//! transaction, or from a snapshot the store checks again before it writes) and the write's one
//! timestamp, which both the document and the audit record carry. The store persists what was
//! decided and decides nothing itself.

use super::audit::{self, AuditRecord, Author, Entry, Operation};
use super::document::{Copied, Document};
use super::etag::IfMatch;
use super::members;
use super::profile::{self, PatchError, ProfileInput, ValidationError};
use serde_json::{Map, Value};

/// Which tenants' rows an operation may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Tenant(String),
    /// `--auth off`: the emulator sees every tenant.
    AllTenants,
}

impl Scope {
    /// Whether a profile of `tenant` may be written in this scope.
    fn admits(&self, tenant: &str) -> bool {
        match self {
            Scope::Tenant(own) => own == tenant,
            Scope::AllTenants => true,
        }
    }
}

/// Why a write is answered without writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    /// `If-Match` names another version.
    PreconditionFailed,
    Invalid(ValidationError),
    /// The write would put a profile into a tenant the caller does not belong to.
    ForeignTenant,
}

/// The row a write names, as read.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    pub tenant: &'a str,
    pub doc: &'a str,
    pub version: i64,
}

/// A create that passed the rules: the document to insert, and the time of the write.
#[derive(Debug, Clone)]
pub struct Create {
    pub doc: Map<String, Value>,
    pub now: String,
}

impl Create {
    /// Builds a new profile from a create body. A caller of one tenant creates in it, and a body
    /// naming another tenant is refused; with every tenant in scope, a body without
    /// `azureTenantId` goes to `default_tenant`.
    pub fn decide(input: ProfileInput, scope: &Scope, default_tenant: &str, now: String) -> Result<Create, Refusal> {
        let tenant = match scope {
            Scope::Tenant(own) => own,
            Scope::AllTenants => default_tenant,
        };
        let doc = profile::build_new(input, tenant, &now, profile::LastModified::Now).map_err(Refusal::Invalid)?;
        if !scope.admits(text(&doc, "azureTenantId")) {
            return Err(Refusal::ForeignTenant);
        }
        Ok(Create { doc, now })
    }

    pub fn id(&self) -> &str {
        text(&self.doc, "id")
    }

    /// The audit record of the create, written once the profile is inserted.
    pub fn audit(&self, author: Author<'_>) -> AuditRecord {
        let entry = Entry {
            operation: Operation::Create,
            tenant: text(&self.doc, "azureTenantId"),
            profile_id: self.id(),
            changed: audit::created_members(&self.doc),
        };
        AuditRecord::new(author, entry, &self.now)
    }
}

/// A PATCH of the profile `id` names within `scope`.
#[derive(Debug, Clone)]
pub struct Update {
    pub scope: Scope,
    pub id: String,
    pub if_match: Option<IfMatch>,
    pub input: ProfileInput,
    pub now: String,
}

/// What an update does to the row it names.
#[derive(Debug)]
pub enum Decision {
    Refuse(Refusal),
    /// The PATCH changes no member: nothing is written, and the row keeps its version and so
    /// its ETag.
    Keep,
    /// The row is rewritten in its tenant.
    Rewrite(Box<Change>),
    /// The profile moves into another tenant (with every tenant in scope only): it is inserted
    /// there, which is a conflict when that tenant has the id already, then deleted from the
    /// tenant it was in.
    Move(Box<Change>),
}

/// The next version of a row.
#[derive(Debug)]
pub struct Change {
    /// The document, as stored and sent.
    pub text: String,
    /// The members the stores copy into columns and tag rows, as the row had them and as the
    /// document has them.
    pub copied_before: Copied,
    pub copied: Copied,
    /// One past the version read.
    pub version: i64,
    pub audit: AuditRecord,
}

impl Change {
    /// The tenant the row is written in.
    pub fn tenant(&self) -> &str {
        &self.audit.tenant
    }
}

impl Update {
    /// Checks `If-Match`, merges the PATCH into the row as read and keeps the profile in the
    /// caller's tenant. An error only when the stored document is not JSON.
    pub fn decide(&self, current: Option<Current<'_>>, author: Author<'_>) -> Result<Decision, serde_json::Error> {
        let Some(current) = current else {
            return Ok(Decision::Refuse(Refusal::NotFound));
        };
        if self.if_match.as_ref().is_some_and(|m| !m.matches(current.version)) {
            return Ok(Decision::Refuse(Refusal::PreconditionFailed));
        }
        let previous = Document::read(current.doc)?;
        let doc = match profile::apply_patch(&previous, &self.input, &self.id, &self.now) {
            Ok(doc) => doc,
            Err(PatchError::Invalid(invalid)) => return Ok(Decision::Refuse(Refusal::Invalid(invalid))),
            Err(PatchError::Stored(e)) => return Err(e),
        };
        let changed = doc.changed_since(&previous);
        if changed.is_empty() {
            return Ok(Decision::Keep);
        }
        let tenant = doc.string(members::TENANT);
        if !self.scope.admits(&tenant) {
            return Ok(Decision::Refuse(Refusal::ForeignTenant));
        }
        let moves = tenant != current.tenant;
        let entry = Entry { operation: Operation::Update, tenant: &tenant, profile_id: &self.id, changed };
        let audit = AuditRecord::new(author, entry, &self.now);
        let (copied_before, copied) = doc.copied_since(&previous)?;
        let change = Box::new(Change { text: doc.text()?, copied_before, copied, version: current.version + 1, audit });
        Ok(if moves { Decision::Move(change) } else { Decision::Rewrite(change) })
    }
}

/// A delete of the profile `id` names within `scope`.
#[derive(Debug, Clone)]
pub struct Delete {
    pub scope: Scope,
    pub id: String,
    pub if_match: Option<IfMatch>,
    pub now: String,
}

impl Delete {
    /// The audit record of the delete, or why it is refused.
    pub fn decide(&self, current: Option<Current<'_>>, author: Author<'_>) -> Result<AuditRecord, Refusal> {
        let Some(current) = current else {
            return Err(Refusal::NotFound);
        };
        if self.if_match.as_ref().is_some_and(|m| !m.matches(current.version)) {
            return Err(Refusal::PreconditionFailed);
        }
        let entry =
            Entry { operation: Operation::Delete, tenant: current.tenant, profile_id: &self.id, changed: Vec::new() };
        Ok(AuditRecord::new(author, entry, &self.now))
    }
}

fn text<'a>(doc: &'a Map<String, Value>, name: &str) -> &'a str {
    doc.get(name).and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "tenant-a";
    const B: &str = "tenant-b";
    const NOW: &str = "2026-01-01T00:00:00.0000000Z";
    const LATER: &str = "2026-01-02T00:00:00.0000000Z";
    const AUTHOR: Author<'static> = Author { caller: "c", app: "a", request_id: "r" };

    fn input(body: &str) -> ProfileInput {
        profile::parse_input(body.as_bytes()).expect("valid body")
    }

    fn created(body: &str) -> String {
        let create = Create::decide(input(body), &Scope::Tenant(A.into()), "default", NOW.into()).expect("created");
        serde_json::to_string(&create.doc).expect("serialises")
    }

    fn update(scope: Scope, body: &str, if_match: Option<IfMatch>) -> Update {
        Update { scope, id: "p".into(), if_match, input: input(body), now: LATER.into() }
    }

    fn current(doc: &str) -> Option<Current<'_>> {
        Some(Current { tenant: A, doc, version: 4 })
    }

    #[test]
    fn a_create_stays_in_the_callers_tenant() {
        let own = Scope::Tenant(A.into());
        let create = Create::decide(input(r#"{"id":"p"}"#), &own, "default", NOW.into()).expect("created");
        assert_eq!(create.doc["azureTenantId"], A);
        let foreign = Create::decide(input(&format!(r#"{{"azureTenantId":"{B}"}}"#)), &own, "default", NOW.into());
        assert_eq!(foreign.unwrap_err(), Refusal::ForeignTenant);
        let any = Create::decide(input("{}"), &Scope::AllTenants, "default", NOW.into()).expect("created");
        assert_eq!(any.doc["azureTenantId"], "default");
        let audit = create.audit(AUTHOR);
        assert_eq!((audit.operation.as_str(), audit.at.as_str(), audit.tenant.as_str()), ("create", NOW, A));
    }

    #[test]
    fn an_update_writes_the_next_version_stamped_once() {
        let doc = created(r#"{"id":"p"}"#);
        let decision = update(Scope::Tenant(A.into()), r#"{"riskScore":"9"}"#, None).decide(current(&doc), AUTHOR);
        let Ok(Decision::Rewrite(change)) = decision else { panic!("{decision:?}") };
        assert_eq!(change.version, 5);
        assert_eq!(change.audit.changed, ["riskScore"]);
        assert_eq!(change.copied.get("lastModifiedDateTime"), Some(&Value::from(LATER)));
        let doc: Value = serde_json::from_str(&change.text).expect("JSON");
        assert_eq!((doc["riskScore"].as_str(), doc["lastModifiedDateTime"].as_str()), (Some("9"), Some(LATER)));
        assert_eq!(change.audit.at, LATER, "the audit record carries the write's own timestamp");
    }

    #[test]
    fn an_update_is_refused_or_kept_by_the_rules() {
        let doc = created(r#"{"id":"p","displayName":"x"}"#);
        let own = || Scope::Tenant(A.into());
        let decide = |u: Update, row| u.decide(row, AUTHOR).expect("stored JSON");
        let refused = |d: Decision| match d {
            Decision::Refuse(r) => Some(r),
            _ => None,
        };
        assert_eq!(refused(decide(update(own(), "{}", None), None)), Some(Refusal::NotFound));
        let stale = Some(IfMatch::Versions(vec![Some(3)]));
        assert_eq!(refused(decide(update(own(), "{}", stale), current(&doc))), Some(Refusal::PreconditionFailed));
        assert!(matches!(decide(update(own(), r#"{"displayName":"x"}"#, None), current(&doc)), Decision::Keep));
        let away = format!(r#"{{"azureTenantId":"{B}"}}"#);
        assert_eq!(refused(decide(update(own(), &away, None), current(&doc))), Some(Refusal::ForeignTenant));
        assert!(matches!(decide(update(Scope::AllTenants, &away, None), current(&doc)), Decision::Move(_)));
        let corrupt = Some(Current { tenant: A, doc: "not json", version: 1 });
        assert!(update(own(), "{}", None).decide(corrupt, AUTHOR).is_err());
    }

    #[test]
    fn a_delete_checks_if_match_and_records_the_tenant_it_was_in() {
        let delete = |if_match| Delete { scope: Scope::AllTenants, id: "p".into(), if_match, now: LATER.into() };
        assert_eq!(delete(None).decide(None, AUTHOR).unwrap_err(), Refusal::NotFound);
        let stale = Some(IfMatch::Versions(vec![Some(3)]));
        assert_eq!(delete(stale).decide(current("{}"), AUTHOR).unwrap_err(), Refusal::PreconditionFailed);
        let audit = delete(Some(IfMatch::Any)).decide(current("{}"), AUTHOR).expect("deleted");
        assert_eq!((audit.operation.as_str(), audit.tenant.as_str(), audit.at.as_str()), ("delete", A, LATER));
    }
}
