//! The object actor: owns one value and runs its calls one at a time, in
//! arrival order.

use super::ctx::Ctx;
use super::engine::EngineState;
use super::hosted::{Invocation, OnPanic, Produced};
use super::registry::{FunctionEntry, ObjectSlot};
pub(crate) use super::reply::{ReplyTo, Sink};
use crate::id::{ObjectId, Ref, TypeTag};
use crate::net::wire::{Fault, Message, MethodId};
use crate::proxy::handles::{self, Landing};
use actix::prelude::*;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::rc::Weak;

pub(crate) use super::held::{Held, Stored};
pub(super) use super::running::Running;

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

/// The fault of using a value of type `type_name` as an operand.
pub(crate) fn not_an_operand(type_name: &str) -> Fault {
    Fault::Refused(format!("a {type_name} cannot be an operand"))
}

/// Runs `f`, turning a panic into a fault.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Fault> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| Fault::Panic(panic_message(&*p)))
}

/// A message waiting for its object to be computed (or for an earlier
/// async call to finish). (Kept unboxed: a call is moved here rarely, and
/// boxing would allocate for every one.)
#[allow(clippy::large_enum_variant)]
enum Queued {
    Invoke(Invoke),
    Fetch(Fetch),
    Push(PushTo),
}

/// Send a copy of the value to another engine (in order with other calls).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PushTo {
    pub(crate) object: ObjectId,
    pub(crate) to: crate::id::NodeId,
    pub(crate) reply: ReplyTo,
}

/// The actor that owns one object.
pub(crate) struct ObjectActor {
    pub(super) id: ObjectId,
    pub(super) held: Held,
    pub(super) engine: Weak<EngineState>,
    backlog: VecDeque<Queued>,
    /// The call chain of the async method holding the mailbox, if any
    /// (shared with the object's table entry: sessions refuse a call that
    /// comes back to it along its own chain, which would wait forever).
    pub(super) busy: Busy,
    /// The type tag of what it holds (kept, not hashed per call).
    tag: TypeTag,
    /// When it was rebuilt after panics, within the type's window.
    restarts: Vec<std::time::Instant>,
}

/// Which chain an object's async method runs in, while one holds its
/// mailbox.
pub(crate) type Busy = std::rc::Rc<std::cell::Cell<Option<u64>>>;

/// The fault of a call (of `chain`) that would wait on `object`'s mailbox,
/// held by an async method up its own chain: given back at once.
pub(crate) fn refuse_reentrant(
    object: ObjectId,
    busy: &Busy,
    chain: &handles::Chain,
) -> Option<Fault> {
    (busy.get() == Some(chain.id) && chain.path.contains(&object))
        .then_some(Fault::Reentrant(object))
}

impl ObjectActor {
    pub(crate) fn new(id: ObjectId, held: Held, engine: Weak<EngineState>, busy: Busy) -> Self {
        let tag = TypeTag::of_name(held.type_name());
        ObjectActor {
            id,
            held,
            engine,
            backlog: VecDeque::new(),
            busy,
            tag,
            restarts: Vec::new(),
        }
    }

    /// The actor moved out of `self` (left empty), to be started.
    pub(crate) fn take_out(&mut self) -> ObjectActor {
        ObjectActor {
            id: self.id,
            held: std::mem::replace(&mut self.held, Held::Pending),
            engine: std::mem::take(&mut self.engine),
            backlog: std::mem::take(&mut self.backlog),
            busy: self.busy.clone(),
            tag: self.tag,
            restarts: std::mem::take(&mut self.restarts),
        }
    }

    /// What engine code running on this object gets.
    fn ctx(&self, engine: &std::rc::Rc<EngineState>, chain: &handles::Chain) -> Ctx {
        let this = Ref::new(engine.node, self.id, self.tag);
        Ctx::new(engine, this, chain.id, chain.deadline)
    }

    /// The fault of a call withdrawn before it started, or past its
    /// deadline: it does not run.
    fn withdrawn(&self, reply: &ReplyTo, deadline: Option<std::time::Instant>) -> Option<Fault> {
        if deadline.is_some_and(|d| d <= std::time::Instant::now()) {
            return Some(Fault::Expired);
        }
        let engine = self.engine.upgrade()?;
        engine
            .take_cancelled(reply.session, reply.call)
            .then_some(Fault::Cancelled)
    }

