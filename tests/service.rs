//! Embedding a cluster in a service: a `Clone + Send + Sync` handle,
//! settings through the builder and profiles, connect timeouts, drain, and
//! engine processes of this very test binary (libtest's `main`) hosting a
//! type only this test defines.
#![allow(clippy::unwrap_used)]

mod common;

use common::within;
use distob::cluster::{EngineEntry, Profile, Settings};
use distob::error::StartError;
use distob::{Cluster, Error, NodeId};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

distob::test_engine!();

/// A type only this test binary knows: engine processes host it only if
/// they are this binary.
#[derive(Debug, Serialize, Deserialize, Default)]
pub struct Sleeper {
    woken: u32,
}

#[distob::remote]
impl Sleeper {
    /// Sleeps `ms` on the engine without blocking it, then counts.
    pub async fn nap(&mut self, ms: u64) -> u32 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.woken += 1;
        self.woken
    }

    /// The engine process's id.
    pub fn pid(&self) -> u32 {
        std::process::id()
    }

    /// The latency mode the engine process was given.
    pub fn latency(&self) -> Option<String> {
        std::env::var("DISTOB_LATENCY").ok()
    }
}

/// CPU time a process has used, in seconds (Linux's clock ticks).
fn cpu_s(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<f64> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f[11] + f[12]) / 100.0
}

#[test]
fn a_cluster_is_a_handle_services_can_share() {
    fn service_state<T: Clone + Send + Sync + 'static>() {}
    service_state::<Cluster>();
    service_state::<distob::ObjectHub>();
    service_state::<distob::Remote<Sleeper>>();
}

#[tokio::test]
async fn spawned_engines_are_this_test_binary_and_host_its_types() {
    let cluster = within(Cluster::spawn(2)).await.unwrap();
    let s: RemoteSleeper = within(cluster.scatter(Sleeper::default())).await.unwrap();
    let pid = within(s.pid()).await.unwrap();
    assert_ne!(pid, std::process::id());
    assert_eq!(within(s.nap(1)).await.unwrap(), 1);
    // Any clone shuts it down; the engine process is gone after.
    let clone = cluster.clone();
    within(clone.shutdown()).await.unwrap();
    common::all_gone("the spawned engines to end", &[pid]).await;
    assert!(matches!(within(s.pid()).await, Err(Error::HubClosed)));
    // Once is enough: again returns at once.
    within(cluster.shutdown()).await.unwrap();
}

#[tokio::test]
async fn builder_limits_reach_engine_processes() {
    let cluster = within(
        Cluster::builder()
            .ignore_env()
            .max_queued_per_object(2)
            .spawn(1),
    )
    .await
    .unwrap();
    assert_eq!(cluster.settings().max_queued_per_object, Some(2));
    let s: RemoteSleeper = within(cluster.scatter(Sleeper::default())).await.unwrap();
    let calls: Vec<_> = (0..6).map(|_| s.nap(200)).collect();
    let results = within(futures::future::join_all(calls)).await;
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(Error::Busy)))
        .count();
    assert!(
        busy >= 3,
        "the engine kept its queue bound of 2: {results:?}"
    );
    within(cluster.shutdown()).await.unwrap();
}

#[tokio::test]
async fn spinning_links_serve_calls_then_park_when_calls_stop() {
    let spin: distob::cluster::Latency = "spin:5ms".parse().unwrap();
    let cluster = within(Cluster::builder().ignore_env().latency(spin).spawn(1))
        .await
        .unwrap();
    assert_eq!(cluster.settings().latency, Some(spin));
    let s: RemoteSleeper = within(cluster.scatter(Sleeper::default())).await.unwrap();
    assert_eq!(
        within(s.latency()).await.unwrap().as_deref(),
        Some("spin:5000us")
    );
    for i in 1..=200 {
        assert_eq!(within(s.nap(0)).await.unwrap(), i);
    }
    // Once calls stop, the engine's reader parks: over a quiet second the
    // engine process keeps no CPU busy. (Its readers run the same code as
    // the client's; this process's own CPU time counts the tests running
    // beside this one.)
    let pid = within(s.pid()).await.unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let engine = cpu_s(&pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let engine = cpu_s(&pid) - engine;
    assert!(engine < 0.3, "CPU of the engine while idle: {engine} s");
    within(cluster.shutdown()).await.unwrap();
}

/// glibc keeps freed memory unless asked; other allocators give it back
/// by themselves or cannot be asked.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test]
async fn an_engine_gives_memory_back_once_its_objects_are_released() {
    let cluster = within(Cluster::spawn(1)).await.unwrap();
    let (_, pid) = cluster.pids()[0];
    let engine = cluster.hub().engine(NodeId(0));
    let warm = within(cluster.scatter_each((0..2_000u64).collect()))
        .await
        .unwrap();
    drop(warm);
    let empty = || async { within(engine.stats()).await.unwrap().objects == 0 };
    common::eventually("the warm-up objects to go", empty).await;
    let before = common::rss_kib(pid);
    let many = within(cluster.scatter_each((0..100_000u64).collect()))
        .await
        .unwrap();
    // One of them called: its actor starts then, the others never do.
    assert_eq!(within(many[7].fetch()).await.unwrap(), 7);
    let peak = common::rss_kib(pid);
    assert!(
        peak > before + 20_000,
        "100,000 objects took {} KiB",
        peak - before
    );
    drop(many);
    common::eventually("the objects to go", empty).await;
    common::eventually("the engine to give their memory back", || async {
        common::rss_kib(pid) < before + (peak - before) / 3
    })
    .await;
    within(cluster.shutdown()).await.unwrap();
}

#[tokio::test]
async fn settings_come_from_the_builder_before_the_profile() {
    let first = within(Cluster::local(1)).await.unwrap();
    let mut profile = first.profile();
    profile.settings = Settings {
        call_timeout_ms: Some(1500),
        ..Settings::default()
    };
    let from_profile = within(Cluster::builder().ignore_env().connect_profile(&profile))
        .await
        .unwrap();
    assert_eq!(
        from_profile.hub().default_timeout(),
        Some(Duration::from_millis(1500))
    );
    let mine = within(
        Cluster::builder()
            .ignore_env()
            .call_timeout(Duration::from_secs(3))
            .connect_profile(&profile),
    )
    .await
    .unwrap();
    assert_eq!(mine.hub().default_timeout(), Some(Duration::from_secs(3)));
}

/// A loopback listener that never accepts, with its backlog full: a
/// further connect gets no answer at all (its SYNs are dropped).
fn black_hole() -> (
    socket2::Socket,
    Vec<std::net::TcpStream>,
    std::net::SocketAddr,
) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&any.into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut filling = Vec::new();
    for _ in 0..64 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => filling.push(s),
            Err(_) => return (listener, filling, addr),
        }
    }
    panic!("the backlog of a listen(0) socket never filled");
}

