//! `graphsec export`: every profile of a data directory or database, as newline-delimited JSON
//! that `graphsec import` loads back as it was.
//!
//! A line is the stored document as it is, which is exactly what the API returns (declared members
//! in CSDL order, explicit nulls, then dynamic properties): import validates it as a POST body,
//! keeps its id, times and members, and stores the same text again. The version (ETag) is not part
//! of the document and starts again at 1.

use crate::config::ExportArgs;
use crate::store::Store;
use crate::store::sqlite::Durability;
use std::io::Write;

/// Writes the profiles to `out`; returns how many.
pub fn run(args: &ExportArgs, out: &mut dyn Write) -> anyhow::Result<u64> {
    let storage = args.location.storage(Durability::Full);
    let tenant = args.tenant.as_deref();
    if storage.database_url.is_none() {
        crate::data_dir::require(&storage.data_dir, crate::data_dir::SQLITE_FILE)?;
        let db = storage.data_dir.join(crate::data_dir::SQLITE_FILE);
        return Ok(crate::store::sqlite::snapshot::export(&db, tenant, out)?);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = crate::app::open_existing_store(&storage).await?;
        let exported = match &store {
            Store::Postgres(pg) => pg.export(tenant, out).await.map_err(anyhow::Error::from),
            Store::Sqlite(_) => Err(anyhow::anyhow!("a database URL opened an SQLite store")),
        };
        store.close().await?;
        exported
    })
}
