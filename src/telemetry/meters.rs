//! Metrics through the `metrics` facade (no exporter forced on anyone):
//! install a recorder (say `metrics-exporter-prometheus`) before building
//! the cluster, and these appear, labelled by engine `node`:
//!
//! | name | kind | what |
//! |---|---|---|
//! | `distob_calls_total{node,outcome}` | counter | calls answered (or failed), by outcome |
//! | `distob_call_seconds{node}` | histogram | time from send to answer |
//! | `distob_bytes_sent_total{node}` | counter | frame bytes of requests sent to the engine |
//! | `distob_bytes_received_total{node}` | counter | frame bytes received from it |
//! | `distob_pending_calls{node}` | gauge | calls waiting for their answer |
//! | `distob_bulk_bytes_in_flight{node}` | gauge | large bodies sent, not yet answered |
//! | `distob_engine_objects{node}` | gauge | objects the engine holds |
//! | `distob_engine_in_flight{node}` | gauge | calls it has received and not answered |
//! | `distob_engine_queued{node}` | gauge | calls queued on (or running in) its objects |
//! | `distob_engine_rss_bytes{node}` | gauge | resident memory of the engine's process |
//!
//! The first four are counted as calls happen (handles registered once per
//! engine link); the gauges are set every [`GAUGE_PERIOD`], the engine ones
//! by each engine for the recorder of its own process.

use crate::id::NodeId;
use metrics::{Counter, Gauge, Histogram};
use std::sync::OnceLock;
use std::time::Duration;

/// How often the gauges are set.
pub(crate) const GAUGE_PERIOD: Duration = Duration::from_secs(1);

/// Every outcome label a call can end with.
const OUTCOMES: [&str; 22] = [
    "ok",
    "remote_error",
    "panic",
    "decode",
    "refused",
    "busy",
    "no_such_object",
    "no_such_method",
    "object_lost",
    "reentrant",
    "name_taken",
    "cancelled",
    "poisoned",
    "timeout",
    "engine_lost",
    "hub_closed",
    "shutting_down",
    "connect",
    "codec",
    "wrong_type",
    "protocol",
    "error",
];

/// The metrics of one engine, as this process sees it.
pub(crate) struct NodeMetrics {
    node: String,
    calls: [OnceLock<Counter>; OUTCOMES.len()],
    seconds: Histogram,
    pub(crate) bytes_sent: Counter,
    pub(crate) bytes_received: Counter,
}

impl std::fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeMetrics({})", self.node)
    }
}

fn describe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
        describe_counter!(
            "distob_calls_total",
            "Calls answered or failed, by engine and outcome"
        );
        describe_histogram!(
            "distob_call_seconds",
            Unit::Seconds,
            "Time from send to answer"
        );
        describe_counter!(
            "distob_bytes_sent_total",
            Unit::Bytes,
            "Body bytes sent to the engine"
        );
        describe_counter!(
            "distob_bytes_received_total",
            Unit::Bytes,
            "Frame bytes received from the engine"
        );
        describe_gauge!("distob_pending_calls", "Calls waiting for their answer");
        describe_gauge!(
            "distob_bulk_bytes_in_flight",
            Unit::Bytes,
            "Large bodies sent to the engine and not yet answered"
        );
        describe_gauge!("distob_engine_objects", "Objects the engine holds");
        describe_gauge!(
            "distob_engine_in_flight",
            "Calls received and not yet answered"
        );
        describe_gauge!(
            "distob_engine_queued",
            "Calls queued on or running in objects"
        );
        describe_gauge!(
            "distob_engine_rss_bytes",
            Unit::Bytes,
            "Resident memory of the engine's process"
        );
    });
}

impl NodeMetrics {
    /// The metrics of engine `node`, registered with the recorder in force.
    pub(crate) fn new(node: NodeId) -> NodeMetrics {
        describe();
        let label = node.0.to_string();
        NodeMetrics {
            seconds: metrics::histogram!("distob_call_seconds", "node" => label.clone()),
            bytes_sent: metrics::counter!("distob_bytes_sent_total", "node" => label.clone()),
            bytes_received: metrics::counter!("distob_bytes_received_total", "node" => label.clone()),
            calls: std::array::from_fn(|_| OnceLock::new()),
            node: label,
        }
    }

    /// A call ended with `outcome` after `elapsed`.
    pub(crate) fn call_done(&self, outcome: &'static str, elapsed: Duration) {
        let i = OUTCOMES
            .iter()
            .position(|o| std::ptr::eq(*o, outcome) || *o == outcome)
            .unwrap_or(OUTCOMES.len() - 1);
        self.calls[i]
            .get_or_init(|| {
                metrics::counter!("distob_calls_total", "node" => self.node.clone(), "outcome" => OUTCOMES[i])
            })
            .increment(1);
        self.seconds.record(elapsed.as_secs_f64());
    }

    /// Sets the client's gauges of this engine.
    pub(crate) fn link_gauges(&self, pending: usize, bulk: usize) {
        gauge("distob_pending_calls", &self.node).set(pending as f64);
        gauge("distob_bulk_bytes_in_flight", &self.node).set(bulk as f64);
    }
}

fn gauge(name: &'static str, node: &str) -> Gauge {
    metrics::gauge!(name, "node" => node.to_string())
}

/// What an engine reports of itself.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EngineGauges {
    pub(crate) objects: u64,
    pub(crate) in_flight: u64,
    pub(crate) queued: u64,
    pub(crate) rss_bytes: u64,
}

/// Sets an engine's own gauges.
pub(crate) fn engine_gauges(node: NodeId, g: EngineGauges) {
    describe();
    let node = node.0.to_string();
    gauge("distob_engine_objects", &node).set(g.objects as f64);
    gauge("distob_engine_in_flight", &node).set(g.in_flight as f64);
    gauge("distob_engine_queued", &node).set(g.queued as f64);
    gauge("distob_engine_rss_bytes", &node).set(g.rss_bytes as f64);
}

/// This process's resident memory in bytes (0 where unknown).
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}
