//! Typed proxies from `#[distob::remote]`, on in-process engines and on
//! engine processes re-run from this test executable (so this test has its
//! own `main`: `main_if_engine` first, then a small runner with deadlines).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::runner::{Case, Tally};
use distob::call::call_all;
use distob::{Cluster, Error, NodeId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    n: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CounterError {
    WouldGoNegative { n: i64, by: i64 },
}

#[distob::remote]
impl Counter {
    /// Adds `by`; returns the new count.
    pub fn incr(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }

    pub fn get(&self) -> i64 {
        self.n
    }

    #[distob(cached)]
    pub fn describe(&self, prefix: &str) -> String {
        format!("{prefix} {}", self.n)
    }

    #[distob(skip)]
    pub fn local_only(&self) -> i64 {
        -1
    }

    pub fn boom(&self, message: &str) -> i64 {
        panic!("{message}")
    }

    pub fn checked_sub(&mut self, by: i64) -> Result<i64, CounterError> {
        if by > self.n {
            return Err(CounterError::WouldGoNegative { n: self.n, by });
        }
        self.n -= by;
        Ok(self.n)
    }

    pub async fn slow_incr(&mut self, by: i64, wait_ms: u64) -> i64 {
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        self.n += by;
        self.n
    }

    #[distob(remote_result)]
    pub fn half(&self) -> Counter {
        Counter { n: self.n / 2 }
    }

    #[distob(remote_result)]
    pub fn boom_into(&self, message: &str) -> Counter {
        panic!("{message}")
    }

    pub fn sum_with(&self, xs: &[i64]) -> i64 {
        self.n + xs.iter().sum::<i64>()
    }

    fn private_helper(&self) -> i64 {
        self.n
    }
}

impl Counter {
    pub fn helper(&self) -> i64 {
        self.private_helper() + self.local_only()
    }
}

/// distob's own example: objects with a method `f`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct A {
    p: i64,
}

#[distob::remote]
impl A {
    pub fn f(&self, x: i64) -> i64 {
        x * x + self.p
    }
}

// A remote function takes the remote object as it is stored: `&Vec<i64>`.
#[allow(clippy::ptr_arg)]
#[distob::function]
fn scaled_total(v: &Vec<i64>, k: i64) -> i64 {
    v.iter().sum::<i64>() * k
}

async fn back_to_back_calls_keep_their_order(c: &Cluster) {
    let x: RemoteCounter = c.scatter(Counter { n: 0 }).await.unwrap();
    let a = x.incr(5);
    let b = x.incr(1);
    assert_eq!((a.await.unwrap(), b.await.unwrap()), (5, 6));
    let y: RemoteCounter = c.scatter(Counter { n: 100 }).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..1000 {
        calls.push((x.incr(1), i));
        calls.push((y.incr(-1), i));
    }
    let mut got_x = Vec::new();
    let mut got_y = Vec::new();
    for (k, (call, _)) in calls.into_iter().enumerate() {
        let v = call.await.unwrap();
        if k % 2 == 0 {
            got_x.push(v)
        } else {
            got_y.push(v)
        }
    }
    assert_eq!(got_x, (7..1007).collect::<Vec<i64>>());
    assert_eq!(got_y, (-900..100).rev().collect::<Vec<i64>>());
    assert_eq!(x.get().await.unwrap(), 1006);
    assert_eq!(c.gather(&x).await.unwrap(), Counter { n: 1006 });
}

async fn distob_example_f_on_each(c: &Cluster) {
    let objs: Vec<RemoteA> = c
        .scatter_each((0..10).map(|p| A { p }).collect())
        .await
        .unwrap();
    let mut each = Vec::new();
    for o in &objs {
        each.push(o.f(30).await.unwrap());
    }
    assert_eq!(each, (900..910).collect::<Vec<i64>>());
    let all = call_all(&objs, |o| o.f(30)).await.unwrap();
    assert_eq!(all, each);
}

async fn a_panic_fails_only_that_call(c: &Cluster) {
    let x: RemoteCounter = c.scatter(Counter { n: 1 }).await.unwrap();
    let other: RemoteCounter = c.scatter(Counter { n: 2 }).await.unwrap();
    let r = x.boom("kaboom 42").await;
    match r {
        Err(Error::RemotePanic { message }) => assert!(message.contains("kaboom 42"), "{message}"),
        other => panic!("expected RemotePanic, got {other:?}"),
    }
    assert_eq!(x.incr(1).await.unwrap(), 2);
    assert_eq!(other.get().await.unwrap(), 2);
}

async fn a_method_error_reaches_the_caller_typed(c: &Cluster) {
    let x: RemoteCounter = c.scatter(Counter { n: 3 }).await.unwrap();
    assert_eq!(x.checked_sub(2).await.unwrap(), 1);
    match x.checked_sub(5).await {
        Err(Error::Remote(CounterError::WouldGoNegative { n, by })) => assert_eq!((n, by), (1, 5)),
        other => panic!("expected the method's own error, got {other:?}"),
    }
    // Transport errors stay apart from it.
    assert!(x.checked_sub(5).await.unwrap_err().remote().is_some());
}

