//! Actors that address each other: handles as values, calls from engine
//! code, holders, names, several clients. On in-process engines and on
//! engine processes re-run from this test executable (so this test has its
//! own `main`: engine mode first, then client mode for the client processes
//! some cases start, then a small runner with deadlines).
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

#[path = "../common/mod.rs"]
mod common;

mod clients;
mod soak;
mod types;

use clients::{
    a_detached_object_outlives_the_client_that_made_it, a_killed_client_process_releases_its_holds,
    a_name_on_a_lost_engine_is_engine_lost, two_client_processes_racing_get_one_named_object,
};
use common::runner::{Case, Tally};
use common::{eventually, within};
use distob::{Cluster, Error, NodeId};
use soak::soak_create_pass_call_drop;
use std::time::{Duration, Instant};
use types::*;

const DEADLINE: Duration = Duration::from_secs(60);
const SOAK_DEADLINE: Duration = Duration::from_secs(1800);

/// How many objects engine `node` holds.
async fn objects_on(c: &Cluster, node: NodeId) -> usize {
    within(c.hub().engine(node).len()).await.unwrap()
}

async fn a_chain_of_sixteen_runs_engine_to_engine(c: &Cluster) {
    let hops: Vec<RemoteHop> = within(c.scatter_each((0..16).map(|_| Hop::default()).collect()))
        .await
        .unwrap();
    for pair in hops.windows(2) {
        within(pair[0].link(pair[1].clone())).await.unwrap();
    }
    let head = hops[0].clone();
    let last = hops[15].node();
    drop(hops);
    let (sent, got) = (c.hub().requests_sent(), c.hub().replies_received());
    let (node, depth) = within(head.pass(0)).await.unwrap();
    assert_eq!((NodeId(node), depth), (last, 15));
    // One request and one reply crossed this client's links, not sixteen.
    assert_eq!(c.hub().requests_sent() - sent, 1);
    assert_eq!(c.hub().replies_received() - got, 1);
    // The head holds the chain: dropping it releases all sixteen.
    drop(head);
    eventually("the chain to be released", || async {
        let mut n = 0;
        for node in c.engines() {
            n += objects_on(c, node).await;
        }
        n == 0
    })
    .await;
}

async fn handles_travel_in_vecs_structs_and_results(c: &Cluster) {
    let counters: Vec<RemoteCounter> =
        within(c.scatter_each(vec![Counter { n: 1 }, Counter { n: 2 }, Counter { n: 3 }]))
            .await
            .unwrap();
    let hub: RemoteHub = within(c.scatter_to(NodeId(1), Hub::default()))
        .await
        .unwrap();
    // A Vec of handles as an argument.
    assert_eq!(within(hub.total(counters.clone())).await.unwrap(), 6);
    // A struct holding handles as an argument; kept by the object.
    let pair = Pair {
        left: counters[0].clone(),
        right: counters[2].clone(),
        label: "ends".into(),
    };
    within(hub.keep(pair)).await.unwrap();
    drop(counters);
    assert_eq!(within(hub.kept_total()).await.unwrap(), 4);
    // A handle made by engine code, returned to the client: usable here.
    let made: RemoteCounter = within(hub.make(NodeId(0), 40)).await.unwrap();
    assert_eq!(made.node(), NodeId(0));
    assert_eq!(within(made.incr(2)).await.unwrap(), 42);
    // Handles inside a struct result.
    let back: Pair = within(hub.kept()).await.unwrap().unwrap();
    assert_eq!(back.label, "ends");
    assert_eq!(within(back.left.get()).await.unwrap(), 1);
    assert_eq!(within(back.right.get()).await.unwrap(), 3);
    // The struct comes back by value: gathering a hosted object with
    // handles inside gives live handles too.
    let gathered: Hub = within(c.gather(&hub)).await.unwrap();
    assert_eq!(gathered.pairs.len(), 1);
    assert_eq!(within(gathered.pairs[0].left.get()).await.unwrap(), 1);
}

