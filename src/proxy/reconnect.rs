//! Engine losses as the hub hears of them: [`ClusterEvents`] (what a
//! subscriber gets, a lag included) and automatic reconnection, which
//! retries every lost engine on its own schedule.
//!
//! Links report a loss through the hub's [`Watch`], which both broadcasts
//! the event and wakes the reconnection supervisor. The supervisor never
//! relies on having seen every event: each time it wakes it asks the hub
//! which engines are lost now, so a burst of losses cannot slip past it.

use super::hub::{ClusterEvent, HubInner, ObjectHub};
use super::link::lock;
use super::runtime::current_or_background;
use crate::id::NodeId;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};

/// How many events a subscriber may fall behind before it misses some
/// (it is then told so: [`ClusterEvent::Missed`]).
pub const EVENT_BACKLOG: usize = 64;

/// How long one automatic reconnection attempt may take.
const RECONNECT_ATTEMPT: Duration = Duration::from_secs(5);

/// Where a hub's links report what happens to them.
pub(crate) struct Watch {
    events: broadcast::Sender<ClusterEvent>,
    /// Woken on every loss (a permit is kept if nobody waits).
    changed: Notify,
    /// The hub is gone.
    closed: AtomicBool,
}

impl Watch {
    pub(crate) fn new() -> Arc<Watch> {
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        Arc::new(Watch {
            events,
            changed: Notify::new(),
            closed: AtomicBool::new(false),
        })
    }

    /// Engine `node`'s link is lost.
    pub(crate) fn lost(&self, node: NodeId) {
        self.send(ClusterEvent::EngineLost(node));
        self.changed.notify_one();
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ClusterEvent> {
        self.events.subscribe()
    }

    /// Tells every subscriber (nobody listening is fine).
    pub(crate) fn send(&self, event: ClusterEvent) {
        let _ = self.events.send(event);
    }

    /// The hub is dropped: the supervisor ends.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.changed.notify_one();
    }
}

/// A subscription to a hub's [`ClusterEvent`]s, from the moment it was
/// made. It holds at most [`EVENT_BACKLOG`] unread events; a subscriber
/// that falls further behind loses the oldest and is told so by
/// [`ClusterEvent::Missed`], which also lists the engines lost at that
/// moment, so that it can catch up.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// use distob::cluster::ClusterEvent;
/// let cluster = distob::Cluster::local(2).await?;
/// let mut events = cluster.events();
/// cluster.reconnect(distob::NodeId(1)).await?;
/// assert_eq!(events.recv().await, Some(ClusterEvent::EngineReconnected(distob::NodeId(1))));
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Debug)]
pub struct ClusterEvents {
    rx: broadcast::Receiver<ClusterEvent>,
    hub: Weak<HubInner>,
}

impl ClusterEvents {
    pub(crate) fn new(rx: broadcast::Receiver<ClusterEvent>, hub: Weak<HubInner>) -> Self {
        ClusterEvents { rx, hub }
    }

    /// The next event; `None` once the hub is gone.
    pub async fn recv(&mut self) -> Option<ClusterEvent> {
        match self.rx.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let lost = self
                    .hub
                    .upgrade()
                    .map(|inner| ObjectHub::from_inner(inner).lost_engines())
                    .unwrap_or_default();
                Some(ClusterEvent::Missed { missed, lost })
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// The settings and the engines under way of automatic reconnection.
pub(crate) struct Reconnecting {
    first: Duration,
    max: Duration,
    /// Engines that have a retrying task.
    nodes: Mutex<HashSet<NodeId>>,
}

impl ObjectHub {
    /// The engines whose links are lost now, in node order.
    pub fn lost_engines(&self) -> Vec<NodeId> {
        self.engines_with_links()
            .into_iter()
            .filter(|&n| self.is_lost(n))
            .collect()
    }

    /// From now on, reconnects to every engine this hub loses, on its own:
    /// each lost engine is retried by a task of its own (one engine that
    /// never returns holds up no other), after `first`, then after about
    /// twice as long each time up to `max`, with random jitter (so that many
    /// clients do not retry in lockstep), until the engine answers at its
    /// address again; then [`ClusterEvent::EngineReconnected`] is sent, as
    /// with [`reconnect`](ObjectHub::reconnect). Engines lost already are
    /// retried too. Stops when the hub is dropped. Calling it again changes
    /// the delays of retries started from then on.
    pub fn reconnect_automatically(&self, first: Duration, max: Duration) {
        let auto = Arc::new(Reconnecting {
            first,
            max: max.max(first),
            nodes: Mutex::new(HashSet::new()),
        });
        let started = {
            let mut slot = lock(&self.inner.reconnecting);
            let started = slot.is_some();
            *slot = Some(auto);
            started
        };
        if started {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let watch = self.inner.watch.clone();
        current_or_background().spawn(supervise(weak, watch));
    }
}

/// Wakes on every loss and starts a retrying task for each lost engine
/// that has none.
async fn supervise(weak: Weak<HubInner>, watch: Arc<Watch>) {
    loop {
        {
            let Some(inner) = weak.upgrade() else { return };
            let hub = ObjectHub::from_inner(inner);
            let Some(auto) = lock(&hub.inner.reconnecting).clone() else {
                return;
            };
            for node in hub.lost_engines() {
                if lock(&auto.nodes).insert(node) {
                    current_or_background().spawn(retry(weak.clone(), auto.clone(), node));
                }
            }
        }
        watch.changed.notified().await;
        if watch.closed.load(Ordering::Relaxed) {
            return;
        }
    }
}

fn delays(auto: &Reconnecting) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(auto.first)
        .with_max_delay(auto.max)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Retries engine `node` until it is back (and stays back while this task
/// hands it over), or the hub is gone.
async fn retry(weak: Weak<HubInner>, auto: Arc<Reconnecting>, node: NodeId) {
    let mut wait = delays(&auto);
    loop {
        tokio::time::sleep(wait.next().unwrap_or(auto.max)).await;
        let Some(inner) = weak.upgrade() else { return };
        let hub = ObjectHub::from_inner(inner);
        if hub.is_lost(node) {
            let attempt = tokio::time::timeout(RECONNECT_ATTEMPT, hub.reconnect(node)).await;
            if !matches!(attempt, Ok(Ok(()))) {
                continue;
            }
        }
        // Back. Leave the set only while it is still back: a loss after
        // this check wakes the supervisor, which then finds no task for it.
        let mut nodes = lock(&auto.nodes);
        if !hub.is_lost(node) {
            nodes.remove(&node);
            return;
        }
        drop(nodes);
        wait = delays(&auto);
    }
}
