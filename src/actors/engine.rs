//! [`Engine`]: an actor host serving objects over TCP.

use super::hosted::Produced;
use super::object::{catch, Filled, Held, Keep, ObjectActor, Operand, Shared, Stored};
use super::object_engine::{Entry, ObjectTable};
use super::registry;
use super::session::{Close, Session};
use crate::id::NodeId;
use crate::id::ObjectId;
use crate::net::connection::WriteMode;
use crate::net::tls::{Binding, Identity, PLAINTEXT};
use crate::net::wire::{EngineStats, Fault};
use crate::net::AlignedBuf;
use crate::net::{accept_tcp, AcceptAs, Dialed};
use crate::net::{
    handshake, ClusterKey, FrameReader, FrameWriter, Limits, LinkOptions, Liveness, NetError,
    TlsPolicy,
};
use actix::Actor;
use actix::Addr;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

/// Buffer of one in-process connection, each way.
const LOCAL_BUFFER: usize = 1 << 20;

/// Opens in-process connections to an engine running on another thread of
/// this process: an in-memory byte pipe instead of a socket, with the same
/// frames and handshake.
#[derive(Clone, Debug)]
pub(crate) struct LocalDialer {
    tx: mpsc::UnboundedSender<DuplexStream>,
}

impl LocalDialer {
    /// A dialer and the receiver the engine serves.
    pub(crate) fn new() -> (LocalDialer, mpsc::UnboundedReceiver<DuplexStream>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (LocalDialer { tx }, rx)
    }

    /// A new connection, or `None` when the engine has stopped.
    pub(crate) fn dial(&self) -> Option<DuplexStream> {
        let (ours, theirs) = tokio::io::duplex(LOCAL_BUFFER);
        self.tx.send(theirs).ok()?;
        Some(ours)
    }
}

/// How long a stopping engine waits for the calls in flight to finish.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

pub use crate::net::handshake::HANDSHAKE_TIMEOUT;

/// Why an engine could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// `serve` must run inside an actix system (`actix_rt::System::new().block_on(..)`).
    #[error("Engine::serve must run inside an actix system (actix_rt::System)")]
    NoActixSystem,
    /// The listener failed.
    #[error("engine listener failed")]
    Io(#[from] std::io::Error),
}

/// A live session: its actor and its count of calls in flight.
pub(crate) type SessionEntry = (Addr<Session>, Arc<AtomicUsize>);

/// What every session of one engine shares (all on the engine's one thread).
pub(crate) struct EngineState {
    pub(crate) node: NodeId,
    pub(crate) key: ClusterKey,
    pub(crate) limits: Limits,
    pub(crate) peers: super::peers::Peers,
    /// Calls one connection may have in flight before new ones get `Busy`.
    pub(crate) max_in_flight: usize,
    /// Calls one object may have queued before new ones get `Busy`.
    pub(crate) max_queued: usize,
    /// Which links are TLS, and how they notice a dead peer.
    pub(crate) links: LinkOptions,
    /// The cluster key's fingerprint: in-process handoffs go only between
    /// engines with the same one.
    pub(crate) fingerprint: [u8; 32],
    /// This engine's TLS certificate, made when the first TLS link comes.
    identity: RefCell<Option<Identity>>,
    pub(crate) objects: RefCell<ObjectTable>,
    pub(crate) sessions: RefCell<HashMap<u64, SessionEntry>>,
    pub(crate) stop: Notify,
    pub(crate) requests: Cell<u64>,
    pub(crate) calls: Cell<u64>,
    pub(crate) bytes_received: Cell<u64>,
    /// Kept results on their way to their waiting objects.
    deliveries: RefCell<HashMap<ObjectId, Result<Held, Fault>>>,
    /// Each object's value as an operand for others, and who waits for it.
    pub(crate) snapshots: RefCell<super::snapshots::Snapshots>,
    /// Objects released while still waiting for their value: they live on
    /// until it comes, to run the calls already queued on them.
    orphans: RefCell<HashMap<ObjectId, Addr<ObjectActor>>>,
    next_session: Cell<u64>,
    /// Clients' bulk connections, by the token that pairs each with its
    /// main connection (large replies go back on them).
    pub(crate) bulk_links: RefCell<HashMap<u64, FrameWriter>>,
}

