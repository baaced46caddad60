//! Streamed results on the engine: [`Streamed<T>`], what a method returns
//! to answer with many items, and the pump that sends them under the
//! caller's credit.
//!
//! The pump holds the object's mailbox while it produces (so a stream keeps
//! its place among the object's calls, like an `async` method), asks the
//! stream for an item only while the caller's window has room (the engine
//! never runs more than a window of items, or bytes, ahead of what the
//! caller consumed), and stops when the caller withdraws the call (a
//! dropped [`CallStream`](crate::call::CallStream)).

use super::reply::ReplyTo;
use super::state::Stop;
use crate::net::wire::Fault;
use crate::value::{self, Encoded, Value};
use futures::stream::LocalBoxStream;
use futures::{Stream, StreamExt};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Items an engine produces ahead of what the caller consumed, by default.
pub const DEFAULT_WINDOW_ITEMS: u64 = 256;

/// Bytes an engine produces ahead of what the caller consumed, by default.
pub const DEFAULT_WINDOW_BYTES: u64 = 4 << 20;

/// What a `#[distob::remote]` method returns to answer with a stream of
/// items: its proxy method gives a [`CallStream`](crate::call::CallStream). Made
/// from any stream or iterator of serde values.
///
/// ```
/// use distob::Streamed;
/// use futures::StreamExt;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct Log { lines: Vec<String> }
///
/// #[distob::remote]
/// impl Log {
///     /// Every line, one item each.
///     pub fn lines(&self) -> Streamed<String> {
///         Streamed::iter(self.lines.clone())
///     }
/// }
///
/// # async fn demo() -> distob::Result<()> {
/// let cluster = distob::Cluster::local(1).await?;
/// let log: RemoteLog = cluster.scatter(Log { lines: vec!["a".into(), "b".into()] }).await?;
/// let got: Vec<String> = log.lines().map(|l| l.unwrap()).collect().await;
/// assert_eq!(got, ["a", "b"]);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub struct Streamed<T> {
    inner: LocalBoxStream<'static, T>,
}

impl<T> std::fmt::Debug for Streamed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Streamed(..)")
    }
}

impl<T: 'static> Streamed<T> {
    /// The items of `stream`, as it yields them (it may await: engine code
    /// that produces items as they come).
    pub fn new(stream: impl Stream<Item = T> + 'static) -> Self {
        Streamed {
            inner: stream.boxed_local(),
        }
    }

    /// The items of `items`, produced as the caller consumes them.
    pub fn iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: 'static,
    {
        Self::new(futures::stream::iter(items))
    }
}

/// A stream of encoded items (what the pump sends).
pub type Encodings = LocalBoxStream<'static, Result<Encoded, Fault>>;

impl<T: Value> Streamed<T> {
    /// The items, each encoded.
    pub(crate) fn encodings(self) -> Encodings {
        self.inner
            .map(|item| value::encode(item).map_err(|e| Fault::Decode(e.to_string())))
            .boxed_local()
    }
}

/// How far the caller of one stream lets the engine run ahead.
#[derive(Debug)]
pub(crate) struct Credit {
    /// Items and bytes the engine may have sent in all.
    items: Cell<u64>,
    bytes: Cell<u64>,
    /// What it has sent.
    sent_items: Cell<u64>,
    sent_bytes: Cell<u64>,
    waker: RefCell<Option<Waker>>,
}

impl Default for Credit {
    fn default() -> Self {
        Credit {
            items: Cell::new(DEFAULT_WINDOW_ITEMS),
            bytes: Cell::new(DEFAULT_WINDOW_BYTES),
            sent_items: Cell::new(0),
            sent_bytes: Cell::new(0),
            waker: RefCell::new(None),
        }
    }
}

impl Credit {
    /// The caller consumed `items` items of `bytes` bytes, with this window.
    pub(crate) fn grant(&self, items: u64, bytes: u64, window_items: u64, window_bytes: u64) {
        self.items.set(items.saturating_add(window_items.max(1)));
        self.bytes.set(bytes.saturating_add(window_bytes.max(1)));
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Whether another item may go now; else remembers who to wake.
    fn room(&self, cx: &Context<'_>) -> bool {
        let room =
            self.sent_items.get() < self.items.get() && self.sent_bytes.get() < self.bytes.get();
        if !room {
            *self.waker.borrow_mut() = Some(cx.waker().clone());
        }
        room
    }

    fn spend(&self, bytes: usize) {
        self.sent_items.set(self.sent_items.get() + 1);
        self.sent_bytes.set(self.sent_bytes.get() + bytes as u64);
    }
}

/// Items one turn of the pump sends before it yields.
const TURN_ITEMS: usize = 64;

/// Items of this size or less, with no bulk part, share frames.
const SMALL_ITEM: usize = 1 << 10;

/// The small items of one turn, sent in one frame.
#[derive(Default)]
struct Batch(Vec<Encoded>);

impl Batch {
    fn push(&mut self, enc: Encoded, reply: &ReplyTo) {
        if enc.body.is_empty() && enc.head.len() <= SMALL_ITEM {
            self.0.push(enc);
        } else {
            // Keep the order: what is batched goes first.
            self.send(reply);
            reply.item(enc);
        }
    }

    fn send(&mut self, reply: &ReplyTo) {
        match self.0.len() {
            0 => {}
            1 => drop(self.0.pop().map(|enc| reply.item(enc))),
            _ => reply.items(std::mem::take(&mut self.0)),
        }
    }
}

/// Sends the items of `items` to `reply` as the caller's credit allows,
/// until the stream ends (then `Done`), fails (its fault), or `stop` says
/// the caller withdrew it.
pub(crate) async fn pump(mut items: Encodings, reply: ReplyTo, credit: Rc<Credit>, stop: Rc<Stop>) {
    let ended = futures::future::poll_fn(|cx| {
        // A turn sends at most this many items (small ones batched in one
        // frame), then lets the engine's other work run.
        let mut batch = Batch::default();
        for _ in 0..TURN_ITEMS {
            if stop.check(cx) {
                return Poll::Ready(Err(Fault::Cancelled));
            }
            if !credit.room(cx) {
                batch.send(&reply);
                return Poll::Pending;
            }
            match items.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(enc))) => {
                    credit.spend(enc.len());
                    batch.push(enc, &reply);
                }
                Poll::Ready(Some(Err(fault))) => {
                    batch.send(&reply);
                    return Poll::Ready(Err(fault));
                }
                Poll::Ready(None) => {
                    batch.send(&reply);
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending => {
                    batch.send(&reply);
                    return Poll::Pending;
                }
            }
        }
        batch.send(&reply);
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
    match ended {
        Ok(()) => reply.done(),
        Err(fault) => reply.fault(fault),
    }
}
