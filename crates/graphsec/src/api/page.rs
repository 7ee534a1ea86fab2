//! A collection page as a streaming body. The rows fetched from the store are rendered a chunk
//! at a time as hyper asks for them, so a page of 1,000 profiles is never held twice (as rows
//! and as one rendered string); each row is dropped once it is rendered. The exact length is
//! known up front, so the answer keeps its `Content-Length` and its bytes are the same as those
//! of a page rendered whole.

use super::budget::Reservation;
use super::context::RequestContext;
use super::render;
use crate::store::StoredProfile;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use serde_json::Value;
use std::convert::Infallible;
use std::fmt::Write;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Rows are rendered into chunks of about this size.
const CHUNK_BYTES: usize = 64 * 1024;

pub struct Page<'a> {
    pub count: Option<i64>,
    pub next_link: Option<String>,
    pub select: Option<&'a odata::Select>,
}

enum Row {
    /// Annotations, then the stored text spliced in.
    Stored(StoredProfile),
    /// The selected members, already rendered (everything after the entity's `{`).
    Selected(String),
}

impl Row {
    fn write(&self, out: &mut String) {
        match self {
            Row::Stored(profile) => {
                render::write_annotations(out, profile.version);
                out.push(',');
                out.push_str(&profile.doc[1..]);
            }
            Row::Selected(members) => out.push_str(members),
        }
    }

    fn len(&self, scratch: &mut String) -> usize {
        match self {
            Row::Stored(profile) => {
                scratch.clear();
                render::write_annotations(scratch, profile.version);
                scratch.len() + profile.doc.len()
            }
            Row::Selected(members) => members.len(),
        }
    }
}

pub struct PageBody {
    head: Option<String>,
    rows: std::vec::IntoIter<Row>,
    first: bool,
    done: bool,
    remaining: u64,
    reservation: Reservation,
    /// Between chunks the page yields to the other tasks: hyper would otherwise render and write
    /// a whole page (more, when many are in flight) before a point read waiting behind it on the
    /// same worker got its turn.
    pause: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl PageBody {
    /// `reservation` covers the rows; every chunk carries its share of it to hyper.
    pub fn new(
        ctx: &RequestContext,
        rows: Vec<StoredProfile>,
        page: &Page<'_>,
        reservation: Reservation,
    ) -> Result<PageBody, serde_json::Error> {
        let mut head = String::with_capacity(512);
        let _ = write!(head, "{{\"@odata.context\":{}", Value::from(render::context_url(ctx, page.select)));
        if let Some(count) = page.count {
            let _ = write!(head, ",\"@odata.count\":{count}");
        }
        if let Some(link) = &page.next_link {
            let _ = write!(head, ",\"@odata.nextLink\":{}", Value::from(link.as_str()));
        }
        head.push_str(",\"value\":[");
        let rows: Vec<Row> = match render::partial(page.select) {
            None => rows.into_iter().map(Row::Stored).collect(),
            // Selected members are fewer than the stored ones: rendering them now, each row
            // replacing its document, keeps memory within what was reserved for the rows.
            Some(_) => rows
                .into_iter()
                .map(|row| {
                    let mut members = String::new();
                    render::write_members(&mut members, &row, page.select).map(|()| Row::Selected(members))
                })
                .collect::<Result<_, _>>()?,
        };
        let mut scratch = String::new();
        // `{` per row, commas between rows, `]}` at the end.
        let body: usize =
            rows.iter().map(|row| 1 + row.len(&mut scratch)).sum::<usize>() + rows.len().saturating_sub(1);
        let remaining = (head.len() + body + 2) as u64;
        Ok(PageBody {
            head: Some(head),
            rows: rows.into_iter(),
            first: true,
            done: false,
            remaining,
            reservation,
            pause: None,
        })
    }
}

impl Body for PageBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(pause) = &mut this.pause {
            std::task::ready!(pause.as_mut().poll(cx));
            this.pause = None;
        }
        let remaining = usize::try_from(this.remaining).unwrap_or(usize::MAX);
        let mut chunk = String::with_capacity(remaining.min(CHUNK_BYTES + 4096));
        if let Some(head) = this.head.take() {
            chunk.push_str(&head);
        }
        while chunk.len() < CHUNK_BYTES {
            let Some(row) = this.rows.next() else {
                chunk.push_str("]}");
                this.done = true;
                break;
            };
            if !this.first {
                chunk.push(',');
            }
            this.first = false;
            chunk.push('{');
            row.write(&mut chunk);
        }
        this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
        let bytes = match this.done {
            true => this.reservation.attach_rest(chunk),
            false => {
                this.pause = Some(Box::pin(tokio::task::yield_now()));
                this.reservation.attach(chunk)
            }
        };
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::budget::ResponseBudget;
    use http_body_util::BodyExt;
    use std::time::Duration;

