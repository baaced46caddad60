//! The object actor: owns one value and runs its calls one at a time, in
//! arrival order.

use super::engine::EngineState;
use super::hosted::{Hosted, Invocation, Produced};
use super::registry::{FunctionEntry, ObjectSlot};
use crate::id::{CallId, ObjectId};
use crate::net::wire::{Fault, Message, MethodId, Outcome};
use crate::net::FrameWriter;
use crate::value::Encoded;
use actix::prelude::*;
use bytes::Bytes;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::rc::Weak;

/// Where a call's reply goes: the connection it came on and its id.
#[derive(Debug)]
pub(crate) struct ReplyTo {
    pub(crate) writer: FrameWriter,
    pub(crate) call: CallId,
}

impl ReplyTo {
    /// Sends an outcome with its body.
    pub(crate) fn outcome(self, outcome: Outcome, body: Bytes) {
        let reply = Message::Reply(self.call, outcome);
        // The client may have gone already; then there is nobody to tell.
        let _ = self.writer.send(&reply, body);
    }

    /// Sends a value or a fault.
    pub(crate) fn result(self, result: Result<Encoded, Fault>) {
        match result {
            Ok(enc) => self.outcome(Outcome::Value(enc.head), enc.body),
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
/// it can be gathered, and typed on demand by registered functions.
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

impl Held {
    fn encode(&self) -> Result<Encoded, Fault> {
        match self {
            Held::Stored(s) => Ok(Encoded {
                head: s.head.clone(),
                body: s.body.clone(),
            }),
            Held::Hosted(h) => catch(|| h.encode()).and_then(|r| r),
        }
    }
}

/// The actor that owns one object.
pub(crate) struct ObjectActor {
    held: Held,
    engine: Weak<EngineState>,
}

impl ObjectActor {
    pub(crate) fn new(held: Held, engine: Weak<EngineState>) -> Self {
        ObjectActor { held, engine }
    }
}

impl Actor for ObjectActor {
    type Context = Context<Self>;
}

/// What an [`Invoke`] runs.
pub(crate) enum Target {
    /// A method of the object's type.
    Method(MethodId),
    /// A registered function, with the object as its first argument.
    Function(&'static FunctionEntry),
}

/// Where a kept result goes: a new object on this engine.
pub(crate) struct Keep {
    pub(crate) id: ObjectId,
    pub(crate) owner: u64,
}

/// Run a method or function and reply (or keep the result).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Invoke {
    pub(crate) target: Target,
    pub(crate) args: Vec<u8>,
    pub(crate) reply: ReplyTo,
    pub(crate) keep: Option<Keep>,
}

/// Reply with the value's encoding.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Fetch {
    pub(crate) reply: ReplyTo,
}

/// Sends a call's result back, or keeps it as a new object.
fn finish(
    result: Result<Produced, Fault>,
    reply: ReplyTo,
    keep: Option<Keep>,
    engine: &Weak<EngineState>,
) {
    match (result, keep) {
        (Err(fault), _) => reply.fault(fault),
        (Ok(Produced::Value(enc, _)), None) => reply.result(Ok(enc)),
        (Ok(Produced::Object(obj)), None) => reply.result(catch(|| obj.encode()).and_then(|r| r)),
        (Ok(produced), Some(keep)) => match engine.upgrade() {
            Some(engine) => match engine.adopt(keep.id, produced, keep.owner) {
                Ok(()) => reply.done(),
                Err(fault) => reply.fault(fault),
            },
            None => reply.fault(Fault::Refused("the engine is shutting down".into())),
        },
    }
}

impl Handler<Invoke> for ObjectActor {
    type Result = ();

    fn handle(&mut self, msg: Invoke, ctx: &mut Context<Self>) {
        let Invoke {
            target,
            args,
            reply,
            keep,
        } = msg;
        let invocation = match target {
            Target::Function(entry) => {
                let slot = ObjectSlot {
                    held: &mut self.held,
                };
                catch(|| (entry.call)(slot, &args)).map(Invocation::Ready)
            }
            Target::Method(method) => match &mut self.held {
                Held::Hosted(h) => catch(|| h.invoke(method, &args)),
                Held::Stored(s) => Err(Fault::NoSuchMethod {
                    type_name: s.type_name.clone(),
                    method,
                }),
            },
        };
        match invocation {
            Ok(Invocation::Ready(result)) => finish(result, reply, keep, &self.engine),
            Ok(Invocation::Deferred(fut)) => {
                let fut = AssertUnwindSafe(fut)
                    .catch_unwind()
                    .map(|r| r.unwrap_or_else(|p| Err(Fault::Panic(panic_message(&*p)))));
                // `wait` holds back the mailbox until the method is done, so
                // calls on one object stay in order even across awaits.
                ctx.wait(
                    fut.into_actor(self)
                        .map(move |result, act, _| finish(result, reply, keep, &act.engine)),
                );
            }
            Err(fault) => reply.fault(fault),
        }
    }
}

impl Handler<Fetch> for ObjectActor {
    type Result = ();

    fn handle(&mut self, msg: Fetch, _: &mut Context<Self>) {
        msg.reply.result(self.held.encode());
    }
}
