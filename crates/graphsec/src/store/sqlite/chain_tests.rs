use super::super::schema::MIGRATIONS;
use super::super::{Durability, SqliteStore};
use crate::domain::profile;
use crate::domain::write::{Create, Delete, Update};
use crate::store::{Actor, AuditQuery, HistoryPage, HistoryPosition, HistoryQuery, Scope, WriteCommand, WriteOutcome};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const NOW: &str = "2026-01-01T00:00:00.0000000Z";

fn open(path: &Path) -> Arc<SqliteStore> {
    SqliteStore::open(path, Durability::Full, Duration::from_secs(5)).unwrap()
}

/// A store on a new database, with the directory that holds it and its path.
fn new_store() -> (tempfile::TempDir, PathBuf, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let store = open(&path);
    (dir, path, store)
}

fn actor() -> Actor {
    Actor { caller: "tester".into(), app: "tests".into(), request_id: "r".into(), gate: None }
}

async fn history(
    store: &Arc<SqliteStore>,
    scope: Scope,
    id: &str,
    top: u32,
    after: Option<HistoryPosition>,
) -> HistoryPage {
    store.history(HistoryQuery { scope, profile_id: id.into(), after, top }).await.unwrap()
}

/// The ids of a whole history, read `top` entries at a time.
async fn trail(store: &Arc<SqliteStore>, scope: Scope, id: &str, top: u32) -> Vec<String> {
    let (mut ids, mut after) = (Vec::new(), None);
    loop {
        let page = history(store, scope.clone(), id, top, after).await;
        assert!(page.records.len() <= top as usize);
        ids.extend(page.records.into_iter().map(|r| r.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

fn tenant(t: &str) -> Scope {
    Scope::Tenant(t.into())
}

/// The operations of a tenant's history of `id`, newest first.
async fn operations(store: &Arc<SqliteStore>, t: &str, id: &str) -> Vec<String> {
    let page = history(store, tenant(t), id, 100, None).await;
    page.records.into_iter().map(|r| r.operation).collect()
}

async fn create(store: &Arc<SqliteStore>, t: &str, id: &str) {
    let input = profile::parse_input(format!(r#"{{"id":"{id}"}}"#).as_bytes()).unwrap();
    let doc = profile::build_new(input, t, NOW, profile::LastModified::Now).unwrap();
    store.write(WriteCommand::Create(Create { doc, now: NOW.into() }), actor()).await.unwrap();
}

async fn patch(store: &Arc<SqliteStore>, t: &str, id: &str, body: &str) {
    patch_at(store, t, id, body, NOW).await;
}

async fn patch_at(store: &Arc<SqliteStore>, t: &str, id: &str, body: &str, now: &str) {
    let input = profile::parse_input(body.as_bytes()).unwrap();
    let update = Update { scope: tenant(t), id: id.into(), if_match: None, input, now: now.into() };
    let outcome = store.write(WriteCommand::Update(update), actor()).await.unwrap();
    assert!(matches!(outcome, WriteOutcome::Written(_)), "{outcome:?}");
}

/// A database whose history was read through the index of migration 5 is chained when it is
/// opened: every profile's entries, a deleted one's too, in the order they were written.
#[tokio::test]
async fn an_older_schemas_history_is_chained_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    {
        let conn = Connection::open(&path).unwrap();
        for migration in &MIGRATIONS[..5] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        let doc = |t: &str| {
            let input = profile::parse_input(br#"{"id":"p"}"#).unwrap();
            serde_json::to_string(&profile::build_new(input, t, NOW, profile::LastModified::Now).unwrap()).unwrap()
        };
        let insert = "INSERT INTO profiles (tenant, id, version, doc) VALUES (?1, 'p', 1, ?2)";
        for t in ["t", "u"] {
            conn.execute(insert, [t, &doc(t)]).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO audit_log (seq, id, at, tenant, caller, app, request_id, operation, profile_id, changed)
             VALUES (1, 'e1', 'a', 't', 'c', 'a', 'r', 'create', 'p', '[]'),
                    (2, 'e2', 'b', 't', 'c', 'a', 'r', 'create', 'q', '[]'),
                    (3, 'e3', 'c', 't', 'c', 'a', 'r', 'update', 'p', '[]'),
                    (4, 'e4', 'd', 't', 'c', 'a', 'r', 'delete', 'q', '[]'),
                    (5, 'e5', 'e', 't', 'c', 'a', 'r', 'update', 'p', '[]'),
                    (6, 'e6', 'f', 'u', 'c', 'a', 'r', 'create', 'p', '[]');",
        )
        .unwrap();
    }
    let store = open(&path);
    assert_eq!(trail(&store, tenant("t"), "p", 2).await, ["e5", "e3", "e1"]);
    assert_eq!(trail(&store, tenant("t"), "q", 1).await, ["e4", "e2"]);
    assert_eq!(trail(&store, tenant("u"), "p", 1).await, ["e6"]);
    assert_eq!(trail(&store, Scope::AllTenants, "p", 1).await, ["e6", "e5", "e3", "e1"]);
    assert_eq!(trail(&store, Scope::AllTenants, "p", 3).await, ["e6", "e5", "e3", "e1"]);
    assert!(trail(&store, tenant("u"), "q", 1).await.is_empty());

    // Writes go on from the heads the migration set.
    create(&store, "t", "q").await;
    patch(&store, "t", "p", r#"{"riskScore":"1"}"#).await;
    assert_eq!(operations(&store, "t", "q").await, ["create", "delete", "create"]);
    assert_eq!(operations(&store, "t", "p").await, ["update", "update", "update", "create"]);
    store.finish().unwrap();
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let indexes: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'audit_log_profile'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(indexes, 0, "the by-profile index is gone");
}

/// A head or a link that leads to another profile's row, or up the chain, ends the walk there:
/// seqs of removed rows are given out again.
#[tokio::test]
async fn a_walk_stops_at_another_profiles_row_and_at_a_link_up() {
    let (_dir, path, store) = new_store();
    create(&store, "t", "p").await;
    patch(&store, "t", "p", r#"{"riskScore":"1"}"#).await;
    create(&store, "t", "q").await;
    let other = Connection::open(&path).unwrap();
    let seq_of = |id: &str, op: &str| -> i64 {
        let sql = "SELECT seq FROM audit_log WHERE profile_id = ?1 AND operation = ?2";
        other.query_row(sql, [id, op], |r| r.get(0)).unwrap()
    };
    let (created, updated, q_created) = (seq_of("p", "create"), seq_of("p", "update"), seq_of("q", "create"));

    other.execute("UPDATE profiles SET audit_head = ?1 WHERE id = 'p'", [q_created]).unwrap();
    assert!(operations(&store, "t", "p").await.is_empty(), "q's entry is not p's");
    other.execute("UPDATE profiles SET audit_head = ?1 WHERE id = 'p'", [updated]).unwrap();
    other.execute("UPDATE audit_log SET prev = ?1 WHERE seq = ?2", [q_created, updated]).unwrap();
    assert_eq!(operations(&store, "t", "p").await, ["update"], "a link up is not followed");
    other.execute("UPDATE audit_log SET prev = ?1 WHERE seq = ?2", [created, updated]).unwrap();
    assert_eq!(operations(&store, "t", "p").await, ["update", "create"]);
}

/// Retention ends the chains it cuts and forgets the heads of deleted profiles whose entries
/// are all gone; the next write starts the chain again.
#[tokio::test]
async fn retention_ends_chains_and_forgets_deleted_heads() {
    let (_dir, path, store) = new_store();
    create(&store, "t", "p").await;
    create(&store, "t", "q").await;
    let delete = Delete { scope: tenant("t"), id: "q".into(), if_match: None, now: NOW.into() };
    store.write(WriteCommand::Delete(delete), actor()).await.unwrap();
    let prune = WriteCommand::PruneAudit { before: "9999-01-01T00:00:00.0000000Z".into(), limit: 1_000 };
    store.write(prune, actor()).await.unwrap();
    assert!(operations(&store, "t", "p").await.is_empty());
    assert!(operations(&store, "t", "q").await.is_empty());
    let other = Connection::open(&path).unwrap();
    let heads: i64 = other.query_row("SELECT count(*) FROM audit_heads", [], |r| r.get(0)).unwrap();
    assert_eq!(heads, 0);

    patch(&store, "t", "p", r#"{"riskScore":"1"}"#).await;
    assert_eq!(operations(&store, "t", "p").await, ["update"]);
}

/// `graphsec audit --profile-id` reads the chains: the oldest `limit` entries that pass the
/// filters, oldest first, in one tenant or in all.
#[tokio::test]
async fn the_audit_of_one_profile_is_read_from_its_chains() {
    let (_dir, _, store) = new_store();
    create(&store, "t", "p").await;
    create(&store, "u", "p").await;
    create(&store, "t", "q").await;
    for (n, now) in ["2026-01-02T00:00:00.0000000Z", "2026-01-03T00:00:00.0000000Z", "2026-01-04T00:00:00.0000000Z"]
        .into_iter()
        .enumerate()
    {
        patch_at(&store, "t", "p", &format!(r#"{{"riskScore":"{n}"}}"#), now).await;
    }
    let audit = |tenant: Option<&str>, operation: Option<&str>, since: Option<&str>, limit: u32| {
        let query = AuditQuery {
            tenant: tenant.map(String::from),
            profile_id: Some("p".into()),
            operation: operation.map(String::from),
            since: since.map(String::from),
            limit,
        };
        let store = store.clone();
        async move {
            let records = store.audit(query).await.unwrap();
            records.into_iter().map(|r| format!("{} {} {}", r.tenant, r.operation, &r.at[..10])).collect::<Vec<_>>()
        }
    };
    assert_eq!(audit(Some("t"), None, None, 2).await, ["t create 2026-01-01", "t update 2026-01-02"]);
    assert_eq!(audit(Some("t"), Some("update"), None, 2).await, ["t update 2026-01-02", "t update 2026-01-03"]);
    assert_eq!(
        audit(Some("t"), None, Some("2026-01-03T00:00:00.0000000Z"), 10).await,
        ["t update 2026-01-03", "t update 2026-01-04"]
    );
    // Entries at the same time are in the order of their random ids.
    let mut creates = audit(None, Some("create"), None, 10).await;
    creates.sort();
    assert_eq!(creates, ["t create 2026-01-01", "u create 2026-01-01"]);
    assert!(audit(Some("v"), None, None, 10).await.is_empty());
}
