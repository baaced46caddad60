//! Launchers and dial-back registration: engines started by a launcher
//! register with one-time tokens and serve; forged, replayed and stale
//! tokens are refused; an engine that cannot start is named, with what its
//! launcher said; engines launched later join placement.
#![allow(clippy::unwrap_used)]

mod common;

use common::{alive, all_gone, distob_bin, within};
use distob::cluster::TlsPolicy;
use distob::error::StartError;
use distob::launch::LaunchError;
use distob::launch::{register_with, Launcher, LocalProcesses};
use distob::net::NetError;
use distob::{Cluster, NodeId};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A cluster of `n` engine processes of the `distob` binary, all registered.
async fn launched(n: usize) -> Cluster {
    let cluster = within(Cluster::launch(
        LocalProcesses::new().program(distob_bin()),
        n,
    ))
    .await
    .unwrap();
    within(cluster.wait_for(n, Duration::from_secs(30)))
        .await
        .unwrap();
    cluster
}

#[tokio::test]
async fn launched_engines_dial_back_register_and_serve() {
    let cluster = launched(3).await;
    assert_eq!(cluster.engines(), [NodeId(0), NodeId(1), NodeId(2)]);
    let xs = within(cluster.scatter_each((0..6u64).collect()))
        .await
        .unwrap();
    let nodes: Vec<u32> = xs.iter().map(|x| x.node().0).collect();
    assert_eq!(nodes, [0, 1, 2, 0, 1, 2]);
    assert_eq!(
        within(cluster.gather(&xs)).await.unwrap(),
        (0..6).collect::<Vec<u64>>()
    );
    // The profile names the addresses the engines bound, and works for
    // another client.
    let profile = cluster.profile();
    assert_eq!(profile.engines.len(), 3);
    let other = within(Cluster::connect_profile(&profile)).await.unwrap();
    let y = within(other.scatter_to(NodeId(2), "hi".to_string()))
        .await
        .unwrap();
    assert_eq!(within(other.gather(&y)).await.unwrap(), "hi");
    drop((y, other, xs));

    // Engines launched later join the cluster and round-robin placement.
    within(cluster.launch_more(1)).await.unwrap();
    within(cluster.wait_for(4, Duration::from_secs(30)))
        .await
        .unwrap();
    let zs = within(cluster.scatter_each((0..4u8).collect()))
        .await
        .unwrap();
    let mut nodes: Vec<u32> = zs.iter().map(|z| z.node().0).collect();
    nodes.sort();
    assert_eq!(nodes, [0, 1, 2, 3]);
    drop(zs);

    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    assert_eq!(pids.len(), 4);
    assert!(pids.iter().all(|&p| alive(p)));
    within(cluster.shutdown()).await.unwrap();
    all_gone("the engine processes end", &pids).await;
}

/// The environments a launcher handed to its engines.
type Envs = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A launcher that starts local processes and keeps the environment each
/// engine was given (its token among it).
#[derive(Debug, Default)]
struct Recording {
    envs: Envs,
}

impl Launcher for Recording {
    fn place(&self, slot: usize) -> String {
        format!("recorded slot {slot}")
    }

    fn command(
        &self,
        slot: usize,
        program: &Path,
        env: &[(String, String)],
    ) -> tokio::process::Command {
        self.envs.lock().unwrap().push(env.to_vec());
        LocalProcesses::new().command(slot, program, env)
    }

    fn program(&self) -> Result<std::path::PathBuf, LaunchError> {
        Ok(distob_bin().to_owned())
    }
}

fn token_of(env: &[(String, String)]) -> [u8; 32] {
    let hex = &env
        .iter()
        .find(|(k, _)| k == "DISTOB_ENGINE_TOKEN")
        .unwrap()
        .1;
    let mut t = [0u8; 32];
    hex::decode_to_slice(hex, &mut t).unwrap();
    t
}

