//! The `$batch` answer as a streaming body: `{"responses":[` and then each item's answer in
//! request order, written while the next one runs. Items run one at a time in dependency order,
//! as they did when the envelope was built whole, but only the answer being sent (and those that
//! finished ahead of their turn because a later item depends on them) is held, never all twenty.
//! The items' bytes come through unchanged, each chunk still carrying its reservation of the
//! response memory budget.

use super::batch::{self, Finished, Item, Part};
use super::budget::Reservation;
use crate::app::AppState;
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use hyper::body::Frame;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::JoinHandle;
use tracing::Instrument;

pub(super) struct Envelope {
    app: Arc<AppState>,
    /// What the items run through.
    service: Router,
    outer: Arc<HeaderMap>,
    deadline: tokio::time::Instant,
    /// The batch request's span, so that what its items log carries its request-id.
    span: tracing::Span,
    ids: Vec<String>,
    depends_on: Vec<Vec<usize>>,
    /// Taken when the item starts.
    items: Vec<Option<Item>>,
    order: std::vec::IntoIter<usize>,
    statuses: Vec<Option<u16>>,
    finished: Vec<Option<Part>>,
    running: Option<Running>,
    /// The next answer to write.
    next_out: usize,
    /// The body of the answer being written.
    streaming: Option<Body>,
    /// Envelope text not yet sent.
    text: String,
    /// An item's chunk to send after `text`.
    held: Option<Bytes>,
    done: bool,
    _reservation: Reservation,
}

/// An item running on a task of its own, so that a panic in its handler is caught and answered
/// 500 like any other request's; dropped with the envelope (the client went away), it stops.
struct Running {
    index: usize,
    task: JoinHandle<Finished>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Envelope {
    pub(super) fn new(
        app: Arc<AppState>,
        service: Router,
        outer: HeaderMap,
        items: Vec<Item>,
        order: Vec<usize>,
        deadline: tokio::time::Instant,
        reservation: Reservation,
    ) -> Envelope {
        let n = items.len();
        Envelope {
            app,
            service,
            outer: Arc::new(outer),
            deadline,
            span: tracing::Span::current(),
            ids: items.iter().map(|item| item.id.clone()).collect(),
            depends_on: items.iter().map(|item| item.depends_on.clone()).collect(),
            items: items.into_iter().map(Some).collect(),
            order: order.into_iter(),
            statuses: vec![None; n],
            finished: (0..n).map(|_| None).collect(),
            running: None,
            next_out: 0,
            streaming: None,
            text: String::from("{\"responses\":["),
            held: None,
            done: false,
            _reservation: reservation,
        }
    }

    /// Starts the next item in execution order; false when there is none.
    fn start_next(&mut self) -> bool {
        let Some(index) = self.order.next() else {
            return false;
        };
        let Some(item) = self.items[index].take() else {
            return false;
        };
        let failed_dependency = self.depends_on[index].iter().any(|d| self.statuses[*d].is_none_or(|s| s >= 400));
        let run = batch::run_item(
            self.app.clone(),
            self.service.clone(),
            self.outer.clone(),
            item,
            failed_dependency,
            self.deadline,
        );
        self.running = Some(Running { index, task: tokio::spawn(run.instrument(self.span.clone())) });
        true
    }
}

fn data(bytes: Bytes) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
    Poll::Ready(Some(Ok(Frame::data(bytes))))
}

/// Sends the pending envelope text, or waits if there is none.
fn flush(text: &mut String) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
    if text.is_empty() { Poll::Pending } else { data(Bytes::from(std::mem::take(text))) }
}

impl hyper::body::Body for Envelope {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(bytes) = this.held.take() {
                return data(bytes);
            }
            if let Some(body) = &mut this.streaming {
                match Pin::new(body).poll_frame(cx) {
                    Poll::Pending => return flush(&mut this.text),
                    Poll::Ready(Some(Ok(frame))) => {
                        // Our answers have no trailers.
                        let Ok(bytes) = frame.into_data() else { continue };
                        if bytes.is_empty() {
                            continue;
                        }
                        // An item's chunk is never copied into the envelope's text: it carries
                        // its reservation, and hyper sends it as it is.
                        if this.text.is_empty() {
                            return data(bytes);
                        }
                        this.held = Some(bytes);
                        return flush(&mut this.text);
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => {
                        this.streaming = None;
                        this.text.push('}');
                        this.next_out += 1;
                        continue;
                    }
                }
            }
            if this.next_out == this.finished.len() {
                if this.done {
                    return Poll::Ready(None);
                }
                this.done = true;
                this.text.push_str("]}");
                return flush(&mut this.text);
            }
            if let Some(part) = this.finished[this.next_out].take() {
                if this.next_out > 0 {
                    this.text.push(',');
                }
                match part {
                    Part::Whole(item) => {
                        this.text.push_str(&item);
                        this.next_out += 1;
                    }
                    Part::Streamed { head, body } => {
                        this.text.push_str(&head);
                        this.streaming = Some(body);
                    }
                }
                continue;
            }
            if let Some(running) = &mut this.running {
                let result = match Pin::new(&mut running.task).poll(cx) {
                    Poll::Pending => return flush(&mut this.text),
                    Poll::Ready(result) => result,
                };
                let index = running.index;
                this.running = None;
                let finished = result.unwrap_or_else(|_| batch::panicked(&this.app, &this.outer, &this.ids[index]));
                this.statuses[index] = Some(finished.status);
                this.finished[index] = Some(finished.part);
                continue;
            }
            if !this.start_next() {
                // Every index is in the execution order, so the next answer has always run.
                return Poll::Ready(Some(Err(axum::Error::new("a batch item was never run"))));
            }
        }
    }
}
