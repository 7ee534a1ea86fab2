//! The gathering VFS changes how the WAL is written, never what it holds: every test writes
//! through it and checks what a plain connection (SQLite's own VFS) reads, on the live files and
//! on a copy taken as a crash would leave them.
#![allow(clippy::unwrap_used)]

use rusqlite::{Connection, OpenFlags, params};
use std::path::Path;

fn gathering_writer(path: &Path) -> Connection {
    assert!(wal_gather::register());
    let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), wal_gather::NAME).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)").unwrap();
    conn
}

fn rows(conn: &Connection) -> Vec<(i64, i64)> {
    let mut stmt = conn.prepare("SELECT id, length(v) FROM t ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

/// The database and its WAL copied as they are now (the writer still open), as a process crash
/// would leave them, opened by a plain connection (which recovers the WAL) and checked whole.
fn recovered_copy(path: &Path) -> Connection {
    let to = path.with_extension("copy");
    for suffix in ["", "-wal"] {
        let (mut from_file, mut to_file) = (path.as_os_str().to_owned(), to.as_os_str().to_owned());
        from_file.push(suffix);
        to_file.push(suffix);
        std::fs::copy(&from_file, &to_file).unwrap();
    }
    let conn = Connection::open(&to).unwrap();
    assert_eq!(integrity(&conn), "ok");
    conn
}

/// Inserts `ids` (500-byte rows) in the open transaction with a 10-page cache: SQLite writes
/// ("spills") frames to the WAL before the commit.
fn insert_spilling(writer: &Connection, ids: std::ops::Range<i64>) {
    writer.pragma_update(None, "cache_size", 10).unwrap();
    for i in ids {
        writer.execute("INSERT INTO t VALUES (?1, ?2)", params![i, "s".repeat(500)]).unwrap();
    }
}

#[test]
fn every_commit_is_in_the_file_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let writer = gathering_writer(&path);
    let reader = Connection::open(&path).unwrap();
    let mut expected = Vec::new();
    // Small rows, rows with overflow pages, and a transaction far larger than what is gathered
    // before it is written out.
    for (i, size) in [(1, 10), (2, 5_000), (3, 200_000), (4, 10)] {
        writer.execute("INSERT INTO t VALUES (?1, ?2)", params![i, "x".repeat(size as usize)]).unwrap();
        assert_eq!(wal_gather::write_out(&writer).unwrap(), 0);
        expected.push((i, size));
        assert_eq!(rows(&reader), expected);
    }
    writer.execute("INSERT INTO t SELECT id + 100, v FROM t", []).unwrap();
    writer.execute_batch("BEGIN; UPDATE t SET v = v || 'y'; DELETE FROM t WHERE id = 1; COMMIT;").unwrap();
    let big: String = "z".repeat(10 << 20);
    writer.execute("INSERT INTO t VALUES (500, ?1)", [&big]).unwrap();
    assert_eq!(wal_gather::write_out(&writer).unwrap(), 0);
    let all = rows(&reader);
    assert_eq!(all.len(), 8);
    assert_eq!(all.last(), Some(&(500, 10 << 20)));

    assert_eq!(rows(&recovered_copy(&path)), all);
}

/// A transaction too big for the page cache writes frames before its commit (a spill); they
/// are held and written like the others, and a rollback leaves nothing behind.
#[test]
fn spilled_frames_of_a_rolled_back_transaction_are_never_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let writer = gathering_writer(&path);
    writer.execute("INSERT INTO t VALUES (1, 'kept')", []).unwrap();

    writer.execute_batch("BEGIN").unwrap();
    insert_spilling(&writer, 2..2_000);
    assert!(wal_gather::write_out(&writer).unwrap() > 0, "the spilled frames are gathered, not written one by one");
    writer.execute_batch("ROLLBACK").unwrap();
    writer.execute("INSERT INTO t VALUES (3, 'after')", []).unwrap();

    let expected = vec![(1, 4), (3, 5)];
    assert_eq!(rows(&Connection::open(&path).unwrap()), expected);
    assert_eq!(rows(&recovered_copy(&path)), expected);
}

/// A transaction that rewrites pages it already spilled to the WAL makes SQLite rewrite the
/// frame headers' checksums at its commit, the commit frame's header last and alone: that header
/// must reach the file too, or recovery would stop before the commit.
#[test]
fn a_commit_that_rewrites_its_own_frames_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let writer = gathering_writer(&path);
    writer.execute_batch("BEGIN").unwrap();
    insert_spilling(&writer, 0..2_000);
    writer.execute("UPDATE t SET v = 'rewritten' WHERE id < 1000", []).unwrap();
    writer.execute_batch("COMMIT").unwrap();
    assert_eq!(wal_gather::write_out(&writer).unwrap(), 0);

    let recovered = recovered_copy(&path);
    let rewritten: i64 = recovered.query_row("SELECT count(*) FROM t WHERE v = 'rewritten'", [], |r| r.get(0)).unwrap();
    assert_eq!((rows(&recovered).len(), rewritten), (2_000, 1_000));
}

/// After a checkpoint restarts the WAL, frames are written from its beginning again, over
/// older ones (a write that does not continue the gathered bytes).
#[test]
fn a_restarted_wal_is_written_from_its_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let writer = gathering_writer(&path);
    let checkpointer = Connection::open(&path).unwrap();
    for round in 0..3 {
        for i in 0..50 {
            writer.execute("INSERT INTO t VALUES (?1, ?2)", params![round * 100 + i, "r".repeat(3000)]).unwrap();
        }
        let (log, copied): (i64, i64) =
            checkpointer.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| Ok((r.get(1)?, r.get(2)?))).unwrap();
        assert_eq!(log, copied);
    }
    writer.execute("UPDATE t SET v = 'last' WHERE id = 0", []).unwrap();
    let (log_pages, _): (i64, i64) =
        writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?))).unwrap();
    assert!(log_pages < 5, "the WAL went on from frame {log_pages}");

    let recovered = recovered_copy(&path);
    assert_eq!(rows(&recovered).len(), 150);
    let last: String = recovered.query_row("SELECT v FROM t WHERE id = 0", [], |r| r.get(0)).unwrap();
    assert_eq!(last, "last");
}

/// Only WAL files are wrapped: a connection whose database is not in WAL mode works as usual,
/// and the database file itself is SQLite's own.
#[test]
fn a_rollback_journal_database_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    assert!(wal_gather::register());
    let conn = Connection::open_with_flags_and_vfs(&path, OpenFlags::default(), wal_gather::NAME).unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO t VALUES (1, 'a');")
        .unwrap();
    assert_eq!(wal_gather::write_out(&conn).unwrap(), 0);
    drop(conn);
    assert_eq!(rows(&Connection::open(&path).unwrap()), vec![(1, 1)]);
}
