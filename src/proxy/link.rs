//! [`Link`]: one connection from a hub (a client's, or an engine's own) to
//! an engine — its writer, the reader task that completes pending calls
//! from a table keyed by call id (`pending`), and (on the main link) the bulk link beside
//! it with its byte budget. The same link serves clients and engines: an
//! engine's calls to other engines go over links of its own hub, opened
//! when first used.

use super::handles::{Flight, Landing};
use super::hub::{HubInner, ObjectHub};
use super::reconnect::Watch;
use super::runtime::current_or_background;
use crate::error::{Error, Result};
use crate::id::{CallId, NodeId, ObjectId};
use crate::net::wire::{Message, Meta, Op, Outcome};
use crate::net::{AlignedBuf, FrameReader, FrameWriter, NetError};
use crate::telemetry::meters::NodeMetrics;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::io::AsyncRead;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// A reply as it came off the wire: outcome and body, and (when its value
/// carries handles) what keeps them alive until it is decoded.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) outcome: Outcome,
    pub(crate) body: AlignedBuf,
    pub(crate) landing: Option<Landing>,
    /// When it was read off a connection (one clock read per read, not
    /// per reply); `None` for replies that did not come over one.
    pub(crate) arrived: Option<Instant>,
}

/// A call waiting for its reply, with its share of the link's byte budget
/// (given back when the reply comes or the call fails).
struct Waiter {
    tx: Replies,
    budget: Option<OwnedSemaphorePermit>,
}

/// Where the answers to one call go: its one reply, or (a streamed call)
/// its items and then its end.
#[derive(Debug)]
pub(crate) enum Replies {
    /// The one reply.
    Once(oneshot::Sender<Result<Reply>>),
    /// Items, then the end.
    Stream(tokio::sync::mpsc::UnboundedSender<Result<Piece>>),
}

/// A piece of a streamed call's answer.
#[derive(Debug)]
pub(crate) enum Piece {
    /// One item (its value in the reply's outcome).
    Item(Reply),
    /// The end: `Done`, or the fault that ended it.
    End(Reply),
}

impl Replies {
    /// The final answer (the caller may have stopped waiting: nothing to do
    /// then).
    pub(crate) fn finish(self, reply: Result<Reply>) {
        match self {
            Replies::Once(tx) => {
                let _ = tx.send(reply);
            }
            Replies::Stream(tx) => {
                let _ = tx.send(reply.map(Piece::End));
            }
        }
    }

    /// One item of a stream (a one-reply caller takes none).
    pub(crate) fn item(&self, reply: Reply) {
        if let Replies::Stream(tx) = self {
            let _ = tx.send(Ok(Piece::Item(reply)));
        }
    }
}

impl Waiter {
    fn send(self, reply: Result<Reply>) {
        let Waiter { tx, budget } = self;
        // The budget is back before the caller hears of the reply.
        drop(budget);
        tx.finish(reply);
    }
}

#[derive(Default)]
struct Pending {
    calls: super::pending::CallTable<Waiter>,
    lost: bool,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent across a panic elsewhere; keep using them.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One engine's connection.
pub(crate) struct Link {
    pub(super) node: NodeId,
    /// Where to report this link's loss (set once the hub exists).
    pub(super) watch: Mutex<Option<Arc<Watch>>>,
    /// The hub the link belongs to (set once it exists): handles in replies
    /// bind to it.
    pub(super) hub: Mutex<Option<std::sync::Weak<HubInner>>>,
    /// Frame bytes received from this engine.
    pub(super) received: AtomicU64,
    /// Body bytes (the data, not the message heads) written to this engine.
    pub(super) sent: AtomicU64,
    /// Requests written, and replies read.
    pub(super) requests: AtomicU64,
    pub(super) replies: AtomicU64,
    pub(super) addr: SocketAddr,
    pub(super) writer: FrameWriter,
    pending: Mutex<Pending>,
    pub(super) reader: Mutex<Option<tokio::task::AbortHandle>>,
    /// A second connection to the same engine for large bodies, so that a
    /// big transfer does not hold up the small calls behind it.
    pub(super) bulk: Mutex<Option<Arc<Link>>>,
    /// This engine's metrics (registered with the recorder on first use).
    metrics: std::sync::OnceLock<Arc<NodeMetrics>>,
    /// Frame bytes of the requests written to this engine.
    pub(super) written: AtomicU64,
    /// Bytes read from the connection, as they come (for progress).
    pub(super) read_bytes: Arc<AtomicU64>,
    /// Bytes this link may have sent and not had answered, in KiB permits
    /// (used on the bulk link).
    pub(super) budget: Arc<Semaphore>,
}

/// Bodies larger than this go over the bulk connection.
pub(crate) const BULK_THRESHOLD: usize = 1 << 20;

/// The bytes of large bodies the client has in flight to one engine (sent,
/// or queued to send, and not yet acknowledged); further large sends wait
/// for earlier ones to be answered. A body larger than this goes alone.
pub const MAX_BULK_IN_FLIGHT: usize = 256 << 20;

/// The unit of [`MAX_BULK_IN_FLIGHT`]'s permits.
const BUDGET_UNIT: usize = 1 << 10;

impl Link {
    /// Closes both connections and stops their readers.
    pub(super) fn shut(&self) {
        // A link shut on purpose (replaced, or its hub closing) is not lost:
        // its reader, which may still see the connection end before it is
        // aborted, has nobody to tell.
        lock(&self.watch).take();
        self.writer.close();
        // Sends held back for budget give up (and free their bodies).
        self.budget.close();
        if let Some(task) = lock(&self.reader).take() {
            task.abort();
        }
        if let Some(bulk) = lock(&self.bulk).take() {
            bulk.shut();
        }
    }

