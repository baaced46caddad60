//! Telemetry, end to end: one trace across the client and two engine
//! processes (spans captured by a test subscriber here, and by the engine
//! processes' own subscriber, whose output comes back through the log
//! forwarding), engine output reaching the client's tracing with its node,
//! and metrics equal to the hub's counters after a known workload.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

#[path = "../common/mod.rs"]
mod common;

mod capture;
mod types;

use common::runner::{Case, Tally};
use common::{eventually, within};
use distob::{Cluster, Error, NodeId};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;
use types::*;

const DEADLINE: Duration = Duration::from_secs(60);

static METRICS: OnceLock<Snapshotter> = OnceLock::new();

type Totals = HashMap<(String, String, String), f64>;

/// Everything recorded so far: counters and histogram sample counts added
/// up, gauges at their last value (the debugging recorder hands out what
/// came since its last snapshot, and zeroes its gauges when read).
static TOTALS: std::sync::Mutex<Option<Totals>> = std::sync::Mutex::new(None);

/// Counters and histogram sample counts by (name, node, outcome), and the
/// gauges' last values.
fn metrics() -> Totals {
    let mut guard = TOTALS.lock().unwrap();
    let out = guard.get_or_insert_with(HashMap::new);
    for (key, _, _, value) in METRICS.get().unwrap().snapshot().into_vec() {
        let k = key.key();
        let label = |n: &str| {
            k.labels()
                .find(|l| l.key() == n)
                .map_or(String::new(), |l| l.value().to_string())
        };
        let entry = out
            .entry((k.name().to_string(), label("node"), label("outcome")))
            .or_insert(0.0);
        match value {
            DebugValue::Counter(c) => *entry += c as f64,
            DebugValue::Histogram(h) => *entry += h.len() as f64,
            // Zero when read again before the next set: keep the last set.
            DebugValue::Gauge(g) if g.into_inner() != 0.0 => *entry = g.into_inner(),
            DebugValue::Gauge(_) => {}
        }
    }
    out.clone()
}

fn get(m: &HashMap<(String, String, String), f64>, name: &str, node: &str, outcome: &str) -> f64 {
    m.get(&(name.into(), node.into(), outcome.into()))
        .copied()
        .unwrap_or(0.0)
}

fn sum(m: &HashMap<(String, String, String), f64>, name: &str) -> f64 {
    m.iter().filter(|(k, _)| k.0 == name).map(|(_, v)| v).sum()
}

async fn metrics_equal_the_counters_after_a_workload(c: &Cluster) {
    let hub = c.hub();
    let (replies, sent, received) = (
        hub.replies_received(),
        hub.bytes_written(),
        hub.bytes_received(),
    );
    let before = metrics();
    let e0: RemoteEcho = within(c.scatter_to(NodeId(0), Echo)).await.unwrap();
    let e1: RemoteEcho = within(c.scatter_to(NodeId(1), Echo)).await.unwrap();
    for i in 0..100 {
        assert_eq!(within(e0.echo(i)).await.unwrap(), i);
    }
    for i in 0..50 {
        assert_eq!(within(e1.echo(i)).await.unwrap(), i);
    }
    assert!(matches!(within(e1.refuse()).await, Err(Error::Remote(_))));
    let received_before = hub.bytes_received();
    let after = metrics();
    let received_after = hub.bytes_received();
    let delta = |name: &str, node: &str, outcome: &str| {
        get(&after, name, node, outcome) - get(&before, name, node, outcome)
    };
    // Each scatter is a call too.
    assert_eq!(delta("distob_calls_total", "0", "ok"), 101.0);
    assert_eq!(delta("distob_calls_total", "1", "ok"), 51.0);
    assert_eq!(delta("distob_calls_total", "1", "remote_error"), 1.0);
    assert_eq!(
        sum(&after, "distob_calls_total") - sum(&before, "distob_calls_total"),
        (hub.replies_received() - replies) as f64
    );
    assert_eq!(
        sum(&after, "distob_call_seconds") - sum(&before, "distob_call_seconds"),
        153.0
    );
    let bytes = |name| sum(&after, name) - sum(&before, name);
    assert_eq!(
        bytes("distob_bytes_sent_total"),
        (hub.bytes_written() - sent) as f64
    );
    // (Frames may arrive while the snapshot is taken.)
    let got = bytes("distob_bytes_received_total");
    assert!(
        (received_before - received) as f64 <= got && got <= (received_after - received) as f64,
        "{got} bytes received, by the hub {received_before} .. {received_after} (from {received})"
    );
    // The gauges: set every second, by the hub and by each engine.
    eventually("the engines' gauges", || async {
        let m = metrics();
        get(&m, "distob_engine_objects", "0", "") == 1.0
            && get(&m, "distob_engine_objects", "1", "") == 1.0
            && get(&m, "distob_engine_rss_bytes", "0", "") > 0.0
    })
    .await;
    let stats = within(c.hub().engine(NodeId(1)).stats()).await.unwrap();
    assert_eq!(stats.objects, 1);
    assert!(stats.bytes_sent > 0 && stats.rss_bytes > 0, "{stats:?}");
}

/// The forwarded close events of engine `node`'s spans named `name`: the
/// span's fields, from the engine's JSON line.
fn engine_spans(node: &str, name: &str) -> Vec<serde_json::Value> {
    capture::seen()
        .into_iter()
        .filter(|s| !s.span && s.name == "distob::engine")
        .filter(|s| s.fields.get("node").map(String::as_str) == Some(node))
        .filter_map(|s| serde_json::from_str::<serde_json::Value>(s.fields.get("fields")?).ok())
        .filter_map(|v| v.get("span").cloned())
        .filter(|span| span["name"] == name)
        .collect()
}

