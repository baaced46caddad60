//! [`EngineState`]: what every session and object actor of one engine
//! shares, on the engine's one thread.

use super::hosted::Produced;
use super::object::{catch, Filled, Held, Keep, ObjectActor, Operand, Shared, Stored};
use super::object_engine::{Entry, ObjectTable};
use super::registry;
use super::session::Session;
use crate::id::{NodeId, ObjectId};
use crate::net::tls::Identity;
use crate::net::wire::{EngineStats, Fault};
use crate::net::{AlignedBuf, ClusterKey, FrameWriter, Limits, LinkOptions, NetError};
use actix::{Actor, Addr};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

/// A live session: its actor and its count of calls in flight.
pub(crate) type SessionEntry = (Addr<Session>, Arc<AtomicUsize>);

/// What every session of one engine shares (all on the engine's one thread).
pub(crate) struct EngineState {
    pub(crate) node: NodeId,
    pub(crate) key: ClusterKey,
    pub(crate) limits: Limits,
    pub(crate) peers: super::peers::Peers,
    /// Calls one connection may have in flight before new ones get `Busy`.
    pub(crate) max_in_flight: usize,
    /// Calls one object may have queued before new ones get `Busy`.
    pub(crate) max_queued: usize,
    /// Which links are TLS, and how they notice a dead peer.
    pub(crate) links: LinkOptions,
    /// The cluster key's fingerprint: in-process handoffs go only between
    /// engines with the same one.
    pub(crate) fingerprint: [u8; 32],
    /// This engine's TLS certificate, made when the first TLS link comes.
    pub(super) identity: RefCell<Option<Identity>>,
    pub(crate) objects: RefCell<ObjectTable>,
    pub(crate) sessions: RefCell<HashMap<u64, SessionEntry>>,
    pub(crate) stop: Notify,
    pub(crate) requests: Cell<u64>,
    pub(crate) calls: Cell<u64>,
    pub(crate) bytes_received: Cell<u64>,
    /// Kept results on their way to their waiting objects.
    pub(super) deliveries: RefCell<HashMap<ObjectId, Result<Held, Fault>>>,
    /// Each object's value as an operand for others, and who waits for it.
    pub(crate) snapshots: RefCell<super::snapshots::Snapshots>,
    /// Objects released while still waiting for their value: they live on
    /// until it comes, to run the calls already queued on them.
    pub(super) orphans: RefCell<HashMap<ObjectId, Addr<ObjectActor>>>,
    pub(super) next_session: Cell<u64>,
    /// Clients' bulk connections, by the token that pairs each with its
    /// main connection (large replies go back on them).
    pub(crate) bulk_links: RefCell<HashMap<u64, FrameWriter>>,
}

impl EngineState {
    /// A value from its encoding: hosted when its type is registered here,
    /// else stored as it is.
    pub(crate) fn held_from(
        type_name: &str,
        head: Vec<u8>,
        body: AlignedBuf,
    ) -> Result<Held, Fault> {
        match registry::lookup(type_name) {
            Some(entry) => catch(|| (entry.host)(&head, body))
                .and_then(|r| r)
                .map(Held::Hosted),
            None => Ok(Held::Stored(Stored {
                type_name: type_name.to_owned(),
                head,
                body: body.into_bytes(),
            })),
        }
    }

    /// Starts an object's actor and enters it in the table.
    pub(crate) fn insert(
        self: &Rc<Self>,
        id: ObjectId,
        held: Held,
        type_name: &str,
        nbytes: u64,
        owner: u64,
    ) -> Result<Addr<ObjectActor>, Fault> {
        let mut table = self.objects.borrow_mut();
        if table.contains(&id) {
            return Err(Fault::Refused(format!("object id {id:#} is in use")));
        }
        let snapshot = match held {
            Held::Pending => None,
            ref other => Some(other.snapshot()),
        };
        self.snapshots.borrow_mut().insert(id, snapshot);
        let addr = ObjectActor::new(id, held, Rc::downgrade(self)).start();
        let entry = Entry {
            addr: addr.clone(),
            queued: Default::default(),
            type_name: Rc::from(type_name),
            nbytes,
            owner,
        };
        table.insert(id, entry);
        Ok(addr)
    }