    pub(super) fn new(node: NodeId, addr: SocketAddr, writer: FrameWriter) -> Arc<Link> {
        Arc::new(Link {
            node,
            watch: Mutex::new(None),
            hub: Mutex::new(None),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            replies: AtomicU64::new(0),
            addr,
            writer,
            pending: Mutex::new(Pending::default()),
            metrics: std::sync::OnceLock::new(),
            read_bytes: Default::default(),
            written: AtomicU64::new(0),
            reader: Mutex::new(None),
            bulk: Mutex::new(None),
            budget: Arc::new(Semaphore::new(MAX_BULK_IN_FLIGHT / BUDGET_UNIT)),
        })
    }

    /// Starts the task that reads this link's replies.
    pub(super) fn read_from<R>(self: &Arc<Self>, reader: FrameReader<R>)
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let reader = reader.counting(self.read_bytes.clone());
        let task = tokio::spawn(read_replies(self.clone(), reader));
        *lock(&self.reader) = Some(task.abort_handle());
    }

    /// Joins the link to its hub: losses are reported to `watch`, handles
    /// in replies bind to `hub`; the bulk link beside it too.
    pub(super) fn join(&self, watch: &Arc<Watch>, hub: &Arc<HubInner>) {
        *lock(&self.watch) = Some(watch.clone());
        *lock(&self.hub) = Some(Arc::downgrade(hub));
        if let Some(bulk) = lock(&self.bulk).as_ref() {
            *lock(&bulk.hub) = Some(Arc::downgrade(hub));
        }
    }

    /// The hub this link belongs to, while it lives.
    fn hub(&self) -> Option<ObjectHub> {
        lock(&self.hub)
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .map(ObjectHub::from_inner)
    }

    /// Fails every waiting call: the engine is gone.
    pub(super) fn lose(&self) {
        let waiters: Vec<Waiter> = {
            let mut p = lock(&self.pending);
            p.lost = true;
            p.calls.drain().map(|(_, w)| w).collect()
        };
        for w in waiters {
            w.send(Err(Error::EngineLost(self.node)));
        }
        self.writer.close();
        if let Some(watch) = lock(&self.watch).as_ref() {
            watch.lost(self.node);
        }
    }

    /// An object of this link's engine panicked: the hub's subscribers hear
    /// of it.
    fn object_failed(&self, object: ObjectId, message: String, restarted: bool) {
        let r = self
            .hub()
            .and_then(|hub| hub.get_ref(self.node, object))
            .unwrap_or(crate::id::Ref::new(
                self.node,
                object,
                crate::id::TypeTag(0),
            ));
        let event = match restarted {
            true => super::hub::ClusterEvent::ObjectRestarted { r, message },
            false => super::hub::ClusterEvent::ObjectFailed { r, message },
        };
        if let Some(watch) = lock(&self.watch).as_ref() {
            watch.send(event);
        }
    }

    /// The link large bodies take (the bulk one, if there is one).
    pub(super) fn large_bodies(self: &Arc<Self>) -> Arc<Link> {
        lock(&self.bulk).clone().unwrap_or_else(|| self.clone())
    }

    /// This engine's metrics, registered on first use.
    pub(super) fn metrics(&self) -> Arc<NodeMetrics> {
        self.metrics
            .get_or_init(|| Arc::new(NodeMetrics::new(self.node)))
            .clone()
    }

