//! [`EngineState`]: what every session and object actor of one engine
//! shares, on the engine's one thread.

use super::hosted::Produced;
use super::object::{catch, Filled, Held, Keep, ObjectActor, Operand, Shared, Stored};
use super::registry;
use super::session::Session;
use super::table::{ActorState, Entry, Holder, NewEntry, ObjectTable};
use crate::id::{CallId, NodeId, ObjectId};
use crate::net::tls::Identity;
use crate::net::wire::{EngineStats, Fault, HandleRef, Message};
use crate::net::{AlignedBuf, FrameWriter, NetError};
use crate::proxy::ObjectHub;
use actix::{Actor, Addr};
use foldhash::HashMap;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

/// A live session: its actor and its count of calls in flight.
/// A live session: its actor, its count of calls in flight, and its
/// peer's connection (none for the local session).
pub(crate) type SessionEntry = (Addr<Session>, Arc<AtomicUsize>, Option<FrameWriter>);

/// What every session of one engine shares (all on the engine's one thread).
pub(crate) struct EngineState {
    pub(crate) node: NodeId,
    /// Where this engine listens.
    pub(crate) addr: Option<std::net::SocketAddr>,
    /// The hub of this engine's own code: its handles, its calls to this
    /// engine (through the local session) and to others.
    pub(crate) hub: ObjectHub,
    /// Calls one connection may have in flight before new ones get `Busy`.
    pub(crate) max_in_flight: usize,
    /// Calls one object may have queued before new ones get `Busy`.
    pub(crate) max_queued: usize,
    /// How long a stop lets the calls in flight finish.
    pub(crate) drain_deadline: std::time::Duration,
    /// The cluster key's fingerprint: in-process handoffs go only between
    /// engines with the same one.
    pub(crate) fingerprint: [u8; 32],
    /// This engine's TLS certificate, made when the first TLS link comes.
    pub(super) identity: RefCell<Option<Identity>>,
    pub(crate) objects: RefCell<ObjectTable>,
    pub(crate) sessions: RefCell<HashMap<u64, SessionEntry>>,
    pub(crate) stop: Notify,
    pub(crate) requests: Cell<u64>,
    /// Frame bytes sent by sessions that have ended.
    pub(crate) bytes_sent_closed: Cell<u64>,
    pub(crate) calls: Cell<u64>,
    pub(crate) bytes_received: Cell<u64>,
    /// Kept results on their way to their waiting objects.
    pub(super) deliveries: RefCell<HashMap<ObjectId, Result<Held, Fault>>>,
    /// Each object's value as an operand for others, and who waits for it.
    pub(crate) snapshots: RefCell<super::snapshots::Snapshots>,
    /// Objects released while still waiting for their value: they live on
    /// until it comes, to run the calls already queued on them.
    pub(super) orphans: RefCell<HashMap<ObjectId, Addr<ObjectActor>>>,
    /// Memory given back after large releases.
    pub(super) trimmer: Rc<super::trim::Trimmer>,
    pub(super) next_session: Cell<u64>,
    pub(super) next_timer: Cell<u64>,
    /// Clients' bulk connections (writer and session), by the token that
    /// pairs each with its main connection (large replies go back on them).
    pub(crate) bulk_links: RefCell<HashMap<u64, (FrameWriter, u64)>>,
    /// The holder a bulk session's objects belong to: its main session.
    pub(crate) holder_of: RefCell<HashMap<u64, Holder>>,
    /// The names whose directory entries this engine keeps.
    /// (Keyed by what peers send, so with std's flood-resistant hasher.)
    pub(crate) names: RefCell<std::collections::HashMap<String, (HandleRef, String)>>,
    /// Objects killed here, so that calls on them say so.
    pub(crate) killed: RefCell<lru::LruCache<ObjectId, ()>>,
    /// Calls withdrawn before they started, by session and call id: dropped
    /// when their object comes to them (bounded: a cancel that came after
    /// its call was answered leaves an entry nobody takes).
    pub(crate) cancelled: RefCell<lru::LruCache<(u64, CallId), ()>>,
    /// The async methods running now, by session and call id, so that a
    /// cancel can stop them.
    pub(crate) running: RefCell<HashMap<(u64, CallId), Rc<Stop>>>,
    /// The credit of the streams being sent, by session and call id.
    pub(crate) credits: RefCell<HashMap<(u64, CallId), Rc<super::stream::Credit>>>,
}

