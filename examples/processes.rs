//! Your own types in engine processes: this program, re-run in engine
//! mode (`#[distob::main]`), is each engine, so the engines host the
//! `Histogram` type defined here and run its methods.
//!
//! ```sh
//! cargo run --example processes
//! ```

use distob::call::call_all;
use distob::Cluster;
use serde::{Deserialize, Serialize};

/// Counts of values in equal bins over `[lo, hi)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Histogram {
    lo: f64,
    hi: f64,
    bins: Vec<u64>,
}

#[distob::remote]
impl Histogram {
    /// Counts `values` into the bins (values outside are dropped).
    pub fn add(&mut self, values: Vec<f64>) -> u64 {
        let width = (self.hi - self.lo) / self.bins.len() as f64;
        let mut added = 0;
        for v in values {
            let i = ((v - self.lo) / width).floor();
            if i >= 0.0 && (i as usize) < self.bins.len() {
                self.bins[i as usize] += 1;
                added += 1;
            }
        }
        added
    }

    /// The bins.
    pub fn bins(&self) -> Vec<u64> {
        self.bins.clone()
    }

    /// The process this histogram lives in.
    pub fn pid(&self) -> u32 {
        std::process::id()
    }
}

#[distob::main]
#[tokio::main]
async fn main() -> distob::Result<()> {
    let cluster = Cluster::spawn(3).await?;
    let empty = Histogram {
        lo: 0.0,
        hi: 1.0,
        bins: vec![0; 10],
    };
    let hists: Vec<RemoteHistogram> = cluster.scatter_each(vec![empty; 3]).await?;
    let pids = call_all(&hists, |h| h.pid()).await?;
    println!(
        "this process {}, engine processes {pids:?}",
        std::process::id()
    );
    assert!(pids.iter().all(|&p| p != std::process::id()));

    // Each engine counts its own share; only the bins come back.
    let shares = (0..3).map(|k| {
        (0..10_000)
            .map(|i| ((i * 7 + k) % 1000) as f64 / 1000.0)
            .collect()
    });
    let adds: Vec<_> = hists
        .iter()
        .zip(shares)
        .map(|(h, v): (_, Vec<f64>)| h.add(v))
        .collect();
    for add in adds {
        assert_eq!(add.await?, 10_000);
    }
    let mut total = vec![0u64; 10];
    for bins in call_all(&hists, |h| h.bins()).await? {
        for (t, b) in total.iter_mut().zip(bins) {
            *t += b;
        }
    }
    println!("bins over all engines: {total:?}");
    assert_eq!(total.iter().sum::<u64>(), 30_000);
    cluster.shutdown().await?;
    Ok(())
}
