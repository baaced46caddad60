//! [`ObjectHub`]: the client's connections to every engine, its pending
//! calls, and its view of every object it holds.
//!
//! Shape: a cheap `Clone` handle; per engine one [`Link`](super::link::Link) (in `link.rs`) = a shared writer
//! that callers write their frames to directly (no worker in the middle of a
//! call) + one reader task that owns the read side and completes pending
//! calls from a map keyed by call id. Each engine link has a second, bulk
//! link beside it: bodies over
//! [`BULK_THRESHOLD`](super::link::BULK_THRESHOLD) (large scatters) take it,
//! so small calls made meanwhile are not queued behind their bytes. The
//! object is announced (`Op::Expect`) on the main link first, so calls on it
//! keep their order. The bulk link has a byte budget ([`MAX_BULK_IN_FLIGHT`](crate::MAX_BULK_IN_FLIGHT)):
//! a large send beyond it waits, in a task, until earlier ones are answered.

use super::call::{Call, Decode};
use super::runtime::current_or_background;
use crate::actors::LocalDialer;
use crate::error::{Error, Result};
use crate::id::{CallId, NodeId, ObjectId, Ref};
use crate::net::wire::{Message, Op};
use crate::net::ClusterKey;
use crate::net::{LinkOptions, TlsPolicy};
use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub(crate) use super::link::Reply;
use super::link::{lock, Link};
use super::reconnect::{ClusterEvents, Reconnecting, Watch};

/// What the hub knows of one object it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldObject {
    /// The Rust type name.
    pub type_name: &'static str,
    /// Encoded size when it was scattered.
    pub nbytes: u64,
}

pub(crate) struct HubInner {
    links: RwLock<Vec<Option<Arc<Link>>>>,
    objects: Mutex<HashMap<Ref, HeldObject>>,
    /// Objects of engines that restarted since: gone for good.
    lost: Mutex<std::collections::HashSet<Ref>>,
    has_lost: std::sync::atomic::AtomicBool,
    next_call: AtomicU64,
    cursor: AtomicUsize,
    key: ClusterKey,
    options: LinkOptions,
    /// Where the links report losses (events, and the reconnection supervisor).
    pub(super) watch: Arc<Watch>,
    /// The byte bound of each object's method cache.
    cache_limit: AtomicUsize,
    /// Automatic reconnection, once asked for.
    pub(super) reconnecting: Mutex<Option<Arc<Reconnecting>>>,
}

/// Something that happened to the cluster's engines, as the hub saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterEvent {
    /// The connection to the engine is lost; calls on it fail with
    /// [`Error::EngineLost`].
    EngineLost(NodeId),
    /// The engine is reachable again (after [`ObjectHub::reconnect`]); the
    /// objects it held before are gone ([`Error::ObjectLost`]).
    EngineReconnected(NodeId),
    /// This subscriber fell more than
    /// [`EVENT_BACKLOG`](super::reconnect::EVENT_BACKLOG) events behind and
    /// missed `missed` of them; `lost` are the engines lost when it was told.
    Missed {
        /// How many events it missed.
        missed: u64,
        /// The engines lost at that moment.
        lost: Vec<NodeId>,
    },
}

impl Drop for HubInner {
    fn drop(&mut self) {
        self.watch.close();
        let links = self.links.get_mut().unwrap_or_else(|p| p.into_inner());
        for link in links.iter().flatten() {
            link.shut();
        }
    }
}

/// The client's view of every object in the cluster, and its connections to
/// the engines. Plain tokio, `Send + Sync`, cheap to clone.
///
/// As a dict: [`len`](ObjectHub::len), [`refs`](ObjectHub::refs) and
/// [`contains`](ObjectHub::contains) cover the objects this hub holds
/// proxies for; [`engine`](ObjectHub::engine) gives one engine's own view.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// let cluster = distob::Cluster::local(2).await?;
/// let hub = cluster.hub();
/// let x = cluster.scatter(42u32).await?;
/// assert!(hub.contains(&x.id()));
/// assert_eq!(hub.len(), 1);
/// drop(x);
/// assert_eq!(hub.len(), 0);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Clone)]
pub struct ObjectHub {
    pub(super) inner: Arc<HubInner>,
}

