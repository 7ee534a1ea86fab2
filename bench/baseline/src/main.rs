//! Benchmark baseline: "the physical limit of this stack on this machine".
//!
//! `GET /rows/{id}` answers the stored ~1 KB JSON document of a row found by primary key, read on
//! the calling tokio worker through that thread's own connection and a cached prepared statement.
//! `PATCH /rows/{id}` merges the JSON body into the row (`json_patch`, RFC 7396) through a single
//! writer thread that drains its queue, applies the whole batch in one `BEGIN IMMEDIATE ... COMMIT`
//! and answers every waiter after the commit (group commit). WAL mode; `synchronous` is FULL by
//! default, as graphsec's default `--durability full`.
//!
//! Usage:
//!   bench-baseline seed  --db FILE NDJSON            load one JSON object (with "id") per line
//!   bench-baseline serve --db FILE [--listen ADDR] [--synchronous full|normal]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::cell::RefCell;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tokio::sync::oneshot;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS rows (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 1,
    doc TEXT NOT NULL
) WITHOUT ROWID;";
const MAX_GROUP: usize = 512;

type Reply = oneshot::Sender<Result<Option<String>, String>>;

struct Update {
    id: String,
    patch: String,
    reply: Reply,
}

struct App {
    db: PathBuf,
    writer: mpsc::Sender<Update>,
}

thread_local! {
    static READER: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("seed") => seed(&args[1..]),
        _ => Err("usage: bench-baseline serve|seed --db FILE ...".to_string()),
    };
    if let Err(e) = result {
        eprintln!("bench-baseline: {e}");
        std::process::exit(1);
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn open_writer(db: &PathBuf, synchronous: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

fn open_reader(db: &PathBuf) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn seed(args: &[String]) -> Result<(), String> {
    let db = PathBuf::from(flag(args, "--db").ok_or("seed needs --db FILE")?);
    let file = args.last().ok_or("seed needs an NDJSON file")?;
    let mut conn = open_writer(&db, "NORMAL").map_err(|e| e.to_string())?;
    let input = std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?;
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let mut count = 0u64;
    {
        let mut stmt = tx
            .prepare("INSERT OR REPLACE INTO rows (id, doc) VALUES (?1, ?2)")
            .map_err(|e| e.to_string())?;
        for line in std::io::BufReader::new(input).lines() {
            let line = line.map_err(|e| e.to_string())?;
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", count + 1))?;
            let id = value
                .get("id")
                .and_then(|v| v.as_str())
                .ok_or_else(|| format!("line {}: no string id", count + 1))?;
            stmt.execute(params![id, line]).map_err(|e| e.to_string())?;
            count += 1;
        }
    }
    tx.commit().map_err(|e| e.to_string())?;
    println!("{count}");
    Ok(())
}

fn serve(args: &[String]) -> Result<(), String> {
    let db = PathBuf::from(flag(args, "--db").ok_or("serve needs --db FILE")?);
    let listen = flag(args, "--listen").unwrap_or_else(|| "127.0.0.1:8090".to_string());
    let synchronous = match flag(args, "--synchronous").as_deref() {
        None | Some("full") => "FULL",
        Some("normal") => "NORMAL",
        Some(other) => return Err(format!("--synchronous full|normal, not {other}")),
    };
    let conn = open_writer(&db, synchronous).map_err(|e| e.to_string())?;
    let (writer, queue) = mpsc::channel();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || run_writer(conn, queue))
        .map_err(|e| e.to_string())?;
    let app = Arc::new(App { db, writer });
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/rows/{id}", get(get_row).patch(patch_row))
        .with_state(app);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("{listen}: {e}"))?;
        axum::serve(listener, router).await.map_err(|e| e.to_string())
    })
}

fn json(doc: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc).into_response()
}

fn failure(e: impl ToString) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

async fn get_row(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let row = READER.with(|cell| -> rusqlite::Result<Option<String>> {
        let mut slot = cell.borrow_mut();
        let conn = match slot.as_mut() {
            Some(conn) => conn,
            None => slot.insert(open_reader(&app.db)?),
        };
        let mut stmt = conn.prepare_cached("SELECT doc FROM rows WHERE id = ?1")?;
        stmt.query_row([&id], |r| r.get(0)).optional()
    });
    match row {
        Ok(Some(doc)) => json(doc),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => failure(e),
    }
}

async fn patch_row(State(app): State<Arc<App>>, Path(id): Path<String>, body: Bytes) -> Response {
    if serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body).is_err() {
        return (StatusCode::BAD_REQUEST, "the body must be a JSON object").into_response();
    }
    let Ok(patch) = String::from_utf8(body.to_vec()) else {
        return (StatusCode::BAD_REQUEST, "the body must be UTF-8").into_response();
    };
    let (reply, answer) = oneshot::channel();
    if app.writer.send(Update { id, patch, reply }).is_err() {
        return failure("the writer stopped");
    }
    match answer.await {
        Ok(Ok(Some(doc))) => json(doc),
        Ok(Ok(None)) => StatusCode::NOT_FOUND.into_response(),
        Ok(Err(e)) => failure(e),
        Err(e) => failure(e),
    }
}

fn run_writer(mut conn: Connection, queue: mpsc::Receiver<Update>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        match apply(&mut conn, &batch) {
            Ok(docs) => {
                for (update, doc) in batch.into_iter().zip(docs) {
                    let _ = update.reply.send(Ok(doc));
                }
            }
            Err(e) => {
                for update in batch {
                    let _ = update.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

fn apply(conn: &mut Connection, batch: &[Update]) -> rusqlite::Result<Vec<Option<String>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut docs = Vec::with_capacity(batch.len());
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE rows SET doc = json_patch(doc, ?2), version = version + 1 \
             WHERE id = ?1 RETURNING doc",
        )?;
        for update in batch {
            docs.push(
                stmt.query_row(params![update.id, update.patch], |r| r.get(0))
                    .optional()?,
            );
        }
    }
    tx.commit()?;
    Ok(docs)
}
