#![allow(unreachable_pub)]
//! The array figures (transfers, fused elementwise work, reductions) and
//! the scale figures (many engines, many objects).

use super::raw::raw_transfer;
use super::{emit, median, BoxError, Tally, BUMP, PLAIN};
use distob::array::{BinOp, ElemOp, Unary};
use distob::{Cluster, NodeId};
use ndarray::{ArrayD, IxDyn};
use std::time::{Duration, Instant};

/// Many engines: a thousand in-process engines and 64 engine processes from
/// start to all registered (each answering a call), and one array broadcast
/// to 64 engines against the client sending it to each in turn.
pub async fn scale(quick: bool) -> Result<(), BoxError> {
    let t = Instant::now();
    let cluster = Cluster::local(1000).await?;
    let xs = cluster.scatter_each((0..1000u32).collect()).await?;
    emit(
        "register_1000_engines_s",
        t.elapsed().as_secs_f64(),
        "s",
        None,
    );
    drop(xs);
    cluster.shutdown().await?;

    let t = Instant::now();
    let procs = Cluster::launch(distob::launch::LocalProcesses::new(), 64).await?;
    procs.wait_for(64, Duration::from_secs(120)).await?;
    let xs = procs.scatter_each((0..64u32).collect()).await?;
    emit(
        "register_64_processes_s",
        t.elapsed().as_secs_f64(),
        "s",
        None,
    );
    drop(xs);
    procs.shutdown().await?;

    let cluster = Cluster::local(64).await?;
    let n = if quick { 1_250_000 } else { 12_500_000 }; // f64s: 100 MB
    let a = ArrayD::from_shape_fn(IxDyn(&[n]), |i| i[0] as f64);
    let mut each = Duration::ZERO;
    let mut copies = Vec::with_capacity(64);
    for node in cluster.engines() {
        // The copy of the local array is not timed: only the sending is.
        let copy = a.clone();
        let t = Instant::now();
        copies.push(cluster.scatter_to(node, copy).await?);
        each += t.elapsed();
    }
    drop(copies);
    // The 64 copies (6.4 GB) released before the broadcast is timed (each
    // engine answers once its copy is out of its table; the dropper
    // thread may still be freeing the last few).
    for node in cluster.engines() {
        super::objects::settle(&cluster.hub().engine(node), 0).await?;
    }
    let copy = a.clone();
    let t = Instant::now();
    let copies = cluster.broadcast(copy).await?;
    let tree = t.elapsed();
    assert_eq!(copies.len(), 64);
    emit(
        "broadcast_100mb_64_engines_s",
        tree.as_secs_f64(),
        "s",
        Some(each.as_secs_f64()),
    );
    drop(copies);
    cluster.shutdown().await?;
    Ok(())
}