/// How a running async method is told to stop: a flag and the waker of
/// the task that polls it.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    stopped: Cell<bool>,
    waker: RefCell<Option<std::task::Waker>>,
}

impl Stop {
    /// Stops the method at its next poll (woken now).
    pub(crate) fn stop(&self) {
        self.stopped.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Whether it was stopped; else remembers who to wake.
    pub(crate) fn check(&self, cx: &std::task::Context<'_>) -> bool {
        if self.stopped.get() {
            return true;
        }
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        false
    }
}

/// How many killed objects an engine remembers as killed (older ones are
/// reported as unknown), and how many withdrawn calls it remembers.
pub(crate) const KILLED_REMEMBERED: usize = 1 << 16;

impl EngineState {
    /// A value from its encoding: hosted when its type is registered here
    /// (handles inside it bound to this engine's hub), else stored as it
    /// is (with this engine's holds on the handles it came listed with).
    pub(crate) fn held_from(
        &self,
        type_name: &str,
        head: Vec<u8>,
        body: AlignedBuf,
        handles: &[HandleRef],
    ) -> Result<Held, Fault> {
        match registry::lookup(type_name) {
            Some(entry) => crate::proxy::handles::binding(&self.hub, || {
                catch(|| (entry.host)(&head, body)).and_then(|r| r)
            })
            .map(Held::Hosted),
            None => Ok(Held::Stored(Stored {
                type_name: type_name.to_owned(),
                head,
                body: body.into_bytes(),
                leases: self.hub.lease_all(handles),
            })),
        }
    }

    /// Enters an object waiting for its value (calls on it wait in its
    /// actor's mailbox), held by `holder` (or by nobody yet).
    pub(crate) fn insert_pending(
        self: &Rc<Self>,
        id: ObjectId,
        type_name: &str,
        holder: Option<Holder>,
    ) -> Result<Addr<ObjectActor>, Fault> {
        self.vacant(&id)?;
        let busy = super::object::Busy::default();
        let addr = ObjectActor::new(id, Held::Pending, Rc::downgrade(self), busy.clone()).start();
        self.snapshots.borrow_mut().insert(id, None);
        self.enter(
            id,
            ActorState::Live(addr.clone()),
            busy,
            type_name,
            0,
            holder,
        );
        Ok(addr)
    }

    /// Enters an object holding `held`, held by `holder` (or by nobody
    /// yet). A small one's actor starts at its first call; a large one's at
    /// once (its value is freed aside when the actor stops).
    pub(crate) fn insert(
        self: &Rc<Self>,
        id: ObjectId,
        held: Held,
        type_name: &str,
        nbytes: u64,
        holder: Option<Holder>,
    ) -> Result<(), Fault> {
        self.vacant(&id)?;
        // A value that is no operand needs no slot (see `operand`).
        if let Some(value) = held.operand_value() {
            self.snapshots.borrow_mut().insert(id, Some(value));
        }
        let busy = super::object::Busy::default();
        let size = match &held {
            Held::Hosted(h) => nbytes.max(h.nbytes() as u64),
            _ => nbytes,
        };
        let actor = ObjectActor::new(id, held, Rc::downgrade(self), busy.clone());
        let actor = if size >= crate::net::buf::DROP_ASIDE as u64 {
            ActorState::Live(actor.start())
        } else {
            ActorState::Dormant(Box::new(actor))
        };
        self.enter(id, actor, busy, type_name, nbytes, holder);
        Ok(())
    }

    fn vacant(&self, id: &ObjectId) -> Result<(), Fault> {
        match self.objects.borrow().contains(id) {
            true => Err(Fault::Refused(format!("object id {id:#} is in use"))),
            false => Ok(()),
        }
    }

