//! Links from this engine to other engines, so that data moves engine to
//! engine and never through the client. Each link passes the same
//! handshake as any connection; the engine dials as its own node id.

use super::engine::EngineState;
use crate::id::{CallId, ObjectId};
use crate::net::wire::{Fault, Message, Op, Outcome};
use crate::net::{dial_tcp, AlignedBuf, Dialed, FrameWriter, WriteMode};

use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<(Outcome, AlignedBuf), Fault>>;

/// One link to a peer engine.
pub(crate) struct PeerLink {
    writer: FrameWriter,
    pending: RefCell<HashMap<CallId, Waiter>>,
    next: Cell<u64>,
    closed: Cell<bool>,
}

/// This engine's links to its peers, by address.
#[derive(Default)]
pub(crate) struct Peers {
    links: RefCell<HashMap<SocketAddr, Rc<PeerLink>>>,
}

fn fault(what: &str, e: impl std::fmt::Display) -> Fault {
    Fault::Refused(format!("{what}: {e}"))
}

impl Peers {
    async fn link(&self, engine: &EngineState, addr: SocketAddr) -> Result<Rc<PeerLink>, Fault> {
        if let Some(link) = self.links.borrow().get(&addr).filter(|l| !l.closed.get()) {
            return Ok(link.clone());
        }
        let Dialed {
            mut reader, writer, ..
        } = dial_tcp(
            addr,
            &engine.key,
            engine.node,
            engine.links,
            engine.limits,
            WriteMode::Immediate,
        )
        .await
        .map_err(|e| fault(&format!("cannot reach engine at {addr}"), e))?;
        let link = Rc::new(PeerLink {
            writer,
            pending: RefCell::new(HashMap::new()),
            next: Cell::new(1),
            closed: Cell::new(false),
        });
        let reading = link.clone();
        actix_rt::spawn(async move {
            while let Ok(Some(frame)) = reader.next().await {
                if let Message::Reply(call, outcome) = frame.message {
                    if let Some(w) = reading.pending.borrow_mut().remove(&call) {
                        // The puller may have gone; nothing to do then.
                        let _ = w.send(Ok((outcome, frame.body)));
                    }
                }
            }
            reading.closed.set(true);
            for (_, w) in reading.pending.borrow_mut().drain() {
                let _ = w.send(Err(Fault::Refused("the peer engine is gone".into())));
            }
        });
        self.links.borrow_mut().insert(addr, link.clone());
        Ok(link)
    }

    /// Sends one request to the engine at `addr` and waits for its reply.
    async fn request(
        &self,
        engine: &EngineState,
        addr: SocketAddr,
        op: Op,
        body: Bytes,
    ) -> Result<Outcome, Fault> {
        let link = self.link(engine, addr).await?;
        let call = CallId(link.next.get());
        link.next.set(call.0 + 1);
        let (tx, rx) = oneshot::channel();
        link.pending.borrow_mut().insert(call, tx);
        link.writer
            .send(&Message::Request(call, op), body)
            .map_err(|e| fault("cannot reach the peer engine", e))?;
        match rx.await {
            Ok(Ok((Outcome::Fault(f), _))) => Err(f),
            Ok(Ok((outcome, _))) => Ok(outcome),
            Ok(Err(f)) => Err(f),
            Err(_) => Err(Fault::Refused("the peer engine is gone".into())),
        }
    }
}

/// Sends a copy of a value to the engine at `to`, where object `object`
/// waits for it; on failure, tells that engine the object will not come.
pub(crate) async fn push(
    engine: Rc<EngineState>,
    to: SocketAddr,
    object: ObjectId,
    value: Result<(String, crate::value::Encoded), Fault>,
) -> Result<(), Fault> {
    let sent = match value {
        Ok((type_name, enc)) => {
            let op = Op::Put {
                object,
                type_name,
                head: enc.head,
            };
            engine
                .peers
                .request(&engine, to, op, enc.body)
                .await
                .map(|_| ())
        }
        Err(f) => Err(f),
    };
    if let Err(f) = &sent {
        let fail = Op::Fail {
            object,
            fault: f.clone(),
        };
        // If even this fails the peer is gone, and its objects with it.
        let _ = engine.peers.request(&engine, to, fail, Bytes::new()).await;
    }
    sent
}
