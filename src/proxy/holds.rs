//! A hub as a holder: its table of live handles (one per object, shared by
//! every proxy of it here) and the messages that tell engines what it
//! holds — `Hold` when it decodes a handle it did not hold, `Release` when
//! its last proxy goes, `Lent` / `Arrived` around handles in flight (see
//! [`handles`](super::handles) for the protocol).

use super::hub::{key, Held, HeldObject, ObjectHub};
use super::link::lock;
use super::remote::Handle;
use crate::id::{NodeId, ObjectId, Ref};
use crate::net::wire::{HandleRef, Message};
use crate::value::Lease;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl ObjectHub {
    /// The handle of an object this hub has just created (the engine counts
    /// this hub as its holder when it creates it: no `Hold` is sent).
    pub(crate) fn new_handle(
        &self,
        r: Ref,
        info: HeldObject,
        shape: Option<Vec<usize>>,
    ) -> Arc<Handle> {
        self.enter(&mut lock(&self.inner.objects), r, info, shape)
    }

    /// A new handle of `r`, entered in the table.
    fn enter(
        &self,
        objects: &mut foldhash::HashMap<HandleRef, Held>,
        r: Ref,
        info: HeldObject,
        shape: Option<Vec<usize>>,
    ) -> Arc<Handle> {
        let handle = Handle::new(r, self.clone(), shape);
        let held = Held {
            r,
            handle: Arc::downgrade(&handle),
            info,
        };
        objects.insert(key(&r), held);
        handle
    }

    /// The handle for a decoded reference: the live one this hub has, or a
    /// new one (this hub then tells the object's engine it holds it).
    pub(crate) fn handle_for(
        &self,
        r: Ref,
        type_name: &'static str,
        shape: Option<Vec<usize>>,
    ) -> Arc<Handle> {
        let mut objects = lock(&self.inner.objects);
        if let Some(live) = objects.get(&key(&r)).and_then(|h| h.handle.upgrade()) {
            return live;
        }
        let info = HeldObject {
            type_name,
            nbytes: 0,
        };
        let handle = self.enter(&mut objects, r, info, shape);
        // Told while the table is locked: a release of an earlier handle of
        // the same object goes out before this hold.
        self.tell(
            r.node,
            Message::Hold {
                objects: vec![r.object],
            },
        );
        handle
    }

    /// The handle of an object this hub has just attached to (the engine
    /// counted the hold): the live one if a decode made one meanwhile (the
    /// extra hold is given back), else a new one.
    pub(crate) fn attached_handle(
        &self,
        r: Ref,
        info: HeldObject,
        shape: Option<Vec<usize>>,
    ) -> Arc<Handle> {
        let mut objects = lock(&self.inner.objects);
        if let Some(live) = objects.get(&key(&r)).and_then(|h| h.handle.upgrade()) {
            self.tell(
                r.node,
                Message::Release {
                    objects: vec![r.object],
                },
            );
            return live;
        }
        self.enter(&mut objects, r, info, shape)
    }

    /// This hub's holds on the objects of `refs` (handles listed with a
    /// value it keeps without decoding it): one lease each.
    pub(crate) fn lease_all(&self, refs: &[HandleRef]) -> Vec<Lease> {
        refs.iter()
            .map(|&handle| {
                let r = Ref::new(handle.0, handle.1, crate::id::TypeTag(0));
                Lease {
                    handle,
                    keep: self.handle_for(r, "(stored)", None),
                }
            })
            .collect()
    }

    /// The live handle of `r` this hub has, if any.
    pub(crate) fn live_handle(&self, r: &Ref) -> Option<(Arc<Handle>, HeldObject)> {
        let objects = lock(&self.inner.objects);
        let held = objects.get(&key(r))?;
        Some((held.handle.upgrade()?, held.info.clone()))
    }

    /// The last proxy of `r` (the handle at `handle`) is gone: forget it,
    /// unless a newer handle took its place, and release it on its engine.
    pub(crate) fn release(&self, r: Ref, handle: *const Handle) {
        let mut objects = lock(&self.inner.objects);
        if objects
            .get(&key(&r))
            .is_some_and(|h| std::ptr::eq(h.handle.as_ptr(), handle))
        {
            objects.remove(&key(&r));
        }
        if self.inner.has_lost.load(Ordering::Relaxed) && lock(&self.inner.lost).remove(&key(&r)) {
            // Its engine restarted: nothing to release there.
            return;
        }
        // Told while the table is locked (see `handle_for`).
        self.tell(
            r.node,
            Message::Release {
                objects: vec![r.object],
            },
        );
    }

    /// Lends the handles a payload carries to their objects' engines,
    /// before the payload leaves; the references the payload names them by.
    pub(crate) fn lend(&self, leases: &[Lease]) -> Vec<HandleRef> {
        if leases.is_empty() {
            return Vec::new();
        }
        let refs: Vec<HandleRef> = leases.iter().map(Lease::handle).collect();
        for (node, objects) in by_node(&refs) {
            self.tell(node, Message::Lent { objects });
        }
        refs
    }

    /// Handles that were in flight to this hub have arrived (and were
    /// decoded, or dropped): their engines count them no longer.
    pub(crate) fn arrived(&self, refs: &[HandleRef]) {
        if refs.is_empty() {
            return;
        }
        for (node, objects) in by_node(refs) {
            self.tell(node, Message::Arrived { objects });
        }
    }

    /// Sends a one-way message to `node` (this engine's own hub: to the
    /// engine itself). A link that is closed has lost its engine, and the
    /// engine what the message was about.
    pub(super) fn tell(&self, node: NodeId, message: Message) {
        if let Some(local) = self.local_for(node) {
            // A stopped engine needs no more news.
            let _ = local.send(message);
            return;
        }
        if let Ok(link) = self.link(node) {
            let _ = link.writer.send(&message, Bytes::new());
        }
    }
}

/// References grouped by engine, in the order they came.
fn by_node(refs: &[HandleRef]) -> Vec<(NodeId, Vec<ObjectId>)> {
    let mut out: Vec<(NodeId, Vec<ObjectId>)> = Vec::new();
    for &HandleRef(node, object) in refs {
        match out.iter_mut().find(|(n, _)| *n == node) {
            Some((_, objects)) => objects.push(object),
            None => out.push((node, vec![object])),
        }
    }
    out
}
