//! Persistence of profiles. Handlers talk to [`Store`]; SQLite (embedded, the default) and
//! PostgreSQL (shared by several instances) implement it side by side.

mod audit;
pub mod gate;
mod plan;
pub mod postgres;
mod row_cache;
mod sql;
pub mod sqlite;

use crate::domain::audit::Author;
use crate::domain::document::Copied;
use crate::domain::members;
use crate::domain::profile::ValidationError;
use crate::domain::write::{Create, Delete, Refusal, Update};
use serde_json::{Map, Value};

pub use crate::domain::write::Scope;
pub use audit::{AuditQuery, AuditRecord, HistoryPage, HistoryPosition, HistoryQuery};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
use std::sync::Arc;

/// The configured storage engine.
#[derive(Clone)]
pub enum Store {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl Store {
    pub async fn get(&self, scope: &Scope, id: &str) -> Result<Option<StoredProfile>, StoreError> {
        let _timer = StoreTimer::start("get");
        match self {
            Store::Sqlite(s) => s.get(scope, id),
            Store::Postgres(p) => p.get(scope, id).await,
        }
    }

    pub async fn list(&self, scope: Scope, request: ListRequest) -> Result<ListPage, StoreError> {
        let _timer = StoreTimer::start("list");
        match self {
            Store::Sqlite(s) => s.list(scope, request).await,
            Store::Postgres(p) => p.list(&scope, &request).await,
        }
    }

    pub async fn count(&self, scope: Scope, filter: Option<odata::Filter>) -> Result<i64, StoreError> {
        let _timer = StoreTimer::start("count");
        match self {
            Store::Sqlite(s) => s.count(scope, filter).await,
            Store::Postgres(p) => p.count(&scope, filter.as_ref()).await,
        }
    }

    /// Carries out a write atomically, with its audit-trail row in the same transaction.
    pub async fn write(&self, command: WriteCommand, actor: Actor) -> Result<WriteOutcome, StoreError> {
        let _timer = StoreTimer::start("write");
        match self {
            Store::Sqlite(s) => s.write(command, actor).await,
            // Boxed: sqlx's transaction futures run to kilobytes, and every caller's future (and
            // each wrapper around it, per request) would otherwise carry and copy them.
            Store::Postgres(p) => Box::pin(p.write(&command, &actor)).await,
        }
    }

    /// Refreshes the query planner's statistics (after a bulk load).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.analyze().await,
            Store::Postgres(p) => p.analyze().await,
        }
    }

    /// Deletes the audit rows written before `before` (wire form), a small batch per
    /// transaction so that writes queued meanwhile never wait long; how many it deleted.
    pub async fn prune_audit(&self, before: &str) -> Result<u64, StoreError> {
        const BATCH: u32 = 1_000;
        let actor = Actor::system("audit-retention");
        let mut total = 0;
        loop {
            let command = WriteCommand::PruneAudit { before: before.to_string(), limit: BATCH };
            match self.write(command, actor.clone()).await? {
                WriteOutcome::Pruned { deleted } => {
                    total += deleted;
                    if deleted < u64::from(BATCH) {
                        return Ok(total);
                    }
                }
                other => return Err(StoreError::Other(format!("a prune answered {other:?}"))),
            }
        }
    }

    /// Deletes every profile and audit entry, or those of one tenant, in one transaction
    /// (`POST /_graphsec/reset`); how many profiles it deleted.
    pub async fn reset(&self, tenant: Option<&str>) -> Result<u64, StoreError> {
        let command = WriteCommand::Reset { tenant: tenant.map(String::from) };
        match self.write(command, Actor::system("reset")).await? {
            WriteOutcome::Reset { profiles } => Ok(profiles),
            other => Err(StoreError::Other(format!("a reset answered {other:?}"))),
        }
    }

    /// Audit-trail rows, oldest first.
    pub async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.audit(query).await,
            Store::Postgres(p) => p.audit(&query).await,
        }
    }

    /// A page of one profile's audit trail, newest first (`GET /_graphsec/profiles/{id}/history`).
    pub async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, StoreError> {
        let _timer = StoreTimer::start("history");
        match self {
            Store::Sqlite(s) => s.history(query).await,
            Store::Postgres(p) => p.history(&query).await,
        }
    }

    /// Whether the store answers and can take writes.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.ping(),
            Store::Postgres(p) => p.ping().await,
        }
    }

    pub fn skiptoken_key(&self) -> &[u8] {
        match self {
            Store::Sqlite(s) => s.skiptoken_key(),
            Store::Postgres(p) => p.skiptoken_key(),
        }
    }

    /// Finishes queued writes and closes. An error means some of them may not be on disk.
    pub async fn close(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(p) => {
                p.close().await;
                Ok(())
            }
        }
    }
}