#[tokio::test]
async fn forged_replayed_and_stale_tokens_are_refused() {
    let recording = Recording::default();
    let envs = recording.envs.clone();
    let cluster = within(Cluster::launch(recording, 1)).await.unwrap();
    within(cluster.wait_for(1, Duration::from_secs(30)))
        .await
        .unwrap();
    let join = cluster.registration_addr().unwrap();
    let key = cluster.profile().key;
    let somewhere = "127.0.0.1:9".parse().unwrap();
    let used = token_of(&envs.lock().unwrap()[0]);

    // Forged: the right key, a token nobody handed out.
    let forged = within(register_with(
        join,
        &key,
        NodeId(1),
        TlsPolicy::Auto,
        [7; 32],
        somewhere,
    ))
    .await;
    assert!(matches!(forged, Err(NetError::Token)), "{forged:?}");
    // Replayed: engine 0's token, already used.
    let replayed = within(register_with(
        join,
        &key,
        NodeId(0),
        TlsPolicy::Auto,
        used,
        somewhere,
    ))
    .await;
    assert!(matches!(replayed, Err(NetError::Token)), "{replayed:?}");
    // Stale: a token of another launch with the same key.
    let other = Recording::default();
    let other_envs = other.envs.clone();
    let second = within(Cluster::launch(other, 1)).await.unwrap();
    within(second.wait_for(1, Duration::from_secs(30)))
        .await
        .unwrap();
    let stale = token_of(&other_envs.lock().unwrap()[0]);
    let stale = within(register_with(
        join,
        &key,
        NodeId(0),
        TlsPolicy::Auto,
        stale,
        somewhere,
    ))
    .await;
    assert!(matches!(stale, Err(NetError::Token)), "{stale:?}");
    // Without the key there is no registration at all.
    let stranger = within(register_with(
        join,
        &distob::cluster::ClusterKey::random().unwrap(),
        NodeId(0),
        TlsPolicy::Auto,
        used,
        somewhere,
    ))
    .await;
    assert!(matches!(stranger, Err(NetError::Auth)), "{stranger:?}");

    assert_eq!(cluster.refused_registrations(), 3);
    assert_eq!(cluster.engines(), [NodeId(0)]);
    let x = within(cluster.scatter(5u8)).await.unwrap();
    assert_eq!(within(cluster.gather(&x)).await.unwrap(), 5);
}

#[tokio::test]
async fn an_engine_that_cannot_start_is_named_with_its_launchers_message() {
    let cluster = within(Cluster::launch(
        LocalProcesses::new().program("/nonexistent/distob-engine"),
        2,
    ))
    .await
    .unwrap();
    let err = within(cluster.wait_for(2, Duration::from_millis(500)))
        .await
        .unwrap_err();
    let StartError::Launch(launch @ LaunchError::NotRegistered { missing }) = &err else {
        panic!("{err:?}");
    };
    let nodes: Vec<NodeId> = missing.iter().map(|m| m.node).collect();
    assert_eq!(nodes, [NodeId(0), NodeId(1)]);
    for m in missing {
        assert!(m.output.contains("/nonexistent/distob-engine"), "{m}");
        assert!(m.output.contains("No such file"), "{m}");
    }
    let text = launch.to_string();
    assert!(
        text.contains("engine 0 on this host") && text.contains("engine 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_silent_registrant_holds_up_no_other_engine() {
    let cluster = launched(1).await;
    // Connections that open and say nothing (a stuck engine, a stranger)
    // sit on the registration listener while others register.
    let join = cluster.registration_addr().unwrap();
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(within(tokio::net::TcpStream::connect(join)).await.unwrap());
    }
    let start = std::time::Instant::now();
    within(cluster.launch_more(2)).await.unwrap();
    within(cluster.wait_for(3, Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "registration waited on the silent connections: {:?}",
        start.elapsed()
    );
    assert_eq!(cluster.engines(), [NodeId(0), NodeId(1), NodeId(2)]);
    drop(silent);
}

#[tokio::test]
async fn an_engine_started_by_hand_joins_by_profile() {
    let cluster = launched(1).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.json");
    let profile = cluster.profile();
    assert!(profile.join.is_some());
    profile.save(&path).unwrap();

    // A join point of another launch (same key) is refused: the engine
    // says why and exits.
    let mut stale = profile.clone();
    stale.join.as_mut().unwrap().launch = "00".repeat(32);
    let stale_path = dir.path().join("stale.json");
    stale.save(&stale_path).unwrap();
    let refused = within(
        tokio::process::Command::new(distob_bin())
            .args(["engine", "--join"])
            .arg(&stale_path)
            .output(),
    )
    .await
    .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("registration refused"), "{said}");

    let mut joined = tokio::process::Command::new(distob_bin())
        .args(["engine", "--join"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    within(cluster.wait_for(2, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(cluster.engines(), [NodeId(0), NodeId(1)]);
    let xs = within(cluster.scatter_each(vec![1u8, 2, 3, 4]))
        .await
        .unwrap();
    let mut nodes: Vec<u32> = xs.iter().map(|x| x.node().0).collect();
    nodes.sort();
    assert_eq!(nodes, [0, 0, 1, 1]);
    assert_eq!(within(cluster.gather(&xs)).await.unwrap(), vec![1, 2, 3, 4]);
    drop(xs);
    // Stopping the cluster stops the engine that joined too.
    within(cluster.shutdown()).await.unwrap();
    let status = within(joined.wait()).await.unwrap();
    assert!(status.success(), "{status}");
}
