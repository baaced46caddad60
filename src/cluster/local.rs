//! In-process engines: each its own actix system on its own thread. This
//! process reaches them through in-memory pipes with the same frames and
//! handshake as remote ones (no socket, no system call on the call path);
//! each also listens on loopback TCP for other clients.

use super::LaunchError;
use crate::actors::{Engine, LocalDialer};
use crate::id::NodeId;
use crate::net::ClusterKey;
use std::net::SocketAddr;
use tokio::sync::oneshot;

/// One in-process engine; dropping it stops the engine.
#[derive(Debug)]
pub(crate) struct LocalEngine {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalEngine {
    /// Starts engine `node` on a new thread, listening on 127.0.0.1 port 0.
    pub(crate) async fn start(
        node: NodeId,
        key: ClusterKey,
    ) -> Result<(LocalEngine, SocketAddr, LocalDialer), LaunchError> {
        let (addr_tx, addr_rx) = oneshot::channel();
        let (dialer, incoming) = LocalDialer::new();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("distob-engine-{node}"))
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let bound = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await;
                    let listener = match bound.and_then(|l| l.local_addr().map(|a| (l, a))) {
                        Ok((listener, addr)) => {
                            // The starter waits for this; if it gave up, stop.
                            if addr_tx.send(Ok(addr)).is_err() {
                                return;
                            }
                            listener
                        }
                        Err(e) => {
                            let _ = addr_tx.send(Err(e));
                            return;
                        }
                    };
                    let stop = async move {
                        let _ = stop_rx.await;
                    };
                    let served = Engine::new(node, key)
                        .serve_with_local(listener, Some(incoming), stop)
                        .await;
                    if let Err(e) = served {
                        tracing::error!(%node, error = %e, "in-process engine failed");
                    }
                })
            })
            .map_err(LaunchError::Io)?;
        let addr = addr_rx
            .await
            .map_err(|_| LaunchError::Io(std::io::ErrorKind::BrokenPipe.into()))??;
        Ok((
            LocalEngine {
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            addr,
            dialer,
        ))
    }

    /// Asks the engine to stop; returns its thread to join.
    pub(crate) fn stop(&mut self) -> Option<std::thread::JoinHandle<()>> {
        if let Some(stop) = self.stop.take() {
            // The engine may have stopped already.
            let _ = stop.send(());
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
