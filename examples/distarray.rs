//! A distributed array: a large `ndarray` split over the engines, computed
//! on where its blocks live (elementwise steps fused into one pass per
//! block, reductions moving only partials), with a progress bar while its
//! 400 MB travel.
//!
//! ```sh
//! cargo run --release --example distarray            # 50 million f64s over 4 in-process engines
//! cargo run --release --example distarray -- --quick # 1 million
//! ```

use distob::array::Placed;
use distob::Cluster;
use ndarray::{s, ArrayD, IxDyn};
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = if std::env::args().any(|a| a == "--quick") {
        1_000_000
    } else {
        50_000_000
    };
    let cluster = Cluster::local(4).await?;
    let x = ArrayD::from_shape_fn(IxDyn(&[n]), |i| i[0] as f64 / n as f64);

    // The scatter: one block per engine, with a bar for its bytes.
    let bar = indicatif::ProgressBar::new((n * 8) as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "scatter {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t = Instant::now();
    let d = cluster
        .scatter_axis(x.clone(), 0)
        .progress(|p| {
            bar.set_length(p.total.max(1));
            bar.set_position(p.done);
        })
        .await?;
    bar.finish_and_clear();
    println!("{d}  (scattered in {:.2?})", t.elapsed());

    // Elementwise steps are queued on every engine at once and fused.
    let y = d.sin() * 2.0 + 1.0;
    let t = Instant::now();
    let total: f64 = y.sum().await?;
    let local: f64 = x.mapv(|v| v.sin() * 2.0 + 1.0).sum();
    println!(
        "sum(sin(x)·2 + 1) = {total:.6} in {:.2?} (here: {local:.6})",
        t.elapsed()
    );
    assert!((total - local).abs() < 1e-6 * local.abs().max(1.0));
    println!("mean {:.6}, max {:.6}", y.mean().await?, y.max().await?);

    // A slice within one block stays a RemoteArray; across blocks, a DistArray.
    match d.slice(s![10..20])? {
        Placed::Remote(r) => println!("x[10..20] lives on engine {}", r.node()),
        Placed::Dist(p) => println!("x[10..20] spans {} blocks", p.blocks().len()),
    }
    let across = d.slice(s![n / 8..n - n / 8;1000])?;
    let picked: ArrayD<f64> = cluster.gather(&across).await?;
    println!(
        "every 1000th of the middle three quarters: {} values",
        picked.len()
    );

    // Back to the client, with a bar for the bytes.
    let bar = indicatif::ProgressBar::new((n * 8) as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "gather  {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let back: ArrayD<f64> = cluster
        .gather(&d)
        .progress(|p| {
            bar.set_length(p.total.max(1));
            bar.set_position(p.done);
        })
        .await?;
    bar.finish_and_clear();
    assert_eq!(back, x);
    println!("gathered {} values back, equal to the original", back.len());
    cluster.shutdown().await?;
    Ok(())
}