/// Records how long a store call took when it ends (metrics on only).
struct StoreTimer(Option<(&'static str, std::time::Instant)>);

impl StoreTimer {
    fn start(operation: &'static str) -> StoreTimer {
        StoreTimer(crate::telemetry::enabled().then(|| (operation, std::time::Instant::now())))
    }
}

impl Drop for StoreTimer {
    fn drop(&mut self) {
        if let Some((operation, started)) = self.0 {
            metrics::histogram!("graphsec_store_duration_seconds", "operation" => operation)
                .record(started.elapsed().as_secs_f64());
        }
    }
}

/// Trims the extra row of a [`plan::list_sql`] result and derives the next page's position from it.
pub(crate) fn finish_page(mut rows: Vec<StoredProfile>, request: &ListRequest) -> Result<ListPage, StoreError> {
    if rows.len() <= request.limit {
        return Ok(ListPage { rows, next: None });
    }
    rows.truncate(request.limit);
    let next = match rows.last() {
        Some(last) => Some(request.order.sort_key(&serde_json::from_str(&last.doc)?)),
        None => None,
    };
    Ok(ListPage { rows, next })
}

/// One profile as stored: its canonical JSON text (exactly the wire members) and its version.
#[derive(Debug, Clone)]
pub struct StoredProfile {
    pub doc: String,
    pub version: i64,
}

/// A bounded, ordered read of the collection.
#[derive(Clone)]
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
    Imported {
        inserted: u64,
        skipped: u64,
    },
    Pruned {
        deleted: u64,
    },
    Reset {
        profiles: u64,
    },
    NotFound,
    PreconditionFailed,
    Conflict,
    Invalid(ValidationError),
    /// The write would move a profile into a tenant the caller does not belong to.
    ForeignTenant,
}

impl From<Refusal> for WriteOutcome {
    fn from(refusal: Refusal) -> WriteOutcome {
        match refusal {
            Refusal::NotFound => WriteOutcome::NotFound,
            Refusal::PreconditionFailed => WriteOutcome::PreconditionFailed,
            Refusal::Invalid(invalid) => WriteOutcome::Invalid(invalid),
            Refusal::ForeignTenant => WriteOutcome::ForeignTenant,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    #[error("the query ran longer than {0:?}")]
    QueryTimeout(std::time::Duration),
    #[error("postgres: {0}")]
    Postgres(sqlx::Error),
    #[error("the store is shutting down")]
    Closed,
    /// The disk has no room for the write; nothing was written.
    #[error("the disk is full")]
    DiskFull,
    /// Another process holds the database's write lock (SQLite), or another session held a lock
    /// past `lock_timeout` or kept winning serialization conflicts (PostgreSQL).
    #[error("the database is locked by another process")]
    Busy,
    /// The database cannot be reached or did not let the statement finish (PostgreSQL: a lost
    /// connection, no connection in time, a cancelled statement). Nothing was written.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The connection was lost after a COMMIT was sent: the write may or may not be stored.
    #[error("the outcome of the commit is unknown: {0}")]
    OutcomeUnknown(String),
    /// The store cannot make writes durable any more and refuses them until a restart.
    #[error("the store has failed and needs a restart: {0}")]
    Failed(String),
    #[error("stored document is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("{0}")]
    Other(String),
}

impl From<rusqlite::Error> for StoreError {
    /// Sorts out the conditions a client is answered differently for: a full disk and a lock
    /// held by another process pass; other errors are the server's.
    fn from(e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull,
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sqlite(e),
        }
    }
}

impl StoreError {
    /// Whether the condition passes by itself (a later try may succeed).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::DiskFull | StoreError::Busy | StoreError::Unavailable(_))
    }

    /// Whether this is SQLite's report of a failed fsync.
    pub(crate) fn is_failed_sync(&self) -> bool {
        matches!(self, StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) if e.extended_code == rusqlite::ffi::SQLITE_IOERR_FSYNC)
    }

    /// The same error for another caller (the underlying errors cannot be cloned).
    pub(crate) fn duplicate(&self) -> StoreError {
        match self {
            StoreError::DiskFull => StoreError::DiskFull,
            StoreError::Busy => StoreError::Busy,
            StoreError::Closed => StoreError::Closed,
            StoreError::Failed(reason) => StoreError::Failed(reason.clone()),
            StoreError::Unavailable(reason) => StoreError::Unavailable(reason.clone()),
            StoreError::OutcomeUnknown(reason) => StoreError::OutcomeUnknown(reason.clone()),
            StoreError::QueryTimeout(limit) => StoreError::QueryTimeout(*limit),
            other => StoreError::Other(other.to_string()),
        }
    }
}