    fn enter(
        &self,
        id: ObjectId,
        actor: ActorState,
        busy: super::object::Busy,
        type_name: &str,
        nbytes: u64,
        holder: Option<Holder>,
    ) {
        let new = NewEntry {
            actor,
            busy,
            type_name,
            nbytes,
            holder,
        };
        self.objects.borrow_mut().insert(id, new);
    }

    /// A value arrived for `object`: it fills the placeholder waiting for
    /// it, or (when it came before its announcement) becomes a new object
    /// held by `holder` (or by nobody yet, for a copy whose client says so
    /// with its `Expect`).
    pub(crate) fn fill_or_insert(
        self: &Rc<Self>,
        object: ObjectId,
        held: Result<Held, Fault>,
        type_name: &str,
        nbytes: u64,
        holder: Option<Holder>,
    ) -> Result<(), Fault> {
        if let Some(addr) = self.waiting_actor(&object) {
            self.objects.borrow_mut().set_nbytes(&object, nbytes);
            let failed = held.as_ref().err().cloned();
            self.deliver(Keep { id: object, addr }, held);
            return match failed {
                None => Ok(()),
                Some(f) => Err(f),
            };
        }
        held.and_then(|held| self.insert(object, held, type_name, nbytes, holder))
    }

    /// A call's result as something an object actor can hold (the
    /// encoding's leases keep its handles until it is decoded here).
    pub(crate) fn held_from_produced(&self, produced: Produced) -> Result<Held, Fault> {
        match produced {
            Produced::Object(obj) => Ok(Held::Hosted(obj)),
            Produced::Stream(_) => Err(Fault::Refused(
                "a streamed result cannot be kept on the engine".into(),
            )),
            Produced::Value(enc, type_name) => {
                if registry::lookup(type_name).is_some() {
                    let body = AlignedBuf::from_slice(&enc.body);
                    self.held_from(type_name, enc.head, body, &[])
                } else {
                    Ok(Held::Stored(Stored {
                        type_name: type_name.to_owned(),
                        head: enc.head,
                        body: enc.body,
                        leases: enc.leases,
                    }))
                }
            }
        }
    }

    /// Hands a kept result to its waiting object (which runs the calls
    /// queued on it, even if its client has released it meanwhile).
    pub(crate) fn deliver(&self, keep: Keep, result: Result<Held, Fault>) {
        self.orphans.borrow_mut().remove(&keep.id);
        if let Ok(held) = &result {
            let mut table = self.objects.borrow_mut();
            let name = table.intern(held.type_name());
            if let Some(entry) = table.get_mut(&keep.id) {
                entry.type_name = name;
            }
        }
        self.deliveries.borrow_mut().insert(keep.id, result);
        keep.addr.do_send(Filled);
    }

    /// Announces a call that may change a shareable object (see
    /// `Snapshots`); false when the object is no operand.
    pub(crate) fn announce_change(&self, id: &ObjectId) -> bool {
        self.snapshots.borrow_mut().announce(id)
    }

    /// Sets an object's published value aside while a call runs on it
    /// (see `Snapshots::set_aside`).
    pub(crate) fn set_aside(&self, id: &ObjectId) -> bool {
        self.snapshots.borrow_mut().set_aside(id)
    }

    /// An announced change has run, leaving `value`.
    pub(crate) fn change_done(&self, id: &ObjectId, value: Shared) {
        self.snapshots.borrow_mut().change_done(id, value);
    }

    /// Whether the object is waiting for its value.
    pub(crate) fn is_pending(&self, id: &ObjectId) -> bool {
        self.snapshots.borrow().is_pending(id) || self.orphans.borrow().contains_key(id)
    }

    /// Publishes an object's operand value, waking the calls that wait for it.
    pub(crate) fn publish(&self, id: ObjectId, value: Shared) {
        self.snapshots.borrow_mut().publish(&id, value);
    }