    /// Answers a fetch with the value (unless it was withdrawn).
    fn fetch(&self, msg: Fetch) {
        match (self.withdrawn(&msg.reply, None), msg.lend) {
            (Some(fault), _) => msg.reply.fault(fault),
            (None, false) => msg.reply.result(self.held.encode()),
            (None, true) => msg.reply.result(self.held.snapshot().and_then(|value| {
                crate::value::encode(super::exchange::lend(value))
                    .map_err(|e| Fault::Refused(e.to_string()))
            })),
        }
    }

    /// Whether messages must queue rather than run now.
    fn blocked(&self) -> bool {
        matches!(self.held, Held::Pending) || !self.backlog.is_empty()
    }

    /// Runs queued messages in order until one waits on an async method.
    pub(super) fn drain(&mut self, ctx: &mut Context<Self>) {
        if matches!(self.held, Held::Pending) {
            return;
        }
        while let Some(q) = self.backlog.pop_front() {
            let waiting = match q {
                Queued::Invoke(msg) => self.invoke(msg, ctx),
                Queued::Fetch(msg) => {
                    self.fetch(msg);
                    false
                }
                Queued::Push(msg) => {
                    self.push(msg);
                    false
                }
            };
            if waiting {
                return;
            }
        }
    }

    /// An announced change has run: the value it left is published for
    /// the readers that wait for it.
    pub(super) fn change_done(&self) {
        if let Some(engine) = self.engine.upgrade() {
            engine.change_done(&self.id, self.held.snapshot());
        }
    }

    /// Runs one call; true when it waits (an async method, or an operand
    /// not computed yet).
    fn invoke(&mut self, mut msg: Invoke, ctx: &mut Context<Self>) -> bool {
        if let Some(fault) = self.withdrawn(&msg.reply, msg.chain.deadline) {
            if let Some(keep) = msg.keep.take() {
                deliver(&self.engine, keep, Err(fault.clone()));
            }
            msg.reply.fault(fault);
            return false;
        }
        match msg.operand.take() {
            None => self.run(msg, None, ctx),
            Some(Operand::Ready(operand)) => self.run(msg, Some(operand), ctx),
            Some(Operand::Waiting(rx)) => {
                // Hold this object's mailbox until the operand is computed,
                // so that calls on this object keep their order. Operands
                // are read from published snapshots, never from a mailbox,
                // so this cannot wait on itself.
                ctx.wait(rx.into_actor(self).map(move |answer, act, ctx| {
                    let operand = answer
                        .unwrap_or_else(|_| Err(Fault::Refused("the operand is gone".into())));
                    if !act.run(msg, Some(operand), ctx) {
                        act.drain(ctx);
                    }
                }));
                true
            }
        }
    }

    /// Runs one call with its operand (if any) in hand.
    fn run(&mut self, msg: Invoke, operand: Option<Shared>, ctx: &mut Context<Self>) -> bool {
        let Invoke {
            target,
            args,
            reply,
            keep,
            operand: _,
            announced,
            chain,
            landing,
        } = msg;
        let Some(engine) = self.engine.upgrade() else {
            reply.fault(Fault::Refused("the engine is shutting down".into()));
            return false;
        };
        let cx = self.ctx(&engine, &chain);
        let aside = engine.set_aside(&self.id);
        let method = match target {
            Target::Method(m) => Some(m),
            Target::Function(_) => None,
        };
        // Handles among the arguments bind to this engine's hub, and count
        // as arrived once decoded (the landing goes right after).
        let invocation = handles::in_chain(&chain, || {
            handles::decode_landed(landing.as_ref(), || {
                self.dispatch(target, &args, operand, &cx)
            })
        });
        drop(landing);
        let deferred = matches!(invocation, Ok(Invocation::Deferred(_)));
        if announced && !deferred {
            // The change (if any) is done once the method returns; an async
            // method's publishes when it finishes, below.
            self.change_done();
        } else if aside && !announced {
            engine.publish(self.id, self.held.snapshot());
        }
        match invocation {
            Ok(Invocation::Ready(Ok(Produced::Stream(items)))) if keep.is_none() => {
                self.stream(items, reply, ctx);
                true
            }
            Ok(Invocation::Ready(result)) => {
                finish(result, reply, keep, &self.engine);
                false
            }
            Ok(Invocation::Deferred(fut)) => {
                let call = Running {
                    chain,
                    reply,
                    keep,
                    announced,
                    method,
                };
                self.await_method(fut, call, ctx);
                true
            }
            Err(fault) => {
                self.supervise(method, &fault);
                if let Some(keep) = keep {
                    deliver(&self.engine, keep, Err(fault.clone()));
                }
                reply.fault(fault);
                false
            }
        }
    }

