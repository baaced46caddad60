//! RemoteArray and DistArray: every result equals plain ndarray on the same data.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
mod shaping;

use common::{distob_bin, within};
use distob::array::{Placed, ShapeError};
use distob::{Cluster, DistArray, Error, NodeId};
use ndarray::{ArrayD, Axis, Dimension, IxDyn};

pub(crate) fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) {
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-9 * (1.0 + x.abs()), "{x} != {y}");
    }
}

pub(crate) fn sample(shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(shape), |i| {
        (0..i.ndim())
            .map(|k| (k + 1) as f64 * i[k] as f64)
            .sum::<f64>()
            * 0.37
            - 2.0
    })
}

async fn block_table(c: &Cluster) {
    let lens = |n: usize| async move {
        let a = ArrayD::from_shape_fn(IxDyn(&[n, 2]), |i| i[0] as f64);
        let d = within(c.scatter_axis(a, 0)).await.unwrap();
        d.block_lens()
    };
    assert_eq!(lens(10).await, [3, 3, 3, 1]);
    assert_eq!(lens(4).await, [1, 1, 1, 1]);
    assert_eq!(lens(2).await, [1, 1]);
}

async fn scatter_axis_round_trips_on_every_axis(c: &Cluster) {
    let a = sample(&[5, 3, 4]);
    for axis in [0isize, 1, 2, -1, -3] {
        let d = within(c.scatter_axis(a.clone(), axis)).await.unwrap();
        let k = if axis < 0 {
            (3 + axis) as usize
        } else {
            axis as usize
        };
        assert_eq!(d.axis(), k);
        assert_eq!(d.shape(), a.shape());
        assert_eq!(d.boundaries().last(), Some(&a.len_of(Axis(k))));
        assert_eq!(within(c.gather(&d)).await.unwrap(), a);
    }
    let bad = c.scatter_axis(a.clone(), 3).await;
    assert!(
        matches!(
            bad,
            Err(Error::Shape(ShapeError::AxisOutOfRange {
                axis: 3,
                ndim: 3
            }))
        ),
        "{bad:?}"
    );
}

async fn elementwise_chains_equal_ndarray(c: &Cluster) {
    let a = sample(&[7, 6]);
    let d = within(c.scatter_axis(a.clone(), 1)).await.unwrap();
    // Ten operations, none awaited until the end.
    let y = ((((d.sin() * 2.0 + 1.0) / 3.0 - 0.5).abs() + 1.0).ln() * 4.0).tanh();
    let z = 1.0 - &y;
    let expect_y =
        a.mapv(|x| ((((x.sin() * 2.0 + 1.0) / 3.0 - 0.5).abs() + 1.0).ln() * 4.0).tanh());
    close(&within(c.gather(&y)).await.unwrap(), &expect_y);
    close(
        &within(c.gather(&z)).await.unwrap(),
        &expect_y.mapv(|v| 1.0 - v),
    );
    assert_eq!(y.shape(), a.shape());
    assert_eq!(y.block_lens(), d.block_lens());
}

