//! Arrays for real workloads, against plain ndarray on the same data:
//! every reduction along every axis on both kinds, products, scans,
//! arrays made on the engines, and your own code on the blocks — on 1 to 4
//! in-process engines, with random shapes of 1 to 4 dimensions.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
mod kernels;
mod sorting;
mod stencils;

pub(crate) use common::clusters;

use distob::array::{BlockInfo, Placed, Reduce};
use distob::{Cluster, DistArray, RemoteArray};
use ndarray::{ArrayD, Axis, Ix2, IxDyn};
use proptest::prelude::*;

pub(crate) fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    clusters().0.block_on(common::within(f))
}

/// A shape of 1–4 dimensions with lengths 1–13, its data, an engine count
/// and a distributed axis.
fn case() -> impl Strategy<Value = (ArrayD<f64>, usize, usize)> {
    prop::collection::vec(1usize..=13, 1..=4)
        .prop_flat_map(|shape| {
            let n: usize = shape.iter().product();
            let ndim = shape.len();
            (
                Just(shape),
                prop::collection::vec(-50i32..50, n),
                1usize..=4,
                0..ndim,
            )
        })
        .prop_map(|(shape, data, engines, axis)| {
            let a = ArrayD::from_shape_vec(
                IxDyn(&shape),
                data.into_iter().map(|x| x as f64 / 4.0).collect(),
            )
            .unwrap();
            (a, engines, axis)
        })
}

async fn placed<A: distob::value::Element + distob::value::Value>(
    c: &Cluster,
    p: Placed<A>,
) -> ArrayD<A> {
    match p {
        Placed::Remote(r) => r.fetch().await.unwrap(),
        Placed::Dist(d) => c.gather(&d).await.unwrap(),
    }
}

pub(crate) fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs())))
}

