//! Soak (run explicitly: `cargo test --release --test actors -- --ignored
//! soak`): create / pass / call / drop cycles through engines over four
//! engine processes; `ACTORS_SOAK_CYCLES` sets how many (default
//! 1,000,000). Afterwards every engine holds only the relays, and no
//! engine's resident memory grew by 10% or more.

use super::common::rss_kib;
use super::common::{eventually, within};
use super::objects_on;
use super::types::{Counter, Relay, RelayProxy, RemoteRelay};
use distob::Cluster;
use std::time::Instant;

/// `n` cycles: counters made round-robin, each handed (and at once
/// dropped here) to the relay of the next engine, which calls it.
async fn cycles(c: &Cluster, relays: &[RemoteRelay], n: usize) {
    let made = within(c.scatter_each(vec![Counter { n: 0 }; n]))
        .await
        .unwrap();
    let calls: Vec<_> = made
        .into_iter()
        .enumerate()
        .map(|(i, x)| relays[(i + 1) % relays.len()].touch(x))
        .collect();
    for call in calls {
        assert_eq!(within(call).await.unwrap(), 1);
    }
}

pub async fn soak_create_pass_call_drop(c: &Cluster) {
    let total: usize = std::env::var("ACTORS_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let own = within(Cluster::spawn(4)).await.unwrap();
    let relays: Vec<RemoteRelay> = within(own.scatter_each(vec![Relay; 4])).await.unwrap();
    let pids: Vec<u32> = own.pids().into_iter().map(|(_, p)| p).collect();
    let batch = 1_000;
    for _ in 0..20 {
        cycles(&own, &relays, batch).await;
    }
    let before: Vec<u64> = pids.iter().map(|&p| rss_kib(p)).collect();
    let start = Instant::now();
    let mut done = 0;
    while done < total {
        let n = batch.min(total - done);
        cycles(&own, &relays, n).await;
        done += n;
    }
    let secs = start.elapsed().as_secs_f64();
    for node in own.engines() {
        eventually("each engine to hold only its relay", || async {
            objects_on(&own, node).await == 1
        })
        .await;
    }
    let after: Vec<u64> = pids.iter().map(|&p| rss_kib(p)).collect();
    println!(
        "soak: {total} cycles in {secs:.1} s ({:.0}/s); engine RSS KiB before {before:?}, after {after:?}",
        total as f64 / secs
    );
    for (b, a) in before.iter().zip(&after) {
        assert!(
            *a < b + b / 10,
            "resident memory grew from {b} KiB to {a} KiB"
        );
    }
    let _ = c;
}
