//! The object actor: owns one value and runs its calls one at a time, in
//! arrival order.

use super::registry::{Hosted, Invocation};
use crate::id::CallId;
use crate::net::wire::{Fault, Message, MethodId, Outcome};
use crate::net::FrameWriter;
use crate::value::Encoded;
use actix::prelude::*;
use bytes::Bytes;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;

/// Where a call's reply goes: the connection it came on and its id.
#[derive(Debug)]
pub(crate) struct ReplyTo {
    pub(crate) writer: FrameWriter,
    pub(crate) call: CallId,
}

impl ReplyTo {
    /// Sends an outcome with its body.
    pub(crate) fn outcome(self, outcome: Outcome, body: Bytes) {
        let reply = Message::Reply {
            call: self.call,
            outcome,
        };
        // The client may have gone already; then there is nobody to tell.
        let _ = self.writer.send(&reply, body);
    }

    /// Sends a value or a fault.
    pub(crate) fn result(self, result: Result<Encoded, Fault>) {
        match result {
            Ok(enc) => self.outcome(Outcome::Value { head: enc.head }, enc.body),
            Err(fault) => self.fault(fault),
        }
    }

    /// Sends a fault.
    pub(crate) fn fault(self, fault: Fault) {
        self.outcome(Outcome::Fault(fault), Bytes::new())
    }
}

/// The text of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Runs `f`, turning a panic into a fault.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Fault> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| Fault::Panic(panic_message(&*p)))
}

/// A value kept as its encoding (its type is not registered on this engine):
/// it can be gathered, not called.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) type_name: String,
    pub(crate) head: Vec<u8>,
    pub(crate) body: Bytes,
}

/// What an object actor holds.
pub(crate) enum Held {
    Stored(Stored),
    Hosted(Box<dyn Hosted>),
}

/// The actor that owns one object.
pub(crate) struct ObjectActor {
    held: Held,
}

impl ObjectActor {
    pub(crate) fn new(held: Held) -> Self {
        ObjectActor { held }
    }
}

impl Actor for ObjectActor {
    type Context = Context<Self>;
}

/// Run a method and reply.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Invoke {
    pub(crate) method: MethodId,
    pub(crate) args: Vec<u8>,
    pub(crate) reply: ReplyTo,
}

/// Reply with the value's encoding.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Fetch {
    pub(crate) reply: ReplyTo,
}

impl Handler<Invoke> for ObjectActor {
    type Result = ();

    fn handle(&mut self, msg: Invoke, ctx: &mut Context<Self>) {
        let hosted = match &mut self.held {
            Held::Hosted(h) => h,
            Held::Stored(s) => {
                return msg.reply.fault(Fault::NoSuchMethod {
                    type_name: s.type_name.clone(),
                    method: msg.method,
                })
            }
        };
        match catch(|| hosted.invoke(msg.method, &msg.args)) {
            Ok(Invocation::Ready(result)) => msg.reply.result(result),
            Ok(Invocation::Deferred(fut)) => {
                let reply = msg.reply;
                let fut = AssertUnwindSafe(fut)
                    .catch_unwind()
                    .map(|r| r.unwrap_or_else(|p| Err(Fault::Panic(panic_message(&*p)))));
                // `wait` holds back the mailbox until the method is done, so
                // calls on one object stay in order even across awaits.
                ctx.wait(
                    fut.into_actor(self)
                        .map(move |result, _, _| reply.result(result)),
                );
            }
            Err(fault) => msg.reply.fault(fault),
        }
    }
}

impl Handler<Fetch> for ObjectActor {
    type Result = ();

    fn handle(&mut self, msg: Fetch, _: &mut Context<Self>) {
        let result = match &self.held {
            Held::Stored(s) => Ok(Encoded {
                head: s.head.clone(),
                body: s.body.clone(),
            }),
            Held::Hosted(h) => catch(|| h.encode()).and_then(|r| r),
        };
        msg.reply.result(result);
    }
}
