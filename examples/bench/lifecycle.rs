#![allow(unreachable_pub)]
//! Figures of calls with a life cycle: streamed items (small and large)
//! against pipelined calls and a gather, and withdrawing queued calls
//! against issuing them.

use super::{emit, median, BoxError};
use distob::{Call, Cluster, NodeId, Streamed};
use futures::StreamExt;
use std::time::{Duration, Instant};

/// Streams and a mailbox to hold.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Source {
    n: u64,
}

#[distob::remote]
impl Source {
    /// `n` items of 16 bytes.
    pub fn pairs(&self, n: u64) -> Streamed<(u64, u64)> {
        Streamed::iter((0..n).map(|i| (i, !i)))
    }

    /// `n` items of 1 MiB.
    pub fn blobs(&self, n: u64) -> Streamed<ndarray::Array1<u8>> {
        Streamed::iter((0..n).map(|i| ndarray::Array1::from_elem(1 << 20, i as u8)))
    }

    pub fn bump(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    /// Holds the mailbox for `ms`.
    pub async fn hold(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

pub async fn lifecycle(quick: bool) -> Result<(), BoxError> {
    let cluster = Cluster::spawn(1).await?;
    let src: RemoteSource = cluster.scatter_to(NodeId(0), Source::default()).await?;
    let reps = if quick { 2 } else { 5 };

    // Pipelined calls (as `pipelined_calls_per_s` measures them: 10,000 in
    // flight), the baseline of the same run.
    let mut pipelined = Vec::new();
    for _ in 0..reps * 4 {
        let t = Instant::now();
        let sent: Vec<Call<u64>> = (0..10_000).map(|_| src.bump()).collect();
        for c in sent {
            c.await?;
        }
        pipelined.push(10_000.0 / t.elapsed().as_secs_f64());
    }
    let items = if quick { 200_000 } else { 2_000_000 };
    let mut rates = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let mut s = src.pairs(items);
        let mut n = 0u64;
        while let Some(item) = s.next().await {
            item?;
            n += 1;
        }
        rates.push(n as f64 / t.elapsed().as_secs_f64());
    }
    emit(
        "stream_items_per_s",
        median(rates),
        "items/s",
        Some(median(pipelined)),
    );

    // 1 MiB items against a gather of the same bytes.
    let blobs = if quick { 32 } else { 100 };
    let whole = cluster
        .scatter_to(NodeId(0), ndarray::Array1::from_elem(blobs << 20, 1u8))
        .await?;
    let (mut streamed, mut gathered) = (Vec::new(), Vec::new());
    let mb = (blobs << 20) as f64 / 1e6;
    for _ in 0..reps {
        let t = Instant::now();
        let mut s = src.blobs(blobs as u64);
        while let Some(item) = s.next().await {
            item?;
        }
        streamed.push(mb / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let back = whole.fetch().await?;
        gathered.push(mb / t.elapsed().as_secs_f64());
        drop(back);
    }
    emit(
        "stream_mb_per_s",
        median(streamed),
        "MB/s",
        Some(median(gathered)),
    );

    // Withdrawing 10,000 calls queued behind a held mailbox, against
    // issuing them.
    let (mut cancel, mut issue) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let held = src.hold(2_000);
        let t = Instant::now();
        let mut queued: Vec<Call<u64>> = (0..10_000).map(|_| src.bump()).collect();
        issue.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for c in &mut queued {
            c.cancel();
        }
        cancel.push(t.elapsed().as_secs_f64());
        drop(queued);
        held.await?;
    }
    emit("cancel_10k_s", median(cancel), "s", Some(median(issue)));
    Ok(())
}
