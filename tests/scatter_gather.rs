//! Scatter and gather round trips, placement, release.
#![allow(clippy::unwrap_used)]

mod common;

use common::{distob_bin, eventually, within};
use distob::{Cluster, Error, NodeId};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Particle {
    name: String,
    position: [f64; 3],
    tags: BTreeMap<String, i32>,
}

fn particle() -> Particle {
    Particle {
        name: "p".into(),
        position: [1.0, -2.5, 3.25],
        tags: [("a".to_string(), 1), ("b".to_string(), -7)].into(),
    }
}

fn big_array() -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(&[40, 30, 7]), |i| {
        (i[0] * 1000 + i[1] * 10 + i[2]) as f64 * 0.5
    })
}

async fn round_trips(cluster: &Cluster) {
    let p = within(cluster.scatter(particle())).await.unwrap();
    assert_eq!(within(cluster.gather(&p)).await.unwrap(), particle());

    let s = within(cluster.scatter(String::from("grüße")))
        .await
        .unwrap();
    assert_eq!(within(cluster.gather(&s)).await.unwrap(), "grüße");

    let v: Vec<f64> = (0..1000).map(|i| i as f64 / 3.0).collect();
    let rv = within(cluster.scatter(v.clone())).await.unwrap();
    assert_eq!(within(cluster.gather(&rv)).await.unwrap(), v);

    let a = big_array();
    let ra = within(cluster.scatter(a.clone())).await.unwrap();
    assert_eq!(within(cluster.gather(&ra)).await.unwrap(), a);

    // A non-contiguous array is sent in standard order.
    let t = big_array().permuted_axes(IxDyn(&[2, 0, 1]));
    let rt = within(cluster.scatter(t.clone())).await.unwrap();
    assert_eq!(within(cluster.gather(&rt)).await.unwrap(), t);

    // Nested gathers keep their shape.
    let nested = vec![
        within(cluster.scatter_each(vec![1u8, 2])).await.unwrap(),
        within(cluster.scatter_each(vec![3u8])).await.unwrap(),
    ];
    assert_eq!(
        within(cluster.gather(&nested)).await.unwrap(),
        vec![vec![1, 2], vec![3]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_round_trip_on_local_engines() {
    let cluster = within(Cluster::local(4)).await.unwrap();
    round_trips(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_round_trip_on_engine_processes() {
    let cluster = within(Cluster::spawn_program(distob_bin(), 2))
        .await
        .unwrap();
    assert_eq!(cluster.engines(), vec![NodeId(0), NodeId(1)]);
    round_trips(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_array_crosses_in_chunks() {
    let cluster = within(Cluster::local(1)).await.unwrap();
    // 24 MB: three chunks on the wire each way.
    let a = ArrayD::from_shape_fn(IxDyn(&[3_000_000]), |i| i[0] as f64);
    let r = within(cluster.scatter(a.clone())).await.unwrap();
    assert_eq!(within(r.fetch()).await.unwrap(), a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_each_goes_round_robin_and_carries_over() {
    let cluster = within(Cluster::local(4)).await.unwrap();
    let xs = within(cluster.scatter_each((0..6).collect::<Vec<i32>>()))
        .await
        .unwrap();
    let nodes: Vec<u32> = xs.iter().map(|x| x.node().0).collect();
    assert_eq!(nodes, [0, 1, 2, 3, 0, 1]);
    let ys = within(cluster.scatter_each(vec![6, 7])).await.unwrap();
    let nodes: Vec<u32> = ys.iter().map(|x| x.node().0).collect();
    assert_eq!(nodes, [2, 3]);
    assert_eq!(
        within(cluster.gather(&xs)).await.unwrap(),
        vec![0, 1, 2, 3, 4, 5]
    );
    // Explicit placement.
    let z = within(cluster.scatter_to(NodeId(3), 99i32)).await.unwrap();
    assert_eq!(z.node(), NodeId(3));
    let missing = within(cluster.scatter_to(NodeId(9), 1i32)).await;
    assert!(
        matches!(missing, Err(Error::NoSuchEngine(NodeId(9)))),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_proxy_empties_hub_and_engines() {
    let cluster = within(Cluster::local(4)).await.unwrap();
    let hub = cluster.hub().clone();
    let xs = within(cluster.scatter_each((0..40).map(|i| vec![i as f64; 100]).collect()))
        .await
        .unwrap();
    let copies: Vec<_> = xs.iter().take(5).cloned().collect();
    assert_eq!(hub.len(), 40);
    for node in cluster.engines() {
        assert_eq!(within(hub.engine(node).len()).await.unwrap(), 10);
    }
    drop(xs);
    // Clones still hold five objects.
    assert_eq!(hub.len(), 5);
    assert!(copies.iter().all(|c| hub.contains(&c.id())));
    drop(copies);
    assert!(hub.is_empty());
    for node in cluster.engines() {
        let engine = hub.engine(node);
        eventually("engine to release every object", || {
            let engine = engine.clone();
            async move { within(engine.len()).await.unwrap() == 0 }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_view_lists_objects_with_types_and_sizes() {
    let cluster = within(Cluster::local(2)).await.unwrap();
    let x = within(cluster.scatter_to(NodeId(1), vec![0u8; 1000]))
        .await
        .unwrap();
    let listing = within(cluster.hub().engine(NodeId(1)).list())
        .await
        .unwrap();
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].object, x.id().object);
    assert_eq!(listing[0].type_name, std::any::type_name::<Vec<u8>>());
    assert!(listing[0].nbytes >= 1000);
    let refs = within(cluster.hub().engine(NodeId(1)).refs())
        .await
        .unwrap();
    assert_eq!(refs, vec![x.id()]);
    assert!(within(cluster.hub().engine(NodeId(0)).is_empty())
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_an_engine_shut_down_fail_with_engine_lost() {
    let cluster = within(Cluster::local(1)).await.unwrap();
    let x = within(cluster.scatter(5u64)).await.unwrap();
    assert_eq!(
        within(cluster.hub().engine(x.node()).len()).await.unwrap(),
        1
    );
    within(cluster.hub().shutdown_engine(NodeId(0)))
        .await
        .unwrap();
    let hub = cluster.hub().clone();
    eventually("the hub to notice the engine is gone", || {
        let lost = hub.is_lost(NodeId(0));
        async move { lost }
    })
    .await;
    let r = within(x.fetch()).await;
    assert!(matches!(r, Err(Error::EngineLost(NodeId(0)))), "{r:?}");
}

#[test]
fn wait_blocks_where_it_can_and_refuses_where_it_would_deadlock() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cluster = rt.block_on(within(Cluster::local(2))).unwrap();
    let x = rt.block_on(within(cluster.scatter(vec![1, 2, 3]))).unwrap();
    // Plain thread, no runtime: wait() blocks for the reply.
    let got = std::thread::scope(|s| s.spawn(|| x.fetch().timeout(common::TIMEOUT).wait()).join())
        .unwrap()
        .unwrap();
    assert_eq!(got, vec![1, 2, 3]);
    // On a multi-threaded runtime's thread: the worker steps aside and waits.
    let inside = rt.block_on(async { x.fetch().timeout(common::TIMEOUT).wait() });
    assert_eq!(inside.unwrap(), vec![1, 2, 3]);
    // On a current-thread runtime: a clear error instead of a deadlock.
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let inside = single.block_on(async { x.fetch().wait() });
    assert!(
        matches!(inside, Err(Error::BlockingInRuntime)),
        "{inside:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_functions_use_the_default_cluster() {
    let r = within(distob::scatter(String::from("default")))
        .await
        .unwrap();
    assert_eq!(within(distob::gather(&r)).await.unwrap(), "default");
    let cluster = within(distob::cluster::default_cluster()).await.unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(cluster.engines().len(), cores);
    let xs = within(distob::cluster::scatter_each(vec![1i8, 2, 3]))
        .await
        .unwrap();
    assert_eq!(within(distob::gather(&xs)).await.unwrap(), vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_calls_are_not_held_up_behind_a_large_scatter() {
    let cluster = within(Cluster::spawn_program(distob_bin(), 1))
        .await
        .unwrap();
    let tiny = within(cluster.scatter_to(NodeId(0), 1u8)).await.unwrap();
    // 200 MB. The put is on its way once `put` returns; a call on the big
    // object made now still runs after it has arrived.
    let big = ndarray::ArrayD::<f64>::from_elem(IxDyn(&[25_000_000]), 0.5);
    let (big, ack) = cluster.hub().put(NodeId(0), big).unwrap();
    let total = big.sum();
    let mut ack = Box::pin(ack);
    // Small calls made after the put complete while its bytes are still
    // on the wire: on one shared connection they would queue behind them.
    for _ in 0..10 {
        assert_eq!(within(tiny.fetch()).await.unwrap(), 1);
    }
    assert!(
        futures::poll!(ack.as_mut()).is_pending(),
        "the small calls waited for the large transfer"
    );
    within(ack).await.unwrap();
    assert_eq!(within(total).await.unwrap(), 12_500_000.0);
    assert_eq!(big.shape(), &[25_000_000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_calls_are_not_held_up_behind_a_large_gather() {
    let cluster = within(Cluster::spawn_program(distob_bin(), 1))
        .await
        .unwrap();
    let tiny = within(cluster.scatter_to(NodeId(0), 1u8)).await.unwrap();
    let big = ndarray::ArrayD::<f64>::from_elem(IxDyn(&[25_000_000]), 0.25); // 200 MB
    let big: distob::RemoteArray<f64> = within(cluster.scatter_to(NodeId(0), big)).await.unwrap();
    // The gather is asked for first, on the main connection; its 200 MB come
    // back on the bulk one, so the small replies after it do not wait.
    let mut gather = Box::pin(big.fetch());
    for _ in 0..10 {
        assert_eq!(within(tiny.fetch()).await.unwrap(), 1);
    }
    assert!(
        futures::poll!(gather.as_mut()).is_pending(),
        "the small calls waited for the large gather"
    );
    let back = within(gather).await.unwrap();
    assert_eq!(back.len(), 25_000_000);
    assert!(back.iter().all(|&x| x == 0.25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_sends_stay_within_the_clients_byte_budget() {
    let cluster = within(Cluster::spawn_program(distob_bin(), 1))
        .await
        .unwrap();
    let hub = cluster.hub();
    let n = 8 << 20; // 64 MiB of f64 each; six of them exceed the budget.
    let mut remotes = Vec::new();
    let mut acks = Vec::new();
    for i in 0..6 {
        let a = ArrayD::<f64>::from_elem(IxDyn(&[n]), i as f64);
        let (r, ack) = hub.put(NodeId(0), a).unwrap();
        remotes.push(r);
        acks.push(ack);
        let in_flight = hub.bulk_bytes_in_flight(NodeId(0));
        assert!(
            in_flight > 0 && in_flight <= distob::call::MAX_BULK_IN_FLIGHT,
            "{in_flight}"
        );
    }
    for ack in acks {
        within(ack).await.unwrap();
    }
    assert_eq!(hub.bulk_bytes_in_flight(NodeId(0)), 0);
    // The held-back sends went once there was room, and arrived whole.
    for (i, r) in remotes.iter().enumerate() {
        assert_eq!(within(r.sum()).await.unwrap(), (i * n) as f64);
    }
}

/// Where an array's elements are, as the engine's functions see it.
#[distob::function]
fn data_address(a: &ArrayD<f64>) -> u64 {
    a.as_ptr() as u64
}

/// `fetch_shared` from an in-process engine hands over the engine's own
/// buffer (no copy), copy-on-write, in order with the calls before it; from
/// an engine process it is an ordinary fetch.
async fn fetch_shared_round_trips(cluster: &Cluster, shares: bool) {
    let a = big_array();
    let r = within(cluster.scatter(a.clone())).await.unwrap();
    let one = within(r.fetch_shared()).await.unwrap();
    let two = within(r.fetch_shared()).await.unwrap();
    assert_eq!(one, a);
    assert_eq!(
        one.as_ptr() == two.as_ptr(),
        shares,
        "both views are the engine's buffer"
    );
    // A change made here copies first: the engine keeps its value.
    let mut mine = one;
    mine[[0, 0, 0]] = -1.0;
    assert_ne!(mine.as_ptr(), two.as_ptr());
    assert_eq!(within(r.fetch()).await.unwrap(), a);
    // A change made on the engine before the fetch is seen by it.
    r.assign_scalar(distob::array::BinOp::Mul, 2.0);
    let after = within(r.fetch_shared()).await.unwrap();
    assert_eq!(after, a.mapv(|x| x * 2.0));
    assert_eq!(two, a, "what was lent before the change stays as it was");
    if shares {
        // A function that reads the array is lent the engine's own buffer,
        // not a copy (its published snapshot is set aside meanwhile).
        drop((mine, two, after));
        // A scatter to an engine of this process moves the array in: the
        // engine hosts the client's own buffer.
        let moved = a.clone();
        let at = moved.as_ptr() as u64;
        let r = within(cluster.scatter(moved)).await.unwrap();
        assert_eq!(within(r.apply(data_address, ())).await.unwrap(), at);
        assert_eq!(within(r.fetch()).await.unwrap(), a);
        let m = ndarray::Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f64);
        let r2 = within(cluster.scatter(m.clone())).await.unwrap();
        assert_eq!(
            within(r2.fetch()).await.unwrap(),
            m,
            "an Array2 moves in too"
        );
        let t = ndarray::Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f64)
            .reversed_axes()
            .into_dyn();
        let rt = within(cluster.scatter(t.clone())).await.unwrap();
        assert_eq!(rt.shape(), &[4, 3]);
        assert_eq!(within(rt.fetch()).await.unwrap(), t);
        let here = within(r.fetch_shared()).await.unwrap().as_ptr() as u64;
        let seen = within(r.apply(data_address, ())).await.unwrap();
        assert_eq!(seen, here, "the function saw a copy");
        assert_eq!(within(r.apply(data_address, ())).await.unwrap(), here);
        assert_eq!(within(r.sum()).await.unwrap(), a.sum());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_shared_lends_the_engines_buffer_in_process() {
    let local = within(Cluster::local(2)).await.unwrap();
    fetch_shared_round_trips(&local, true).await;
    let spawned = within(Cluster::spawn_program(distob_bin(), 1))
        .await
        .unwrap();
    fetch_shared_round_trips(&spawned, false).await;
}