#[tokio::test]
async fn connecting_to_an_address_that_never_answers_fails_in_time() {
    let (_listener, _filling, addr) = black_hole();
    let key = distob::cluster::ClusterKey::random().unwrap();
    let profile = Profile::new(
        key,
        vec![EngineEntry {
            node: NodeId(0),
            addr,
            pid: None,
        }],
    );
    let start = Instant::now();
    let connected = within(
        Cluster::builder()
            .ignore_env()
            .connect_timeout(Duration::from_millis(300))
            .connect_profile(&profile),
    )
    .await;
    let took = start.elapsed();
    match connected {
        Err(StartError::Connect(Error::Connect { addr: a, source })) => {
            assert_eq!(a, addr);
            assert_eq!(source.kind(), std::io::ErrorKind::TimedOut);
        }
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test]
async fn drain_answers_every_pending_call_then_closes() {
    let cluster = within(Cluster::local(2)).await.unwrap();
    let sleepers: Vec<RemoteSleeper> = within(cluster.scatter_each(vec![
        Sleeper::default(),
        Sleeper::default(),
        Sleeper::default(),
        Sleeper::default(),
    ]))
    .await
    .unwrap();
    let pending: Vec<_> = sleepers
        .iter()
        .flat_map(|s| (0..5).map(move |_| s.nap(50)))
        .collect();
    assert_eq!(cluster.hub().pending_calls(), 20);
    let drainer = cluster.clone();
    let drain = tokio::spawn(async move { drainer.drain(Duration::from_secs(20)).await });
    // While it drains, new calls are refused at once.
    common::eventually("the drain to start", || async {
        !cluster.hub().accepts_calls()
    })
    .await;
    assert!(matches!(sleepers[0].nap(0).await, Err(Error::ShuttingDown)));
    let answers = within(futures::future::join_all(pending)).await;
    let mut per_object = [0u32; 4];
    for (i, a) in answers.into_iter().enumerate() {
        let n = a.unwrap_or_else(|e| panic!("call {i} was not answered: {e}"));
        per_object[i / 5] = per_object[i / 5].max(n);
    }
    assert_eq!(per_object, [5; 4]);
    within(drain).await.unwrap().unwrap();
    assert!(matches!(
        within(sleepers[1].nap(0)).await,
        Err(Error::HubClosed)
    ));
}

#[tokio::test]
async fn a_drain_past_its_deadline_says_so_and_still_closes() {
    let cluster = within(Cluster::local(1)).await.unwrap();
    let s: RemoteSleeper = within(cluster.scatter(Sleeper::default())).await.unwrap();
    let slow = s.nap(20_000);
    let start = Instant::now();
    let drained = within(cluster.drain(Duration::from_millis(100))).await;
    assert!(matches!(drained, Err(Error::Timeout)), "{drained:?}");
    // The slow call was withdrawn (and stopped on its engine), not waited for.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(within(slow).await, Err(Error::Timeout)));
    assert!(matches!(within(s.nap(0)).await, Err(Error::HubClosed)));
}

#[tokio::test]
async fn a_large_scatter_and_gather_report_their_progress() {
    let cluster = within(Cluster::local(1)).await.unwrap();
    let n = 16 << 20; // f64s: 128 MiB
    let big = ndarray::ArrayD::<f64>::from_elem(ndarray::IxDyn(&[n]), 1.5);
    let mut seen = Vec::new();
    let remote = within(cluster.scatter(big).progress(|p| seen.push(p)))
        .await
        .unwrap();
    let last = *seen.last().expect("a report at the end");
    assert!(last.total >= (n * 8) as u64, "{last:?}");
    assert_eq!(last.done, last.total);
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done), "{seen:?}");
    let mut back = Vec::new();
    let got = within(cluster.gather(&remote).progress(|p| back.push(p)))
        .await
        .unwrap();
    assert_eq!(got.len(), n);
    let last = *back.last().expect("a report at the end");
    assert!(last.total >= (n * 8) as u64, "{last:?}");
    assert_eq!(last.done, last.total);
}
