//! distob's benchmark figures, one JSON object per line:
//! `{"figure": NAME, "value": X, "unit": U, "baseline": B}`, where the
//! baseline is the same work done with raw tokio (TCP or channels),
//! measured in the same run. Transfer baselines move the bytes from one
//! buffer into a freshly allocated one of the same size, as a scatter or
//! gather must; `raw_tcp_cached_mb_per_s` is raw TCP into one reused,
//! cache-resident 1 MiB buffer, for reference.
//!
//! Run: `cargo run --release --example bench` (add `-- --quick` for a short
//! run, `-- --only actors`, `-- --only calls`, `-- --only arrays`, `-- --only latency`, `-- --only objects`, `-- --only lifecycle`, `-- --only workloads` or `-- --only telemetry`
//! for those figures alone).

mod actors;
mod arrays;
mod latency;
mod lifecycle;
mod objects;
mod raw;
mod telemetry;
mod workloads;

use raw::{channel_ping_pong, raw_ping_pong, raw_server, raw_transfer, start_raw_server, RawPing};

use distob::{Cluster, NodeId};
use ndarray::{ArrayD, IxDyn};
use serde_json::json;
use std::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The object behind the hand-built call figures: its dispatch is written by
/// hand against the registry seam, and it is called through
/// `Remote::invoke` — no macro on the path.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    n: i64,
}

impl distob::registry::Dispatch for Tally {
    const NAME: &'static str = "bench::Tally";

    fn dispatch(
        cell: &std::rc::Rc<std::cell::RefCell<Self>>,
        _ctx: &distob::Ctx,
        method: distob::id::MethodId,
        args: &[u8],
    ) -> distob::registry::Invocation {
        use distob::registry::{Fault, Invocation, Produced};
        if method != BUMP {
            return distob::registry::no_such_method::<Self>(method);
        }
        let result = distob::value::from_cbor::<(i64,)>(args)
            .and_then(|(by,)| {
                let mut t = cell.borrow_mut();
                t.n += by;
                distob::value::encode(t.n)
            })
            .map(|enc| Produced::Value(enc, "i64"))
            .map_err(|e| Fault::Decode(e.to_string()));
        Invocation::Ready(result)
    }
}

distob::register!(Tally);

const BUMP: distob::id::MethodId = distob::id::MethodId::of_name("Tally::bump");
const PLAIN: distob::call::Invoke = distob::call::Invoke {
    mutating: true,
    cached: false,
};

/// The object behind the proxy figures.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Counter {
    n: i64,
}

#[distob::remote]
impl Counter {
    /// Adds `by`; returns the new count.
    pub fn incr(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }
}

/// Size of the raw ping-pong message: about one tiny call's frame.
const PING: usize = 64;

/// A runtime on this thread alone (the call figures: one client thread).
fn one_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The default multi-threaded runtime (the array figures).
fn threads() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn main() -> Result<(), BoxError> {
    distob::engine::main_if_engine();
    if std::env::var_os("DISTOB_BENCH_SERVER").is_some() {
        return raw_server();
    }
    let quick = std::env::args().any(|a| a == "--quick");
    // `--only actors`: just the actor figures (and the baselines they need).
    let only: Option<String> = std::env::args().skip_while(|a| a != "--only").nth(1);
    match only.as_deref() {
        Some("telemetry") => return one_thread()?.block_on(telemetry::telemetry(quick)),
        Some("workloads") => return threads()?.block_on(workloads::workloads(quick)),
        Some("arrays") => {
            return threads()?.block_on(async {
                let (_server, raw_addr) = start_raw_server().await?;
                arrays::arrays(quick, raw_addr).await
            })
        }
        Some("calls") => return one_thread()?.block_on(async { run(quick).await.map(|_| ()) }),
        Some("objects") => return one_thread()?.block_on(objects::objects(quick)),
        Some("latency") => return one_thread()?.block_on(latency::latency(quick)),
        Some("lifecycle") => return one_thread()?.block_on(lifecycle::lifecycle(quick)),
        Some("actors") => {
            return one_thread()?.block_on(async {
                let (server, raw_addr) = start_raw_server().await?;
                let mut raw = raw_ping_pong(raw_addr, 20_000).await?;
                let mut floor = channel_ping_pong(20_000).await;
                drop(server);
                let (raw, floor) = (percentile(&mut raw, 0.5), percentile(&mut floor, 0.5));
                actors::actors(quick, raw, floor).await
            })
        }
        _ => {}
    }
    // Calls: one client thread, as a latency-bound program runs them.
    one_thread()?.block_on(async {
        let (raw_p50, channel_p50) = run(quick).await?;
        actors::actors(quick, raw_p50, channel_p50).await?;
        lifecycle::lifecycle(quick).await?;
        latency::latency(quick).await?;
        objects::objects(quick).await
    })?;
    // Arrays: the default multi-threaded runtime of a numerical program, so
    // that blocks from several engines arrive on several threads.
    threads()?.block_on(async {
        let (server, raw_addr) = start_raw_server().await?;
        let result = arrays::arrays(quick, raw_addr).await;
        drop(server);
        result?;
        workloads::workloads(quick).await?;
        arrays::scale(quick).await
    })?;
    // Last: it installs a global subscriber.
    one_thread()?.block_on(telemetry::telemetry(quick))
}

