#![allow(unreachable_pub)]
//! The numerical workload figures, over two engine processes against the
//! same work on one thread: `Xᵀ·X`, a cumulative sum, random numbers made
//! where they live, and a k-means step.
//!
//! Each figure and its baseline take turns, repetition by repetition, and
//! each reports its median: this machine's speed drifts by up to 2× over
//! seconds (the same one-thread loop took 2.4–4.6 s minutes apart, on
//! either CPU), so timing all of one side and then all of the other
//! measured the drift as much as the code.

#[path = "../common/kmeans_step.rs"]
mod kmeans_step;

use super::{emit, BoxError};
use distob::array::Reduce;
use distob::{Cluster, DistArray};
use kmeans_step::{kmeans_partials, new_centers};
use ndarray::{s, ArrayD, Ix2};
use std::time::Instant;

/// Repetitions of each figure and its baseline, taken in turn (their
/// medians are reported: on this machine a single run varies by 2× with
/// the kernel's page handling and the host's speed).
const REPS: usize = 5;

/// Waits until every block of `d` is computed (a one-element fetch each).
async fn settled(d: &DistArray<f64>) -> Result<(), BoxError> {
    let calls: Vec<_> = d
        .blocks()
        .iter()
        .map(|b| {
            let last = vec![ndarray::SliceInfoElem::from(ndarray::Slice::from(-1..)); b.ndim()];
            b.slice(last).map(|one| one.fetch())
        })
        .collect::<Result<_, _>>()?;
    futures::future::try_join_all(calls).await?;
    Ok(())
}

pub async fn workloads(quick: bool) -> Result<(), BoxError> {
    let cluster = Cluster::spawn(2).await?;
    xtx(&cluster, quick).await?;
    cumsum(&cluster, quick).await?;
    random(&cluster, quick).await?;
    kmeans(&cluster, quick).await?;
    load_npy(&cluster, quick).await?;
    sort(&cluster, quick).await?;
    cluster.shutdown().await?;
    Ok(())
}

async fn xtx(cluster: &Cluster, quick: bool) -> Result<(), BoxError> {
    let n = if quick { 400_000 } else { 4_000_000 };
    let x = cluster.random(1).normal::<f64>(&[n, 16], 0)?;
    settled(&x).await?;
    let local = cluster.gather(&x).await?;
    let l2 = local.view().into_dimensionality::<Ix2>()?;
    let (mut ours_t, mut theirs_t) = (Vec::new(), Vec::new());
    let (mut ours, mut theirs) = (None, None);
    for _ in 0..REPS {
        let t = Instant::now();
        ours = Some(x.t_dot(&x)?.fetch().await?);
        ours_t.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        theirs = Some(l2.t().dot(&l2));
        theirs_t.push(t.elapsed().as_secs_f64());
    }
    let (ours, theirs) = (ours.ok_or("no Xᵀ·X ran")?, theirs.ok_or("no Xᵀ·X ran")?);
    let (ours_s, base_s) = (super::median(ours_t), super::median(theirs_t));
    let apart = (&ours - &theirs.into_dyn()).mapv(f64::abs).sum();
    assert!(apart < 1e-6 * n as f64, "Xᵀ·X differs by {apart}");
    emit("distarray_xtx_s", ours_s, "s", Some(base_s));
    Ok(())
}

async fn cumsum(cluster: &Cluster, quick: bool) -> Result<(), BoxError> {
    let n = if quick { 10_000_000 } else { 100_000_000 };
    let d = cluster.random(2).uniform::<f64>(&[n], 0)?;
    settled(&d).await?;
    let local = cluster.gather(&d).await?;
    // The baseline: one pass on one thread, as the engines' kernel runs it
    // (ndarray's `accumulate_axis_inplace` is several times slower).
    let src = local.as_slice().ok_or("not contiguous")?;
    let (mut ours_t, mut theirs_t) = (Vec::new(), Vec::new());
    let (mut c, mut out) = (None, Vec::new());
    for _ in 0..REPS {
        drop(c.take());
        let t = Instant::now();
        let next = d.cumsum(0)?;
        settled(&next).await?;
        ours_t.push(t.elapsed().as_secs_f64());
        c = Some(next);
        drop(std::mem::take(&mut out));
        let t = Instant::now();
        out = Vec::with_capacity(n);
        let mut acc = 0.0;
        out.extend(src.iter().map(|&x| {
            acc += x;
            acc
        }));
        theirs_t.push(t.elapsed().as_secs_f64());
    }
    let (ours_s, base_s) = (super::median(ours_t), super::median(theirs_t));
    let c = c.ok_or("no cumsum ran")?;
    let last = c.blocks().last().map(|b| b.slice(s![-1..])).transpose()?;
    let ours_last = match last {
        Some(b) => b.fetch().await?[[0]],
        None => 0.0,
    };
    let theirs_last = out[n - 1];
    assert!((ours_last - theirs_last).abs() <= 1e-9 * theirs_last.abs());
    emit("distarray_cumsum_s", ours_s, "s", Some(base_s));
    Ok(())
}

