//! Power loss, simulated as in the ALICE and CrashMonkey studies: an LD_PRELOAD shim
//! (`power_loss_shim.c`) journals every write, truncation and sync the real server makes in its
//! data directory under a concurrent load. Then, at many cut points in that journal, each file is
//! rebuilt from only the operations its last sync before the cut made durable; every such disk
//! must open as an intact database that holds every write acknowledged before the cut.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SHIM_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/power_loss_shim.c");
const DATABASE: &str = "graphsec.sqlite3";
const WAL: &str = "graphsec.sqlite3-wal";
const CLIENTS: usize = 4;
const LOAD_TIME: Duration = Duration::from_secs(2);
/// Bounds the journal on a fast machine: each cut point rebuilds and opens the WAL so far, which
/// grows by some 25 KiB per operation; 2,400 operations take about 30 s to check on 2 cores.
const MAX_OPS_PER_CLIENT: usize = 600;
const RANDOM_CUTS: usize = 160;
/// Sync records next to which the disk is cut, just before and just after each.
const SYNC_CUTS: usize = 100;
const MIN_CUTS: usize = 250;

#[tokio::test]
async fn power_loss_never_loses_an_acknowledged_write() {
    let outcome = run(&[]).await;
    if let Err(violation) = outcome {
        panic!("{violation}");
    }
}

/// The mutation check: `--durability normal` answers before the WAL is synced, so some cut point
/// must find an acknowledged write missing. It tests the test, not the server: run it with
/// `--ignored` after changing the shim or the checks.
#[tokio::test]
#[ignore = "tests the test: shows it catches writes acknowledged before their sync"]
async fn power_loss_test_catches_durability_normal() {
    let violation = run(&["--durability", "normal"]).await.expect_err("no cut point lost an acknowledged write");
    eprintln!("as expected: {violation}");
}

/// A profile as a key's last acknowledged operation left it: `(version, displayName)`, or gone.
type State = Option<(i64, String)>;

/// One acknowledged operation of a client, in the order the client sent them.
struct Ack {
    key: usize,
    after: State,
    /// The journal's size when the answer arrived: everything the server did first lies before it.
    journal_len: u64,
}

enum Op {
    Write { offset: u64, data: Range<usize> },
    Truncate(u64),
    Sync,
}

struct Record {
    file: String,
    op: Op,
    /// Where the record starts in the journal.
    start: u64,
}

/// Kills the server on every path out of the test.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the load under the shim and checks the cut points; `Err` describes the first violation.
async fn run(extra_args: &[&str]) -> Result<(), String> {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // The shim compares against the real path of each descriptor, so no symlinks in the prefix.
    let data_dir = data.path().canonicalize().unwrap();
    let journal = work.path().join("journal");
    let shim = build_shim(work.path());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_graphsec"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--auth", "off", "--log-level", "warn"])
            .args(["--rate-limit", "0", "--data-dir", data_dir.to_str().unwrap()])
            .args(extra_args)
            .env("LD_PRELOAD", &shim)
            .env("POWERLOSS_DIR", &data_dir)
            .env("POWERLOSS_JOURNAL", &journal)
            .stdout(Stdio::null())
            .spawn()
            .expect("start graphsec"),
    );
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    wait_ready(&http, &base).await;

    let deadline = Instant::now() + LOAD_TIME;
    let clients: Vec<_> =
        (0..CLIENTS).map(|c| tokio::spawn(drive(c, http.clone(), base.clone(), journal.clone(), deadline))).collect();
    let mut acks = Vec::new();
    for client in clients {
        acks.push(client.await.unwrap());
    }
    server.0.kill().expect("SIGKILL");
    server.0.wait().unwrap();

    let bytes = std::fs::read(&journal).unwrap();
    let records = parse_journal(&bytes);
    let cuts = choose_cuts(&records);
    let mut files: HashMap<String, DurableFile> = HashMap::new();
    let mut next_cut = cuts.iter().peekable();
    let mut checked = 0;
    // Cuts are record indices: the disk after records[..cut] happened. One pass over the journal
    // checks them in order, one past the end included (the power failing as the server was killed).
    for index in 0..=records.len() {
        let position = records.get(index).map_or(bytes.len() as u64, |r| r.start);
        if next_cut.next_if(|&&cut| cut == index).is_some() {
            check_cut(&files, &acks, position)?;
            checked += 1;
        }
        if let Some(record) = records.get(index) {
            files.entry(record.file.clone()).or_default().apply(index, record, &records, &bytes);
        }
    }

    let ops: usize = acks.iter().map(Vec::len).sum();
    let syncs = records.iter().filter(|r| matches!(r.op, Op::Sync)).count();
    eprintln!(
        "power loss{extra_args:?}: {ops} acknowledged ops, {} journal records ({syncs} syncs, {} KiB), \
         {checked} cut points checked, {:.1} s",
        records.len(),
        bytes.len() / 1024,
        started.elapsed().as_secs_f64()
    );
    assert!(ops > 200, "the load was too small to mean anything: {ops} ops");
    assert!(checked >= MIN_CUTS, "only {checked} cut points");
    Ok(())
}

