//! k-means over a distributed array: each step is one `map_reduce` (the
//! engines compute per-block sums and counts for the current centers, the
//! partials merge engine to engine) and a division on the client; timed
//! against the same steps on one thread.
//!
//! ```sh
//! cargo run --release --example kmeans              # 2,000,000 points of 8 dims, 8 centers, 2 engine processes
//! cargo run --release --example kmeans -- --quick   # 100,000 points
//! ```

#[path = "common/kmeans_step.rs"]
mod kmeans_step;

use distob::array::Reduce;
use distob::Cluster;
use kmeans_step::{kmeans_partials, new_centers};
use ndarray::{s, ArrayD};
use std::time::Instant;

const DIMS: usize = 8;
const CENTERS: usize = 8;
const STEPS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Engine processes are this program, started again as engines.
    distob::engine::main_if_engine();
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 100_000 } else { 2_000_000 };
    tokio::runtime::Runtime::new()?.block_on(run(n))
}

async fn run(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let cluster = Cluster::spawn(2).await?;
    // Points made on the engines (the same seed gives the same points on
    // any number of engines), shifted so that the clusters differ.
    let points = cluster.random(7).normal::<f64>(&[n, DIMS], 0)?;
    let local = cluster.gather(&points).await?;
    let mut centers: ArrayD<f64> = local.slice(s![..CENTERS, ..]).to_owned().into_dyn();
    let start = centers.clone();

    let t = Instant::now();
    for _ in 0..STEPS {
        let sums = points.map_reduce(kmeans_partials, (centers.clone(),), Reduce::Sum)?;
        centers = new_centers(&sums.fetch().await?, &centers);
    }
    let ours = t.elapsed().as_secs_f64() / STEPS as f64;

    let mut one = start;
    let t = Instant::now();
    for _ in 0..STEPS {
        one = new_centers(&kmeans_partials(&local, one.clone()), &one);
    }
    let thread = t.elapsed().as_secs_f64() / STEPS as f64;

    let apart = (&centers - &one)
        .mapv(f64::abs)
        .fold(0.0f64, |m, &x| m.max(x));
    assert!(apart < 1e-9, "the two runs disagree by {apart}");
    println!(
        "k-means step over {n} points: {:.1} ms on 2 engines, {:.1} ms on one thread ({:.2}x)",
        ours * 1e3,
        thread * 1e3,
        thread / ours
    );
    cluster.shutdown().await?;
    Ok(())
}
