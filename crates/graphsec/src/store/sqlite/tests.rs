use super::disk::{WAL_RESTART_PAGES, checkpoint, restart_wal, wal_checkpoint};
use super::schema::MIGRATIONS;
use super::*;
use crate::domain::profile;
use crate::domain::write::{Create, Delete};
use crate::store::{NewProfile, Scope};
use serde_json::{Map, Value};
use std::path::Path;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";

fn actor() -> Actor {
    Actor { caller: "tester".into(), app: "tests".into(), request_id: "r".into(), gate: None }
}

fn patch(body: &str, now: &str) -> Update {
    Update {
        scope: Scope::Tenant(TENANT.into()),
        id: "p1".into(),
        if_match: None,
        input: profile::parse_input(body.as_bytes()).unwrap(),
        now: now.into(),
    }
}

fn update(body: &str, now: &str) -> WriteCommand {
    WriteCommand::Update(patch(body, now))
}

fn create(doc: Map<String, Value>, now: &str) -> WriteCommand {
    WriteCommand::Create(Create { doc, now: now.into() })
}

/// A pass over a WAL past the restart bound copies it all back and asks for a restart, which
/// leaves the WAL so that the next write goes to its beginning, not its end.
#[test]
fn a_long_wal_restarts_from_its_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let writer = Connection::open(&path).unwrap();
    writer.pragma_update(None, "journal_mode", "WAL").unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    writer.pragma_update(None, "synchronous", "OFF").unwrap();
    writer.execute_batch("CREATE TABLE t (b BLOB)").unwrap();
    let insert_pages = |n: i64| {
        let sql = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1) \
                   INSERT INTO t SELECT zeroblob(4000) FROM s";
        writer.execute(sql, [n]).unwrap();
    };
    for _ in 0..=WAL_RESTART_PAGES / 1000 {
        insert_pages(1000);
    }
    let checkpointer = Connection::open(&path).unwrap();
    assert!(checkpoint(&checkpointer, None).unwrap(), "a caught-up pass over a long WAL asks for a restart");
    restart_wal(&writer);
    insert_pages(1);
    let (log_pages, _) = wal_checkpoint(&writer, "PASSIVE").unwrap();
    assert!(log_pages < 10, "the WAL went on from frame {log_pages}");
}

