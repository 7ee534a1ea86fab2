//! PostgreSQL store: every invariant lives in the database, so any number of graphsec instances
//! can share one database and behave as one.
//!
//! - Id uniqueness per tenant is the primary key (tenant, id); creates use ON CONFLICT DO NOTHING.
//! - A create, update or delete is decided by the domain on the row as read, and written by one
//!   statement that checks the version it was decided on and writes the audit row with it
//!   ([`optimistic`]); a writer that lost a race decides again, and after a few lost races
//!   decides on the row locked with SELECT ... FOR UPDATE ([`write`]), so no update is lost.
//! - Every statement names the tenant (or, with auth off, explicitly every tenant).
//! - Serialization failures and deadlocks (SQLSTATE 40001/40P01, the norm on CockroachDB) retry;
//!   a lost connection is retried once; what the database or network did is a 503 (`faults`).

mod export;
mod faults;
mod optimistic;
mod pool;
mod rows;
mod schema;
mod statements;
mod write;

use super::audit::{self, AuditQuery, AuditRecord, HistoryPage, HistoryQuery, TextColumns};
use super::sql::NamedRow;
use super::{Actor, ListPage, ListRequest, Scope, StoreError, StoredProfile, WriteCommand, WriteOutcome, plan};
use odata::Dialect::Postgres as Pg;
use pool::Pool;
use schema::migrate;
pub use schema::migrate_only;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The row a read names.
static NAMED_ROW: NamedRow = super::sql::named_row!("wire, version", "");

/// How long `/readyz` gives the database to answer.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);
/// The readiness probe: an index lookup of a key that cannot exist, also bounded (the same 2 s)
/// by the server (`SET LOCAL` in the one implicit transaction of a multi-statement simple query),
/// so that a probe stuck behind a lock does not keep its connection after `/readyz` has answered.
const READINESS_PROBE: &str =
    "SET LOCAL statement_timeout = 2000; SELECT 1 FROM profiles WHERE tenant = '' AND id = '' LIMIT 1";

#[derive(Debug, Clone)]
pub struct PgSettings {
    pub url: String,
    /// Schema to use (created by migrations if missing); None keeps the server's search_path.
    pub schema: Option<String>,
    pub pool_size: u32,
    /// How long a request waits for a connection; also bounds its lock waits (see `lock_timeout`).
    pub acquire_timeout: Duration,
    /// statement_timeout of every session: the longest list or count query.
    pub query_timeout: Duration,
}

/// `lock_timeout` of every session.
///
/// A statement queued behind another session's lock (a `LOCK TABLE`, a migration, a long
/// transaction holding a row) would otherwise wait until its statement timeout or the request
/// timeout, and then be answered as if the query were too costly or the server had hung. Lock
/// waits are instead bounded like waiting for a connection, and end in 55P03, a prompt 503 with
/// `Retry-After`. It is at most half of `--query-timeout`, so that a list or count query blocked
/// on a lock always ends in 55P03 before its statement_timeout can fire (which would blame the
/// client, see `faults::of_scan`).
fn lock_timeout(settings: &PgSettings) -> Duration {
    let half_query = settings.query_timeout / 2;
    if half_query.is_zero() { settings.acquire_timeout } else { settings.acquire_timeout.min(half_query) }
}

pub struct PgStore {
    pool: Pool,
    skiptoken_key: Vec<u8>,
    query_timeout: Duration,
}

impl PgStore {
    /// Connects, migrates when asked, and loads the shared secrets.
    pub async fn connect(settings: &PgSettings, migrate_on_start: bool) -> Result<PgStore, StoreError> {
        let pool = pool(settings)?;
        if migrate_on_start {
            migrate(&pool, settings.schema.as_deref()).await?;
        }
        let skiptoken_key = schema::secret(&pool, "skiptoken_key").await?;
        Ok(PgStore { pool, skiptoken_key, query_timeout: settings.query_timeout })
    }

