//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::future::Future;
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