impl EngineState {
    /// A value from its encoding: hosted when its type is registered here,
    /// else stored as it is.
    pub(crate) fn held_from(
        type_name: &str,
        head: Vec<u8>,
        body: AlignedBuf,
    ) -> Result<Held, Fault> {
        match registry::lookup(type_name) {
            Some(entry) => catch(|| (entry.host)(&head, body))
                .and_then(|r| r)
                .map(Held::Hosted),
            None => Ok(Held::Stored(Stored {
                type_name: type_name.to_owned(),
                head,
                body: body.into_bytes(),
            })),
        }
    }

    /// Starts an object's actor and enters it in the table.
    pub(crate) fn insert(
        self: &Rc<Self>,
        id: ObjectId,
        held: Held,
        type_name: &str,
        nbytes: u64,
        owner: u64,
    ) -> Result<Addr<ObjectActor>, Fault> {
        let mut table = self.objects.borrow_mut();
        if table.contains(&id) {
            return Err(Fault::Refused(format!("object id {id:#} is in use")));
        }
        let snapshot = match held {
            Held::Pending => None,
            ref other => Some(other.snapshot()),
        };
        self.snapshots.borrow_mut().insert(id, snapshot);
        let addr = ObjectActor::new(id, held, Rc::downgrade(self)).start();
        let entry = Entry {
            addr: addr.clone(),
            queued: Default::default(),
            type_name: Rc::from(type_name),
            nbytes,
            owner,
        };
        table.insert(id, entry);
        Ok(addr)
    }

    /// A value arrived for `object`: it fills the placeholder waiting for
    /// it, or (when it came before its announcement) becomes a new object
    /// owned by session `owner`.
    pub(crate) fn fill_or_insert(
        self: &Rc<Self>,
        object: ObjectId,
        held: Result<Held, Fault>,
        type_name: &str,
        nbytes: u64,
        owner: u64,
    ) -> Result<(), Fault> {
        if let Some(addr) = self.waiting_actor(&object) {
            if let Some(entry) = self.objects.borrow_mut().get_mut(&object) {
                entry.nbytes = nbytes;
            }
            let failed = held.as_ref().err().cloned();
            self.deliver(Keep { id: object, addr }, held);
            return match failed {
                None => Ok(()),
                Some(f) => Err(f),
            };
        }
        held.and_then(|held| self.insert(object, held, type_name, nbytes, owner))
            .map(|_| ())
    }

    /// A call's result as something an object actor can hold.
    pub(crate) fn held_from_produced(produced: Produced) -> Result<Held, Fault> {
        match produced {
            Produced::Object(obj) => Ok(Held::Hosted(obj)),
            Produced::Value(enc, type_name) => {
                if registry::lookup(type_name).is_some() {
                    Self::held_from(type_name, enc.head, AlignedBuf::from_slice(&enc.body))
                } else {
                    Ok(Held::Stored(Stored {
                        type_name: type_name.to_owned(),
                        head: enc.head,
                        body: enc.body,
                    }))
                }
            }
        }
    }

    /// Hands a kept result to its waiting object (which runs the calls
    /// queued on it, even if its client has released it meanwhile).
    pub(crate) fn deliver(&self, keep: Keep, result: Result<Held, Fault>) {
        self.orphans.borrow_mut().remove(&keep.id);
        if let (Some(entry), Ok(held)) = (self.objects.borrow_mut().get_mut(&keep.id), &result) {
            entry.type_name = Rc::from(held.type_name());
        }
        self.deliveries.borrow_mut().insert(keep.id, result);
        keep.addr.do_send(Filled);
    }

