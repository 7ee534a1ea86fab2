//! The request journal: the last `--journal-size` requests the API answered, `$batch` items each
//! on their own, for a test suite to assert on (`GET /_graphsec/requests`, docs/emulator.md §5).
//!
//! The request layer records each request as it is answered ([`Recording`]). An entry is bounded
//! whatever the client sends: the path and the body are kept up to a fixed size, so the whole
//! journal holds at most `--journal-size` times that. The body of a write is copied while the
//! handler reads it, so recording adds neither a read nor a wait; what the handler never read
//! (a request refused before its body) is not in the entry.

use super::context::CallerTenant;
use axum::body::Body;
use axum::extract::Request;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// The most of a request target an entry keeps.
pub const PATH_BYTES: usize = 2048;
/// The most of a write's body an entry keeps.
pub const BODY_BYTES: usize = 4096;
/// Where the test-control API lives; its own requests are never recorded.
pub const CONTROL_PREFIX: &str = "/_graphsec/";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// When the request arrived (wire form).
    pub time: String,
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub status: u16,
    /// The caller's tenant (the token's `tid`); `None` with `--auth off` or before authentication.
    pub tenant: Option<String>,
    pub request_id: String,
    pub duration_ms: f64,
    /// A write's body as received (lossy UTF-8), up to [`BODY_BYTES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether the path or the body was longer than an entry keeps.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// The ring of entries, oldest first.
pub struct Journal {
    capacity: usize,
    ring: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Entry>,
    /// Roughly what the entries take in memory, and in JSON.
    bytes: usize,
}

impl Entry {
    fn size(&self) -> usize {
        const FIXED_BYTES: usize = 256;
        FIXED_BYTES
            + self.path.len()
            + self.body.as_ref().map_or(0, String::len)
            + self.tenant.as_ref().map_or(0, String::len)
            + self.request_id.len()
    }
}

impl Journal {
    /// `None` for a capacity of 0: no journal, and no work per request.
    pub fn new(capacity: usize) -> Option<Arc<Journal>> {
        (capacity > 0).then(|| Arc::new(Journal { capacity, ring: Mutex::new(Ring::default()) }))
    }

    fn push(&self, entry: Entry) {
        let mut ring = self.lock();
        if ring.entries.len() == self.capacity
            && let Some(oldest) = ring.entries.pop_front()
        {
            ring.bytes -= oldest.size();
        }
        ring.bytes += entry.size();
        ring.entries.push_back(entry);
    }

