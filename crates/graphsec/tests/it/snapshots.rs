//! The wire in snapshots: every response shape a client sees, pinned byte for byte, so that a
//! rebuild of the HTTP layer can prove it sends exactly what it sent before.
//!
//! Each snapshot holds the status line, the response headers (sorted by name, names as the
//! transport writes them; the connection's framing headers are left out), and the body's exact
//! bytes, never re-formatted, followed by an `[end of body]` line so that trailing whitespace
//! shows. Volatile values are replaced by numbered placeholders, the same value by the same
//! number within one snapshot (see [`redact`]). The snapshot files live in `snapshots/wire/`.
//!
//! Rerun with `cargo test -p graphsec --test it snapshots`; after a deliberate change of the
//! wire, review and accept with `INSTA_UPDATE=always cargo test -p graphsec --test it snapshots`
//! (or `cargo insta review`). With `CI` set, insta writes nothing and fails on any difference.

mod batch;
mod client_errors;
mod reads;
mod server_errors;
mod writes;

use crate::support::*;
use regex::{Captures, Regex};
use reqwest::Method;
use std::collections::HashMap;
use std::sync::LazyLock;

/// Every request names this host, so that the links the server builds from it are stable.
const HOST: &str = "graphsec.test";

/// The connection's framing: how the body is delimited and when the socket closes, which differ
/// between a socket and an in-process call and are no part of what a Graph client reads.
const TRANSPORT_HEADERS: [&str; 5] = ["connection", "content-length", "date", "keep-alive", "transfer-encoding"];

/// One request as a client sends it.
pub struct Ask {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Ask {
    pub fn new(method: Method, path: impl Into<String>) -> Ask {
        Ask { method, path: path.into(), headers: Vec::new(), body: None }
    }

    pub fn get(path: impl Into<String>) -> Ask {
        Ask::new(Method::GET, path)
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Ask {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn token(self, token: &str) -> Ask {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// A body sent as `application/json`, byte for byte as given.
    pub fn json(self, body: &str) -> Ask {
        self.header("content-type", "application/json").body(body.as_bytes().to_vec())
    }

    pub fn body(mut self, body: Vec<u8>) -> Ask {
        self.body = Some(body);
        self
    }

    /// `METHOD path` and the request headers a reader of the snapshot needs, for its description.
    fn summary(&self) -> String {
        let mut path = self.path.clone();
        if path.len() > 160 {
            path = format!("{}… ({} bytes)", &path[..120], self.path.len());
        }
        let mut text = format!("{} {path}", self.method);
        for (name, value) in &self.headers {
            let shown = match name.as_str() {
                "authorization" => "Bearer …".to_string(),
                _ if value.len() > 80 => format!("… ({} bytes)", value.len()),
                _ => value.clone(),
            };
            text.push_str(&format!("\n{name}: {shown}"));
        }
        if let Some(body) = &self.body {
            match std::str::from_utf8(body) {
                Ok(text_body) if text_body.len() <= 600 => text.push_str(&format!("\n\n{text_body}")),
                _ => text.push_str(&format!("\n\n({} bytes)", body.len())),
            }
        }
        text
    }
}

/// What came back: the status line, the headers in the order received, and the body's text.
pub struct Answer {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The request, for the snapshot's description.
    request: String,
}

impl Answer {
    pub fn status(&self) -> u16 {
        self.status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
}

/// Sends `ask` to the server's router in-process and reads the whole answer. This is the one
/// place that knows how a request reaches the server.
pub async fn exchange(server: &TestServer, ask: Ask) -> Answer {
    let request = ask.summary();
    let mut builder = server.unauthenticated(ask.method.clone(), &ask.path).header("host", HOST);
    for (name, value) in &ask.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(body) = ask.body {
        builder = builder.body(body);
    }
    let response = builder.send().await.expect("send");
    let status = response.status();
    let status_line = format!("HTTP/1.1 {} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let bytes = response.bytes().await.expect("the whole body");
    let body = String::from_utf8(bytes.to_vec()).expect("every body graphsec sends is UTF-8");
    Answer { status_line, headers, body, request }
}

/// Writes `request` as it is to a new connection and reads until the server closes it: for
/// answers that only exist on a socket (the connection cap), with header names exactly as sent.
pub async fn raw_exchange(server: &TestServer, request: &str) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // A server that refuses a request stops reading it: the rest of it may not be writable, and
    // the answer is read while it is written.
    let sent = request.as_bytes().to_vec();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&sent).await;
        writer
    });
    let mut bytes = Vec::new();
    let reading = async {
        let mut chunk = [0u8; 8192];
        // A reset after the answer ends the reading like a close.
        while let Ok(n @ 1..) = reader.read(&mut chunk).await {
            bytes.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), reading).await.expect("the server closes the connection");
    let _ = writing.await;
    let text = String::from_utf8(bytes).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let request = request.lines().next().unwrap_or_default().to_string();
    Answer { status_line, headers, body: body.to_string(), request }
}

/// The snapshot text of an answer, before redaction.
fn render(answer: &Answer, framing: bool) -> String {
    let mut headers: Vec<&(String, String)> = answer
        .headers
        .iter()
        .filter(|(name, _)| framing || !TRANSPORT_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
        .filter(|(name, _)| !name.eq_ignore_ascii_case("date"))
        .collect();
    if !framing {
        headers.sort_by_key(|(name, _)| name.to_ascii_lowercase());
    }
    let mut out = format!("{}\n", answer.status_line);
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\n"));
    }
    out.push('\n');
    out.push_str(&answer.body);
    out.push_str("\n[end of body]\n");
    out
}

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}").unwrap()
});
/// A timestamp in the wire form of Edm.DateTimeOffset (7 fractional digits).
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z").unwrap());
/// An error's `innerError.date`: whole seconds, no zone.
static SECONDS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}").unwrap());
static SKIPTOKEN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"(\$|%24)skiptoken=([^"&\s]+)"#).unwrap());
static HOST_PORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(127\.0\.0\.1|localhost):\d+").unwrap());

