//! The session actor: one per authenticated peer (a client's hub, another
//! engine's hub), plus one local session for this engine's own hub. Reads
//! that peer's frames (as an actix stream) and routes each request to the
//! object actor it names; replies go straight from the object actor to the
//! peer's writer (or, locally, to the caller's oneshot).
//!
//! A session is a holder: the objects its peer creates, holds or attaches
//! to count it among their holders, and when it ends its holds go.

use super::engine::EngineState;
use super::object::{refuse_reentrant, Keep, ObjectActor, ReplyTo, Sink, Target};
use super::table::{Holder, NAMED};
use crate::id::{CallId, NodeId, ObjectId};
use crate::net::wire::{CallOp, Fault, HandleRef, Message, Op, Outcome};
use crate::net::{AlignedBuf, Frame, FrameReader, FrameWriter, NetError};
use crate::proxy::handles::{Chain, Flight, Landing};
use crate::proxy::local::LocalItem;
use actix::prelude::*;
use bytes::Bytes;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::AsyncRead;

/// One peer's session.
pub(crate) struct Session {
    pub(super) id: u64,
    /// Calls from this peer not answered yet.
    in_flight: Arc<AtomicUsize>,
    peer: NodeId,
    /// The peer's connection (`None` for the local session, whose replies
    /// go to each request's own oneshot).
    pub(super) writer: Option<FrameWriter>,
    pub(super) engine: Rc<EngineState>,
    /// The client's bulk connection, once this (main) one is paired with it.
    pub(super) bulk: Option<FrameWriter>,
    /// The token this (bulk) session is listed under for its main one.
    pub(super) listed_as: Option<u64>,
}

/// Ends a session (engine shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Close;

