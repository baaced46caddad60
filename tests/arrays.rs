//! RemoteArray and DistArray: every result equals plain ndarray on the same data.
#![allow(clippy::unwrap_used)]

mod common;

use common::{distob_bin, within};
use distob::array::ShapeError;
use distob::{Cluster, DistArray, Error, NodeId};
use ndarray::{ArrayD, Axis, Dimension, IxDyn};

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) {
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-9 * (1.0 + x.abs()), "{x} != {y}");
    }
}

fn sample(shape: &[usize]) -> ArrayD<f64> {
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
    let along = within(d3.reduce_distributed_axis(Reduce::Sum))
        .await
        .unwrap();
    close(&along, &a3.sum_axis(Axis(1)));
    let top = within(d3.abs().reduce_distributed_axis(Reduce::Max))
        .await
        .unwrap();
    close(
        &top,
        &a3.map_axis(Axis(1), |l| {
            l.iter().fold(f64::NEG_INFINITY, |m, x| m.max(x.abs()))
        }),
    );
    let mean1 = within(d3.statistic_distributed_axis(Reduce::Mean))
        .await
        .unwrap();
    close(&mean1, &a3.mean_axis(Axis(1)).unwrap());
    let std1 = within(d3.statistic_distributed_axis(Reduce::Std))
        .await
        .unwrap();
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

async fn structure_and_joins(c: &Cluster) {
    use distob::array::{concatenate, dstack, hstack, vstack, Placed};
    let a = sample(&[5, 3, 2]);
    let r = within(c.scatter_to(NodeId(0), a.clone())).await.unwrap();
    assert_eq!(within(r.t().fetch()).await.unwrap(), a.t().to_owned());
    let p = r.permuted_axes(&[1, 2, 0]).unwrap();
    assert_eq!(p.shape(), &[3, 2, 5]);
    assert_eq!(
        within(p.fetch()).await.unwrap(),
        a.clone()
            .permuted_axes(IxDyn(&[1, 2, 0]))
            .as_standard_layout()
            .to_owned()
    );
    let ds = within(c.scatter_axis(a.clone().insert_axis(Axis(1)), 0))
        .await
        .unwrap();
    let squeezed = ds.squeeze().unwrap();
    assert_eq!(
        (squeezed.shape(), squeezed.axis()),
        (&[5usize, 3, 2][..], 0)
    );
    assert_eq!(within(c.gather(&squeezed)).await.unwrap(), a);
    let e = r.expand_dims(-1).unwrap();
    assert_eq!(e.shape(), &[5, 3, 2, 1]);
    assert_eq!(within(e.squeeze().fetch()).await.unwrap(), a);
    assert!(r.permuted_axes(&[0, 0, 1]).is_err());

    let d = within(c.scatter_axis(a.clone(), 0)).await.unwrap();
    let dt = d.t();
    assert_eq!(dt.axis(), 2);
    assert_eq!(within(c.gather(&dt)).await.unwrap(), a.t().to_owned());
    let ds = d.swap_axes(0, 1).unwrap();
    assert_eq!(ds.axis(), 1);
    assert_eq!(
        within(c.gather(&ds)).await.unwrap(),
        a.clone()
            .permuted_axes(IxDyn(&[1, 0, 2]))
            .as_standard_layout()
            .to_owned()
    );

    // Joining along the distributed axis joins block lists: nothing is sent.
    let b = sample(&[4, 3, 2]);
    let d2 = within(c.scatter_axis(b.clone(), 0)).await.unwrap();
    let before = within(c.hub().engine(NodeId(0)).stats())
        .await
        .unwrap()
        .requests;
    let j = concatenate(&[d.clone(), d2.clone()], 0).unwrap();
    let after = within(c.hub().engine(NodeId(0)).stats())
        .await
        .unwrap()
        .requests;
    assert_eq!(
        after,
        before + 1,
        "only the stats request itself reached the engine"
    );
    let expect = ndarray::concatenate(Axis(0), &[a.view(), b.view()]).unwrap();
    assert_eq!(j.shape(), expect.shape());
    assert_eq!(within(c.gather(&j)).await.unwrap(), expect);

    // Remote arrays: on several engines a DistArray, on one engine one array.
    let x = within(c.scatter_to(NodeId(0), sample(&[2, 3])))
        .await
        .unwrap();
    let y = within(c.scatter_to(NodeId(0), sample(&[1, 3])))
        .await
        .unwrap();
    let same = concatenate(&[x.clone(), y.clone()], 0).unwrap();
    assert!(matches!(same, Placed::Remote(_)));
    let z = within(c.scatter_to(NodeId(c.engines().len() as u32 - 1), sample(&[3, 3])))
        .await
        .unwrap();
    let spread = concatenate(&[x.clone(), z.clone()], 0).unwrap();
    if c.engines().len() > 1 {
        assert!(matches!(spread, Placed::Dist(_)));
    }
    let (xa, ya, za) = (sample(&[2, 3]), sample(&[1, 3]), sample(&[3, 3]));
    assert_eq!(
        within(c.gather(&same)).await.unwrap(),
        ndarray::concatenate(Axis(0), &[xa.view(), ya.view()]).unwrap()
    );
    assert_eq!(
        within(c.gather(&spread)).await.unwrap(),
        ndarray::concatenate(Axis(0), &[xa.view(), za.view()]).unwrap()
    );
    // Along another axis, distributed parts split alike join block by block.
    let w = within(c.scatter_axis(a.mapv(|v| v + 1.0), 0))
        .await
        .unwrap();
    let side = concatenate(&[d.clone(), w], 1).unwrap();
    assert_eq!(
        within(c.gather(&side)).await.unwrap(),
        ndarray::concatenate(Axis(1), &[a.view(), a.mapv(|v| v + 1.0).view()]).unwrap()
    );

    // The stacks, as numpy has them.
    let v1 = within(c.scatter_to(NodeId(0), sample(&[4]))).await.unwrap();
    let v2 = within(c.scatter_to(NodeId(0), sample(&[4]).mapv(|v| -v)))
        .await
        .unwrap();
    let (l1, l2) = (sample(&[4]), sample(&[4]).mapv(|v| -v));
    let vs = vstack(&[v1.clone(), v2.clone()]).unwrap();
    assert_eq!(
        within(c.gather(&vs)).await.unwrap(),
        ndarray::stack(Axis(0), &[l1.view(), l2.view()]).unwrap()
    );
    let hs = hstack(&[v1.clone(), v2.clone()]).unwrap();
    assert_eq!(
        within(c.gather(&hs)).await.unwrap(),
        ndarray::concatenate(Axis(0), &[l1.view(), l2.view()]).unwrap()
    );
    let ds3 = dstack(&[v1, v2]).unwrap();
    assert_eq!(ds3.shape(), vec![1, 4, 2]);
    let expect = ndarray::stack(Axis(1), &[l1.view(), l2.view()])
        .unwrap()
        .insert_axis(Axis(0));
    assert_eq!(within(c.gather(&ds3)).await.unwrap(), expect);
}

async fn comparisons_types_and_masks(c: &Cluster) {
    use distob::array::Cmp;
    let a = sample(&[4, 5]);
    let r = within(c.scatter_to(NodeId(0), a.clone())).await.unwrap();
    let mask = r.gt(0.5);
    assert_eq!(within(mask.fetch()).await.unwrap(), a.mapv(|x| x > 0.5));
    assert!(within(mask.any()).await.unwrap());
    assert!(!within(mask.all()).await.unwrap());
    assert!(within(r.ge(-100.0).all()).await.unwrap());
    let kept = r.where_(&mask, -1.0).unwrap();
    assert_eq!(
        within(kept.fetch()).await.unwrap(),
        a.mapv(|x| if x > 0.5 { x } else { -1.0 })
    );
    assert_eq!(
        within(r.clip(-1.0, 1.0).fetch()).await.unwrap(),
        a.mapv(|x| x.clamp(-1.0, 1.0))
    );
    let ints = r.astype::<i64>();
    assert_eq!(within(ints.fetch()).await.unwrap(), a.mapv(|x| x as i64));
    assert_eq!(
        within(ints.astype::<bool>().fetch()).await.unwrap(),
        a.mapv(|x| x as i64 != 0)
    );
    let flat: Vec<f64> = a.iter().copied().collect();
    let argmax = flat
        .iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x > flat[b] { i } else { b });
    let argmin = flat
        .iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x < flat[b] { i } else { b });
    assert_eq!(within(r.argmax()).await.unwrap(), argmax as i64);
    assert_eq!(within(r.argmin()).await.unwrap(), argmin as i64);
    let other = within(c.scatter_to(
        NodeId(0),
        a.t().to_owned().as_standard_layout().t().to_owned(),
    ))
    .await
    .unwrap();
    let eq = r.compare_array(Cmp::Eq, &other).unwrap();
    assert!(within(eq.all()).await.unwrap());
    // Along an axis, bool reductions keep their type.
    let any_row = mask
        .reduce_axis::<bool>(distob::array::Reduce::Any, 1, false)
        .unwrap();
    assert_eq!(
        within(any_row.fetch()).await.unwrap(),
        a.map_axis(Axis(1), |l| l.iter().any(|&x| x > 0.5))
    );

    let d = within(c.scatter_axis(a.clone(), 1)).await.unwrap();
    let dm = (d.clip(-0.5, 2.0) * 2.0).lt(0.0);
    assert_eq!(
        within(c.gather(&dm)).await.unwrap(),
        a.mapv(|x| x.clamp(-0.5, 2.0) * 2.0 < 0.0)
    );
    assert!(within(dm.any()).await.unwrap());
    assert!(!within(dm.all()).await.unwrap());
    let cond = d.gt(0.0);
    let masked = d.where_(&cond, 0.0).unwrap();
    assert_eq!(
        within(c.gather(&masked)).await.unwrap(),
        a.mapv(|x| if x > 0.0 { x } else { 0.0 })
    );
    assert_eq!(
        within(c.gather(&d.powi(2))).await.unwrap(),
        a.mapv(|x| x.powi(2))
    );
    close(
        &within(c.gather(&d.abs().powf(0.5))).await.unwrap(),
        &a.mapv(|x| x.abs().powf(0.5)),
    );
    assert_eq!(
        within(r.powi(3).fetch()).await.unwrap(),
        a.mapv(|x| x.powi(3))
    );
    let di = d.astype::<i32>();
    assert_eq!(within(c.gather(&di)).await.unwrap(), a.mapv(|x| x as i32));
}