/// Replaces what changes from run to run: server-made uuids (request-ids, generated profile ids;
/// the tests' fixed tenant ids stay), timestamps of today, skiptokens and a socket's host:port.
/// Each distinct value gets the next number of its kind in order of first appearance, so that a
/// snapshot still shows which values are equal (a request-id in the header and in the body). An
/// error's whole-second date is one placeholder without a number: two errors of one batch fall
/// either side of a second boundary now and then.
pub fn redact(text: &str) -> String {
    let today = recent_days();
    let mut numbers: HashMap<(&'static str, String), usize> = HashMap::new();
    let mut number = move |kind: &'static str, value: &str| {
        let next = numbers.keys().filter(|(k, _)| *k == kind).count() + 1;
        *numbers.entry((kind, value.to_string())).or_insert(next)
    };
    let text = UUID.replace_all(text, |c: &Captures| match &c[0] {
        fixed @ (TENANT_A | TENANT_B) => fixed.to_string(),
        value => format!("[uuid-{}]", number("uuid", value)),
    });
    let text = TIMESTAMP.replace_all(&text, |c: &Captures| match today.iter().any(|d| c[0].starts_with(d.as_str())) {
        true => format!("[date-{}]", number("date", &c[0])),
        false => c[0].to_string(),
    });
    let text = SECONDS.replace_all(&text, |c: &Captures| match today.iter().any(|d| c[0].starts_with(d.as_str())) {
        true => "[error-date]".to_string(),
        false => c[0].to_string(),
    });
    let text = SKIPTOKEN
        .replace_all(&text, |c: &Captures| format!("{}skiptoken=[skiptoken-{}]", &c[1], number("skiptoken", &c[2])));
    HOST_PORT.replace_all(&text, "[host]").into_owned()
}

/// Yesterday, today and tomorrow as `YYYY-MM-DD`: timestamps the server made during the test.
fn recent_days() -> Vec<String> {
    let today = time::OffsetDateTime::now_utc().date();
    [today.previous_day(), Some(today), today.next_day()].into_iter().flatten().map(|d| d.to_string()).collect()
}

/// Asserts that `answer` is the one pinned under `name`.
pub fn pin(name: &str, answer: &Answer) {
    pin_rendered(name, answer, render(answer, false));
}

/// Asserts that a raw socket's answer, head as sent (order, case and framing), is the one pinned.
pub fn pin_raw(name: &str, answer: &Answer) {
    pin_rendered(name, answer, render(answer, true));
}

fn pin_rendered(name: &str, answer: &Answer, text: String) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots/wire");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(redact(&answer.request));
    settings.bind(|| insta::assert_snapshot!(name, redact(&text)));
}

/// Sends `ask` and pins its answer under `name`.
pub async fn pin_exchange(server: &TestServer, name: &str, ask: Ask) -> Answer {
    let answer = exchange(server, ask).await;
    pin(name, &answer);
    answer
}

/// A profile with every kind of member, created through the API.
pub const FULL_PROFILE: &str = r#"{"id": "alex", "displayName": "Alex Wilber", "userPrincipalName": "alexw@contoso.example", "azureSubscriptionId": "sub-1", "riskScore": "80", "tags": ["HVA", "Finance"], "accounts": [{"displayName": "Alex", "lastSeenDateTime": "2020-01-01T01:00:00+01:00", "riskScore": "80", "service": "AAD", "signinName": "alexw", "status": "active"}], "vendorInformation": {"provider": "graphsec", "providerVersion": "1.0", "subProvider": null, "vendor": "Contoso"}}"#;

/// A server on `backend` with [`FULL_PROFILE`] and two small profiles, and a read-write token.
pub async fn seeded(backend: Backend) -> (TestServer, String) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, serde_json::from_str(FULL_PROFILE).unwrap()).await;
    for (id, name) in [("bea", "Bea"), ("cy", "Cy")] {
        server.create(&token, serde_json::json!({"id": id, "displayName": name, "tags": ["x"]})).await;
    }
    (server, token)
}

#[test]
fn redaction_numbers_equal_values_alike_and_keeps_fixed_ones() {
    let today = recent_days()[1].clone();
    let a = "0b7c7b4e-58f6-4d5a-9d1c-2f1d3c4b5a69";
    let b = "1b7c7b4e-58f6-4d5a-9d1c-2f1d3c4b5a69";
    let text = format!(
        "{a} {b} {a} {TENANT_A} {today}T01:02:03.1234567Z 2020-01-01T00:00:00.0000000Z {today}T01:02:03 \
         http://127.0.0.1:4242/x?$skiptoken=abc&y %24skiptoken=abc\""
    );
    assert_eq!(
        redact(&text),
        format!(
            "[uuid-1] [uuid-2] [uuid-1] {TENANT_A} [date-1] 2020-01-01T00:00:00.0000000Z [error-date] \
             http://[host]/x?$skiptoken=[skiptoken-1]&y %24skiptoken=[skiptoken-1]\""
        )
    );
}
