//! The type registry: type name → how to host a value of that type.
//!
//! `#[distob::remote]` submits one [`TypeEntry`] per type (through
//! `inventory`), so an engine built from the same code can construct and
//! serve it. Values of unregistered types are stored as their encoding.

use crate::net::wire::{Fault, MethodId};
use crate::net::AlignedBuf;
use crate::value::Encoded;
use futures::future::LocalBoxFuture;
use std::collections::HashMap;
use std::sync::OnceLock;

/// What a method call on a hosted object produced.
pub enum Invocation {
    /// The method ran to completion.
    Ready(Result<Encoded, Fault>),
    /// The method is async; the object's mailbox waits for it.
    Deferred(LocalBoxFuture<'static, Result<Encoded, Fault>>),
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invocation::Ready(r) => f.debug_tuple("Ready").field(r).finish(),
            Invocation::Deferred(_) => f.write_str("Deferred(..)"),
        }
    }
}

/// A live object on an engine: what its object actor owns and calls into.
pub trait Hosted: 'static {
    /// The Rust type name it was registered under.
    fn type_name(&self) -> &'static str;
    /// Runs one method. Panics are caught by the caller.
    fn invoke(&mut self, method: MethodId, args: &[u8]) -> Invocation;
    /// Encodes the current value (for `gather`).
    fn encode(&self) -> Result<Encoded, Fault>;
}

/// Builds a hosted object from a value's encoding (head, body).
pub type HostFn = fn(&[u8], AlignedBuf) -> Result<Box<dyn Hosted>, Fault>;

/// One registered type.
#[derive(Debug)]
pub struct TypeEntry {
    /// The type's name, as `std::any::type_name` gives it.
    pub name: fn() -> &'static str,
    /// Builds the hosted object from its encoding.
    pub host: HostFn,
}

inventory::collect!(TypeEntry);

fn table() -> &'static HashMap<&'static str, &'static TypeEntry> {
    static TABLE: OnceLock<HashMap<&'static str, &'static TypeEntry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        inventory::iter::<TypeEntry>
            .into_iter()
            .map(|e| ((e.name)(), e))
            .collect()
    })
}

/// The entry for a type name, if this build registered it.
pub fn lookup(type_name: &str) -> Option<&'static TypeEntry> {
    table().get(type_name).copied()
}

/// Every registered type name.
pub fn registered() -> Vec<&'static str> {
    let mut names: Vec<_> = table().keys().copied().collect();
    names.sort_unstable();
    names
}
