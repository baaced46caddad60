//! Quickstart: scatter values onto engines, call methods on their typed
//! proxies, gather them back, compute on a distributed array, shut down —
//! on the embedded default (in-process engines).
//!
//! Run: `cargo run --release --example quickstart`

use distob::call::call_all;
use distob::{Cluster, NodeId};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sample {
    name: String,
    readings: Vec<f64>,
}

/// A type of our own with methods: `#[distob::remote]` makes them callable
/// on a remote `Counter` (through `RemoteCounter` and `CounterProxy`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Counter {
    n: i64,
}

#[distob::remote]
impl Counter {
    /// Adds `by` and returns the new count.
    pub fn incr(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }

    /// The count.
    pub fn get(&self) -> i64 {
        self.n
    }
}

// `#[distob::main]` lets `Cluster::spawn` re-run this program as an engine
// process that hosts `Counter` too (not needed for in-process engines).
#[distob::main]
#[tokio::main]
async fn main() -> distob::Result<()> {
    // Four engines in this process, each an actor host on its own thread,
    // reached over loopback TCP with the same wire and handshake as remote ones.
    let cluster = Cluster::local(4).await?;
    let names: Vec<String> = cluster.engines().iter().map(|n| n.to_string()).collect();
    println!("engines: {}", names.join(", "));

    // Any serde value can be scattered; you get a typed proxy back.
    let s = cluster
        .scatter(Sample {
            name: "probe-1".into(),
            readings: vec![0.5, 0.25, 0.125],
        })
        .await?;
    println!("scattered a Sample to {}", s.id());

    // A Vec of values spreads round-robin over the engines.
    let parts = cluster
        .scatter_each((0..8).map(|i| format!("part {i}")).collect())
        .await?;
    let placement: Vec<String> = parts.iter().map(|p| p.node().to_string()).collect();
    println!("8 strings placed on engines {}", placement.join(","));

    // Arrays travel as raw bytes, straight from and into their memory.
    let a = ArrayD::from_shape_fn(IxDyn(&[1000, 1000]), |i| (i[0] + i[1]) as f64);
    let ra = cluster.scatter_to(NodeId(2), a.clone()).await?;
    println!(
        "a 1000x1000 f64 array ({} MB) lives at {}",
        a.len() * 8 / 1_000_000,
        ra.id()
    );

    // Each engine's own view of what it holds.
    for node in cluster.engines() {
        let objects = cluster.hub().engine(node).list().await?;
        let kinds: Vec<String> = objects.iter().map(|o| short(&o.type_name)).collect();
        println!("engine {node}: {} objects {:?}", objects.len(), kinds);
    }

    // Gather brings values back; every request is in flight at once.
    let back: Sample = cluster.gather(&s).await?;
    let strings: Vec<String> = cluster.gather(&parts).await?;
    let b: ArrayD<f64> = cluster.gather(&ra).await?;
    assert_eq!(b, a);
    println!(
        "gathered {:?}, {} strings and the array (equal: {})",
        back.name,
        strings.len(),
        b == a
    );

    // Methods run where the object lives; each call is sent at once, and
    // calls on one object run in the order they were made.
    let c: RemoteCounter = cluster.scatter(Counter { n: 0 }).await?;
    let a = c.incr(5);
    let b = c.incr(1);
    println!("incr(5), incr(1) -> {}, {}", a.await?, b.await?);
    let counters: Vec<RemoteCounter> = cluster
        .scatter_each((0..4).map(|n| Counter { n }).collect())
        .await?;
    let bumped = call_all(&counters, |c| c.incr(10)).await?;
    println!("call_all(incr(10)) on 4 engines -> {bumped:?}");
    let back: Counter = cluster.gather(&c).await?;
    println!("gathered {back:?}");

    // A distributed array: one block per engine, computed where it lives.
    let x = ArrayD::from_shape_fn(IxDyn(&[1_000_000]), |i| i[0] as f64 * 1e-6);
    let d = cluster.scatter_axis(x, 0).await?;
    println!("{d}");
    let y = d.sin() * 2.0 + 1.0; // queued on every engine at once, fused
    println!("sum(sin(x)·2 + 1) = {:.3}", y.sum().await?);

    // Dropping the last proxy releases the object on its engine.
    drop((s, parts, ra, c, counters, d, y));
    println!("objects held after drop: {}", cluster.hub().len());
    // Stops the engines (any clone of the cluster may; once).
    cluster.shutdown().await?;
    Ok(())
}

/// `alloc::string::String` → `String`, keeping generic arguments.
fn short(type_name: &str) -> String {
    let mut out = String::new();
    let mut token = String::new();
    for c in type_name.chars().chain(std::iter::once('\0')) {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            token.push(c);
        } else {
            out.push_str(token.rsplit("::").next().unwrap_or(&token));
            token.clear();
            if c != '\0' {
                out.push(c);
            }
        }
    }
    out
}
