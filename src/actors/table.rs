//! [`ObjectTable`]: the engine's table of its objects, keyed by id (the
//! engine side of [`ObjectEngine`](crate::cluster::ObjectEngine)), with each
//! object's holders and handles in flight.
//!
//! An object lives while it has a holder — a session (a client's hub, or
//! another engine's, or this engine's own local session) that holds
//! handles to it, or a name — or handles to it are in flight. Counts of
//! handles in flight may go below zero for a moment: a receiver's
//! `Arrived` can overtake the sender's `Lent` (they travel on different
//! links), and the sender, who still holds the object then, keeps it alive
//! meanwhile.

use super::object::ObjectActor;
use crate::id::ObjectId;
use crate::net::wire::ObjectInfo;
use actix::Addr;
use foldhash::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// Who holds an object: a session's holder id (see `Session`), or a name.
pub(crate) type Holder = u64;

/// The holder that a name is: a named object lives until killed.
pub(crate) const NAMED: Holder = u64::MAX - 1;

/// An object's actor: running, or not started yet. A small value that
/// arrives is kept as the actor it will be, and started at its first call:
/// most objects of a large scatter are never called before they go, and a
/// running actor (its mailbox and task) costs several times its value.
pub(crate) enum ActorState {
    /// Started: calls go to its mailbox.
    Live(Addr<ObjectActor>),
    /// Not started: no call has come yet.
    Dormant(Box<ObjectActor>),
}

impl std::fmt::Debug for ActorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ActorState::Live(_) => "Live",
            ActorState::Dormant(_) => "Dormant",
        })
    }
}

/// Calls queued on (or running in) one object's actor, counted in its
/// table's total as well: what the gauges read each second without walking
/// a table of a million objects.
#[derive(Debug)]
pub(crate) struct Queued {
    here: AtomicUsize,
    all: Arc<AtomicUsize>,
}

impl Queued {
    /// Counts a call in, unless `max` are queued on the object already.
    pub(crate) fn enter(&self, max: usize) -> bool {
        if self.here.fetch_add(1, Relaxed) >= max {
            self.here.fetch_sub(1, Relaxed);
            return false;
        }
        self.all.fetch_add(1, Relaxed);
        true
    }

    /// Counts a call out (its reply went, or it was dropped).
    pub(crate) fn leave(&self) {
        self.here.fetch_sub(1, Relaxed);
        self.all.fetch_sub(1, Relaxed);
    }
}

/// One object: its actor, what a listing says of it, and who keeps it.
#[derive(Debug)]
pub(crate) struct Entry {
    actor: ActorState,
    /// The chain of the async method holding its mailbox, if any.
    pub(crate) busy: super::object::Busy,
    /// Calls queued on (or running in) the object's actor.
    pub(crate) queued: Arc<Queued>,
    pub(crate) type_name: Rc<str>,
    nbytes: u64,
    /// Its holders, each with how many holds it registered.
    holders: Vec<(Holder, u32)>,
    /// Handles to it lent and not yet arrived.
    in_flight: i64,
    /// Its name, when it has one.
    pub(crate) name: Option<String>,
    /// Its timers (they end with it).
    pub(crate) timers: Vec<(u64, tokio::task::AbortHandle)>,
}

impl Entry {
    /// The encoded size of the object, as it arrived.
    pub(crate) fn nbytes(&self) -> u64 {
        self.nbytes
    }

    /// The object's actor, started now if it was dormant.
    pub(crate) fn addr(&mut self) -> Addr<ObjectActor> {
        let addr = match &mut self.actor {
            ActorState::Live(addr) => return addr.clone(),
            ActorState::Dormant(actor) => actix::Actor::start(actor.take_out()),
        };
        self.actor = ActorState::Live(addr.clone());
        addr
    }

    /// The actor's address if it is running.
    pub(crate) fn live(&self) -> Option<Addr<ObjectActor>> {
        match &self.actor {
            ActorState::Live(addr) => Some(addr.clone()),
            _ => None,
        }
    }

    fn unheld(&self) -> bool {
        self.holders.is_empty() && self.in_flight <= 0
    }

    fn hold(&mut self, holder: Holder) {
        match self.holders.iter_mut().find(|(h, _)| *h == holder) {
            Some((_, n)) => *n += 1,
            None => self.holders.push((holder, 1)),
        }
    }

    fn let_go(&mut self, holder: Holder) {
        if let Some(i) = self.holders.iter().position(|(h, _)| *h == holder) {
            self.holders[i].1 -= 1;
            if self.holders[i].1 == 0 {
                self.holders.swap_remove(i);
            }
        }
    }
}

/// What a new object starts with (see [`ObjectTable::insert`]).
pub(crate) struct NewEntry<'a> {
    pub(crate) actor: ActorState,
    pub(crate) busy: super::object::Busy,
    pub(crate) type_name: &'a str,
    pub(crate) nbytes: u64,
    pub(crate) holder: Option<Holder>,
}

/// Gives a map's room back once it is under a quarter full (amortised:
/// the map halves its room only after as many removals as it has entries),
/// so that an engine that held many objects does not keep their table.
pub(crate) fn shrink<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) -> bool {
    let shrinks = map.capacity() > 1024 && map.len() * 4 < map.capacity();
    if shrinks {
        map.shrink_to(map.len() * 2);
    }
    shrinks
}

