//! `graphsec backup`: a copy of an SQLite data directory, made while its server runs, that
//! `graphsec serve --data-dir` starts on as it is.
//!
//! The copy is a data directory, not a bare database file, because that is what a server starts
//! on: the database as of one snapshot (`VACUUM INTO`, which also leaves out free pages) and the
//! signing key, so tokens minted for the server are accepted by a server on the copy (the
//! skiptoken key is in the database). The lock file is the running server's and is not copied;
//! neither is anything else a user put in the directory (such as `graphsec cert`'s `tls/`).

use crate::auth::local::KEY_FILE;
use crate::config::BackupArgs;
use crate::data_dir::SQLITE_FILE;
use anyhow::Context;
use std::path::Path;

/// What a backup copied.
pub struct BackupReport {
    pub profiles: i64,
    pub bytes: u64,
}

pub fn run(args: &BackupArgs) -> anyhow::Result<BackupReport> {
    if args.location.database_url.is_some() {
        anyhow::bail!(
            "backup copies an SQLite data directory, and this data is in PostgreSQL: back it up with pg_dump \
             (e.g. `pg_dump --format=custom --file graphsec.dump URL`), which reads one consistent snapshot while \
             the servers run, and restore it with pg_restore"
        );
    }
    let from = &args.location.data_dir;
    crate::data_dir::require(from, SQLITE_FILE)?;
    prepare_target(&args.to)?;
    let db = args.to.join(SQLITE_FILE);
    // Copied under another name and renamed when complete, so that an interrupted backup never
    // leaves a directory that looks like a data directory.
    let partial = args.to.join(format!("{SQLITE_FILE}.partial"));
    crate::store::sqlite::snapshot::copy(&from.join(SQLITE_FILE), &partial)
        .with_context(|| format!("cannot copy the database of {}", from.display()))?;
    if from.join(KEY_FILE).exists() {
        copy_synced(&from.join(KEY_FILE), &args.to.join(KEY_FILE))?;
    }
    std::fs::rename(&partial, &db)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), db.display()))?;
    sync_directory(&args.to)?;
    let bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    let profiles = crate::store::sqlite::snapshot::count(&db).context("cannot read the copy")?;
    Ok(BackupReport { profiles, bytes })
}

/// Creates the target directory, or accepts an empty one: a backup never overwrites anything, least
/// of all another data directory.
fn prepare_target(to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        if !to.is_dir() {
            anyhow::bail!("--to {} is a file; name a new directory", to.display());
        }
        let mut entries = std::fs::read_dir(to).with_context(|| format!("cannot read {}", to.display()))?;
        if entries.next().is_some() {
            anyhow::bail!(
                "--to {} is not empty; name a new or empty directory (a backup overwrites nothing)",
                to.display()
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))
}

/// Copies a file (with its permissions: the key is readable by its owner only) and syncs it.
fn copy_synced(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    std::fs::File::open(to).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync {}", to.display()))
}

fn sync_directory(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("cannot sync {}", dir.display()))
}