    /// Forgets a withdrawn call's waiter (here and on the bulk link).
    pub(super) fn forget(&self, call: CallId) {
        let here = lock(&self.pending).calls.remove(call);
        if here.is_none() {
            if let Some(bulk) = lock(&self.bulk).clone() {
                lock(&bulk.pending).calls.remove(call);
            }
        }
    }

    /// Withdraws every call waiting here and on the bulk link: each fails
    /// with `Timeout`, and the engine is told to drop it.
    pub(super) fn withdraw_all(&self) {
        let waiters: Vec<(CallId, Waiter)> = lock(&self.pending).calls.drain().collect();
        for (call, w) in waiters {
            w.send(Err(Error::Timeout));
            // A closed link's engine is gone, and the call with it.
            let _ = self.writer.send(&Message::Cancel { call }, Bytes::new());
        }
        if let Some(bulk) = lock(&self.bulk).clone() {
            bulk.withdraw_all();
        }
    }

    /// Calls waiting for their reply here and on the bulk link.
    pub(super) fn pending_calls(&self) -> usize {
        let bulk = lock(&self.bulk)
            .as_ref()
            .map_or(0, |b| lock(&b.pending).calls.len());
        lock(&self.pending).calls.len() + bulk
    }

    pub(super) fn is_lost(&self) -> bool {
        lock(&self.pending).lost
    }

    /// Puts a call in the pending table (unless the engine is lost).
    fn register(&self, call: CallId, waiter: Waiter) -> Result<()> {
        let mut p = lock(&self.pending);
        if p.lost {
            return Err(Error::EngineLost(self.node));
        }
        p.calls.insert(call, waiter);
        Ok(())
    }

