//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod runner;

use distob::cluster::ClusterKey;
use distob::{Engine, NodeId};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The deadline of every wait in a test.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Awaits `fut`, failing the test if it takes longer than [`TIMEOUT`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("test step timed out")
}

/// Polls `check` until it returns true, failing after [`TIMEOUT`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `distob` binary built for these tests.
pub fn distob_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_distob"))
}

/// Sends a signal to a process with the `kill` command.
pub fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// An engine (node 0, fresh key) serving on its own thread and loopback
/// port; it stops when this is dropped.
pub struct TestEngine {
    pub addr: SocketAddr,
    pub key: ClusterKey,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts an engine (node 0, fresh key) set up by `configure` on 127.0.0.1
/// port 0.
pub fn start_engine(configure: impl FnOnce(Engine) -> Engine + Send + 'static) -> TestEngine {
    start_engine_as(NodeId(0), ClusterKey::random().unwrap(), configure)
}

/// Starts engine `node` holding `key`, set up by `configure`, on 127.0.0.1
/// port 0.
pub fn start_engine_as(
    node: NodeId,
    key: ClusterKey,
    configure: impl FnOnce(Engine) -> Engine + Send + 'static,
) -> TestEngine {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let engine_key = key.clone();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            configure(Engine::new(node, engine_key))
                .serve(listener, async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        })
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    TestEngine {
        addr,
        key,
        stop: Some(stop_tx),
    }
}

/// Whether process `pid` runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.split_whitespace().nth(2) != Some("Z"))
}

/// Waits (within [`TIMEOUT`]) until none of `pids` runs.
pub async fn all_gone(what: &str, pids: &[u32]) {
    eventually(what, || async { pids.iter().all(|&p| !alive(p)) }).await;
}

/// Runs `distob cluster stop --profile PROFILE`; what it printed.
pub fn cluster_stop(profile: &Path) -> std::process::Output {
    std::process::Command::new(distob_bin())
        .args(["cluster", "stop", "--profile"])
        .arg(profile)
        .output()
        .unwrap()
}

/// Runs `distob cluster stop` on a profile that still exists when dropped,
/// so that a failed test leaves no detached engine (or job) behind.
pub struct StopOnDrop(pub std::path::PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = cluster_stop(&self.0);
        }
    }
}

/// The resident memory of process `pid`, in KiB (0 if unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One runtime and one in-process cluster per engine count (1 to 4),
/// shared by every case of a property test.
pub fn clusters() -> &'static (tokio::runtime::Runtime, Vec<distob::Cluster>) {
    static CLUSTERS: std::sync::OnceLock<(tokio::runtime::Runtime, Vec<distob::Cluster>)> =
        std::sync::OnceLock::new();
    CLUSTERS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let clusters = rt.block_on(async {
            let mut out = Vec::new();
            for n in 1..=4 {
                out.push(within(distob::Cluster::local(n)).await.unwrap());
            }
            out
        });
        (rt, clusters)
    })
}