    /// `holder` lets go of the object; it goes if nothing keeps it now.
    pub(crate) fn let_go(&self, id: &ObjectId, holder: Holder) {
        let unheld = self.objects.borrow_mut().let_go(id, holder);
        if unheld {
            self.release(id);
        }
    }

    /// `holder` holds the object (once more); false if there is none.
    pub(crate) fn hold(&self, id: &ObjectId, holder: Holder) -> bool {
        self.objects.borrow_mut().hold(id, holder)
    }

    /// `n` handles to the object went into flight (`n < 0`: arrived); it
    /// goes if nothing keeps it now.
    pub(crate) fn fly(&self, id: &ObjectId, n: i64) {
        let unheld = self.objects.borrow_mut().fly(id, n);
        if unheld {
            self.release(id);
        }
    }

    /// A holder went away (its session ended): its holds go, and the
    /// objects nothing keeps now.
    pub(crate) fn let_go_everywhere(&self, holder: Holder) {
        let unheld = self.objects.borrow_mut().let_go_everywhere(holder);
        for id in unheld {
            self.release(&id);
        }
    }

    /// The holder id of session `session`: its own, or (a client's bulk
    /// connection) its main connection's.
    pub(crate) fn holder_of(&self, session: u64) -> Holder {
        self.holder_of
            .borrow()
            .get(&session)
            .copied()
            .unwrap_or(session)
    }

    /// Ends an object for every holder; calls on it say it was killed.
    /// Its name, if any, is unnamed on the name's directory engine.
    /// Gives the object's name, if it had one (`None`: no such object).
    pub(crate) fn kill(&self, id: &ObjectId) -> Option<Option<String>> {
        let name = self.objects.borrow().get(id)?.name.clone();
        self.killed.borrow_mut().put(*id, ());
        self.release(id);
        Some(name)
    }

    /// Whether the object was killed here.
    pub(crate) fn is_killed(&self, id: &ObjectId) -> bool {
        self.killed.borrow().contains(id)
    }

    /// The fault for a call on an object that is not in the table.
    pub(crate) fn missing(&self, id: &ObjectId) -> Fault {
        if self.is_killed(id) {
            Fault::Killed(*id)
        } else {
            Fault::NoSuchObject(*id)
        }
    }

    /// Drops the object from the table. One still waiting for its value
    /// lives on as an orphan until the value comes.
    pub(crate) fn release(&self, id: &ObjectId) {
        let removed = self.objects.borrow_mut().remove(id);
        if let Some(entry) = removed {
            self.trimmer.released(entry.nbytes());
            if self.is_pending(id) {
                if let Some(addr) = entry.live() {
                    self.orphans.borrow_mut().insert(*id, addr);
                }
            }
        }
        self.forget(id);
    }

    /// The actor of an object waiting for its value (live or orphaned).
    pub(crate) fn waiting_actor(&self, id: &ObjectId) -> Option<Addr<ObjectActor>> {
        let live = self.objects.borrow().get(id).and_then(Entry::live);
        live.filter(|_| self.is_pending(id))
            .or_else(|| self.orphans.borrow().get(id).cloned())
    }

    /// An object as the operand of a call on another object.
    pub(crate) fn operand(&self, id: &ObjectId) -> Option<Operand> {
        let published = self.snapshots.borrow_mut().operand(id);
        published.or_else(|| {
            let objects = self.objects.borrow();
            let entry = objects.get(id)?;
            Some(Operand::Ready(Err(super::object::not_an_operand(
                &entry.type_name,
            ))))
        })
    }

    /// Forgets the snapshots of objects no longer in the table (keeping
    /// those that calls still wait for, until they are published).
    pub(crate) fn prune_snapshots(&self) {
        let table = self.objects.borrow();
        self.snapshots.borrow_mut().retain(|id| table.contains(id));
    }

    /// Forgets a released object's snapshot, unless calls still wait for it.
    pub(crate) fn forget(&self, id: &ObjectId) {
        self.snapshots.borrow_mut().release(id);
    }