    /// Announces a call that may change a shareable object (see
    /// `Snapshots`); false when the object is no operand.
    pub(crate) fn announce_change(&self, id: &ObjectId) -> bool {
        self.snapshots.borrow_mut().announce(id)
    }

    /// An announced change has run, leaving `value`.
    pub(crate) fn change_done(&self, id: &ObjectId, value: Shared) {
        self.snapshots.borrow_mut().change_done(id, value);
    }

    /// Whether the object is waiting for its value.
    pub(crate) fn is_pending(&self, id: &ObjectId) -> bool {
        self.snapshots.borrow().is_pending(id) || self.orphans.borrow().contains_key(id)
    }

    /// Publishes an object's operand value, waking the calls that wait for it.
    pub(crate) fn publish(&self, id: ObjectId, value: Shared) {
        self.snapshots.borrow_mut().publish(&id, value);
    }

    /// Releases an object for its client. One still waiting for its value
    /// lives on as an orphan until the value comes.
    pub(crate) fn release(&self, id: &ObjectId) {
        let removed = self.objects.borrow_mut().remove(id);
        if let Some(entry) = removed {
            if self.is_pending(id) {
                self.orphans.borrow_mut().insert(*id, entry.addr);
            }
        }
        self.forget(id);
    }

    /// The actor of an object waiting for its value (live or orphaned).
    pub(crate) fn waiting_actor(&self, id: &ObjectId) -> Option<Addr<ObjectActor>> {
        let live = self.objects.borrow().get(id).map(|e| e.addr.clone());
        live.filter(|_| self.is_pending(id))
            .or_else(|| self.orphans.borrow().get(id).cloned())
    }

    /// An object as the operand of a call on another object.
    pub(crate) fn operand(&self, id: &ObjectId) -> Option<Operand> {
        self.snapshots.borrow_mut().operand(id)
    }

    /// Forgets the snapshots of objects no longer in the table (keeping
    /// those that calls still wait for, until they are published).
    pub(crate) fn prune_snapshots(&self) {
        let table = self.objects.borrow();
        self.snapshots.borrow_mut().retain(|id| table.contains(id));
    }

    /// Forgets a released object's snapshot, unless calls still wait for it.
    pub(crate) fn forget(&self, id: &ObjectId) {
        self.snapshots.borrow_mut().release(id);
    }

    /// Takes a delivered result (the waiting object's actor calls this).
    pub(crate) fn take_delivery(&self, id: &ObjectId) -> Option<Result<Held, Fault>> {
        self.deliveries.borrow_mut().remove(id)
    }

    /// The counters.
    pub(crate) fn stats(&self) -> EngineStats {
        EngineStats {
            objects: self.objects.borrow().len() as u64,
            requests: self.requests.get(),
            calls: self.calls.get(),
            bytes_received: self.bytes_received.get(),
        }
    }
}

/// An engine: one actix system that owns remote objects and serves calls on
/// them to every peer that passes the handshake.
///
/// ```no_run
/// use distob::{ClusterKey, Engine, NodeId};
/// actix_rt::System::new().block_on(async {
///     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
///     let engine = Engine::new(NodeId(0), ClusterKey::random());
///     engine.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Engine {
    node: NodeId,
    key: ClusterKey,
    limits: Limits,
    frame_timeout: Duration,
    max_in_flight: usize,
    max_queued: usize,
    tls: TlsPolicy,
    liveness: Liveness,
}

/// Calls one connection may have in flight by default: far above any
/// pipeline that still gains speed, far below what exhausts memory.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1 << 16;

/// Calls one object may have queued (waiting in its mailbox or running) by
/// default: a quarter of a connection's bound, so that one hot object
/// cannot take a whole connection's worth of memory.
pub const DEFAULT_MAX_QUEUED: usize = 1 << 14;