async fn reductions_equal_ndarray(c: &Cluster) {
    let a = sample(&[9, 4]);
    let d = within(c.scatter_axis(a.clone(), 0)).await.unwrap();
    let n = a.len() as f64;
    let mean = a.sum() / n;
    let var = a.mapv(|x| (x - mean).powi(2)).sum() / n;
    assert!((within(d.sum()).await.unwrap() - a.sum()).abs() < 1e-9);
    assert!((within(d.mean()).await.unwrap() - mean).abs() < 1e-9);
    assert!((within(d.var()).await.unwrap() - var).abs() < 1e-9);
    assert!((within(d.std()).await.unwrap() - var.sqrt()).abs() < 1e-9);
    let min = a.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(within(d.min()).await.unwrap(), min);
    assert_eq!(within(d.max()).await.unwrap(), max);

    // Along an axis, on one remote array.
    let r = within(c.scatter_to(NodeId(0), a.clone())).await.unwrap();
    for axis in [0isize, 1, -1] {
        let k = if axis < 0 { 1 } else { axis as usize };
        let s = r.sum_axis(axis).unwrap();
        assert_eq!(s.shape(), a.sum_axis(Axis(k)).shape());
        close(&within(s.fetch()).await.unwrap(), &a.sum_axis(Axis(k)));
        let m = r.mean_axis(axis).unwrap();
        close(
            &within(m.fetch()).await.unwrap(),
            &a.mean_axis(Axis(k)).unwrap(),
        );
        let kd = r
            .reduce_axis::<f64>(distob::array::Reduce::Max, axis, true)
            .unwrap();
        let expect = a.map_axis(Axis(k), |l| {
            l.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        });
        close(
            &within(kd.fetch()).await.unwrap(),
            &expect.insert_axis(Axis(k)),
        );
    }
    assert!(matches!(
        r.sum_axis(2),
        Err(Error::Shape(ShapeError::AxisOutOfRange { .. }))
    ));

    // Along the axes of a distributed array.
    use distob::array::Reduce;
    let a3 = sample(&[6, 5, 3]);
    let d3 = within(c.scatter_axis(a3.clone(), 1)).await.unwrap();
    let m = d3.reduce_axis::<f64>(Reduce::Mean, -1, false).unwrap();
    assert_eq!(m.axis(), 1);
    close(
        &within(c.gather(&m)).await.unwrap(),
        &a3.mean_axis(Axis(2)).unwrap(),
    );
    let s0 = (&d3 * 2.0)
        .reduce_axis::<f64>(Reduce::Sum, 0, true)
        .unwrap();
    close(
        &within(c.gather(&s0)).await.unwrap(),
        &(&a3 * 2.0).sum_axis(Axis(0)).insert_axis(Axis(0)),
    );
    assert!(matches!(
        d3.reduce_axis::<f64>(Reduce::Sum, 1, false),
        Err(Error::Shape(ShapeError::AlongDistributedAxis { axis: 1 }))
    ));
    // Along the distributed axis: the partials merged engine to engine.
    let one = |p: Placed<f64>| match p {
        Placed::Remote(r) => r,
        Placed::Dist(_) => panic!("the distributed axis reduced is on one engine"),
    };
    let along = within(one(d3.sum_axis(1).unwrap()).fetch()).await.unwrap();
    close(&along, &a3.sum_axis(Axis(1)));
    let top = within(one(d3.abs().max_axis(1).unwrap()).fetch())
        .await
        .unwrap();
    close(
        &top,
        &a3.map_axis(Axis(1), |l| {
            l.iter().fold(f64::NEG_INFINITY, |m, x| m.max(x.abs()))
        }),
    );
    let mean1 = within(one(d3.mean_axis(-2).unwrap()).fetch())
        .await
        .unwrap();
    close(&mean1, &a3.mean_axis(Axis(1)).unwrap());
    let std1 = within(one(d3.std_axis(1).unwrap()).fetch()).await.unwrap();
    close(&std1, &a3.std_axis(Axis(1), 0.0));
}

async fn integer_arrays_keep_their_type(c: &Cluster) {
    let a = ArrayD::from_shape_fn(IxDyn(&[6, 5]), |i| (i[0] * 5 + i[1]) as i64 - 7);
    let r = within(c.scatter(a.clone())).await.unwrap();
    assert_eq!(within(r.sum()).await.unwrap(), a.sum());
    assert_eq!(
        within((r.abs() * 3.0 - 1.0).fetch()).await.unwrap(),
        a.mapv(|x| x.abs() * 3 - 1)
    );
    assert_eq!(
        within(r.max_axis(0).unwrap().fetch()).await.unwrap(),
        a.map_axis(Axis(0), |l| *l.iter().max().unwrap())
    );
    // A float-only ufunc on integers fails on the engine, when awaited.
    let bad = r.sin();
    assert!(matches!(
        within(bad.fetch()).await,
        Err(Error::Refused { .. })
    ));
}

async fn from_blocks_joins_arrays_already_on_engines(c: &Cluster) {
    let a = sample(&[2, 3]);
    let b = sample(&[4, 3]);
    let ra = within(c.scatter_to(NodeId(0), a.clone())).await.unwrap();
    let rb = within(c.scatter_to(NodeId(1), b.clone())).await.unwrap();
    let d = DistArray::from_blocks(vec![ra.clone(), rb], 0).unwrap();
    assert_eq!(d.shape(), &[6, 3]);
    assert_eq!(d.engines(), vec![NodeId(0), NodeId(1)]);
    let expect = ndarray::concatenate(Axis(0), &[a.view(), b.view()]).unwrap();
    assert_eq!(within(c.gather(&d)).await.unwrap(), expect);
    let wrong = within(c.scatter(sample(&[2, 4]))).await.unwrap();
    assert!(matches!(
        DistArray::from_blocks(vec![ra, wrong], 0),
        Err(ShapeError::IncompatibleBlocks { .. })
    ));
}

