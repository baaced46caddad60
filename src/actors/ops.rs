//! What each request that touches an object does on the engine: puts and
//! deliveries, fetches, calls (with operands or kept results), functions,
//! expected copies, pushes, attaches, and the pairing of a client's two
//! connections. The session routes to these (`Session::route`).

use super::object::{Fetch, Invoke, Keep, PushTo, ReplyTo, Sink, Target};
use super::registry;
use super::session::Session;
use super::table::Holder;
use crate::id::{NodeId, ObjectId};
use crate::net::wire::{Fault, HandleRef, Outcome};
use crate::net::AlignedBuf;
use crate::proxy::handles::{Chain, Landing};
use bytes::Bytes;

impl Session {
    /// A value put here: expected (a copy from another engine, a large
    /// scatter over the bulk connection) it fills its placeholder; else it
    /// is a new object held by `holder`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn put(
        &self,
        object: ObjectId,
        type_name: &str,
        head: Vec<u8>,
        body: AlignedBuf,
        handles: &[HandleRef],
        holder: Option<Holder>,
        reply: ReplyTo,
    ) {
        let nbytes = (head.len() + body.len()) as u64;
        let held = self.engine.held_from(type_name, head, body, handles);
        match self
            .engine
            .fill_or_insert(object, held, type_name, nbytes, holder)
        {
            Ok(()) => reply.done(),
            Err(fault) => reply.fault(fault),
        }
    }

    /// A value a client of this process lent to the exchange, taken over
    /// without a copy as a new object it holds.
    pub(super) fn adopt(&self, object: ObjectId, type_name: &str, token: u64, reply: ReplyTo) {
        let held = super::exchange::take_lent(token)
            .ok_or_else(|| Fault::Refused(format!("nothing was lent under token {token}")))
            .and_then(|value| super::exchange::adopted(type_name, &*value));
        let nbytes = match &held {
            Ok(super::object::Held::Hosted(h)) => h.nbytes() as u64,
            _ => 0,
        };
        match self
            .engine
            .fill_or_insert(object, held, type_name, nbytes, Some(self.holder()))
        {
            Ok(()) => reply.done(),
            Err(fault) => reply.fault(fault),
        }
    }

    /// The value of an object; a large one goes back on the paired bulk
    /// connection (this one when there is none; the call counts here).
    pub(super) fn fetch(&self, object: ObjectId, mut reply: ReplyTo, chain: Chain, bulk: bool) {
        if let (true, Some(writer), Sink::Wire { hub, .. }) = (bulk, &self.bulk, &reply.sink) {
            let hub = hub.clone();
            reply.sink = Sink::Wire {
                writer: writer.clone(),
                hub,
            };
        }
        match self.admit(&object, &mut reply, Some(&chain)) {
            Ok(addr) => addr.do_send(Fetch { reply, lend: false }),
            Err(fault) => reply.fault(fault),
        }
    }

    /// Lends an object's value by reference to a client of this process
    /// (in order with the calls before it, as a fetch).
    pub(super) fn lend(&self, object: ObjectId, mut reply: ReplyTo, chain: Chain) {
        match self.admit(&object, &mut reply, Some(&chain)) {
            Ok(addr) => addr.do_send(Fetch { reply, lend: true }),
            Err(fault) => reply.fault(fault),
        }
    }

    /// Pairs a client's two connections: the bulk one says so first, then
    /// the main one.
    pub(super) fn pair(&mut self, token: u64, bulk: bool, reply: ReplyTo) {
        if bulk {
            if let Some(w) = &self.writer {
                self.engine
                    .bulk_links
                    .borrow_mut()
                    .insert(token, (w.clone(), self.id));
            }
            self.listed_as = Some(token);
            return reply.done();
        }
        let found = self.engine.bulk_links.borrow().get(&token).cloned();
        match found {
            Some((writer, session)) => {
                self.bulk = Some(writer);
                self.engine.holder_of.borrow_mut().insert(session, self.id);
                reply.done()
            }
            None => reply.fault(Fault::Refused(
                "no bulk connection is paired under this token".into(),
            )),
        }
    }

    /// A method call (with an operand object of this engine, or a result
    /// kept as a new object).
    pub(super) fn invoke(
        &self,
        object: ObjectId,
        (target, args, keep, other): (Target, Vec<u8>, Option<ObjectId>, Option<ObjectId>),
        reply: ReplyTo,
        chain: Chain,
        landing: Option<Landing>,
    ) {
        let e = &self.engine;
        e.calls.set(e.calls.get() + 1);
        let mut reply = reply;
        let addr = match self.admit(&object, &mut reply, Some(&chain)) {
            Ok(addr) => addr,
            Err(fault) => return reply.fault(fault),
        };
        let operand = match other {
            None => None,
            Some(o) => match e.operand(&o) {
                Some(operand) => Some(operand),
                None => return reply.fault(e.missing(&o)),
            },
        };
        // A method call that keeps nothing, or a function that takes its
        // object by `&mut`, may change its object (in place): operands read
        // from now on wait for the value it leaves.
        let may_change = match &target {
            Target::Method(_) => keep.is_none(),
            Target::Function(entry) => entry.mutates,
        };
        let announced = may_change && e.announce_change(&object);
        // The result's object exists from now on, so that calls on it may
        // follow at once: they wait in its mailbox until the result comes.
        let keep = match keep {
            Some(id) => match e.insert_pending(id, "(pending)", Some(self.holder())) {
                Ok(addr) => Some(Keep { id, addr }),
                Err(fault) => return reply.fault(fault),
            },
            None => None,
        };
        addr.do_send(Invoke {
            target,
            args,
            reply,
            keep,
            operand,
            announced,
            chain,
            landing,
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply(
        &self,
        object: ObjectId,
        function: crate::net::wire::MethodId,
        args: Vec<u8>,
        keep: Option<ObjectId>,
        reply: ReplyTo,
        chain: Chain,
        landing: Option<Landing>,
    ) {
        match registry::lookup_function(function) {
            Some(entry) => {
                let call = (Target::Function(entry), args, keep, None);
                self.invoke(object, call, reply, chain, landing)
            }
            None => reply.fault(Fault::NoSuchMethod {
                type_name: "(registered functions)".into(),
                method: function,
            }),
        }
    }

    /// A copy is on its way here: it exists (and this peer holds it) from
    /// now on; calls on it wait until it arrives. If it came first, this
    /// peer just becomes its holder.
    pub(super) fn expect(&self, object: ObjectId, type_name: &str, reply: ReplyTo) {
        let holder = self.holder();
        if self.engine.hold(&object, holder) {
            return reply.done();
        }
        match self.engine.insert_pending(object, type_name, Some(holder)) {
            Ok(_) => reply.done(),
            Err(fault) => reply.fault(fault),
        }
    }

    /// Sends a copy of `source` to engine `to`, in order with its calls.
    pub(super) fn push(
        &self,
        source: ObjectId,
        object: ObjectId,
        to: NodeId,
        addr: std::net::SocketAddr,
        reply: ReplyTo,
    ) {
        if to == self.engine.node && self.engine.addr != Some(addr) {
            return reply.fault(Fault::Refused(format!(
                "engine {to} (this one) does not listen at {addr}"
            )));
        }
        self.engine.hub.learn(&[(to, addr)]);
        let mut reply = reply;
        match self.admit(&source, &mut reply, None) {
            Ok(actor) => actor.do_send(PushTo { object, to, reply }),
            Err(fault) => {
                // The target waits for the object: tell it why it will not
                // come.
                let hub = self.engine.hub.clone();
                actix_rt::spawn(async move {
                    let pushed = super::push::deliver(&hub, to, object, Err(fault)).await;
                    if let Err(f) = pushed {
                        reply.fault(f);
                    }
                });
            }
        }
    }

    /// This peer attaches to an object: it becomes a holder.
    pub(super) fn attach(&self, object: ObjectId, reply: ReplyTo) {
        let type_name = {
            let objects = self.engine.objects.borrow();
            objects.get(&object).map(|e| e.type_name.to_string())
        };
        match type_name {
            Some(t) if self.engine.hold(&object, self.holder()) => {
                reply.outcome(Outcome::Attached(t), Bytes::new())
            }
            _ => reply.fault(self.engine.missing(&object)),
        }
    }
}
