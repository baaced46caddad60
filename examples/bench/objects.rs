//! Many small objects on one engine process: what each costs in the
//! engine's memory, how fast they are made, and whether the memory comes
//! back once every handle is dropped.

use super::{emit, BoxError};
use distob::{Cluster, NodeId};
use std::time::{Duration, Instant};

/// Today's cost of an idle `u64` object before this work, the baseline.
const BYTES_PER_OBJECT_BEFORE: f64 = 1363.0;

fn rss_bytes(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .unwrap_or(0.0)
        * 1024.0
}

/// The small-object figures.
pub(crate) async fn objects(quick: bool) -> Result<(), BoxError> {
    let n = if quick { 20_000 } else { 200_000 };
    let cluster = Cluster::spawn(1).await?;
    let (_, pid) = *cluster.pids().first().ok_or("an engine process")?;
    let engine = cluster.hub().engine(NodeId(0));
    // Warm the engine's tables and allocator with a first batch, freed.
    let mut warm = Vec::new();
    for i in 0..1000u64 {
        let (r, ack) = cluster.hub().put(NodeId(0), i)?;
        ack.await?;
        warm.push(r);
    }
    drop(warm);
    settle(&engine, 0).await?;
    let before = rss_bytes(pid);
    let t = Instant::now();
    let mut remotes = Vec::with_capacity(n);
    let mut acks = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let (r, ack) = cluster.hub().put(NodeId(0), i)?;
        remotes.push(r);
        acks.push(ack);
    }
    for ack in acks {
        ack.await?;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let peak = rss_bytes(pid);
    emit("object_creations_per_s", rate, "objects/s", None);
    emit(
        "engine_bytes_per_object",
        (peak - before) / n as f64,
        "bytes",
        Some(BYTES_PER_OBJECT_BEFORE),
    );
    drop(remotes);
    settle(&engine, 0).await?;
    // Give the engine a moment to hand memory back after the release (it
    // trims 200 ms after, off its thread; the walk takes a while).
    tokio::time::sleep(Duration::from_secs(1)).await;
    emit(
        "engine_rss_after_release_ratio",
        rss_bytes(pid) / before,
        "ratio",
        Some(peak / before),
    );
    cluster.shutdown().await?;
    Ok(())
}

/// Waits until the engine holds `objects` objects.
pub(crate) async fn settle(
    engine: &distob::cluster::ObjectEngine,
    objects: u64,
) -> Result<(), BoxError> {
    let until = Instant::now() + Duration::from_secs(30);
    while engine.stats().await?.objects != objects {
        if Instant::now() > until {
            return Err("the engine did not release its objects".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