impl std::fmt::Debug for ObjectHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectHub")
            .field("engines", &self.engines())
            .field("objects", &self.len())
            .finish()
    }
}

impl ObjectHub {
    /// Connects to every engine (concurrently), each after a handshake with `key`.
    ///
    /// The connections are driven by the current tokio runtime, or by
    /// distob's background runtime when there is none.
    pub async fn connect(engines: &[(NodeId, SocketAddr)], key: ClusterKey) -> Result<ObjectHub> {
        Self::connect_with(engines, key, TlsPolicy::Auto).await
    }

    /// [`connect`](ObjectHub::connect) with links made under `options`: a
    /// [`TlsPolicy`], or [`LinkOptions`] with a [`Liveness`](crate::net::Liveness)
    /// too (reconnections use them as well).
    pub async fn connect_with(
        engines: &[(NodeId, SocketAddr)],
        key: ClusterKey,
        options: impl Into<LinkOptions>,
    ) -> Result<ObjectHub> {
        Self::connect_on(current_or_background(), engines, key, options.into()).await
    }

    /// Connects with the connections driven by the given runtime.
    pub(crate) async fn connect_on(
        runtime: Handle,
        engines: &[(NodeId, SocketAddr)],
        key: ClusterKey,
        links: LinkOptions,
    ) -> Result<ObjectHub> {
        let engines = engines.to_vec();
        let task_key = key.clone();
        let opened = runtime
            .spawn(async move {
                futures::future::try_join_all(
                    engines
                        .into_iter()
                        .map(|(node, addr)| Link::open_pair(node, addr, task_key.clone(), links)),
                )
                .await
            })
            .await
            .map_err(|_| Error::HubClosed)??;
        Ok(Self::from_links(opened, key, links))
    }

    /// Connects to in-process engines through their in-memory dialers.
    pub(crate) async fn connect_local_on(
        runtime: Handle,
        engines: Vec<(NodeId, SocketAddr, LocalDialer)>,
        key: ClusterKey,
    ) -> Result<ObjectHub> {
        let task_key = key.clone();
        let opened = runtime
            .spawn(async move {
                futures::future::try_join_all(engines.into_iter().map(|(node, addr, dialer)| {
                    Link::open_local_pair(node, addr, dialer, task_key.clone())
                }))
                .await
            })
            .await
            .map_err(|_| Error::HubClosed)??;
        Ok(Self::from_links(opened, key, LinkOptions::default()))
    }

    fn from_links(opened: Vec<Arc<Link>>, key: ClusterKey, options: LinkOptions) -> ObjectHub {
        let watch = Watch::new();
        let size = opened.iter().map(|l| l.node.index() + 1).max().unwrap_or(0);
        let mut links: Vec<Option<Arc<Link>>> = vec![None; size];
        for link in opened {
            *lock(&link.watch) = Some(watch.clone());
            if link.is_lost() {
                // Lost before the hub existed: announce it now.
                watch.lost(link.node);
            }
            let i = link.node.index();
            links[i] = Some(link);
        }
        ObjectHub {
            inner: Arc::new(HubInner {
                links: RwLock::new(links),
                objects: Mutex::new(HashMap::new()),
                lost: Mutex::new(Default::default()),
                has_lost: Default::default(),
                next_call: AtomicU64::new(1),
                cursor: AtomicUsize::new(0),
                key,
                options,
                watch,
                reconnecting: Mutex::new(None),
                cache_limit: AtomicUsize::new(super::cache::DEFAULT_METHOD_CACHE_BYTES),
            }),
        }
    }

    pub(crate) fn from_inner(inner: Arc<HubInner>) -> ObjectHub {
        ObjectHub { inner }
    }

    /// A hub with no engines yet: they join with
    /// [`add_engine`](ObjectHub::add_engine).
    pub(crate) fn empty(key: ClusterKey, links: LinkOptions) -> ObjectHub {
        Self::from_links(Vec::new(), key, links)
    }

    /// Connects to engine `node` at `addr` and adds it to this hub (and to
    /// round-robin placement): an engine that joined after the others.
    pub async fn add_engine(&self, node: NodeId, addr: SocketAddr) -> Result<()> {
        self.open_engine(node, addr).await
    }

