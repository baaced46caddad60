//! [`Engine`]: an actor host serving objects over TCP.

pub use super::limits::{EngineLimits, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_QUEUED, DRAIN_DEADLINE};
use super::session::{Close, Session};
pub(crate) use super::state::EngineState;
use super::table::ObjectTable;
use crate::id::NodeId;
use crate::net::connection::WriteMode;
use crate::net::tls::{Binding, PLAINTEXT};
use crate::net::{accept_tcp, AcceptAs, Dialed};
use crate::net::{
    handshake, ClusterKey, FrameReader, FrameWriter, Latency, Limits, LinkOptions, Liveness,
    TlsPolicy,
};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
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

/// An engine: one actix system that owns remote objects and serves calls on
/// them to every peer that passes the handshake.
///
/// ```no_run
/// use distob::{Engine, NodeId, cluster::ClusterKey};
/// let engine = Engine::new(NodeId(0), ClusterKey::random()?);
/// actix_rt::System::new().block_on(async {
///     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
///     engine.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Engine {
    node: NodeId,
    key: ClusterKey,
    limits: EngineLimits,
    tls: TlsPolicy,
    liveness: Liveness,
    connect_timeout: Duration,
    latency: Latency,
}

impl Engine {
    /// An engine with node id `node` that admits peers holding `key`.
    pub fn new(node: NodeId, key: ClusterKey) -> Self {
        Engine {
            node,
            key,
            limits: EngineLimits::default(),
            tls: TlsPolicy::Auto,
            liveness: Liveness::default(),
            connect_timeout: crate::net::DEFAULT_CONNECT_TIMEOUT,
            latency: Latency::Park,
        }
    }

    /// Sets whether this engine's links poll for the next frame before
    /// parking (default [`Latency::Park`]; see [`Latency`]).
    pub fn with_latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
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

    /// Sets how long opening a link to another engine may take (default
    /// [`DEFAULT_CONNECT_TIMEOUT`](crate::net::DEFAULT_CONNECT_TIMEOUT)).
    pub fn with_connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
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

    /// Sets every bound the engine keeps (see [`EngineLimits`]).
    pub fn with_limits(mut self, limits: EngineLimits) -> Self {
        self.limits = EngineLimits {
            max_in_flight: limits.max_in_flight.max(1),
            max_queued_per_object: limits.max_queued_per_object.max(1),
            ..limits
        };
        self
    }

    /// The bounds it keeps.
    pub fn limits(&self) -> EngineLimits {
        self.limits
    }

    /// Sets the frame and body size limits.
    pub fn with_frame_limits(mut self, frames: Limits) -> Self {
        self.limits.frames = frames;
        self
    }

    /// Sets how long a peer may stall in the middle of a frame (or of the
    /// handshake) before its connection is dropped (default 30 s; 10 s for
    /// the handshake as a whole).
    pub fn with_frame_timeout(mut self, timeout: Duration) -> Self {
        self.limits.frame_timeout = timeout;
        self
    }

