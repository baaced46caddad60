//! A web service that embeds a cluster: the cluster lives in the service's
//! state (a cheap `Clone` handle), handlers `.await` proxy calls with a
//! deadline, `/metrics` exposes distob's metrics through
//! `metrics-exporter-prometheus`, `/healthz` says whether calls are taken,
//! and Ctrl-C or SIGTERM drains the cluster (calls under way are answered)
//! before the process exits.
//!
//! ```sh
//! cargo run --example axum_service -- --listen 127.0.0.1:8080 --engines 3
//! curl localhost:8080/counter/1/incr      # {"engine":1,"value":1}
//! curl localhost:8080/metrics             # distob_calls_total{node="1",outcome="ok"} 1 …
//! ```
//!
//! The engines are processes of this very program (`#[distob::main]`), one
//! counter on each. Kill one and its requests fail at once with 503
//! (`engine_lost`) while the others go on (`tests/examples.rs` does it under
//! load).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use distob::{Cluster, NodeId};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A counter on an engine.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Counter {
    n: u64,
}

#[distob::remote]
impl Counter {
    /// Adds one; the new count.
    pub fn incr(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

/// What every handler shares: the cluster, one counter per engine, and
/// the metrics recorder's handle.
#[derive(Clone)]
struct App {
    cluster: Cluster,
    counters: Arc<Vec<RemoteCounter>>,
    metrics: PrometheusHandle,
}

/// How long a request waits for its engine.
const CALL_DEADLINE: Duration = Duration::from_secs(2);

async fn incr(
    State(app): State<App>,
    Path(engine): Path<usize>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let counter = app
        .counters
        .get(engine)
        .ok_or((StatusCode::NOT_FOUND, format!("no engine {engine}")))?;
    match counter.incr().timeout(CALL_DEADLINE).await {
        Ok(value) => Ok(Json(
            serde_json::json!({ "engine": engine, "value": value }),
        )),
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.kind().to_string())),
    }
}

async fn healthz(State(app): State<App>) -> StatusCode {
    match app.cluster.hub().accepts_calls() {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn render_metrics(State(app): State<App>) -> String {
    app.metrics.render()
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[distob::main]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:8080".into());
    let n: usize = arg("--engines").map_or(Ok(3), |n| n.parse())?;

    // The recorder first: distob registers its metrics with it as links open.
    let metrics = PrometheusBuilder::new().install_recorder()?;
    let cluster = Cluster::builder()
        .call_timeout(Duration::from_secs(10))
        .spawn(n)
        .await?;
    let mut counters = Vec::with_capacity(n);
    for node in cluster.engines() {
        counters.push(cluster.scatter_to(node, Counter::default()).await?);
    }
    for (node, pid) in cluster.pids() {
        println!("engine {node} pid {pid}");
    }
    let app = App {
        cluster: cluster.clone(),
        counters: Arc::new(counters),
        metrics,
    };
    let router = Router::new()
        .route("/counter/{engine}/incr", get(incr))
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(distob::engine::shutdown_signal())
        .await?;
    // No new requests come; the calls under way are answered, then the
    // engines stop.
    match cluster.drain(Duration::from_secs(5)).await {
        Ok(()) | Err(distob::Error::Timeout) => {}
        Err(e) => return Err(e.into()),
    }
    println!("drained; engine {} and the others stopped", NodeId(0));
    Ok(())
}
