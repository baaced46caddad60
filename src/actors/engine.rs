//! [`Engine`]: an actor host serving objects over TCP.

use super::object_engine::ObjectTable;
use super::session::{Close, Session};
use crate::id::NodeId;
use crate::net::connection::WriteMode;
use crate::net::{handshake, ClusterKey, FrameReader, FrameWriter, Limits};
use actix::Addr;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// How long a new connection may take to pass the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// What every session of one engine shares (all on the engine's one thread).
pub(crate) struct EngineState {
    pub(crate) node: NodeId,
    pub(crate) objects: RefCell<ObjectTable>,
    pub(crate) sessions: RefCell<HashMap<u64, Addr<Session>>>,
    pub(crate) stop: Notify,
    next_session: Cell<u64>,
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
}

impl Engine {
    /// An engine with node id `node` that admits peers holding `key`.
    pub fn new(node: NodeId, key: ClusterKey) -> Self {
        Engine {
            node,
            key,
            limits: Limits::default(),
        }
    }

    /// Sets the frame and body size limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
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
        if actix_rt::Arbiter::try_current().is_none() {
            return Err(EngineError::NoActixSystem);
        }
        let state = Rc::new(EngineState {
            node: self.node,
            objects: RefCell::new(ObjectTable::default()),
            sessions: RefCell::new(HashMap::new()),
            stop: Notify::new(),
            next_session: Cell::new(0),
        });
        tracing::info!(node = %self.node, addr = ?listener.local_addr().ok(), "engine serving");
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
                _ = &mut shutdown => break,
                _ = state.stop.notified() => break,
            }
        }
        drop(listener);
        let sessions: Vec<_> = state.sessions.borrow().values().cloned().collect();
        for s in sessions {
            s.do_send(Close);
        }
        // Let sessions finish their stop and flush their last replies.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !state.sessions.borrow().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        state.objects.borrow_mut().clear();
        tracing::info!(node = %self.node, "engine stopped");
        Ok(())
    }
}

async fn open_session(id: u64, stream: TcpStream, engine: Engine, state: Rc<EngineState>) {
    // Small frames must not wait for Nagle; a failure here only costs latency.
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = FrameReader::new(read, engine.limits);
    let handshake = handshake::accept(&mut reader, &mut write, &engine.key, state.node);
    let peer = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(peer)) => peer,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "handshake refused");
            return;
        }
        Err(_) => {
            tracing::info!("handshake timed out");
            return;
        }
    };
    let writer = FrameWriter::tcp(write, WriteMode::Batched);
    Session::start(id, peer, reader, writer, state);
}