    /// After a method panicked: poison the object, rebuild it, or go on,
    /// as its type says ([`OnPanic`]); its holders hear of the first two.
    pub(super) fn supervise(&mut self, method: Option<MethodId>, fault: &Fault) {
        let (Some(method), Fault::Panic(message), Held::Hosted(h)) =
            (method, fault, &mut self.held)
        else {
            return;
        };
        let restarted = match h.on_panic(method) {
            OnPanic::Continue => return,
            OnPanic::Poison => false,
            OnPanic::Restart { max, window } => {
                let now = std::time::Instant::now();
                self.restarts.retain(|t| now.duration_since(*t) < window);
                let allowed = (self.restarts.len() as u32) < max;
                if allowed && catch(|| h.restart()).unwrap_or(false) {
                    self.restarts.push(now);
                    true
                } else {
                    false
                }
            }
        };
        if !restarted {
            self.held = Held::Failed(Fault::Poisoned(self.id));
        }
        if let Some(engine) = self.engine.upgrade() {
            engine.publish(self.id, self.held.snapshot());
            let event = Message::ObjectFailed {
                object: self.id,
                message: message.clone(),
                restarted,
            };
            engine.tell_holders(&self.id, &event);
        }
    }

    /// Calls into the object: its method, a function on it, or the fault
    /// that says why neither can run.
    fn dispatch(
        &mut self,
        target: Target,
        args: &[u8],
        operand: Option<Shared>,
        cx: &Ctx,
    ) -> Result<Invocation, Fault> {
        match (target, &mut self.held) {
            (_, Held::Failed(fault)) => Err(fault.clone()),
            (Target::Method(method), Held::Hosted(h)) if operand.is_some() => {
                match operand.unwrap_or_else(|| Err(Fault::Refused("no operand".into()))) {
                    Ok(value) => catch(|| h.invoke_with(method, args, &*value)),
                    Err(fault) => Err(fault),
                }
            }
            (Target::Function(entry), held) => {
                let slot = ObjectSlot { held };
                catch(|| (entry.call)(slot, args)).map(Invocation::Ready)
            }
            (Target::Method(method), Held::Hosted(h)) => catch(|| h.invoke(cx, method, args)),
            (Target::Method(method), Held::Stored(s)) => Err(Fault::NoSuchMethod {
                type_name: s.type_name.clone(),
                method,
            }),
            (Target::Method(_), Held::Pending) => {
                Err(Fault::Refused("the object is not computed yet".into()))
            }
        }
    }

    /// Sends a streamed answer under its caller's credit, holding the
    /// mailbox until it ends (see `stream::pump`); then goes on with what
    /// queued meanwhile.
    pub(super) fn stream(
        &mut self,
        items: super::stream::Encodings,
        reply: ReplyTo,
        ctx: &mut Context<Self>,
    ) {
        let key = (reply.session, reply.call);
        let stop = std::rc::Rc::new(super::state::Stop::default());
        let credit = std::rc::Rc::new(super::stream::Credit::default());
        if let Some(engine) = self.engine.upgrade() {
            engine.running.borrow_mut().insert(key, stop.clone());
            engine.credits.borrow_mut().insert(key, credit.clone());
        }
        let pumped = super::stream::pump(items, reply, credit, stop);
        ctx.wait(pumped.into_actor(self).map(move |(), act, ctx| {
            if let Some(engine) = act.engine.upgrade() {
                engine.running.borrow_mut().remove(&key);
                engine.credits.borrow_mut().remove(&key);
            }
            act.drain(ctx);
        }));
    }
}

impl Actor for ObjectActor {
    type Context = Context<Self>;

    /// A large value's memory is kept for the next result of about its size
    /// (`net::spare`) or freed on the dropper thread: unmapping a gigabyte
    /// would hold up every call this engine serves meanwhile.
    fn stopped(&mut self, _: &mut Context<Self>) {
        let large = match &mut self.held {
            Held::Hosted(h) if h.nbytes() >= crate::net::buf::DROP_ASIDE => {
                if catch(|| h.recycle()).unwrap_or(false) {
                    return;
                }
                catch(|| h.share()).ok().flatten()
            }
            _ => None,
        };
        if let Some(shared) = large {
            // The object's own reference goes here; the shared one, now the
            // last (or one whose holders go later), goes aside.
            self.held = Held::Pending;
            crate::net::buf::drop_aside(shared);
        }
    }
}