/// What stopped an export (`graphsec export`): the database, or where it was writing to.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export")]
    Output(#[source] std::io::Error),
}

/// A write, executed atomically by the store. Creates, updates and deletes are decided by the
/// domain's rules ([`crate::domain::write`]); an update or delete is decided inside the
/// transaction, on the row as it reads it, so concurrent PATCHes never tear or lose each other's
/// changes.
pub enum WriteCommand {
    Create(Create),
    Update(Update),
    Delete(Delete),
    /// Bulk load of new profiles (`graphsec import`); existing ids are skipped.
    Import {
        profiles: Vec<NewProfile>,
    },
    /// Deletes up to `limit` of the oldest audit rows written before `before` (wire form).
    PruneAudit {
        before: String,
        limit: u32,
    },
    /// Deletes every profile and audit row, or those of one tenant.
    Reset {
        tenant: Option<String>,
    },
}

/// A canonical document with its wire text, serialised by the caller: in a bulk load the store's
/// writer is the bottleneck, so it is given no work the loading thread can do.
pub struct NewProfile {
    pub doc: Map<String, Value>,
    pub text: String,
}

impl NewProfile {
    pub fn new(doc: Map<String, Value>) -> Result<NewProfile, StoreError> {
        let text = serde_json::to_string(&doc)?;
        Ok(NewProfile { doc, text })
    }
}

/// The column of `profiles` holding the owning tenant (azureTenantId).
const TENANT_COLUMN: &str = "tenant";

/// The members copied into columns of `profiles` (each field is named after its column), and
/// the string elements of `tags`, derived from a canonical document.
#[derive(PartialEq, Eq)]
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
    /// A new document's columns and its text, as a create stores them.
    pub(crate) fn with_text(doc: &'a Map<String, Value>) -> Result<(Self, String), StoreError> {
        Ok((IndexedColumns::of(doc)?, serde_json::to_string(doc)?))
    }

    pub(crate) fn of(doc: &'a Map<String, Value>) -> Result<Self, StoreError> {
        Self::from_members(|name| members::value_of(doc, name))
    }

    /// The columns of a change's document.
    pub(crate) fn of_copied(copied: &'a Copied) -> Result<Self, StoreError> {
        Self::from_members(|name| copied.get(name))
    }

    fn from_members(value_of: impl Fn(&str) -> Option<&'a Value>) -> Result<Self, StoreError> {
        // The member table says which member each column copies.
        let member = |column: &str| members::in_column(column).map_or("", |m| m.name);
        let column = |column: &str| value_of(member(column)).and_then(Value::as_str);
        let required =
            |name: &str| column(name).ok_or_else(|| StoreError::Other(format!("document without {}", member(name))));
        Ok(IndexedColumns {
            tenant: required(TENANT_COLUMN)?,
            id: required("id")?,
            user_principal_name: column("user_principal_name"),
            display_name: column("display_name"),
            risk_score: column("risk_score"),
            azure_subscription_id: column("azure_subscription_id"),
            created_date_time: column("created_date_time"),
            last_modified_date_time: column("last_modified_date_time"),
            tags: value_of("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default(),
        })
    }
}

/// Who asked for a write (recorded in the audit trail), and the gate of the request it belongs
/// to, if any.
#[derive(Debug, Clone)]
pub struct Actor {
    pub caller: String,
    pub app: String,
    pub request_id: String,
    pub gate: Option<std::sync::Arc<gate::WriteGate>>,
}

impl Actor {
    /// graphsec itself, for writes no request waits for.
    pub fn system(app: &str) -> Actor {
        Actor { caller: "graphsec".into(), app: app.into(), request_id: String::new(), gate: None }
    }

    /// Who the audit trail names for the write.
    pub fn author(&self) -> Author<'_> {
        Author { caller: &self.caller, app: &self.app, request_id: &self.request_id }
    }

    /// See [`gate::WriteGate::take_up`]; a write without a request always runs.
    pub fn take_up(&self) -> bool {
        self.gate.as_ref().is_none_or(|gate| gate.take_up())
    }
}

#[cfg(test)]
mod list_sql_tests;