/// Compiles the shim with the system C compiler (present: the bundled SQLite needs it).
fn build_shim(dir: &Path) -> PathBuf {
    let out = dir.join("shim.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&out)
        .arg(SHIM_SOURCE)
        .arg("-ldl")
        .status()
        .expect("run cc");
    assert!(status.success(), "cc could not build {SHIM_SOURCE}");
    out
}

/// One client: creates its own keys one after the other, PATCHes each a few times and deletes
/// some, each request only once the one before was answered.
async fn drive(client: usize, http: reqwest::Client, base: String, journal: PathBuf, deadline: Instant) -> Vec<Ack> {
    let mut rng = Prng(client as u64 + 1);
    let mut acks = Vec::new();
    for key in 0.. {
        let id = format!("c{client}-k{key}");
        let mut plan = vec![(Method::POST, json!({"id": id, "displayName": "v0"}), 201, Some((1, "v0".to_string())))];
        for i in 1..=1 + rng.below(3) as i64 {
            plan.push((Method::PATCH, json!({"displayName": format!("v{i}")}), 200, Some((1 + i, format!("v{i}")))));
        }
        if rng.below(3) == 0 {
            plan.push((Method::DELETE, Value::Null, 204, None));
        }
        for (method, body, expected, after) in plan {
            if Instant::now() >= deadline || acks.len() >= MAX_OPS_PER_CLIENT {
                return acks;
            }
            let url =
                if method == Method::POST { format!("{base}{COLLECTION}") } else { format!("{base}{}", item(&id)) };
            let mut request = http.request(method.clone(), url);
            if !body.is_null() {
                request = request.json(&body);
            }
            let response = request.send().await.expect("send");
            // Measured as soon as the answer is in: the later, the weaker the check.
            let journal_len = std::fs::metadata(&journal).unwrap().len();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            assert_eq!(status, expected, "{method} {id}: {text}");
            acks.push(Ack { key, after, journal_len });
        }
    }
    acks
}

/// Splits the shim's journal (see the record layout in `power_loss_shim.c`).
fn parse_journal(bytes: &[u8]) -> Vec<Record> {
    let mut records = Vec::new();
    let mut at = 0;
    let u64_at = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap());
    while at < bytes.len() {
        let start = at;
        let name_len = u16::from_ne_bytes([bytes[at + 1], bytes[at + 2]]) as usize;
        let file = String::from_utf8_lossy(&bytes[at + 3..at + 3 + name_len]).into_owned();
        at += 3 + name_len;
        let (offset, len) = (u64_at(at), u64_at(at + 8) as usize);
        at += 16;
        let op = match bytes[start] {
            1 => {
                at += len;
                Op::Write { offset, data: at - len..at }
            }
            2 => Op::Truncate(offset),
            3 => Op::Sync,
            other => panic!("journal byte {start}: unknown op {other}"),
        };
        records.push(Record { file, op, start: start as u64 });
    }
    assert_eq!(at, bytes.len(), "the journal ends inside a record");
    records
}

/// Random cut points plus, for a sample of the syncs of the database and the WAL, the cut just
/// before (the most acknowledged writes an image can be asked for) and just after each.
fn choose_cuts(records: &[Record]) -> BTreeSet<usize> {
    let mut rng = Prng(0x5EED);
    let mut cuts: BTreeSet<usize> = (0..RANDOM_CUTS).map(|_| rng.below(records.len() + 1)).collect();
    let mut syncs: Vec<usize> = (0..records.len())
        .filter(|&i| matches!(records[i].op, Op::Sync) && [DATABASE, WAL].contains(&records[i].file.as_str()))
        .collect();
    // A partial Fisher-Yates shuffle: SYNC_CUTS distinct syncs.
    for i in 0..SYNC_CUTS.min(syncs.len()) {
        let pick = i + rng.below(syncs.len() - i);
        syncs.swap(i, pick);
        cuts.extend([syncs[i], syncs[i] + 1]);
    }
    cuts.insert(records.len());
    cuts
}

