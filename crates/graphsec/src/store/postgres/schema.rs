//! The database's schema and secrets: migrations (once per database, whichever instance starts
//! first), recorded in `graphsec_migrations`.

use super::pool::Pool;
use super::{PgSettings, pg, pool};
use crate::store::StoreError;
use crate::store::sql::{self, INSERT_SECRET, SELECT_SECRET};
use odata::Dialect::Postgres as Pg;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

/// A migration, and whether CockroachDB skips it (see each file).
struct Migration {
    sql: &'static str,
    postgres_only: bool,
}

const MIGRATIONS: &[Migration] = &[
    Migration { sql: include_str!("../../../migrations/postgres/0001_init.sql"), postgres_only: false },
    Migration { sql: include_str!("../../../migrations/postgres/0002_audit.sql"), postgres_only: false },
    Migration {
        sql: include_str!("../../../migrations/postgres/0003_sort_indexes_nulls_first.sql"),
        postgres_only: true,
    },
    Migration {
        sql: include_str!("../../../migrations/postgres/0004_collections_never_null.sql"),
        postgres_only: false,
    },
    Migration { sql: include_str!("../../../migrations/postgres/0005_audit_by_profile.sql"), postgres_only: false },
];
/// Advisory lock key serialising migrations across instances ("graphsec" in ASCII).
const MIGRATION_LOCK: i64 = 0x6772_6170_6873_6563;

/// Applies the embedded migrations not yet applied, under an advisory lock so that instances
/// starting together migrate once; how many it applied.
///
/// The session waits for locks without limit here: an instance starting beside one that is
/// migrating waits for it on the advisory lock, and DDL waits for running transactions; the
/// requests' `lock_timeout` would fail the start instead.
pub(super) async fn migrate(pool: &Pool, schema: Option<&str>) -> Result<usize, StoreError> {
    let mut conn = pool.acquire().await.map_err(pg)?;
    sqlx::query("SET lock_timeout = 0").execute(&mut *conn).await.map_err(pg)?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await.map_err(pg)?;
    let result = run_pending(&mut conn, schema).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await;
    // Back to the session's own setting before the connection serves requests.
    match sqlx::query("RESET lock_timeout").execute(&mut *conn).await {
        Ok(_) => conn.release(),
        Err(_) => conn.discard(),
    }
    result
}

async fn run_pending(conn: &mut PgConnection, schema: Option<&str>) -> Result<usize, StoreError> {
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
    let pending = sql::pending(MIGRATIONS, applied)?;
    let engine: String = sqlx::query_scalar("SELECT version()").fetch_one(&mut *conn).await.map_err(pg)?;
    let cockroach = engine.contains("CockroachDB");
    let mut ran = 0;
    for (version, migration) in pending {
        let mut tx = conn.begin().await.map_err(pg)?;
        if !(cockroach && migration.postgres_only) {
            let ddl = for_engine(migration.sql, cockroach);
            sqlx::raw_sql(AssertSqlSafe(ddl)).execute(&mut *tx).await.map_err(pg)?;
        }
        sqlx::query("INSERT INTO graphsec_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(crate::domain::datetime::now())
            .execute(&mut *tx)
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        tracing::info!(version, "applied PostgreSQL migration");
        ran += 1;
    }
    Ok(ran)
}

/// CockroachDB compares strings byte-wise already and refuses `COLLATE "C"` on column definitions
/// (it accepts it in expressions), so its DDL leaves the clause out.
fn for_engine(sql: &str, cockroach: bool) -> String {
    if cockroach { sql.replace(" COLLATE \"C\"", "") } else { sql.to_string() }
}

/// `graphsec migrate`: connect, migrate, report.
pub async fn migrate_only(settings: &PgSettings) -> Result<usize, StoreError> {
    let pool = pool(settings)?;
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

/// The secret `name`, created by the first instance that needs it.
pub(super) async fn secret(pool: &Pool, name: &str) -> Result<Vec<u8>, StoreError> {
    let mut conn = pool.acquire().await.map_err(pg)?;
    let fresh = sql::fresh_secret();
    sqlx::query(INSERT_SECRET.text(Pg)).bind(name).bind(fresh).execute(&mut *conn).await.map_err(pg)?;
    let value: String =
        sqlx::query_scalar(SELECT_SECRET.text(Pg)).bind(name).fetch_one(&mut *conn).await.map_err(pg)?;
    conn.release();
    Ok(value.into_bytes())
}
