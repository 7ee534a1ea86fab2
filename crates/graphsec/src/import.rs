//! `graphsec import`: bulk-load newline-delimited JSON profiles with the same validation as POST.

use crate::config::ImportArgs;
use crate::domain::{datetime, profile};
use crate::store::sqlite::Durability;
use crate::store::{Actor, NewProfile, WriteCommand, WriteOutcome};
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
    // A bulk load is not acknowledged batch by batch: its commits are synced once, at the end.
    let storage = crate::config::StorageArgs { durability: Durability::AtClose, ..args.storage.clone() };
    let store = crate::app::open_store(&storage, true).await?;
    let started = std::time::Instant::now();
    let batch_size = args.batch.max(1);
    let mut report = ImportReport { inserted: 0, skipped: 0, seconds: 0.0 };
    let mut batch = Vec::with_capacity(batch_size);
    // While one batch commits, the next one is parsed.
    let mut pending: Option<tokio::task::JoinHandle<_>> = None;
    let now = datetime::now();
    for (index, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", index + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let doc = profile::parse_input(line.as_bytes())
            .and_then(|input| profile::build_new(input, &args.tenant, &now))
            .map_err(|e| anyhow::anyhow!("line {}: {}", index + 1, e.message))?;
        batch.push(NewProfile::new(doc)?);
        if batch.len() == batch_size {
            finish(pending.take(), &mut report).await?;
            let store = store.clone();
            let profiles = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
            pending =
                Some(tokio::spawn(async move { store.write(WriteCommand::Import { profiles }, import_actor()).await }));
        }
    }
    finish(pending.take(), &mut report).await?;
    if !batch.is_empty() {
        let outcome = store.write(WriteCommand::Import { profiles: batch }, import_actor()).await;
        add(outcome, &mut report)?;
    }
    store.analyze().await?;
    store.close().await.context("the imported profiles could not be synced to disk")?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

type Pending = tokio::task::JoinHandle<Result<WriteOutcome, crate::store::StoreError>>;

async fn finish(pending: Option<Pending>, report: &mut ImportReport) -> anyhow::Result<()> {
    if let Some(handle) = pending {
        add(handle.await?, report)?;
    }
    Ok(())
}

fn add(outcome: Result<WriteOutcome, crate::store::StoreError>, report: &mut ImportReport) -> anyhow::Result<()> {
    match outcome? {
        WriteOutcome::Imported { inserted, skipped } => {
            report.inserted += inserted;
            report.skipped += skipped;
            Ok(())
        }
        other => anyhow::bail!("unexpected import outcome {other:?}"),
    }
}

/// Imports are an operator's bulk load, not API writes: they are logged, not audited row by row.
fn import_actor() -> Actor {
    Actor { caller: "graphsec import".into(), app: "graphsec import".into(), request_id: String::new() }
}
