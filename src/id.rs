//! Small `Copy` identifiers with a readable `Display`: [`NodeId`], [`ObjectId`],
//! [`TypeTag`], [`Ref`] and [`CallId`].

pub use crate::net::wire::MethodId;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The id of an engine in a cluster: its 0-based index in start order.
///
/// ```
/// use distob::NodeId;
/// assert_eq!(NodeId(3).to_string(), "3");
/// assert_eq!(NodeId::CLIENT.to_string(), "client");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The id a client (a program holding an [`ObjectHub`](crate::ObjectHub)) presents
    /// in the handshake: it hosts no objects.
    pub const CLIENT: NodeId = NodeId(u32::MAX);

    /// The index of this engine, for placement arithmetic.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == NodeId::CLIENT {
            f.write_str("client")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// The id of one object on its engine: a random (v4) uuid, chosen by whoever
/// names the object (usually the client, so that it knows the id at once).
///
/// `Display` shows the first 8 hex digits and an ellipsis; `{:#}` shows the whole uuid.
///
/// ```
/// use distob::id::ObjectId;
/// let id = ObjectId::new();
/// assert_eq!(id.to_string().chars().count(), 9);
/// assert_eq!(format!("{id:#}").len(), 36);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ObjectId(Uuid);

impl ObjectId {
    /// A fresh random id.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        ObjectId(Uuid::new_v4())
    }

    /// The uuid inside.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// Parses the full (hyphenated or simple) uuid form.
    pub fn parse(s: &str) -> Option<Self> {
        Uuid::parse_str(s).ok().map(ObjectId)
    }
}

impl From<Uuid> for ObjectId {
    fn from(u: Uuid) -> Self {
        ObjectId(u)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{}", self.0.hyphenated())
        } else {
            let mut buf = Uuid::encode_buffer();
            let s = self.0.simple().encode_lower(&mut buf);
            write!(f, "{}…", &s[..8])
        }
    }
}

/// A short hash of a Rust type's name, carried in every [`Ref`] so that a
/// reference printed or logged says what kind of object it points at, and so
/// that a proxy for the wrong type is caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TypeTag(pub u64);

impl TypeTag {
    /// The tag of a type name (64-bit FNV-1a).
    pub const fn of_name(name: &str) -> TypeTag {
        let bytes = name.as_bytes();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        TypeTag(hash)
    }

    /// The tag of `T`, from [`std::any::type_name`].
    pub fn of<T: ?Sized>() -> TypeTag {
        TypeTag::of_name(std::any::type_name::<T>())
    }
}

/// The address of one remote object: the engine that holds it, its id there,
/// and a tag of its type.
///
/// ```
/// use distob::{NodeId, Ref, id::ObjectId, id::TypeTag};
/// let r = Ref::new(NodeId(2), ObjectId::new(), TypeTag::of::<String>());
/// assert!(r.to_string().starts_with("2/"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ref {
    /// The engine that holds the object.
    pub node: NodeId,
    /// The object's id on that engine.
    pub object: ObjectId,
    /// A tag of the object's type.
    pub tag: TypeTag,
}

impl Ref {
    /// A reference from its parts.
    pub fn new(node: NodeId, object: ObjectId, tag: TypeTag) -> Self {
        Ref { node, object, tag }
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{}/{:#}", self.node, self.object)
        } else {
            write!(f, "{}/{}", self.node, self.object)
        }
    }
}

/// The id of one request on one connection; its reply carries the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_display_is_short_and_alternate_is_full() {
        let r = Ref::new(NodeId(2), ObjectId::new(), TypeTag::of::<u8>());
        let short = r.to_string();
        assert!(short.starts_with("2/") && short.ends_with('…'), "{short}");
        let full = format!("{r:#}");
        assert_eq!(full.len(), 2 + 36);
        let parsed = ObjectId::parse(&full[2..]);
        assert_eq!(parsed, Some(r.object));
    }

    #[test]
    fn type_tags_differ_by_name() {
        assert_ne!(TypeTag::of::<u8>(), TypeTag::of::<i8>());
        assert_eq!(TypeTag::of::<u8>(), TypeTag::of_name("u8"));
    }
}
