//! [`ObjectHub`]: a holder's connections to the engines, its pending calls,
//! and its view of every object it holds. A client has one; so does every
//! engine, for the calls its own code makes (to its own objects through a
//! [`LocalPort`], to other engines over links opened when first used).
//!
//! Shape: a cheap `Clone` handle; per engine one [`Link`](super::link::Link) (in `link.rs`) = a shared writer
//! that callers write their frames to directly (no worker in the middle of a
//! call) + one reader task that owns the read side and completes pending
//! calls from a map keyed by call id. Each engine link has a second, bulk
//! link beside it: bodies over
//! [`BULK_THRESHOLD`](super::link::BULK_THRESHOLD) (large scatters) take it,
//! so small calls made meanwhile are not queued behind their bytes. The
//! object is announced (`Op::Expect`) on the main link first, so calls on it
//! keep their order. The bulk link has a byte budget ([`MAX_BULK_IN_FLIGHT`](crate::call::MAX_BULK_IN_FLIGHT)):
//! a large send beyond it waits, in a task, until earlier ones are answered.

use super::local::LocalPort;
use super::remote::Handle as HandleCell;
use super::runtime::current_or_background;
use crate::actors::LocalDialer;
use crate::error::{Error, Result};
use crate::id::{NodeId, ObjectId, Ref};
use crate::net::wire::HandleRef;
use crate::net::ClusterKey;
use crate::net::{LinkOptions, TlsPolicy};
use foldhash::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::runtime::Handle;

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

/// One object this hub holds: its live handle (shared by every proxy of
/// it here) and what the hub knows of it.
pub(super) struct Held {
    pub(super) r: Ref,
    pub(super) handle: Weak<HandleCell>,
    pub(super) info: HeldObject,
}

/// The key of an object in a hub's tables: its engine and id (its type tag
/// is a label, not part of its identity).
pub(super) fn key(r: &Ref) -> HandleRef {
    HandleRef(r.node, r.object)
}

