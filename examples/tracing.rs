//! One OpenTelemetry trace for a request that goes client → engine →
//! engine: distob's `distob.call` and `distob.serve` spans, joined by the
//! trace context each request carries, exported by the OpenTelemetry SDK's
//! in-memory exporter (no collector needed) and printed as a tree.
//!
//! ```sh
//! cargo run --example tracing --features opentelemetry
//! ```
//!
//! With engine processes the same holds: each process exports its own
//! spans, and the trace ids and parents match across them.

use distob::{Cluster, NodeId};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde::{Deserialize, Serialize};
use tracing_subscriber::prelude::*;

/// Answers with its argument doubled.
#[derive(Debug, Serialize, Deserialize)]
pub struct Doubler;

#[distob::remote]
impl Doubler {
    /// `2 × x`.
    pub fn double(&self, x: u64) -> u64 {
        2 * x
    }
}

/// Asks a `Doubler` on another engine, from engine code.
#[derive(Debug, Serialize, Deserialize)]
pub struct Front;

#[distob::remote]
impl Front {
    /// Doubles `x` on the backend.
    pub async fn handle(&self, backend: RemoteDoubler, x: u64) -> u64 {
        tracing::info!(x, "front handling a request");
        backend.double(x).await.unwrap_or(0)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    distob::engine::main_if_engine();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("distob-example")))
        .init();

    let cluster = Cluster::local(2).await?;
    let backend: RemoteDoubler = cluster.scatter_to(NodeId(1), Doubler).await?;
    let front: RemoteFront = cluster.scatter_to(NodeId(0), Front).await?;
    let answer = {
        // The service's own span: distob's spans are its children.
        let request = tracing::info_span!("request", path = "/double");
        let _entered = request.enter();
        front.handle(backend.clone(), 21).await?
    };
    assert_eq!(answer, 42);
    cluster.shutdown().await?;
    provider.force_flush()?;

    let spans = exporter.get_finished_spans()?;
    let root = spans
        .iter()
        .find(|s| s.name == "request")
        .ok_or("no request span")?;
    let trace = root.span_context.trace_id();
    println!("trace {trace}");
    print_tree(&spans, root.span_context.span_id(), 1);
    let in_trace = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .count();
    let serves = spans
        .iter()
        .filter(|s| s.name == "distob.serve" && s.span_context.trace_id() == trace)
        .count();
    // The request, the client's call, engine 0 serving it, its call to
    // engine 1 and engine 1 serving that: one trace.
    assert!(
        in_trace >= 5 && serves == 2,
        "{in_trace} spans, {serves} serves"
    );
    println!("{in_trace} spans in one trace, {serves} of them on engines");
    Ok(())
}

/// Prints the spans whose parent is `parent`, indented by depth.
fn print_tree(
    spans: &[opentelemetry_sdk::trace::SpanData],
    parent: opentelemetry::trace::SpanId,
    depth: usize,
) {
    for s in spans.iter().filter(|s| s.parent_span_id == parent) {
        let attr = |k: &str| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.to_string())
                .unwrap_or_default()
        };
        println!(
            "{:indent$}{} node={} method={}",
            "",
            s.name,
            attr("node"),
            attr("method"),
            indent = depth * 2
        );
        print_tree(spans, s.span_context.span_id(), depth + 1);
    }
}
