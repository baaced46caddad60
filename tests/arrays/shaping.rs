//! The shaping half of the array cases: joins and structure, comparisons
//! and masks, assignment in place, splits and reshapes, fancy indexing.

use super::common::within;
use super::{close, sample};
use distob::array::ShapeError;
use distob::{Cluster, Error, NodeId};
use ndarray::{ArrayD, Axis, IxDyn};

pub(crate) async fn structure_and_joins(c: &Cluster) {
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

pub(crate) async fn comparisons_types_and_masks(c: &Cluster) {
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

pub(crate) async fn assignment_in_place(c: &Cluster) {
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

pub(crate) async fn splits_and_reshapes(c: &Cluster) {
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

pub(crate) async fn fancy_indexing_and_local_operands(c: &Cluster) {
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
