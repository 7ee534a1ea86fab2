//! PostgreSQL store: every invariant lives in the database, so any number of graphsec instances
//! can share one database and behave as one.
//!
//! - Id uniqueness per tenant is the primary key (tenant, id); creates use ON CONFLICT DO NOTHING.
//! - A PATCH reads the row with SELECT ... FOR UPDATE, applies the merge and writes it back in the
//!   same transaction, so concurrent writers (on any instance) serialise on the row lock and no
//!   update is lost; the UPDATE also checks the version it read.
//! - Every statement names the tenant (or, with auth off, explicitly every tenant).
//! - Serialization failures and deadlocks (SQLSTATE 40001/40P01, the norm on CockroachDB) retry;
//!   a lost connection is retried once; what the database or network did is a 503 (`faults`).

mod faults;
mod rows;

use super::{
    Actor, AuditQuery, AuditRecord, IndexedColumns, ListPage, ListRequest, Scope, StoreError, StoredProfile,
    UpdatePlan, WriteCommand, WriteOutcome,
};
use rows::{delete_row, import, insert, insert_audit, select_for_update, update_in_place};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Embedded migrations, in order; the flag marks those CockroachDB skips (see each file).
const MIGRATIONS: &[(&str, bool)] = &[
    (include_str!("../../../migrations/postgres/0001_init.sql"), false),
    (include_str!("../../../migrations/postgres/0002_audit.sql"), false),
    (include_str!("../../../migrations/postgres/0003_sort_indexes_nulls_first.sql"), true),
];
/// Advisory lock key serialising migrations across instances ("graphsec" in ASCII).
const MIGRATION_LOCK: i64 = 0x6772_6170_6873_6563;
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
    pool: PgPool,
    skiptoken_key: Vec<u8>,
    query_timeout: Duration,
}

impl PgStore {
    /// Connects, migrates when asked, and loads the shared secrets.
    pub async fn connect(settings: &PgSettings, migrate_on_start: bool) -> Result<PgStore, StoreError> {
        let pool = pool(settings).await?;
        if migrate_on_start {
            migrate(&pool, settings.schema.as_deref()).await?;
        }
        let fresh: [u8; 32] = rand::random();
        let fresh: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
        sqlx::query("INSERT INTO settings (name, value) VALUES ('skiptoken_key', $1) ON CONFLICT (name) DO NOTHING")
            .bind(fresh)
            .execute(&pool)
            .await
            .map_err(pg)?;
        let key: String = sqlx::query_scalar("SELECT value FROM settings WHERE name = 'skiptoken_key'")
            .fetch_one(&pool)
            .await
            .map_err(pg)?;
        Ok(PgStore { pool, skiptoken_key: key.into_bytes(), query_timeout: settings.query_timeout })
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
        sqlx::raw_sql(sql).execute(&self.pool).await.map_err(pg)?;
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
            sqlx::raw_sql(READINESS_PROBE).execute(&self.pool).await.map_err(pg)?;
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
        match scope {
            Scope::Tenant(tenant) => {
                sqlx::query("SELECT wire, version FROM profiles WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
            }
            Scope::AllTenants => {
                sqlx::query("SELECT wire, version FROM profiles WHERE id = $1 ORDER BY tenant LIMIT 1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
            }
        }
        .map_err(pg)
    }

    pub async fn list(&self, scope: &Scope, request: &ListRequest) -> Result<ListPage, StoreError> {
        let columns = "p.wire, p.version";
        let rows =
            faults::retrying(|| self.scan(super::list_sql(odata::Dialect::Postgres, columns, scope, request))).await?;
        let rows = rows.iter().map(|r| stored(r, 0)).collect::<Result<Vec<_>, _>>()?;
        super::finish_page(rows, request)
    }

    pub async fn count(&self, scope: &Scope, filter: Option<&odata::Filter>) -> Result<i64, StoreError> {
        let rows = faults::retrying(|| self.scan(super::count_sql(odata::Dialect::Postgres, scope, filter))).await?;
        let row = rows.first().ok_or_else(|| StoreError::Other("COUNT(*) returned no row".into()))?;
        row.try_get::<i64, _>(0).map_err(pg)
    }

    /// A list or count query, timed from when it has its connection: only the statement's own
    /// time may count against the client (see `faults::of_scan`).
    async fn scan(&self, b: odata::SqlBuilder) -> Result<Vec<PgRow>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(pg)?;
        let started = Instant::now();
        bound(b).fetch_all(&mut *conn).await.map_err(|e| faults::of_scan(e, started.elapsed(), self.query_timeout))
    }

    pub async fn write(&self, command: &WriteCommand, actor: &Actor) -> Result<WriteOutcome, StoreError> {
        faults::retrying(|| self.try_write(command, actor)).await
    }

    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = faults::retrying(|| self.audit_rows(query)).await?;
        rows.iter()
            .map(|r| {
                let changed: String = r.try_get(8).map_err(pg)?;
                Ok(AuditRecord {
                    id: r.try_get(0).map_err(pg)?,
                    at: r.try_get(1).map_err(pg)?,
                    tenant: r.try_get(2).map_err(pg)?,
                    caller: r.try_get(3).map_err(pg)?,
                    app: r.try_get(4).map_err(pg)?,
                    request_id: r.try_get(5).map_err(pg)?,
                    operation: r.try_get(6).map_err(pg)?,
                    profile_id: r.try_get(7).map_err(pg)?,
                    changed: serde_json::from_str(&changed)?,
                })
            })
            .collect()
    }

