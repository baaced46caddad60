//! Cases with client processes of their own: this test executable re-run
//! in client mode (`ACTORS_CLIENT=mode ACTORS_PROFILE=path`), connecting to
//! the cluster by its profile and printing what it found, one line per
//! fact, for the case to read.

use super::common::{eventually, within};
use super::objects_on;
use super::types::{Counter, CounterProxy, RemoteCounter};
use distob::{Cluster, Error, NodeId};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// Runs a client process's mode and exits, when this process is one.
pub fn main_if_client() {
    let Ok(mode) = std::env::var("ACTORS_CLIENT") else {
        return;
    };
    let profile = std::env::var("ACTORS_PROFILE").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let cluster = Cluster::connect(&profile).await.unwrap();
        match mode.as_str() {
            "race" => race(&cluster).await,
            "detach" => detach(&cluster).await,
            "find" => find(&cluster).await,
            "hold" => hold(&cluster).await,
            other => panic!("unknown client mode {other}"),
        }
    });
    std::process::exit(0);
}

async fn race(c: &Cluster) {
    let pid = std::process::id() as i64;
    let x: RemoteCounter = c
        .get_or_scatter_named("shared", || Counter { n: pid })
        .await
        .unwrap();
    println!("ref {:#}", x.id());
    // Each client's calls keep their own order (the other client's
    // interleave): every count this client sees is above the one before.
    let calls: Vec<_> = (0..50).map(|_| x.incr(1)).collect();
    let mut last = i64::MIN;
    for call in calls {
        let n = call.await.unwrap();
        assert!(n > last, "{n} after {last}");
        last = n;
    }
    println!("done");
}

async fn detach(c: &Cluster) {
    let x = c.scatter_named("detached", Counter { n: 7 }).await.unwrap();
    println!("ref {:#}", x.id());
}

async fn find(c: &Cluster) {
    let x: RemoteCounter = c.lookup("detached").await.unwrap().unwrap();
    println!("ref {:#}", x.id());
    println!("value {}", x.incr(1).await.unwrap());
}

async fn hold(c: &Cluster) {
    let shared = c.scatter_to(NodeId(0), Counter { n: 1 }).await.unwrap();
    let own = c.scatter_to(NodeId(0), Counter { n: 2 }).await.unwrap();
    println!("shared {:#}", shared.id());
    println!("own {:#}", own.id());
    // Held until the process is killed.
    std::future::pending::<()>().await;
}

/// A client process in `mode`, its stdout piped.
fn client(mode: &str, profile: &std::path::Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env("ACTORS_CLIENT", mode)
        .env("ACTORS_PROFILE", profile)
        .env_remove("DISTOB_ENGINE")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The lines a client printed, once it exited successfully.
async fn finished(child: Child) -> Vec<String> {
    let out = within(tokio::task::spawn_blocking(move || {
        child.wait_with_output()
    }))
    .await
    .unwrap()
    .unwrap();
    assert!(out.status.success(), "client failed: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn field<'a>(lines: &'a [String], key: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

fn saved_profile(c: &Cluster) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.json");
    c.profile().save(&path).unwrap();
    (dir, path)
}

fn parse_ref(text: &str) -> distob::Ref {
    let (node, object) = text.split_once('/').unwrap();
    let tag = distob::id::TypeTag::of_name(distob::registry::stable_name::<Counter>());
    distob::Ref::new(
        NodeId(node.parse().unwrap()),
        distob::id::ObjectId::parse(object).unwrap(),
        tag,
    )
}

pub async fn two_client_processes_racing_get_one_named_object(c: &Cluster) {
    let (_dir, profile) = saved_profile(c);
    let (a, b) = (client("race", &profile), client("race", &profile));
    let (a, b) = (finished(a).await, finished(b).await);
    assert_eq!(field(&a, "ref"), field(&b, "ref"), "one object for both");
    let x: RemoteCounter = within(c.lookup("shared")).await.unwrap().unwrap();
    assert_eq!(format!("{:#}", x.id()), field(&a, "ref"));
    within(x.kill()).await.unwrap();
}

pub async fn a_detached_object_outlives_the_client_that_made_it(c: &Cluster) {
    let (_dir, profile) = saved_profile(c);
    let made = finished(client("detach", &profile)).await;
    // The client that made it is gone; a new one finds it and calls it.
    let found = finished(client("find", &profile)).await;
    assert_eq!(field(&made, "ref"), field(&found, "ref"));
    assert_eq!(field(&found, "value"), "8");
    let here: RemoteCounter = within(c.lookup("detached")).await.unwrap().unwrap();
    assert_eq!(within(here.get()).await.unwrap(), 8);
    // Kill ends it for every client.
    within(here.kill()).await.unwrap();
    assert!(matches!(
        within(here.get()).await,
        Err(Error::ObjectLost(_))
    ));
    let after = within(c.lookup::<Counter>("detached")).await.unwrap();
    assert!(after.is_none(), "{after:?} {:?}", here.id());
}

pub async fn a_killed_client_process_releases_its_holds(c: &Cluster) {
    let (_dir, profile) = saved_profile(c);
    let before = objects_on(c, NodeId(0)).await;
    let mut child = client("hold", &profile);
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut read = || lines.next().unwrap().unwrap();
    let shared = parse_ref(read().strip_prefix("shared ").unwrap());
    let _own = read();
    // This client holds one of the two as well.
    let ours: RemoteCounter = within(c.attach(shared)).await.unwrap();
    assert_eq!(objects_on(c, NodeId(0)).await, before + 2);
    child.kill().unwrap();
    child.wait().unwrap();
    eventually("the killed client's own object to go", || async {
        objects_on(c, NodeId(0)).await == before + 1
    })
    .await;
    assert_eq!(within(ours.get()).await.unwrap(), 1);
    drop(ours);
    eventually("the shared object to go", || async {
        objects_on(c, NodeId(0)).await == before
    })
    .await;
}

pub async fn a_name_on_a_lost_engine_is_engine_lost(c: &Cluster) {
    // A cluster of its own: one of its engines is stopped for good.
    let own = within(Cluster::spawn(2)).await.unwrap();
    let name = (0..)
        .map(|i| format!("lost-{i}"))
        .find(|n| directory_of(n, &own) == NodeId(1))
        .unwrap();
    let x = within(own.scatter_to(NodeId(0), Counter { n: 1 }))
        .await
        .unwrap();
    within(own.hub().shutdown_engine(NodeId(1))).await.unwrap();
    eventually("engine 1 lost", || {
        let lost = own.hub().is_lost(NodeId(1));
        async move { lost }
    })
    .await;
    let r = within(own.lookup::<Counter>(&name)).await;
    assert!(matches!(r, Err(Error::EngineLost(NodeId(1)))), "{r:?}");
    let r = within(own.scatter_named(&name, Counter { n: 2 })).await;
    assert!(matches!(r, Err(Error::EngineLost(NodeId(1)))), "{r:?}");
    assert_eq!(within(x.get()).await.unwrap(), 1);
    let _ = c;
}

/// The engine that keeps `name`'s directory entry: the rendezvous hash the
/// hub uses (FNV-1a of the name, a NUL and the node id; highest wins).
fn directory_of(name: &str, c: &Cluster) -> NodeId {
    c.engines()
        .into_iter()
        .max_by_key(|n| distob::id::TypeTag::of_name(&format!("{name}\u{0}{}", n.0)).0)
        .unwrap()
}