/// The array figures: a computation over two engine processes against one
/// local thread, the gather of a distributed array against raw TCP, and a
/// pipelined chain of operations against one round trip.
pub async fn arrays(quick: bool, raw_addr: std::net::SocketAddr) -> Result<(), BoxError> {
    let n = if quick { 10_000_000 } else { 100_000_000 };
    let cluster = Cluster::spawn(2).await?;
    let x = ArrayD::from_shape_fn(IxDyn(&[n]), |i| i[0] as f64 * 1e-7);
    let d = cluster.scatter_axis(x.clone(), 0).await?;
    let t = Instant::now();
    let ours: f64 = (d.sin() * 2.0 + 1.0).sum().await?;
    let ours_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let local = (x.mapv(f64::sin) * 2.0 + 1.0).sum();
    let base_s = t.elapsed().as_secs_f64();
    assert!((ours - local).abs() <= 1e-6 * local.abs().max(1.0));
    emit("distarray_sin_sum_s", ours_s, "s", Some(base_s));
    // The same chain through one engine's kernel, on this one thread.
    let chain = [
        ElemOp::Unary(Unary::Sin),
        ElemOp::Scalar(BinOp::Mul, 2.0, false),
        ElemOp::Scalar(BinOp::Add, 1.0, false),
    ];
    let flat = x.as_slice().ok_or("x is in standard layout")?;
    let t = Instant::now();
    let kernel = distob::__private::chained_sum(flat, &chain);
    let kernel_s = t.elapsed().as_secs_f64();
    assert!((kernel - local).abs() <= 1e-6 * local.abs().max(1.0));
    emit("kernel_sin_sum_1thread_s", kernel_s, "s", Some(base_s));
    drop((d, x));

    // Gather of a 400 MB distributed array from the two engines.
    let g = if quick { 5_000_000 } else { 50_000_000 };
    let mb = (g * 8) as f64 / 1e6;
    let big = ArrayD::from_shape_fn(IxDyn(&[g]), |i| i[0] as f64);
    let d = cluster.scatter_axis(big, 0).await?;
    let mut ours = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..3 {
        raw.push(mb / raw_transfer(raw_addr, b'G', g * 8).await?.as_secs_f64());
        let t = Instant::now();
        let back = cluster.gather(&d).await?;
        ours.push(mb / t.elapsed().as_secs_f64());
        drop(back);
    }
    emit(
        "distarray_gather_mb_per_s",
        median(ours),
        "MB/s",
        Some(median(raw)),
    );
    drop(d);
    drop(cluster);

    // Ten elementwise operations and a sum on a small array over four
    // engine processes, against one tiny call to one of them.
    let cluster = Cluster::spawn(4).await?;
    let small = ArrayD::from_shape_fn(IxDyn(&[1000]), |i| i[0] as f64 / 1000.0);
    let d = cluster.scatter_axis(small, 0).await?;
    let tally: distob::Remote<Tally> = cluster.scatter_to(NodeId(0), Tally { n: 0 }).await?;
    let reps = if quick { 50 } else { 300 };
    let mut chain = Vec::new();
    let mut call = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let y = (((((d.sin() + 1.0) * 2.0 - 0.5) / 3.0).abs() + 0.1).sqrt() * 1.5 - 0.2).exp();
        y.sum().await?;
        chain.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        tally
            .invoke::<i64, std::convert::Infallible>(BUMP, &(1i64,), PLAIN)
            .await?;
        call.push(t.elapsed().as_secs_f64() * 1e6);
    }
    emit("op_chain_10_us", median(chain), "us", Some(median(call)));
    drop(cluster);
    local_gather(quick).await
}

/// A 100 MB array fetched from an engine in this process, shared with it
/// (no copy), and one scattered to it (moved in), against copying the same
/// 100 MB once in memory.
async fn local_gather(quick: bool) -> Result<(), BoxError> {
    let n = if quick { 1_250_000 } else { 12_500_000 };
    let mb = (n * 8) as f64 / 1e6;
    let cluster = Cluster::local(1).await?;
    let a = ArrayD::from_shape_fn(IxDyn(&[n]), |i| i[0] as f64);
    let r = cluster.scatter(a.clone()).await?;
    let mut ours = Vec::new();
    let mut copy = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let copied = a.to_owned();
        copy.push(mb / t.elapsed().as_secs_f64());
        drop(copied);
        let t = Instant::now();
        let shared = r.fetch_shared().await?;
        ours.push(mb / t.elapsed().as_secs_f64());
        assert_eq!(shared.len(), n);
    }
    emit(
        "local_gather_100mb_mb_per_s",
        median(ours),
        "MB/s",
        Some(median(copy.clone())),
    );
    // And the other way: a scatter moves the array in.
    let mut ours = Vec::new();
    for _ in 0..5 {
        let copied = a.to_owned();
        let t = Instant::now();
        let r = cluster.scatter(copied).await?;
        ours.push(mb / t.elapsed().as_secs_f64());
        assert_eq!(r.shape(), &[n]);
    }
    emit(
        "local_scatter_100mb_mb_per_s",
        median(ours),
        "MB/s",
        Some(median(copy)),
    );
    cluster.shutdown().await?;
    Ok(())
}
