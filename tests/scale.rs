//! Scale: a thousand in-process engines (sharing threads) and sixty-four
//! engine processes (registering by dial-back) each serve a call.
#![allow(clippy::unwrap_used)]

mod common;

use common::{distob_bin, within};
use distob::launch::LocalProcesses;
use distob::{Cluster, NodeId};
use std::time::{Duration, Instant};

/// This process's threads whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_in_process_engines_share_threads_and_each_serve_a_call() {
    let start = Instant::now();
    let cluster = within(Cluster::local(1000)).await.unwrap();
    println!("1000 in-process engines up in {:?}", start.elapsed());
    assert_eq!(cluster.engines().len(), 1000);
    let cores = std::thread::available_parallelism().unwrap().get();
    let threads = threads_named("distob-engine");
    assert!(
        threads <= (4 * cores).max(16),
        "{threads} engine threads for 1000 engines"
    );
    let xs = within(cluster.scatter_each((0..1000u32).collect()))
        .await
        .unwrap();
    let mut nodes: Vec<u32> = xs.iter().map(|x| x.node().0).collect();
    nodes.sort();
    assert_eq!(nodes, (0..1000).collect::<Vec<u32>>());
    assert_eq!(
        within(cluster.gather(&xs)).await.unwrap(),
        (0..1000).collect::<Vec<u32>>()
    );
    drop(xs);
    within(cluster.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_engine_processes_register_and_each_serve_a_call() {
    let start = Instant::now();
    let cluster = within(Cluster::launch(
        LocalProcesses::new().program(distob_bin()),
        64,
    ))
    .await
    .unwrap();
    within(cluster.wait_for(64, Duration::from_secs(28)))
        .await
        .unwrap();
    println!("64 engine processes registered in {:?}", start.elapsed());
    let xs = within(cluster.scatter_each((0..64u64).collect()))
        .await
        .unwrap();
    let nodes: Vec<NodeId> = xs.iter().map(|x| x.node()).collect();
    assert_eq!(nodes, (0..64).map(NodeId).collect::<Vec<_>>());
    assert_eq!(
        within(cluster.gather(&xs)).await.unwrap(),
        (0..64).collect::<Vec<u64>>()
    );
    drop(xs);
    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    assert_eq!(pids.len(), 64);
    within(cluster.shutdown()).await.unwrap();
    common::all_gone("every engine process ends", &pids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_leaves_the_client_once_and_reaches_every_engine() {
    let cluster = within(Cluster::local(9)).await.unwrap();
    let a = ndarray::ArrayD::from_shape_fn(vec![512, 1024], |i| (i[0] * 1024 + i[1]) as f64);
    let nbytes = (a.len() * 8) as u64;
    let before = cluster.hub().bytes_sent();
    let mut copies: Vec<distob::RemoteArray<f64>> =
        within(cluster.broadcast(a.clone())).await.unwrap();
    let sent = cluster.hub().bytes_sent() - before;
    // The first engine, in this process, takes the array over (no bytes);
    // the others get their copies from the engines, never from the client.
    assert!(
        sent < 4096,
        "the client sent {sent} bytes for one {nbytes}-byte array"
    );
    let nodes: Vec<NodeId> = copies.iter().map(|c| c.node()).collect();
    assert_eq!(nodes, (0..9).map(NodeId).collect::<Vec<_>>());
    for node in 0..9 {
        let held = within(cluster.hub().engine(NodeId(node)).len())
            .await
            .unwrap();
        assert_eq!(held, 1, "engine {node} holds its copy");
    }
    for c in &copies {
        assert_eq!(within(cluster.gather(c)).await.unwrap(), a);
    }
    // Copies are separate objects: a change to one leaves the others.
    copies[5] *= 2.0;
    assert_eq!(within(cluster.gather(&copies[5])).await.unwrap(), &a * 2.0);
    for i in [0, 1, 4, 6] {
        assert_eq!(within(cluster.gather(&copies[i])).await.unwrap(), a);
    }
}