async fn a_chain_back_into_an_awaiting_object_fails_fast(c: &Cluster) {
    let a: RemotePing = within(c.scatter_to(NodeId(0), Ping { n: 5 }))
        .await
        .unwrap();
    let b: RemotePong = within(c.scatter_to(NodeId(1), Pong)).await.unwrap();
    let start = Instant::now();
    let r = within(a.via(b.clone())).await;
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    match r {
        Err(Error::Remote(text)) => assert!(text.contains("Reentrant"), "{text}"),
        other => panic!("expected the reentrant call to fail, got {other:?}"),
    }
    // Both go on serving.
    assert_eq!(within(a.get()).await.unwrap(), 5);
    assert_eq!(within(b.echo(3)).await.unwrap(), 3);
    // Same engine: a call back into itself.
    let same: RemotePong = within(c.scatter_to(NodeId(0), Pong)).await.unwrap();
    match within(a.via(same)).await {
        Err(Error::Remote(text)) => assert!(text.contains("Reentrant"), "{text}"),
        other => panic!("expected the reentrant call to fail, got {other:?}"),
    }
    assert_eq!(within(a.get()).await.unwrap(), 5);
}

async fn a_handle_dropped_right_after_sending_stays_alive(c: &Cluster) {
    let keeper: RemoteKeeper = within(c.scatter_to(NodeId(1), Keeper::default()))
        .await
        .unwrap();
    // Two hundred handles sent and dropped at once, none awaited first.
    let mut calls = Vec::new();
    for n in 0..200 {
        let x = within(c.scatter_to(NodeId(0), Counter { n }))
            .await
            .unwrap();
        calls.push(keeper.keep(x));
        // `x` is gone here: only the message in flight holds it.
    }
    for call in calls {
        within(call).await.unwrap();
    }
    assert_eq!(objects_on(c, NodeId(0)).await, 200);
    assert_eq!(within(keeper.total()).await.unwrap(), (0..200).sum::<i64>());
    // Every holder lets go: the objects go from their engine.
    within(keeper.forget()).await.unwrap();
    eventually("the kept objects to go", || async {
        objects_on(c, NodeId(0)).await == 0
    })
    .await;
}

async fn names_are_cluster_wide_and_kill_ends_an_object(c: &Cluster) {
    let name = format!("registry-{}", c.engines().len());
    let reg: RemoteCounter = within(c.scatter_named(&name, Counter { n: 10 }))
        .await
        .unwrap();
    match within(c.scatter_named(&name, Counter { n: 0 })).await {
        Err(Error::NameTaken(n)) => assert_eq!(n, name),
        other => panic!("expected NameTaken, got {other:?}"),
    }
    let found: RemoteCounter = within(c.lookup(&name)).await.unwrap().unwrap();
    assert_eq!(found.id(), reg.id());
    // Detached: every handle here may go, the object stays.
    drop((reg, found));
    let again: RemoteCounter = within(c.lookup(&name)).await.unwrap().unwrap();
    assert_eq!(within(again.incr(1)).await.unwrap(), 11);
    // Engine code finds it by name too.
    let finder: RemoteHub = within(c.scatter(Hub::default())).await.unwrap();
    assert_eq!(
        within(finder.named_get(name.clone())).await.unwrap(),
        Some(11)
    );
    let same = within(c.get_or_scatter_named(&name, || Counter { n: -1 }))
        .await
        .unwrap();
    assert_eq!(same.id(), again.id());
    // Kill: ends it for every holder.
    within(again.kill()).await.unwrap();
    let r = within(same.get()).await;
    assert!(
        matches!(r, Err(Error::ObjectLost(x)) if x.object == same.id().object),
        "{r:?}"
    );
    assert!(within(c.lookup::<Counter>(&name)).await.unwrap().is_none());
    // Bad names are refused before anything is sent.
    for bad in ["".to_string(), "a\u{7}b".to_string(), "x".repeat(1 << 20)] {
        let r = within(c.scatter_named(&bad, 1u8)).await;
        assert!(matches!(r, Err(Error::BadName(_))), "{r:?}");
    }
}

