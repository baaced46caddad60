//! A lost engine fails the calls waiting on it, and nothing hangs.
#![allow(clippy::unwrap_used)]

mod common;

use common::{distob_bin, signal, within};
use distob::{Cluster, Error, NodeId};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_engine_process_fails_a_waiting_call_with_engine_lost() {
    let cluster = within(Cluster::spawn_program(distob_bin(), 2))
        .await
        .unwrap();
    let x = within(cluster.scatter_to(NodeId(0), vec![1.0f64; 1000]))
        .await
        .unwrap();
    let y = within(cluster.scatter_to(NodeId(1), 5i32)).await.unwrap();
    let pid = cluster
        .pids()
        .into_iter()
        .find(|(n, _)| *n == NodeId(0))
        .unwrap()
        .1;
    // Freeze the engine so that the call is surely waiting, then kill it.
    signal(pid, "STOP");
    let waiting = x.fetch();
    tokio::time::sleep(Duration::from_millis(200)).await;
    signal(pid, "KILL");
    let start = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting call did not resolve within 5 s");
    assert!(matches!(r, Err(Error::EngineLost(NodeId(0)))), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // Later calls to it fail at once; the other engine goes on.
    let again = within(x.fetch()).await;
    assert!(
        matches!(again, Err(Error::EngineLost(NodeId(0)))),
        "{again:?}"
    );
    assert_eq!(within(y.fetch()).await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_engine_rejoins_and_its_old_objects_are_reported_lost() {
    use distob::cluster::ClusterEvent;
    let cluster = within(Cluster::spawn_program(distob_bin(), 2))
        .await
        .unwrap();
    let mut events = cluster.events();
    let old = within(cluster.scatter_to(NodeId(0), 41u64)).await.unwrap();
    let other = within(cluster.scatter_to(NodeId(1), 42u64)).await.unwrap();
    let profile = cluster.profile();
    let addr = profile.engines[0].addr;
    let pid = cluster
        .pids()
        .into_iter()
        .find(|(n, _)| *n == NodeId(0))
        .unwrap()
        .1;
    signal(pid, "KILL");
    let event = within(events.recv()).await.unwrap();
    assert_eq!(event, ClusterEvent::EngineLost(NodeId(0)));

    // The same engine comes back at the same address with the same key.
    let restarted = Restarted::start(&profile, NodeId(0), addr);
    let start = Instant::now();
    loop {
        match cluster.reconnect(NodeId(0)).await {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "cannot reconnect: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert_eq!(
        within(events.recv()).await.unwrap(),
        ClusterEvent::EngineReconnected(NodeId(0))
    );
    let r = within(old.fetch()).await;
    assert!(
        matches!(r, Err(Error::ObjectLost(x)) if x == old.id()),
        "{r:?}"
    );
    let fresh = within(cluster.scatter_to(NodeId(0), 43u64)).await.unwrap();
    assert_eq!(within(fresh.fetch()).await.unwrap(), 43);
    assert_eq!(within(other.fetch()).await.unwrap(), 42);
    drop((old, fresh));
    restarted.stop();
}

/// Engine `node` of `profile` started again at `addr`, as a new process;
/// stopped when dropped (also when the test fails).
struct Restarted {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Restarted {
    fn start(
        profile: &distob::cluster::Profile,
        node: NodeId,
        addr: std::net::SocketAddr,
    ) -> Restarted {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("profile.json");
        profile.save(&file).unwrap();
        let child = std::process::Command::new(distob_bin())
            .args([
                "engine",
                "--listen",
                &addr.to_string(),
                "--node",
                &node.0.to_string(),
                "--profile",
            ])
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Restarted { child, _dir: dir }
    }

    fn stop(self) {
        drop(self);
    }
}

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_engine_is_rejoined_automatically_once_it_is_back() {
    use distob::cluster::ClusterEvent;
    let cluster = within(Cluster::spawn_program(distob_bin(), 1))
        .await
        .unwrap();
    cluster.reconnect_automatically(Duration::from_millis(20), Duration::from_millis(200));
    let mut events = cluster.events();
    let old = within(cluster.scatter_to(NodeId(0), 7u64)).await.unwrap();
    let profile = cluster.profile();
    let addr = profile.engines[0].addr;
    let pid = cluster.pids()[0].1;
    signal(pid, "KILL");
    assert_eq!(
        within(events.recv()).await.unwrap(),
        ClusterEvent::EngineLost(NodeId(0))
    );
    // Down for a while: the attempts fail and back off, nothing else happens.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(cluster.hub().is_lost(NodeId(0)));
    let restarted = Restarted::start(&profile, NodeId(0), addr);
    // Back: the hub joins it without being asked.
    assert_eq!(
        within(events.recv()).await.unwrap(),
        ClusterEvent::EngineReconnected(NodeId(0))
    );
    assert!(!cluster.hub().is_lost(NodeId(0)));
    let r = within(old.fetch()).await;
    assert!(matches!(r, Err(Error::ObjectLost(_))), "{r:?}");
    let fresh = within(cluster.scatter_to(NodeId(0), 8u64)).await.unwrap();
    assert_eq!(within(fresh.fetch()).await.unwrap(), 8);
    drop((old, fresh));
    restarted.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lost_engine_is_retried_on_its_own_and_a_lagging_subscriber_is_told() {
    use distob::cluster::ClusterEvent;
    let cluster = within(Cluster::spawn_program(distob_bin(), 4))
        .await
        .unwrap();
    cluster.reconnect_automatically(Duration::from_millis(100), Duration::from_millis(400));
    // Subscribed, and never read until the end: it falls behind.
    let mut lagging = cluster.events();
    let profile = cluster.profile();
    let pid = |n: u32| {
        cluster
            .pids()
            .into_iter()
            .find(|(node, _)| *node == NodeId(n))
            .unwrap()
            .1
    };
    // Engine 0 goes first and never comes back.
    signal(pid(0), "KILL");
    common::eventually("engine 0 lost", || {
        let lost = cluster.hub().is_lost(NodeId(0));
        async move { lost }
    })
    .await;
    // Engines 1 and 2 go too and come back at their addresses, while a
    // flood of events (reconnections of the live engine 3) overflows the
    // subscriber.
    signal(pid(1), "KILL");
    signal(pid(2), "KILL");
    common::eventually("engines 1 and 2 lost", || {
        let lost = cluster.hub().is_lost(NodeId(1)) && cluster.hub().is_lost(NodeId(2));
        async move { lost }
    })
    .await;
    let _back: Vec<Restarted> = [1u32, 2]
        .iter()
        .map(|&n| Restarted::start(&profile, NodeId(n), profile.engines[n as usize].addr))
        .collect();
    for _ in 0..(distob::cluster::EVENT_BACKLOG + 16) {
        within(cluster.reconnect(NodeId(3))).await.unwrap();
    }
    let start = Instant::now();
    common::eventually("engines 1 and 2 rejoined", || {
        let back = !cluster.hub().is_lost(NodeId(1)) && !cluster.hub().is_lost(NodeId(2));
        async move { back }
    })
    .await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    for n in [1, 2, 3] {
        let x = within(cluster.scatter_to(NodeId(n), n as u64))
            .await
            .unwrap();
        assert_eq!(within(x.fetch()).await.unwrap(), n as u64);
    }
    assert!(cluster.hub().is_lost(NodeId(0)));
    assert_eq!(cluster.hub().lost_engines(), vec![NodeId(0)]);
    // The subscriber is told it missed events, and what is lost now.
    match within(lagging.recv()).await {
        Some(ClusterEvent::Missed { missed, lost }) => {
            assert!(missed > 0);
            assert!(lost.contains(&NodeId(0)), "{lost:?}");
        }
        other => panic!("expected Missed, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_engine_mid_transfer_and_mid_pipeline_leaves_nothing_hanging() {
    let cluster = within(Cluster::spawn_program(distob_bin(), 2))
        .await
        .unwrap();
    let pid = |n: u32| {
        cluster
            .pids()
            .into_iter()
            .find(|(node, _)| node.0 == n)
            .unwrap()
            .1
    };
    // A 1 GB scatter, with the engine killed while the bytes flow.
    let big = ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[125_000_000]));
    let hub = cluster.hub().clone();
    let transfer = tokio::spawn(async move { hub.scatter_to(NodeId(0), big).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(150)).await;
    signal(pid(0), "KILL");
    let r = tokio::time::timeout(Duration::from_secs(5), transfer)
        .await
        .expect("the scatter did not resolve within 5 s")
        .unwrap();
    assert!(matches!(r, Err(Error::EngineLost(NodeId(0)))), "{r:?}");

    // 10,000 calls in flight, with the engine killed under them: by a
    // shell started beforehand and told to go once they are sent (starting
    // `kill` then could outlast the calls on a busy machine).
    let x = within(cluster.scatter_to(NodeId(1), 9u16)).await.unwrap();
    let mut killer = std::process::Command::new("sh")
        .args(["-c", &format!("read go; kill -KILL {}", pid(1))])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut calls: std::collections::VecDeque<_> = (0..10_000).map(|_| x.fetch()).collect();
    let mut go = killer.stdin.take().unwrap();
    std::io::Write::write_all(&mut go, b"now\n").unwrap();
    drop(go);
    let start = Instant::now();
    let (mut ok, mut lost, mut sent) = (0, 0, 10_000);
    // Each answer is replaced by a new call until the kill lands (the
    // calls can outrun a shell on a busy machine), so that it lands under
    // calls in flight.
    while let Some(c) = calls.pop_front() {
        match tokio::time::timeout(Duration::from_secs(5), c).await {
            Ok(Ok(9)) => ok += 1,
            Ok(Err(Error::EngineLost(NodeId(1)))) => lost += 1,
            other => panic!("unexpected {other:?}"),
        }
        if lost == 0 && start.elapsed() < Duration::from_secs(3) {
            calls.push_back(x.fetch());
            sent += 1;
        }
    }
    assert!(killer.wait().unwrap().success());
    assert_eq!(ok + lost, sent);
    assert!(lost > 0, "the kill came after every reply");
    assert!(start.elapsed() < Duration::from_secs(8));
}
