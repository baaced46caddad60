//! Sorting and selection against a sorted copy on the client.

use super::{clusters, run};
use distob::Cluster;
use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;

fn sorted_copy(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(|a, b| {
        a.partial_cmp(b)
            .unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()))
    });
    s
}

/// numpy's default percentile of sorted values: linear between ranks.
fn percentile_of(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn sorting_and_selection_match_ndarray(
        data in prop::collection::vec(-20i32..20, 1..=13 * 8),
        engines in 1usize..=4,
        q in 0.0f64..=100.0,
    ) {
        run(async {
            let c = &clusters().1[engines - 1];
            let v: Vec<f64> = data.iter().map(|&x| x as f64 / 2.0).collect();
            let a = ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.clone()).unwrap();
            let d = c.scatter_axis(a.clone(), 0).await.unwrap();
            let want = sorted_copy(&v);

            let s = d.sort().await.unwrap();
            prop_assert_eq!(s.block_lens(), d.block_lens(), "balanced blocks");
            prop_assert_eq!(c.gather(&s).await.unwrap().into_raw_vec_and_offset().0, want.clone());

            let perm = c.gather(&d.argsort().await.unwrap()).await.unwrap();
            let mut seen = vec![false; v.len()];
            for &i in perm.iter() {
                prop_assert!(!std::mem::replace(&mut seen[i as usize], true), "a permutation");
            }
            let by_perm: Vec<f64> = perm.iter().map(|&i| v[i as usize]).collect();
            prop_assert_eq!(by_perm, want.clone());

            let mut distinct = want.clone();
            distinct.dedup();
            let u = c.gather(&d.unique().await.unwrap()).await.unwrap();
            prop_assert_eq!(u.into_raw_vec_and_offset().0, distinct);

            let h = d.histogram(5, -5.0, 5.0).unwrap().fetch().await.unwrap();
            let mut counts = vec![0i64; 5];
            for &x in &v {
                if (-5.0..=5.0).contains(&x) {
                    counts[(((x + 5.0) / 2.0) as usize).min(4)] += 1;
                }
            }
            prop_assert_eq!(h.into_raw_vec_and_offset().0, counts);

            let expect = percentile_of(&want, q);
            let got = d.percentile(q).await.unwrap();
            prop_assert!((got - expect).abs() < 1e-9, "{} vs {}", got, expect);
            Ok(())
        })?;
    }
}

/// Every lane along `k` sorted (stable), and the indices that sort it.
fn lanes_sorted(a: &ArrayD<f64>, k: usize) -> (ArrayD<f64>, ArrayD<i64>) {
    let mut want = a.clone();
    let mut idx = ArrayD::<i64>::zeros(a.raw_dim());
    for (mut lane, mut at) in want
        .lanes_mut(Axis(k))
        .into_iter()
        .zip(idx.lanes_mut(Axis(k)))
    {
        let vals = lane.to_vec();
        let mut order: Vec<usize> = (0..vals.len()).collect();
        order.sort_by(|&i, &j| vals[i].partial_cmp(&vals[j]).unwrap());
        for (slot, &i) in order.iter().enumerate() {
            lane[slot] = vals[i];
            at[slot] = i as i64;
        }
    }
    (want, idx)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn n_d_arrays_sort_along_their_distributed_axis(
        (a, engines, k) in super::case(),
        q in 0.0f64..=100.0,
    ) {
        prop_assume!(a.ndim() > 1);
        run(async {
            let c = &clusters().1[engines - 1];
            // Few distinct values: repeats test that argsort is stable.
            let a = a.mapv(|x| (x / 10.0).round());
            let d = c.scatter_axis(a.clone(), k as isize).await.unwrap();
            let (want, want_idx) = lanes_sorted(&a, k);

            let s = d.sort().await.unwrap();
            prop_assert_eq!(s.axis(), k);
            prop_assert_eq!(s.block_lens(), d.block_lens(), "balanced blocks");
            prop_assert_eq!(c.gather(&s).await.unwrap(), want);
            prop_assert_eq!(c.gather(&d.argsort().await.unwrap()).await.unwrap(), want_idx);

            let all = sorted_copy(a.as_slice().unwrap());
            let mut distinct = all.clone();
            distinct.dedup();
            let u = c.gather(&d.unique().await.unwrap()).await.unwrap();
            prop_assert_eq!(u.into_raw_vec_and_offset().0, distinct);
            let expect = percentile_of(&all, q);
            let got = d.percentile(q).await.unwrap();
            prop_assert!((got - expect).abs() < 1e-9, "{} vs {}", got, expect);
            Ok(())
        })?;
    }
}

