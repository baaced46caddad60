//! The examples, run as a user would run them (cargo builds them beside
//! this test): the quick ones to their end, and the web service under
//! concurrent HTTP load with one of its engine processes killed.
#![allow(clippy::unwrap_used)]

mod common;

use common::within;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The built example `name`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().unwrap().parent().unwrap();
    target.join("examples").join(name)
}

/// Runs an example to its end (within the test deadline); its output.
fn run(name: &str, args: &[&str]) -> String {
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                status.success(),
                "example {name} failed ({status}):\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return text;
        }
        if start.elapsed() > common::TIMEOUT * 2 {
            let _ = child.kill();
            panic!("example {name} did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn quickstart_runs() {
    let out = run("quickstart", &[]);
    assert!(out.contains("DistArray<f64> shape [1000000]"), "{out}");
    assert!(out.contains("objects held after drop: 0"), "{out}");
}

#[test]
fn processes_host_the_programs_own_types() {
    let out = run("processes", &[]);
    assert!(out.contains("bins over all engines"), "{out}");
}

#[test]
fn distarray_runs_quick() {
    let out = run("distarray", &["--quick"]);
    assert!(out.contains("equal to the original"), "{out}");
}

#[test]
fn stencil_runs() {
    let out = run("stencil", &[]);
    assert!(out.contains("equals the blur of the whole image"), "{out}");
}

#[test]
fn kmeans_runs_quick_and_agrees_with_one_thread() {
    let out = run("kmeans", &["--quick"]);
    assert!(out.contains("k-means step over 100000 points"), "{out}");
}

#[test]
fn launch_dry_run_shows_the_commands_and_starts_nothing() {
    let out = run("launch", &["--dry-run", "-n", "3"]);
    assert!(out.contains("ssh -o BatchMode=yes node1"), "{out}");
    assert!(out.contains("#SBATCH --ntasks=3"), "{out}");
}

#[test]
fn tracing_shows_one_trace() {
    let out = run("tracing", &[]);
    assert!(
        out.contains("5 spans in one trace, 2 of them on engines"),
        "{out}"
    );
}

/// One HTTP/1.1 GET: its status and body.
async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

/// One request's fate: which engine, when it started (since the test
/// began), how long it took, its status.
#[derive(Debug, Clone, Copy)]
struct Hit {
    engine: usize,
    at: Duration,
    took: Duration,
    status: u16,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_survives_an_engine_killed_under_load() {
    let mut service = Command::new(example("axum_service"))
        .args(["--listen", "127.0.0.1:0", "--engines", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(service.stdout.take().unwrap()).lines();
    let mut pids = [0u32; 3];
    let addr: SocketAddr = loop {
        let line = lines.next().expect("the service's output").unwrap();
        if let Some(rest) = line.strip_prefix("engine ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let node: usize = words[0].parse().unwrap();
            pids[node] = words[2].parse().unwrap();
        }
        if let Some(a) = line.strip_prefix("listening on http://") {
            break a.parse().unwrap();
        }
    };
    assert!(pids.iter().all(|&p| p != 0), "{pids:?}");
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());

    let begin = Instant::now();
    let hits = Arc::new(Mutex::new(Vec::new()));
    let load = (0..6).map(|worker| {
        let hits = hits.clone();
        tokio::spawn(async move {
            let mut i = worker;
            while begin.elapsed() < Duration::from_secs(4) {
                let engine = i % 3;
                i += 1;
                let at = begin.elapsed();
                let t = Instant::now();
                let (status, _) = get(addr, &format!("/counter/{engine}/incr")).await.unwrap();
                hits.lock().unwrap().push(Hit {
                    engine,
                    at,
                    took: t.elapsed(),
                    status,
                });
            }
        })
    });
    let load: Vec<_> = load.collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed_at = begin.elapsed();
    common::signal(pids[1], "KILL");
    for l in load {
        within(l).await.unwrap();
    }
    let hits = hits.lock().unwrap().clone();
    let before: Vec<_> = hits.iter().filter(|h| h.at + h.took < killed_at).collect();
    assert!(before.len() > 30, "load before the kill: {}", before.len());
    let failed = |hs: &[&Hit], status| -> Vec<Hit> {
        hs.iter()
            .filter(|h| h.status != status)
            .take(5)
            .map(|h| **h)
            .collect()
    };
    assert!(
        failed(&before, 200).is_empty(),
        "{:?}",
        failed(&before, 200)
    );
    // The other engines went on serving.
    let others: Vec<_> = hits
        .iter()
        .filter(|h| h.engine != 1 && h.at > killed_at)
        .collect();
    assert!(others.len() > 30, "{}", others.len());
    assert!(
        failed(&others, 200).is_empty(),
        "{:?}",
        failed(&others, 200)
    );
    // The killed engine's requests fail, and fast once it is known gone.
    let lost: Vec<_> = hits
        .iter()
        .filter(|h| h.engine == 1 && h.at > killed_at + Duration::from_millis(500))
        .collect();
    assert!(!lost.is_empty());
    assert!(failed(&lost, 503).is_empty(), "{:?}", failed(&lost, 503));
    let slow: Vec<_> = lost
        .iter()
        .filter(|h| h.took >= Duration::from_millis(500))
        .take(5)
        .collect();
    assert!(slow.is_empty(), "{slow:?}");
    // The metrics saw it.
    let (status, metrics) = within(get(addr, "/metrics")).await.unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"distob_calls_total{node="1",outcome="engine_lost"}"#),
        "{metrics}"
    );
    assert_eq!(within(get(addr, "/healthz")).await.unwrap().0, 200);
    // SIGTERM: the service drains and exits on its own.
    common::signal(service.id(), "TERM");
    let deadline = Instant::now() + common::TIMEOUT;
    let status = loop {
        if let Some(s) = service.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the service did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
    let said = rest.join().unwrap();
    assert!(said.iter().any(|l| l.starts_with("drained")), "{said:?}");
    common::all_gone("the engine processes", &[pids[0], pids[2]]).await;
}