/// An update decided on a version that another write has since replaced is decided again by
/// the writer: neither write is lost.
#[tokio::test]
async fn a_stale_edit_is_decided_again_on_the_current_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite3"), Durability::Full, Duration::from_secs(5)).unwrap();
    let now = "2026-01-01T00:00:00.0000000Z";
    let input = profile::parse_input(br#"{"id":"p1","displayName":"first"}"#).unwrap();
    let doc = profile::build_new(input, TENANT, now, profile::LastModified::Now).unwrap();
    store.write(create(doc, now), actor()).await.unwrap();

    let stale = store.decide_ahead(patch(r#"{"riskScore":"9"}"#, now), &actor());
    let Ok(Ok(stale @ Job::Edit { .. })) = stale else { panic!("expected an edit") };
    store.write(update(r#"{"displayName":"second"}"#, now), actor()).await.unwrap();
    let WriteOutcome::Written(written) = store.run_on_writer(stale, actor()).await.unwrap() else {
        panic!("the stale update was not written")
    };

    assert_eq!(written.version, 3);
    let stored = store.get(&Scope::Tenant(TENANT.into()), "p1").unwrap().unwrap();
    let stored: Map<String, Value> = serde_json::from_str(&stored.doc).unwrap();
    assert_eq!(stored["displayName"], "second", "the write in between was kept");
    assert_eq!(stored["riskScore"], "9", "the stale update was applied");
}

/// A bulk load's unsynced commits are all in the file once `close` has returned: the first
/// profile with an id wins, later ones are skipped, and tags are indexed as for a POST.
#[tokio::test]
async fn a_bulk_load_is_on_disk_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let store = SqliteStore::open(&path, Durability::Normal, Duration::from_secs(5)).unwrap();
    let batch = |bodies: &[&str]| {
        let profiles = bodies
            .iter()
            .map(|body| {
                let input = profile::parse_input(body.as_bytes()).unwrap();
                NewProfile::new(
                    profile::build_new(input, TENANT, "2026-01-01T00:00:00.0000000Z", profile::LastModified::AsGiven)
                        .unwrap(),
                )
                .unwrap()
            })
            .collect();
        WriteCommand::Import { profiles }
    };
    let first = store.write(batch(&[r#"{"id":"a","tags":["x","y"]}"#, r#"{"id":"b"}"#]), actor()).await.unwrap();
    let second = store.write(batch(&[r#"{"id":"a","tags":["z"]}"#, r#"{"id":"c"}"#]), actor()).await.unwrap();
    assert!(matches!(first, WriteOutcome::Imported { inserted: 2, skipped: 0 }), "{first:?}");
    assert!(matches!(second, WriteOutcome::Imported { inserted: 1, skipped: 1 }), "{second:?}");
    store.finish().unwrap();
    drop(store);

    let conn = Connection::open(&path).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM profiles"), 3);
    assert_eq!(count("SELECT count(*) FROM profile_tags WHERE id = 'a' AND tag IN ('x', 'y')"), 2);
    assert_eq!(count("SELECT count(*) FROM profile_tags WHERE tag = 'z'"), 0, "the second 'a' was skipped");
}

/// A database made before tags were keyed by tag keeps its tags: one row per distinct tag,
/// and each profile's string elements in tags_json.
#[test]
fn tags_of_an_older_schema_are_rekeyed_by_tag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            r#"INSERT INTO profiles (tenant, id, version, doc) VALUES ('t', 'a', 1, '{"tags":["x","y","x"]}'),
             ('t', 'b', 1, '{"tags":["x"]}'), ('t', 'c', 1, '{"tags":null}'), ('t', 'd', 1, '{"tags":[]}');
             INSERT INTO profile_tags (tenant, id, pos, tag) VALUES ('t', 'a', 0, 'x'), ('t', 'a', 1, 'y'),
             ('t', 'a', 2, 'x'), ('t', 'b', 0, 'x');"#,
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, Durability::Full, Duration::from_secs(5)).unwrap();
    store.finish().unwrap();
    drop(store);

    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    let mut rows = conn.prepare("SELECT tenant, tag, id FROM profile_tags").unwrap();
    let rows: Vec<(String, String, String)> =
        rows.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    let expected = [("t", "x", "a"), ("t", "x", "b"), ("t", "y", "a")];
    assert_eq!(rows, expected.map(|(t, g, i)| (t.to_string(), g.to_string(), i.to_string())));
    let mut rows = conn.prepare("SELECT id, tags_json FROM profiles ORDER BY id").unwrap();
    let rows: Vec<(String, Option<String>)> =
        rows.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let tags_json = |s: &str| Some(s.to_string());
    let expected = [("a", tags_json(r#"["x","y","x"]"#)), ("b", tags_json(r#"["x"]"#)), ("c", None), ("d", None)];
    assert_eq!(rows, expected.map(|(id, tags)| (id.to_string(), tags)));
}

async fn store_with_p1(dir: &Path) -> Arc<SqliteStore> {
    let store = SqliteStore::open(&dir.join("db.sqlite3"), Durability::Full, Duration::from_secs(5)).unwrap();
    let input = profile::parse_input(br#"{"id":"p1","displayName":"first","riskScore":"1"}"#).unwrap();
    let now = "2026-01-01T00:00:00.0000000Z";
    let doc = profile::build_new(input, TENANT, now, profile::LastModified::Now).unwrap();
    store.write(create(doc, now), actor()).await.unwrap();
    store
}

fn stored_doc(store: &SqliteStore) -> Map<String, Value> {
    serde_json::from_str(&store.get(&Scope::Tenant(TENANT.into()), "p1").unwrap().unwrap().doc).unwrap()
}

/// The writer keeps the rows it updated for the next PATCH of them, and forgets deleted ones.
#[tokio::test]
async fn updated_rows_are_cached_as_stored_and_deleted_ones_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_p1(dir.path()).await;
    assert!(store.rows.get(TENANT, "p1").is_none(), "only updates are cached");

    store.write(update(r#"{"displayName":"second"}"#, "2026-01-02T00:00:00.0000000Z"), actor()).await.unwrap();
    let (_, cached) = store.rows.get(TENANT, "p1").expect("the updated row is cached");
    let stored = store.get(&Scope::Tenant(TENANT.into()), "p1").unwrap().unwrap();
    assert_eq!((cached.version, cached.doc), (stored.version, stored.doc));

    let now = "2026-01-03T00:00:00.0000000Z".to_string();
    let delete =
        WriteCommand::Delete(Delete { scope: Scope::Tenant(TENANT.into()), id: "p1".into(), if_match: None, now });
    store.write(delete, actor()).await.unwrap();
    assert!(store.rows.get(TENANT, "p1").is_none());
}

/// A row changed by another connection (here without moving its version, which the version
/// check alone would miss) is not patched from the cache: the writer notices the foreign
/// write and merges the PATCH into the row as it is now.
#[tokio::test]
async fn a_write_by_another_connection_invalidates_the_cached_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_p1(dir.path()).await;
    store.write(update(r#"{"displayName":"second"}"#, "2026-01-02T00:00:00.0000000Z"), actor()).await.unwrap();
    let cached_version = store.rows.get(TENANT, "p1").unwrap().1.version;

    let other = Connection::open(dir.path().join("db.sqlite3")).unwrap();
    other
        .execute("UPDATE profiles SET doc = json_set(doc, '$.riskScore', '7'), risk_score = '7' WHERE id = 'p1'", [])
        .unwrap();
    store.write(update(r#"{"displayName":"third"}"#, "2026-01-03T00:00:00.0000000Z"), actor()).await.unwrap();

    let stored = stored_doc(&store);
    assert_eq!(stored["displayName"], "third");
    assert_eq!(stored["riskScore"], "7", "the other connection's write was kept");
    assert_eq!(store.rows.get(TENANT, "p1").unwrap().1.version, cached_version + 1);
}
