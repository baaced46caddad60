//! The command line: cluster start / status / ls / stop.
#![allow(clippy::unwrap_used)]

mod common;

use common::{distob_bin, eventually, within};
use distob::cluster::Profile;
use distob::{Cluster, NodeId};
use std::path::Path;

async fn distob(args: &[&str], profile: &Path) -> std::process::Output {
    let out = distob_may_fail(args, profile).await;
    assert!(
        out.status.success(),
        "distob {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

async fn distob_may_fail(args: &[&str], profile: &Path) -> std::process::Output {
    within(
        tokio::process::Command::new(distob_bin())
            .args(args)
            .arg("--profile")
            .arg(profile)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
}

fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses; Z is a zombie.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Kills the engines of a profile when the test ends, however it ends.
struct Reaper(Vec<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in &self.0 {
            if is_alive(*pid) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_start_status_ls_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.json");
    let out = distob(&["cluster", "start", "-n", "2"], &path).await;
    let profile = Profile::load(&path).unwrap();
    let pids: Vec<u32> = profile.engines.iter().filter_map(|e| e.pid).collect();
    let _reaper = Reaper(pids.clone());
    assert_eq!(pids.len(), 2, "{}", String::from_utf8_lossy(&out.stdout));
    assert!(pids.iter().all(|&p| is_alive(p)));

    let cluster = within(Cluster::connect(&path)).await.unwrap();
    assert_eq!(cluster.engines(), vec![NodeId(0), NodeId(1)]);
    let x = within(cluster.scatter_to(NodeId(1), vec![9u8; 500]))
        .await
        .unwrap();

    let ls = distob(&["ls", "--json"], &path).await;
    let rows: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ref"], format!("{:#}", x.id()));
    assert_eq!(rows[0]["type"], std::any::type_name::<Vec<u8>>());
    assert!(rows[0]["nbytes"].as_u64().unwrap() >= 500);

    let status = distob(&["cluster", "status"], &path).await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        text.lines().filter(|l| l.contains(" up ")).count(),
        2,
        "{text}"
    );

    drop(x);
    drop(cluster);
    distob(&["cluster", "stop"], &path).await;
    eventually("engine processes to exit", || {
        let gone = pids.iter().all(|&p| !is_alive(p));
        async move { gone }
    })
    .await;
    assert!(!path.exists(), "cluster stop removes the profile");
}

/// The engine pids of a profile, by node.
fn engine_pids(path: &Path) -> Vec<u32> {
    Profile::load(path)
        .unwrap()
        .engines
        .iter()
        .map(|e| e.pid.unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_stop_keeps_the_profile_of_an_engine_it_could_not_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.json");
    distob(&["cluster", "start", "-n", "2"], &path).await;
    let pids = engine_pids(&path);
    let _reaper = Reaper(pids.clone());
    // Engine 1 is alive but answers nobody.
    common::signal(pids[1], "STOP");
    let out = distob_may_fail(&["cluster", "stop"], &path).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    let kept = Profile::load(&path).expect("the profile is kept");
    assert_eq!(kept.engines.len(), 1, "{said}");
    assert_eq!(kept.engines[0].node, NodeId(1));
    assert_eq!(kept.engines[0].pid, Some(pids[1]));
    assert!(is_alive(pids[1]));
    eventually("engine 0 to exit", || {
        let gone = !is_alive(pids[0]);
        async move { gone }
    })
    .await;
    // Awake again: a second stop finishes the job and removes the profile.
    common::signal(pids[1], "CONT");
    distob(&["cluster", "stop"], &path).await;
    eventually("engine 1 to exit", || {
        let gone = !is_alive(pids[1]);
        async move { gone }
    })
    .await;
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_stop_force_removes_the_profile_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.json");
    distob(&["cluster", "start", "-n", "1"], &path).await;
    let pids = engine_pids(&path);
    let _reaper = Reaper(pids.clone());
    common::signal(pids[0], "STOP");
    distob(&["cluster", "stop", "--force"], &path).await;
    assert!(!path.exists());
    common::signal(pids[0], "CONT");
}