    /// Opens the links to `node` and puts them in its slot (closing any
    /// links there before).
    async fn open_engine(&self, node: NodeId, addr: SocketAddr) -> Result<()> {
        let link = Link::open_pair(node, addr, self.inner.key.clone(), self.inner.options).await?;
        *lock(&link.watch) = Some(self.inner.watch.clone());
        let mut links = self.inner.links.write().unwrap_or_else(|p| p.into_inner());
        if links.len() <= node.index() {
            links.resize(node.index() + 1, None);
        }
        if let Some(old) = links[node.index()].replace(link) {
            old.shut();
        }
        Ok(())
    }

    /// Bounds each object's cache of `#[distob(cached)]` replies on this
    /// client to `bytes` (keys, replies and a small overhead per entry;
    /// default [`DEFAULT_METHOD_CACHE_BYTES`](crate::DEFAULT_METHOD_CACHE_BYTES)):
    /// beyond it the least recently used replies go. A reply larger than
    /// the bound alone is not cached. See [`Remote::method_cache_stats`].
    pub fn set_method_cache_limit(&self, bytes: usize) {
        self.inner.cache_limit.store(bytes, Ordering::Relaxed);
    }

    /// The byte bound of each object's method cache.
    pub fn method_cache_limit(&self) -> usize {
        self.inner.cache_limit.load(Ordering::Relaxed)
    }

    /// Engine losses and reconnections, from now on (see [`ClusterEvents`]).
    pub fn events(&self) -> ClusterEvents {
        ClusterEvents::new(self.inner.watch.subscribe(), Arc::downgrade(&self.inner))
    }

    /// Connects again to engine `node` at its address (a restarted engine
    /// with the same key). Objects the hub held there are gone: calls on
    /// them fail with [`Error::ObjectLost`], never reach the new engine.
    pub async fn reconnect(&self, node: NodeId) -> Result<()> {
        let addr = self.link(node)?.addr;
        self.open_engine(node, addr).await?;
        let gone: Vec<Ref> = lock(&self.inner.objects)
            .keys()
            .filter(|r| r.node == node)
            .copied()
            .collect();
        if !gone.is_empty() {
            let mut lost = lock(&self.inner.lost);
            lost.extend(gone);
            self.inner.has_lost.store(true, Ordering::Relaxed);
        }
        self.inner.watch.send(ClusterEvent::EngineReconnected(node));
        Ok(())
    }

    fn is_object_lost(&self, r: &Ref) -> bool {
        self.inner.has_lost.load(Ordering::Relaxed) && lock(&self.inner.lost).contains(r)
    }

    /// The engines this hub is connected to, in node order.
    pub fn engines(&self) -> Vec<NodeId> {
        self.engines_with_links()
    }

    /// Every engine that has a link (lost or not), in node order.
    pub(super) fn engines_with_links(&self) -> Vec<NodeId> {
        let links = self.inner.links.read().unwrap_or_else(|p| p.into_inner());
        links.iter().flatten().map(|l| l.node).collect()
    }

    /// The address of an engine.
    pub fn engine_addr(&self, node: NodeId) -> Option<SocketAddr> {
        self.link(node).ok().map(|l| l.addr)
    }

    /// Frame bytes this hub has received from all engines (what moved
    /// through this client).
    pub fn bytes_received(&self) -> u64 {
        self.count(|l| &l.received)
    }

    /// Body bytes (the data of scatters and array operands, not message
    /// heads) this hub has sent to all engines.
    pub fn bytes_sent(&self) -> u64 {
        self.count(|l| &l.sent)
    }

    /// A counter summed over every link, bulk links included.
    fn count(&self, counter: impl Fn(&Link) -> &AtomicU64) -> u64 {
        let links = self.inner.links.read().unwrap_or_else(|p| p.into_inner());
        links
            .iter()
            .flatten()
            .map(|l| {
                let bulk = lock(&l.bulk)
                    .as_ref()
                    .map_or(0, |b| counter(b).load(Ordering::Relaxed));
                counter(l).load(Ordering::Relaxed) + bulk
            })
            .sum()
    }

    /// Whether the engine's connection is lost.
    pub fn is_lost(&self, node: NodeId) -> bool {
        self.link(node).map(|l| l.is_lost()).unwrap_or(true)
    }

