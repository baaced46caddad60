#![allow(unreachable_pub)]
//! What spans and metrics cost: the tiny call's round trip and pipelined
//! calls with telemetry on and nobody listening (`idle`), with a `tracing`
//! subscriber at INFO (`info`: distob's per-call spans are at DEBUG, so
//! they are not made), and with that subscriber raised to DEBUG (`spans`:
//! every call's span made, filled, formatted and closed), each against the
//! same build with telemetry off, measured in alternating blocks. Installs
//! a global subscriber: run last.

use super::{emit, median, percentile, BoxError, Counter, CounterProxy};
use distob::{Cluster, NodeId};
use std::time::Instant;

/// `n` round trips of a tiny call, in µs each.
async fn rtts(c: &distob::Remote<Counter>, n: usize) -> Result<Vec<f64>, BoxError> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        c.incr(1).await?;
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(out)
}

/// Calls per second with 10,000 in flight.
async fn pipelined(c: &distob::Remote<Counter>) -> Result<f64, BoxError> {
    let t = Instant::now();
    let calls: Vec<_> = (0..10_000).map(|_| c.incr(1)).collect();
    for call in calls {
        call.await?;
    }
    Ok(10_000.0 / t.elapsed().as_secs_f64())
}

/// Alternating blocks with telemetry off and on: (off, on) round trips
/// and pipelined rates.
async fn compare(
    c: &distob::Remote<Counter>,
    blocks: usize,
) -> Result<((Vec<f64>, Vec<f64>), (Vec<f64>, Vec<f64>)), BoxError> {
    let (mut rtt_off, mut rtt_on, mut rate_off, mut rate_on) = (vec![], vec![], vec![], vec![]);
    for _ in 0..blocks {
        distob::__private::set_telemetry(false);
        rtt_off.extend(rtts(c, 1000).await?);
        rate_off.push(pipelined(c).await?);
        distob::__private::set_telemetry(true);
        rtt_on.extend(rtts(c, 1000).await?);
        rate_on.push(pipelined(c).await?);
    }
    Ok(((rtt_off, rtt_on), (rate_off, rate_on)))
}

fn report(what: &str, rtt: (Vec<f64>, Vec<f64>), rate: (Vec<f64>, Vec<f64>)) {
    let (mut off, mut on) = rtt;
    emit(
        &format!("call_rtt_p50_us_telemetry_{what}"),
        percentile(&mut on, 0.5),
        "us",
        Some(percentile(&mut off, 0.5)),
    );
    emit(
        &format!("pipelined_calls_per_s_telemetry_{what}"),
        median(rate.1),
        "calls/s",
        Some(median(rate.0)),
    );
}

pub async fn telemetry(quick: bool) -> Result<(), BoxError> {
    let blocks = if quick { 3 } else { 10 };
    let cluster = Cluster::spawn(1).await?;
    let counter: distob::Remote<Counter> = cluster.scatter_to(NodeId(0), Counter { n: 0 }).await?;
    rtts(&counter, 2000).await?;
    // Nobody listens: spans are never made, metrics go to the no-op recorder.
    let (rtt, rate) = compare(&counter, blocks).await?;
    report("idle", rtt, rate);
    // A subscriber at INFO (formatting to nowhere), then at DEBUG.
    use tracing_subscriber::prelude::*;
    let (level, handle) =
        tracing_subscriber::reload::Layer::new(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(level)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .try_init()?;
    let (rtt, rate) = compare(&counter, blocks).await?;
    report("info", rtt, rate);
    handle.modify(|l| *l = tracing_subscriber::filter::LevelFilter::DEBUG)?;
    let (rtt, rate) = compare(&counter, blocks).await?;
    report("spans", rtt, rate);
    cluster.shutdown().await?;
    Ok(())
}
