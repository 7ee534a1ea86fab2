//! Log lines leave the request path at once: they are formatted where they happen, then queued
//! for a writer thread of their own, which writes them to stderr in batches. A request never
//! waits for stderr. When stderr cannot keep up and the queue is full, new lines are dropped and
//! counted (`graphsec_log_lines_dropped_total`), and once the load has passed a warning says how
//! many were lost.

use crate::config::LogFormat;
use std::io::{BufWriter, Write};
use std::time::Duration;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

/// Lines that may wait for the writer thread; a line is a few hundred bytes.
pub const QUEUED_LINES: usize = 32 * 1024;

/// Keeps the writer thread; dropping it writes out the lines still queued.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: WorkerGuard,
}

/// Installs the process-wide subscriber: `level` is an `EnvFilter` directive (`info`,
/// `graphsec=debug,sqlx=warn`), falling back to `info` when it does not parse.
pub fn init(format: LogFormat, level: &str) -> LogGuard {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // The writer thread flushes whenever its queue is empty, so lines appear as soon as the
    // thread is idle, and under load many share one write.
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(true)
        .thread_name("graphsec-log")
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
    watch_drops(dropped);
    LogGuard { _writer: guard }
}

/// Publishes the count of dropped lines each second, and logs a warning once drops stop.
fn watch_drops(dropped: ErrorCounter) {
    let watch = move || {
        let mut reported = 0;
        let mut last = 0;
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let total = dropped.dropped_lines();
            metrics::counter!("graphsec_log_lines_dropped_total").absolute(total as u64);
            if total > reported && total == last {
                tracing::warn!(
                    dropped = total - reported,
                    total,
                    "log lines were dropped: stderr could not keep up with the load"
                );
                // A warning that found the queue still full was dropped too: it is said again,
                // with the full count, once there is room.
                if dropped.dropped_lines() == total {
                    reported = total;
                }
            }
            last = dropped.dropped_lines();
        }
    };
    if let Err(e) = std::thread::Builder::new().name("graphsec-log-drops".into()).spawn(watch) {
        let _ = writeln!(std::io::stderr(), "graphsec: cannot watch for dropped log lines: {e}");
    }
}
