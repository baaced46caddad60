//! The type and function registry: name → how to host a value of that type,
//! and path → how to run that free function on an object.
//!
//! `#[distob::remote]` submits one [`TypeEntry`] per type and
//! `#[distob::function]` one [`FunctionEntry`] per function (through
//! `inventory`), so an engine built from the same code can host and serve
//! them. Values of unregistered types are stored as their encoding.

use super::hosted::{Dispatch, Host, Hosted, Plain, Produced};
use super::object::Held;
use crate::net::wire::{Fault, MethodId};
use crate::net::AlignedBuf;
use crate::value::{self, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Builds a hosted object from a value's encoding (head, body).
pub type HostFn = fn(&[u8], AlignedBuf) -> Result<Box<dyn Hosted>, Fault>;

/// Builds a hosted object from another engine's shared value (see
/// [`Hosted::share`]) of the same process, without copying it; `None` when
/// the value is not of the entry's type.
pub type AdoptFn = fn(&(dyn std::any::Any + Send + Sync)) -> Option<Box<dyn Hosted>>;

/// One registered type.
#[derive(Debug)]
pub struct TypeEntry {
    /// The type's registered name: stable across builds and compiler
    /// versions (`module_path!()` and the type's name for
    /// `#[distob::remote]` types unless `name = "..."` fixes it; a fixed
    /// name for built-in types). Objects travel and are listed by it.
    pub name: &'static str,
    /// The type's id in this build (to find the name of a `T`).
    pub type_id: fn() -> std::any::TypeId,
    /// Builds the hosted object from its encoding.
    pub host: HostFn,
    /// Takes over a shared value from an engine of the same process, for
    /// types that share (arrays); `None` for the rest.
    pub adopt: Option<AdoptFn>,
    /// Its methods' names (see [`Dispatch::METHODS`]).
    pub methods: &'static [&'static str],
}

impl TypeEntry {
    /// The entry of a [`Dispatch`] type, under its [`Dispatch::NAME`].
    pub const fn of<T: Dispatch>() -> TypeEntry {
        TypeEntry {
            name: T::NAME,
            type_id: std::any::TypeId::of::<T>,
            host: host::<T>,
            adopt: None,
            methods: T::METHODS,
        }
    }
}

fn host<T: Dispatch>(head: &[u8], body: AlignedBuf) -> Result<Box<dyn Hosted>, Fault> {
    let value: T = value::decode(head, body).map_err(|e| Fault::Decode(e.to_string()))?;
    Ok(Box::new(Host::new(value)))
}

/// Runs a registered function on an object and the encoded other arguments.
pub type FunctionFn = fn(ObjectSlot<'_>, &[u8]) -> Result<Produced, Fault>;

/// One registered free function.
#[derive(Debug)]
pub struct FunctionEntry {
    /// The function's path, as `std::any::type_name_of_val` gives it.
    pub name: fn() -> &'static str,
    /// Runs it.
    pub call: FunctionFn,
    /// It takes its object by `&mut`: a call announces a change, so that
    /// the object's readers on the engine see the value it leaves.
    pub mutates: bool,
}

inventory::collect!(TypeEntry);
inventory::collect!(FunctionEntry);

/// The object a registered function runs on, typed on demand.
pub struct ObjectSlot<'a> {
    pub(crate) held: &'a mut Held,
}

impl std::fmt::Debug for ObjectSlot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectSlot(..)")
    }
}

