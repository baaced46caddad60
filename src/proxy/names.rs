//! Objects found by address or by name: [`ObjectHub::attach`], named
//! (detached) objects, and [`Remote::kill`].
//!
//! Names need no central coordinator: each name's directory entry lives on
//! the engine a hash of the name picks among the cluster's engines
//! (rendezvous hashing: the engine with the highest hash of name and node
//! id), so every client with the same engines asks the same one. Adding
//! engines later moves the names whose top engine becomes a new one: name
//! objects once the cluster has its engines. A named object is pinned on
//! its own engine (the name counts as a holder): it lives until killed,
//! whatever clients come and go.

use super::call::Call;
use super::hub::{HeldObject, ObjectHub, Reply};
use super::remote::{decode_done, unexpected, Remote};
use crate::error::{Error, NameError, Result};
use crate::id::{NodeId, Ref, TypeTag};
use crate::net::wire::{HandleRef, Op, Outcome};
use crate::value::Value;
use bytes::Bytes;

/// The longest name, in bytes.
pub const MAX_NAME_LEN: usize = 1024;

/// Checks a name: 1 to [`MAX_NAME_LEN`] bytes, no control characters.
pub(crate) fn check_name(name: &str) -> std::result::Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { len: name.len() });
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    Ok(())
}

/// The engine that keeps `name`'s directory entry, among `engines`.
pub(crate) fn directory_node(name: &str, engines: &[NodeId]) -> Option<NodeId> {
    engines.iter().copied().max_by_key(|node| {
        let mut keyed = String::with_capacity(name.len() + 12);
        keyed.push_str(name);
        keyed.push('\u{0}');
        keyed.push_str(&node.0.to_string());
        TypeTag::of_name(&keyed).0
    })
}

fn decode_attached(reply: Reply) -> Result<String> {
    match reply.outcome {
        Outcome::Attached(type_name) => Ok(type_name),
        _ => Err(unexpected()),
    }
}

fn decode_found(reply: Reply) -> Result<Option<(HandleRef, String)>> {
    match reply.outcome {
        Outcome::Found(found) => Ok(*found),
        _ => Err(unexpected()),
    }
}

impl ObjectHub {
    /// A handle to the object `r` names (an address printed, logged or sent
    /// as a bare [`Ref`]): this hub becomes one of its holders. The
    /// object's type is checked on its engine: a wrong `T` is
    /// [`Error::WrongType`], not a failure at the first call.
    pub async fn attach<T: 'static>(&self, r: Ref) -> Result<Remote<T>> {
        let expected = crate::actors::registry::stable_name::<T>();
        let r = Ref::new(r.node, r.object, TypeTag::of_name(expected));
        if let Some((handle, info)) = self.live_handle(&r) {
            return match info.type_name == expected {
                true => Ok(Remote::from_handle(handle)),
                false => Err(wrong_type(expected, info.type_name)),
            };
        }
        let attach = Op::Attach(r.object);
        let found = self
            .submit(r.node, Some(r), attach, Bytes::new(), decode_attached)
            .await?;
        if found != expected {
            // The engine counted the hold: give it back.
            drop(Remote::<T>::from_handle(self.attached_handle(
                r,
                HeldObject {
                    type_name: expected,
                    nbytes: 0,
                },
                None,
            )));
            return Err(wrong_type(expected, &found));
        }
        let info = HeldObject {
            type_name: expected,
            nbytes: 0,
        };
        Ok(Remote::from_handle(self.attached_handle(r, info, None)))
    }

    /// The engine that keeps `name`'s directory entry.
    fn directory_for(&self, name: &str) -> Result<NodeId> {
        check_name(name)?;
        directory_node(name, &self.engines()).ok_or(Error::HubClosed)
    }

    /// The object named `name`, if any (checked to be a `T`).
    pub async fn lookup<T: 'static>(&self, name: &str) -> Result<Option<Remote<T>>> {
        let dir = self.directory_for(name)?;
        let ask = Op::Lookup(name.to_owned());
        let found = self
            .submit(dir, None, ask, Bytes::new(), decode_found)
            .await?;
        let Some((HandleRef(node, object), type_name)) = found else {
            return Ok(None);
        };
        let expected = crate::actors::registry::stable_name::<T>();
        if type_name != expected {
            return Err(wrong_type(expected, &type_name));
        }
        let r = Ref::new(node, object, TypeTag::of_name(expected));
        match self.attach(r).await {
            Ok(remote) => Ok(Some(remote)),
            // Killed between the lookup and the attach: no object by that
            // name now.
            Err(Error::NoSuchObject(_) | Error::ObjectLost(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Puts `x` on the next engine under the cluster-wide `name`
    /// ([`Error::NameTaken`] if an object has it). A named object is
    /// detached: it lives until [killed](Remote::kill), whatever clients
    /// come and go, and any client of the cluster finds it with
    /// [`lookup`](ObjectHub::lookup).
    pub async fn scatter_named<T: Value>(&self, name: &str, x: T) -> Result<Remote<T>> {
        let dir = self.directory_for(name)?;
        let node = self.next_engine()?;
        let (remote, ack) = self.put(node, x)?;
        ack.await?;
        let id = remote.id();
        let claim = Op::Claim {
            name: name.to_owned(),
            object: HandleRef(id.node, id.object),
            type_name: crate::actors::registry::stable_name::<T>().to_owned(),
        };
        let claimed: Call<()> = self.submit(dir, None, claim, Bytes::new(), decode_done);
        claimed.await?;
        Ok(remote)
    }

    /// The object named `name`, or a new one from `make()` under that name
    /// if there is none. Atomic across clients: when several race, all get
    /// the one object whose name claim came first (`make` may still run in
    /// the others).
    pub async fn get_or_scatter_named<T: Value>(
        &self,
        name: &str,
        make: impl FnOnce() -> T,
    ) -> Result<Remote<T>> {
        if let Some(found) = self.lookup(name).await? {
            return Ok(found);
        }
        match self.scatter_named(name, make()).await {
            Ok(made) => Ok(made),
            Err(Error::NameTaken(_)) => self
                .lookup(name)
                .await?
                .ok_or_else(|| Error::NameTaken(name.to_owned())),
            Err(e) => Err(e),
        }
    }
}

fn wrong_type(expected: &str, found: &str) -> Error {
    Error::WrongType {
        expected: expected.to_owned(),
        found: found.to_owned(),
    }
}

impl<T> Remote<T> {
    /// Ends the object for every holder (its name too, if it has one):
    /// calls on it from anywhere fail with [`Error::ObjectLost`] from then
    /// on. The way to end objects that hold each other in a cycle, which
    /// distob does not collect.
    pub fn kill(&self) -> Call<()> {
        let id = self.id();
        self.hub().submit(
            id.node,
            Some(id),
            Op::Kill(id.object),
            Bytes::new(),
            decode_done,
        )
    }
}
