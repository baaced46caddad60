//! Soak: a million scatter / call / drop cycles across four engine
//! processes leave no object behind and no memory growth worth the name.
//! Ignored by default; run with `cargo test --release --test soak -- --ignored`.
//! `DISTOB_SOAK_CYCLES` sets the number of cycles (default 1,000,000).
#![allow(clippy::unwrap_used)]

mod common;

use common::{distob_bin, eventually, rss_kib, within};
use distob::Cluster;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: run explicitly"]
async fn soak() {
    let cycles: usize = std::env::var("DISTOB_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let cluster = within(Cluster::spawn_program(distob_bin(), 4))
        .await
        .unwrap();
    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    let batch = 1_000;
    // Warm up, then take the baseline memory.
    for _ in 0..20 {
        let xs = within(cluster.scatter_each(vec![vec![1u8; 64]; batch]))
            .await
            .unwrap();
        within(cluster.gather(&xs)).await.unwrap();
    }
    let before: Vec<u64> = pids.iter().map(|&p| rss_kib(p)).collect();
    let start = Instant::now();
    let mut done = 0;
    while done < cycles {
        let n = batch.min(cycles - done);
        let xs = within(cluster.scatter_each(vec![vec![7u8; 64]; n]))
            .await
            .unwrap();
        let back = within(cluster.gather(&xs)).await.unwrap();
        assert_eq!(back.len(), n);
        drop(xs);
        done += n;
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(cluster.hub().is_empty());
    for node in cluster.engines() {
        let engine = cluster.hub().engine(node);
        eventually("every engine to be empty", || {
            let engine = engine.clone();
            async move { within(engine.len()).await.unwrap() == 0 }
        })
        .await;
    }
    let after: Vec<u64> = pids.iter().map(|&p| rss_kib(p)).collect();
    println!(
        "soak: {cycles} cycles in {secs:.1} s ({:.0}/s); engine RSS KiB before {before:?}, after {after:?}",
        cycles as f64 / secs
    );
    for (b, a) in before.iter().zip(&after) {
        assert!(
            *a <= b + b / 10,
            "resident memory grew from {b} KiB to {a} KiB"
        );
    }
}
