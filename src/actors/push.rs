//! Copies engine to engine (`copy_to`, `broadcast`): the source engine
//! sends the value over its own hub's link to the target, where the copy is
//! expected — the same request/reply link every hub uses; to an engine
//! of this process, the shared value itself is handed over.

use super::engine::EngineState;
use super::object::{catch, Held, ObjectActor, PushTo};
use crate::id::{NodeId, ObjectId};
use crate::net::wire::{Fault, Op};
use crate::proxy::ObjectHub;
use crate::value::Encoded;
use bytes::Bytes;

/// Sends a copy of a value to engine `to`, where object `object` waits for
/// it; on failure, tells that engine the object will not come.
pub(crate) async fn deliver(
    hub: &ObjectHub,
    to: NodeId,
    object: ObjectId,
    value: Result<(String, Encoded), Fault>,
) -> Result<(), Fault> {
    let sent = match value {
        Ok((type_name, enc)) => {
            let op = Op::Deliver {
                object,
                type_name,
                head: enc.head,
            };
            let call = hub.submit_done(to, op, enc.body, enc.leases);
            call.await
                .map_err(|e| Fault::Refused(format!("cannot copy to engine {to}: {e}")))
        }
        Err(f) => Err(f),
    };
    if let Err(f) = &sent {
        let fail = Op::Fail {
            object,
            fault: f.clone(),
        };
        // If even this fails the peer is gone, and its objects with it.
        let _ = hub.submit_done(to, fail, Bytes::new(), Vec::new()).await;
    }
    sent
}

impl ObjectActor {
    /// Sends a copy of the value to another engine, from a task of its own
    /// (the object goes on with its calls meanwhile: the copy is taken now).
    pub(super) fn push(&self, msg: PushTo) {
        let Some(engine) = self.engine.upgrade() else {
            return msg
                .reply
                .fault(Fault::Refused("the engine is shutting down".into()));
        };
        // To an engine of this process: the shared value itself, no bytes.
        if let Some(msg) = self.hand_over(&engine, msg) {
            let value = self
                .held
                .encode()
                .map(|enc| (self.held.type_name().to_owned(), enc));
            actix_rt::spawn(async move {
                match deliver(&engine.hub, msg.to, msg.object, value).await {
                    Ok(()) => msg.reply.done(),
                    Err(f) => msg.reply.fault(f),
                }
            });
        }
    }

    /// Hands the shared value to an in-process engine, when the target is
    /// one and the value shares; else gives the message back.
    fn hand_over(&self, engine: &EngineState, msg: PushTo) -> Option<PushTo> {
        let Some(addr) = engine.hub.engine_addr(msg.to) else {
            return Some(msg);
        };
        let (Some(to), Held::Hosted(h)) =
            (super::exchange::find(addr, &engine.fingerprint), &self.held)
        else {
            return Some(msg);
        };
        let adoptable = super::registry::lookup(h.type_name()).is_some_and(|e| e.adopt.is_some());
        let Some(value) = adoptable
            .then(|| catch(|| h.share()).ok().flatten())
            .flatten()
        else {
            return Some(msg);
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let handoff = super::exchange::Handoff {
            object: msg.object,
            type_name: h.type_name().to_owned(),
            value,
            nbytes: engine
                .objects
                .borrow()
                .get(&self.id)
                .map_or(0, |e| e.nbytes()),
            reply: tx,
        };
        if to.send(handoff).is_err() {
            return Some(msg);
        }
        actix_rt::spawn(async move {
            match rx.await {
                Ok(Ok(())) => msg.reply.done(),
                Ok(Err(f)) => msg.reply.fault(f),
                Err(_) => msg
                    .reply
                    .fault(Fault::Refused("the peer engine is gone".into())),
            }
        });
        None
    }
}
