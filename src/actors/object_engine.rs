//! The engine's table of its objects, keyed by id (the engine side of
//! [`ObjectEngine`](crate::ObjectEngine)).

use super::object::ObjectActor;
use crate::id::ObjectId;
use crate::net::wire::ObjectInfo;
use actix::Addr;
use std::collections::HashMap;
use std::rc::Rc;

/// One object: its actor and what a listing says of it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) addr: Addr<ObjectActor>,
    /// Calls queued on (or running in) the object's actor.
    pub(crate) queued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) type_name: Rc<str>,
    pub(crate) nbytes: u64,
    /// The session that created it; its objects go when it goes.
    pub(crate) owner: u64,
}

/// All objects of one engine.
#[derive(Debug, Default)]
pub(crate) struct ObjectTable {
    map: HashMap<ObjectId, Entry>,
}

impl ObjectTable {
    pub(crate) fn get(&self, id: &ObjectId) -> Option<&Entry> {
        self.map.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &ObjectId) -> Option<&mut Entry> {
        self.map.get_mut(id)
    }

    pub(crate) fn contains(&self, id: &ObjectId) -> bool {
        self.map.contains_key(id)
    }

    pub(crate) fn insert(&mut self, id: ObjectId, entry: Entry) {
        self.map.insert(id, entry);
    }

    /// Drops the table's address of the object; its actor stops once the
    /// calls already in its mailbox are done.
    pub(crate) fn remove(&mut self, id: &ObjectId) -> Option<Entry> {
        self.map.remove(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops every object a session created.
    pub(crate) fn release_owned_by(&mut self, owner: u64) {
        self.map.retain(|_, e| e.owner != owner);
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    pub(crate) fn listing(&self) -> Vec<ObjectInfo> {
        let mut out: Vec<ObjectInfo> = self
            .map
            .iter()
            .map(|(id, e)| ObjectInfo {
                object: *id,
                type_name: e.type_name.to_string(),
                nbytes: e.nbytes,
            })
            .collect();
        out.sort_by_key(|o| o.object);
        out
    }
}
