//! Where a hub's requests go: the links to engines (a client's, opened
//! when it connects; an engine's own, opened from its directory when first
//! used), the engine's own local port, and the directory of where engines
//! listen (a client tells its engines; an engine's hub learns it).

use super::hub::ObjectHub;
use super::link::Link;
use super::local::LocalPort;
use super::runtime::current_or_background;
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::net::wire::Message;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;

impl ObjectHub {
    /// Whether this is an engine's own hub (which opens links when first
    /// used, and dials as that engine).
    pub(super) fn is_engine_hub(&self) -> bool {
        self.inner.me != NodeId::CLIENT
    }

    /// Tells every engine where the others listen (so that engine code can
    /// reach them): a client hub does this when its engines change.
    pub(super) fn share_directory(&self) {
        let links: Vec<Arc<Link>> = {
            let links = self.inner.links.read().unwrap_or_else(|p| p.into_inner());
            links.iter().flatten().cloned().collect()
        };
        let engines: Vec<(NodeId, SocketAddr)> = links.iter().map(|l| (l.node, l.addr)).collect();
        let msg = Message::Directory { engines };
        for link in links.iter().filter(|l| !l.is_lost()) {
            // A link that closes meanwhile is lost: its engine needs nothing.
            let _ = link.writer.send(&msg, Bytes::new());
        }
    }

    /// An engine's hub learns where engines listen (from a client's
    /// `Directory`, or a `Push`).
    pub(crate) fn learn(&self, engines: &[(NodeId, SocketAddr)]) {
        let mut dir = self
            .inner
            .directory
            .write()
            .unwrap_or_else(|p| p.into_inner());
        for &(node, addr) in engines {
            if node != self.inner.me {
                dir.insert(node, addr);
            }
        }
    }

    /// The engines this hub is connected to (an engine's own hub: every
    /// engine it knows of, itself included), in node order.
    pub fn engines(&self) -> Vec<NodeId> {
        if !self.is_engine_hub() {
            return self.engines_with_links();
        }
        let dir = self
            .inner
            .directory
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let mut nodes: Vec<NodeId> = dir.keys().copied().collect();
        nodes.push(self.inner.me);
        nodes.sort();
        nodes
    }

    /// Every engine that has a link (lost or not), in node order.
    pub(super) fn engines_with_links(&self) -> Vec<NodeId> {
        let links = self.inner.links.read().unwrap_or_else(|p| p.into_inner());
        links.iter().flatten().map(|l| l.node).collect()
    }

    /// The address of an engine.
    pub fn engine_addr(&self, node: NodeId) -> Option<SocketAddr> {
        let dir = self
            .inner
            .directory
            .read()
            .unwrap_or_else(|p| p.into_inner());
        dir.get(&node).copied()
    }

    /// The link to `node`. An engine's hub opens one when it has none (or
    /// only a lost one) and knows where `node` listens; objects it held
    /// over a lost link are gone then.
    /// Whether engine `node` runs in this process, so that its values can
    /// be lent by reference (see [`RemoteArray::fetch_shared`](crate::RemoteArray::fetch_shared)).
    pub(crate) fn in_process(&self, node: NodeId) -> bool {
        self.link(node)
            .is_ok_and(|l| crate::actors::in_process_dialer(l.addr, &self.inner.key).is_some())
    }

    pub(super) fn link(&self, node: NodeId) -> Result<Arc<Link>> {
        let found = {
            let links = self.inner.links.read().unwrap_or_else(|p| p.into_inner());
            links.get(node.index()).and_then(Option::clone)
        };
        match found {
            Some(link) if !(self.is_engine_hub() && link.is_lost()) => Ok(link),
            Some(link) if self.engine_addr(node).is_none() => Ok(link),
            None if !self.is_engine_hub() => Err(Error::NoSuchEngine(node)),
            old => self.open_lazily(node, old.is_some()),
        }
    }

    fn open_lazily(&self, node: NodeId, was_lost: bool) -> Result<Arc<Link>> {
        let addr = self.engine_addr(node).ok_or(Error::NoSuchEngine(node))?;
        let mut links = self.inner.links.write().unwrap_or_else(|p| p.into_inner());
        if let Some(link) = links.get(node.index()).and_then(Option::clone) {
            if !link.is_lost() {
                // Another caller opened it meanwhile.
                return Ok(link);
            }
        }
        let link = Link::connecting(
            self.inner.me,
            node,
            addr,
            self.inner.key.clone(),
            self.inner.options,
        );
        link.join(&self.inner.watch, &self.inner);
        if links.len() <= node.index() {
            links.resize(node.index() + 1, None);
        }
        if let Some(old) = links[node.index()].replace(link.clone()) {
            old.shut();
        }
        drop(links);
        if was_lost {
            // Not here: a caller may hold the object table (it tells an
            // engine what it holds while holding it).
            let hub = self.clone();
            current_or_background().spawn(async move { hub.lose_objects_of(node) });
        }
        Ok(link)
    }

    /// This engine's own port, when `node` is the engine whose hub this is.
    pub(super) fn local_for(&self, node: NodeId) -> Option<&LocalPort> {
        self.inner.local.as_ref().filter(|l| l.node() == node)
    }
}
