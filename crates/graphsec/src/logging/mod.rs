//! Log lines leave the request path at once: each is formatted where it happens and appended to
//! an in-memory buffer, and a writer thread of its own writes the buffer to stderr every few
//! milliseconds. A request never makes a system call for its log line nor waits for stderr.
//! When stderr cannot keep up and the buffer is full, new lines are dropped and counted
//! (`graphsec_log_lines_dropped_total`), and once the load has passed a warning says how many
//! were lost.

pub(crate) mod json;
mod text;

use crate::config::LogFormat;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Bytes of lines that may wait for the writer thread; a line is a few hundred bytes.
pub const BUFFERED_BYTES: usize = 8 << 20;
/// How long a line may wait before it is written.
const WRITE_INTERVAL: Duration = Duration::from_millis(20);
/// How often the count of dropped lines is published.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps the writer thread; dropping it writes out the lines still buffered.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    buffer: Arc<LineBuffer>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.buffer.state().closed = true;
        self.buffer.closed.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Installs the process-wide subscriber: `level` is an `EnvFilter` directive (`info`,
/// `graphsec=debug,sqlx=warn`), falling back to `info` when it does not parse.
pub fn init(format: LogFormat, level: &str) -> LogGuard {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let buffer = Arc::new(LineBuffer::default());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(SharedBuffer(buffer.clone())).with_ansi(colour);
    match format {
        LogFormat::Text => builder.event_format(text::TextLine::default()).init(),
        LogFormat::Json => builder.fmt_fields(JsonFields::default()).event_format(json::JsonLine::default()).init(),
    }
    let writing = buffer.clone();
    let writer = std::thread::Builder::new().name("graphsec-log".into()).spawn(move || write_out(&writing));
    if let Err(e) = &writer {
        let _ = writeln!(std::io::stderr(), "graphsec: cannot start the log writer: {e}");
    }
    LogGuard { buffer, writer: writer.ok() }
}

/// Whether a line needs the general formatters: it names the spans it is in, or it was bridged
/// from the `log` crate and its metadata must be read from its fields.
fn needs_general_formatter<S, N>(meta: &tracing::Metadata<'_>, ctx: &FmtContext<'_, S, N>) -> bool
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    meta.fields().field("log.target").is_some() || ctx.event_scope().is_some()
}

#[derive(Default)]
struct LineBuffer {
    state: Mutex<State>,
    closed: Condvar,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    dropped: u64,
    closed: bool,
}

impl LineBuffer {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the bytes inconsistent: keep logging.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, line: &[u8]) {
        let mut state = self.state();
        if state.lines.len() + line.len() > BUFFERED_BYTES {
            state.dropped += 1;
        } else {
            state.lines.extend_from_slice(line);
        }
    }
}

/// The subscriber's writer: formatting hands it one whole line per write.
struct SharedBuffer(Arc<LineBuffer>);

impl<'a> MakeWriter<'a> for SharedBuffer {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter(&self.0)
    }
}

struct LineWriter<'a>(&'a LineBuffer);

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.0.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writer thread: swaps the buffer out every interval and writes it whole, until closed.
fn write_out(buffer: &LineBuffer) {
    let mut batch = Vec::new();
    let mut drops = DropReport::default();
    let mut next_report = Instant::now() + REPORT_INTERVAL;
    loop {
        let (closed, dropped) = {
            let state = buffer.state();
            let (mut state, _) = buffer
                .closed
                .wait_timeout_while(state, WRITE_INTERVAL, |s| !s.closed)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::swap(&mut state.lines, &mut batch);
            (state.closed, state.dropped)
        };
        if !batch.is_empty() {
            // Nothing can be said about a stderr that fails; the lines are gone either way.
            let _ = std::io::stderr().lock().write_all(&batch);
            batch.clear();
        }
        if closed {
            return;
        }
        if Instant::now() >= next_report {
            next_report += REPORT_INTERVAL;
            drops.publish(dropped, || buffer.state().dropped);
        }
    }
}

/// Says how many lines were dropped, once drops have stopped.
#[derive(Default)]
struct DropReport {
    reported: u64,
    last: u64,
}

impl DropReport {
    fn publish(&mut self, total: u64, current: impl Fn() -> u64) {
        metrics::counter!("graphsec_log_lines_dropped_total").absolute(total);
        if total > self.reported && total == self.last {
            tracing::warn!(
                dropped = total - self.reported,
                total,
                "log lines were dropped: stderr could not keep up with the load"
            );
            // A warning that found the buffer still full was dropped too: it is said again,
            // with the whole count, once there is room.
            if current() == total {
                self.reported = total;
            }
        }
        self.last = current();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::{FormatEvent, FormatFields};

    /// The lines `log` writes with `format` and `fields`, through a subscriber of its own.
    pub fn written<F, N>(format: F, fields: N, log: impl FnOnce()) -> String
    where
        F: FormatEvent<tracing_subscriber::Registry, N> + Send + Sync + 'static,
        N: for<'a> FormatFields<'a> + Send + Sync + 'static,
    {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .fmt_fields(fields)
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(out.lock().unwrap().clone()).unwrap()
    }

    /// Lines with every kind of field: a missing option, numbers of both signs, a boolean, a raw
    /// identifier, and a string that needs escapes.
    pub fn lines() {
        let tenant = Some("t-1");
        let none: Option<&str> = None;
        tracing::info!(request_id = %"r-1", tenant, missing = none, status = 200u16, micros = 17u64, "handled");
        tracing::warn!(error = "disk \"full\"\n\u{1}\\é", delta = -3i64, ok = true, "failed");
        tracing::error!(r#type = ?'x', "typed {}", 7);
        tracing::info!(zero = 0u64, max = u64::MAX, r#ref = "it's ~ {a-b}", empty = "", "plain");
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
