//! The session actor: one per authenticated peer. Reads that peer's frames
//! (as an actix stream) and routes each request to the object actor it
//! names; replies go straight from the object actor to the peer's writer.

use super::engine::EngineState;
use super::object::{catch, Fetch, Held, Invoke, ObjectActor, ReplyTo, Stored};
use super::object_engine::Entry;
use super::registry;
use crate::id::{CallId, NodeId, ObjectId};
use crate::net::wire::{Fault, Message, Op, Outcome};
use crate::net::{AlignedBuf, Frame, FrameReader, FrameWriter, NetError};
use actix::prelude::*;
use bytes::Bytes;
use std::collections::HashSet;
use std::rc::Rc;
use tokio::io::AsyncRead;

/// One peer's session.
pub(crate) struct Session {
    id: u64,
    peer: NodeId,
    writer: FrameWriter,
    engine: Rc<EngineState>,
    /// Objects this peer created; released when it goes away.
    owned: HashSet<ObjectId>,
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
                peer,
                writer,
                engine,
                owned: HashSet::new(),
            }
        })
    }

    fn reply(&self, call: CallId) -> ReplyTo {
        ReplyTo {
            writer: self.writer.clone(),
            call,
        }
    }

    fn on_frame(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        match frame.message {
            Message::Request { call, op } => self.on_request(call, op, frame.body),
            Message::Release { objects } => {
                let mut table = self.engine.objects.borrow_mut();
                for id in objects {
                    self.owned.remove(&id);
                    table.remove(&id);
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

    fn on_request(&mut self, call: CallId, op: Op, body: AlignedBuf) {
        let reply = self.reply(call);
        match op {
            Op::Put {
                object,
                type_name,
                head,
            } => self.put(object, type_name, head, body, reply),
            Op::Get { object } => match self.engine.objects.borrow().get(&object) {
                Some(entry) => entry.addr.do_send(Fetch { reply }),
                None => reply.fault(Fault::NoSuchObject(object)),
            },
            Op::Call {
                object,
                method,
                args,
            } => match self.engine.objects.borrow().get(&object) {
                Some(entry) => entry.addr.do_send(Invoke {
                    method,
                    args,
                    reply,
                }),
                None => reply.fault(Fault::NoSuchObject(object)),
            },
            Op::List => {
                let listing = self.engine.objects.borrow().listing();
                reply.outcome(Outcome::Listing(listing), Bytes::new());
            }
            Op::Shutdown => {
                reply.outcome(Outcome::Done, Bytes::new());
                self.engine.stop.notify_one();
            }
        }
    }

    fn put(
        &mut self,
        object: ObjectId,
        type_name: String,
        head: Vec<u8>,
        body: AlignedBuf,
        reply: ReplyTo,
    ) {
        if self.engine.objects.borrow().contains(&object) {
            return reply.fault(Fault::Refused(format!("object id {object:#} is in use")));
        }
        let nbytes = (head.len() + body.len()) as u64;
        let held = match registry::lookup(&type_name) {
            Some(entry) => match catch(|| (entry.host)(&head, body)).and_then(|r| r) {
                Ok(hosted) => Held::Hosted(hosted),
                Err(fault) => return reply.fault(fault),
            },
            None => Held::Stored(Stored {
                type_name: type_name.clone(),
                head,
                body: body.into_bytes(),
            }),
        };
        let addr = ObjectActor::new(held).start();
        let entry = Entry {
            addr,
            type_name: Rc::from(type_name),
            nbytes,
        };
        self.engine.objects.borrow_mut().insert(object, entry);
        self.owned.insert(object);
        reply.outcome(Outcome::Done, Bytes::new());
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.engine
            .sessions
            .borrow_mut()
            .insert(self.id, ctx.address());
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.writer.close();
        let mut table = self.engine.objects.borrow_mut();
        for id in self.owned.drain() {
            table.remove(&id);
        }
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
