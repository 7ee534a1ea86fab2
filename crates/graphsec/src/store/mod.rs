//! Persistence of profiles. Handlers talk to [`Store`]; the engine behind it is SQLite today.

pub mod sqlite;

use crate::domain::etag::IfMatch;
use crate::domain::profile::{ProfileInput, ValidationError};
use serde_json::{Map, Value};

pub use sqlite::SqliteStore;

/// Which tenants' rows an operation may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Tenant(String),
    /// `--auth off`: the emulator sees every tenant.
    AllTenants,
}

/// One profile as stored: its canonical JSON text (exactly the wire members) and its version.
#[derive(Debug, Clone)]
pub struct StoredProfile {
    pub doc: String,
    pub version: i64,
}

/// A bounded, ordered read of the collection.
pub struct ListRequest {
    pub filter: Option<odata::Filter>,
    pub order: odata::OrderBy,
    /// Keyset position: return rows strictly after this key.
    pub after: Option<odata::SortKey>,
    pub skip: u64,
    pub limit: usize,
}

pub struct ListPage {
    pub rows: Vec<StoredProfile>,
    /// Sort key of the last row, present when more rows follow.
    pub next: Option<odata::SortKey>,
}

/// The result of a write the store attempted.
#[derive(Debug)]
pub enum WriteOutcome {
    Written(StoredProfile),
    Deleted,
    NotFound,
    PreconditionFailed,
    Conflict,
    Invalid(ValidationError),
    /// The write would move a profile into a tenant the caller does not belong to.
    ForeignTenant,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the store is shutting down")]
    Closed,
    #[error("stored document is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("{0}")]
    Other(String),
}

/// A write, executed atomically by the store (read-modify-write happens inside the transaction,
/// so concurrent PATCHes never tear or lose each other's changes).
pub enum WriteCommand {
    Create {
        doc: Map<String, Value>,
    },
    Update {
        scope: Scope,
        id: String,
        if_match: Option<IfMatch>,
        input: ProfileInput,
        now: String,
    },
    Delete {
        scope: Scope,
        id: String,
        if_match: Option<IfMatch>,
    },
}

/// The members copied into indexed columns, derived from a canonical document.
pub(crate) struct IndexedColumns<'a> {
    pub tenant: &'a str,
    pub id: &'a str,
    pub user_principal_name: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub risk_score: Option<&'a str>,
    pub azure_subscription_id: Option<&'a str>,
    pub created_date_time: Option<&'a str>,
    pub last_modified_date_time: Option<&'a str>,
    pub tags: Vec<&'a str>,
}

impl<'a> IndexedColumns<'a> {
    pub(crate) fn of(doc: &'a Map<String, Value>) -> Result<Self, StoreError> {
        let text = |name: &str| doc.get(name).and_then(Value::as_str);
        Ok(IndexedColumns {
            tenant: text("azureTenantId")
                .ok_or_else(|| StoreError::Other("document without azureTenantId".into()))?,
            id: text("id").ok_or_else(|| StoreError::Other("document without id".into()))?,
            user_principal_name: text("userPrincipalName"),
            display_name: text("displayName"),
            risk_score: text("riskScore"),
            azure_subscription_id: text("azureSubscriptionId"),
            created_date_time: text("createdDateTime"),
            last_modified_date_time: text("lastModifiedDateTime"),
            tags: doc
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default(),
        })
    }
}
