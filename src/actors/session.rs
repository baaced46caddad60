//! The session actor: one per authenticated peer. Reads that peer's frames
//! (as an actix stream) and routes each request to the object actor it
//! names; replies go straight from the object actor to the peer's writer.

use super::engine::EngineState;
use super::object::{Fetch, Held, Invoke, Keep, ObjectActor, PushTo, ReplyTo, Target};
use super::registry;
use crate::id::{CallId, NodeId, ObjectId};
use crate::net::wire::{CallOp, Fault, Message, Op, Outcome};
use crate::net::{AlignedBuf, Frame, FrameReader, FrameWriter, NetError};
use actix::prelude::*;
use bytes::Bytes;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::AsyncRead;

/// One peer's session.
pub(crate) struct Session {
    id: u64,
    /// Calls from this peer not answered yet.
    in_flight: Arc<AtomicUsize>,
    peer: NodeId,
    writer: FrameWriter,
    engine: Rc<EngineState>,
    /// The client's bulk connection, once this (main) one is paired with it.
    bulk: Option<FrameWriter>,
    /// The token this (bulk) session is listed under for its main one.
    listed_as: Option<u64>,
}

/// Ends a session (engine shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Close;

impl Session {
    /// Starts a session actor over an authenticated connection.
    pub(crate) fn start<R>(
        id: u64,
        peer: NodeId,
        reader: FrameReader<R>,
        writer: FrameWriter,
        engine: Rc<EngineState>,
    ) -> Addr<Session>
    where
        R: AsyncRead + Unpin + 'static,
    {
        let frames = futures::stream::unfold(Some(reader), |reader| async move {
            let mut reader = reader?;
            match reader.next().await {
                Ok(Some(frame)) => Some((Ok(frame), Some(reader))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        });
        Session::create(move |ctx| {
            ctx.add_stream(frames);
            Session {
                id,
                in_flight: Arc::new(AtomicUsize::new(0)),
                peer,
                writer,
                engine,
                bulk: None,
                listed_as: None,
            }
        })
    }

    fn reply(&self, call: CallId) -> ReplyTo {
        ReplyTo {
            writer: self.writer.clone(),
            call,
            in_flight: None,
            queued: None,
        }
    }

    /// The object's actor, with this call counted in its queue; a fault
    /// when the object is unknown or its queue is full.
    fn admit(&self, object: &ObjectId, reply: &mut ReplyTo) -> Result<Addr<ObjectActor>, Fault> {
        let objects = self.engine.objects.borrow();
        let entry = objects.get(object).ok_or(Fault::NoSuchObject(*object))?;
        if entry.queued.fetch_add(1, Ordering::Relaxed) >= self.engine.max_queued {
            entry.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Fault::Busy);
        }
        reply.queued = Some(entry.queued.clone());
        Ok(entry.addr.clone())
    }

    /// A reply slot counted against the connection's bound on calls in
    /// flight; `None` (after answering `Busy`) when the bound is reached.
    fn counted_reply(&self, call: CallId) -> Option<ReplyTo> {
        let n = self.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut reply = self.reply(call);
        if n >= self.engine.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            reply.fault(Fault::Busy);
            return None;
        }
        reply.in_flight = Some(self.in_flight.clone());
        Some(reply)
    }