    async fn audit_rows(&self, query: &AuditQuery) -> Result<Vec<PgRow>, StoreError> {
        sqlx::query(
            "SELECT id, at, tenant, caller, app, request_id, operation, profile_id, changed FROM audit_log \
             WHERE ($1::text IS NULL OR tenant = $1) AND ($2::text IS NULL OR profile_id = $2) \
             AND ($3::text IS NULL OR operation = $3) AND ($4::text IS NULL OR at >= $4) ORDER BY at, id LIMIT $5",
        )
        .bind(&query.tenant)
        .bind(&query.profile_id)
        .bind(&query.operation)
        .bind(&query.since)
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(pg)
    }

    async fn try_write(&self, command: &WriteCommand, actor: &Actor) -> Result<WriteOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(pg)?;
        let outcome = match command {
            WriteCommand::Create { doc } => {
                let outcome = insert(&mut tx, doc, 1).await?;
                if matches!(outcome, WriteOutcome::Written(_)) {
                    let columns = IndexedColumns::of(doc)?;
                    let record =
                        AuditRecord::new(actor, "create", columns.tenant, columns.id, super::created_members(doc));
                    insert_audit(&mut tx, &record).await?;
                }
                outcome
            }
            WriteCommand::Update { scope, id, if_match, input, now } => {
                let Some((old_tenant, current)) = select_for_update(&mut tx, scope, id).await? else {
                    return Ok(WriteOutcome::NotFound);
                };
                let (doc, tenant, changed) =
                    match super::plan_update(scope, id, if_match.as_ref(), input, now, &current)? {
                        UpdatePlan::Answer(outcome) => return Ok(outcome),
                        UpdatePlan::Write { doc, tenant, changed, .. } => (doc, tenant, changed),
                    };
                let outcome = if tenant == old_tenant {
                    // In place, so a writer queued on this row's lock sees the new version.
                    update_in_place(&mut tx, &doc, current.version).await?
                } else {
                    // Only with auth off: the profile moves to another tenant.
                    delete_row(&mut tx, &old_tenant, id).await?;
                    insert(&mut tx, &doc, current.version + 1).await?
                };
                if matches!(outcome, WriteOutcome::Written(_)) {
                    insert_audit(&mut tx, &super::update_audit(actor, &tenant, id, changed)).await?;
                }
                outcome
            }
            WriteCommand::Import { profiles } => import(&mut tx, profiles).await?,
            WriteCommand::PruneAudit { before, limit } => {
                let deleted = sqlx::query(
                    "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)",
                )
                .bind(before)
                .bind(i64::from(*limit))
                .execute(&mut *tx)
                .await
                .map_err(pg)?
                .rows_affected();
                WriteOutcome::Pruned { deleted }
            }
            WriteCommand::Delete { scope, id, if_match } => {
                let Some((tenant, current)) = select_for_update(&mut tx, scope, id).await? else {
                    return Ok(WriteOutcome::NotFound);
                };
                if if_match.as_ref().is_some_and(|m| !m.matches(current.version)) {
                    return Ok(WriteOutcome::PreconditionFailed);
                }
                delete_row(&mut tx, &tenant, id).await?;
                insert_audit(&mut tx, &AuditRecord::new(actor, "delete", &tenant, id, Vec::new())).await?;
                WriteOutcome::Deleted
            }
        };
        if matches!(
            outcome,
            WriteOutcome::Written(_)
                | WriteOutcome::Deleted
                | WriteOutcome::Imported { .. }
                | WriteOutcome::Pruned { .. }
        ) {
            if !actor.take_up() {
                // The request stopped waiting; dropping the transaction rolls it back.
                return Err(StoreError::Closed);
            }
            tx.commit().await.map_err(faults::at_commit)?;
        }
        Ok(outcome)
    }
}

