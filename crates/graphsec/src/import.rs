//! `graphsec import`: bulk-load newline-delimited JSON profiles with the same validation as POST.

use crate::config::ImportArgs;
use crate::domain::{datetime, profile};
use crate::store::sqlite::Durability;
use crate::store::{Actor, NewProfile, Store, WriteCommand, WriteOutcome};
use anyhow::Context;
use std::io::BufRead;

pub struct ImportReport {
    pub inserted: u64,
    pub skipped: u64,
    pub seconds: f64,
}

pub async fn run(args: &ImportArgs) -> anyhow::Result<ImportReport> {
    let reader: Box<dyn BufRead> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, file))
    };
    // A bulk load is not acknowledged batch by batch: its batches are not synced one by one, and
    // closing the store syncs them all before success is reported.
    let storage = args.location.storage(Durability::Normal);
    let store = crate::app::open_existing_store(&storage).await?;
    let started = std::time::Instant::now();
    let outcome = load(&store, reader, &args.tenant, args.batch).await;
    let outcome = match outcome {
        Ok(report) => store.analyze().await.map(|()| report).map_err(anyhow::Error::from),
        failed => failed,
    };
    let closed = store.close().await;
    let mut report = outcome?;
    closed.context("the imported profiles could not be synced to disk")?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Loads newline-delimited profiles from `reader` into a running store, `batch_size` per
/// transaction, in order (the first line with an id wins; ids already present are skipped). Lines
/// without azureTenantId go to `tenant`. At an invalid line it stops, with an [`InvalidLine`]
/// error, once the lines before it are stored.
pub async fn load(
    store: &Store,
    reader: impl BufRead,
    tenant: &str,
    batch_size: usize,
) -> anyhow::Result<ImportReport> {
    let started = std::time::Instant::now();
    // Batches are committed one after the other by one task, in file order, while this thread
    // parses up to two batches ahead.
    let (to_committer, batches) = tokio::sync::mpsc::channel(1);
    let committer = tokio::spawn(commit_in_order(store.clone(), batches));
    let parsed = parse_batches(reader, tenant, batch_size.max(1), &to_committer).await;
    // Whatever was handed over is committed even when a line was invalid.
    drop(to_committer);
    // The first cause is reported: a failed commit before a line the parser went on to reject.
    let mut report = match committer.await {
        Ok(Ok(report)) => match parsed {
            Ok(()) => report,
            Err(bad_line) => return Err(stopped_at(bad_line, &report)),
        },
        Ok(Err(e)) => return Err(e),
        Err(e) => return Err(e.into()),
    };
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A line that is not a valid profile: nothing from it on was loaded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidLine(pub String);

/// The error for an import that stopped at an invalid line, after the lines before it.
fn stopped_at(bad_line: anyhow::Error, before: &ImportReport) -> anyhow::Error {
    if bad_line.downcast_ref::<InvalidLine>().is_none() {
        return bad_line;
    }
    InvalidLine(format!(
        "{bad_line:#}; the lines before it are imported ({}), none after it: fix the line and import the file again (ids already imported are skipped)",
        before.summary()
    ))
    .into()
}

impl ImportReport {
    /// `3 profiles imported, 1 skipped (id already present)`.
    pub fn summary(&self) -> String {
        let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{} imported, {} skipped (id already present)",
            plural(self.inserted, "profile", "profiles"),
            self.skipped
        )
    }
}

/// Reads, validates and batches the lines. At the first invalid one it hands over the valid lines
/// before it, and stops.
async fn parse_batches(
    reader: impl BufRead,
    tenant: &str,
    batch_size: usize,
    to_committer: &tokio::sync::mpsc::Sender<Vec<NewProfile>>,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(batch_size);
    let now = datetime::now();
    for (index, line) in reader.lines().enumerate() {
        let doc = match line {
            Err(e) if e.kind() != std::io::ErrorKind::InvalidData => {
                return Err(anyhow::Error::new(e).context(format!("cannot read line {}", index + 1)));
            }
            Err(_) => Err("not valid UTF-8".to_string()),
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => new_profile(&line, tenant, &now),
        };
        let doc = match doc {
            Ok(doc) => doc,
            Err(message) => {
                if !batch.is_empty() {
                    let _ = to_committer.send(batch).await;
                }
                return Err(InvalidLine(format!("line {}: {message}", index + 1)).into());
            }
        };
        batch.push(NewProfile::new(doc)?);
        if batch.len() == batch_size {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
            if to_committer.send(full).await.is_err() {
                return Ok(()); // the committer stopped on an error, which it reports
            }
        }
    }
    if !batch.is_empty() {
        let _ = to_committer.send(batch).await;
    }
    Ok(())
}

/// A line as a new profile, validated as the body of a POST; or what is wrong with it.
fn new_profile(line: &str, tenant: &str, now: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str::<serde_json::Value>(line) {
        Err(e) => return Err(format!("not valid JSON ({e})")),
        Ok(value) if !value.is_object() => return Err("not a JSON object".into()),
        Ok(_) => {}
    }
    profile::parse_input(line.as_bytes())
        .and_then(|input| profile::build_new(input, tenant, now, profile::LastModified::AsGiven))
        .map_err(|e| e.message)
}

async fn commit_in_order(
    store: Store,
    mut batches: tokio::sync::mpsc::Receiver<Vec<NewProfile>>,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport { inserted: 0, skipped: 0, seconds: 0.0 };
    while let Some(profiles) = batches.recv().await {
        match store.write(WriteCommand::Import { profiles }, import_actor()).await? {
            WriteOutcome::Imported { inserted, skipped } => {
                report.inserted += inserted;
                report.skipped += skipped;
            }
            other => anyhow::bail!("unexpected import outcome {other:?}"),
        }
    }
    Ok(report)
}

/// Imports are an operator's bulk load, not API writes: they are logged, not audited row by row.
fn import_actor() -> Actor {
    Actor { caller: "graphsec import".into(), ..Actor::system("graphsec import") }
}
