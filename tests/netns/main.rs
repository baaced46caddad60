//! Multi-host fault test on one machine: a client and three engines, each in
//! a network namespace this test creates (joined by a bridge in a fifth),
//! with addresses that exist only inside them. One engine's link is cut
//! silently (no FIN, no RST): the call waiting on it must fail with
//! `EngineLost` within the detection time, and the other engines go on.
//! Then the link is restored: the client reconnects, the old object is
//! reported lost, and new objects on that engine are served.
//!
//! Needs root and `ip` (iproute2); anywhere else it says why and passes.
//! The test binary plays two roles: the orchestrator (default), and the
//! client (`client PROFILE`), run inside the client's namespace.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ENGINES: usize = 3;
const SUBNET: &str = "10.77.0";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn must(args: &[&str]) {
    assert!(ip(args), "ip {} failed", args.join(" "));
}

fn ns(i: usize) -> String {
    format!("distob-t{}-{i}", std::process::id() % 100_000)
}

/// Namespaces, links and processes of one run; all removed on drop.
struct Testbed {
    names: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Testbed {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names {
            ip(&["netns", "del", n]);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("client") {
        return client(&args[2]);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !root || !ip(&["netns", "list"]) {
        println!("netns: skipped — needs root and iproute2 to create network namespaces");
        println!("0 passed, 0 failed");
        return;
    }
    orchestrate();
    println!("3 passed, 0 failed");
}

fn orchestrate() {
    // Namespaces: 0 = bridge, 1 = client, 2.. = engines.
    let names: Vec<String> = (0..ENGINES + 2).map(ns).collect();
    let mut bed = Testbed {
        names: Vec::new(),
        children: Vec::new(),
    };
    for n in &names {
        must(&["netns", "add", n]);
        bed.names.push(n.clone());
        must(&["-n", n, "link", "set", "lo", "up"]);
    }
    let bridge = &names[0];
    must(&["-n", bridge, "link", "add", "br0", "type", "bridge"]);
    must(&["-n", bridge, "link", "set", "br0", "up"]);
    for (i, n) in names.iter().enumerate().skip(1) {
        let (outer, inner) = (format!("vb{i}"), format!("ve{i}"));
        must(&[
            "-n", bridge, "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns", n,
        ]);
        must(&["-n", bridge, "link", "set", &outer, "master", "br0"]);
        must(&["-n", bridge, "link", "set", &outer, "up"]);
        must(&[
            "-n",
            n,
            "addr",
            "add",
            &format!("{SUBNET}.{}/24", 10 + i),
            "dev",
            &inner,
        ]);
        must(&["-n", n, "link", "set", &inner, "up"]);
    }

    // Engines, each in its namespace, reading the key from a profile.
    let dir = tempfile::tempdir().unwrap();
    let keyfile = dir.path().join("key.json");
    let key = distob::cluster::ClusterKey::random().unwrap();
    distob::cluster::Profile::new(key.clone(), vec![])
        .save(&keyfile)
        .unwrap();
    let mut entries = Vec::new();
    for e in 0..ENGINES {
        let n = &names[e + 2];
        let listen = format!("{SUBNET}.{}:0", 12 + e);
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                n,
                env!("CARGO_BIN_EXE_distob"),
                "engine",
                "--listen",
                &listen,
            ])
            .args(["--node", &e.to_string(), "--profile"])
            .arg(&keyfile)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        bed.children.push(child);
        let addr = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        entries.push(distob::cluster::EngineEntry {
            node: distob::NodeId(e as u32),
            addr,
            pid: None,
        });
    }
    let profile = dir.path().join("profile.json");
    distob::cluster::Profile::new(key, entries)
        .save(&profile)
        .unwrap();

    // The client, in its namespace.
    let mut client = Command::new("ip")
        .args([
            "netns",
            "exec",
            &names[1],
            &std::env::current_exe().unwrap().to_string_lossy(),
            "client",
        ])
        .arg(&profile)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(client.stdout.take().unwrap());
    let mut report = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "client ended: {report}"
        );
        if line.trim() == "ready" {
            break;
        }
        print!("client: {line}");
        report.push_str(&line);
    }
    // Cut engine 1's link silently: its port on the bridge goes down.
    must(&["-n", bridge, "link", "set", "vb3", "down"]);
    writeln!(client.stdin.as_mut().unwrap(), "cut").unwrap();
    for l in out.lines() {
        let l = l.unwrap();
        println!("client: {l}");
        if l == "restore" {
            // The client has seen the loss: bring the link back.
            must(&["-n", bridge, "link", "set", "vb3", "up"]);
            writeln!(client.stdin.as_mut().unwrap(), "restored").unwrap();
        }
        report.push_str(&l);
        report.push('\n');
    }
    let status = client.wait().unwrap();
    assert!(
        status.success()
            && report.contains("tls across namespaces")
            && report.contains("lost engine 1")
            && report.contains("rejoined"),
        "{report}"
    );
    println!("test netns::links_across_the_network_are_tls_and_plaintext_is_refused ... ok");
    println!("test netns::silent_link_cut_fails_waiting_calls_with_engine_lost ... ok");
    println!("test netns::a_restored_link_reconnects ... ok");
}

