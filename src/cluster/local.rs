//! In-process engines: actix systems on threads of their own, several
//! engines to a thread when there are more engines than threads. This
//! process reaches them through in-memory pipes with the same frames and
//! handshake as remote ones (no socket, no system call on the call path);
//! each also listens on loopback TCP for other clients and for its peers.

use super::LaunchError;
use crate::actors::{Engine, LocalDialer};
use crate::id::NodeId;
use std::net::SocketAddr;
use tokio::sync::{oneshot, watch};

/// One engine thread (an actix system) and the engines it hosts; dropping
/// it stops them.
#[derive(Debug)]
pub(crate) struct LocalEngine {
    stop: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The most threads in-process engines get: one engine per thread up to
/// this many, then engines share them.
pub(crate) fn engine_threads(n: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    n.min((4 * cores).max(16)).max(1)
}

type Started = (SocketAddr, LocalDialer);

impl LocalEngine {
    /// Starts the engines `nodes` (made from `template`) on one new thread,
    /// each listening on 127.0.0.1 port 0.
    pub(crate) async fn start(
        nodes: Vec<NodeId>,
        template: Engine,
    ) -> Result<(LocalEngine, Vec<(NodeId, SocketAddr, LocalDialer)>), LaunchError> {
        let (addr_tx, addr_rx) = oneshot::channel::<std::io::Result<Vec<Started>>>();
        let (stop_tx, stop_rx) = watch::channel(false);
        let name = match (nodes.first(), nodes.last()) {
            (Some(a), Some(b)) if a != b => format!("distob-engine-{a}-{b}"),
            (Some(a), _) => format!("distob-engine-{a}"),
            _ => "distob-engine".into(),
        };
        let thread_nodes = nodes.clone();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let mut listeners = Vec::with_capacity(thread_nodes.len());
                    let mut started = Vec::with_capacity(thread_nodes.len());
                    for _ in &thread_nodes {
                        let bound = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await;
                        match bound.and_then(|l| l.local_addr().map(|a| (l, a))) {
                            Ok((listener, addr)) => {
                                let (dialer, incoming) = LocalDialer::new();
                                listeners.push((listener, (dialer.clone(), incoming)));
                                started.push((addr, dialer));
                            }
                            Err(e) => {
                                let _ = addr_tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    // The starter waits for this; if it gave up, stop.
                    if addr_tx.send(Ok(started)).is_err() {
                        return;
                    }
                    let serving = thread_nodes.into_iter().zip(listeners).map(
                        |(node, (listener, incoming))| {
                            let mut stop = stop_rx.clone();
                            let engine = template.clone().renamed(node);
                            async move {
                                let stop = async move {
                                    // A dropped sender stops the engines too.
                                    let _ = stop.wait_for(|s| *s).await;
                                };
                                let served = engine
                                    .serve_with_local(listener, Some(incoming), stop)
                                    .await;
                                if let Err(e) = served {
                                    tracing::error!(%node, error = %e, "in-process engine failed");
                                }
                            }
                        },
                    );
                    futures::future::join_all(serving).await;
                })
            })
            .map_err(LaunchError::Io)?;
        let started = addr_rx
            .await
            .map_err(|_| LaunchError::Io(std::io::ErrorKind::BrokenPipe.into()))??;
        let engines = nodes
            .into_iter()
            .zip(started)
            .map(|(node, (addr, dialer))| (node, addr, dialer))
            .collect();
        Ok((
            LocalEngine {
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            engines,
        ))
    }

    /// Asks the engines to stop; returns their thread to join.
    pub(crate) fn stop(&mut self) -> Option<std::thread::JoinHandle<()>> {
        if let Some(stop) = self.stop.take() {
            // The engines may have stopped already.
            let _ = stop.send(true);
        }
        self.thread.take()
    }
}

impl Drop for LocalEngine {
    fn drop(&mut self) {
        // Not joined here: drop may run on an async runtime thread. The
        // engine thread ends on its own once its sessions are closed.
        drop(self.stop());
    }
}
