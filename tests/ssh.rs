//! The SSH launcher against a real sshd: the test starts its own sshd on
//! 127.0.0.1 (a spare port, a fresh host key, an authorised key made for
//! the test), launches engines through it, scatters and gathers, and stops
//! them; no engine process is left. It skips, saying why, where sshd is
//! not installed or the test is not root (`.ci/run` installs
//! openssh-server).
#![allow(clippy::unwrap_used)]

mod common;

use common::{alive, all_gone, cluster_stop, distob_bin, within, StopOnDrop};
use distob::error::StartError;
use distob::launch::LaunchError;
use distob::launch::Ssh;
use distob::{Cluster, NodeId};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// An sshd of the test's own, stopped on drop.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen failed");
}

fn start_sshd() -> Option<Sshd> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !root || !Path::new(SSHD).exists() {
        println!("ssh: skipped — needs root and {SSHD} (openssh-server) to run a test sshd");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    keygen(&d.join("host_key"));
    keygen(&d.join("user_key"));
    std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
    // A spare port: bound and released at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile {pid}\n",
        hk = d.join("host_key").display(),
        ak = d.join("authorized_keys").display(),
        pid = d.join("sshd.pid").display(),
    );
    std::fs::write(d.join("sshd_config"), config).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let child = Command::new(SSHD)
        .arg("-D")
        .arg("-f")
        .arg(d.join("sshd_config"))
        .arg("-E")
        .arg(d.join("sshd.log"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let sshd = Sshd { child, port, dir };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "sshd did not listen: {}",
            std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(sshd)
}

fn launcher(sshd: &Sshd, hosts: &[&str]) -> Ssh {
    let d = sshd.dir.path().to_owned();
    Ssh::new(hosts)
        .unwrap()
        .option("-p")
        .option(sshd.port.to_string())
        .option("-i")
        .option(d.join("user_key").to_string_lossy())
        .option("-o")
        .option("StrictHostKeyChecking=no")
        .option("-o")
        .option(format!(
            "UserKnownHostsFile={}",
            d.join("known_hosts").display()
        ))
}

/// The names of a process's ancestors.
fn ancestors(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    let mut p = pid;
    while p > 1 {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{p}/status")) else {
            break;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        names.push(field("Name:"));
        p = field("PPid:").parse().unwrap_or(0);
    }
    names
}

#[tokio::test]
async fn engines_started_over_ssh_serve_and_stop() {
    let Some(sshd) = start_sshd() else { return };
    // Two slots on one host, reached through ssh (an address is not this
    // machine's name, so ssh is used even for loopback).
    let ssh = launcher(&sshd, &["root@127.0.0.1:2"]).program(distob_bin());
    let cluster = within(Cluster::launch(ssh, 2)).await.unwrap();
    if let Err(e) = within(cluster.wait_for(2, Duration::from_secs(60))).await {
        panic!(
            "{}\nsshd log:\n{}",
            distob_report(&e),
            std::fs::read_to_string(sshd.dir.path().join("sshd.log")).unwrap_or_default()
        );
    }
    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    assert_eq!(pids.len(), 2);
    for &pid in &pids {
        let chain = ancestors(pid);
        assert!(
            chain.iter().any(|n| n.starts_with("sshd")),
            "engine {pid} was not started by sshd: {chain:?}"
        );
    }
    let a = ndarray::ArrayD::from_shape_fn(vec![1000], |i| i[0] as f64);
    let xs = within(cluster.scatter_each(vec![a.clone(), &a * 2.0, &a * 3.0]))
        .await
        .unwrap();
    assert_eq!(
        xs.iter().map(|x| x.node()).collect::<Vec<_>>(),
        [NodeId(0), NodeId(1), NodeId(0)]
    );
    let back = within(cluster.gather(&xs)).await.unwrap();
    assert_eq!(back, vec![a.clone(), &a * 2.0, &a * 3.0]);
    drop(xs);
    within(cluster.shutdown()).await.unwrap();
    common::eventually("the engines started over ssh end", || async {
        pids.iter().all(|&p| !alive(p))
    })
    .await;
}

#[tokio::test]
async fn a_bad_program_path_over_ssh_is_named_with_what_ssh_printed() {
    let Some(sshd) = start_sshd() else { return };
    let ssh = launcher(&sshd, &["root@127.0.0.1"]).program("/nonexistent/bin/distob");
    let cluster = within(Cluster::launch(ssh, 1)).await.unwrap();
    let err = within(cluster.wait_for(1, Duration::from_secs(3)))
        .await
        .unwrap_err();
    let StartError::Launch(LaunchError::NotRegistered { missing }) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(missing.len(), 1);
    let m = &missing[0];
    assert_eq!(m.node, NodeId(0));
    assert_eq!(m.place, "root@127.0.0.1");
    assert!(
        m.output.contains("/nonexistent/bin/distob") && m.output.contains("No such file"),
        "{m}"
    );
    assert!(m.status.is_some(), "ssh has ended: {m}");
}

fn distob_report(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Every engine log in `dir`, each under its name (what to show when a
/// start hangs).
fn engine_logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out += &format!("--- {}\n{text}\n", path.display());
        }
    }
    if out.is_empty() {
        out = format!("(none in {})", dir.display());
    }
    out
}

#[tokio::test]
async fn cluster_start_over_ssh_then_cluster_stop_leaves_no_engine() {
    let Some(sshd) = start_sshd() else { return };
    let d = sshd.dir.path().to_owned();
    let profile = d.join("profile.json");
    let opts = [
        "-p".to_string(),
        sshd.port.to_string(),
        "-i".into(),
        d.join("user_key").to_string_lossy().into_owned(),
        "-o".into(),
        "StrictHostKeyChecking=no".into(),
        "-o".into(),
        format!("UserKnownHostsFile={}", d.join("known_hosts").display()),
    ];
    let mut start = Command::new(distob_bin());
    start
        .args(["cluster", "start", "-n", "2", "--ssh", "root@127.0.0.1:2"])
        .args(opts.iter().map(|o| format!("--ssh-option={o}")))
        .arg("--program")
        .arg(distob_bin())
        .arg("--profile")
        .arg(&profile)
        .env("HOME", &d);
    // Whatever happens below, the engines are stopped at the end.
    let _stop = StopOnDrop(profile.clone());
    let started = tokio::time::timeout(
        common::TIMEOUT,
        tokio::task::spawn_blocking(move || start.output()),
    )
    .await;
    let Ok(out) = started else {
        panic!(
            "cluster start over ssh did not finish in {:?}; engine logs:\n{}",
            common::TIMEOUT,
            engine_logs(&d.join(".distob"))
        );
    };
    let out = out.unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The engines outlive the command that started them.
    let p = distob::cluster::Profile::load(&profile).unwrap();
    let pids: Vec<u32> = p.engines.iter().filter_map(|e| e.pid).collect();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&pid| alive(pid)));
    for &pid in &pids {
        // Its parents: nothing of the `distob` or the ssh that started it.
        let chain = ancestors(pid);
        assert!(
            chain[1..].iter().all(|n| n != "distob" && n != "ssh"),
            "engine {pid} is not detached: {chain:?}"
        );
    }
    let cluster = within(Cluster::connect(&profile)).await.unwrap();
    let x = within(cluster.scatter_to(NodeId(1), vec![1u8, 2, 3]))
        .await
        .unwrap();
    assert_eq!(within(cluster.gather(&x)).await.unwrap(), vec![1, 2, 3]);
    drop((x, cluster));
    let stop = cluster_stop(&profile);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    all_gone("cluster stop ends every engine started over ssh", &pids).await;
    assert!(!profile.exists());
}
