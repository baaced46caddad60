//! Published operand values: what other objects on this engine read when
//! they use an object as an operand, without going through its mailbox.
//!
//! Each object has a slot: its latest value (none while it is being
//! computed), how many changes to it were announced and how many are done,
//! and the calls waiting for a value. A reader registered while `k` changes
//! were announced gets the first value published once `k` are done — so a
//! read sees every change sent before it and none sent after, and no reader
//! waits on a change announced after it (which could wait on the reader).

use super::object::{Operand, Shared};
use crate::id::ObjectId;
use foldhash::HashMap;
use tokio::sync::oneshot;

#[derive(Default)]
struct Slot {
    value: Option<Shared>,
    announced: u64,
    done: u64,
    waiters: Vec<(u64, oneshot::Sender<Shared>)>,
    /// The object's client let go of it; the slot lives while readers wait.
    released: bool,
    /// The value is set aside while a call runs on the object (see
    /// [`Snapshots::set_aside`]).
    aside: bool,
}

impl Slot {
    fn wake(&mut self) {
        let Some(value) = &self.value else {
            return;
        };
        let done = self.done;
        let mut still = Vec::new();
        for (target, w) in self.waiters.drain(..) {
            if target <= done {
                // A reader whose call was dropped needs nothing.
                let _ = w.send(value.clone());
            } else {
                still.push((target, w));
            }
        }
        self.waiters = still;
    }
}

/// Every object's slot on one engine.
#[derive(Default)]
pub(crate) struct Snapshots {
    slots: HashMap<ObjectId, Slot>,
}

impl Snapshots {
    /// A new object: its value, or `None` while it is computed.
    pub(crate) fn insert(&mut self, id: ObjectId, value: Option<Shared>) {
        self.slots.insert(
            id,
            Slot {
                value,
                ..Slot::default()
            },
        );
    }

    /// The object as an operand read now.
    pub(crate) fn operand(&mut self, id: &ObjectId) -> Option<Operand> {
        let slot = self.slots.get_mut(id)?;
        if let (Some(v), true) = (&slot.value, slot.done == slot.announced) {
            return Some(Operand::Ready(v.clone()));
        }
        let (tx, rx) = oneshot::channel();
        slot.waiters.push((slot.announced, tx));
        Some(Operand::Waiting(rx))
    }

    /// A call that may change the object is on its way; false for objects
    /// that are no operands (nothing to announce).
    pub(crate) fn announce(&mut self, id: &ObjectId) -> bool {
        match self.slots.get_mut(id) {
            Some(slot) if !matches!(slot.value, Some(Err(_))) => {
                slot.announced += 1;
                true
            }
            _ => false,
        }
    }

    /// Drops the object's published value while a call runs on it, so that
    /// the object owns its value alone and lends it (an array to a
    /// function, or to a change in place) without a copy. No reader loses:
    /// the engine runs nothing else while the call's synchronous part runs,
    /// after which the value is published anew ([`publish`](Self::publish)),
    /// and readers of an announced change wait for its end anyway
    /// ([`change_done`](Self::change_done) publishes it then, an async
    /// method's too). Meanwhile the slot has no value but does not count as
    /// pending. False when there is nothing to set aside.
    pub(crate) fn set_aside(&mut self, id: &ObjectId) -> bool {
        match self.slots.get_mut(id) {
            Some(slot) if matches!(slot.value, Some(Ok(_))) => {
                slot.value = None;
                slot.aside = true;
                true
            }
            _ => false,
        }
    }

    /// The object's value is computed (or delivered).
    pub(crate) fn publish(&mut self, id: &ObjectId, value: Shared) {
        if let Some(slot) = self.slots.get_mut(id) {
            slot.aside = false;
            slot.value = Some(value);
            slot.wake();
            self.drop_if_done(id);
        }
    }

    /// An announced change has run, leaving `value`.
    pub(crate) fn change_done(&mut self, id: &ObjectId, value: Shared) {
        if let Some(slot) = self.slots.get_mut(id) {
            slot.done += 1;
            slot.aside = false;
            slot.value = Some(value);
            slot.wake();
            self.drop_if_done(id);
        }
    }

    /// Whether the object is still being computed.
    pub(crate) fn is_pending(&self, id: &ObjectId) -> bool {
        self.slots
            .get(id)
            .is_some_and(|s| s.value.is_none() && !s.aside)
    }

    /// The client let go of the object: its slot goes once no reader waits.
    pub(crate) fn release(&mut self, id: &ObjectId) {
        if let Some(slot) = self.slots.get_mut(id) {
            slot.released = true;
        }
        self.drop_if_done(id);
    }

    fn drop_if_done(&mut self, id: &ObjectId) {
        if self
            .slots
            .get(id)
            .is_some_and(|s| s.released && s.waiters.is_empty())
        {
            self.slots.remove(id);
            super::table::shrink(&mut self.slots);
        }
    }

    /// Keeps only the slots of `live` objects and of awaited ones.
    pub(crate) fn retain(&mut self, live: impl Fn(&ObjectId) -> bool) {
        self.slots.retain(|id, s| live(id) || !s.waiters.is_empty());
        super::table::shrink(&mut self.slots);
        for (id, s) in self.slots.iter_mut() {
            if !live(id) {
                s.released = true;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.slots.clear();
    }
}
