//! Property tests: random shapes, axes, engine counts, chains of operations
//! and selections on distributed arrays, each checked against plain ndarray
//! on the same data, on in-process engines.
#![allow(clippy::unwrap_used)]

mod common;
use common::clusters;

use distob::array::{concatenate, Placed};
use distob::DistArray;
use ndarray::{ArrayD, Axis, IxDyn, SliceInfoElem};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Step {
    Sin,
    Abs,
    Scalar(u8, f64, bool),
    Square,
    Exp,
    Cube,
    /// Transpose twice (back to the same axes order, through the engines).
    TwiceTransposed,
    /// Join with itself along the distributed axis, then take the first half.
    StackedHalf,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Sin),
        Just(Step::Abs),
        Just(Step::Square),
        Just(Step::Exp),
        Just(Step::Cube),
        Just(Step::TwiceTransposed),
        Just(Step::StackedHalf),
        (0u8..4, -3.0f64..3.0, any::<bool>()).prop_map(|(o, s, l)| Step::Scalar(o, s, l)),
    ]
}

fn local(a: &ArrayD<f64>, s: Step) -> ArrayD<f64> {
    match s {
        Step::Sin => a.mapv(f64::sin),
        Step::Abs => a.mapv(f64::abs),
        Step::Exp => a.mapv(|x| x.min(5.0)).mapv(f64::exp),
        Step::Square => a * a,
        Step::Cube => a.mapv(|x| x.powi(3)),
        Step::TwiceTransposed | Step::StackedHalf => a.clone(),
        Step::Scalar(o, v, left) => a.mapv(|x| match (o, left) {
            (0, _) => x + v,
            (1, false) => x - v,
            (1, true) => v - x,
            (2, _) => x * v,
            (_, false) => x / v,
            (_, true) => v / x,
        }),
    }
}

fn remote(d: &DistArray<f64>, s: Step) -> DistArray<f64> {
    match s {
        Step::Sin => d.sin(),
        Step::Abs => d.abs(),
        // min(x, 5) as -(-x max -5) is not available; clip through the same
        // steps ndarray uses: exp of the clipped value.
        Step::Exp => clip5(d).exp(),
        Step::Square => d * d,
        Step::Cube => d.powi(3),
        Step::TwiceTransposed => d.t().t(),
        Step::StackedHalf => {
            let joined = match concatenate(&[d.clone(), d.clone()], d.axis() as isize).unwrap() {
                Placed::Dist(j) => j,
                Placed::Remote(_) => return d.clone(),
            };
            let n = d.shape()[d.axis()];
            let mut info: Vec<SliceInfoElem> = (0..d.ndim())
                .map(|_| SliceInfoElem::Slice {
                    start: 0,
                    end: None,
                    step: 1,
                })
                .collect();
            info[d.axis()] = SliceInfoElem::Slice {
                start: 0,
                end: Some(n as isize),
                step: 1,
            };
            match joined.slice(&info).unwrap() {
                Placed::Dist(x) => x,
                Placed::Remote(r) => DistArray::from_blocks(vec![r], d.axis() as isize).unwrap(),
            }
        }
        Step::Scalar(o, v, left) => {
            let op = [
                distob::array::BinOp::Add,
                distob::array::BinOp::Sub,
                distob::array::BinOp::Mul,
                distob::array::BinOp::Div,
            ][o as usize];
            d.scalar(op, v, left)
        }
    }
}

/// `min(x, 5)` from the available steps: 5 - |5 - x| … is not min; use the
/// identity min(x, 5) = (x + 5 - |x - 5|) / 2.
fn clip5(d: &DistArray<f64>) -> DistArray<f64> {
    let t = (d - 5.0).abs();
    (d + 5.0 - &t) / 2.0
}

fn selection() -> impl Strategy<Value = Vec<(isize, Option<isize>, isize, bool)>> {
    // Per axis: start, end, step, or "index start".
    proptest::collection::vec(
        (
            -6isize..6,
            prop::option::of(-6isize..7),
            prop_oneof![-3isize..0, 1isize..4],
            any::<bool>(),
        ),
        1..4,
    )
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter().zip(b).all(|(x, y)| {
            (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn distributed_arrays_compute_what_ndarray_computes(
        shape in proptest::collection::vec(1usize..14, 1..5),
        axis_seed in 0usize..4,
        engines in 1usize..=4,
        steps in proptest::collection::vec(step(), 0..4),
        sel in selection(),
        reduce_axis_seed in 0usize..4,
    ) {
        let (rt, clusters) = clusters();
        let cluster = &clusters[engines - 1];
        let ndim = shape.len();
        let axis = axis_seed % ndim;
        let a = ArrayD::from_shape_fn(IxDyn(&shape), |i| {
            (0..ndim).map(|k| (k + 2) as f64 * i[k] as f64).sum::<f64>() * 0.31 - 1.7
        });
        // The selection, per axis, clamped into what ndarray accepts.
        let elems: Vec<SliceInfoElem> = (0..ndim).map(|k| {
            let (start, end, step, index) = sel[k % sel.len()];
            let n = shape[k] as isize;
            let start = start.clamp(-n, n - 1);
            if index {
                SliceInfoElem::Index(start)
            } else {
                SliceInfoElem::Slice { start, end: end.map(|e| e.clamp(-n, n)), step }
            }
        }).collect();
        let (got, sum, expect_sum, expect) = rt.block_on(common::within(async {
            let mut d = cluster.scatter_axis(a.clone(), axis as isize).await.unwrap();
            let mut l = a.clone();
            for &s in &steps {
                d = remote(&d, s);
                l = local(&l, s);
            }
            let sum = d.sum().await.unwrap();
            let info = ndarray::SliceInfo::<_, IxDyn, IxDyn>::try_from(elems.clone()).unwrap();
            let expect = l.slice(&info).to_owned();
            let got = match d.slice(&elems).unwrap() {
                Placed::Remote(r) => cluster.gather(&r).await.unwrap(),
                Placed::Dist(s) => cluster.gather(&s).await.unwrap(),
            };
            (got, sum, l.sum(), expect)
        }));
        prop_assert!(close(&got, &expect), "got {:?}\nexpect {:?}", got, expect);
        prop_assert!((sum - expect_sum).abs() <= 1e-6 * (1.0 + expect_sum.abs()) || (sum.is_nan() && expect_sum.is_nan()));
        // A reduction along an axis of one block's worth equals ndarray's.
        let k = reduce_axis_seed % ndim;
        let (reduced, expect_red) = rt.block_on(common::within(async {
            let r = cluster.scatter(a.clone()).await.unwrap();
            let s = r.sum_axis(k as isize).unwrap();
            (s.fetch().await.unwrap(), a.sum_axis(Axis(k)))
        }));
        prop_assert!(close(&reduced, &expect_red));
    }
}
