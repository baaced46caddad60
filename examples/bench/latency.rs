//! Polling before parking: the same cluster twice, one with links that
//! park at once (the default) and one whose links spin for 50 µs before
//! parking, measured alternately in the same run — small calls' round trip
//! and CPU per call, and the throughput figures that must not suffer.

use super::raw::{start_raw_server, RawPing};
use super::{emit, median, percentile, BoxError, Tally, BUMP, PLAIN};
use distob::cluster::Latency;
use distob::{Cluster, NodeId, Remote};
use ndarray::{ArrayD, IxDyn};
use std::time::{Duration, Instant};

/// CPU time used so far by this process and the cluster's engine
/// processes, in seconds.
fn cpu_s(cluster: &Cluster) -> f64 {
    let ticks = |pid: &str| -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        field(11) + field(12)
    };
    let engines: f64 = cluster
        .pids()
        .iter()
        .map(|(_, p)| ticks(&p.to_string()))
        .sum();
    (ticks("self") + engines) / 100.0
}

struct Side {
    cluster: Cluster,
    tally: Remote<Tally>,
    rtt: Vec<f64>,
    cpu_per_call: Vec<f64>,
    pipelined: Vec<f64>,
    scatter: Vec<f64>,
    sin_sum: Vec<f64>,
}

impl Side {
    async fn new(latency: Latency) -> Result<Side, BoxError> {
        let cluster = Cluster::builder().latency(latency).spawn(2).await?;
        let tally = cluster.scatter_to(NodeId(0), Tally { n: 0 }).await?;
        Ok(Side {
            cluster,
            tally,
            rtt: Vec::new(),
            cpu_per_call: Vec::new(),
            pipelined: Vec::new(),
            scatter: Vec::new(),
            sin_sum: Vec::new(),
        })
    }

    fn bump(&self) -> distob::Call<i64> {
        self.tally.invoke(BUMP, &(1i64,), PLAIN)
    }

    async fn calls(&mut self, n: usize) -> Result<(), BoxError> {
        let cpu = cpu_s(&self.cluster);
        for _ in 0..n {
            let t = Instant::now();
            self.bump().await?;
            self.rtt.push(t.elapsed().as_secs_f64() * 1e6);
        }
        self.cpu_per_call
            .push((cpu_s(&self.cluster) - cpu) * 1e6 / n as f64);
        Ok(())
    }

    async fn pipelined(&mut self) -> Result<(), BoxError> {
        let t = Instant::now();
        let calls: Vec<_> = (0..10_000).map(|_| self.bump()).collect();
        for c in calls {
            c.await?;
        }
        self.pipelined.push(10_000.0 / t.elapsed().as_secs_f64());
        Ok(())
    }

    async fn scatter(&mut self, a: &ArrayD<f64>) -> Result<(), BoxError> {
        let copy = a.clone();
        let t = Instant::now();
        let r = self.cluster.scatter_to(NodeId(0), copy).await?;
        self.scatter
            .push(a.len() as f64 * 8.0 / 1e6 / t.elapsed().as_secs_f64());
        drop(r);
        Ok(())
    }

    async fn sin_sum(&mut self, x: &ArrayD<f64>) -> Result<f64, BoxError> {
        let d = self.cluster.scatter_axis(x.clone(), 0).await?;
        let t = Instant::now();
        let total: f64 = (d.sin() * 2.0 + 1.0).sum().await?;
        self.sin_sum.push(t.elapsed().as_secs_f64());
        Ok(total)
    }
}

/// The latency-mode figures.
pub(crate) async fn latency(quick: bool) -> Result<(), BoxError> {
    let rtt_n = if quick { 2_000 } else { 20_000 };
    let reps = if quick { 2 } else { 5 };
    let (server, raw_addr) = start_raw_server().await?;
    let mut ping = RawPing::connect(raw_addr).await?;
    ping.times(rtt_n / 10).await?;
    let mut raw = Vec::with_capacity(rtt_n);
    let spin = Latency::Spin(Duration::from_micros(50));
    let mut park = Side::new(Latency::Park).await?;
    let mut spun = Side::new(spin).await?;
    for side in [&mut park, &mut spun] {
        side.calls(rtt_n / 10).await?;
        side.rtt.clear();
        side.cpu_per_call.clear();
    }
    for _ in 0..rtt_n / 2000 {
        raw.extend(ping.times(2000).await?);
        park.calls(2000).await?;
        spun.calls(2000).await?;
    }
    drop((ping, server));
    let big = if quick { 1_250_000 } else { 12_500_000 };
    let a = ArrayD::from_shape_fn(IxDyn(&[big]), |i| i[0] as f64);
    for _ in 0..reps {
        park.pipelined().await?;
        spun.pipelined().await?;
        park.scatter(&a).await?;
        spun.scatter(&a).await?;
    }
    drop(a);
    let n = if quick { 10_000_000 } else { 100_000_000 };
    let x = ArrayD::from_shape_fn(IxDyn(&[n]), |i| i[0] as f64 * 1e-7);
    for _ in 0..reps.min(3) {
        let p = park.sin_sum(&x).await?;
        let s = spun.sin_sum(&x).await?;
        assert!((p - s).abs() <= 1e-9 * p.abs().max(1.0));
    }
    emit(
        "spin_call_rtt_p50_us",
        percentile(&mut spun.rtt, 0.5),
        "us",
        Some(percentile(&mut raw, 0.5)),
    );
    emit(
        "park_call_rtt_p50_us",
        percentile(&mut park.rtt, 0.5),
        "us",
        Some(percentile(&mut raw, 0.5)),
    );
    let pairs = [
        (
            "spin_cpu_per_call_us",
            "us",
            &spun.cpu_per_call,
            &park.cpu_per_call,
        ),
        (
            "spin_pipelined_calls_per_s",
            "calls/s",
            &spun.pipelined,
            &park.pipelined,
        ),
        (
            "spin_scatter_mb_per_s",
            "MB/s",
            &spun.scatter,
            &park.scatter,
        ),
        (
            "spin_distarray_sin_sum_s",
            "s",
            &spun.sin_sum,
            &park.sin_sum,
        ),
    ];
    for (figure, unit, ours, base) in pairs {
        emit(
            figure,
            median(ours.clone()),
            unit,
            Some(median(base.clone())),
        );
    }
    park.cluster.shutdown().await?;
    spun.cluster.shutdown().await?;
    Ok(())
}
