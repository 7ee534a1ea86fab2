//! The `$batch` answer as a streaming body: `{"responses":[` and then each item's answer in
//! request order, written while the next one runs. Items run one at a time in dependency order,
//! as they did when the envelope was built whole, but only the answer being sent (and those that
//! finished ahead of their turn because a later item depends on them) is held, never all twenty.
//! The items' bytes come through unchanged, each chunk still carrying its reservation of the
//! response memory budget.

use super::batch::{self, Finished, Item, Part};
use super::budget::Reservation;
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Body as _, Frame};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::JoinHandle;
use tracing::Instrument;

pub(super) struct Envelope {
    /// What the items run through.
    service: Router,
    outer: Arc<batch::Outer>,
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
        service: Router,
        outer: batch::Outer,
        items: Vec<Item>,
        order: Vec<usize>,
        deadline: tokio::time::Instant,
        reservation: Reservation,
    ) -> Envelope {
        let n = items.len();
        Envelope {
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
        let run = batch::run_item(self.service.clone(), self.outer.clone(), item, failed_dependency, self.deadline);
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

type Polled = Poll<Option<Result<Frame<Bytes>, axum::Error>>>;

/// What one step of the envelope's loop decided.
enum Step {
    Return(Polled),
    Continue,
}

impl Envelope {
    /// Passes on the next chunk of the answer being written, or closes it when it ends.
    fn poll_streaming(&mut self, cx: &mut Context<'_>) -> Step {
        let Some(mut body) = self.streaming.take() else {
            return Step::Continue;
        };
        let polled = Pin::new(&mut body).poll_frame(cx);
        if !matches!(polled, Poll::Ready(None)) {
            self.streaming = Some(body);
        }
        match polled {
            Poll::Pending => Step::Return(flush(&mut self.text)),
            Poll::Ready(Some(Ok(frame))) => {
                // Our answers have no trailers.
                let Ok(bytes) = frame.into_data() else { return Step::Continue };
                if bytes.is_empty() {
                    return Step::Continue;
                }
                // An item's chunk is never copied into the envelope's text: it carries its
                // reservation, and hyper sends it as it is.
                if self.text.is_empty() {
                    return Step::Return(data(bytes));
                }
                self.held = Some(bytes);
                Step::Return(flush(&mut self.text))
            }
            Poll::Ready(Some(Err(e))) => Step::Return(Poll::Ready(Some(Err(e)))),
            Poll::Ready(None) => {
                self.text.push('}');
                self.next_out += 1;
                Step::Continue
            }
        }
    }

    /// Starts writing the answer whose turn it is.
    fn begin(&mut self, part: Part) {
        if self.next_out > 0 {
            self.text.push(',');
        }
        match part {
            Part::Whole(item) => {
                self.text.push_str(&item);
                self.next_out += 1;
            }
            Part::Streamed { head, body } => {
                self.text.push_str(&head);
                self.streaming = Some(body);
            }
        }
    }

    /// Waits for the running item and keeps its answer until its turn.
    fn poll_running(&mut self, cx: &mut Context<'_>) -> Step {
        let Some(running) = &mut self.running else {
            return Step::Continue;
        };
        let result = match Pin::new(&mut running.task).poll(cx) {
            Poll::Pending => return Step::Return(flush(&mut self.text)),
            Poll::Ready(result) => result,
        };
        let index = running.index;
        self.running = None;
        let finished = result.unwrap_or_else(|_| batch::panicked(&self.outer, &self.ids[index]));
        self.statuses[index] = Some(finished.status);
        self.finished[index] = Some(finished.part);
        Step::Continue
    }
}

impl hyper::body::Body for Envelope {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled {
        let this = self.get_mut();
        loop {
            if let Some(bytes) = this.held.take() {
                return data(bytes);
            }
            if this.streaming.is_some() {
                if let Step::Return(polled) = this.poll_streaming(cx) {
                    return polled;
                }
                continue;
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
                this.begin(part);
                continue;
            }
            if this.running.is_some() {
                if let Step::Return(polled) = this.poll_running(cx) {
                    return polled;
                }
                continue;
            }
            if !this.start_next() {
                // Every index is in the execution order, so the next answer has always run.
                return Poll::Ready(Some(Err(axum::Error::new("a batch item was never run"))));
            }
        }
    }
}