impl Engine {
    /// An engine with node id `node` that admits peers holding `key`.
    pub fn new(node: NodeId, key: ClusterKey) -> Self {
        Engine {
            node,
            key,
            limits: Limits::default(),
            frame_timeout: crate::net::connection::DEFAULT_FRAME_TIMEOUT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_queued: DEFAULT_MAX_QUEUED,
            tls: TlsPolicy::Auto,
            liveness: Liveness::default(),
        }
    }

    /// Sets how this engine's links notice a dead peer (default: within
    /// about 3 s; see [`Liveness`]).
    pub fn with_liveness(mut self, liveness: Liveness) -> Self {
        self.liveness = liveness;
        self
    }

    /// Sets which connections must be TLS, and which links to other engines
    /// are (default [`TlsPolicy::Auto`]: TLS to and from non-loopback
    /// addresses; plaintext from a non-loopback peer is refused).
    pub fn with_tls(mut self, tls: TlsPolicy) -> Self {
        self.tls = tls;
        self
    }

    /// The TLS policy.
    pub fn tls(&self) -> TlsPolicy {
        self.tls
    }

    /// The same engine as node `node` (given by the client it registered
    /// with).
    pub(crate) fn renamed(mut self, node: NodeId) -> Self {
        self.node = node;
        self
    }

    /// The cluster key it admits.
    pub(crate) fn key(&self) -> &ClusterKey {
        &self.key
    }

    /// Sets the frame and body size limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets how long a peer may stall in the middle of a frame (or of the
    /// handshake) before its connection is dropped (default 30 s; 10 s for
    /// the handshake as a whole).
    pub fn with_frame_timeout(mut self, timeout: Duration) -> Self {
        self.frame_timeout = timeout;
        self
    }

    /// Sets how many calls one connection may have in flight; beyond it new
    /// calls fail at once with [`Error::Busy`](crate::Error::Busy) instead
    /// of queueing without bound.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Sets how many calls one object may have queued (in its mailbox or
    /// running); beyond it new calls on that object fail at once with
    /// [`Error::Busy`](crate::Error::Busy), while other objects go on.
    pub fn with_max_queued_per_object(mut self, n: usize) -> Self {
        self.max_queued = n.max(1);
        self
    }

    /// This engine's node id.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Serves connections from `listener` until `shutdown` completes (or a
    /// peer asks the engine to stop); then stops accepting, closes every
    /// session, drops every object, and returns.
    ///
    /// Must run inside an actix system; every session and object actor runs
    /// on the calling thread.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), EngineError> {
        self.serve_with_local(listener, None, shutdown).await
    }

    /// [`serve`](Engine::serve), also taking in-process connections.
    pub(crate) async fn serve_with_local(
        self,
        listener: TcpListener,
        mut local: Option<mpsc::UnboundedReceiver<DuplexStream>>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), EngineError> {
        if actix_rt::Arbiter::try_current().is_none() {
            return Err(EngineError::NoActixSystem);
        }
        let state = Rc::new(EngineState {
            node: self.node,
            key: self.key.clone(),
            limits: self.limits,
            peers: Default::default(),
            max_in_flight: self.max_in_flight,
            max_queued: self.max_queued,
            links: LinkOptions {
                tls: self.tls,
                liveness: self.liveness,
            },
            fingerprint: self.key.fingerprint(),
            identity: RefCell::new(None),
            objects: RefCell::new(ObjectTable::default()),
            sessions: RefCell::new(HashMap::new()),
            stop: Notify::new(),
            requests: Cell::new(0),
            calls: Cell::new(0),
            bytes_received: Cell::new(0),
            deliveries: RefCell::new(HashMap::new()),
            snapshots: RefCell::new(Default::default()),
            orphans: RefCell::new(HashMap::new()),
            next_session: Cell::new(0),
            bulk_links: RefCell::new(HashMap::new()),
        });
        tracing::info!(node = %self.node, addr = ?listener.local_addr().ok(), "engine serving");
        // In-process engines take values from each other by reference.
        let mut listed = local
            .as_ref()
            .and_then(|_| listener.local_addr().ok())
            .map(|addr| super::exchange::enlist(addr, state.fingerprint));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let id = state.next_session.get();
                        state.next_session.set(id + 1);
                        actix_rt::spawn(open_session(id, stream, self.clone(), state.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(h) = next_handoff(&mut listed) => super::exchange::receive(&state, h),
                Some(stream) = next_local(&mut local) => {
                    let id = state.next_session.get();
                    state.next_session.set(id + 1);
                    actix_rt::spawn(open_local_session(id, stream, self.clone(), state.clone()));
                }
                _ = &mut shutdown => break,
                _ = state.stop.notified() => break,
            }
        }
        drop(listener);
        if let Some(listed) = &listed {
            super::exchange::delist(listed);
        }
        // Graceful: calls already in flight finish and are answered first
        // (up to a deadline), then the sessions close.
        let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
        let busy = |state: &EngineState| {
            state
                .sessions
                .borrow()
                .values()
                .any(|(_, n)| n.load(std::sync::atomic::Ordering::Relaxed) > 0)
        };
        while busy(&state) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let sessions: Vec<_> = state
            .sessions
            .borrow()
            .values()
            .map(|(a, _)| a.clone())
            .collect();
        for s in sessions {
            s.do_send(Close);
        }
        // Let sessions finish their stop and flush their last replies.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !state.sessions.borrow().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        state.objects.borrow_mut().clear();
        state.snapshots.borrow_mut().clear();
        state.orphans.borrow_mut().clear();
        tracing::info!(node = %self.node, "engine stopped");
        Ok(())
    }
}

