//! [`Remote<T>`]: a live handle to one remote `T`.

use super::call::Call;
use super::hub::{ObjectHub, Reply};
use crate::error::{Error, Result};
use crate::id::{NodeId, Ref};
use crate::net::wire::{Op, Outcome};
use crate::value::{self, Value};
use bytes::Bytes;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

struct Handle {
    id: Ref,
    hub: ObjectHub,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.hub.release(self.id);
    }
}

/// A live handle to a remote `T`: its [`Ref`] and the hub that reaches it.
///
/// Clones share the object; dropping the last one releases it on its
/// engine. `#[distob::remote]` gives `Remote<T>` the methods of `T`.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// let cluster = distob::Cluster::local(2).await?;
/// let s = cluster.scatter(String::from("hello")).await?;
/// let t = s.clone();
/// assert_eq!(s.id(), t.id());
/// assert_eq!(t.fetch().await?, "hello");
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub struct Remote<T> {
    handle: Arc<Handle>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Remote<T> {
    fn clone(&self) -> Self {
        Remote {
            handle: self.handle.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Remote<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Remote<{}>({})",
            std::any::type_name::<T>(),
            self.handle.id
        )
    }
}

impl<T> PartialEq for Remote<T> {
    fn eq(&self, other: &Self) -> bool {
        self.handle.id == other.handle.id
    }
}

impl<T> Eq for Remote<T> {}

impl<T> std::hash::Hash for Remote<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.handle.id.hash(state)
    }
}

impl<T> Remote<T> {
    /// Takes over a reference the hub already holds (the engine has, or is
    /// about to have, the object).
    pub(crate) fn adopt(id: Ref, hub: ObjectHub) -> Self {
        Remote {
            handle: Arc::new(Handle { id, hub }),
            _type: PhantomData,
        }
    }

    /// The object's address.
    pub fn id(&self) -> Ref {
        self.handle.id
    }

    /// The engine that holds the object.
    pub fn node(&self) -> NodeId {
        self.handle.id.node
    }

    /// The hub this handle reaches the object through.
    pub fn hub(&self) -> &ObjectHub {
        &self.handle.hub
    }

    /// Sends a request about this object.
    pub(crate) fn request<R>(&self, op: Op, decode: fn(Reply) -> Result<R>) -> Call<R> {
        let id = self.handle.id;
        self.handle
            .hub
            .call(id.node, Some(id), op, Bytes::new(), decode)
    }
}

impl<T: Value> Remote<T> {
    /// Brings a copy of the value back (the object stays where it is).
    pub fn fetch(&self) -> Call<T> {
        let op = Op::Get {
            object: self.handle.id.object,
        };
        self.request(op, decode_value::<T>)
    }
}

/// Decodes a `Value` reply.
pub(crate) fn decode_value<T: Value>(reply: Reply) -> Result<T> {
    match reply.outcome {
        Outcome::Value { head } => Ok(value::decode(&head, reply.body)?),
        _ => Err(unexpected()),
    }
}

/// Accepts a `Done` reply.
pub(crate) fn decode_done(reply: Reply) -> Result<()> {
    match reply.outcome {
        Outcome::Done => Ok(()),
        _ => Err(unexpected()),
    }
}

pub(crate) fn unexpected() -> Error {
    Error::Protocol(crate::net::NetError::Protocol {
        expected: "a reply of the kind the request asks for",
    })
}