async fn elementwise_chains_are_fused_into_one_pass(c: &Cluster) {
    let a = sample(&[8]);
    let d = within(c.scatter_axis(a.clone(), 0)).await.unwrap();
    let engine = c.hub().engine(NodeId(0));
    let requests = || async { within(engine.stats()).await.unwrap().requests };
    let before = requests().await;
    let y = (d.exp() - 1.0) * 0.5;
    assert_eq!(
        requests().await,
        before + 1,
        "a pending chain sends nothing"
    );
    let expect = a.mapv(|x| (x.exp() - 1.0) * 0.5);
    assert!((within(y.sum()).await.unwrap() - expect.sum()).abs() < 1e-9);
    // One reduction request per block, then the stats request itself.
    assert_eq!(requests().await, before + 3);
    let kept = y.materialize();
    assert_eq!(
        within(c.gather(&kept.blocks()[0])).await.unwrap(),
        expect
            .slice_axis(Axis(0), ndarray::Slice::from(0..2usize))
            .to_owned()
    );
    close(&within(c.gather(&kept)).await.unwrap(), &expect);
}

async fn arrays_combine_where_they_live(c: &Cluster) {
    use distob::array::BinOp;
    let a = sample(&[3, 4]);
    let b = sample(&[4]).mapv(|x| x + 10.0);
    let ra = within(c.scatter_to(NodeId(1), a.clone())).await.unwrap();
    let rb = within(c.scatter_to(NodeId(1), b.clone())).await.unwrap();
    // Broadcasting, both orders, and an operand that is not computed yet.
    let pending = ra.sin();
    let sum = &pending + &ra;
    let prod = &rb * &ra;
    let quot = ra.try_binary(BinOp::Div, &rb).unwrap();
    let twice = &ra + &ra;
    assert_eq!(sum.shape(), &[3, 4]);
    close(
        &within(sum.fetch()).await.unwrap(),
        &(a.mapv(f64::sin) + &a),
    );
    close(&within(prod.fetch()).await.unwrap(), &(&b * &a));
    close(&within(quot.fetch()).await.unwrap(), &(&a / &b));
    close(&within(twice.fetch()).await.unwrap(), &(&a * 2.0));
    assert!((within((&ra - &rb).sum()).await.unwrap() - (&a - &b).sum()).abs() < 1e-9);
    // Shapes are checked on the client.
    let odd = within(c.scatter_to(NodeId(1), sample(&[5]))).await.unwrap();
    assert!(matches!(
        ra.try_binary(BinOp::Add, &odd),
        Err(Error::Shape(ShapeError::Broadcast { .. }))
    ));
    // Operands on different engines meet on the larger's engine: the
    // smaller moves engine to engine, never through the client (observed
    // in the bytes each side received).
    let big = sample(&[300, 4]);
    let rbig = within(c.scatter_to(NodeId(1), big.clone())).await.unwrap();
    let elsewhere = within(c.scatter_to(NodeId(0), b.clone())).await.unwrap();
    let (engine0, engine1) = (c.hub().engine(NodeId(0)), c.hub().engine(NodeId(1)));
    let client_before = c.hub().bytes_received();
    let e0_before = within(engine0.stats()).await.unwrap().bytes_received;
    let e1_before = within(engine1.stats()).await.unwrap().bytes_received;
    let mixed = &elsewhere * &rbig;
    assert_eq!(mixed.node(), NodeId(1));
    let total = within(mixed.sum()).await.unwrap();
    assert!((total - (&b * &big).sum()).abs() < 1e-6);
    let e0_after = within(engine0.stats()).await.unwrap().bytes_received;
    let e1_after = within(engine1.stats()).await.unwrap().bytes_received;
    let client_moved = c.hub().bytes_received() - client_before;
    assert!(
        e1_after - e1_before >= 4 * 8,
        "engine 1 received the small operand"
    );
    assert!(
        e0_after - e0_before < 1_000,
        "engine 0 received no array data"
    );
    assert!(
        client_moved < 1_000,
        "no array data came through the client ({client_moved} bytes)"
    );
    assert_eq!(within(mixed.fetch()).await.unwrap(), &b * &big);
    // Distributed arrays split the same way combine block by block.
    let d1 = within(c.scatter_axis(a.clone(), 0)).await.unwrap();
    let d2 = within(c.scatter_axis(a.mapv(|x| x * x), 0)).await.unwrap();
    let d = (&d1.exp() - &d2) / &d1.abs();
    let expect = (a.mapv(f64::exp) - a.mapv(|x| x * x)) / a.mapv(f64::abs);
    close(&within(c.gather(&d)).await.unwrap(), &expect);
    // Split another way: re-split to match, engine to engine.
    let other_axis = within(c.scatter_axis(a.mapv(|x| x * 3.0), 1))
        .await
        .unwrap();
    let client_before = c.hub().bytes_received();
    let mixed = d1.try_binary(BinOp::Sub, &other_axis).unwrap();
    assert_eq!(mixed.axis(), 0);
    assert!((within(mixed.sum()).await.unwrap() - (&a - &a.mapv(|x| x * 3.0)).sum()).abs() < 1e-9);
    assert!(
        c.hub().bytes_received() - client_before < 2_000,
        "re-split through the client"
    );
    close(
        &within(c.gather(&mixed)).await.unwrap(),
        &(&a - &a.mapv(|x| x * 3.0)),
    );
    // Broadcasting a remote row, and a distributed array of another shape.
    let row = within(c.scatter_to(NodeId(0), sample(&[4]).mapv(|x| x + 3.0)))
        .await
        .unwrap();
    let shifted = &d1 - &row;
    let flipped = &row - &d1;
    close(
        &within(c.gather(&flipped)).await.unwrap(),
        &(&sample(&[4]).mapv(|x| x + 3.0) - &a),
    );
    assert_eq!(shifted.shape(), a.shape());
    close(
        &within(c.gather(&shifted)).await.unwrap(),
        &(&a - &sample(&[4]).mapv(|x| x + 3.0)),
    );
    let col = within(c.scatter_to(NodeId(0), sample(&[3, 1])))
        .await
        .unwrap();
    let scaled = d1.try_binary_remote(BinOp::Mul, &col).unwrap();
    close(
        &within(c.gather(&scaled)).await.unwrap(),
        &(&a * &sample(&[3, 1])),
    );
    let drow = within(c.scatter_axis(sample(&[1, 4]), 1)).await.unwrap();
    let bcast = d1.try_binary(BinOp::Add, &drow).unwrap();
    close(
        &within(c.gather(&bcast)).await.unwrap(),
        &(&a + &sample(&[1, 4])),
    );
    let wrong_shape = within(c.scatter_axis(sample(&[2, 4]), 0)).await.unwrap();
    assert!(matches!(
        d1.try_binary(BinOp::Add, &wrong_shape),
        Err(Error::Shape(ShapeError::Broadcast { .. }))
    ));

    // Uneven blocks even out.
    if c.engines().len() > 1 {
        let p1 = within(c.scatter_to(NodeId(0), sample(&[1, 4])))
            .await
            .unwrap();
        let p2 = within(c.scatter_to(NodeId(1), sample(&[7, 4]).mapv(|x| x + 1.0)))
            .await
            .unwrap();
        let uneven = DistArray::from_blocks(vec![p1, p2], 0).unwrap();
        let even = uneven.rebalance().unwrap();
        assert_eq!(even.block_lens(), vec![4, 4]);
        assert_eq!(even.engines(), vec![NodeId(0), NodeId(1)]);
        assert_eq!(
            within(c.gather(&even)).await.unwrap(),
            within(c.gather(&uneven)).await.unwrap()
        );
    }
}