/// ndarray's answer for one reduction along one axis.
fn expected(a: &ArrayD<f64>, op: Reduce, k: usize) -> ArrayD<f64> {
    let lanes = |f: &dyn Fn(ndarray::ArrayView1<'_, f64>) -> f64| a.map_axis(Axis(k), f);
    match op {
        Reduce::Sum => a.sum_axis(Axis(k)),
        Reduce::Prod => a.map_axis(Axis(k), |l| l.product()),
        Reduce::Min => lanes(&|l| l.fold(f64::INFINITY, |m, &x| m.min(x))),
        Reduce::Max => lanes(&|l| l.fold(f64::NEG_INFINITY, |m, &x| m.max(x))),
        Reduce::Mean => a.mean_axis(Axis(k)).unwrap(),
        Reduce::Var => a.var_axis(Axis(k), 0.0),
        Reduce::Std => a.std_axis(Axis(k), 0.0),
        Reduce::ArgMin | Reduce::ArgMax => lanes(&|l| {
            let better = |x: f64, b: f64| if op == Reduce::ArgMin { x < b } else { x > b };
            let mut best = 0;
            for (i, &x) in l.iter().enumerate() {
                if better(x, l[best]) {
                    best = i;
                }
            }
            best as f64
        }),
        Reduce::Any => lanes(&|l| l.iter().any(|&x| x != 0.0) as u8 as f64),
        _ => lanes(&|l| l.iter().all(|&x| x != 0.0) as u8 as f64),
    }
}

async fn both_kinds(c: &Cluster, a: &ArrayD<f64>, dist_axis: usize, op: Reduce, k: isize) {
    let d = c.scatter_axis(a.clone(), dist_axis as isize).await.unwrap();
    let r = c.scatter(a.clone()).await.unwrap();
    let kk = if k < 0 {
        (k + a.ndim() as isize) as usize
    } else {
        k as usize
    };
    let want = expected(a, op, kk);
    let (got_d, got_r): (ArrayD<f64>, ArrayD<f64>) = match op {
        Reduce::Sum => (
            placed(c, d.sum_axis(k).unwrap()).await,
            r.sum_axis(k).unwrap().fetch().await.unwrap(),
        ),
        Reduce::Prod => (
            placed(c, d.prod_axis(k).unwrap()).await,
            r.prod_axis(k).unwrap().fetch().await.unwrap(),
        ),
        Reduce::Min => (
            placed(c, d.min_axis(k).unwrap()).await,
            r.min_axis(k).unwrap().fetch().await.unwrap(),
        ),
        Reduce::Max => (
            placed(c, d.max_axis(k).unwrap()).await,
            r.max_axis(k).unwrap().fetch().await.unwrap(),
        ),
        Reduce::Mean => (
            placed(c, d.mean_axis(k).unwrap()).await,
            r.mean_axis(k).unwrap().fetch().await.unwrap(),
        ),
        Reduce::Var => (
            placed(c, d.var_axis(k).unwrap()).await,
            r.var_axis(k).unwrap().fetch().await.unwrap(),
        ),
        Reduce::Std => (
            placed(c, d.std_axis(k).unwrap()).await,
            r.std_axis(k).unwrap().fetch().await.unwrap(),
        ),
        Reduce::ArgMin => (
            placed(c, d.argmin_axis(k).unwrap())
                .await
                .mapv(|x| x as f64),
            r.argmin_axis(k)
                .unwrap()
                .fetch()
                .await
                .unwrap()
                .mapv(|x| x as f64),
        ),
        Reduce::ArgMax => (
            placed(c, d.argmax_axis(k).unwrap())
                .await
                .mapv(|x| x as f64),
            r.argmax_axis(k)
                .unwrap()
                .fetch()
                .await
                .unwrap()
                .mapv(|x| x as f64),
        ),
        Reduce::Any => (
            placed(c, d.any_axis(k).unwrap())
                .await
                .mapv(|x| x as u8 as f64),
            r.any_axis(k)
                .unwrap()
                .fetch()
                .await
                .unwrap()
                .mapv(|x| x as u8 as f64),
        ),
        _ => (
            placed(c, d.all_axis(k).unwrap())
                .await
                .mapv(|x| x as u8 as f64),
            r.all_axis(k)
                .unwrap()
                .fetch()
                .await
                .unwrap()
                .mapv(|x| x as u8 as f64),
        ),
    };
    assert!(
        close(&got_d, &want),
        "{op:?} axis {k} of {:?} split on {dist_axis}: {got_d} vs {want}",
        a.shape()
    );
    assert!(
        close(&got_r, &want),
        "{op:?} axis {k} remote: {got_r} vs {want}"
    );
}

const EVERY_REDUCTION: [Reduce; 11] = [
    Reduce::Sum,
    Reduce::Prod,
    Reduce::Min,
    Reduce::Max,
    Reduce::Mean,
    Reduce::Var,
    Reduce::Std,
    Reduce::ArgMin,
    Reduce::ArgMax,
    Reduce::Any,
    Reduce::All,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_reduction_along_every_axis_on_both_kinds((a, engines, axis) in case()) {
        run(async {
            let c = &clusters().1[engines - 1];
            for op in EVERY_REDUCTION {
                for k in 0..a.ndim() as isize {
                    both_kinds(c, &a, axis, op, k).await;
                }
                both_kinds(c, &a, axis, op, -1).await;
            }
        });
    }

    #[test]
    fn scans_along_every_axis((a, engines, axis) in case()) {
        run(async {
            let c = &clusters().1[engines - 1];
            let d = c.scatter_axis(a.clone(), axis as isize).await.unwrap();
            let small = a.mapv(|x| 1.0 + x / 100.0);
            let p = c.scatter_axis(small.clone(), axis as isize).await.unwrap();
            for k in 0..a.ndim() {
                let mut sum = a.clone();
                sum.accumulate_axis_inplace(Axis(k), |&prev, cur| *cur += prev);
                let got = c.gather(&d.cumsum(k as isize).unwrap()).await.unwrap();
                prop_assert!(close(&got, &sum), "cumsum axis {k}: {got} vs {sum}");
                let mut prod = small.clone();
                prod.accumulate_axis_inplace(Axis(k), |&prev, cur| *cur *= prev);
                let got = c.gather(&p.cumprod(k as isize).unwrap()).await.unwrap();
                prop_assert!(close(&got, &prod), "cumprod axis {k}");
            }
            Ok(())
        })?;
    }

    #[test]
    fn products_by_numpy_rules(
        n in 1usize..=13, m in 1usize..=6, q in 1usize..=4, engines in 1usize..=4,
        seed in 0u64..1000,
    ) {
        run(async {
            let c = &clusters().1[engines - 1];
            let x = ArrayD::from_shape_fn(IxDyn(&[n, m]), |i| ((i[0] * 7 + i[1] * 3 + seed as usize) % 11) as f64 - 5.0);
            let w = ArrayD::from_shape_fn(IxDyn(&[m, q]), |i| (i[0] + 2 * i[1]) as f64 - 1.5);
            let v = ArrayD::from_shape_fn(IxDyn(&[m]), |i| i[0] as f64 + 0.5);
            let x2 = x.view().into_dimensionality::<Ix2>().unwrap();
            let w2 = w.view().into_dimensionality::<Ix2>().unwrap();
            let v1 = v.view().into_dimensionality::<ndarray::Ix1>().unwrap();
            // Rows split: X·W and X·v stay split.
            let rows = c.scatter_axis(x.clone(), 0).await.unwrap();
            prop_assert!(close(&placed(c, rows.dot_local(&w).unwrap()).await, &x2.dot(&w2).into_dyn()));
            prop_assert!(close(&placed(c, rows.dot_local(&v).unwrap()).await, &x2.dot(&v1).into_dyn()));
            let wr = c.scatter(w.clone()).await.unwrap();
            prop_assert!(close(&placed(c, rows.dot_remote(&wr).unwrap()).await, &x2.dot(&w2).into_dyn()));
            // Split along the contraction: partials summed engine to engine.
            let cols = c.scatter_axis(x.clone(), 1).await.unwrap();
            prop_assert!(close(&placed(c, cols.dot_local(&w).unwrap()).await, &x2.dot(&w2).into_dyn()));
            let wd = c.scatter_axis(w.clone(), 0).await.unwrap();
            prop_assert!(close(&placed(c, cols.dot(&wd).unwrap()).await, &x2.dot(&w2).into_dyn()));
            prop_assert!(close(&placed(c, rows.matmul(&wd).unwrap()).await, &x2.dot(&w2).into_dyn()));
            // Xᵀ·X and Xᵀ·y without forming Xᵀ.
            let gram = rows.t_dot(&rows).unwrap().fetch().await.unwrap();
            prop_assert!(close(&gram, &x2.t().dot(&x2).into_dyn()));
            let y = ArrayD::from_shape_fn(IxDyn(&[n]), |i| i[0] as f64);
            let yd = c.scatter_axis(y.clone(), 0).await.unwrap();
            let xty = rows.t_dot(&yd).unwrap().fetch().await.unwrap();
            let y1 = y.view().into_dimensionality::<ndarray::Ix1>().unwrap();
            prop_assert!(close(&xty, &x2.t().dot(&y1).into_dyn()));
            // 1-D · 1-D: a 0-d array.
            let vd = c.scatter_axis(v.clone(), 0).await.unwrap();
            let vv = placed(c, vd.dot_local(&v).unwrap()).await;
            prop_assert_eq!(vv.ndim(), 0);
            prop_assert!((vv.sum() - v1.dot(&v1)).abs() < 1e-9);
            Ok(())
        })?;
    }
}

#[test]
fn products_with_shapes_that_do_not_align_fail_at_once() {
    run(async {
        let c = &clusters().1[1];
        let d = c.zeros::<f64>(&[6, 3], 0).unwrap();
        let w = ArrayD::<f64>::zeros(IxDyn(&[4, 2]));
        let err = d.dot_local(&w).unwrap_err();
        assert!(
            matches!(
                err,
                distob::Error::Shape(distob::array::ShapeError::NotAligned { .. })
            ),
            "{err:?}"
        );
        let other = c.zeros::<f64>(&[5, 2], 0).unwrap();
        assert!(d.t_dot(&other).is_err());
        assert!(d.cumsum(2).is_err());
    });
}

#[test]
fn made_arrays_equal_their_ndarray_counterparts() {
    run(async {
        for c in &clusters().1 {
            let z = c
                .gather(&c.zeros::<f64>(&[5, 3], 1).unwrap())
                .await
                .unwrap();
            assert_eq!(z, ArrayD::<f64>::zeros(IxDyn(&[5, 3])));
            let o = c.gather(&c.ones::<i64>(&[7], 0).unwrap()).await.unwrap();
            assert_eq!(o, ArrayD::<i64>::ones(IxDyn(&[7])));
            let f = c
                .gather(&c.full::<f32>(&[2, 9], 2.5, -1).unwrap())
                .await
                .unwrap();
            assert_eq!(f, ArrayD::from_elem(IxDyn(&[2, 9]), 2.5f32));
            let r = c
                .gather(&c.arange::<f64>(1.0, 10.0, 0.5).unwrap())
                .await
                .unwrap();
            assert_eq!(r, ndarray::Array::range(1.0, 10.0, 0.5).into_dyn());
            let l = c
                .gather(&c.linspace::<f64>(0.0, 1.0, 11).unwrap())
                .await
                .unwrap();
            assert_eq!(l, ndarray::Array::linspace(0.0, 1.0, 11).into_dyn());
            let one = c.hub().zeros_on::<u8>(c.engines()[0], &[3, 2]).unwrap();
            assert_eq!(
                one.fetch().await.unwrap(),
                ArrayD::<u8>::zeros(IxDyn(&[3, 2]))
            );
        }
    });
}

#[test]
fn random_arrays_are_the_same_on_any_number_of_engines_and_layout() {
    run(async {
        let all = &clusters().1;
        let first = &all[0];
        let normal = first
            .gather(&first.random(42).normal::<f64>(&[7, 5], 0).unwrap())
            .await
            .unwrap();
        let uniform = first
            .gather(&first.random(42).uniform::<f64>(&[7, 5], 0).unwrap())
            .await
            .unwrap();
        let ints = first
            .gather(&first.random(9).integers::<i64>(-3, 4, &[11], 0).unwrap())
            .await
            .unwrap();
        for c in all {
            for axis in [0, 1] {
                let n = c
                    .gather(&c.random(42).normal::<f64>(&[7, 5], axis).unwrap())
                    .await
                    .unwrap();
                assert_eq!(n, normal, "{} engines, axis {axis}", c.engines().len());
                let u = c
                    .gather(&c.random(42).uniform::<f64>(&[7, 5], axis).unwrap())
                    .await
                    .unwrap();
                assert_eq!(u, uniform);
            }
            let i = c
                .gather(&c.random(9).integers::<i64>(-3, 4, &[11], 0).unwrap())
                .await
                .unwrap();
            assert_eq!(i, ints);
        }
        assert!(uniform.iter().all(|&x| (0.0..1.0).contains(&x)));
        assert!(ints.iter().all(|&x| (-3..4).contains(&x)));
        let other = first
            .gather(&first.random(43).normal::<f64>(&[7, 5], 0).unwrap())
            .await
            .unwrap();
        assert_ne!(other, normal);
    });
}

#[test]
fn making_arrays_moves_no_array_bytes_through_the_client() {
    run(async {
        let c = Cluster::local(2).await.unwrap();
        let before = c.hub().bytes_written();
        let d = c.random(1).normal::<f64>(&[1_000_000], 0).unwrap();
        let z = c.zeros::<f64>(&[1000, 100], 0).unwrap();
        let g = d.t_dot(&d).unwrap();
        let s = d.cumsum(0).unwrap().sum().await.unwrap();
        assert!(s.is_finite());
        assert!(g.fetch().await.unwrap().sum() > 0.0);
        assert_eq!(z.sum().await.unwrap(), 0.0);
        let sent = c.hub().bytes_written() - before;
        assert!(sent < 64 * 1024, "the client sent {sent} bytes");
    });
}

#[distob::function]
fn offsets(b: &BlockInfo) -> ArrayD<i64> {
    ArrayD::from_shape_fn(b.block_shape(), |i| (b.start + i[b.axis]) as i64)
}

#[distob::function]
fn lane_sums(block: &ArrayD<f64>, scale: f64) -> ArrayD<f64> {
    block.sum_axis(Axis(0)).mapv(|x| x * scale)
}

#[test]
fn your_own_code_makes_and_reduces_blocks() {
    run(async {
        for c in &clusters().1 {
            let d = c.from_fn(&[3, 10], 1, offsets).unwrap();
            let got = c.gather(&d).await.unwrap();
            assert_eq!(got, ArrayD::from_shape_fn(IxDyn(&[3, 10]), |i| i[1] as i64));
            let x = c.random(5).uniform::<f64>(&[13, 4], 0).unwrap();
            let local = c.gather(&x).await.unwrap();
            let total: RemoteArray<f64> = x.map_reduce(lane_sums, (2.0,), Reduce::Sum).unwrap();
            let want = local.sum_axis(Axis(0)) * 2.0;
            assert!(close(&total.fetch().await.unwrap(), &want));
            // Any output shape: each block's lane sums, joined along axis 0.
            let sums: DistArray<f64> = x
                .map_blocks_with(lane_sums, (1.0,), |s| vec![s[1]])
                .unwrap();
            let got = c.gather(&sums).await.unwrap();
            let blocks = x.blocks();
            assert_eq!(got.len(), 4 * blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                let want = b.fetch().await.unwrap().sum_axis(Axis(0));
                let part = got
                    .slice_axis(Axis(0), ndarray::Slice::from(4 * i..4 * i + 4))
                    .to_owned();
                assert!(close(&part, &want));
            }
        }
    });
}

#[test]
fn map_reduce_merges_only_what_merges_elementwise() {
    run(async {
        let c = &clusters().1[2];
        let x = c.random(5).uniform::<f64>(&[13, 4], 0).unwrap();
        for op in [Reduce::Mean, Reduce::Var, Reduce::ArgMin, Reduce::Any] {
            assert!(x.map_reduce(lane_sums, (1.0,), op).is_err(), "{op:?}");
        }
        let top = x.map_reduce(lane_sums, (1.0,), Reduce::Max).unwrap();
        assert_eq!(top.fetch().await.unwrap().len(), 4);
    });
}

#[distob::function]
fn above(block: &ArrayD<f64>, limit: f64) -> ArrayD<f64> {
    let kept: Vec<f64> = block.iter().copied().filter(|&x| x > limit).collect();
    ArrayD::from_shape_vec(IxDyn(&[kept.len()]), kept).unwrap()
}

#[test]
fn block_results_of_any_length_are_found_from_the_engines() {
    run(async {
        for c in &clusters().1 {
            let x = c.random(8).uniform::<f64>(&[37], 0).unwrap();
            let local = c.gather(&x).await.unwrap();
            let kept = x.map_blocks_found(above, (0.5,)).await.unwrap();
            let want: Vec<f64> = local.iter().copied().filter(|&v| v > 0.5).collect();
            assert_eq!(kept.shape(), &[want.len()]);
            assert_eq!(
                c.gather(&kept).await.unwrap().into_raw_vec_and_offset().0,
                want
            );
            assert!((kept.sum().await.unwrap() - want.iter().sum::<f64>()).abs() < 1e-9);
        }
    });
}

/// An engine keeps a released large array's memory a moment and makes the
/// next array of about its size in it (in-process engines: the shelf is
/// this process's).
#[test]
fn a_released_large_array_lends_its_memory_to_the_next() {
    use distob::net::spare;
    run(async {
        let c = &clusters().1[0];
        // An odd size (48 MiB and one element) that no other test makes.
        let n = (48 << 20) / 8 + 1;
        let a = c.zeros::<f64>(&[n], 0).unwrap();
        assert_eq!(a.sum().await.unwrap(), 0.0);
        drop(a);
        common::eventually("the released array's memory to be kept", || async {
            spare::kept_bytes() >= n * 8
        })
        .await;
        let reused = spare::reused();
        let b = c.full::<f64>(&[n], 2.0, 0).unwrap();
        assert_eq!(b.sum().await.unwrap(), 2.0 * n as f64);
        assert!(
            spare::reused() > reused,
            "the new array was made in fresh memory"
        );
    });
}