async fn assignment_in_place(c: &Cluster) {
    use ndarray::s;
    let a = sample(&[6, 4]);
    let mut r = within(c.scatter_to(NodeId(0), a.clone())).await.unwrap();
    let before = r.sum(); // sent before the changes: sees the old values
    let twin = r.clone();
    r += 1.0;
    r *= 2.0;
    r.assign_slice(s![1..3, ..;2], -5.0).unwrap();
    let row = within(c.scatter_to(NodeId(c.engines().len() as u32 - 1), sample(&[4])))
        .await
        .unwrap();
    r -= &row;
    // Reading itself after changes sent before: sees them all, no deadlock.
    let me = r.clone();
    r += &me;
    let mut expect = a.mapv(|x| (x + 1.0) * 2.0);
    expect.slice_mut(s![1..3, ..;2]).fill(-5.0);
    let expect = (&expect - &sample(&[4])) * 2.0;
    assert!((within(before).await.unwrap() - a.sum()).abs() < 1e-9);
    assert_eq!(
        within(twin.fetch()).await.unwrap(),
        expect,
        "every handle sees the change"
    );
    // An operand read after the change sees the new values.
    let plus = &r + &r;
    assert_eq!(within(plus.fetch()).await.unwrap(), &expect * 2.0);
    assert!(matches!(
        r.assign_slice(s![9, ..], 0.0),
        Err(Error::Shape(ShapeError::IndexOutOfBounds { .. }))
    ));

    let mut d = within(c.scatter_axis(a.clone(), 0)).await.unwrap();
    let kept = d.clone();
    d -= 3.0;
    d.assign_slice(s![2..5, 1], 100.0).unwrap();
    let twice = d.clone();
    d += &twice;
    let mut expect = a.mapv(|x| x - 3.0);
    expect.slice_mut(s![2..5, 1]).fill(100.0);
    let expect = &expect * 2.0;
    assert_eq!(within(c.gather(&d)).await.unwrap(), expect);
    assert_eq!(
        within(c.gather(&kept)).await.unwrap(),
        a,
        "other copies keep their values"
    );
}

