//! [`Feed<T>`]: a stream as a call argument — uploads that do not fit in
//! memory, sent item by item as the engine consumes them.
//!
//! On the caller's side a `Feed` wraps a stream; serialising it (as a call's
//! argument) registers it with the call, and once the request is sent the
//! hub pumps its items to the engine within the engine's credit
//! ([`FEED_WINDOW`] items ahead of what the method consumed). On the engine
//! a `Feed` is a stream of the items for the method to consume; dropping it
//! before the end stops the caller's pump.

use super::hub::ObjectHub;
use super::link::lock;
use crate::id::NodeId;
use crate::net::wire::Message;
use crate::net::{AlignedBuf, FrameWriter};
use crate::value::{self, Encoded, Value, ValueError};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

/// Items a feed sends ahead of what the engine's method consumed.
pub const FEED_WINDOW: u32 = 64;

type Encodings = BoxStream<'static, Result<Encoded, ValueError>>;

/// A stream as a call argument: on the caller's side made from any
/// `Stream` (or iterator) of serde values; the engine's method takes it as
/// an argument of type `Feed<T>` and consumes it as a `Stream` of `T`.
///
/// ```
/// use distob::Feed;
/// use futures::StreamExt;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Default, Serialize, Deserialize)]
/// pub struct Total { sum: u64 }
///
/// #[distob::remote]
/// impl Total {
///     /// Adds every item of the feed.
///     pub async fn add_all(&mut self, mut feed: Feed<u64>) -> u64 {
///         while let Some(x) = feed.next().await {
///             self.sum += x;
///         }
///         self.sum
///     }
/// }
///
/// # async fn demo() -> distob::Result<()> {
/// let cluster = distob::Cluster::local(1).await?;
/// let t: RemoteTotal = cluster.scatter(Total::default()).await?;
/// assert_eq!(t.add_all(Feed::iter(1..=1000u64)).await?, 500_500);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub struct Feed<T> {
    side: Mutex<Side>,
    _type: std::marker::PhantomData<fn() -> T>,
}

enum Side {
    /// On the caller's side, before it is sent.
    Out(Option<Encodings>),
    /// On the engine: its slot.
    In(Incoming),
}

impl<T> std::fmt::Debug for Feed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feed(..)")
    }
}

impl<T: Value> Feed<T> {
    /// The items of `stream`, sent as the engine consumes them.
    pub fn new(stream: impl Stream<Item = T> + Send + 'static) -> Self {
        let encoded = stream.map(value::encode).boxed();
        Feed {
            side: Mutex::new(Side::Out(Some(encoded))),
            _type: std::marker::PhantomData,
        }
    }

    /// The items of `items`.
    pub fn iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::new(futures::stream::iter(items))
    }
}