async fn one_trace_spans_the_client_and_two_engine_processes(c: &Cluster) {
    let echo: RemoteEcho = within(c.scatter_to(NodeId(1), Echo)).await.unwrap();
    let relay: RemoteRelay = within(c.scatter_to(NodeId(0), Relay)).await.unwrap();
    assert_eq!(within(relay.relay(echo.clone(), 7)).await.unwrap(), 7);
    let call = capture::seen()
        .into_iter()
        .find(|s| {
            s.span
                && s.name == "distob.call"
                && s.fields.get("method").map(String::as_str) == Some("Relay::relay")
        })
        .expect("the client's distob.call span");
    let trace = call.fields["trace_id"].clone();
    let span_id = call.fields["span_id"].clone();
    assert_eq!(trace.len(), 32, "{trace}");
    assert_eq!(call.fields["outcome"], "ok");
    assert_eq!(call.fields["node"], "0");
    // Engine 0 served it as a child of the client's span, and called
    // engine 1 within it; engine 1 served that as a child of engine 0's call.
    eventually("both engines' spans to come back", || async {
        !engine_spans("1", "distob.serve").is_empty()
            && !engine_spans("0", "distob.call").is_empty()
    })
    .await;
    let served = engine_spans("0", "distob.serve");
    let relayed = served
        .iter()
        .find(|s| s["method"] == "Relay::relay")
        .expect("engine 0's serve span");
    assert_eq!(relayed["trace_id"], trace.as_str());
    assert_eq!(relayed["parent_id"], span_id.as_str());
    let hop = engine_spans("0", "distob.call")
        .into_iter()
        .find(|s| s["method"] == "Echo::echo")
        .expect("engine 0's call to engine 1");
    assert_eq!(hop["trace_id"], trace.as_str());
    let echoed = engine_spans("1", "distob.serve")
        .into_iter()
        .find(|s| s["method"] == "Echo::echo")
        .expect("engine 1's serve span");
    assert_eq!(echoed["trace_id"], trace.as_str());
    assert_eq!(echoed["parent_id"], hop["span_id"]);
    assert_eq!(echoed["outcome"], "ok");
}

async fn engine_output_reaches_the_client_with_its_node(c: &Cluster) {
    let loud: RemoteLoud = within(c.scatter_to(NodeId(1), Loud)).await.unwrap();
    let pid = within(loud.speak()).await.unwrap();
    assert_ne!(pid, std::process::id());
    let from_engine = || {
        capture::seen()
            .into_iter()
            .filter(|s| !s.span && s.name == "distob::engine")
            .filter(|s| s.fields.get("node").map(String::as_str) == Some("1"))
            .collect::<Vec<_>>()
    };
    let said = |m: &str| {
        let m = m.to_string();
        move || {
            let m = m.clone();
            async move { from_engine().iter().any(|s| s.fields["message"] == m) }
        }
    };
    eventually("the engine's event", said("said on the engine")).await;
    eventually(
        "its plain stdout line",
        said("a plain line on standard output"),
    )
    .await;
    eventually(
        "its plain stderr line",
        said("a plain line on standard error"),
    )
    .await;
    let seen = from_engine();
    let event = seen
        .iter()
        .find(|s| s.fields["message"] == "said on the engine")
        .unwrap();
    assert_eq!(event.level, tracing::Level::WARN);
    assert_eq!(event.fields["engine_target"], "telemetry::types");
    assert!(
        event.fields["fields"].contains("\"answer\":42"),
        "{event:?}"
    );
    let level_of = |m: &str| {
        seen.iter()
            .find(|s| s.fields["message"] == m)
            .unwrap()
            .level
    };
    assert_eq!(
        level_of("a plain line on standard output"),
        tracing::Level::INFO
    );
    assert_eq!(
        level_of("a plain line on standard error"),
        tracing::Level::WARN
    );
}

fn main() {
    distob::engine::main_if_engine();
    // The engine processes started below log their spans' ends (the spans
    // are at DEBUG), for the forwarding to bring back.
    std::env::set_var(
        "DISTOB_ENGINE_LOG",
        "info,distob::serve=debug,distob::call=debug",
    );
    std::env::set_var("DISTOB_ENGINE_LOG_SPANS", "close");
    capture::install();
    let recorder = DebuggingRecorder::new();
    METRICS.set(recorder.snapshotter()).ok();
    recorder.install().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut tally = Tally::default();
    let local = std::sync::Arc::new(rt.block_on(Cluster::local(2)).unwrap());
    let case: Case = |c| Box::pin(metrics_equal_the_counters_after_a_workload(c));
    tally.run(
        &rt,
        "local::metrics_equal_the_counters_after_a_workload",
        &local,
        case,
        DEADLINE,
    );
    let spawned = std::sync::Arc::new(rt.block_on(Cluster::spawn(2)).unwrap());
    let cases: Vec<(&str, Case)> = crate::cases![
        one_trace_spans_the_client_and_two_engine_processes,
        engine_output_reaches_the_client_with_its_node,
    ];
    for (name, case) in cases {
        tally.run(&rt, &format!("spawn::{name}"), &spawned, case, DEADLINE);
    }
    tally.finish();
}