async fn splits_and_reshapes(c: &Cluster) {
    let a = sample(&[7, 6]);
    let r = within(c.scatter_to(NodeId(0), a.clone())).await.unwrap();
    let pieces = r.array_split(3, 0).unwrap();
    let lens: Vec<usize> = pieces.iter().map(|p| p.shape()[0]).collect();
    assert_eq!(lens, vec![3, 2, 2]);
    let back: Vec<ArrayD<f64>> = within(c.gather(&pieces)).await.unwrap();
    let views: Vec<_> = back.iter().map(|p| p.view()).collect();
    assert_eq!(ndarray::concatenate(Axis(0), &views).unwrap(), a);
    assert!(matches!(
        r.split(4, 0),
        Err(Error::Shape(ShapeError::UnevenSplit { .. }))
    ));
    assert_eq!(r.split(3, 1).unwrap().len(), 3);
    let re = r.reshape(&[3, 14]).unwrap();
    assert_eq!(
        within(re.fetch()).await.unwrap(),
        a.clone().into_shape_with_order(IxDyn(&[3, 14])).unwrap()
    );
    assert!(matches!(
        r.reshape(&[5, 5]),
        Err(Error::Shape(ShapeError::Reshape { .. }))
    ));

    let b = sample(&[2, 9, 6]);
    let d = within(c.scatter_axis(b.clone(), 1)).await.unwrap();
    let parts = d.array_split(2, 1).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].shape(), vec![2, 5, 6]);
    let back: Vec<ArrayD<f64>> = within(c.gather(&parts)).await.unwrap();
    let views: Vec<_> = back.iter().map(|p| p.view()).collect();
    assert_eq!(ndarray::concatenate(Axis(1), &views).unwrap(), b);
    let dr = (&d * 2.0).reshape(&[2, 9, 2, 3]).unwrap();
    assert_eq!(dr.axis(), 1);
    let expect = (&b * 2.0)
        .into_shape_with_order(IxDyn(&[2, 9, 2, 3]))
        .unwrap();
    assert_eq!(within(c.gather(&dr)).await.unwrap(), expect);
    assert!(d.reshape(&[18, 6]).is_err(), "the distributed axis stays");
}