/// A file as the disk has it (`durable`), and its operations since its last sync.
#[derive(Default)]
struct DurableFile {
    durable: Vec<u8>,
    pending: Vec<usize>,
}

impl DurableFile {
    fn apply(&mut self, index: usize, record: &Record, records: &[Record], bytes: &[u8]) {
        if !matches!(record.op, Op::Sync) {
            self.pending.push(index);
            return;
        }
        for pending in self.pending.drain(..) {
            match &records[pending].op {
                Op::Write { offset, data } => {
                    let (start, end) = (*offset as usize, *offset as usize + data.len());
                    if self.durable.len() < end {
                        self.durable.resize(end, 0);
                    }
                    self.durable[start..end].copy_from_slice(&bytes[data.clone()]);
                }
                Op::Truncate(len) => self.durable.resize(*len as usize, 0),
                Op::Sync => unreachable!("syncs are never pending"),
            }
        }
    }
}

/// Rebuilds the disk at journal byte `position` and checks it against what was acknowledged.
fn check_cut(files: &HashMap<String, DurableFile>, acks: &[Vec<Ack>], position: u64) -> Result<(), String> {
    let image = |name: &str| files.get(name).map_or(&[][..], |f| &f.durable[..]);
    let acknowledged: Vec<usize> = acks.iter().map(|a| a.partition_point(|ack| ack.journal_len <= position)).collect();
    if image(DATABASE).is_empty() {
        // SQLite ignores (and deletes) a WAL beside an empty database: nothing may be expected yet.
        return match acknowledged.iter().position(|&j| j > 0) {
            Some(c) => Err(format!("cut at journal byte {position}: no database on disk, but client {c} was answered")),
            None => Ok(()),
        };
    }
    // No -shm: SQLite rebuilds it from the WAL. (The rollback journal, used once while a fresh
    // database is switched to WAL mode, is left out too: nothing is acknowledged before then.)
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DATABASE), image(DATABASE)).unwrap();
    std::fs::write(dir.path().join(WAL), image(WAL)).unwrap();
    let rows = read_rows(&dir.path().join(DATABASE)).map_err(|e| format!("cut at journal byte {position}: {e}"))?;
    let mut seen = 0;
    for (c, (client_acks, &j)) in acks.iter().zip(&acknowledged).enumerate() {
        let keys = client_acks.iter().map(|a| a.key + 1).max().unwrap_or(0);
        for key in 0..keys {
            let id = format!("c{c}-k{key}");
            let actual = rows.get(&id).cloned();
            seen += usize::from(actual.is_some());
            let expected: State = client_acks[..j].iter().rev().find(|a| a.key == key).and_then(|a| a.after.clone());
            // The next operation may have committed and been synced before its answer arrived.
            let next = client_acks.get(j).filter(|a| a.key == key).map(|a| &a.after);
            if actual != expected && next != Some(&actual) {
                return Err(format!(
                    "cut at journal byte {position}: {id} is {actual:?} but was acknowledged as {expected:?} \
                     (client {c} had {j} answers)"
                ));
            }
        }
    }
    if seen != rows.len() {
        return Err(format!("cut at journal byte {position}: {} rows no client wrote", rows.len() - seen));
    }
    Ok(())
}

/// Opens a rebuilt database: it must be intact; returns `id -> (version, displayName)`.
fn read_rows(path: &Path) -> Result<HashMap<String, (i64, String)>, String> {
    let sql = |e: rusqlite::Error| format!("SQLite: {e}");
    let conn = rusqlite::Connection::open(path).map_err(sql)?;
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(sql)?;
    if integrity != "ok" {
        return Err(format!("integrity_check: {integrity}"));
    }
    // A disk cut before the migrations were synced has no tables yet.
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'profiles'", [], |r| r.get(0)).map_err(sql)?;
    if tables == 0 {
        return Ok(HashMap::new());
    }
    let mut statement = conn.prepare("SELECT id, version, doc FROM profiles").map_err(sql)?;
    let rows = statement
        .query_map([], |r| {
            let doc: Value = serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or(Value::Null);
            Ok((r.get(0)?, (r.get(1)?, doc["displayName"].as_str().unwrap_or("").to_string())))
        })
        .map_err(sql)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql)
}

/// splitmix64 with fixed seeds: no dependency, and the same journal always gets the same cut points.
struct Prng(u64);

impl Prng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}
