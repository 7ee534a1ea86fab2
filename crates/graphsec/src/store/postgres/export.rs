//! `graphsec export` on PostgreSQL: every profile from one snapshot, in pages.

use super::{PgStore, pg};
use crate::store::ExportError;
use sqlx::Row;
use std::io::Write;

/// Rows per page: each page is held in memory while it is written out.
const PAGE_ROWS: i64 = 2_000;

/// Pages by key in (tenant, id) order, byte-wise as on SQLite, so an export's bytes do not depend
/// on the engine it came from. A key is never empty, so `''` starts before the first one.
const PAGE_ALL: &str =
    "SELECT tenant, id, wire FROM profiles WHERE (tenant, id) > ($1, $2) ORDER BY tenant, id LIMIT $3";
const PAGE_TENANT: &str =
    "SELECT tenant, id, wire FROM profiles WHERE tenant = $4 AND (tenant, id) > ($1, $2) ORDER BY tenant, id LIMIT $3";

impl PgStore {
    /// Writes every profile's document (of `tenant`, or of all tenants), one per line; returns how
    /// many. The pages are read in one REPEATABLE READ transaction, so together they are one
    /// snapshot, and each is a short statement that stays far within the statement timeout.
    pub async fn export(&self, tenant: Option<&str>, out: &mut dyn Write) -> Result<u64, ExportError> {
        let mut conn = self.pool.acquire().await.map_err(pg)?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(pg)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(pg)?;
        let (mut after_tenant, mut after_id) = (String::new(), String::new());
        let mut count = 0;
        loop {
            let query = match tenant {
                Some(tenant) => {
                    sqlx::query(PAGE_TENANT).bind(&after_tenant).bind(&after_id).bind(PAGE_ROWS).bind(tenant)
                }
                None => sqlx::query(PAGE_ALL).bind(&after_tenant).bind(&after_id).bind(PAGE_ROWS),
            };
            let rows = query.fetch_all(&mut *tx).await.map_err(pg)?;
            for row in &rows {
                let wire: &str = row.try_get(2).map_err(pg)?;
                out.write_all(wire.as_bytes()).map_err(ExportError::Output)?;
                out.write_all(b"\n").map_err(ExportError::Output)?;
            }
            count += rows.len() as u64;
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE_ROWS => {
                    after_tenant = last.try_get(0).map_err(pg)?;
                    after_id = last.try_get(1).map_err(pg)?;
                }
                _ => break,
            }
        }
        tx.rollback().await.map_err(pg)?;
        Ok(count)
    }
}
