//! What the dashboard shows, sampled from the hub every
//! [`SAMPLE_PERIOD`]: each engine's state and rates, its objects, and the
//! cluster's recent events and failed calls.

use crate::cluster::{ClusterEvent, ObjectHub};
use crate::id::NodeId;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the dashboard samples the engines.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(500);

/// Samples of each engine's rates kept for its charts.
const HISTORY: usize = 120;

/// Objects listed per engine at most (the largest).
const OBJECTS_SHOWN: usize = 100;

/// Events and failures kept.
const RECENT: usize = 50;

/// One engine as the page shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct EngineView {
    node: u32,
    addr: String,
    up: bool,
    objects: u64,
    bytes_held: u64,
    rss_bytes: u64,
    calls: u64,
    calls_per_s: f64,
    bytes_per_s: f64,
    queued: u64,
    in_flight: u64,
    /// Calls per second, oldest first.
    history: Vec<f64>,
}

/// One object as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ObjectView {
    node: u32,
    id: String,
    type_name: String,
    nbytes: u64,
    holders: u32,
    name: Option<String>,
}

/// Something that happened, for the list of recent events.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Happened {
    at_ms: u64,
    what: String,
}

/// Everything the page shows at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Snapshot {
    at_ms: u64,
    sample: u64,
    engines: Vec<EngineView>,
    objects: Vec<ObjectView>,
    object_count: u64,
    events: Vec<Happened>,
    failures: Vec<Happened>,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the sampler keeps between samples.
#[derive(Default)]
pub(crate) struct Sampler {
    last: HashMap<NodeId, (Instant, u64, u64)>,
    history: HashMap<NodeId, VecDeque<f64>>,
    events: Arc<Mutex<VecDeque<Happened>>>,
    count: u64,
}

impl Sampler {
    /// A sampler whose event list `events` fills (see [`collect_events`]).
    pub(crate) fn new(events: Arc<Mutex<VecDeque<Happened>>>) -> Self {
        Sampler {
            events,
            ..Sampler::default()
        }
    }

    /// Asks every engine for its counters and objects (each within a
    /// second; an engine that does not answer shows as down).
    pub(crate) async fn sample(&mut self, hub: &ObjectHub) -> Snapshot {
        self.count += 1;
        let mut engines = Vec::new();
        let mut objects = Vec::new();
        let mut object_count = 0;
        for node in hub.engines() {
            let view = self.engine(hub, node, &mut objects).await;
            object_count += view.objects;
            engines.push(view);
        }
        objects.sort_by_key(|o: &ObjectView| std::cmp::Reverse(o.nbytes));
        let events = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        let failures = hub
            .recent_failures()
            .into_iter()
            .rev()
            .take(RECENT)
            .map(|f| Happened {
                at_ms: ms(f.at),
                what: match f.target {
                    Some(r) => format!("{} on engine {}: {}", f.kind, f.node, r),
                    None => format!("{} on engine {}", f.kind, f.node),
                },
            })
            .collect();
        Snapshot {
            at_ms: ms(SystemTime::now()),
            sample: self.count,
            engines,
            objects,
            object_count,
            events,
            failures,
        }
    }

    async fn engine(
        &mut self,
        hub: &ObjectHub,
        node: NodeId,
        objects: &mut Vec<ObjectView>,
    ) -> EngineView {
        let addr = hub
            .engine_addr(node)
            .map_or(String::new(), |a| a.to_string());
        let engine = hub.engine(node);
        let stats = match engine.stats().timeout(Duration::from_secs(1)).await {
            Ok(s) if !hub.is_lost(node) => s,
            _ => {
                return EngineView {
                    node: node.0,
                    addr,
                    history: self.history(node, 0.0),
                    ..EngineView::default()
                }
            }
        };
        let now = Instant::now();
        let bytes = stats.bytes_received + stats.bytes_sent;
        let (calls_per_s, bytes_per_s) = match self.last.insert(node, (now, stats.calls, bytes)) {
            Some((then, calls, b)) => {
                let dt = now.duration_since(then).as_secs_f64().max(1e-3);
                (
                    stats.calls.saturating_sub(calls) as f64 / dt,
                    bytes.saturating_sub(b) as f64 / dt,
                )
            }
            None => (0.0, 0.0),
        };
        if let Ok(list) = engine.list().timeout(Duration::from_secs(1)).await {
            let mut list: Vec<_> = list.into_iter().collect();
            list.sort_by_key(|o| std::cmp::Reverse(o.nbytes));
            objects.extend(list.into_iter().take(OBJECTS_SHOWN).map(|o| ObjectView {
                node: node.0,
                id: format!("{:#}", o.object),
                type_name: o.type_name,
                nbytes: o.nbytes,
                holders: o.holders,
                name: o.name,
            }));
        }
        EngineView {
            node: node.0,
            addr,
            up: true,
            objects: stats.objects,
            bytes_held: stats.bytes_held,
            rss_bytes: stats.rss_bytes,
            calls: stats.calls,
            calls_per_s,
            bytes_per_s,
            queued: stats.queued,
            in_flight: stats.in_flight,
            history: self.history(node, calls_per_s),
        }
    }

    fn history(&mut self, node: NodeId, rate: f64) -> Vec<f64> {
        let h = self.history.entry(node).or_default();
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(rate);
        h.iter().copied().collect()
    }
}

/// Keeps the hub's events (engines lost and back, objects failed) for the
/// page, newest first, until the hub goes.
pub(crate) async fn collect_events(hub: ObjectHub, into: Arc<Mutex<VecDeque<Happened>>>) {
    let mut events = hub.events();
    drop(hub);
    while let Some(event) = events.recv().await {
        let what = match event {
            ClusterEvent::EngineLost(n) => format!("engine {n} lost"),
            ClusterEvent::EngineReconnected(n) => format!("engine {n} reconnected"),
            ClusterEvent::ObjectFailed { r, message } => format!("{r} failed: {message}"),
            ClusterEvent::ObjectRestarted { r, message } => format!("{r} restarted: {message}"),
            ClusterEvent::Missed { missed, .. } => format!("{missed} events missed"),
        };
        let mut list = into.lock().unwrap_or_else(|p| p.into_inner());
        if list.len() == RECENT {
            list.pop_back();
        }
        list.push_front(Happened {
            at_ms: ms(SystemTime::now()),
            what,
        });
    }
}