async fn next_handoff(
    listed: &mut Option<super::exchange::Listed>,
) -> Option<super::exchange::Handoff> {
    match listed {
        Some(l) => l.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_local(
    local: &mut Option<mpsc::UnboundedReceiver<DuplexStream>>,
) -> Option<DuplexStream> {
    match local {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs the acceptor's handshake; on success the authenticated reader and
/// the peer's node id.
async fn handshake_peer<R, W>(
    read: R,
    write: &mut W,
    engine: &Engine,
    node: NodeId,
    binding: &Binding,
) -> Option<(NodeId, FrameReader<R>)>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = FrameReader::new(read, engine.limits).with_frame_timeout(engine.frame_timeout);
    let handshake = handshake::accept(&mut reader, write, &engine.key, node, binding);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(peer)) => Some((peer, reader)),
        Ok(Err(e)) => {
            tracing::info!(error = %e, "handshake refused");
            None
        }
        Err(_) => {
            tracing::info!("handshake timed out");
            None
        }
    }
}

impl EngineState {
    /// This engine's TLS identity, made on first use.
    fn identity(&self) -> Result<Identity, NetError> {
        if let Some(id) = self.identity.borrow().as_ref() {
            return Ok(id.clone());
        }
        let id = Identity::generate()?;
        *self.identity.borrow_mut() = Some(id.clone());
        Ok(id)
    }
}

async fn open_session(id: u64, stream: TcpStream, engine: Engine, state: Rc<EngineState>) {
    let how = AcceptAs {
        key: &engine.key,
        me: state.node,
        policy: engine.tls,
        limits: engine.limits,
        frame_timeout: engine.frame_timeout,
        liveness: engine.liveness,
    };
    match accept_tcp(stream, how, WriteMode::Batched, || state.identity()).await {
        Ok(Dialed {
            peer,
            reader,
            writer,
            ..
        }) => {
            Session::start(id, peer, reader, writer, state);
        }
        Err(e) => tracing::info!(error = %e, "connection refused"),
    }
}

async fn open_local_session(id: u64, stream: DuplexStream, engine: Engine, state: Rc<EngineState>) {
    let (read, mut write) = tokio::io::split(stream);
    if let Some((peer, reader)) =
        handshake_peer(read, &mut write, &engine, state.node, &PLAINTEXT).await
    {
        let writer = FrameWriter::stream(write, WriteMode::Batched);
        Session::start(id, peer, reader, writer, state);
    }
}