async fn cached_calls_skip_the_engine_until_a_mutation(c: &Cluster) {
    let x: RemoteCounter = c.scatter_to(NodeId(1), Counter { n: 7 }).await.unwrap();
    let engine = c.hub().engine(NodeId(1));
    let calls = || async { engine.stats().await.unwrap().calls };
    let before = calls().await;
    assert_eq!(x.describe("n is").await.unwrap(), "n is 7");
    assert_eq!(calls().await, before + 1);
    assert_eq!(x.describe("n is").await.unwrap(), "n is 7");
    assert_eq!(calls().await, before + 1, "a cached call sent a message");
    // Another argument is another entry.
    assert_eq!(x.describe("count").await.unwrap(), "count 7");
    assert_eq!(calls().await, before + 2);
    // A mutation through this client empties the cache.
    assert_eq!(x.incr(1).await.unwrap(), 8);
    assert_eq!(x.describe("n is").await.unwrap(), "n is 8");
    assert_eq!(calls().await, before + 4);
    // Clones share the cache.
    let twin = x.clone();
    assert_eq!(twin.describe("n is").await.unwrap(), "n is 8");
    assert_eq!(calls().await, before + 4);
}

async fn the_method_cache_stays_within_its_byte_bound(c: &Cluster) {
    let x: RemoteCounter = c.scatter_to(NodeId(0), Counter { n: 3 }).await.unwrap();
    let limit = c.hub().method_cache_limit();
    let prefixes: Vec<String> = (0..10_000).map(|i| format!("p{i}")).collect();
    let answers = call_all(&prefixes, |p| x.describe(p)).await.unwrap();
    for (p, a) in prefixes.iter().zip(&answers) {
        assert_eq!(a, &format!("{p} 3"));
    }
    let stats = x.method_cache_stats();
    assert!(stats.bytes <= limit, "{stats:?} over {limit}");
    assert!(
        stats.entries > 100,
        "{stats:?}: the bound keeps many small replies"
    );
    // The newest are hits (no message), and equal to what the engine said.
    let engine = c.hub().engine(NodeId(0));
    let before = engine.stats().await.unwrap().calls;
    assert_eq!(x.describe("p9999").await.unwrap(), "p9999 3");
    assert_eq!(engine.stats().await.unwrap().calls, before);
    // A smaller bound evicts down to it at the next store.
    c.hub().set_method_cache_limit(2_000);
    assert_eq!(x.describe("fresh").await.unwrap(), "fresh 3");
    assert!(x.method_cache_stats().bytes <= 2_000);
    c.hub().set_method_cache_limit(limit);
}

async fn async_methods_keep_the_object_in_order(c: &Cluster) {
    let x: RemoteCounter = c.scatter(Counter { n: 0 }).await.unwrap();
    let slow = x.slow_incr(10, 100);
    let fast = x.incr(1);
    assert_eq!(slow.await.unwrap(), 10);
    assert_eq!(fast.await.unwrap(), 11);
}

async fn remote_results_stay_on_the_engine(c: &Cluster) {
    let x: RemoteCounter = c.scatter_to(NodeId(1), Counter { n: 40 }).await.unwrap();
    // The handle comes at once; calls on it follow without a round trip.
    let h = x.half();
    assert_eq!(h.node(), NodeId(1));
    assert!(c.hub().contains(&h.id()));
    let bumped = h.incr(1);
    let hh = h.half().half();
    assert_eq!(bumped.await.unwrap(), 21);
    assert_eq!(x.get().await.unwrap(), 40);
    assert_eq!(c.gather(&hh).await.unwrap(), Counter { n: 5 });
    // A failed computation surfaces when its result is used.
    let broken = x.boom_into("no result");
    match broken.get().await {
        Err(Error::RemotePanic { message }) => assert!(message.contains("no result")),
        other => panic!("expected the recorded panic, got {other:?}"),
    }
}

async fn reference_arguments_and_functions(c: &Cluster) {
    let x: RemoteCounter = c.scatter(Counter { n: 1 }).await.unwrap();
    assert_eq!(x.sum_with(&[1, 2, 3]).await.unwrap(), 7);
    let v = c.scatter(vec![1i64, 2, 3]).await.unwrap();
    assert_eq!(c.call(scaled_total, &v, (10,)).await.unwrap(), 60);
    assert_eq!(v.apply(scaled_total, (2,)).await.unwrap(), 12);
}

async fn blocking_wait_works_off_the_runtime(c: &Cluster) {
    let x: RemoteCounter = c.scatter(Counter { n: 0 }).await.unwrap();
    let y = x.clone();
    let got = tokio::task::spawn_blocking(move || {
        y.incr(2).wait().unwrap();
        y.incr(3).timeout(DEADLINE).wait().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(got, 5);
}

fn main() {
    distob::engine::main_if_engine();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cases: Vec<(&str, Case)> = crate::cases![
        back_to_back_calls_keep_their_order,
        distob_example_f_on_each,
        a_panic_fails_only_that_call,
        a_method_error_reaches_the_caller_typed,
        cached_calls_skip_the_engine_until_a_mutation,
        the_method_cache_stays_within_its_byte_bound,
        async_methods_keep_the_object_in_order,
        remote_results_stay_on_the_engine,
        reference_arguments_and_functions,
        blocking_wait_works_off_the_runtime,
    ];
    let mut tally = Tally::default();
    for kind in ["local", "spawn"] {
        let cluster = rt.block_on(async {
            let c = match kind {
                "local" => Cluster::local(4).await,
                _ => Cluster::spawn(2).await,
            };
            c.unwrap()
        });
        let cluster = std::sync::Arc::new(cluster);
        for (name, case) in &cases {
            tally.run(&rt, &format!("{kind}::{name}"), &cluster, *case, DEADLINE);
        }
    }
    tally.finish();
}
