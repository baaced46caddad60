//! A lost engine fails the calls waiting on it, and nothing hangs.
#![allow(clippy::unwrap_used)]

mod common;

use common::{distob_bin, signal, within};
use distob::{Cluster, Error, NodeId};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_engine_process_fails_a_waiting_call_with_engine_lost() {
    let cluster = within(Cluster::spawn_program(distob_bin(), 2))
        .await
        .unwrap();
    let x = within(cluster.scatter_to(NodeId(0), vec![1.0f64; 1000]))
        .await
        .unwrap();
    let y = within(cluster.scatter_to(NodeId(1), 5i32)).await.unwrap();
    let pid = cluster
        .pids()
        .into_iter()
        .find(|(n, _)| *n == NodeId(0))
        .unwrap()
        .1;
    // Freeze the engine so that the call is surely waiting, then kill it.
    signal(pid, "STOP");
    let waiting = x.fetch();
    tokio::time::sleep(Duration::from_millis(200)).await;
    signal(pid, "KILL");
    let start = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting call did not resolve within 5 s");
    assert!(matches!(r, Err(Error::EngineLost(NodeId(0)))), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // Later calls to it fail at once; the other engine goes on.
    let again = within(x.fetch()).await;
    assert!(
        matches!(again, Err(Error::EngineLost(NodeId(0)))),
        "{again:?}"
    );
    assert_eq!(within(y.fetch()).await.unwrap(), 5);
}
