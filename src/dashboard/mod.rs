//! The live dashboard (feature `dashboard`): one read-only page that shows
//! every engine (address, up or lost, objects, bytes held, memory, calls
//! and bytes per second with a small chart, queue depth), the objects
//! (type, size, holders, name), and recent events and failed calls,
//! updated twice a second over server-sent events without reloading.
//! Served by axum; [`Cluster::serve_dashboard`] binds what it is given
//! (`distob dashboard` binds loopback unless told otherwise).
//!
//! - `sample`: what the page shows, sampled from the hub;
//! - `page.html`: the page (no build step, no outside assets).

mod sample;

pub use sample::SAMPLE_PERIOD;

use crate::cluster::{Cluster, ObjectHub};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

const PAGE: &str = include_str!("page.html");

/// A dashboard being served; dropping it (or [`stop`](Dashboard::stop))
/// stops it.
#[derive(Debug)]
pub struct Dashboard {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Dashboard {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its page's address.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops serving.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            // Already stopped is fine.
            let _ = stop.send(());
        }
        self.sampler.abort();
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The latest snapshot, as the JSON the page reads.
type Latest = watch::Receiver<Arc<String>>;

impl Cluster {
    /// Serves the live dashboard of this cluster at `addr` (port 0 picks
    /// one; see [`Dashboard::addr`]) on the current tokio runtime, until the
    /// [`Dashboard`] is dropped. It is read-only, and binds exactly `addr`:
    /// give a loopback address unless the page is meant for the network.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let cluster = distob::Cluster::local(2).await?;
    /// let dashboard = cluster.serve_dashboard("127.0.0.1:8265".parse()?).await?;
    /// println!("dashboard at {}", dashboard.url());
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    pub async fn serve_dashboard(&self, addr: SocketAddr) -> std::io::Result<Dashboard> {
        serve(self.hub().clone(), addr).await
    }
}

async fn serve(hub: ObjectHub, addr: SocketAddr) -> std::io::Result<Dashboard> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(Arc::new(String::from("{}")));
    let events = Arc::new(Mutex::new(VecDeque::new()));
    tokio::spawn(sample::collect_events(hub.clone(), events.clone()));
    let sampler = tokio::spawn(sample_loop(hub, tx, events));
    let router = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/snapshot", get(snapshot))
        .route("/api/events", get(stream))
        .with_state(rx);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                // A dropped sender stops it too.
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "dashboard server failed");
        }
    });
    tracing::info!(%addr, "dashboard serving");
    Ok(Dashboard {
        addr,
        stop: Some(stop),
        sampler,
    })
}

async fn sample_loop(
    hub: ObjectHub,
    tx: watch::Sender<Arc<String>>,
    events: Arc<Mutex<VecDeque<sample::Happened>>>,
) {
    let mut sampler = sample::Sampler::new(events);
    let mut tick = tokio::time::interval(SAMPLE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let snapshot = sampler.sample(&hub).await;
        match serde_json::to_string(&snapshot) {
            Ok(json) => {
                if tx.send(Arc::new(json)).is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode a dashboard snapshot"),
        }
    }
}

async fn snapshot(axum::extract::State(rx): axum::extract::State<Latest>) -> impl IntoResponse {
    let json = rx.borrow().as_str().to_owned();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    )
}

async fn stream(axum::extract::State(rx): axum::extract::State<Latest>) -> impl IntoResponse {
    // The latest snapshot at once, then each new one.
    let updates = futures::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first {
            rx.changed().await.ok()?;
        }
        let json = rx.borrow_and_update().as_str().to_owned();
        let event = Event::default().event("snapshot").data(json);
        Some((Ok::<_, Infallible>(event), (rx, false)))
    });
    Sse::new(updates).keep_alive(KeepAlive::default())
}