#[test]
fn sorts_put_nan_last_and_move_no_array_bytes_through_the_client() {
    run(async {
        let c = Cluster::local(3).await.unwrap();
        let mut v: Vec<f64> = (0..30_000).map(|i| ((i * 7919) % 30_011) as f64).collect();
        v[5] = f64::NAN;
        let a = ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.clone()).unwrap();
        let d = c.scatter_axis(a, 0).await.unwrap();
        let before = c.hub().bytes_written();
        let s = d.sort().await.unwrap();
        let med = d.median().await.unwrap();
        let sent = c.hub().bytes_written() - before;
        assert!(
            sent < 64 * 1024,
            "the client sent {sent} bytes for a 240 KB sort"
        );
        let got = c.gather(&s).await.unwrap();
        assert!(got[[v.len() - 1]].is_nan());
        let rest = got.slice(ndarray::s![..v.len() - 1]).to_vec();
        assert_eq!(rest, sorted_copy(&v)[..v.len() - 1].to_vec());
        assert!(
            med.is_nan(),
            "NaN anywhere makes the median NaN, as in numpy"
        );
        assert!(d.percentile(101.0).await.is_err());

        // Along the distributed axis of a 2-D array: laid out anew engine
        // to engine, no array bytes through the client either.
        let m = ArrayD::from_shape_fn(IxDyn(&[10_000, 3]), |i| {
            ((i[0] * 7919 + i[1]) % 10_007) as f64
        });
        let d = c.scatter_axis(m.clone(), 0).await.unwrap();
        let before = c.hub().bytes_written();
        let s = d.sort().await.unwrap();
        let p = d.argsort().await.unwrap();
        let sent = c.hub().bytes_written() - before;
        assert!(
            sent < 64 * 1024,
            "the client sent {sent} bytes for a 240 KB sort"
        );
        let (want, want_idx) = lanes_sorted(&m, 0);
        assert_eq!(c.gather(&s).await.unwrap(), want);
        assert_eq!(c.gather(&p).await.unwrap(), want_idx);
    });
}

#[test]
fn empty_arrays_sort_and_reduce_as_numpy_does() {
    run(async {
        let c = &clusters().1[1];
        let e = c.zeros::<f64>(&[0], 0).unwrap();
        assert_eq!(c.gather(&e.sort().await.unwrap()).await.unwrap().len(), 0);
        assert_eq!(
            c.gather(&e.argsort().await.unwrap()).await.unwrap().len(),
            0
        );
        assert_eq!(c.gather(&e.unique().await.unwrap()).await.unwrap().len(), 0);
        let m = c.zeros::<f64>(&[0, 3], 0).unwrap();
        let sums = match m.sum_axis(0).unwrap() {
            distob::array::Placed::Remote(r) => r.fetch().await.unwrap(),
            distob::array::Placed::Dist(d) => c.gather(&d).await.unwrap(),
        };
        assert_eq!(sums, ArrayD::<f64>::zeros(IxDyn(&[3])));
        assert!(c.random(1).integers::<i64>(5, 5, &[3], 0).is_err());
        let wide = c
            .random(2)
            .integers::<i64>(i64::MIN, i64::MAX, &[64], 0)
            .unwrap();
        let wide = c.gather(&wide).await.unwrap();
        assert!(wide.iter().any(|&x| x > 0) && wide.iter().any(|&x| x < 0));
    });
}
