//! The objects the life-cycle cases use.

use distob::call::Timer;
use distob::{Ctx, Streamed};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts the calls that ran; can hold its mailbox for a while.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Gate {
    ran: u64,
    finished: u64,
}

#[distob::remote]
impl Gate {
    /// Holds the mailbox for `ms` milliseconds.
    pub async fn hold(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    pub fn bump(&mut self) -> u64 {
        self.ran += 1;
        self.ran
    }

    pub fn ran(&self) -> u64 {
        self.ran
    }

    /// Sleeps `ms`, then counts itself finished.
    pub async fn slow(&mut self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.finished += 1;
    }

    pub fn finished(&self) -> u64 {
        self.finished
    }

    /// The time left before this call's deadline (ms), and what another
    /// object says of the time left for the call made from here.
    pub async fn remaining_via(&self, ctx: &Ctx, other: RemoteGate) -> (Option<u64>, Option<u64>) {
        let here = ctx.remaining().map(|d| d.as_millis() as u64);
        let there = other.remaining().await.ok().flatten();
        (here, there)
    }

    pub fn remaining(&self, ctx: &Ctx) -> Option<u64> {
        ctx.remaining().map(|d| d.as_millis() as u64)
    }
}

/// Produces streams, counting what it produced.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Source {
    #[serde(skip)]
    produced: Arc<AtomicU64>,
}

#[distob::remote]
impl Source {
    /// `n` items of `size` bytes, each starting with its index.
    pub fn items(&self, n: u64, size: usize) -> Streamed<Vec<u8>> {
        let produced = self.produced.clone();
        Streamed::iter((0..n).map(move |i| {
            produced.fetch_add(1, Ordering::Relaxed);
            let mut item = vec![0u8; size.max(8)];
            item[..8].copy_from_slice(&i.to_le_bytes());
            item
        }))
    }

    /// Numbers without end.
    pub fn forever(&self) -> Streamed<u64> {
        let produced = self.produced.clone();
        Streamed::iter((0..).inspect(move |_| {
            produced.fetch_add(1, Ordering::Relaxed);
        }))
    }

    pub fn produced(&self) -> u64 {
        self.produced.load(Ordering::Relaxed)
    }
}

/// Poisoned by a panic (the default).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Fragile {
    pub n: i64,
}

#[distob::remote]
impl Fragile {
    pub fn set(&mut self, n: i64) {
        if n < 0 {
            panic!("negative: {n}");
        }
        self.n = n;
    }

    pub fn peek(&self, fail: bool) -> i64 {
        if fail {
            panic!("peek failed");
        }
        self.n
    }
}

/// Goes on after a panic.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Sturdy {
    pub n: i64,
}

#[distob::remote(on_panic = "continue")]
impl Sturdy {
    pub fn set(&mut self, n: i64) {
        self.n = n;
        if n < 0 {
            panic!("negative: {n}");
        }
    }

    pub fn get(&self) -> i64 {
        self.n
    }
}

/// Rebuilt after a panic, twice at most a minute.
#[derive(Debug, Serialize, Deserialize)]
pub struct Phoenix {
    pub n: i64,
}

#[distob::remote(on_panic = "restart", max_restarts = 2, restart_window_secs = 60)]
impl Phoenix {
    #[distob(init)]
    fn reborn() -> Self {
        Phoenix { n: 100 }
    }

    pub fn set(&mut self, n: i64) {
        if n < 0 {
            panic!("negative: {n}");
        }
        self.n = n;
    }

    pub fn get(&self) -> i64 {
        self.n
    }
}

/// Counts ticks.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Sink {
    pub ticks: u64,
}

#[distob::remote]
impl Sink {
    pub fn tick(&mut self) {
        self.ticks += 1;
    }

    pub fn ticks(&self) -> u64 {
        self.ticks
    }
}

/// Ticks a sink on a timer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ticker;

#[distob::remote]
impl Ticker {
    /// Ticks `sink` every `ms` milliseconds while this object lives.
    pub fn start(&self, ctx: &Ctx, sink: RemoteSink, ms: u64) -> Timer {
        ctx.every(Duration::from_millis(ms), move |_| drop(sink.tick()))
    }

    /// Ticks `sink` once, after `ms`.
    pub fn once(&self, ctx: &Ctx, sink: RemoteSink, ms: u64) -> Timer {
        ctx.after(Duration::from_millis(ms), move |_| drop(sink.tick()))
    }

    pub fn stop(&self, ctx: &Ctx, timer: Timer) {
        ctx.cancel_timer(timer);
    }
}

/// Takes uploads through feeds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Upload {
    pub items: u64,
    pub bytes: u64,
}

#[distob::remote]
impl Upload {
    /// Takes every item, or the first `max` of them.
    pub async fn take(
        &mut self,
        mut feed: distob::Feed<ndarray::Array1<u8>>,
        max: u64,
    ) -> (u64, u64) {
        use futures::StreamExt;
        while self.items < max {
            let Some(item) = feed.next().await else { break };
            self.items += 1;
            self.bytes += item.len() as u64;
        }
        (self.items, self.bytes)
    }
}
