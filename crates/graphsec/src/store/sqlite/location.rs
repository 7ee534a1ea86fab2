//! Where an SQLite store keeps its database: a file in the data directory, or process memory
//! (`serve --in-memory`).
//!
//! In memory, every connection of the store opens one database of SQLite's `memdb` VFS by a name
//! unique to the store (a name starting with `/` is shared by the connections of the process).
//! The shared-cache alternative (`mode=memory&cache=shared`) locks tables instead of the
//! database: a reader that meets the writer's open transaction gets SQLITE_LOCKED at once, which
//! no busy timeout waits out, or must read uncommitted rows. A `memdb` database locks as a file
//! without WAL does: readers wait (the busy timeout) while the writer commits and never see a
//! transaction half done, so reads keep the isolation they have on disk.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub(crate) enum Location {
    File(PathBuf),
    /// A `file:` URI naming a `memdb` database.
    Memory(String),
}

impl Location {
    /// A database of its own in memory; it goes when its last connection closes.
    pub(crate) fn fresh_memory() -> Location {
        Location::Memory(format!("file:/graphsec-{}?vfs=memdb", uuid::Uuid::new_v4().simple()))
    }

    pub(crate) fn open(&self) -> rusqlite::Result<Connection> {
        self.open_with(OpenFlags::default())
    }

    pub(crate) fn open_with(&self, flags: OpenFlags) -> rusqlite::Result<Connection> {
        match self {
            Location::File(path) => Connection::open_with_flags(path, flags),
            Location::Memory(uri) => {
                Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_CREATE)
            }
        }
    }

    /// The database file, if there is one.
    pub(crate) fn file(&self) -> Option<&Path> {
        match self {
            Location::File(path) => Some(path),
            Location::Memory(_) => None,
        }
    }
}