/// A request as the session routes it: its op, where the reply goes, and
/// what keeps the handles in its payload alive.
struct Incoming {
    op: Op,
    body: AlignedBuf,
    reply: ReplyTo,
    chain: Chain,
    landing: Option<Landing>,
    /// The handles the payload carries (for values stored undecoded).
    handles: Vec<HandleRef>,
}

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
        let frames = crate::net::Frames::new(reader);
        Session::create(move |ctx| {
            ctx.add_stream(frames);
            Session::new(id, peer, Some(writer), engine)
        })
    }

    /// Starts the local session: requests of this engine's own hub.
    pub(crate) fn start_local(
        id: u64,
        items: tokio::sync::mpsc::UnboundedReceiver<LocalItem>,
        engine: Rc<EngineState>,
    ) -> Addr<Session> {
        let node = engine.node;
        Session::create(move |ctx| {
            ctx.add_stream(tokio_stream_of(items));
            Session::new(id, node, None, engine)
        })
    }

    fn new(id: u64, peer: NodeId, writer: Option<FrameWriter>, engine: Rc<EngineState>) -> Self {
        Session {
            id,
            in_flight: Arc::new(AtomicUsize::new(0)),
            peer,
            writer,
            engine,
            bulk: None,
            listed_as: None,
        }
    }

    /// This session's holder id (a bulk connection's objects are its main
    /// connection's).
    pub(super) fn holder(&self) -> Holder {
        self.engine.holder_of(self.id)
    }

    fn reply_to(&self, call: CallId, sink: Sink) -> ReplyTo {
        ReplyTo {
            sink,
            call,
            session: self.id,
            in_flight: None,
            queued: None,
            span: tracing::Span::none(),
        }
    }

    /// The object's actor, with this call counted in its queue; a fault
    /// when the object is unknown, its queue is full, or (for a call of
    /// `chain`) an async method up the same chain holds its mailbox.
    pub(super) fn admit(
        &self,
        object: &ObjectId,
        reply: &mut ReplyTo,
        chain: Option<&Chain>,
    ) -> Result<Addr<ObjectActor>, Fault> {
        let mut objects = self.engine.objects.borrow_mut();
        let entry = objects
            .get_mut(object)
            .ok_or_else(|| self.engine.missing(object))?;
        if let Some(fault) = chain.and_then(|c| refuse_reentrant(*object, &entry.busy, c)) {
            return Err(fault);
        }
        if !entry.queued.enter(self.engine.max_queued) {
            return Err(Fault::Busy);
        }
        reply.queued = Some(entry.queued.clone());
        Ok(entry.addr())
    }

    /// Counts a reply against the connection's bound on calls in flight;
    /// `None` (after answering `Busy`) when the bound is reached.
    fn counted(&self, mut reply: ReplyTo) -> Option<ReplyTo> {
        let n = self.in_flight.fetch_add(1, Ordering::Relaxed);
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
            Message::Request(call, op, mut meta) => {
                let Some(writer) = self.writer.clone() else {
                    return;
                };
                let hub = self.engine.hub.clone();
                let reply = self.reply_to(call, Sink::Wire { writer, hub });
                let handles = std::mem::take(&mut meta.1);
                let landing = match handles.is_empty() {
                    true => None,
                    false => Landing::new(&self.engine.hub, Flight::Lent(handles.clone())),
                };
                self.request(Incoming {
                    op,
                    body: frame.body,
                    reply,
                    chain: Chain::arrived(meta),
                    landing,
                    handles,
                });
            }
            Message::Ping { seq } => {
                if let Some(w) = &self.writer {
                    // A closed writer means the session is ending anyway.
                    let _ = w.send(&Message::Pong { seq }, Bytes::new());
                }
            }
            Message::Pong { .. } => {}
            Message::FeedItem { feed, head } => self.feed_item(feed, head, frame.body),
            other => {
                if !self.on_message(other) {
                    tracing::warn!(peer = %self.peer, "unexpected message; closing session");
                    ctx.stop();
                }
            }
        }
    }

    /// A one-way message about holds; false for one a session never gets.
    fn on_message(&mut self, message: Message) -> bool {
        let holder = self.holder();
        let e = &self.engine;
        match message {
            Message::Release { objects } => objects.iter().for_each(|id| e.let_go(id, holder)),
            Message::Hold { objects } => objects.iter().for_each(|id| {
                // A hold on an object already gone holds nothing: the
                // handle's calls fail with NoSuchObject.
                e.hold(id, holder);
            }),
            Message::Lent { objects } => objects.iter().for_each(|id| e.fly(id, 1)),
            Message::Arrived { objects } => objects.iter().for_each(|id| e.fly(id, -1)),
            Message::Directory { engines } => e.hub.learn(&engines),
            Message::FeedEnd { feed, error } => crate::proxy::feed::ended(feed, error),
            Message::Cancel { call } => e.cancel(self.id, call),
            Message::Credit {
                call,
                items,
                bytes,
                window_items,
                window_bytes,
            } => e.credit(self.id, call, (items, bytes), (window_items, window_bytes)),
            _ => return false,
        }
        true
    }

    fn on_local(&mut self, item: LocalItem) {
        match item {
            LocalItem::Request {
                call,
                op,
                meta,
                body,
                leases,
                reply,
            } => {
                let hub = self.engine.hub.clone();
                let handles = leases.iter().map(crate::value::Lease::handle).collect();
                let landing = Landing::new(&hub, Flight::Leases(leases));
                let reply = self.reply_to(call, Sink::Local { tx: reply, hub });
                self.request(Incoming {
                    op,
                    body: AlignedBuf::from_slice(&body),
                    reply,
                    chain: Chain::arrived(meta),
                    landing,
                    handles,
                });
            }
            LocalItem::Message(Message::FeedItem { feed, head }, body) => {
                self.feed_item(feed, head, AlignedBuf::from_slice(&body))
            }
            LocalItem::Message(m, _) => {
                if !self.on_message(m) {
                    tracing::warn!("unexpected local message");
                }
            }
        }
    }

    /// An item of a feed for a method of this engine; its credit goes back
    /// to this peer.
    fn feed_item(&self, feed: u64, head: Vec<u8>, body: AlignedBuf) {
        let to = || match &self.writer {
            Some(w) => crate::proxy::feed::CreditTo::Wire(w.clone()),
            None => crate::proxy::feed::CreditTo::Local(self.engine.hub.clone()),
        };
        crate::proxy::feed::arrived(feed, self.id, to, head, body);
    }

    /// Counts a request (and, if it queues on an object, against the
    /// connection's bound), then routes it.
    fn request(&mut self, mut r: Incoming) {
        let e = &self.engine;
        e.requests.set(e.requests.get() + 1);
        // The serve span: the method runs in it (with the chain), and it
        // closes with the reply.
        let (span, nested) = crate::telemetry::spans::serve_span(
            e.node,
            self.peer,
            &r.op,
            r.reply.call,
            r.chain.trace,
        );
        r.chain.trace = nested;
        r.chain.span = span.clone();
        r.reply.span = span;
        // Work that queues on objects counts against the bound; the
        // engine's own bookkeeping does not.
        let queues = matches!(
            r.op,
            Op::Get(_)
                | Op::GetBulk(_)
                | Op::Lend(_)
                | Op::Call(_)
                | Op::Combine(..)
                | Op::Apply { .. }
                | Op::Push { .. }
        );
        if queues {
            r.reply = match self.counted(r.reply) {
                Some(reply) => reply,
                None => return,
            };
        }
        self.route(r);
    }

    /// One arm per op, each a function of its own.
    fn route(&mut self, r: Incoming) {
        let Incoming {
            op,
            body,
            reply,
            chain,
            landing,
            handles,
        } = r;
        match op {
            Op::Put {
                object,
                type_name,
                head,
            } => self.put(
                object,
                &type_name,
                head,
                body,
                &handles,
                Some(self.holder()),
                reply,
            ),
            Op::Deliver {
                object,
                type_name,
                head,
            } => self.put(object, &type_name, head, body, &handles, None, reply),
            Op::Get(object) => self.fetch(object, reply, chain, false),
            Op::GetBulk(object) => self.fetch(object, reply, chain, true),
            Op::Lend(object) => self.lend(object, reply, chain),
            Op::Adopt {
                object,
                type_name,
                token,
            } => self.adopt(object, &type_name, token, reply),
            Op::Pair { token, bulk } => self.pair(token, bulk, reply),
            Op::Call(CallOp(object, method, args, keep)) => {
                let call = (Target::Method(method), args, keep, None);
                self.invoke(object, call, reply, chain, landing)
            }
            Op::Combine(CallOp(object, method, args, keep), other) => {
                let call = (Target::Method(method), args, keep, Some(other));
                self.invoke(object, call, reply, chain, landing)
            }
            Op::Apply {
                object,
                function,
                args,
                keep,
            } => self.apply(object, function, args, keep, reply, chain, landing),
            Op::Expect { object, type_name } => self.expect(object, &type_name, reply),
            Op::Push {
                source,
                object,
                to,
                addr,
            } => self.push(source, object, to, addr, reply),
            Op::Fail { object, fault } => {
                if let Some(addr) = self.engine.waiting_actor(&object) {
                    self.engine.deliver(Keep { id: object, addr }, Err(fault));
                }
                reply.done();
            }
            Op::Attach(object) => self.attach(object, reply),
            Op::Claim {
                name,
                object,
                type_name,
            } => super::names::claim(self.engine.clone(), name, object, type_name, reply),
            Op::Lookup(name) => super::names::lookup(&self.engine, &name, reply),
            Op::Pin { object, name } => super::names::pin(&self.engine, object, name, reply),
            Op::Unname { name, object } => super::names::unname(&self.engine, &name, object, reply),
            Op::Kill(object) => super::names::kill(&self.engine, object, reply),
            Op::List => {
                let listing = self.engine.objects.borrow().listing();
                reply.outcome(Outcome::Listing(listing), Bytes::new());
            }
            Op::Stats => reply.outcome(Outcome::Stats(Box::new(self.engine.stats())), Bytes::new()),
            Op::Shutdown => {
                reply.done();
                self.engine.stop.notify_one();
            }
        }
    }
}