async fn random(cluster: &Cluster, quick: bool) -> Result<(), BoxError> {
    let n = if quick { 10_000_000 } else { 100_000_000 };
    let (mut ours_t, mut theirs_t) = (Vec::new(), Vec::new());
    let (mut d, mut mine) = (None, Vec::new());
    for _ in 0..REPS {
        drop(d.take());
        let t = Instant::now();
        let made = cluster.random(3).normal::<f64>(&[n], 0)?;
        settled(&made).await?;
        ours_t.push(t.elapsed().as_secs_f64());
        d = Some(made);
        drop(std::mem::take(&mut mine));
        mine = vec![0.0f64; n];
        let t = Instant::now();
        distob::__private::normal_into(3, 0, &mut mine);
        theirs_t.push(t.elapsed().as_secs_f64());
    }
    let (ours_s, base_s) = (super::median(ours_t), super::median(theirs_t));
    let d = d.ok_or("no random array made")?;
    let tail = d.blocks().last().map(|b| b.slice(s![-1..])).transpose()?;
    if let Some(tail) = tail {
        assert_eq!(tail.fetch().await?[[0]], mine[n - 1]);
    }
    emit("distarray_random_s", ours_s, "s", Some(base_s));
    Ok(())
}

async fn kmeans(cluster: &Cluster, quick: bool) -> Result<(), BoxError> {
    let n = if quick { 200_000 } else { 2_000_000 };
    let points = cluster.random(4).normal::<f64>(&[n, 8], 0)?;
    let local = cluster.gather(&points).await?;
    let centers: ArrayD<f64> = local.slice(s![..8, ..]).to_owned().into_dyn();
    // One step of each in turn; each figure is the median step.
    let steps = 7;
    let (mut ours, mut theirs) = (centers.clone(), centers);
    let (mut ours_t, mut theirs_t) = (Vec::new(), Vec::new());
    for _ in 0..steps {
        let t = Instant::now();
        let sums = points.map_reduce(kmeans_partials, (ours.clone(),), Reduce::Sum)?;
        ours = new_centers(&sums.fetch().await?, &ours);
        ours_t.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        theirs = new_centers(&kmeans_partials(&local, theirs.clone()), &theirs);
        theirs_t.push(t.elapsed().as_secs_f64());
    }
    let (ours_s, base_s) = (super::median(ours_t), super::median(theirs_t));
    let apart = (&ours - &theirs).mapv(f64::abs).sum();
    assert!(apart < 1e-9, "the k-means runs differ by {apart}");
    assert_eq!(ours.shape(), &[8, 8]);
    emit("kmeans_step_s", ours_s, "s", Some(base_s));
    Ok(())
}

async fn load_npy(cluster: &Cluster, quick: bool) -> Result<(), BoxError> {
    let n = if quick { 10_000_000 } else { 100_000_000 }; // f64s: 800 MB
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("x.npy");
    let d = cluster.random(5).uniform::<f64>(&[n / 8, 8], 0)?;
    d.save_npy(&path).await?;
    drop(d);
    let mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..REPS {
        let t = Instant::now();
        let bytes = std::fs::read(&path)?;
        theirs.push(mb / t.elapsed().as_secs_f64());
        drop(bytes);
        let t = Instant::now();
        let back = cluster.load_npy::<f64>(&path, 0).await?;
        ours.push(mb / t.elapsed().as_secs_f64());
        drop(back);
    }
    emit(
        "distarray_load_npy_mb_per_s",
        super::median(ours),
        "MB/s",
        Some(super::median(theirs)),
    );
    Ok(())
}

async fn sort(cluster: &Cluster, quick: bool) -> Result<(), BoxError> {
    let n = if quick { 2_000_000 } else { 20_000_000 };
    let d = cluster.random(6).uniform::<f64>(&[n], 0)?;
    settled(&d).await?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let original = cluster.gather(&d).await?.into_raw_vec_and_offset().0;
    let mut sorted = None;
    let mut local = Vec::new();
    for _ in 0..REPS {
        drop(sorted.take());
        let t = Instant::now();
        let s = d.sort().await?;
        settled(&s).await?;
        ours.push(t.elapsed().as_secs_f64());
        sorted = Some(s);
        local = original.clone();
        let t = Instant::now();
        local.sort_unstable_by(|a, b| a.total_cmp(b));
        theirs.push(t.elapsed().as_secs_f64());
    }
    let (ours_s, base_s) = (super::median(ours), super::median(theirs));
    let s = sorted.ok_or("no sort ran")?;
    let back = cluster.gather(&s).await?;
    assert_eq!(back.as_slice(), Some(&local[..]));
    emit("distarray_sort_s", ours_s, "s", Some(base_s));
    Ok(())
}