    /// The page as it was rendered before it was streamed: one string.
    fn whole(ctx: &RequestContext, rows: &[StoredProfile], page: &Page<'_>) -> String {
        let mut out = String::new();
        let _ = write!(out, "{{\"@odata.context\":{}", Value::from(render::context_url(ctx, page.select)));
        if let Some(count) = page.count {
            let _ = write!(out, ",\"@odata.count\":{count}");
        }
        if let Some(link) = &page.next_link {
            let _ = write!(out, ",\"@odata.nextLink\":{}", Value::from(link.as_str()));
        }
        out.push_str(",\"value\":[");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            render::write_members(&mut out, row, page.select).unwrap();
        }
        out.push_str("]}");
        out
    }

    fn rows(n: usize) -> Vec<StoredProfile> {
        (0..n)
            .map(|i| {
                let doc = serde_json::json!({
                    "id": format!("u{i}"), "displayName": "x".repeat(i % 700), "tags": ["a\"b", "ü"],
                    "riskScore": i.to_string(), "n": 0.1 + i as f64,
                });
                StoredProfile { doc: doc.to_string(), version: i as i64 + 1 }
            })
            .collect()
    }

    async fn streamed(rows: Vec<StoredProfile>, page: &Page<'_>) -> (Option<u64>, usize, String) {
        let ctx = RequestContext::new(&http::HeaderMap::new(), "http://localhost");
        let budget = ResponseBudget::new(64 << 20, Duration::from_secs(1));
        let reservation = budget.reserve(8 << 20).await.unwrap();
        let body = PageBody::new(&ctx, rows, page, reservation).unwrap();
        let hint = body.size_hint().exact();
        let mut body = std::pin::pin!(body);
        let (mut text, mut frames) = (Vec::new(), 0);
        while let Some(frame) = body.frame().await {
            text.extend_from_slice(&frame.unwrap().into_data().unwrap());
            frames += 1;
        }
        assert_eq!(budget.in_use_bytes(), 0, "every unit went back with the chunks");
        (hint, frames, String::from_utf8(text).unwrap())
    }

    #[tokio::test]
    async fn streamed_pages_are_byte_for_byte_the_whole_page() {
        let ctx = RequestContext::new(&http::HeaderMap::new(), "http://localhost");
        let select = odata::parse_select("id,displayName,missing", crate::domain::members::schema()).unwrap();
        let cases = [
            (0, Page { count: None, next_link: None, select: None }),
            (1, Page { count: Some(7), next_link: None, select: None }),
            (1000, Page { count: Some(1000), next_link: Some("http://h/beta/x?$skiptoken=a\"b".into()), select: None }),
            (300, Page { count: None, next_link: None, select: Some(&select) }),
        ];
        for (n, page) in cases {
            let expected = whole(&ctx, &rows(n), &page);
            let (hint, frames, text) = streamed(rows(n), &page).await;
            // The context URL holds the service root only, the same for both contexts.
            assert_eq!(text, expected, "{n} rows");
            assert_eq!(hint, Some(expected.len() as u64), "Content-Length of {n} rows");
            assert!(frames >= expected.len() / (CHUNK_BYTES + 8192), "{n} rows in {frames} chunks");
        }
    }
}
