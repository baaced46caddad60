//! Stencils with halos exchanged engine to engine: 1-D diffusion, stepped
//! on a distributed array, and a 2-D box blur; each checked against the
//! same stencil on the whole array.
//!
//! ```sh
//! cargo run --release --example stencil
//! ```

use distob::array::Boundary;
use distob::Cluster;
use ndarray::{ArrayD, Axis, IxDyn};

/// One explicit step of the heat equation (the ends held).
#[distob::function]
fn diffuse(x: &ArrayD<f64>) -> ArrayD<f64> {
    let mut out = x.clone();
    for i in 1..x.len().saturating_sub(1) {
        out[i] = x[i] + 0.25 * (x[i - 1] - 2.0 * x[i] + x[i + 1]);
    }
    out
}

/// A 3×3 box blur (the outer ring kept).
#[distob::function]
fn blur(x: &ArrayD<f64>) -> ArrayD<f64> {
    let mut out = x.clone();
    let (r, c) = (x.len_of(Axis(0)), x.len_of(Axis(1)));
    for i in 1..r.saturating_sub(1) {
        for j in 1..c.saturating_sub(1) {
            let mut s = 0.0;
            for di in 0..3 {
                for dj in 0..3 {
                    s += x[[i + di - 1, j + dj - 1]];
                }
            }
            out[[i, j]] = s / 9.0;
        }
    }
    out
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = Cluster::local(4).await?;

    let n = 1_000;
    let x = ArrayD::from_shape_fn(IxDyn(&[n]), |i| if i[0] == n / 2 { 1.0 } else { 0.0 });
    let mut d = cluster.scatter_axis(x.clone(), 0).await?;
    let mut local = x;
    for _ in 0..100 {
        d = d.map_overlap(1, Boundary::None, diffuse)?;
        local = diffuse(&local);
    }
    let heat = cluster.gather(&d).await?;
    assert!((&heat - &local).iter().all(|e| e.abs() < 1e-12));
    println!(
        "100 diffusion steps: the heat spread to {:.4} at distance 10",
        heat[n / 2 + 10]
    );

    let img = ArrayD::from_shape_fn(IxDyn(&[64, 48]), |i| ((i[0] / 8 + i[1] / 8) % 2) as f64);
    let d = cluster.scatter_axis(img.clone(), 0).await?;
    let blurred = cluster
        .gather(&d.map_overlap(1, Boundary::Reflect, blur)?)
        .await?;
    let whole = blur(&img);
    let inner = |a: &ArrayD<f64>| a.slice(ndarray::s![1..63, ..]).to_owned();
    assert_eq!(inner(&blurred), inner(&whole));
    println!("2-D blur over 4 engines equals the blur of the whole image");
    cluster.shutdown().await?;
    Ok(())
}