    /// Takes a delivered result (the waiting object's actor calls this).
    pub(crate) fn take_delivery(&self, id: &ObjectId) -> Option<Result<Held, Fault>> {
        self.deliveries.borrow_mut().remove(id)
    }

    /// Session `session` withdrew call `call`: stop it if an async method
    /// runs it, else drop it when its object comes to it.
    pub(crate) fn cancel(&self, session: u64, call: CallId) {
        if let Some(stop) = self.running.borrow().get(&(session, call)) {
            return stop.stop();
        }
        self.cancelled.borrow_mut().put((session, call), ());
    }

    /// The caller of a stream consumed more of it (see `Message::Credit`).
    pub(crate) fn credit(
        &self,
        session: u64,
        call: CallId,
        consumed: (u64, u64),
        window: (u64, u64),
    ) {
        if let Some(c) = self.credits.borrow().get(&(session, call)) {
            c.grant(consumed.0, consumed.1, window.0, window.1);
        }
    }

    /// Whether the call was withdrawn (and forgets that it was).
    pub(crate) fn take_cancelled(&self, session: u64, call: CallId) -> bool {
        let mut cancelled = self.cancelled.borrow_mut();
        !cancelled.is_empty() && cancelled.pop(&(session, call)).is_some()
    }

    /// Tells the holders of `object` (their connections) `message`.
    pub(crate) fn tell_holders(&self, object: &ObjectId, message: &Message) {
        let holders = self.objects.borrow().holders(object);
        let sessions = self.sessions.borrow();
        for h in holders {
            if let Some((_, _, Some(writer))) = sessions.get(&h) {
                // A holder whose connection closes meanwhile is gone.
                let _ = writer.send(message, bytes::Bytes::new());
            }
        }
    }

    /// A fresh timer id.
    pub(crate) fn new_timer_id(&self) -> u64 {
        let id = self.next_timer.get() + 1;
        self.next_timer.set(id);
        id
    }

    /// Enters a timer of `object` (ended at once if the object is gone).
    pub(crate) fn add_timer(&self, object: &ObjectId, id: u64, task: tokio::task::AbortHandle) {
        match self.objects.borrow_mut().get_mut(object) {
            Some(entry) => entry.timers.push((id, task)),
            None => task.abort(),
        }
    }

    /// Ends a timer of `object`.
    pub(crate) fn end_timer(&self, object: &ObjectId, id: u64) {
        if let Some(entry) = self.objects.borrow_mut().get_mut(object) {
            if let Some(i) = entry.timers.iter().position(|(t, _)| *t == id) {
                entry.timers.swap_remove(i).1.abort();
            }
        }
    }

    /// A fresh session id.
    pub(crate) fn new_session_id(&self) -> u64 {
        let id = self.next_session.get();
        self.next_session.set(id + 1);
        id
    }

    /// The counters.
    pub(crate) fn stats(&self) -> EngineStats {
        use std::sync::atomic::Ordering::Relaxed;
        let in_flight = self
            .sessions
            .borrow()
            .values()
            .map(|(_, n, _)| n.load(Relaxed) as u64)
            .sum();
        let live_sent: u64 = self
            .sessions
            .borrow()
            .values()
            .filter_map(|(_, _, w)| w.as_ref().map(|w| w.bytes_sent()))
            .sum();
        let objects = self.objects.borrow();
        EngineStats {
            in_flight,
            queued: objects.queued(),
            objects: objects.len() as u64,
            requests: self.requests.get(),
            calls: self.calls.get(),
            bytes_received: self.bytes_received.get(),
            bytes_sent: self.bytes_sent_closed.get() + live_sent,
            bytes_held: objects.nbytes(),
            rss_bytes: crate::telemetry::meters::rss_bytes(),
        }
    }
}

impl EngineState {
    /// This engine's TLS identity, made on first use.
    pub(super) fn identity(&self) -> Result<Identity, NetError> {
        if let Some(id) = self.identity.borrow().as_ref() {
            return Ok(id.clone());
        }
        let id = Identity::generate()?;
        *self.identity.borrow_mut() = Some(id.clone());
        Ok(id)
    }
}
