//! The text form of a log line: `TIME LEVEL target: message name=value ...`, the layout of
//! tracing-subscriber's default format. A line outside any span (every line at `info`, the
//! request lines included) is written here in one pass; the general formatter, which costs
//! several times more per line, still writes the lines that need what it does: span context
//! (seen at `debug`), colour for a terminal, records bridged from the `log` crate.

use crate::domain::datetime;
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Default)]
pub struct TextLine {
    general: Format<Full>,
}

impl<S, N> FormatEvent<S, N> for TextLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        if writer.has_ansi_escapes() || super::needs_general_formatter(meta, ctx) {
            return self.general.format_event(ctx, writer, event);
        }
        let mut line = String::with_capacity(256);
        datetime::push_utc(&mut line, time::OffsetDateTime::now_utc(), 6);
        line.push_str(match *meta.level() {
            Level::ERROR => " ERROR ",
            Level::WARN => "  WARN ",
            Level::INFO => "  INFO ",
            Level::DEBUG => " DEBUG ",
            Level::TRACE => " TRACE ",
        });
        line.push_str(meta.target());
        line.push(':');
        event.record(&mut Fields(&mut line));
        line.push('\n');
        writer.write_str(&line)
    }
}

/// Writes an event's fields: the message as it is, every other field as `name=value` (strings
/// quoted, as `Debug` writes them).
struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.0.push(' '),
            name => self.name(name.strip_prefix("r#").unwrap_or(name)),
        }
        let _ = write!(self.0, "{value:?}");
    }

    /// A string that `Debug` would write as it is, between quotes, is copied without the
    /// formatting machinery (every request line has one).
    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        if name == "message" || !value.bytes().all(|b| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\') {
            return self.record_debug(field, &value);
        }
        self.name(name.strip_prefix("r#").unwrap_or(name));
        self.0.push('"');
        self.0.push_str(value);
        self.0.push('"');
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field.name());
        push_u64(self.0, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Fields<'_> {
    /// ` name=`
    fn name(&mut self, name: &str) {
        self.0.push(' ');
        self.0.push_str(name);
        self.0.push('=');
    }
}

/// `value` in decimal, as `Display` writes it.
fn push_u64(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::tests::{lines, written};
    use tracing_subscriber::fmt::format::DefaultFields;

    /// Past the timestamp, a line reads exactly as the general formatter writes it.
    #[test]
    fn writes_what_the_general_formatter_writes() {
        let fast = written(TextLine::default(), DefaultFields::default(), lines);
        let general = written(Format::<Full>::default(), DefaultFields::default(), lines);
        let strip = |text: &str| -> Vec<String> {
            text.lines().map(|line| line.split_once(' ').expect("a timestamp first").1.to_string()).collect()
        };
        assert_eq!(strip(&fast), strip(&general));
        assert_eq!(strip(&fast).len(), 4);
        assert!(fast.starts_with(&time::OffsetDateTime::now_utc().year().to_string()), "{fast}");
        assert!(fast.lines().next().unwrap().split(' ').next().unwrap().ends_with('Z'), "{fast}");
    }

    #[test]
    fn a_line_inside_a_span_names_it() {
        let text = written(TextLine::default(), DefaultFields::default(), || {
            let _inside = tracing::info_span!("request", request_id = "r-2").entered();
            tracing::info!("inner");
        });
        assert!(text.contains("request{request_id=\"r-2\"}: graphsec::logging::text::tests: inner"), "{text}");
    }
}