    /// Writes a registered call's request; on failure it leaves the table.
    fn write(&self, call: CallId, op: Op, meta: Meta, body: Bytes) -> Result<()> {
        self.sent.fetch_add(body.len() as u64, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.writer
            .send_counted(&Message::Request(call, op, meta), body)
            .map(|size| {
                self.written.fetch_add(size, Ordering::Relaxed);
                if crate::telemetry::on() {
                    self.metrics().bytes_sent.increment(size);
                }
            })
            .map_err(|e| {
                lock(&self.pending).calls.remove(call);
                match e {
                    NetError::Closed | NetError::Io(_) => Error::EngineLost(self.node),
                    other => other.into(),
                }
            })
    }
    /// Sends a request; the receiver gets its reply. Large bodies go over
    /// the bulk connection (when there is one), within its byte budget.
    pub(super) fn request(
        self: &Arc<Self>,
        call: CallId,
        op: Op,
        meta: Meta,
        body: Bytes,
    ) -> Result<oneshot::Receiver<Result<Reply>>> {
        // A large value's reply comes back on the bulk connection: it waits
        // there, while the request keeps its place on this one.
        if let Op::GetBulk(object) = op {
            let (tx, rx) = oneshot::channel();
            let Some(bulk) = lock(&self.bulk).clone() else {
                return self.request(call, Op::Get(object), meta, body);
            };
            let tx = Replies::Once(tx);
            bulk.register(call, Waiter { tx, budget: None })?;
            if let Err(e) = self.write(call, op, meta, body) {
                lock(&bulk.pending).calls.remove(call);
                return Err(e);
            }
            return Ok(rx);
        }
        // Large bodies go over the bulk connection (when the engine has one),
        // within its byte budget.
        let bulk = (body.len() > BULK_THRESHOLD)
            .then(|| lock(&self.bulk).clone())
            .flatten();
        let (tx, rx) = oneshot::channel();
        let tx = Replies::Once(tx);
        let Some(bulk) = bulk else {
            self.register(call, Waiter { tx, budget: None })?;
            self.write(call, op, meta, body)?;
            return Ok(rx);
        };
        let permits = budget_permits(body.len());
        match bulk.budget.clone().try_acquire_many_owned(permits) {
            Ok(permit) => {
                bulk.register(
                    call,
                    Waiter {
                        tx,
                        budget: Some(permit),
                    },
                )?;
                bulk.write(call, op, meta, body)?;
            }
            Err(_) => {
                // Over budget: the request waits (off the caller's thread)
                // until earlier large ones are answered, then goes.
                bulk.register(call, Waiter { tx, budget: None })?;
                current_or_background().spawn(async move {
                    let Ok(permit) = bulk.budget.clone().acquire_many_owned(permits).await else {
                        return;
                    };
                    match lock(&bulk.pending).calls.get_mut(call) {
                        Some(w) => w.budget = Some(permit),
                        // Lost meanwhile (and already told so).
                        None => return,
                    }
                    if let Err(e) = bulk.write(call, op, meta, body) {
                        if let Some(w) = lock(&bulk.pending).calls.remove(call) {
                            w.send(Err(e));
                        }
                    }
                });
            }
        }
        Ok(rx)
    }

    /// Sends a request whose answer is a stream: its items, then its end,
    /// come on the receiver.
    pub(super) fn request_stream(
        &self,
        call: CallId,
        op: Op,
        meta: Meta,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<Result<Piece>>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let tx = Replies::Stream(tx);
        self.register(call, Waiter { tx, budget: None })?;
        self.write(call, op, meta, Bytes::new())?;
        Ok(rx)
    }

    /// The bytes of large bodies on the bulk connection, sent (or waiting
    /// to be sent) and not yet answered.
    pub(super) fn bulk_bytes_in_flight(&self) -> usize {
        let Some(bulk) = lock(&self.bulk).clone() else {
            return 0;
        };
        (MAX_BULK_IN_FLIGHT / BUDGET_UNIT - bulk.budget.available_permits()) * BUDGET_UNIT
    }
}

/// The budget permits a body of `len` bytes takes: its size in units, at
/// most the whole budget (so that a larger body still goes, alone).
fn budget_permits(len: usize) -> u32 {
    let total = MAX_BULK_IN_FLIGHT / BUDGET_UNIT;
    len.div_ceil(BUDGET_UNIT).min(total) as u32
}

async fn read_replies<R: AsyncRead + Unpin>(link: Arc<Link>, mut reader: FrameReader<R>) {
    let mut arrived = Instant::now();
    loop {
        let read = match reader.buffered() {
            Ok(None) => {
                let read = reader.next().await;
                arrived = Instant::now();
                read
            }
            other => other,
        };
        let frame = match read {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(node = %link.node, error = %e, "connection to engine failed");
                break;
            }
        };
        link.received.fetch_add(frame.wire_len, Ordering::Relaxed);
        if crate::telemetry::on() {
            link.metrics().bytes_received.increment(frame.wire_len);
        }
        match frame.message {
            Message::Reply(call, outcome, handles) => {
                link.replies.fetch_add(1, Ordering::Relaxed);
                // The handles land even if nobody waits for the reply.
                let landing = match handles.is_empty() {
                    true => None,
                    false => link
                        .hub()
                        .and_then(|hub| Landing::new(&hub, Flight::Lent(handles))),
                };
                let waiter = lock(&link.pending).calls.remove(call);
                if let Some(w) = waiter {
                    // (If the caller dropped its Call, the reply is discarded.)
                    w.send(Ok(Reply {
                        outcome,
                        body: frame.body,
                        landing,
                        arrived: Some(arrived),
                    }));
                }
            }
            Message::Ping { seq } => {
                // If this fails the link is closing; the read loop ends next.
                let _ = link.writer.send(&Message::Pong { seq }, Bytes::new());
            }
            Message::Item(call, head, handles) => {
                let landing = match handles.is_empty() {
                    true => None,
                    false => link
                        .hub()
                        .and_then(|hub| Landing::new(&hub, Flight::Lent(handles))),
                };
                let item = Reply {
                    outcome: Outcome::Value(head),
                    body: frame.body,
                    landing,
                    arrived: Some(arrived),
                };
                if let Some(w) = lock(&link.pending).calls.get(call) {
                    w.tx.item(item);
                }
            }
            Message::Items(call, items) => {
                let hub = link.hub();
                let pending = lock(&link.pending);
                let Some(w) = pending.calls.get(call) else {
                    continue;
                };
                for crate::net::wire::StreamItem(head, handles) in items {
                    let landing = match (handles.is_empty(), &hub) {
                        (false, Some(hub)) => Landing::new(hub, Flight::Lent(handles)),
                        _ => None,
                    };
                    w.tx.item(Reply {
                        outcome: Outcome::Value(head),
                        body: AlignedBuf::new(),
                        landing,
                        arrived: Some(arrived),
                    });
                }
            }
            Message::ObjectFailed {
                object,
                message,
                restarted,
            } => link.object_failed(object, message, restarted),
            m @ (Message::FeedCredit { .. } | Message::FeedCancel { .. }) => {
                if let Some(hub) = link.hub() {
                    hub.feed_message(m);
                }
            }
            other => {
                tracing::debug!(node = %link.node, message = ?std::mem::discriminant(&other), "ignoring unexpected message");
            }
        }
    }
    link.lose();
}