/// What an [`Invoke`] runs.
pub(crate) enum Target {
    /// A method of the object's type.
    Method(MethodId),
    /// A registered function, with the object as its first argument.
    Function(&'static FunctionEntry),
}

/// Where a kept result goes: the waiting object. Its address is held here,
/// so that it lives to get the result even if its client released it.
pub(crate) struct Keep {
    pub(crate) id: ObjectId,
    pub(crate) addr: Addr<ObjectActor>,
}

/// Run a method or function and reply (or keep the result).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Invoke {
    pub(crate) target: Target,
    pub(crate) args: Vec<u8>,
    pub(crate) reply: ReplyTo,
    pub(crate) keep: Option<Keep>,
    /// A second object of this engine the method reads.
    pub(crate) operand: Option<Operand>,
    /// The session announced this call as one that may change the object.
    pub(crate) announced: bool,
    /// The call chain it belongs to.
    pub(crate) chain: handles::Chain,
    /// What keeps the handles among its arguments alive until decoded.
    pub(crate) landing: Option<Landing>,
}

/// A shareable snapshot of an object's value (see `Hosted::share`),
/// published on the engine so that other objects read it without going
/// through this object's mailbox.
pub(crate) type Shared = Result<std::sync::Arc<dyn std::any::Any + Send + Sync>, Fault>;

/// The operand of a two-object call.
pub(crate) enum Operand {
    /// Its snapshot, published already.
    Ready(Shared),
    /// Its snapshot, once the operand has been computed.
    Waiting(tokio::sync::oneshot::Receiver<Shared>),
}

/// Reply with the value's encoding.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Fetch {
    pub(crate) reply: ReplyTo,
    /// By reference, for a client in this process (see `Op::Lend`).
    pub(crate) lend: bool,
}

/// Hands a kept result to its waiting object.
fn deliver(engine: &Weak<EngineState>, keep: Keep, result: Result<Held, Fault>) {
    if let Some(engine) = engine.upgrade() {
        engine.deliver(keep, result);
    }
}

/// Sends a call's result back, or keeps it as a new object.
pub(super) fn finish(
    result: Result<Produced, Fault>,
    reply: ReplyTo,
    keep: Option<Keep>,
    engine: &Weak<EngineState>,
) {
    match (result, keep) {
        (Err(fault), keep) => {
            if let Some(keep) = keep {
                deliver(engine, keep, Err(fault.clone()));
            }
            reply.fault(fault)
        }
        (Ok(Produced::Value(enc, _)), None) => reply.result(Ok(enc)),
        (Ok(Produced::Object(obj)), None) => reply.result(catch(|| obj.encode()).and_then(|r| r)),
        // Streams are sent by the actor (which holds its mailbox meanwhile).
        (Ok(Produced::Stream(_)), None) => reply.fault(Fault::Refused(
            "a streamed result reached a one-reply path".into(),
        )),
        (Ok(produced), Some(keep)) => {
            let held = match engine.upgrade() {
                Some(engine) => engine.held_from_produced(produced),
                None => Err(Fault::Refused("the engine is shutting down".into())),
            };
            match held {
                Ok(held) => {
                    deliver(engine, keep, Ok(held));
                    reply.done();
                }
                Err(fault) => {
                    deliver(engine, keep, Err(fault.clone()));
                    reply.fault(fault);
                }
            }
        }
    }
}

impl Handler<Invoke> for ObjectActor {
    type Result = ();

    fn handle(&mut self, msg: Invoke, ctx: &mut Context<Self>) {
        if self.blocked() {
            self.backlog.push_back(Queued::Invoke(msg));
        } else {
            self.invoke(msg, ctx);
        }
    }
}

impl Handler<Fetch> for ObjectActor {
    type Result = ();

    fn handle(&mut self, msg: Fetch, _: &mut Context<Self>) {
        if self.blocked() {
            self.backlog.push_back(Queued::Fetch(msg));
        } else {
            self.fetch(msg);
        }
    }
}

impl Handler<PushTo> for ObjectActor {
    type Result = ();

    fn handle(&mut self, msg: PushTo, _: &mut Context<Self>) {
        if self.blocked() {
            self.backlog.push_back(Queued::Push(msg));
        } else {
            self.push(msg);
        }
    }
}

/// The object's value has been delivered to the engine's mailroom.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Filled;

impl Handler<Filled> for ObjectActor {
    type Result = ();

    fn handle(&mut self, _: Filled, ctx: &mut Context<Self>) {
        let Some(engine) = self.engine.upgrade() else {
            return;
        };
        if let Some(result) = engine.take_delivery(&self.id) {
            self.held = match result {
                Ok(held) => held,
                Err(fault) => Held::Failed(fault),
            };
            self.tag = TypeTag::of_name(self.held.type_name());
            engine.publish(self.id, self.held.snapshot());
            self.drain(ctx);
        }
    }
}