impl ObjectSlot<'_> {
    /// Runs `f` on the object as a `T`: a hosted `T`, or a stored value
    /// decoded as `T` (and kept decoded from then on).
    pub fn with<T: Value, R>(self, f: impl FnOnce(&mut T) -> R) -> Result<R, Fault> {
        if let Held::Stored(stored) = &*self.held {
            let body = AlignedBuf::from_slice(&stored.body);
            let value: T =
                value::decode(&stored.head, body).map_err(|e| Fault::Decode(e.to_string()))?;
            *self.held = Held::Hosted(Box::new(Plain(value)));
        }
        let Held::Hosted(hosted) = self.held else {
            return Err(Fault::Decode("object is not hosted".into()));
        };
        let found = hosted.type_name();
        // A value lent in its registered functions' form (an array).
        let mut f = Some(f);
        let mut out = None;
        hosted.lend(std::any::TypeId::of::<T>(), &mut |lent| {
            if let (Some(t), Some(f)) = (lent.downcast_mut::<T>(), f.take()) {
                out = Some(f(t));
            }
        });
        if let Some(r) = out {
            return Ok(r);
        }
        let Some(f) = f else {
            return Err(Fault::Decode(
                "the object was lent and not given back".into(),
            ));
        };
        let any = hosted.as_any();
        if any.is::<Host<T>>() {
            if let Some(host) = any.downcast_mut::<Host<T>>() {
                return Ok(f(&mut host.cell().borrow_mut()));
            }
        }
        if let Some(plain) = any.downcast_mut::<Plain<T>>() {
            return Ok(f(&mut plain.0));
        }
        Err(Fault::Decode(format!(
            "the object is a {found}, not a {}",
            stable_name::<T>()
        )))
    }
}

fn types() -> &'static HashMap<&'static str, &'static TypeEntry> {
    static TABLE: OnceLock<HashMap<&'static str, &'static TypeEntry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        inventory::iter::<TypeEntry>
            .into_iter()
            .map(|e| (e.name, e))
            .collect()
    })
}

fn names() -> &'static HashMap<std::any::TypeId, &'static str> {
    static TABLE: OnceLock<HashMap<std::any::TypeId, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        inventory::iter::<TypeEntry>
            .into_iter()
            .map(|e| ((e.type_id)(), e.name))
            .collect()
    })
}

/// The name `T` travels by: its registered name, or (for a type no engine
/// hosts with methods, stored as its encoding) `std::any::type_name`.
pub fn stable_name<T: 'static>() -> &'static str {
    registered_name(std::any::TypeId::of::<T>()).unwrap_or_else(std::any::type_name::<T>)
}

/// The registered name of the type with this id, if it is registered.
pub(crate) fn registered_name(id: std::any::TypeId) -> Option<&'static str> {
    names().get(&id).copied()
}

fn functions() -> &'static HashMap<MethodId, &'static FunctionEntry> {
    static TABLE: OnceLock<HashMap<MethodId, &'static FunctionEntry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        inventory::iter::<FunctionEntry>
            .into_iter()
            .map(|e| (MethodId::of_name((e.name)()), e))
            .collect()
    })
}

/// The name of a method or registered function, if this build knows it.
pub fn method_name(id: MethodId) -> Option<&'static str> {
    static TABLE: OnceLock<HashMap<MethodId, &'static str>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            let methods = inventory::iter::<TypeEntry>
                .into_iter()
                .flat_map(|e| e.methods.iter().map(|&m| (MethodId::of_name(m), m)));
            let functions = inventory::iter::<FunctionEntry>
                .into_iter()
                .map(|e| (MethodId::of_name((e.name)()), (e.name)()));
            methods.chain(functions).collect()
        })
        .get(&id)
        .copied()
}

/// The registered name of the type whose tag is `tag`, if this build
/// registered it.
pub fn type_name_of(tag: crate::id::TypeTag) -> Option<&'static str> {
    static TABLE: OnceLock<HashMap<crate::id::TypeTag, &'static str>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            inventory::iter::<TypeEntry>
                .into_iter()
                .map(|e| (crate::id::TypeTag::of_name(e.name), e.name))
                .collect()
        })
        .get(&tag)
        .copied()
}

/// The entry for a type name, if this build registered it.
pub fn lookup(type_name: &str) -> Option<&'static TypeEntry> {
    types().get(type_name).copied()
}

/// The entry for a function id, if this build registered it.
pub fn lookup_function(id: MethodId) -> Option<&'static FunctionEntry> {
    functions().get(&id).copied()
}

/// Every registered type name, sorted.
pub fn registered() -> Vec<&'static str> {
    let mut names: Vec<_> = types().keys().copied().collect();
    names.sort_unstable();
    names
}