    /// A value arrived for `object`: it fills the placeholder waiting for
    /// it, or (when it came before its announcement) becomes a new object
    /// owned by session `owner`.
    pub(crate) fn fill_or_insert(
        self: &Rc<Self>,
        object: ObjectId,
        held: Result<Held, Fault>,
        type_name: &str,
        nbytes: u64,
        owner: u64,
    ) -> Result<(), Fault> {
        if let Some(addr) = self.waiting_actor(&object) {
            if let Some(entry) = self.objects.borrow_mut().get_mut(&object) {
                entry.nbytes = nbytes;
            }
            let failed = held.as_ref().err().cloned();
            self.deliver(Keep { id: object, addr }, held);
            return match failed {
                None => Ok(()),
                Some(f) => Err(f),
            };
        }
        held.and_then(|held| self.insert(object, held, type_name, nbytes, owner))
            .map(|_| ())
    }

    /// A call's result as something an object actor can hold.
    pub(crate) fn held_from_produced(produced: Produced) -> Result<Held, Fault> {
        match produced {
            Produced::Object(obj) => Ok(Held::Hosted(obj)),
            Produced::Value(enc, type_name) => {
                if registry::lookup(type_name).is_some() {
                    Self::held_from(type_name, enc.head, AlignedBuf::from_slice(&enc.body))
                } else {
                    Ok(Held::Stored(Stored {
                        type_name: type_name.to_owned(),
                        head: enc.head,
                        body: enc.body,
                    }))
                }
            }
        }
    }

    /// Hands a kept result to its waiting object (which runs the calls
    /// queued on it, even if its client has released it meanwhile).
    pub(crate) fn deliver(&self, keep: Keep, result: Result<Held, Fault>) {
        self.orphans.borrow_mut().remove(&keep.id);
        if let (Some(entry), Ok(held)) = (self.objects.borrow_mut().get_mut(&keep.id), &result) {
            entry.type_name = Rc::from(held.type_name());
        }
        self.deliveries.borrow_mut().insert(keep.id, result);
        keep.addr.do_send(Filled);
    }

    /// Announces a call that may change a shareable object (see
    /// `Snapshots`); false when the object is no operand.
    pub(crate) fn announce_change(&self, id: &ObjectId) -> bool {
        self.snapshots.borrow_mut().announce(id)
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

    /// Releases an object for its client. One still waiting for its value
    /// lives on as an orphan until the value comes.
    pub(crate) fn release(&self, id: &ObjectId) {
        let removed = self.objects.borrow_mut().remove(id);
        if let Some(entry) = removed {
            if self.is_pending(id) {
                self.orphans.borrow_mut().insert(*id, entry.addr);
            }
        }
        self.forget(id);
    }

    /// The actor of an object waiting for its value (live or orphaned).
    pub(crate) fn waiting_actor(&self, id: &ObjectId) -> Option<Addr<ObjectActor>> {
        let live = self.objects.borrow().get(id).map(|e| e.addr.clone());
        live.filter(|_| self.is_pending(id))
            .or_else(|| self.orphans.borrow().get(id).cloned())
    }

    /// An object as the operand of a call on another object.
    pub(crate) fn operand(&self, id: &ObjectId) -> Option<Operand> {
        self.snapshots.borrow_mut().operand(id)
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

    /// The counters.
    pub(crate) fn stats(&self) -> EngineStats {
        EngineStats {
            objects: self.objects.borrow().len() as u64,
            requests: self.requests.get(),
            calls: self.calls.get(),
            bytes_received: self.bytes_received.get(),
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