    fn on_frame(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        let e = &self.engine;
        e.bytes_received
            .set(e.bytes_received.get() + frame.wire_len);
        match frame.message {
            Message::Request(call, op) => {
                e.requests.set(e.requests.get() + 1);
                self.on_request(call, op, frame.body)
            }
            Message::Release { objects } => {
                for id in objects {
                    self.engine.release(&id);
                }
            }
            Message::Ping { seq } => {
                // A closed writer means the session is ending anyway.
                let _ = self.writer.send(&Message::Pong { seq }, Bytes::new());
            }
            Message::Pong { .. } => {}
            other => {
                tracing::warn!(peer = %self.peer, message = ?std::mem::discriminant(&other), "unexpected message; closing session");
                ctx.stop();
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn invoke(
        &self,
        object: ObjectId,
        target: Target,
        args: Vec<u8>,
        reply: ReplyTo,
        keep: Option<ObjectId>,
        other: Option<ObjectId>,
    ) {
        let e = &self.engine;
        e.calls.set(e.calls.get() + 1);
        let mut reply = reply;
        let addr = match self.admit(&object, &mut reply) {
            Ok(addr) => addr,
            Err(fault) => return reply.fault(fault),
        };
        let operand = match other {
            None => None,
            Some(o) => match e.operand(&o) {
                Some(operand) => Some(operand),
                None => return reply.fault(Fault::NoSuchObject(o)),
            },
        };
        // A method call that keeps nothing may change its object (in place):
        // operands read from now on wait for the value it leaves.
        let announced =
            keep.is_none() && matches!(target, Target::Method(_)) && e.announce_change(&object);
        // The result's object exists from now on, so that calls on it may
        // follow at once: they wait in its mailbox until the result comes.
        let keep = match keep {
            Some(id) => match e.insert(id, Held::Pending, "(pending)", 0, self.id) {
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
        });
    }

    fn on_request(&mut self, call: CallId, op: Op, body: AlignedBuf) {
        // Work that queues on objects counts against the bound; the
        // engine's own bookkeeping does not.
        let queues = matches!(
            op,
            Op::Get(_)
                | Op::GetBulk(_)
                | Op::Call(_)
                | Op::Combine(..)
                | Op::Apply { .. }
                | Op::Push { .. }
        );
        let reply = if queues {
            match self.counted_reply(call) {
                Some(r) => r,
                None => return,
            }
        } else {
            self.reply(call)
        };
        match op {
            Op::Put {
                object,
                type_name,
                head,
            } => {
                // Expected (a push from another engine, or a large scatter
                // over the bulk connection): it fills the placeholder; else
                // it is a new object.
                let nbytes = (head.len() + body.len()) as u64;
                let held = EngineState::held_from(&type_name, head, body);
                match self
                    .engine
                    .fill_or_insert(object, held, &type_name, nbytes, self.id)
                {
                    Ok(()) => reply.done(),
                    Err(fault) => reply.fault(fault),
                }
            }
            Op::Get(object) => {
                let mut reply = reply;
                match self.admit(&object, &mut reply) {
                    Ok(addr) => addr.do_send(Fetch { reply }),
                    Err(fault) => reply.fault(fault),
                }
            }
            Op::GetBulk(object) => {
                let mut reply = reply;
                // The value goes back on the paired bulk connection (this
                // one when there is none); the call counts here either way.
                if let Some(bulk) = &self.bulk {
                    reply.writer = bulk.clone();
                }
                match self.admit(&object, &mut reply) {
                    Ok(addr) => addr.do_send(Fetch { reply }),
                    Err(fault) => reply.fault(fault),
                }
            }
            Op::Pair { token, bulk: true } => {
                self.engine
                    .bulk_links
                    .borrow_mut()
                    .insert(token, self.writer.clone());
                self.listed_as = Some(token);
                reply.done()
            }
            Op::Pair { token, bulk: false } => match self.engine.bulk_links.borrow().get(&token) {
                Some(bulk) => {
                    self.bulk = Some(bulk.clone());
                    reply.done()
                }
                None => reply.fault(Fault::Refused(
                    "no bulk connection is paired under this token".into(),
                )),
            },
            Op::Call(CallOp(object, method, args, keep)) => {
                self.invoke(object, Target::Method(method), args, reply, keep, None)
            }
            Op::Combine(CallOp(object, method, args, keep), other) => self.invoke(
                object,
                Target::Method(method),
                args,
                reply,
                keep,
                Some(other),
            ),
            Op::Apply {
                object,
                function,
                args,
                keep,
            } => match registry::lookup_function(function) {
                Some(entry) => {
                    self.invoke(object, Target::Function(entry), args, reply, keep, None)
                }
                None => reply.fault(Fault::NoSuchMethod {
                    type_name: "(registered functions)".into(),
                    method: function,
                }),
            },
            Op::Expect { object, type_name } => {
                match self
                    .engine
                    .insert(object, Held::Pending, &type_name, 0, self.id)
                {
                    Ok(_) => reply.done(),
                    Err(fault) => reply.fault(fault),
                }
            }
            Op::Push { source, object, to } => {
                let mut reply = reply;
                match self.admit(&source, &mut reply) {
                    Ok(addr) => addr.do_send(PushTo { object, to, reply }),
                    Err(fault) => {
                        // The target waits for the object: tell it why it
                        // will not come.
                        let engine = self.engine.clone();
                        actix_rt::spawn(async move {
                            let pushed = super::peers::push(engine, to, object, Err(fault)).await;
                            if let Err(f) = pushed {
                                reply.fault(f);
                            }
                        });
                    }
                }
            }
            Op::Fail { object, fault } => {
                if let Some(addr) = self.engine.waiting_actor(&object) {
                    self.engine.deliver(Keep { id: object, addr }, Err(fault));
                }
                reply.done();
            }
            Op::List => {
                let listing = self.engine.objects.borrow().listing();
                reply.outcome(Outcome::Listing(listing), Bytes::new());
            }
            Op::Stats => reply.outcome(Outcome::Stats(self.engine.stats()), Bytes::new()),
            Op::Shutdown => {
                reply.done();
                self.engine.stop.notify_one();
            }
        }
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.engine
            .sessions
            .borrow_mut()
            .insert(self.id, (ctx.address(), self.in_flight.clone()));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.writer.close();
        if let Some(token) = self.listed_as.take() {
            self.engine.bulk_links.borrow_mut().remove(&token);
        }
        self.engine.objects.borrow_mut().release_owned_by(self.id);
        self.engine.prune_snapshots();
        self.engine.sessions.borrow_mut().remove(&self.id);
        tracing::debug!(peer = %self.peer, "session ended");
    }
}

impl StreamHandler<Result<Frame, NetError>> for Session {
    fn handle(&mut self, item: Result<Frame, NetError>, ctx: &mut Context<Self>) {
        match item {
            Ok(frame) => self.on_frame(frame, ctx),
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, "bad input; closing session");
                ctx.stop();
            }
        }
    }
}

impl Handler<Close> for Session {
    type Result = ();

    fn handle(&mut self, _: Close, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
