#![allow(unreachable_pub)]
//! Figures of actors calling each other: a chain of 16 objects run engine
//! to engine, the same 16 calls driven from the client, one object fanning
//! out to a thousand, and a call between two objects of one engine.

use super::{emit, median, percentile, BoxError};
use distob::{Cluster, Ctx, NodeId};
use std::time::Instant;

/// One link of a chain, and a target of fan-outs.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Hop {
    next: Option<RemoteHop>,
    targets: Vec<RemoteHop>,
}

#[distob::remote]
impl Hop {
    pub fn link(&mut self, next: RemoteHop) {
        self.next = Some(next);
    }

    /// `n + 1`: one step a client drives.
    pub fn step(&self, n: u32) -> u32 {
        n + 1
    }

    /// Passes `n + 1` down the chain; the last link answers.
    pub async fn pass(&self, n: u32) -> Result<u32, String> {
        match &self.next {
            Some(next) => next.pass(n + 1).await.map_err(|e| e.to_string()),
            None => Ok(n),
        }
    }

    pub fn aim(&mut self, targets: Vec<RemoteHop>) {
        self.targets = targets;
    }

    /// Calls every target at once and awaits them all.
    pub async fn fan_out(&self) -> Result<u64, String> {
        let calls: Vec<_> = self.targets.iter().map(|t| t.step(1)).collect();
        let mut sum = 0u64;
        for c in calls {
            sum += u64::from(c.await.map_err(|e| e.to_string())?);
        }
        Ok(sum)
    }

    /// Round trips (µs) of `n` calls, one after another, from this object
    /// to `other`, timed on the engine.
    pub async fn time_calls(
        &self,
        _ctx: &Ctx,
        other: RemoteHop,
        n: u32,
    ) -> Result<Vec<f64>, String> {
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let t = Instant::now();
            other.step(i).await.map_err(|e| e.to_string())?;
            out.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Ok(out)
    }
}

/// The actor figures; `raw_p50` is the raw TCP ping-pong of this run,
/// `channel_p50` the in-process channel ping-pong.
pub async fn actors(quick: bool, raw_p50: f64, channel_p50: f64) -> Result<(), BoxError> {
    let cluster = Cluster::spawn(4).await?;
    let reps = if quick { 200 } else { 2_000 };
    // Sixteen links round-robin over the four engines: every hop crosses to
    // another engine process, the cost of one hop.
    let spread: Vec<NodeId> = (0..16).map(|i| NodeId(i % 4)).collect();
    let (chain, driven) = chain_and_driven(&cluster, &spread, reps).await?;
    emit("actor_hop_rtt_p50_us", chain / 16.0, "us", Some(raw_p50));
    emit(
        "actor_chain_round_robin_vs_client_driven",
        chain / driven,
        "ratio",
        Some(1.0),
    );
    // A pipeline as one would place it: four consecutive stages on each
    // engine, so that the chain crosses engines three times and the client
    // once, where the client drives sixteen round trips.
    let blocks: Vec<NodeId> = (0..16).map(|i| NodeId(i / 4)).collect();
    let (chain, driven) = chain_and_driven(&cluster, &blocks, reps).await?;
    emit(
        "actor_chain_vs_client_driven",
        chain / driven,
        "ratio",
        Some(1.0),
    );

    // One object calling a thousand others on the four engines.
    let targets: Vec<RemoteHop> = cluster
        .scatter_each((0..1000).map(|_| Hop::default()).collect())
        .await?;
    let fan: RemoteHop = cluster.scatter_to(NodeId(0), Hop::default()).await?;
    fan.aim(targets).await?;
    fan.fan_out().await?;
    let mut rates = Vec::new();
    for _ in 0..if quick { 5 } else { 30 } {
        let t = Instant::now();
        fan.fan_out().await?;
        rates.push(1000.0 / t.elapsed().as_secs_f64());
    }
    emit("engine_fanout_calls_per_s", median(rates), "calls/s", None);

    // An object calling another of its own engine.
    let a: RemoteHop = cluster.scatter_to(NodeId(1), Hop::default()).await?;
    let b: RemoteHop = cluster.scatter_to(NodeId(1), Hop::default()).await?;
    let mut same = a.time_calls(b, if quick { 2_000 } else { 20_000 }).await?;
    emit(
        "same_engine_call_rtt_p50_us",
        percentile(&mut same, 0.5),
        "us",
        Some(channel_p50),
    );
    Ok(())
}

/// The median time (µs) of one call down a chain of hops placed on
/// `nodes`, and of the same steps driven one by one from the client.
async fn chain_and_driven(
    cluster: &Cluster,
    nodes: &[NodeId],
    reps: usize,
) -> Result<(f64, f64), BoxError> {
    let mut hops: Vec<RemoteHop> = Vec::with_capacity(nodes.len());
    for &node in nodes {
        hops.push(cluster.scatter_to(node, Hop::default()).await?);
    }
    for pair in hops.windows(2) {
        pair[0].link(pair[1].clone()).await?;
    }
    let head = hops[0].clone();
    for _ in 0..reps / 10 {
        head.pass(0).await?;
    }
    let (mut chain, mut driven) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let t = Instant::now();
        head.pass(0).await?;
        chain.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        let mut n = 0;
        for hop in &hops {
            n = hop.step(n).await?;
        }
        driven.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok((percentile(&mut chain, 0.5), percentile(&mut driven, 0.5)))
}