    pub fn skiptoken_key(&self) -> &[u8] {
        &self.skiptoken_key
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Maintenance after a bulk load: it may wait for autovacuum, so it is not held to the
    /// requests' lock timeout.
    pub async fn analyze(&self) -> Result<(), StoreError> {
        let sql = "SET LOCAL lock_timeout = 0; ANALYZE profiles; ANALYZE profile_tags";
        let mut conn = self.pool.acquire().await.map_err(pg)?;
        let done = sqlx::raw_sql(sql).execute(&mut *conn).await;
        conn.settle(&done);
        done.map_err(pg)?;
        Ok(())
    }

    /// Readiness: whether this instance can serve a point read of the profiles table now.
    ///
    /// A load balancer should stop sending requests to an instance that can only answer 503, so
    /// besides a dead or unreachable database (or a pool with no connection to spare for 2 s)
    /// this also notices a lock that stops reads of the profiles table (`LOCK TABLE`, `ALTER
    /// TABLE`, `VACUUM FULL`). Every instance shares the database and turns unready with it,
    /// which is what the balancer should see: it has nowhere better to send the request. A lock
    /// that only holds up writes leaves the instance ready, since reads still work.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let probe = faults::retrying(|| async {
            let mut conn = self.pool.acquire().await.map_err(pg)?;
            let done = sqlx::raw_sql(READINESS_PROBE).execute(&mut *conn).await;
            conn.settle(&done);
            done.map_err(pg)?;
            Ok(())
        });
        match tokio::time::timeout(READINESS_TIMEOUT, probe).await {
            Ok(answer) => answer,
            Err(_) => Err(StoreError::Unavailable(format!("no answer within {READINESS_TIMEOUT:?}"))),
        }
    }

    pub async fn get(&self, scope: &Scope, id: &str) -> Result<Option<StoredProfile>, StoreError> {
        let row = faults::retrying(|| self.get_row(scope, id)).await?;
        row.map(|r| stored(&r, 0)).transpose()
    }

    async fn get_row(&self, scope: &Scope, id: &str) -> Result<Option<PgRow>, StoreError> {
        self.named_row(&NAMED_ROW, scope, id).await
    }

    /// The row `id` names in `scope`, read without a lock.
    async fn named_row(&self, named: &'static NamedRow, scope: &Scope, id: &str) -> Result<Option<PgRow>, StoreError> {
        let (sql, values) = named.of(Pg, scope, id);
        let mut query = sqlx::query(sql);
        for value in values {
            query = query.bind(value);
        }
        let mut conn = self.pool.acquire().await.map_err(pg)?;
        let row = query.fetch_optional(&mut *conn).await;
        conn.settle(&row);
        row.map_err(pg)
    }

    pub async fn list(&self, scope: &Scope, request: &ListRequest) -> Result<ListPage, StoreError> {
        let covers = plan::covers(Pg, request.filter.as_ref());
        let rows = faults::retrying(|| async {
            let mut conn = self.pool.acquire().await.map_err(pg)?;
            let rows = async {
                // A page read in its index's order has one best plan whatever the value, so
                // its statement is prepared once; every other shape is planned for its values.
                let (drive, plan_for_values) = match plan::in_order(Pg, &covers, &request.order) {
                    Some(cover) => (Some(cover), false),
                    None => (self.choose(&mut conn, scope, &covers, Some(&request.order)).await?, true),
                };
                let sql = plan::list_sql(Pg, "p.wire, p.version", scope, request, drive);
                self.scan(&mut conn, sql, plan_for_values).await
            }
            .await;
            give_back(conn, &rows);
            rows
        })
        .await?;
        let rows = rows.iter().map(|r| stored(r, 0)).collect::<Result<Vec<_>, _>>()?;
        super::finish_page(rows, request)
    }

    pub async fn count(&self, scope: &Scope, filter: Option<&odata::Filter>) -> Result<i64, StoreError> {
        let covers = plan::covers(Pg, filter);
        let rows = faults::retrying(|| async {
            let mut conn = self.pool.acquire().await.map_err(pg)?;
            let rows = async {
                let drive = match plan::exact(&covers) {
                    Some(cover) => Some(cover),
                    None => self.choose(&mut conn, scope, &covers, None).await?,
                };
                self.scan(&mut conn, plan::count_sql(Pg, scope, filter, drive), true).await
            }
            .await;
            give_back(conn, &rows);
            rows
        })
        .await?;
        let row = rows.first().ok_or_else(|| StoreError::Other("COUNT(*) returned no row".into()))?;
        row.try_get::<i64, _>(0).map_err(pg)
    }

    /// The cover a query (a list in `order`, or a count) starts from, after counting (up to a
    /// cap) the keys of each candidate.
    async fn choose<'a>(
        &self,
        conn: &mut PgConnection,
        scope: &Scope,
        covers: &'a [odata::Cover],
        order: Option<&odata::OrderBy>,
    ) -> Result<Option<&'a odata::Cover>, StoreError> {
        if covers.is_empty() {
            return Ok(None);
        }
        let rows = self.scan(conn, plan::estimate_sql(Pg, scope, covers, order), true).await?;
        let row = rows.first().ok_or_else(|| StoreError::Other("the estimate returned no row".into()))?;
        let estimates =
            (0..covers.len()).map(|i| row.try_get::<i64, _>(i)).collect::<Result<Vec<_>, _>>().map_err(pg)?;
        Ok(plan::choose(Pg, covers, &estimates, order))
    }

    /// A list or count query, timed from when it has its connection: only the statement's own
    /// time may count against the client (see `faults::of_scan`). With `plan_for_values` it is
    /// planned for its own values, never from a cached generic plan, since how many rows a
    /// value matches decides the best plan.
    async fn scan(
        &self,
        conn: &mut PgConnection,
        b: odata::SqlBuilder,
        plan_for_values: bool,
    ) -> Result<Vec<PgRow>, StoreError> {
        let started = Instant::now();
        bound(b)
            .persistent(!plan_for_values)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| faults::of_scan(e, started.elapsed(), self.query_timeout))
    }

    pub async fn write(&self, command: &WriteCommand, actor: &Actor) -> Result<WriteOutcome, StoreError> {
        match command {
            WriteCommand::Create(_) | WriteCommand::Update(_) | WriteCommand::Delete(_) => {
                self.write_row(command, actor).await
            }
            _ => faults::retrying(|| self.try_write(command, actor)).await,
        }
    }

    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = faults::retrying(|| self.audit_rows(query)).await?;
        rows.iter().map(audit::audit_record).collect()
    }

    /// A page of one profile's audit trail, newest first.
    pub async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        let (sql, text) = query.time_statement(Pg)?;
        let rows = faults::retrying(|| async {
            let mut statement = sqlx::query(sql);
            for value in &text {
                statement = statement.bind(*value);
            }
            let mut conn = self.pool.acquire().await.map_err(pg)?;
            let rows = statement.bind(i64::from(query.top) + 1).fetch_all(&mut *conn).await;
            conn.settle(&rows);
            rows.map_err(pg)
        })
        .await?;
        let records = rows.iter().map(audit::audit_record).collect::<Result<_, _>>()?;
        Ok(query.time_page(records))
    }

    async fn audit_rows(&self, query: &AuditQuery) -> Result<Vec<PgRow>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(pg)?;
        let rows = sqlx::query(audit::SELECT_AUDIT.text(Pg))
            .bind(&query.tenant)
            .bind(&query.profile_id)
            .bind(&query.operation)
            .bind(&query.since)
            .bind(i64::from(query.limit))
            .fetch_all(&mut *conn)
            .await;
        conn.settle(&rows);
        rows.map_err(pg)
    }
}