fn emit(figure: &str, value: f64, unit: &str, baseline: Option<f64>) {
    let mut line = json!({ "figure": figure, "value": round(value), "unit": unit });
    if let Some(b) = baseline {
        line["baseline"] = json!(round(b));
    }
    println!("{line}");
}

/// Two decimals, or (for figures under 1) three significant digits.
fn round(x: f64) -> f64 {
    if x.abs() >= 1.0 || x == 0.0 {
        return (x * 100.0).round() / 100.0;
    }
    let scale = 10f64.powi(2 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn median(mut xs: Vec<f64>) -> f64 {
    percentile(&mut xs, 0.5)
}

/// One 100 MB array scattered to engine 0 of `cluster` and gathered back:
/// the rates there and back, in MB/s.
async fn round_trip(cluster: &Cluster, a: &ArrayD<f64>, mb: f64) -> Result<(f64, f64), BoxError> {
    let copy = a.clone();
    let t = Instant::now();
    let r = cluster.scatter_to(NodeId(0), copy).await?;
    let there = mb / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let back = r.fetch().await?;
    let back_rate = mb / t.elapsed().as_secs_f64();
    assert_eq!(&back, a);
    Ok((there, back_rate))
}

/// The call and transfer figures; the raw TCP and the in-process channel
/// ping-pong medians of this run, for the figures after them.
async fn run(quick: bool) -> Result<(f64, f64), BoxError> {
    let rtt_n = if quick { 2_000 } else { 20_000 };
    let big = if quick { 12_500_000 / 10 } else { 12_500_000 }; // f64s: 100 MB
    let mb = (big * 8) as f64 / 1e6;
    let reps = if quick { 2 } else { 5 };

    let (server, raw_addr) = start_raw_server().await?;
    let cluster = Cluster::spawn(1).await?;
    let tiny = cluster.scatter_to(NodeId(0), 1u8).await?;

    // Round trip of a tiny call to an engine process: a method call built by
    // hand (`Tally::bump` through `Remote::invoke`), the same through a
    // generated proxy (`Counter::incr`), and a fetch of a one-byte value,
    // measured in alternating blocks so that drift hits all alike.
    let tally: distob::Remote<Tally> = cluster.scatter_to(NodeId(0), Tally { n: 0 }).await?;
    let counter: RemoteCounter = cluster.scatter_to(NodeId(0), Counter { n: 0 }).await?;
    let bump = || -> distob::Call<i64> { tally.invoke(BUMP, &(1i64,), PLAIN) };
    let mut ping = RawPing::connect(raw_addr).await?;
    ping.times(rtt_n / 10).await?;
    let mut raw = Vec::with_capacity(rtt_n);
    for _ in 0..rtt_n / 10 {
        bump().await?;
        counter.incr(1).await?;
        tiny.fetch().await?;
    }
    let mut hand = Vec::with_capacity(rtt_n);
    let mut proxy = Vec::with_capacity(rtt_n);
    let mut fetch = Vec::with_capacity(rtt_n);
    for _ in 0..rtt_n / 1000 {
        raw.extend(ping.times(1000).await?);
        for _ in 0..1000 {
            let t = Instant::now();
            bump().await?;
            hand.push(t.elapsed().as_secs_f64() * 1e6);
        }
        for _ in 0..1000 {
            let t = Instant::now();
            counter.incr(1).await?;
            proxy.push(t.elapsed().as_secs_f64() * 1e6);
        }
        for _ in 0..1000 {
            let t = Instant::now();
            tiny.fetch().await?;
            fetch.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let mut raw_c = raw.clone();
    let hand_p50 = percentile(&mut hand, 0.5);
    emit(
        "call_rtt_p50_us",
        hand_p50,
        "us",
        Some(percentile(&mut raw_c, 0.5)),
    );
    emit(
        "call_rtt_p99_us",
        percentile(&mut hand, 0.99),
        "us",
        Some(percentile(&mut raw_c, 0.99)),
    );
    emit(
        "proxy_call_rtt_p50_us",
        percentile(&mut proxy, 0.5),
        "us",
        Some(hand_p50),
    );
    emit(
        "fetch_rtt_p50_us",
        percentile(&mut fetch, 0.5),
        "us",
        Some(percentile(&mut raw_c, 0.5)),
    );

    // The same tiny fetch while a large scatter to the same engine is on
    // its way (it takes its own connection): how long small calls stall.
    let huge = if quick { 32 << 20 } else { 128 << 20 }; // f64s: 256 MiB / 1 GiB
    let (_huge, ack) = cluster
        .hub()
        .put(NodeId(0), ArrayD::<f64>::zeros(IxDyn(&[huge])))?;
    let mut ack = Box::pin(ack);
    let mut during = Vec::new();
    loop {
        let t = Instant::now();
        tiny.fetch().await?;
        let dt = t.elapsed().as_secs_f64() * 1e6;
        if let std::task::Poll::Ready(done) = futures::poll!(ack.as_mut()) {
            done?;
            break;
        }
        during.push(dt);
    }
    if !during.is_empty() {
        let fetch_p50 = percentile(&mut fetch, 0.5);
        emit(
            "fetch_rtt_during_big_scatter_p50_us",
            percentile(&mut during, 0.5),
            "us",
            Some(fetch_p50),
        );
        emit(
            "fetch_rtt_during_big_scatter_p99_us",
            percentile(&mut during, 0.99),
            "us",
            Some(fetch_p50),
        );
        emit(
            "fetch_rtt_during_big_scatter_max_us",
            percentile(&mut during, 1.0),
            "us",
            Some(fetch_p50),
        );
    }

    // 10,000 calls in flight on one connection, each path, alternating.
    let mut rates = Vec::new();
    let mut proxy_rates = Vec::new();
    let mut fetch_rates = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let calls: Vec<_> = (0..10_000).map(|_| bump()).collect();
        for c in calls {
            c.await?;
        }
        rates.push(10_000.0 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let calls: Vec<_> = (0..10_000).map(|_| counter.incr(1)).collect();
        for c in calls {
            c.await?;
        }
        proxy_rates.push(10_000.0 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let calls: Vec<_> = (0..10_000).map(|_| tiny.fetch()).collect();
        for c in calls {
            c.await?;
        }
        fetch_rates.push(10_000.0 / t.elapsed().as_secs_f64());
    }
    let pipelined = median(rates);
    emit("pipelined_calls_per_s", pipelined, "calls/s", None);
    emit(
        "proxy_pipelined_calls_per_s",
        median(proxy_rates),
        "calls/s",
        Some(pipelined),
    );
    emit(
        "pipelined_fetches_per_s",
        median(fetch_rates),
        "calls/s",
        None,
    );
    drop((counter, tally));

    // 100 MB array to and from an engine process.
    let a = ArrayD::from_shape_fn(IxDyn(&[big]), |i| i[0] as f64);
    let mut up = Vec::new();
    let mut down = Vec::new();
    let mut raw_up = Vec::new();
    let mut raw_down = Vec::new();
    let mut raw_cached = Vec::new();
    // The same over TLS, as links to non-loopback addresses go: the engine
    // takes TLS from any peer, and this profile asks for it on loopback too.
    // Each repetition moves the array both ways on each link in turn, so
    // the TLS figures and their plaintext baselines meet the same machine
    // (its speed drifts by up to 2× over seconds here).
    let mut profile = cluster.profile();
    profile.tls = distob::cluster::TlsPolicy::Always;
    let tls = Cluster::connect_profile(&profile).await?;
    let (mut tls_up, mut tls_down) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        raw_cached.push(mb / raw_transfer(raw_addr, b'R', big * 8).await?.as_secs_f64());
        raw_up.push(mb / raw_transfer(raw_addr, b'S', big * 8).await?.as_secs_f64());
        raw_down.push(mb / raw_transfer(raw_addr, b'G', big * 8).await?.as_secs_f64());
        let (there, back) = round_trip(&cluster, &a, mb).await?;
        up.push(there);
        down.push(back);
        let (there, back) = round_trip(&tls, &a, mb).await?;
        tls_up.push(there);
        tls_down.push(back);
    }
    emit(
        "scatter_mb_per_s",
        median(up.clone()),
        "MB/s",
        Some(median(raw_up)),
    );
    emit(
        "gather_mb_per_s",
        median(down.clone()),
        "MB/s",
        Some(median(raw_down)),
    );
    emit("raw_tcp_cached_mb_per_s", median(raw_cached), "MB/s", None);

    // A tiny fetch over TLS against the same over plaintext, in turn.
    let tiny_tls = tls.scatter_to(NodeId(0), 1u8).await?;
    for _ in 0..rtt_n / 10 {
        tiny_tls.fetch().await?;
    }
    let mut plain_rtt = Vec::with_capacity(rtt_n);
    let mut tls_rtt = Vec::with_capacity(rtt_n);
    for _ in 0..rtt_n / 1000 {
        for (obj, out) in [(&tiny, &mut plain_rtt), (&tiny_tls, &mut tls_rtt)] {
            for _ in 0..1000 {
                let t = Instant::now();
                obj.fetch().await?;
                out.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    emit(
        "tls_fetch_rtt_p50_us",
        percentile(&mut tls_rtt, 0.5),
        "us",
        Some(percentile(&mut plain_rtt, 0.5)),
    );
    emit(
        "tls_scatter_mb_per_s",
        median(tls_up),
        "MB/s",
        Some(median(up.clone())),
    );
    emit(
        "tls_gather_mb_per_s",
        median(tls_down),
        "MB/s",
        Some(median(down.clone())),
    );
    drop((tiny_tls, tls));
    drop(tiny);
    drop(cluster);

    // The same tiny round trip to an in-process engine.
    let local = Cluster::local(1).await?;
    let tally: distob::Remote<Tally> = local.scatter_to(NodeId(0), Tally { n: 0 }).await?;
    for _ in 0..rtt_n / 10 {
        tally
            .invoke::<i64, std::convert::Infallible>(BUMP, &(1i64,), PLAIN)
            .await?;
    }
    let mut ours = Vec::with_capacity(rtt_n);
    for _ in 0..rtt_n {
        let t = Instant::now();
        tally
            .invoke::<i64, std::convert::Infallible>(BUMP, &(1i64,), PLAIN)
            .await?;
        ours.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut floor = channel_ping_pong(rtt_n).await;
    let floor_p50 = percentile(&mut floor, 0.5);
    emit(
        "local_call_rtt_p50_us",
        percentile(&mut ours, 0.5),
        "us",
        Some(floor_p50),
    );
    drop(server);
    Ok((percentile(&mut raw, 0.5), floor_p50))
}