    /// Sets how many calls one connection may have in flight; beyond it new
    /// calls fail at once with [`Error::Busy`](crate::Error::Busy) instead
    /// of queueing without bound.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.limits.max_in_flight = n.max(1);
        self
    }

    /// Sets how many calls one object may have queued (in its mailbox or
    /// running); beyond it new calls on that object fail at once with
    /// [`Error::Busy`](crate::Error::Busy), while other objects go on.
    pub fn with_max_queued_per_object(mut self, n: usize) -> Self {
        self.limits.max_queued_per_object = n.max(1);
        self
    }

    /// Sets how long a stop lets the calls in flight finish and be
    /// answered (default [`DRAIN_DEADLINE`]).
    pub fn with_drain_deadline(mut self, d: Duration) -> Self {
        self.limits.drain_deadline = d;
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

    /// [`serve`](Engine::serve), also taking in-process connections (and
    /// handing values to the engines of this process by reference).
    pub(crate) async fn serve_with_local(
        self,
        listener: TcpListener,
        local: Option<(LocalDialer, mpsc::UnboundedReceiver<DuplexStream>)>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), EngineError> {
        if actix_rt::Arbiter::try_current().is_none() {
            return Err(EngineError::NoActixSystem);
        }
        let state = self.state(listener.local_addr().ok());
        tracing::info!(node = %self.node, addr = ?listener.local_addr().ok(), "engine serving");
        let (dialer, mut local) = match local {
            Some((d, rx)) => (Some(d), Some(rx)),
            None => (None, None),
        };
        // In-process engines take values from each other by reference, and
        // reach each other through in-memory pipes.
        let mut listed = dialer.and_then(|d| {
            let addr = listener.local_addr().ok()?;
            Some(super::exchange::enlist(addr, state.fingerprint, d))
        });
        actix_rt::spawn(publish_gauges(Rc::downgrade(&state)));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let id = state.new_session_id();
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
                    let id = state.new_session_id();
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
        drain(&state).await;
        tracing::info!(node = %self.node, "engine stopped");
        Ok(())
    }

    /// The state every session and object of this engine shares, with the
    /// local session of its own hub started.
    fn state(&self, addr: Option<std::net::SocketAddr>) -> Rc<EngineState> {
        let links = LinkOptions {
            tls: self.tls,
            liveness: self.liveness,
            connect_timeout: self.connect_timeout,
            latency: self.latency,
        };
        let (port, items) = crate::proxy::local::LocalPort::new(self.node);
        let hub = crate::proxy::ObjectHub::for_engine(self.node, self.key.clone(), links, port);
        let killed = std::num::NonZeroUsize::new(super::state::KILLED_REMEMBERED)
            .map_or_else(lru::LruCache::unbounded, lru::LruCache::new);
        let state = Rc::new(EngineState {
            node: self.node,
            addr,
            hub,
            max_in_flight: self.limits.max_in_flight,
            max_queued: self.limits.max_queued_per_object,
            drain_deadline: self.limits.drain_deadline,
            fingerprint: self.key.fingerprint(),
            identity: RefCell::new(None),
            objects: RefCell::new(ObjectTable::default()),
            sessions: RefCell::default(),
            stop: Notify::new(),
            requests: Cell::new(0),
            bytes_sent_closed: Cell::new(0),
            calls: Cell::new(0),
            bytes_received: Cell::new(0),
            deliveries: RefCell::default(),
            snapshots: RefCell::new(Default::default()),
            orphans: RefCell::default(),
            trimmer: Default::default(),
            next_session: Cell::new(0),
            next_timer: Cell::new(0),
            bulk_links: RefCell::default(),
            holder_of: RefCell::default(),
            names: RefCell::default(),
            killed: RefCell::new(killed),
            cancelled: RefCell::new(
                std::num::NonZeroUsize::new(super::state::KILLED_REMEMBERED)
                    .map_or_else(lru::LruCache::unbounded, lru::LruCache::new),
            ),
            running: RefCell::default(),
            credits: RefCell::default(),
        });
        let id = state.new_session_id();
        Session::start_local(id, items, state.clone());
        state
    }
}

/// Graceful stop: calls already in flight finish and are answered first
/// (up to a deadline), then the sessions close and the objects go.
async fn drain(state: &Rc<EngineState>) {
    let deadline = tokio::time::Instant::now() + state.drain_deadline;
    let busy = |state: &EngineState| {
        state
            .sessions
            .borrow()
            .values()
            .any(|(_, n, _)| n.load(std::sync::atomic::Ordering::Relaxed) > 0)
    };
    while busy(state) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sessions: Vec<_> = state
        .sessions
        .borrow()
        .values()
        .map(|(a, _, _)| a.clone())
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
}

/// Sets this engine's gauges (objects, calls in flight and queued, memory)
/// every [`GAUGE_PERIOD`](crate::telemetry::meters::GAUGE_PERIOD), for the
/// recorder of this process, until the engine goes.
async fn publish_gauges(state: std::rc::Weak<EngineState>) {
    use crate::telemetry::meters;
    let mut tick = tokio::time::interval(meters::GAUGE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        let stats = state.stats();
        let gauges = meters::EngineGauges {
            objects: stats.objects,
            in_flight: stats.in_flight,
            queued: stats.queued,
            rss_bytes: stats.rss_bytes,
        };
        meters::engine_gauges(state.node, gauges);
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
    let mut reader = FrameReader::new(read, engine.limits.frames)
        .with_frame_timeout(engine.limits.frame_timeout);
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

async fn open_session(id: u64, stream: TcpStream, engine: Engine, state: Rc<EngineState>) {
    let how = AcceptAs {
        key: &engine.key,
        me: state.node,
        policy: engine.tls,
        limits: engine.limits.frames,
        frame_timeout: engine.limits.frame_timeout,
        liveness: engine.liveness,
        latency: engine.latency,
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