async fn selections_follow_the_data(c: &Cluster) {
    use distob::array::Placed;
    use ndarray::s;
    let a = sample(&[10, 4]);
    let r = within(c.scatter(a.clone())).await.unwrap();
    let picked = r.slice(s![1..8;3, ..;-1]).unwrap();
    assert_eq!(picked.shape(), &[3, 4]);
    assert_eq!(
        within(picked.fetch()).await.unwrap(),
        a.slice(s![1..8;3, ..;-1]).to_owned().into_dyn()
    );
    assert!(matches!(
        r.slice(s![11, ..]),
        Err(Error::Shape(ShapeError::IndexOutOfBounds { .. }))
    ));
    assert!(matches!(
        r.slice(s![1..2]),
        Err(Error::Shape(ShapeError::SelectionLength { .. }))
    ));

    let d = within(c.scatter_axis(a.clone(), 0)).await.unwrap();
    let n = c.engines().len();
    // Inside one block: one array on one engine, no data moved.
    match d.slice(s![0..1, 1..3]).unwrap() {
        Placed::Remote(one) => {
            assert_eq!(one.node(), NodeId(0));
            assert_eq!(
                within(one.fetch()).await.unwrap(),
                a.slice(s![0..1, 1..3]).to_owned().into_dyn()
            );
        }
        Placed::Dist(d) => panic!("expected one block, got {d}"),
    }
    // Across blocks, backwards with a step: still distributed (on 2+ engines).
    let back = d.slice(s![..;-3, ndarray::NewAxis, -1]).unwrap();
    let expect = a
        .slice(s![..;-3, ndarray::NewAxis, -1])
        .to_owned()
        .into_dyn();
    assert_eq!(back.shape(), expect.shape());
    if n > 1 {
        assert!(matches!(back, Placed::Dist(_)));
    }
    assert_eq!(within(c.gather(&back)).await.unwrap(), expect);
    // An index on the distributed axis picks one block's row.
    let row = d.slice(s![7, ..]).unwrap();
    assert_eq!(
        within(c.gather(&row)).await.unwrap(),
        a.slice(s![7, ..]).to_owned().into_dyn()
    );
}