/// The local session's items as a stream.
fn tokio_stream_of(
    mut items: tokio::sync::mpsc::UnboundedReceiver<LocalItem>,
) -> impl futures::Stream<Item = LocalItem> {
    futures::stream::poll_fn(move |cx| items.poll_recv(cx))
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.engine.sessions.borrow_mut().insert(
            self.id,
            (ctx.address(), self.in_flight.clone(), self.writer.clone()),
        );
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(w) = &self.writer {
            w.close();
            let e = &self.engine;
            e.bytes_sent_closed
                .set(e.bytes_sent_closed.get() + w.bytes_sent());
        }
        if let Some(token) = self.listed_as.take() {
            self.engine.bulk_links.borrow_mut().remove(&token);
        }
        self.engine.holder_of.borrow_mut().remove(&self.id);
        crate::proxy::feed::session_ended(self.id);
        // Its peer is gone: so are its holds (a name is not a session's).
        debug_assert_ne!(self.id, NAMED);
        self.engine.let_go_everywhere(self.id);
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

impl StreamHandler<LocalItem> for Session {
    fn handle(&mut self, item: LocalItem, _: &mut Context<Self>) {
        self.on_local(item);
    }
}

impl Handler<Close> for Session {
    type Result = ();

    fn handle(&mut self, _: Close, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
