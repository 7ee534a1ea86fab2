//! The data directory: only `graphsec serve` creates one, and holds its lock (one server at a time
//! on an SQLite data directory). Other commands (`import`, `audit`, `token`) need one that exists,
//! do not take the lock, and work beside a running server.

use anyhow::Context;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::Path;

const LOCK_FILE: &str = "graphsec.lock";
/// The SQLite database in a data directory.
pub const SQLITE_FILE: &str = "graphsec.sqlite3";

/// Held for as long as the server runs; the operating system releases it when the process ends,
/// however it ends.
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock, creating the directory if needed. Fails, naming the running server's
    /// pid, when another server holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<DirLock> {
        create(dir)?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "unknown".to_string(),
                    pid => pid.to_string(),
                };
                anyhow::bail!(
                    "another graphsec server (pid {holder}) is running on the data directory {}; stop it or choose another --data-dir",
                    dir.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        // The pid only serves the message above, so a full disk does not stop the server here.
        if let Err(e) = file.set_len(0).and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes())) {
            tracing::warn!(error = %e, path = %path.display(), "cannot write the server's pid into the lock file");
        }
        Ok(DirLock { _file: file })
    }
}

/// Creates the data directory (and its parents) if it does not exist yet.
pub fn create(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!("--data-dir {} is a file, not a directory", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data directory {}", dir.display()))
}

/// Checks that `dir` is a data directory `graphsec serve` made, holding `file`.
pub fn require(dir: &Path, file: &str) -> anyhow::Result<()> {
    let hint = || {
        format!(
            "pass the --data-dir of the server, or create a data directory with `graphsec serve --data-dir {}`",
            dir.display()
        )
    };
    if !dir.exists() {
        anyhow::bail!("there is no data directory {}: {}", dir.display(), hint());
    }
    if !dir.is_dir() {
        anyhow::bail!("--data-dir {} is a file, not a directory", dir.display());
    }
    if !dir.join(file).exists() {
        anyhow::bail!("{} is not a graphsec data directory (it has no {file}): {}", dir.display(), hint());
    }
    Ok(())
}