async fn fancy_indexing_and_local_operands(c: &Cluster) {
    use distob::array::{BinOp, Placed};
    let a = sample(&[8, 3]);
    let r = within(c.scatter_to(NodeId(0), a.clone())).await.unwrap();
    let t = r.take(&[5, -1, 0, 5], 0).unwrap();
    assert_eq!(t.shape(), &[4, 3]);
    assert_eq!(
        within(t.fetch()).await.unwrap(),
        a.select(Axis(0), &[5, 7, 0, 5])
    );
    assert!(matches!(
        r.take(&[8], 0),
        Err(Error::Shape(ShapeError::IndexOutOfBounds { .. }))
    ));
    let d = within(c.scatter_axis(a.clone(), 0)).await.unwrap();
    let picked = d.take(&[7, 0, 1, -2], 0).unwrap();
    assert_eq!(
        within(c.gather(&picked)).await.unwrap(),
        a.select(Axis(0), &[7, 0, 1, 6])
    );
    let cols = d.take(&[2, 0], 1).unwrap();
    assert!(matches!(cols, Placed::Dist(_)));
    assert_eq!(
        within(c.gather(&cols)).await.unwrap(),
        a.select(Axis(1), &[2, 0])
    );
    let one = d.take(&[0], 0).unwrap();
    assert!(matches!(one, Placed::Remote(_)));

    // Arg-extremes across blocks, and broadcasting two arrays apart.
    let flat: Vec<f64> = a.iter().copied().collect();
    let amax = flat
        .iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x > flat[b] { i } else { b });
    let amin = flat
        .iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x < flat[b] { i } else { b });
    let dt = d.t();
    assert_eq!(within(d.argmax()).await.unwrap(), amax as i64);
    assert_eq!(within(d.argmin()).await.unwrap(), amin as i64);
    let tflat: Vec<f64> = a.t().iter().copied().collect();
    let tmax = tflat
        .iter()
        .enumerate()
        .fold(0, |b, (i, &x)| if x > tflat[b] { i } else { b });
    assert_eq!(within(dt.argmax()).await.unwrap(), tmax as i64);
    let col = within(c.scatter_to(NodeId(0), sample(&[8, 1])))
        .await
        .unwrap();
    let row = within(c.scatter_to(NodeId(0), sample(&[1, 3])))
        .await
        .unwrap();
    let (bc, br) = distob::array::broadcast_arrays(&col, &row).unwrap();
    assert_eq!(
        (bc.shape(), br.shape()),
        (&[8usize, 3][..], &[8usize, 3][..])
    );
    assert_eq!(
        within(br.fetch()).await.unwrap(),
        sample(&[1, 3])
            .broadcast(IxDyn(&[8, 3]))
            .unwrap()
            .to_owned()
    );

    let local = sample(&[8, 3]).mapv(|x| x * 0.5 + 1.0);
    let dl = d.try_binary_local(BinOp::Mul, &local).unwrap();
    assert_eq!(within(c.gather(&dl)).await.unwrap(), &a * &local);
    let row = sample(&[3]);
    let rl = r.try_binary_local(BinOp::Sub, &row).unwrap();
    assert_eq!(within(rl.fetch()).await.unwrap(), &a - &row);
}

async fn core_cases(c: &Cluster) {
    scatter_axis_round_trips_on_every_axis(c).await;
    elementwise_chains_equal_ndarray(c).await;
    reductions_equal_ndarray(c).await;
    integer_arrays_keep_their_type(c).await;
    from_blocks_joins_arrays_already_on_engines(c).await;
    arrays_combine_where_they_live(c).await;
    selections_follow_the_data(c).await;
    structure_and_joins(c).await;
    comparisons_types_and_masks(c).await;
    assignment_in_place(c).await;
    splits_and_reshapes(c).await;
    fancy_indexing_and_local_operands(c).await;
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
