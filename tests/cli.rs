//! The command line: cluster start / status / ls / stop.
#![allow(clippy::unwrap_used)]

mod common;

use common::{distob_bin, eventually, within};
use distob::{Cluster, NodeId, Profile};
use std::path::Path;

async fn distob(args: &[&str], profile: &Path) -> std::process::Output {
    let out = within(
        tokio::process::Command::new(distob_bin())
            .args(args)
            .arg("--profile")
            .arg(profile)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "distob {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
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