    /// Roughly the memory the entries take.
    pub fn size_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// The entries of `tenant` (all without one) whose time is at or after `since`, in the order
    /// the requests arrived. The ring holds them in the order they were answered: a `$batch` is
    /// answered before its items run (its answer streams their results), and a slow request after
    /// a fast one that came later.
    pub fn entries(&self, tenant: Option<&str>, since: Option<&str>) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .lock()
            .entries
            .iter()
            .filter(|e| tenant.is_none_or(|t| e.tenant.as_deref() == Some(t)))
            .filter(|e| since.is_none_or(|s| e.time.as_str() >= s))
            .cloned()
            .collect();
        entries.sort_by(|a, b| a.time.cmp(&b.time));
        entries
    }

    /// Forgets the entries of `tenant`, or all of them.
    pub fn clear(&self, tenant: Option<&str>) {
        let mut ring = self.lock();
        match tenant {
            Some(t) => ring.entries.retain(|e| e.tenant.as_deref() != Some(t)),
            None => ring.entries.clear(),
        }
        ring.bytes = ring.entries.iter().map(Entry::size).sum();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The body bytes a handler has read so far, up to [`BODY_BYTES`].
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

/// One request being recorded: what is known when it arrives, completed when it is answered.
pub(crate) struct Recording {
    entry: Entry,
    started: Instant,
    tenant: CallerTenant,
    body: Option<Arc<Mutex<Captured>>>,
}

impl Recording {
    /// Starts recording `request` (whose body it taps, for a write), unless it is a call of the
    /// test-control API.
    pub(crate) fn start(request: &mut Request, request_id: &str, tenant: &CallerTenant) -> Option<Recording> {
        let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let path = request.uri().path();
        if path.starts_with(CONTROL_PREFIX) || super::console::is_console_path(path) {
            return None;
        }
        let (path, truncated) = capped(target);
        let is_write = matches!(*request.method(), http::Method::POST | http::Method::PATCH | http::Method::PUT);
        let body = is_write.then(|| tap(request));
        Some(Recording {
            entry: Entry {
                time: crate::domain::datetime::now(),
                method: request.method().as_str().to_string(),
                path,
                status: 0,
                tenant: None,
                request_id: request_id.to_string(),
                duration_ms: 0.0,
                body: None,
                truncated,
            },
            started: Instant::now(),
            tenant: tenant.clone(),
            body,
        })
    }

    pub(crate) fn finish(self, journal: &Journal, status: http::StatusCode) {
        let Recording { mut entry, started, tenant, body } = self;
        entry.status = status.as_u16();
        entry.tenant = tenant.get().map(String::from);
        entry.duration_ms = (started.elapsed().as_micros() as f64) / 1000.0;
        if let Some(body) = body {
            let captured = std::mem::take(&mut *body.lock().unwrap_or_else(PoisonError::into_inner));
            entry.truncated |= captured.truncated;
            entry.body = Some(String::from_utf8_lossy(&captured.bytes).into_owned());
        }
        journal.push(entry);
    }
}

/// The target cut to [`PATH_BYTES`] on a character boundary, and whether it was cut.
fn capped(target: &str) -> (String, bool) {
    if target.len() <= PATH_BYTES {
        return (target.to_string(), false);
    }
    let mut end = PATH_BYTES;
    while !target.is_char_boundary(end) {
        end -= 1;
    }
    (target[..end].to_string(), true)
}

/// Replaces the request's body with one that copies what is read of it, up to [`BODY_BYTES`].
fn tap(request: &mut Request) -> Arc<Mutex<Captured>> {
    use http_body_util::BodyExt;
    let captured = Arc::new(Mutex::new(Captured::default()));
    let sink = captured.clone();
    let body = std::mem::take(request.body_mut()).map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
            let room = BODY_BYTES.saturating_sub(sink.bytes.len());
            sink.bytes.extend_from_slice(&data[..data.len().min(room)]);
            sink.truncated |= data.len() > room;
        }
        frame
    });
    *request.body_mut() = Body::new(body);
    captured
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: Option<&str>, time: &str) -> Entry {
        Entry {
            time: time.into(),
            method: "GET".into(),
            path: "/beta".into(),
            status: 200,
            tenant: tenant.map(String::from),
            request_id: "r".into(),
            duration_ms: 0.0,
            body: None,
            truncated: false,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_entries_and_filters() {
        let journal = Journal::new(2).unwrap();
        journal.push(entry(Some("a"), "1"));
        journal.push(entry(Some("b"), "2"));
        journal.push(entry(None, "3"));
        let times = |entries: Vec<Entry>| entries.into_iter().map(|e| e.time).collect::<Vec<_>>();
        assert_eq!(times(journal.entries(None, None)), ["2", "3"]);
        assert_eq!(journal.size_bytes(), entry(Some("b"), "2").size() + entry(None, "3").size());
        assert_eq!(times(journal.entries(Some("b"), None)), ["2"]);
        assert_eq!(times(journal.entries(None, Some("3"))), ["3"]);
        journal.clear(Some("b"));
        assert_eq!(times(journal.entries(None, None)), ["3"]);
        journal.clear(None);
        assert!(journal.entries(None, None).is_empty());
        assert_eq!(journal.size_bytes(), 0);
        assert!(Journal::new(0).is_none());
    }

    #[test]
    fn long_targets_are_cut_on_a_character_boundary() {
        let (path, cut) = capped(&"é".repeat(PATH_BYTES));
        assert!(cut && path.len() <= PATH_BYTES && path.chars().all(|c| c == 'é'));
        assert_eq!(capped("/beta"), ("/beta".to_string(), false));
    }
}
