//! [`LocalPort`]: an engine's hub reaching that engine itself — calls from
//! engine code to objects of the same engine go straight to the engine's
//! local session, with no socket, no frame and no handshake in between.
//!
//! Requests carry their handles' [`Lease`]s (which keep them alive until
//! the engine has decoded them) instead of lending them over the wire, and
//! replies come back through a oneshot each.

use super::link::{Piece, Replies, Reply};
use crate::error::{Error, Result};
use crate::id::{CallId, NodeId};
use crate::net::wire::{Message, Meta, Op};
use crate::value::Lease;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

/// One item for the engine's local session.
#[derive(Debug)]
pub(crate) enum LocalItem {
    /// A request and where its reply goes.
    Request {
        call: CallId,
        op: Op,
        meta: Meta,
        body: Bytes,
        leases: Vec<Lease>,
        reply: Replies,
    },
    /// A one-way message (holds and releases of this engine's own hub, a
    /// feed's items) and its body.
    Message(Message, Bytes),
}

/// The sending side of an engine's local session.
#[derive(Debug, Clone)]
pub(crate) struct LocalPort {
    node: NodeId,
    tx: mpsc::UnboundedSender<LocalItem>,
}

impl LocalPort {
    /// A port for engine `node` and the receiver its local session serves.
    pub(crate) fn new(node: NodeId) -> (LocalPort, mpsc::UnboundedReceiver<LocalItem>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (LocalPort { node, tx }, rx)
    }

    /// The engine this port reaches.
    pub(crate) fn node(&self) -> NodeId {
        self.node
    }

    /// Sends a request; the receiver gets its reply.
    pub(crate) fn request(
        &self,
        call: CallId,
        op: Op,
        meta: Meta,
        body: Bytes,
        leases: Vec<Lease>,
    ) -> Result<oneshot::Receiver<Result<Reply>>> {
        let (reply, rx) = oneshot::channel();
        self.submit(call, op, meta, body, leases, Replies::Once(reply))?;
        Ok(rx)
    }

    /// Sends a request whose answer is a stream.
    pub(crate) fn request_stream(
        &self,
        call: CallId,
        op: Op,
        meta: Meta,
        leases: Vec<Lease>,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<Result<Piece>>> {
        let (reply, rx) = mpsc::unbounded_channel();
        self.submit(call, op, meta, Bytes::new(), leases, Replies::Stream(reply))?;
        Ok(rx)
    }

    fn submit(
        &self,
        call: CallId,
        op: Op,
        meta: Meta,
        body: Bytes,
        leases: Vec<Lease>,
        reply: Replies,
    ) -> Result<()> {
        let item = LocalItem::Request {
            call,
            op,
            meta,
            body,
            leases,
            reply,
        };
        self.tx.send(item).map_err(|_| Error::EngineLost(self.node))
    }

    /// Sends a one-way message.
    pub(crate) fn send(&self, message: Message) -> Result<()> {
        self.send_with_body(message, Bytes::new())
    }

    /// Sends a one-way message with a body.
    pub(crate) fn send_with_body(&self, message: Message, body: Bytes) -> Result<()> {
        self.tx
            .send(LocalItem::Message(message, body))
            .map_err(|_| Error::EngineLost(self.node))
    }
}