/// Gives back the connection of a list or count: as it is after a success, else drained (or
/// closed) before reuse.
fn give_back<T>(conn: pool::Conn, outcome: &Result<T, StoreError>) {
    if outcome.is_ok() {
        conn.release();
    }
}

impl TextColumns for PgRow {
    fn text(&self, index: usize) -> Result<String, StoreError> {
        self.try_get(index).map_err(pg)
    }
}

/// The store's pool. It opens no connection yet: the first statement (at start, the migrations
/// or reading the shared secrets) does.
fn pool(settings: &PgSettings) -> Result<Pool, StoreError> {
    let mut options = PgConnectOptions::from_str(&settings.url).map_err(pg)?;
    // An application_name in the URL is kept: it tells an operator's (or a test's) sessions apart.
    if options.get_application_name().is_none() {
        options = options.application_name("graphsec");
    }
    options = options.options([
        ("statement_timeout", settings.query_timeout.as_millis().to_string()),
        ("lock_timeout", lock_timeout(settings).as_millis().to_string()),
    ]);
    if let Some(schema) = &settings.schema {
        options = options.options([("search_path", schema.as_str())]);
    }
    Ok(Pool::new(options, settings.pool_size, settings.acquire_timeout))
}

/// The only place dynamic SQL reaches sqlx: text from the odata renderer, which holds no request
/// text (every value is a bound parameter).
fn bound(b: odata::SqlBuilder) -> sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments> {
    let (sql, values) = b.into_parts();
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in values {
        query = match value {
            odata::SqlValue::Null => query.bind(None::<String>),
            odata::SqlValue::Text(s) => query.bind(s),
            odata::SqlValue::Int(i) => query.bind(i),
            odata::SqlValue::Real(f) => query.bind(f),
            odata::SqlValue::Bool(v) => query.bind(v),
        };
    }
    query
}

fn stored(row: &sqlx::postgres::PgRow, first: usize) -> Result<StoredProfile, StoreError> {
    Ok(StoredProfile { doc: row.try_get(first).map_err(pg)?, version: row.try_get(first + 1).map_err(pg)? })
}

/// Wraps an error as it is; `faults::retrying` decides what it means.
fn pg(e: sqlx::Error) -> StoreError {
    StoreError::Postgres(e)
}
