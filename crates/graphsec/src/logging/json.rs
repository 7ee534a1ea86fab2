//! The JSON form of a log line, `{"timestamp":…,"level":…,"fields":{…},"target":…}`, the layout
//! of tracing-subscriber's JSON format. As with the text form, a line outside any span is written
//! here in one pass, and the general formatter keeps the lines that carry span context or were
//! bridged from the `log` crate.

use crate::domain::datetime;
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent};
use tracing_subscriber::registry::LookupSpan;

pub struct JsonLine {
    general: Format<Json>,
}

impl Default for JsonLine {
    fn default() -> Self {
        Self { general: Format::default().json().with_current_span(true).with_span_list(false) }
    }
}

impl<S> FormatEvent<S, JsonFields> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, JsonFields>, writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        if super::needs_general_formatter(meta, ctx) {
            return self.general.format_event(ctx, writer, event);
        }
        let mut line = String::with_capacity(320);
        line.push_str("{\"timestamp\":\"");
        datetime::push_utc(&mut line, time::OffsetDateTime::now_utc(), 6);
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push_str("\",\"fields\":{");
        let mut fields = Fields { line, first: true, scratch: String::new() };
        event.record(&mut fields);
        let mut line = fields.line;
        line.push_str("},\"target\":");
        push_string(&mut line, meta.target());
        line.push_str("}\n");
        let mut writer = writer;
        writer.write_str(&line)
    }
}

/// Writes an event's fields as JSON members: numbers and booleans as themselves, strings as
/// strings, anything else as the string its `Debug` writes.
struct Fields {
    line: String,
    first: bool,
    /// Reused for the `Debug` text of each value.
    scratch: String,
}

impl Fields {
    fn name(&mut self, field: &Field) {
        if !self.first {
            self.line.push(',');
        }
        self.first = false;
        push_string(&mut self.line, field.name());
        self.line.push(':');
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.name(field);
        self.scratch.clear();
        let _ = write!(self.scratch, "{value:?}");
        push_string(&mut self.line, &self.scratch);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        push_string(&mut self.line, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        let _ = write!(self.line, "{value}");
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        let _ = write!(self.line, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        self.line.push_str(if value { "true" } else { "false" });
    }
}

/// A JSON string, escaped as serde_json escapes it (log lines and rendered entities share it).
pub(crate) fn push_string(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (at, &byte) in text.as_bytes().iter().enumerate() {
        // Most bytes need no escape and are copied in runs.
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        out.push_str(&text[start..at]);
        let _ = match byte {
            b'"' => out.write_str("\\\""),
            b'\\' => out.write_str("\\\\"),
            b'\n' => out.write_str("\\n"),
            b'\r' => out.write_str("\\r"),
            b'\t' => out.write_str("\\t"),
            0x08 => out.write_str("\\b"),
            0x0c => out.write_str("\\f"),
            _ => write!(out, "\\u{byte:04x}"),
        };
        start = at + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::tests::{lines, written};

    fn parsed(text: &str) -> Vec<serde_json::Value> {
        text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
    }

    /// Past the timestamp, a line reads byte for byte as the general formatter writes it.
    #[test]
    fn writes_what_the_general_formatter_writes() {
        let fast = written(JsonLine::default(), JsonFields::default(), lines);
        let general = written(JsonLine::default().general, JsonFields::default(), lines);
        let strip = |text: &str| -> Vec<String> {
            text.lines().map(|line| line.split_once("\",\"level\"").expect("a timestamp first").1.to_string()).collect()
        };
        assert_eq!(strip(&fast), strip(&general));
        let lines = parsed(&fast);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1]["fields"]["error"], "disk \"full\"\n\u{1}\\é");
        let stamp = lines[0]["timestamp"].as_str().unwrap();
        assert!(stamp.ends_with('Z') && stamp.starts_with(&time::OffsetDateTime::now_utc().year().to_string()));
    }

    #[test]
    fn a_line_inside_a_span_carries_it() {
        let text = written(JsonLine::default(), JsonFields::default(), || {
            let _inside = tracing::info_span!("request", request_id = "r-2").entered();
            tracing::info!("inner");
        });
        assert_eq!(parsed(&text)[0]["span"]["request_id"], "r-2", "{text}");
    }
}