/// All objects of one engine.
#[derive(Debug, Default)]
pub(crate) struct ObjectTable {
    map: HashMap<ObjectId, Entry>,
    /// One copy of each type name, shared by every object of the type.
    type_names: std::collections::HashSet<Rc<str>>,
    /// The sum of the objects' sizes.
    nbytes: u64,
    /// Calls queued on every object (each object's [`Queued`] counts in it).
    queued: Arc<AtomicUsize>,
}

impl ObjectTable {
    /// The table's shared copy of a type name.
    pub(crate) fn intern(&mut self, name: &str) -> Rc<str> {
        if let Some(known) = self.type_names.get(name) {
            return known.clone();
        }
        let name: Rc<str> = Rc::from(name);
        self.type_names.insert(name.clone());
        name
    }

    pub(crate) fn get(&self, id: &ObjectId) -> Option<&Entry> {
        self.map.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &ObjectId) -> Option<&mut Entry> {
        self.map.get_mut(id)
    }

    pub(crate) fn contains(&self, id: &ObjectId) -> bool {
        self.map.contains_key(id)
    }

    /// A new object held by `holder` (`None`: nobody yet — a copy that came
    /// before the client that expects it said so).
    pub(crate) fn insert(&mut self, id: ObjectId, new: NewEntry<'_>) {
        let entry = Entry {
            actor: new.actor,
            busy: new.busy,
            queued: Arc::new(Queued {
                here: AtomicUsize::new(0),
                all: self.queued.clone(),
            }),
            type_name: self.intern(new.type_name),
            nbytes: new.nbytes,
            holders: new.holder.map(|h| (h, 1)).into_iter().collect(),
            in_flight: 0,
            name: None,
            timers: Vec::new(),
        };
        self.nbytes += entry.nbytes;
        let old = self.map.insert(id, entry);
        debug_assert!(old.is_none(), "callers check the id is vacant");
        if let Some(old) = old {
            self.nbytes -= old.nbytes;
        }
    }

    /// The object's size is `nbytes` now (its value came).
    pub(crate) fn set_nbytes(&mut self, id: &ObjectId, nbytes: u64) {
        if let Some(e) = self.map.get_mut(id) {
            self.nbytes = self.nbytes - e.nbytes + nbytes;
            e.nbytes = nbytes;
        }
    }

    /// Drops the table's address of the object (its timers end); its actor
    /// stops once the calls already in its mailbox are done.
    pub(crate) fn remove(&mut self, id: &ObjectId) -> Option<Entry> {
        let entry = self.map.remove(id)?;
        self.nbytes -= entry.nbytes;
        for (_, timer) in &entry.timers {
            timer.abort();
        }
        if shrink(&mut self.map) {
            // Names no object uses any more (clients name types, too).
            self.type_names.retain(|n| Rc::strong_count(n) > 1);
        }
        Some(entry)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// `holder` holds the object once more; false when there is no such
    /// object.
    pub(crate) fn hold(&mut self, id: &ObjectId, holder: Holder) -> bool {
        self.map.get_mut(id).map(|e| e.hold(holder)).is_some()
    }

    /// `holder` holds the object once less; true when nothing keeps it now.
    pub(crate) fn let_go(&mut self, id: &ObjectId, holder: Holder) -> bool {
        self.map.get_mut(id).is_some_and(|e| {
            e.let_go(holder);
            e.unheld()
        })
    }

    /// `n` handles to the object went into flight (`n < 0`: arrived); true
    /// when nothing keeps it now.
    pub(crate) fn fly(&mut self, id: &ObjectId, n: i64) -> bool {
        self.map.get_mut(id).is_some_and(|e| {
            e.in_flight += n;
            e.unheld()
        })
    }

    /// Drops every hold of `holder` (its session ended); the objects that
    /// nothing keeps now.
    pub(crate) fn let_go_everywhere(&mut self, holder: Holder) -> Vec<ObjectId> {
        let mut unheld = Vec::new();
        for (id, e) in self.map.iter_mut() {
            if let Some(i) = e.holders.iter().position(|(h, _)| *h == holder) {
                e.holders.swap_remove(i);
                if e.unheld() {
                    unheld.push(*id);
                }
            }
        }
        unheld
    }

    /// The holders of an object.
    pub(crate) fn holders(&self, id: &ObjectId) -> Vec<Holder> {
        self.map
            .get(id)
            .map(|e| e.holders.iter().map(|(h, _)| *h).collect())
            .unwrap_or_default()
    }

    /// The encoded size of every object, as it arrived.
    pub(crate) fn nbytes(&self) -> u64 {
        self.nbytes
    }

    /// Calls queued on (or running in) every object's actor, including
    /// objects already gone whose mailboxes still hold calls.
    pub(crate) fn queued(&self) -> u64 {
        self.queued.load(Relaxed) as u64
    }

    pub(crate) fn clear(&mut self) {
        for e in self.map.values() {
            for (_, timer) in &e.timers {
                timer.abort();
            }
        }
        self.map.clear();
        self.nbytes = 0;
    }

    pub(crate) fn listing(&self) -> Vec<ObjectInfo> {
        let mut out: Vec<ObjectInfo> = self
            .map
            .iter()
            .map(|(id, e)| ObjectInfo {
                object: *id,
                type_name: e.type_name.to_string(),
                nbytes: e.nbytes,
                holders: e.holders.len() as u32,
                name: e.name.clone(),
                timers: e.timers.len() as u32,
            })
            .collect();
        out.sort_by_key(|o| o.object);
        out
    }
}