pub(crate) struct HubInner {
    /// Who this hub dials as: [`NodeId::CLIENT`], or the engine whose own
    /// hub it is.
    pub(super) me: NodeId,
    /// An engine's own hub reaches that engine through this.
    pub(super) local: Option<LocalPort>,
    pub(super) links: RwLock<Vec<Option<Arc<Link>>>>,
    /// Where the engines listen: an engine's hub opens its links from here
    /// when first used.
    pub(super) directory: RwLock<HashMap<NodeId, SocketAddr>>,
    pub(super) objects: Mutex<HashMap<HandleRef, Held>>,
    /// Objects of engines that restarted since: gone for good.
    pub(super) lost: Mutex<std::collections::HashSet<HandleRef>>,
    pub(super) has_lost: std::sync::atomic::AtomicBool,
    pub(super) next_call: AtomicU64,
    cursor: AtomicUsize,
    pub(super) key: ClusterKey,
    pub(super) options: LinkOptions,
    /// Where the links report losses (events, and the reconnection supervisor).
    pub(super) watch: Arc<Watch>,
    /// The byte bound of each object's method cache.
    cache_limit: AtomicUsize,
    /// The timeout of calls that set none, in µs (0: none).
    default_timeout_us: AtomicU64,
    /// The credit of this hub's feeds under way, by feed id.
    pub(super) feeds: Mutex<HashMap<u64, Arc<tokio::sync::Semaphore>>>,
    /// Automatic reconnection, once asked for.
    pub(super) reconnecting: Mutex<Option<Arc<Reconnecting>>>,
    /// Open, draining (no new calls) or closed (see `submit.rs`).
    pub(super) state: std::sync::atomic::AtomicU8,
    /// The calls that failed lately.
    pub(super) failures: super::failures::Failures,
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
    /// A `&mut self` method of the object panicked: it is poisoned (calls
    /// fail with [`Error::ObjectPoisoned`]).
    ObjectFailed {
        /// The object.
        r: Ref,
        /// The panic's message.
        message: String,
    },
    /// A method of the object panicked and it was rebuilt
    /// (`on_panic = "restart"`).
    ObjectRestarted {
        /// The object.
        r: Ref,
        /// The panic's message.
        message: String,
    },
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
                futures::future::try_join_all(engines.into_iter().map(|(node, addr)| {
                    Link::open_pair(NodeId::CLIENT, node, addr, task_key.clone(), links)
                }))
                .await
            })
            .await
            .map_err(|_| Error::HubClosed)??;
        let hub = Self::from_links(opened, key, links, NodeId::CLIENT, None);
        hub.share_directory();
        Ok(hub)
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
        let hub = Self::from_links(opened, key, LinkOptions::default(), NodeId::CLIENT, None);
        hub.share_directory();
        Ok(hub)
    }

    /// The hub of engine `me`'s own code: its own objects through `local`,
    /// other engines over links opened from the directory when first used.
    pub(crate) fn for_engine(
        me: NodeId,
        key: ClusterKey,
        options: LinkOptions,
        local: LocalPort,
    ) -> ObjectHub {
        Self::from_links(Vec::new(), key, options, me, Some(local))
    }

    fn from_links(
        opened: Vec<Arc<Link>>,
        key: ClusterKey,
        options: LinkOptions,
        me: NodeId,
        local: Option<LocalPort>,
    ) -> ObjectHub {
        let watch = Watch::new();
        let size = opened.iter().map(|l| l.node.index() + 1).max().unwrap_or(0);
        let mut links: Vec<Option<Arc<Link>>> = vec![None; size];
        let directory = opened.iter().map(|l| (l.node, l.addr)).collect();
        for link in opened {
            let i = link.node.index();
            links[i] = Some(link);
        }
        let hub = ObjectHub {
            inner: Arc::new(HubInner {
                me,
                local,
                links: RwLock::new(links),
                directory: RwLock::new(directory),
                objects: Mutex::new(HashMap::default()),
                lost: Mutex::new(Default::default()),
                has_lost: Default::default(),
                next_call: AtomicU64::new(1),
                cursor: AtomicUsize::new(0),
                key,
                options,
                watch,
                reconnecting: Mutex::new(None),
                cache_limit: AtomicUsize::new(super::cache::DEFAULT_METHOD_CACHE_BYTES),
                default_timeout_us: AtomicU64::new(0),
                feeds: Mutex::new(HashMap::default()),
                state: Default::default(),
                failures: Default::default(),
            }),
        };
        let links = hub.inner.links.read().unwrap_or_else(|p| p.into_inner());
        for link in links.iter().flatten() {
            link.join(&hub.inner.watch, &hub.inner);
            if link.is_lost() {
                // Lost before the hub existed: announce it now.
                hub.inner.watch.lost(link.node);
            }
        }
        drop(links);
        if me == NodeId::CLIENT {
            current_or_background().spawn(publish_gauges(Arc::downgrade(&hub.inner)));
        }
        hub
    }

    pub(crate) fn from_inner(inner: Arc<HubInner>) -> ObjectHub {
        ObjectHub { inner }
    }

    /// A hub with no engines yet: they join with
    /// [`add_engine`](ObjectHub::add_engine).
    pub(crate) fn empty(key: ClusterKey, links: LinkOptions) -> ObjectHub {
        Self::from_links(Vec::new(), key, links, NodeId::CLIENT, None)
    }

    /// Connects to engine `node` at `addr` and adds it to this hub (and to
    /// round-robin placement): an engine that joined after the others.
    pub async fn add_engine(&self, node: NodeId, addr: SocketAddr) -> Result<()> {
        self.open_engine(node, addr).await
    }

    /// Opens the links to `node` and puts them in its slot (closing any
    /// links there before).
    async fn open_engine(&self, node: NodeId, addr: SocketAddr) -> Result<()> {
        let me = self.inner.me;
        let link =
            Link::open_pair(me, node, addr, self.inner.key.clone(), self.inner.options).await?;
        link.join(&self.inner.watch, &self.inner);
        self.put_link(node, addr, link);
        self.share_directory();
        Ok(())
    }

    /// Puts `link` in `node`'s slot (closing the one there before).
    fn put_link(&self, node: NodeId, addr: SocketAddr, link: Arc<Link>) {
        let mut links = self.inner.links.write().unwrap_or_else(|p| p.into_inner());
        if links.len() <= node.index() {
            links.resize(node.index() + 1, None);
        }
        if let Some(old) = links[node.index()].replace(link) {
            old.shut();
        }
        drop(links);
        self.inner
            .directory
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node, addr);
    }

    /// Bounds each object's cache of `#[distob(cached)]` replies on this
    /// client to `bytes` (keys, replies and a small overhead per entry;
    /// default [`DEFAULT_METHOD_CACHE_BYTES`](crate::call::DEFAULT_METHOD_CACHE_BYTES)):
    /// beyond it the least recently used replies go. A reply larger than
    /// the bound alone is not cached. See
    /// [`Remote::method_cache_stats`](crate::Remote::method_cache_stats).
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
        self.lose_objects_of(node);
        self.inner.watch.send(ClusterEvent::EngineReconnected(node));
        Ok(())
    }

    /// The objects this hub held on `node` are gone (its link was lost and
    /// is made anew): calls on them fail with [`Error::ObjectLost`].
    pub(super) fn lose_objects_of(&self, node: NodeId) {
        let gone: Vec<HandleRef> = lock(&self.inner.objects)
            .keys()
            .filter(|r| r.0 == node)
            .copied()
            .collect();
        if !gone.is_empty() {
            let mut lost = lock(&self.inner.lost);
            lost.extend(gone);
            self.inner.has_lost.store(true, Ordering::Relaxed);
        }
    }

    pub(super) fn is_object_lost(&self, r: &Ref) -> bool {
        self.inner.has_lost.load(Ordering::Relaxed) && lock(&self.inner.lost).contains(&key(r))
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

    /// Frame bytes (heads and bodies) of the requests this hub has written
    /// to engines: what `distob_bytes_sent_total` counts.
    pub fn bytes_written(&self) -> u64 {
        self.count(|l| &l.written)
    }

    /// Requests this hub has sent to engines over the wire (calls made
    /// through it, by a client or by engine code; not its holds and
    /// releases).
    pub fn requests_sent(&self) -> u64 {
        self.count(|l| &l.requests)
    }

    /// Replies this hub has received from engines over the wire.
    pub fn replies_received(&self) -> u64 {
        self.count(|l| &l.replies)
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

    /// This hub's node: [`NodeId::CLIENT`] for a client, the engine's own id
    /// for the hub of engine code.
    pub fn node(&self) -> NodeId {
        self.inner.me
    }

    /// Whether this hub holds no objects.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The refs of every object this hub holds, sorted.
    pub fn refs(&self) -> Vec<Ref> {
        let mut refs: Vec<Ref> = lock(&self.inner.objects).values().map(|h| h.r).collect();
        refs.sort();
        refs
    }

    /// Whether this hub holds the object.
    pub fn contains(&self, r: &Ref) -> bool {
        lock(&self.inner.objects).contains_key(&key(r))
    }

    /// The full reference of an object this hub holds on `node`.
    pub(crate) fn get_ref(&self, node: NodeId, object: ObjectId) -> Option<Ref> {
        lock(&self.inner.objects)
            .get(&HandleRef(node, object))
            .map(|h| h.r)
    }

    /// What the hub knows of an object it holds.
    pub fn get(&self, r: &Ref) -> Option<HeldObject> {
        lock(&self.inner.objects)
            .get(&key(r))
            .map(|h| h.info.clone())
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

    /// Calls this hub sent over the wire that are still waiting for their
    /// reply.
    pub fn pending_calls(&self) -> usize {
        let links = self.inner.links.read().unwrap_or_else(|p| p.into_inner());
        links.iter().flatten().map(|l| l.pending_calls()).sum()
    }

    /// The bytes of large bodies sent to `node` (or waiting to be sent) and
    /// not yet answered, at most [`MAX_BULK_IN_FLIGHT`](crate::call::MAX_BULK_IN_FLIGHT) (or one larger body
    /// alone).
    pub fn bulk_bytes_in_flight(&self, node: NodeId) -> usize {
        self.link(node).map_or(0, |l| l.bulk_bytes_in_flight())
    }

    /// The timeout of calls that set none (see
    /// [`set_default_timeout`](ObjectHub::set_default_timeout)).
    pub fn default_timeout(&self) -> Option<Duration> {
        match self.inner.default_timeout_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Gives every call through this hub that sets no deadline of its own
    /// (no [`Call::timeout`](crate::Call::timeout), no [`timeout`](crate::call::WithTimeout::timeout)
    /// scope) this timeout, `None` for none (the default). The deadline
    /// travels with the call: its engine does not start it once it has
    /// passed, and calls its code makes inherit it.
    pub fn set_default_timeout(&self, d: Option<Duration>) {
        let us = d.map_or(0, |d| d.as_micros().clamp(1, u128::from(u64::MAX)) as u64);
        self.inner.default_timeout_us.store(us, Ordering::Relaxed);
    }
}

/// Sets the client's gauges of every engine (calls pending, bulk bytes in
/// flight) every [`GAUGE_PERIOD`](crate::telemetry::meters::GAUGE_PERIOD),
/// until the hub goes.
async fn publish_gauges(hub: Weak<HubInner>) {
    let mut tick = tokio::time::interval(crate::telemetry::meters::GAUGE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = hub.upgrade() else { return };
        let links: Vec<Arc<Link>> = inner
            .links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flatten()
            .cloned()
            .collect();
        for link in links {
            link.metrics()
                .link_gauges(link.pending_calls(), link.bulk_bytes_in_flight());
        }
    }
}