thread_local! {
    /// The feeds serialised by each call's arguments under way here.
    static OUTGOING: RefCell<Vec<Vec<(u64, Encodings)>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` (the encoding of a call's arguments); the feeds it serialised.
pub(crate) fn collecting<R>(f: impl FnOnce() -> R) -> (R, Vec<(u64, Encodings)>) {
    OUTGOING.with(|o| o.borrow_mut().push(Vec::new()));
    let out = f();
    let feeds = OUTGOING.with(|o| o.borrow_mut().pop()).unwrap_or_default();
    (out, feeds)
}

impl<T> Serialize for Feed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut side = lock(&self.side);
        let Side::Out(stream) = &mut *side else {
            return Err(S::Error::custom(
                "a Feed received by an engine cannot be sent on",
            ));
        };
        let stream = stream
            .take()
            .ok_or_else(|| S::Error::custom("a Feed is sent once"))?;
        let id = u64::from_le_bytes(
            *uuid::Uuid::new_v4()
                .as_bytes()
                .first_chunk::<8>()
                .unwrap_or(&[0; 8]),
        );
        let taken = OUTGOING.with(|o| match o.borrow_mut().last_mut() {
            Some(top) => {
                top.push((id, stream));
                true
            }
            None => false,
        });
        if !taken {
            return Err(S::Error::custom(
                "a Feed travels only as an argument of a call",
            ));
        }
        id.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Feed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = u64::deserialize(d)?;
        Ok(Feed {
            side: Mutex::new(Side::In(Incoming {
                id,
                slot: slot(id),
                consumed: 0,
                credited: 0,
            })),
            _type: std::marker::PhantomData,
        })
    }
}

/// Where a feed's items wait on the engine until its method takes them.
#[derive(Default)]
pub(crate) struct Slot {
    items: VecDeque<(Vec<u8>, AlignedBuf)>,
    ended: Option<Option<String>>,
    waker: Option<Waker>,
    /// Where credit goes back to the sender.
    credit: Option<CreditTo>,
    /// The engine session the items come on.
    pub(crate) session: Option<u64>,
}

/// Where an engine sends a feed's credit.
pub(crate) enum CreditTo {
    /// The caller's connection.
    Wire(FrameWriter),
    /// A pump of this engine's own hub.
    Local(ObjectHub),
}

impl CreditTo {
    fn send(&self, message: Message) {
        match self {
            // A closed connection's sender is gone, and its feed with it.
            CreditTo::Wire(w) => drop(w.send(&message, Bytes::new())),
            CreditTo::Local(hub) => hub.feed_message(message),
        }
    }
}

type Slots = Mutex<HashMap<u64, Arc<Mutex<Slot>>>>;

/// The feeds on their way into this process's engines, by id (ids are
/// random: engines of one process share the table).
fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(Default::default)
}

fn slot(id: u64) -> Arc<Mutex<Slot>> {
    lock(slots()).entry(id).or_default().clone()
}

/// An item of feed `id` arrived (on `session`, whose credit goes to `to`).
pub(crate) fn arrived(
    id: u64,
    session: u64,
    to: impl FnOnce() -> CreditTo,
    head: Vec<u8>,
    body: AlignedBuf,
) {
    let slot = slot(id);
    let mut s = lock(&slot);
    s.session = Some(session);
    if s.credit.is_none() {
        s.credit = Some(to());
    }
    s.items.push_back((head, body));
    if let Some(w) = s.waker.take() {
        w.wake();
    }
}

/// Feed `id` ended (with an error message, if it failed on the sender).
pub(crate) fn ended(id: u64, error: Option<String>) {
    let slot = slot(id);
    let mut s = lock(&slot);
    s.ended = Some(error);
    if let Some(w) = s.waker.take() {
        w.wake();
    }
}

/// Session `session` ended: the feeds coming on it go.
pub(crate) fn session_ended(session: u64) {
    lock(slots()).retain(|_, s| lock(s).session != Some(session));
}

/// A feed on the engine: its slot and how much of it the method took.
struct Incoming {
    id: u64,
    slot: Arc<Mutex<Slot>>,
    consumed: u32,
    credited: u32,
}

impl<T: Value> Stream for Feed<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut side = lock(&self.side);
        let Side::In(feed) = &mut *side else {
            return Poll::Ready(None);
        };
        let mut s = lock(&feed.slot);
        let Some((head, body)) = s.items.pop_front() else {
            if s.ended.is_some() {
                return Poll::Ready(None);
            }
            s.waker = Some(cx.waker().clone());
            return Poll::Pending;
        };
        feed.consumed += 1;
        if feed.consumed - feed.credited >= FEED_WINDOW / 2 {
            if let Some(to) = &s.credit {
                let items = feed.consumed - feed.credited;
                to.send(Message::FeedCredit {
                    feed: feed.id,
                    items,
                });
                feed.credited = feed.consumed;
            }
        }
        drop(s);
        // An item that does not decode ends the feed (the method sees its end).
        Poll::Ready(value::decode(&head, body).ok())
    }
}

impl<T> Drop for Feed<T> {
    fn drop(&mut self) {
        let side = self.side.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Side::In(feed) = side {
            let s = lock(&feed.slot);
            if s.ended.is_none() {
                if let Some(to) = &s.credit {
                    to.send(Message::FeedCancel { feed: feed.id });
                }
            }
            drop(s);
            lock(slots()).remove(&feed.id);
        }
    }
}

impl ObjectHub {
    /// Sends feed `id`'s items to `node`, within its credit, from a task of
    /// its own.
    pub(crate) fn pump_feed(&self, node: NodeId, id: u64, mut items: Encodings) {
        let credit = Arc::new(tokio::sync::Semaphore::new(FEED_WINDOW as usize));
        lock(&self.inner.feeds).insert(id, credit.clone());
        let hub = self.clone();
        super::runtime::current_or_background().spawn(async move {
            let mut error = None;
            while let Ok(permit) = credit.acquire().await {
                permit.forget();
                match items.next().await {
                    Some(Ok(enc)) => hub.send_frame(
                        node,
                        Message::FeedItem {
                            feed: id,
                            head: enc.head,
                        },
                        enc.body,
                    ),
                    Some(Err(e)) => {
                        error = Some(crate::cluster::report(&e));
                        break;
                    }
                    None => break,
                }
            }
            lock(&hub.inner.feeds).remove(&id);
            // A cancelled feed's engine wants no end.
            if !credit.is_closed() {
                hub.send_frame(node, Message::FeedEnd { feed: id, error }, Bytes::new());
            }
        });
    }

    /// Credit for, or the cancel of, one of this hub's feeds.
    pub(crate) fn feed_message(&self, message: Message) {
        match message {
            Message::FeedCredit { feed, items } => {
                if let Some(c) = lock(&self.inner.feeds).get(&feed) {
                    c.add_permits(items as usize);
                }
            }
            Message::FeedCancel { feed } => {
                if let Some(c) = lock(&self.inner.feeds).remove(&feed) {
                    c.close();
                }
            }
            _ => {}
        }
    }

    /// Sends a one-way frame with a body to `node`.
    fn send_frame(&self, node: NodeId, message: Message, body: Bytes) {
        if let Some(local) = self.local_for(node) {
            // A stopped engine takes no more items.
            let _ = local.send_with_body(message, body);
            return;
        }
        if let Ok(link) = self.link(node) {
            let _ = link.writer.send(&message, body);
        }
    }
}
