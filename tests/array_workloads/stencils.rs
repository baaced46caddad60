//! Stencils with halos against the same stencil on the whole array.

use super::{close, clusters, run};
use ndarray::{ArrayD, Axis, Dimension, IxDyn};
use proptest::prelude::*;

/// A box blur of radius 1 over every axis (neighbourhoods clipped at the
/// array's ends).
#[distob::function]
fn blur(x: &ArrayD<f64>) -> ArrayD<f64> {
    let shape = x.shape().to_vec();
    ArrayD::from_shape_fn(IxDyn(&shape), |at| {
        let (mut sum, mut n) = (0.0, 0.0);
        let mut idx = at.as_array_view().to_vec();
        let around = |d: usize, len: usize| {
            let i = idx[d];
            i.saturating_sub(1)..(i + 2).min(len)
        };
        // Up to two dimensions in these tests.
        let rows = around(0, shape[0]);
        let cols = if shape.len() > 1 {
            around(1, shape[1])
        } else {
            0..1
        };
        for r in rows {
            for c in cols.clone() {
                idx[0] = r;
                if shape.len() > 1 {
                    idx[1] = c;
                }
                sum += x[IxDyn(&idx)];
                n += 1.0;
            }
        }
        sum / n
    })
}

/// The whole array padded along `k` as the boundary mode says.
fn padded(
    a: &ArrayD<f64>,
    k: usize,
    depth: usize,
    mode: distob::array::Boundary,
) -> (ArrayD<f64>, usize) {
    use distob::array::Boundary;
    let n = a.len_of(Axis(k));
    let take = |idx: Vec<usize>| a.select(Axis(k), &idx);
    let (before, after) = match mode {
        Boundary::Reflect => (
            take((0..depth).rev().collect()),
            take((n - depth..n).rev().collect()),
        ),
        Boundary::Periodic => (take((n - depth..n).collect()), take((0..depth).collect())),
        _ => return (a.clone(), 0),
    };
    let whole = ndarray::concatenate(Axis(k), &[before.view(), a.view(), after.view()]).unwrap();
    (whole, depth)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn stencils_equal_the_stencil_on_the_whole_array(
        rows in 2usize..=13, cols in 1usize..=5, two_d in any::<bool>(), split in 0usize..2,
        depth in 1usize..=2, engines in 1usize..=4, mode in 0u8..3, seed in 0u64..100,
    ) {
        use distob::array::Boundary;
        let shape = if two_d { vec![rows, cols] } else { vec![rows] };
        let k = if two_d { split } else { 0 };
        let a = ArrayD::from_shape_fn(IxDyn(&shape), |i| ((i[0] * 31 + i.slice().last().copied().unwrap_or(0) * 7 + seed as usize) % 17) as f64);
        let mode = [Boundary::None, Boundary::Reflect, Boundary::Periodic][mode as usize];
        run(async {
            let c = &clusters().1[engines - 1];
            let d = c.scatter_axis(a.clone(), k as isize).await.unwrap();
            let shortest = d.block_lens().into_iter().min().unwrap_or(0);
            let result = d.map_overlap(depth, mode, blur);
            if shortest < depth {
                let refused = matches!(
                    result,
                    Err(distob::Error::Shape(distob::array::ShapeError::DepthTooLarge { .. }))
                );
                prop_assert!(refused, "a halo deeper than a block is refused");
                return Ok(());
            }
            let got = c.gather(&result.unwrap()).await.unwrap();
            let (whole, front) = padded(&a, k, depth, mode);
            let n = a.len_of(Axis(k));
            let want = blur(&whole).slice_axis(Axis(k), ndarray::Slice::from(front..front + n)).to_owned();
            prop_assert!(close(&got, &want), "{mode:?} depth {depth} axis {k}: {got} vs {want}");
            Ok(())
        })?;
    }
}
