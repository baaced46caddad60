//! Calls with a life cycle: cancellation and deadlines, streamed results,
//! supervision of objects whose methods panic, timers. On in-process
//! engines and on engine processes re-run from this test executable.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

#[path = "../common/mod.rs"]
mod common;

mod types;

use common::runner::{Case, Tally};
use common::{eventually, rss_kib, within};
use distob::call::WithTimeout;
use distob::cluster::ClusterEvent;
use distob::error::CallFate;
use distob::{Call, Cluster, Error, NodeId};
use futures::StreamExt;
use std::time::{Duration, Instant};
use types::*;

const DEADLINE: Duration = Duration::from_secs(120);

async fn withdrawn_calls_never_run_and_leave_nothing_behind(c: &Cluster) {
    let gate: RemoteGate = within(c.scatter_to(NodeId(0), Gate::default()))
        .await
        .unwrap();
    let engine = c.hub().engine(NodeId(0));
    // The gate's mailbox is held; the calls below queue behind it.
    let held = gate.hold(1_500);
    let mut timed = Vec::new();
    for _ in 0..5_000 {
        timed.push(gate.bump().timeout(Duration::from_millis(200)));
    }
    let mut cancelled: Vec<Call<u64>> = (0..5_000).map(|_| gate.bump()).collect();
    for call in &mut cancelled {
        call.cancel();
    }
    for call in cancelled {
        assert!(matches!(within(call).await, Err(Error::Cancelled)));
    }
    for call in timed {
        let r = within(call).await;
        assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
        assert_eq!(r.unwrap_err().fate(), CallFate::MayHaveRun);
    }
    // Withdrawn: none waits in the hub.
    assert_eq!(c.hub().pending_calls(), 1, "only the hold waits");
    within(held).await.unwrap();
    // None ran, and the engine holds none of them.
    assert_eq!(within(gate.ran()).await.unwrap(), 0);
    eventually("the engine's queues to empty", || async {
        let s = within(engine.stats()).await.unwrap();
        s.queued == 0 && s.in_flight == 0
    })
    .await;
    assert_eq!(c.hub().pending_calls(), 0);
}