async fn attach_checks_the_type_and_fixed_names_register(c: &Cluster) {
    let x: RemoteCounter = within(c.scatter(Counter { n: 3 })).await.unwrap();
    let attached: RemoteCounter = within(c.attach(x.id())).await.unwrap();
    assert_eq!(within(attached.get()).await.unwrap(), 3);
    match within(c.attach::<Pong>(x.id())).await {
        Err(Error::WrongType { expected, found }) => {
            assert!(expected.ends_with("::Pong"), "{expected}");
            assert!(found.ends_with("::Counter"), "{found}");
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    // A type with a fixed name is registered and listed by it.
    let r: RemoteRenamed = within(c.scatter_to(NodeId(0), Renamed(7))).await.unwrap();
    assert_eq!(distob::registry::stable_name::<Renamed>(), "actors.Renamed");
    let listing = within(c.hub().engine(NodeId(0)).list()).await.unwrap();
    let entry = listing.iter().find(|o| o.object == r.id().object).unwrap();
    assert_eq!(entry.type_name, "actors.Renamed");
    assert_eq!(within(r.value()).await.unwrap(), 7);
    // Handles to objects that are not there fail at the call that uses them.
    let ghost = distob::Ref::new(NodeId(0), distob::id::ObjectId::new(), x.id().tag);
    assert!(matches!(
        within(c.attach::<Counter>(ghost)).await,
        Err(Error::NoSuchObject(_))
    ));
}

async fn engine_code_fans_out_to_many_objects(c: &Cluster) {
    let targets: Vec<RemoteCounter> =
        within(c.scatter_each((0..400).map(|n| Counter { n }).collect()))
            .await
            .unwrap();
    let hub: RemoteHub = within(c.scatter(Hub::default())).await.unwrap();
    let sum = within(hub.total(targets.clone())).await.unwrap();
    assert_eq!(sum, (0..400).sum::<i64>());
}

fn main() {
    distob::engine::main_if_engine();
    clients::main_if_client();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cases: Vec<(&str, Case)> = crate::cases![
        a_chain_of_sixteen_runs_engine_to_engine,
        handles_travel_in_vecs_structs_and_results,
        a_chain_back_into_an_awaiting_object_fails_fast,
        a_handle_dropped_right_after_sending_stays_alive,
        names_are_cluster_wide_and_kill_ends_an_object,
        attach_checks_the_type_and_fixed_names_register,
        engine_code_fans_out_to_many_objects,
    ];
    let process_cases: Vec<(&str, Case)> = crate::cases![
        two_client_processes_racing_get_one_named_object,
        a_detached_object_outlives_the_client_that_made_it,
        a_killed_client_process_releases_its_holds,
        a_name_on_a_lost_engine_is_engine_lost,
    ];
    // Long: run only when asked (`-- --ignored`).
    let ignored: Vec<(&str, Case)> = crate::cases![soak_create_pass_call_drop];
    let run_ignored = std::env::args().any(|a| a == "--ignored");
    let deadline = if run_ignored { SOAK_DEADLINE } else { DEADLINE };
    let mut tally = Tally::default();
    for kind in ["local", "spawn"] {
        let cluster = rt.block_on(async {
            let c = match kind {
                "local" => Cluster::local(4).await,
                _ => Cluster::spawn(4).await,
            };
            c.unwrap()
        });
        let cluster = std::sync::Arc::new(cluster);
        let mut all = match run_ignored {
            true => Vec::new(),
            false => cases.clone(),
        };
        match (kind, run_ignored) {
            ("spawn", false) => all.extend(process_cases.iter().cloned()),
            ("spawn", true) => all.extend(ignored.iter().cloned()),
            _ => {}
        }
        for (name, case) in all {
            tally.run(&rt, &format!("{kind}::{name}"), &cluster, case, deadline);
        }
    }
    tally.finish();
}
