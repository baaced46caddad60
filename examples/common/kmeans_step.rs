//! One k-means step, shared by `examples/kmeans.rs` and the benchmark: the
//! per-block partials (run on the engines by `map_reduce`, or on one
//! thread over the whole array) and the new centers from them.

use ndarray::{Array2, ArrayD, Axis};

/// For each center, the sum of the points nearest to it and how many there
/// are: a `k × (d + 1)` array (sums, then the count).
#[distob::function]
pub(crate) fn kmeans_partials(points: &ArrayD<f64>, centers: ArrayD<f64>) -> ArrayD<f64> {
    let (k, d) = (centers.shape()[0], centers.shape()[1]);
    let mut out = Array2::<f64>::zeros((k, d + 1));
    let centers = centers.as_standard_layout();
    let c = centers.as_slice().unwrap_or(&[]);
    for x in points.rows() {
        let mut best = (0, f64::INFINITY);
        for (j, cj) in c.chunks_exact(d).enumerate() {
            let dist: f64 = x.iter().zip(cj).map(|(a, b)| (a - b) * (a - b)).sum();
            if dist < best.1 {
                best = (j, dist);
            }
        }
        let mut row = out.row_mut(best.0);
        for (s, &v) in row.iter_mut().zip(x.iter()) {
            *s += v;
        }
        row[d] += 1.0;
    }
    out.into_dyn()
}

/// The new centers: each partial sum over its count (a center nearest to
/// no point stays where it was).
pub(crate) fn new_centers(partials: &ArrayD<f64>, old: &ArrayD<f64>) -> ArrayD<f64> {
    let d = old.shape()[1];
    let mut next = old.clone();
    for (j, mut c) in next.axis_iter_mut(Axis(0)).enumerate() {
        let count = partials[[j, d]];
        if count > 0.0 {
            for (i, v) in c.iter_mut().enumerate() {
                *v = partials[[j, i]] / count;
            }
        }
    }
    next
}
