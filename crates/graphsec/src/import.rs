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
    let batch_size = args.batch.max(1);
    // Batches are committed one after the other by one task, in file order (the first line with
    // an id wins), while this thread parses up to two batches ahead.
    let (to_committer, batches) = tokio::sync::mpsc::channel(1);
    let committer = tokio::spawn(commit_in_order(store.clone(), batches));
    let parsed = parse_batches(reader, args, batch_size, &to_committer).await;
    // Whatever was handed over is committed (and synced below) even when a line was invalid.
    drop(to_committer);
    // The first cause is reported: a failed commit before a line the parser went on to reject.
    let outcome = match committer.await {
        Ok(Ok(report)) => match parsed {
            Ok(()) => Ok(report),
            Err(bad_line) => Err(stopped_at(bad_line, &report)),
        },
        Ok(Err(e)) => Err(e),
        Err(e) => Err(e.into()),
    };
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

/// The error for an import that stopped at an invalid line, after the lines before it.
fn stopped_at(bad_line: anyhow::Error, before: &ImportReport) -> anyhow::Error {
    anyhow::anyhow!(
        "{bad_line:#}; the lines before it are imported ({}), none after it: fix the line and import the file again (ids already imported are skipped)",
        before.summary()
    )
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
    reader: Box<dyn BufRead>,
    args: &ImportArgs,
    batch_size: usize,
    to_committer: &tokio::sync::mpsc::Sender<Vec<NewProfile>>,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(batch_size);
    let now = datetime::now();
    for (index, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", index + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let doc = match new_profile(&line, &args.tenant, &now) {
            Ok(doc) => doc,
            Err(message) => {
                if !batch.is_empty() {
                    let _ = to_committer.send(batch).await;
                }
                anyhow::bail!("line {}: {message}", index + 1);
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