    /// One engine's own view of its objects.
    pub fn engine(&self, node: NodeId) -> super::ObjectEngine {
        super::ObjectEngine::new(self.clone(), node)
    }

    /// How many objects this hub holds proxies for.
    pub fn len(&self) -> usize {
        lock(&self.inner.objects).len()
    }

    /// Whether this hub holds no objects.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The refs of every object this hub holds, sorted.
    pub fn refs(&self) -> Vec<Ref> {
        let mut refs: Vec<Ref> = lock(&self.inner.objects).keys().copied().collect();
        refs.sort();
        refs
    }

    /// Whether this hub holds the object.
    pub fn contains(&self, r: &Ref) -> bool {
        lock(&self.inner.objects).contains_key(r)
    }

    /// What the hub knows of an object it holds.
    pub fn get(&self, r: &Ref) -> Option<HeldObject> {
        lock(&self.inner.objects).get(r).cloned()
    }

    /// The next engine in round-robin order (shared by every scatter).
    pub fn next_engine(&self) -> Result<NodeId> {
        let engines = self.engines();
        if engines.is_empty() {
            return Err(Error::HubClosed);
        }
        let i = self.inner.cursor.fetch_add(1, Ordering::Relaxed);
        Ok(engines[i % engines.len()])
    }

    fn link(&self, node: NodeId) -> Result<Arc<Link>> {
        let links = self.inner.links.read().unwrap_or_else(|p| p.into_inner());
        links
            .get(node.index())
            .and_then(Option::clone)
            .ok_or(Error::NoSuchEngine(node))
    }

    /// Sends a request; the receiver gets its reply.
    pub(crate) fn send(
        &self,
        node: NodeId,
        op: Op,
        body: Bytes,
    ) -> Result<oneshot::Receiver<Result<Reply>>> {
        let call = CallId(self.inner.next_call.fetch_add(1, Ordering::Relaxed));
        self.link(node)?.request(call, op, body)
    }

    /// The bytes of large bodies sent to `node` (or waiting to be sent) and
    /// not yet answered, at most [`MAX_BULK_IN_FLIGHT`](crate::MAX_BULK_IN_FLIGHT) (or one larger body
    /// alone).
    pub fn bulk_bytes_in_flight(&self, node: NodeId) -> usize {
        self.link(node).map_or(0, |l| l.bulk_bytes_in_flight())
    }

    /// Sends a request and returns its [`Call`].
    pub(crate) fn submit<T, E>(
        &self,
        node: NodeId,
        target: Option<Ref>,
        op: Op,
        body: Bytes,
        decode: Decode<T, E>,
    ) -> Call<T, E> {
        if let Some(r) = target.filter(|r| self.is_object_lost(r)) {
            return Call::ready(Err(Error::ObjectLost(r)), node, target);
        }
        match self.send(node, op, body) {
            Ok(rx) => Call::pending(rx, decode, node, target),
            Err(e) => Call::ready(Err(e.widen()), node, target),
        }
    }

    /// Records an object this hub now holds.
    pub(crate) fn hold(&self, r: Ref, held: HeldObject) {
        lock(&self.inner.objects).insert(r, held);
    }

    /// The last proxy of `r` is gone: forget it and release it on its engine.
    pub(crate) fn release(&self, r: Ref) {
        lock(&self.inner.objects).remove(&r);
        if self.inner.has_lost.load(Ordering::Relaxed) && lock(&self.inner.lost).remove(&r) {
            // Its engine restarted: nothing to release there.
            return;
        }
        if let Ok(link) = self.link(r.node) {
            let msg = Message::Release {
                objects: vec![r.object],
            };
            // A closed link's engine has dropped the object already.
            let _ = link.writer.send(&msg, Bytes::new());
        }
    }

    /// Asks engine `node` to stop (it replies first, then shuts down).
    pub fn shutdown_engine(&self, node: NodeId) -> Call<()> {
        self.submit(
            node,
            None,
            Op::Shutdown,
            Bytes::new(),
            super::remote::decode_done,
        )
    }

    /// A fresh object id for a new object on `node` (named by the client, so
    /// the handle exists before the engine answers).
    pub(crate) fn new_ref<T: ?Sized>(&self, node: NodeId) -> Ref {
        Ref::new(node, ObjectId::new(), crate::id::TypeTag::of::<T>())
    }
}