async fn core_cases(c: &Cluster) {
    scatter_axis_round_trips_on_every_axis(c).await;
    elementwise_chains_equal_ndarray(c).await;
    reductions_equal_ndarray(c).await;
    integer_arrays_keep_their_type(c).await;
    from_blocks_joins_arrays_already_on_engines(c).await;
    arrays_combine_where_they_live(c).await;
    selections_follow_the_data(c).await;
    shaping::structure_and_joins(c).await;
    shaping::comparisons_types_and_masks(c).await;
    shaping::assignment_in_place(c).await;
    shaping::splits_and_reshapes(c).await;
    shaping::fancy_indexing_and_local_operands(c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_on_local_engines() {
    let c = within(Cluster::local(4)).await.unwrap();
    block_table(&c).await;
    elementwise_chains_are_fused_into_one_pass(&c).await;
    core_cases(&c).await;
    let d = within(c.scatter_axis(sample(&[4, 10]), 1)).await.unwrap();
    assert_eq!(
        d.to_string(),
        "DistArray<f64> shape [4, 10], axis 1 over 4 engines (3,3,3,1)"
    );
    let text = within(d.describe()).await.unwrap();
    assert!(text.starts_with("DistArray<f64> shape [4, 10]"), "{text}");
    assert!(text.contains(&format!("{}", sample(&[4, 10]))), "{text}");
    let big = ArrayD::from_shape_fn(IxDyn(&[40, 50]), |i| (i[0] * 50 + i[1]) as f64);
    let big = within(c.scatter_axis(big, 0)).await.unwrap();
    let text = within(big.describe()).await.unwrap();
    assert!(
        text.contains("1999") && text.contains("first and last 3"),
        "{text}"
    );
    drop((d, big));
    // Every array, result, copy and intermediate is released once its
    // handles go.
    assert!(c.hub().is_empty(), "{:?}", c.hub().refs());
    for node in c.engines() {
        let engine = c.hub().engine(node);
        common::eventually("the engine to release every array", || {
            let engine = engine.clone();
            async move { within(engine.len()).await.unwrap() == 0 }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_on_engine_processes() {
    let c = within(Cluster::spawn_program(distob_bin(), 2))
        .await
        .unwrap();
    core_cases(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_engine_cluster_holds_the_whole_array() {
    let c = within(Cluster::local(1)).await.unwrap();
    let a = sample(&[5, 2]);
    let d = within(c.scatter_axis(a.clone(), 0)).await.unwrap();
    assert_eq!(d.block_lens(), vec![5]);
    assert_eq!(
        within(c.gather(&(d * 2.0))).await.unwrap(),
        a.mapv(|x| x * 2.0)
    );
}
