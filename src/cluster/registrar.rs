//! The client's registration listener: launched engines dial back here,
//! prove the cluster key, show their one-time token and say where they
//! listen; the hub then connects to them.

use crate::id::NodeId;
use crate::net::key::same_secret;
use crate::net::tls::Identity;
use crate::net::wire::{Message, Refusal};
use crate::net::{accept_tcp, AcceptAs, ClusterKey, Limits, NetError, TlsPolicy, WriteMode};
use crate::proxy::ObjectHub;
use bytes::Bytes;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// The node id an engine joining by profile dials as, before it is given
/// its own.
pub(crate) const JOINING: NodeId = NodeId(u32::MAX - 1);

/// How long a registering engine may take to say who it is.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// An engine that registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Joined {
    pub(crate) node: NodeId,
    pub(crate) addr: SocketAddr,
    pub(crate) pid: u32,
}

struct Shared {
    key: ClusterKey,
    tls: TlsPolicy,
    launch: [u8; 32],
    /// Tokens handed out and not yet used, by the node each admits (the
    /// node a registrant claims picks the token its own is compared with,
    /// in constant time).
    pending: Mutex<HashMap<NodeId, [u8; 32]>>,
    joined: Mutex<Vec<Joined>>,
    refused: std::sync::atomic::AtomicUsize,
    identity: OnceLock<Identity>,
    hub: ObjectHub,
    /// The next free slot (shared with the launcher's numbering).
    next: Arc<std::sync::atomic::AtomicUsize>,
}

/// The registration listener of one cluster.
pub(crate) struct Registrar {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::AbortHandle,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registrar {
    /// Listens on `ip` (port 0); engines that register are added to `hub`.
    pub(crate) async fn open(
        ip: IpAddr,
        key: ClusterKey,
        tls: TlsPolicy,
        hub: ObjectHub,
        next: Arc<std::sync::atomic::AtomicUsize>,
    ) -> crate::Result<Registrar> {
        let listener = TcpListener::bind((ip, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            key,
            tls,
            launch: crate::net::key::random_bytes()?,
            pending: Mutex::new(HashMap::new()),
            joined: Mutex::new(Vec::new()),
            refused: Default::default(),
            identity: OnceLock::new(),
            hub,
            next,
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    // Each on its own task: one slow engine holds up nobody.
                    Ok((stream, _)) => {
                        tokio::spawn(register(stream, serving.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "registration accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok(Registrar {
            addr,
            shared,
            task: task.abort_handle(),
        })
    }

    /// Where engines dial back.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A one-time token for engine `node` of this launch.
    pub(crate) fn token_for(&self, node: NodeId) -> [u8; 32] {
        let token = self.shared.key.join_token(&self.shared.launch, node.0);
        lock(&self.shared.pending).insert(node, token);
        token
    }

    /// The engines registered so far (and connected to by the hub).
    pub(crate) fn joined(&self) -> Vec<Joined> {
        lock(&self.shared.joined).clone()
    }

    /// Where and how engines started by hand join this cluster (for the
    /// profile): the registration address and this launch's nonce. An engine
    /// holding the profile (and so the key) makes the join token from them.
    pub(crate) fn join_point(&self) -> super::profile::JoinPoint {
        super::profile::JoinPoint {
            addr: self.addr,
            launch: hex::encode(self.shared.launch),
        }
    }

    /// Registrations refused so far (bad, stale or replayed tokens).
    pub(crate) fn refused(&self) -> usize {
        self.shared
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn register(stream: TcpStream, shared: Arc<Shared>) {
    let how = AcceptAs {
        key: &shared.key,
        me: NodeId::CLIENT,
        policy: shared.tls,
        limits: Limits::default(),
        frame_timeout: REGISTER_TIMEOUT,
        liveness: crate::net::Liveness::default(),
        latency: crate::net::Latency::Park,
    };
    let identity = || match shared.identity.get() {
        Some(id) => Ok(id.clone()),
        None => {
            let id = Identity::generate()?;
            Ok(shared.identity.get_or_init(|| id).clone())
        }
    };
    let mut link = match accept_tcp(stream, how, WriteMode::Immediate, identity).await {
        Ok(link) => link,
        Err(e) => {
            tracing::info!(error = %e, "registration refused at the handshake");
            return;
        }
    };
    let said = tokio::time::timeout(REGISTER_TIMEOUT, link.reader.next()).await;
    let (token, addr, pid) = match said {
        Ok(Ok(Some(frame))) => match frame.message {
            Message::Register { token, addr, pid } => (token, addr, pid),
            _ => return,
        },
        _ => return,
    };
    // A handed-out token is good once, for the node it was made for; the
    // join token of this launch admits an engine started by hand, as the
    // next free node.
    let joining = link.peer == JOINING
        && same_secret(&token, &shared.key.join_token(&shared.launch, JOINING.0));
    let admitted = if joining {
        let slot = shared
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(NodeId(slot as u32))
    } else {
        let mut pending = lock(&shared.pending);
        match pending.get(&link.peer) {
            Some(expected) if same_secret(expected, &token) => {
                pending.remove(&link.peer);
                Some(link.peer)
            }
            _ => None,
        }
    };
    let Some(node) = admitted else {
        shared
            .refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(peer = %link.peer, "registration refused: bad token");
        let refusal = Message::Refused {
            reason: Refusal::Token,
        };
        // It learns why if it still listens.
        let _ = link.writer.send(&refusal, Bytes::new());
        linger(link.writer).await;
        return;
    };
    if link
        .writer
        .send(&Message::Registered { node }, Bytes::new())
        .is_err()
    {
        return;
    }
    linger(link.writer).await;
    // Known from now on (its pid among the cluster's, for stopping it),
    // even if it turns out unreachable.
    lock(&shared.joined).push(Joined { node, addr, pid });
    // The engine serves once it reads `Registered`: connect, retrying
    // while it gets there.
    let mut last: Option<crate::Error> = None;
    for attempt in 0..50u64 {
        match shared.hub.add_engine(node, addr).await {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(10 * (attempt + 1).min(20))).await;
    }
    if let Some(e) = last {
        tracing::warn!(%node, %addr, error = %crate::cluster::report(&e), "registered engine unreachable");
    }
}

/// Lets the last frame go out before the connection closes.
async fn linger(writer: crate::net::FrameWriter) {
    for _ in 0..100 {
        if writer.queued() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writer.close();
}

/// Engine side: registers with the client at `join` as engine `node`,
/// listening at `addr`, with the `token` it was given. Once the client took
/// it, the node id to serve as; [`NetError::Token`] when the token is
/// refused.
pub async fn register_with(
    join: SocketAddr,
    key: &ClusterKey,
    node: NodeId,
    tls: TlsPolicy,
    token: [u8; 32],
    addr: SocketAddr,
) -> Result<NodeId, NetError> {
    let mut link = crate::net::dial_tcp(
        join,
        key,
        node,
        tls.into(),
        Limits::default(),
        WriteMode::Immediate,
    )
    .await?;
    let pid = std::process::id();
    link.writer
        .send(&Message::Register { token, addr, pid }, Bytes::new())?;
    match tokio::time::timeout(REGISTER_TIMEOUT, link.reader.next()).await {
        Ok(Ok(Some(frame))) => match frame.message {
            Message::Registered { node } => Ok(node),
            Message::Refused { reason } => Err(crate::net::handshake::refusal_error(reason)),
            _ => Err(NetError::Protocol {
                expected: "Registered",
            }),
        },
        Ok(Ok(None)) => Err(NetError::Closed),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(NetError::Timeout),
    }
}
