//! The live dashboard in a real browser: headless Chromium loads the page
//! while the test drives the cluster, and the DOM (read over the DevTools
//! protocol) shows the numbers change, without a reload, until they match
//! the cluster's own counters. Set `DISTOB_DASHBOARD_SCREENSHOT=path.png`
//! to keep a screenshot.
#![allow(clippy::unwrap_used)]

mod common;

use common::{eventually, within};
use distob::{Cluster, NodeId};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Counts calls.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Tick {
    n: u64,
}

#[distob::remote]
impl Tick {
    /// One more.
    pub fn tick(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
}

/// The body of a GET to 127.0.0.1:`port` (empty if it fails).
async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return String::new();
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return String::new();
    }
    // Read until the body announced is in (the server may keep the
    // connection open), within a second.
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = s.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                });
                if len.is_some_and(|len| body.len() >= len) {
                    break;
                }
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&buf);
    text.split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A headless Chromium showing one page, driven over the DevTools protocol.
struct Browser {
    child: std::process::Child,
    ws: Ws,
    next: u64,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    async fn open(program: &std::path::Path, url: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(program)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let port_file = profile.path().join("DevToolsActivePort");
        let mut port = 0u16;
        eventually("Chromium's DevTools port", || {
            let text = std::fs::read_to_string(&port_file).unwrap_or_default();
            port = text
                .lines()
                .next()
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            async move { port != 0 }
        })
        .await;
        let deadline = std::time::Instant::now() + common::TIMEOUT;
        let page = loop {
            let list = http_get(port, "/json/list").await;
            let targets: Value = serde_json::from_str(&list).unwrap_or(json!([]));
            let page = targets
                .as_array()
                .and_then(|t| t.iter().find(|t| t["type"] == "page"))
                .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(String::from));
            if let Some(p) = page {
                break p;
            }
            assert!(std::time::Instant::now() < deadline, "no page target");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (ws, _) = within(tokio_tungstenite::connect_async(page))
            .await
            .unwrap();
        Browser {
            child,
            ws,
            next: 0,
            _profile: profile,
        }
    }

    /// Sends a DevTools command; its result.
    async fn send(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        within(self.ws.send(Message::text(msg))).await.unwrap();
        loop {
            let m = within(self.ws.next()).await.unwrap().unwrap();
            let v: Value = serde_json::from_str(m.to_text().unwrap_or("{}")).unwrap_or_default();
            if v["id"] == id {
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `expr` in the page; its value.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .send(
                "Runtime.evaluate",
                json!({ "expression": expr, "returnByValue": true }),
            )
            .await;
        r["result"]["value"].clone()
    }

    /// The value of `field` in each engine's row, by node.
    async fn column(&mut self, field: &str) -> Vec<(u32, f64)> {
        let expr = format!(
            "JSON.stringify([...document.querySelectorAll('td[data-field={field}]')]\
             .map(td => [+td.dataset.node, +td.dataset.value]))"
        );
        let v = self.eval(&expr).await;
        serde_json::from_str(v.as_str().unwrap_or("[]")).unwrap_or_default()
    }

    async fn updates(&mut self) -> u64 {
        let v = self
            .eval("+document.getElementById('updates').textContent")
            .await;
        v.as_u64().unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_cluster_live() {
    let Some(program) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium (.ci/run installs it)"
        );
        eprintln!("skipped: no chromium on PATH");
        return;
    };
    let cluster = within(Cluster::local(2)).await.unwrap();
    let dashboard = within(cluster.serve_dashboard("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let mut browser = Browser::open(&program, &dashboard.url()).await;
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    let first = loop {
        let seen = browser.updates().await;
        if seen >= 1 {
            break seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page never updated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A mark on this page load: a reload would wipe it.
    browser.eval("window.__loaded_once = 42").await;
    assert_eq!(browser.column("objects").await, vec![(0, 0.0), (1, 0.0)]);

    // Drive the cluster while the page is open.
    let held: Vec<_> = within(async {
        let mut held = Vec::new();
        for i in 0..5u64 {
            held.push(cluster.scatter_to(NodeId(0), vec![i; 1000]).await.unwrap());
        }
        for i in 0..3u64 {
            held.push(cluster.scatter_to(NodeId(1), vec![i; 10]).await.unwrap());
        }
        held
    })
    .await;
    let tick: RemoteTick = within(cluster.scatter_to(NodeId(1), Tick::default()))
        .await
        .unwrap();
    let calls: Vec<_> = (0..2_000).map(|_| tick.tick()).collect();
    for c in calls {
        within(c).await.unwrap();
    }
    let want_calls = within(cluster.hub().engine(NodeId(1)).stats())
        .await
        .unwrap()
        .calls as f64;
    let mut objects = Vec::new();
    for node in cluster.engines() {
        let n = within(cluster.hub().engine(node).len()).await.unwrap();
        objects.push((node.0, n as f64));
    }
    assert_eq!(objects, vec![(0, 5.0), (1, 4.0)]);
    // The page catches up on its own, and then matches the cluster.
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    loop {
        let shown = browser.column("objects").await;
        let calls = browser.column("calls").await;
        let shown_calls = calls.iter().find(|(n, _)| *n == 1).map_or(0.0, |c| c.1);
        if shown == objects && shown_calls == want_calls {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page shows {shown:?} objects and {shown_calls} calls; the cluster {objects:?} and {want_calls}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rate = browser.column("bytes_held").await;
    assert!(rate.iter().all(|(_, b)| *b > 0.0), "{rate:?}");
    let states = browser
        .eval(
            "[...document.querySelectorAll('td[data-field=state]')].map(t => t.textContent).join()",
        )
        .await;
    assert_eq!(states, "up,up");
    assert_eq!(browser.eval("window.__loaded_once").await, 42);
    assert!(browser.updates().await > first, "the page kept updating");
    let listed = browser
        .eval("document.getElementById('objects').children.length")
        .await;
    assert_eq!(listed, 9);
    if let Some(path) = std::env::var_os("DISTOB_DASHBOARD_SCREENSHOT") {
        let shot = browser
            .send("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let png = shot["data"].as_str().unwrap();
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png)
            .unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    drop(held);
    dashboard.stop();
}