async fn a_cancelled_async_method_stops_at_its_await(c: &Cluster) {
    let gate: RemoteGate = within(c.scatter_to(NodeId(1), Gate::default()))
        .await
        .unwrap();
    let mut slow = gate.slow(10_000);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    slow.cancel();
    assert!(matches!(within(slow).await, Err(Error::Cancelled)));
    // The method was dropped at its await: the mailbox is free at once and
    // it never finished.
    assert_eq!(within(gate.finished()).await.unwrap(), 0);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

async fn deadlines_reach_nested_calls_and_expired_calls_do_not_run(c: &Cluster) {
    let a: RemoteGate = within(c.scatter_to(NodeId(0), Gate::default()))
        .await
        .unwrap();
    let b: RemoteGate = within(c.scatter_to(NodeId(1), Gate::default()))
        .await
        .unwrap();
    // The deadline is known when the call is made (a scope): it travels.
    let scoped = async { a.remaining_via(b.clone()).await };
    let (here, there) = within(scoped.timeout(Duration::from_secs(5)))
        .await
        .unwrap();
    let (here, there) = (here.unwrap(), there.unwrap());
    assert!(here <= 5_000 && there <= here, "{here} {there}");
    // Without a deadline, none is seen.
    assert_eq!(within(a.remaining()).await.unwrap(), None);
    // A call made with a 100 ms deadline behind a 500 ms hold, and
    // dropped: it arrives in time but would start too late, so it never
    // runs.
    let held = b.hold(500);
    let late = async {
        drop(b.bump());
        Ok::<(), Error>(())
    };
    within(late.timeout(Duration::from_millis(100)))
        .await
        .unwrap();
    within(held).await.unwrap();
    assert_eq!(within(b.ran()).await.unwrap(), 0);
}

async fn the_default_timeout_applies_to_every_call(c: &Cluster) {
    let gate: RemoteGate = within(c.scatter_to(NodeId(0), Gate::default()))
        .await
        .unwrap();
    let held = gate.hold(600);
    c.hub()
        .set_default_timeout(Some(Duration::from_millis(100)));
    let r = within(gate.bump()).await;
    c.hub().set_default_timeout(None);
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    within(held).await.ok();
    assert_eq!(within(gate.ran()).await.unwrap(), 0);
    // scatter and gather take one too.
    let xs = within(c.scatter_each(vec![1u8, 2]).timeout(Duration::from_secs(5)))
        .await
        .unwrap();
    let back = within(c.gather(&xs).timeout(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(back, vec![1, 2]);
}

async fn a_slow_stream_keeps_order_and_bounds_the_engine(c: &Cluster) {
    let src: RemoteSource = within(c.scatter_to(NodeId(0), Source::default()))
        .await
        .unwrap();
    let pid = c
        .pids()
        .into_iter()
        .find(|(n, _)| *n == NodeId(0))
        .map(|(_, p)| p);
    let before = pid.map(rss_kib);
    let n = 1_000_000u64;
    let mut items = src.items(n, 128);
    let mut next = 0u64;
    let mut peak = 0;
    while let Some(item) = within(items.next()).await {
        let item = item.unwrap();
        assert_eq!(u64::from_le_bytes(item[..8].try_into().unwrap()), next);
        next += 1;
        if next.is_multiple_of(10_000) {
            // A slow consumer.
            tokio::time::sleep(Duration::from_millis(2)).await;
            if let Some(p) = pid {
                peak = peak.max(rss_kib(p));
            }
        }
    }
    assert_eq!(next, n);
    if let (Some(before), true) = (before, peak > 0) {
        // 128 MB were sent; the engine held at most a window of them.
        assert!(
            peak < before + 48 * 1024,
            "engine RSS {before} KiB -> peak {peak} KiB"
        );
        println!("stream of {n} items: engine RSS {before} KiB, peak {peak} KiB");
    }
}

async fn dropping_a_stream_stops_production(c: &Cluster) {
    let src: RemoteSource = within(c.scatter_to(NodeId(1), Source::default()))
        .await
        .unwrap();
    let mut numbers = src.forever();
    for i in 0..10 {
        assert_eq!(within(numbers.next()).await.unwrap().unwrap(), i);
    }
    drop(numbers);
    // Production stopped within a window of what was consumed, and the
    // object serves again.
    let produced = within(src.produced()).await.unwrap();
    assert!(
        produced <= 10 + distob::call::DEFAULT_WINDOW_ITEMS + 64,
        "{produced}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(within(src.produced()).await.unwrap(), produced);
}

async fn a_stream_from_a_killed_engine_ends_with_engine_lost(c: &Cluster) {
    let own = within(Cluster::spawn(1)).await.unwrap();
    let src: RemoteSource = within(own.scatter(Source::default())).await.unwrap();
    let mut numbers = src.forever();
    assert_eq!(within(numbers.next()).await.unwrap().unwrap(), 0);
    common::signal(own.pids()[0].1, "KILL");
    let mut end = None;
    while let Some(item) = within(numbers.next()).await {
        if let Err(e) = item {
            end = Some(e);
        }
    }
    assert!(matches!(end, Some(Error::EngineLost(_))), "{end:?}");
    let _ = c;
}

async fn a_feed_uploads_within_its_window_and_stops_when_dropped(c: &Cluster) {
    let up: RemoteUpload = within(c.scatter_to(NodeId(0), Upload::default()))
        .await
        .unwrap();
    let pid = c
        .pids()
        .into_iter()
        .find(|(n, _)| *n == NodeId(0))
        .map(|(_, p)| p);
    let before = pid.map(rss_kib);
    // 100,000 items of 1 KiB: 100 MB that never sit in the engine at once.
    let n = 100_000u64;
    let feed = distob::Feed::iter((0..n).map(|_| ndarray::Array1::from_elem(1024, 7u8)));
    let (items, bytes) = within(up.take(feed, u64::MAX)).await.unwrap();
    assert_eq!((items, bytes), (n, n * 1024));
    if let (Some(before), Some(p)) = (before, pid) {
        let after = rss_kib(p);
        assert!(
            after < before + 32 * 1024,
            "engine RSS {before} KiB -> {after} KiB"
        );
    }
    // The method stops taking after 10 items and drops the feed: the
    // caller's stream is pulled no further than the feed's window.
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = pulled.clone();
    let endless = futures::stream::iter(0u64..).map(move |_| {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ndarray::Array1::from_elem(16, 1u8)
    });
    let second: RemoteUpload = within(c.scatter_to(NodeId(1), Upload::default()))
        .await
        .unwrap();
    let (items, _) = within(second.take(distob::Feed::new(endless), 10))
        .await
        .unwrap();
    assert_eq!(items, 10);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let now = pulled.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        now <= 10 + 2 * u64::from(distob::call::FEED_WINDOW),
        "{now} pulled"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pulled.load(std::sync::atomic::Ordering::Relaxed), now);
}

async fn event(events: &mut distob::cluster::ClusterEvents) -> ClusterEvent {
    within(events.recv()).await.unwrap()
}

async fn a_panic_poisons_continues_or_restarts(c: &Cluster) {
    let mut events = c.events();
    // Poison: the default.
    let f: RemoteFragile = within(c.scatter_to(NodeId(0), Fragile::default()))
        .await
        .unwrap();
    within(f.set(1)).await.unwrap();
    // A panic in a &self method changes nothing.
    assert!(matches!(
        within(f.peek(true)).await,
        Err(Error::RemotePanic { .. })
    ));
    assert_eq!(within(f.peek(false)).await.unwrap(), 1);
    assert!(matches!(
        within(f.set(-1)).await,
        Err(Error::RemotePanic { .. })
    ));
    let r = within(f.peek(false)).await;
    assert!(
        matches!(r, Err(Error::ObjectPoisoned(x)) if x == f.id()),
        "{r:?}"
    );
    match event(&mut events).await {
        ClusterEvent::ObjectFailed { r, message } => {
            assert_eq!(r, f.id());
            assert!(message.contains("negative"), "{message}");
        }
        other => panic!("expected ObjectFailed, got {other:?}"),
    }
    // Continue: the object goes on as the panic left it.
    let s: RemoteSturdy = within(c.scatter_to(NodeId(1), Sturdy::default()))
        .await
        .unwrap();
    assert!(within(s.set(-5)).await.is_err());
    assert_eq!(within(s.get()).await.unwrap(), -5);
    // Restart: rebuilt by its init function, twice; the third poisons.
    let p: RemotePhoenix = within(c.scatter_to(NodeId(0), Phoenix { n: 1 }))
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(within(p.set(-1)).await.is_err());
        assert_eq!(within(p.get()).await.unwrap(), 100);
        within(p.set(7)).await.unwrap();
        match event(&mut events).await {
            ClusterEvent::ObjectRestarted { r, .. } => assert_eq!(r, p.id()),
            other => panic!("expected ObjectRestarted, got {other:?}"),
        }
    }
    assert!(within(p.set(-1)).await.is_err());
    assert!(matches!(
        within(p.get()).await,
        Err(Error::ObjectPoisoned(_))
    ));
    assert!(matches!(
        event(&mut events).await,
        ClusterEvent::ObjectFailed { .. }
    ));
}

async fn timers_fire_on_schedule_and_end_with_their_object(c: &Cluster) {
    let sink: RemoteSink = within(c.scatter_to(NodeId(1), Sink::default()))
        .await
        .unwrap();
    let ticker: RemoteTicker = within(c.scatter_to(NodeId(0), Ticker)).await.unwrap();
    let started = Instant::now();
    within(ticker.start(sink.clone(), 20)).await.unwrap();
    let listing = within(c.hub().engine(NodeId(0)).list()).await.unwrap();
    let entry = listing
        .iter()
        .find(|o| o.object == ticker.id().object)
        .unwrap();
    assert_eq!(entry.timers, 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ticks = within(sink.ticks()).await.unwrap();
    let expected = started.elapsed().as_millis() as u64 / 20;
    assert!(
        ticks >= 5 && ticks <= expected + 2,
        "{ticks} ticks in {:?}",
        started.elapsed()
    );
    // Once, and cancelled.
    let once = within(ticker.once(sink.clone(), 50)).await.unwrap();
    let never = within(ticker.once(sink.clone(), 300)).await.unwrap();
    within(ticker.stop(never)).await.unwrap();
    let _ = once;
    // The ticker goes: its timer ends.
    drop(ticker);
    eventually("the ticker to go", || async {
        within(c.hub().engine(NodeId(0)).list())
            .await
            .unwrap()
            .iter()
            .all(|o| o.timers == 0)
    })
    .await;
    let after = within(sink.ticks()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        within(sink.ticks()).await.unwrap(),
        after,
        "ticks after the ticker went"
    );
}

async fn stats_count_queued_calls_and_held_bytes_as_they_change(c: &Cluster) {
    let engine = c.hub().engine(NodeId(1));
    // The running total is the table's sum (what it replaced walking),
    // read between two equal totals so that nothing changed meanwhile.
    let totals_agree = || async {
        for _ in 0..100 {
            let first = within(engine.stats()).await.unwrap();
            let listing = within(engine.list()).await.unwrap();
            let last = within(engine.stats()).await.unwrap();
            let walked: u64 = listing.iter().map(|o| o.nbytes).sum();
            if first.bytes_held == last.bytes_held {
                assert_eq!(last.bytes_held, walked, "the total against the table");
                return last;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the engine's total never held still");
    };
    let gate: RemoteGate = within(c.scatter_to(NodeId(1), Gate::default()))
        .await
        .unwrap();
    let before = totals_agree().await;
    let mut held = gate.hold(60_000);
    let bumps: Vec<Call<u64>> = (0..10).map(|_| gate.bump()).collect();
    eventually("the hold and ten calls queued", || async {
        within(engine.stats()).await.unwrap().queued == before.queued + 11
    })
    .await;
    // Large enough to come on the bulk connection: its size is set when
    // its value fills the object announced before it.
    let big = within(c.scatter_to(NodeId(1), ndarray::Array1::<f64>::zeros(1 << 18)))
        .await
        .unwrap();
    let holding = totals_agree().await.bytes_held;
    assert!(holding >= before.bytes_held + (2 << 20), "{holding}");
    held.cancel();
    assert!(matches!(within(held).await, Err(Error::Cancelled)));
    for b in bumps {
        within(b).await.unwrap();
    }
    drop(big);
    eventually("the queue to empty and the array's bytes to go", || async {
        let s = totals_agree().await;
        s.queued == before.queued && s.bytes_held < holding - (2 << 20) + 1
    })
    .await;
}

fn main() {
    distob::engine::main_if_engine();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cases: Vec<(&str, Case)> = crate::cases![
        withdrawn_calls_never_run_and_leave_nothing_behind,
        a_cancelled_async_method_stops_at_its_await,
        deadlines_reach_nested_calls_and_expired_calls_do_not_run,
        the_default_timeout_applies_to_every_call,
        a_slow_stream_keeps_order_and_bounds_the_engine,
        dropping_a_stream_stops_production,
        a_feed_uploads_within_its_window_and_stops_when_dropped,
        a_panic_poisons_continues_or_restarts,
        timers_fire_on_schedule_and_end_with_their_object,
        stats_count_queued_calls_and_held_bytes_as_they_change,
    ];
    let process_cases: Vec<(&str, Case)> =
        crate::cases![a_stream_from_a_killed_engine_ends_with_engine_lost];
    let mut tally = Tally::default();
    for kind in ["local", "spawn"] {
        let cluster = rt.block_on(async {
            match kind {
                "local" => Cluster::local(2).await,
                _ => Cluster::spawn(2).await,
            }
            .unwrap()
        });
        let cluster = std::sync::Arc::new(cluster);
        let mut all = cases.clone();
        if kind == "spawn" {
            all.extend(process_cases.iter().cloned());
        }
        for (name, case) in all {
            tally.run(&rt, &format!("{kind}::{name}"), &cluster, case, DEADLINE);
        }
    }
    tally.finish();
}