fn client(profile: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let deadline = Duration::from_secs(30);
        let cluster = tokio::time::timeout(deadline, distob::Cluster::connect(profile))
            .await
            .unwrap()
            .unwrap();
        let xs = tokio::time::timeout(deadline, cluster.scatter_each(vec![10u32, 11, 12]))
            .await
            .unwrap()
            .unwrap();
        let mut quick_profile = distob::cluster::Profile::load(profile).unwrap();
        quick_profile.liveness = Some(distob::net::Liveness {
            unacked: Duration::from_millis(1500),
            ..distob::net::Liveness::default()
        });
        let quick =
            tokio::time::timeout(deadline, distob::Cluster::connect_profile(&quick_profile))
                .await
                .unwrap()
                .unwrap();
        let quick_x = tokio::time::timeout(deadline, quick.scatter_to(distob::NodeId(1), 5u8))
            .await
            .unwrap()
            .unwrap();
        // Across a network links are TLS by default (the engines run with
        // `--tls auto`): a plaintext dialer is refused with the reason, and
        // data moving engine to engine crosses as TLS too.
        let p = distob::cluster::Profile::load(profile).unwrap();
        let plain = tokio::time::timeout(
            deadline,
            distob::ObjectHub::connect_with(
                &p.addresses()[..1],
                p.key.clone(),
                distob::cluster::TlsPolicy::Never,
            ),
        )
        .await
        .unwrap();
        assert!(
            matches!(
                plain,
                Err(distob::Error::Protocol(distob::net::NetError::TlsRequired))
            ),
            "{plain:?}"
        );
        let a = ndarray::ArrayD::from_shape_fn(vec![1000], |i| i[0] as f64);
        let ra: distob::RemoteArray<f64> = cluster
            .scatter_to(distob::NodeId(0), a.clone())
            .await
            .unwrap();
        let rb: distob::RemoteArray<f64> = cluster
            .scatter_to(distob::NodeId(2), a.clone())
            .await
            .unwrap();
        let sum = ra.try_binary(distob::array::BinOp::Add, &rb).unwrap();
        let got = tokio::time::timeout(deadline, cluster.gather(&sum))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, &a * 2.0);
        println!("tls across namespaces: plaintext refused, engine-to-engine add right");
        println!("ready");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "cut");
        // Two clients wait on the cut engine: this one with the default
        // liveness (a dead peer within about 3 s), and one whose profile
        // asks for 1.5 s of unacknowledged data at most.
        let start = Instant::now();
        let waiting = xs[1].fetch();
        let quick_waiting = quick_x.fetch();
        let (r, quick_r) = tokio::join!(
            async {
                let r = tokio::time::timeout(Duration::from_secs(10), waiting)
                    .await
                    .expect("the call on the cut engine did not resolve within 10 s");
                (r, start.elapsed())
            },
            async {
                let r = tokio::time::timeout(Duration::from_secs(10), quick_waiting)
                    .await
                    .expect("the quick client's call did not resolve within 10 s");
                (r, start.elapsed())
            }
        );
        let ((r, took), (quick_r, quick_took)) = (r, quick_r);
        for r in [&r.map(|_| ()), &quick_r.map(|_| ())] {
            assert!(
                matches!(r, Err(distob::Error::EngineLost(distob::NodeId(1)))),
                "{r:?}"
            );
        }
        assert!(took < Duration::from_millis(3500), "took {took:?}");
        assert!(
            quick_took < Duration::from_millis(2500),
            "quick took {quick_took:?}"
        );
        println!(
            "lost engine 1 after {:.1} s (default liveness), {:.1} s (unacked 1.5 s)",
            took.as_secs_f64(),
            quick_took.as_secs_f64()
        );
        for i in [0, 2] {
            let v = tokio::time::timeout(deadline, xs[i].fetch())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(v, 10 + i as u32);
        }
        println!("engines 0 and 2 still serve");

        // The link comes back: the client joins the engine again; the old
        // object is reported lost, new ones are served.
        println!("restore");
        line.clear();
        std::io::stdin().read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "restored");
        let start = Instant::now();
        loop {
            match tokio::time::timeout(deadline, cluster.reconnect(distob::NodeId(1))).await {
                Ok(Ok(())) => break,
                other => {
                    assert!(start.elapsed() < deadline, "no reconnect: {other:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let old = tokio::time::timeout(deadline, xs[1].fetch()).await.unwrap();
        assert!(matches!(old, Err(distob::Error::ObjectLost(_))), "{old:?}");
        let fresh = tokio::time::timeout(deadline, cluster.scatter_to(distob::NodeId(1), 21u32))
            .await
            .unwrap()
            .unwrap();
        let v = tokio::time::timeout(deadline, fresh.fetch())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v, 21);
        println!(
            "rejoined engine 1 after {:.1} s",
            start.elapsed().as_secs_f64()
        );
    });
}