async fn pool(settings: &PgSettings) -> Result<PgPool, StoreError> {
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
    PgPoolOptions::new()
        .max_connections(settings.pool_size)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await
        .map_err(pg)
}

/// Applies the embedded migrations not yet applied, under an advisory lock so that instances
/// starting together migrate once.
///
/// The session waits for locks without limit here: an instance starting beside one that is
/// migrating waits for it on the advisory lock, and DDL waits for running transactions; the
/// requests' `lock_timeout` would fail the start instead.
pub async fn migrate(pool: &PgPool, schema: Option<&str>) -> Result<usize, StoreError> {
    let mut conn = pool.acquire().await.map_err(pg)?;
    sqlx::query("SET lock_timeout = 0").execute(&mut *conn).await.map_err(pg)?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await.map_err(pg)?;
    let result = async {
        if let Some(schema) = schema {
            check_identifier(schema)?;
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")))
                .execute(&mut *conn)
                .await
                .map_err(pg)?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS graphsec_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .execute(&mut *conn)
        .await
        .map_err(pg)?;
        let applied: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM graphsec_migrations")
            .fetch_one(&mut *conn)
            .await
            .map_err(pg)?;
        let applied = usize::try_from(applied).unwrap_or(0);
        if applied > MIGRATIONS.len() {
            return Err(StoreError::Other(format!(
                "the database is at schema version {applied}, newer than this graphsec ({}); upgrade graphsec",
                MIGRATIONS.len()
            )));
        }
        let version: String = sqlx::query_scalar("SELECT version()").fetch_one(&mut *conn).await.map_err(pg)?;
        let cockroach = version.contains("CockroachDB");
        let mut ran = 0;
        for (index, (sql, postgres_only)) in MIGRATIONS.iter().enumerate().skip(applied) {
            let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(pg)?;
            if !(cockroach && *postgres_only) {
                sqlx::raw_sql(AssertSqlSafe(for_engine(sql, cockroach))).execute(&mut *tx).await.map_err(pg)?;
            }
            sqlx::query("INSERT INTO graphsec_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(index as i64 + 1)
                .bind(crate::domain::datetime::now())
                .execute(&mut *tx)
                .await
                .map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            tracing::info!(version = index + 1, "applied PostgreSQL migration");
            ran += 1;
        }
        Ok(ran)
    }
    .await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await;
    // Back to the session's own setting before the connection serves requests.
    if sqlx::query("RESET lock_timeout").execute(&mut *conn).await.is_err() {
        conn.close_on_drop();
    }
    result
}

/// CockroachDB compares strings byte-wise already and refuses `COLLATE "C"` on column definitions
/// (it accepts it in expressions), so its DDL leaves the clause out.
fn for_engine(sql: &str, cockroach: bool) -> String {
    if cockroach { sql.replace(" COLLATE \"C\"", "") } else { sql.to_string() }
}

/// `graphsec migrate`: connect, migrate, report.
pub async fn migrate_only(settings: &PgSettings) -> Result<usize, StoreError> {
    let pool = pool(settings).await?;
    let ran = migrate(&pool, settings.schema.as_deref()).await;
    pool.close().await;
    ran
}

fn check_identifier(name: &str) -> Result<(), StoreError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid { Ok(()) } else { Err(StoreError::Other(format!("'{name}' is not a valid schema name (a-z, 0-9, _)"))) }
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
