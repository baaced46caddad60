//! [`ReplyTo`]: where a call's reply goes — back over the connection it
//! came on (lending the handles the reply carries first), or to engine
//! code of this engine waiting on a oneshot — and the counts the call
//! leaves when it is answered.

use crate::id::CallId;
use crate::net::wire::{Fault, Message, Outcome};
use crate::net::{AlignedBuf, FrameWriter};
use crate::proxy::handles::{Flight, Landing};
use crate::proxy::link::{Replies, Reply};
use crate::proxy::ObjectHub;
use crate::value::{Encoded, Lease};
use bytes::Bytes;

/// Where a reply goes.
#[derive(Debug)]
pub(crate) enum Sink {
    /// Back over the peer's connection; handles in the reply are lent
    /// through this engine's hub first.
    Wire { writer: FrameWriter, hub: ObjectHub },
    /// To engine code of this engine, which waits on a channel; handles
    /// travel as their leases.
    Local { tx: Replies, hub: ObjectHub },
    /// Already answered.
    Gone,
}

/// Where a call's reply goes: the connection it came on (or the local
/// caller) and its id.
#[derive(Debug)]
pub(crate) struct ReplyTo {
    pub(crate) sink: Sink,
    pub(crate) call: CallId,
    /// The session it came on (with the call id, what a cancel names).
    pub(crate) session: u64,
    /// The connection's count of calls in flight; this one leaves it when
    /// its reply is sent (or dropped).
    pub(crate) in_flight: Option<std::sync::Arc<std::sync::atomic::AtomicUsize>>,
    /// The target object's count of calls queued or running on it; this
    /// one leaves it the same way.
    pub(crate) queued: Option<std::sync::Arc<super::table::Queued>>,
    /// The request's `distob.serve` span (closed once the reply is sent).
    pub(crate) span: tracing::Span,
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        self.leave_counts();
    }
}

impl ReplyTo {
    /// Takes this call out of the counts it is in.
    fn leave_counts(&mut self) {
        if let Some(n) = self.in_flight.take() {
            n.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(q) = self.queued.take() {
            q.leave();
        }
    }

    /// Sends an outcome with its body.
    pub(crate) fn outcome(self, outcome: Outcome, body: Bytes) {
        self.send(outcome, body, Vec::new())
    }

    /// Sends an outcome whose value carries the handles of `leases`.
    fn send(mut self, outcome: Outcome, body: Bytes, leases: Vec<Lease>) {
        self.leave_counts();
        crate::telemetry::spans::finish(
            &self.span,
            crate::telemetry::outcome_label(&outcome),
            "bytes_out",
            body.len(),
        );
        let call = self.call;
        match std::mem::replace(&mut self.sink, Sink::Gone) {
            Sink::Wire { writer, hub } => {
                let refs = hub.lend(&leases);
                let reply = Message::Reply(call, outcome, refs.clone());
                // The client may have gone already; then there is nobody to
                // tell, and the lends are taken back.
                if writer.send(&reply, body).is_err() {
                    hub.arrived(&refs);
                }
            }
            Sink::Local { tx, hub } => {
                let reply = Reply {
                    outcome,
                    body: AlignedBuf::from_slice(&body),
                    landing: Landing::new(&hub, Flight::Leases(leases)),
                    arrived: None,
                };
                // The caller may have dropped its call: the reply goes.
                tx.finish(Ok(reply));
            }
            Sink::Gone => {}
        }
    }

    /// Sends several small items (no bulk parts) of a streamed answer in
    /// one frame.
    pub(crate) fn items(&self, batch: Vec<Encoded>) {
        match &self.sink {
            Sink::Wire { writer, hub } => {
                let mut lent = Vec::new();
                let items = batch
                    .into_iter()
                    .map(|enc| {
                        let refs = hub.lend(&enc.leases);
                        lent.extend_from_slice(&refs);
                        crate::net::wire::StreamItem(enc.head, refs)
                    })
                    .collect();
                if writer
                    .send(&Message::Items(self.call, items), Bytes::new())
                    .is_err()
                {
                    hub.arrived(&lent);
                }
            }
            _ => {
                for enc in batch {
                    self.item(enc);
                }
            }
        }
    }

    /// Sends one item of a streamed answer; its size in bytes.
    pub(crate) fn item(&self, enc: Encoded) -> usize {
        let size = enc.len();
        match &self.sink {
            Sink::Wire { writer, hub } => {
                let refs = hub.lend(&enc.leases);
                let item = Message::Item(self.call, enc.head, refs.clone());
                if writer.send(&item, enc.body).is_err() {
                    hub.arrived(&refs);
                }
            }
            Sink::Local { tx, hub } => tx.item(Reply {
                outcome: Outcome::Value(enc.head),
                body: AlignedBuf::from_slice(&enc.body),
                landing: Landing::new(hub, Flight::Leases(enc.leases)),
                arrived: None,
            }),
            Sink::Gone => {}
        }
        size
    }

    /// Sends a value or a fault.
    pub(crate) fn result(self, result: Result<Encoded, Fault>) {
        match result {
            Ok(enc) => self.send(Outcome::Value(enc.head), enc.body, enc.leases),
            Err(fault) => self.fault(fault),
        }
    }

    /// Sends a fault.
    pub(crate) fn fault(self, fault: Fault) {
        self.outcome(Outcome::Fault(fault), Bytes::new())
    }

    /// Sends `Done`.
    pub(crate) fn done(self) {
        self.outcome(Outcome::Done, Bytes::new())
    }
}
