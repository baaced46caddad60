//! The intermediate form between parsing and code generation.

use syn::{Attribute, Ident, ItemFn, ItemImpl, Type, Visibility};

/// An `impl` block under `#[distob::remote]`.
pub(crate) struct RemoteImpl {
    /// The block itself, with distob's helper attributes removed.
    pub(crate) item: ItemImpl,
    /// The type the block is for.
    pub(crate) ty: Type,
    /// Its last path segment (for names and method ids).
    pub(crate) name: Ident,
    /// The name it registers under, if fixed by `name = "..."`.
    pub(crate) registered: Option<syn::LitStr>,
    /// What a panic in a `&mut self` method does.
    pub(crate) on_panic: OnPanic,
    /// The `#[distob(init)]` function that rebuilds the object, if any.
    pub(crate) init: Option<Ident>,
    /// The methods to proxy.
    pub(crate) methods: Vec<RemoteMethod>,
}

/// How a method takes `self`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receiver {
    Shared,
    Mutable,
}

/// One argument after `self`.
pub(crate) struct Arg {
    /// The type as declared (what the proxy takes).
    pub(crate) ty: Type,
    /// The owned type decoded on the engine.
    pub(crate) owned: Type,
    /// How the decoded value is passed: by value, `&`, or `&mut`.
    pub(crate) pass: Pass,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    Value,
    Ref,
    Mut,
}

/// What a method returns.
#[allow(clippy::large_enum_variant)] // built once per method at compile time
pub(crate) enum Ret {
    /// A value (`()` included).
    Value(Type),
    /// `Result<ok, err>`: `err` reaches the caller as `Error::Remote`.
    Fallible { ok: Type, err: Type },
    /// `Streamed<item>`: items, one after another.
    Stream(Type),
    /// `Result<Streamed<item>, err>`.
    FallibleStream { item: Type, err: Type },
}

/// One proxied method.
pub(crate) struct RemoteMethod {
    pub(crate) name: Ident,
    pub(crate) receiver: Receiver,
    pub(crate) is_async: bool,
    /// Whether it takes `ctx: &distob::Ctx` first (kept off the wire).
    pub(crate) ctx: bool,
    pub(crate) args: Vec<Arg>,
    pub(crate) ret: Ret,
    pub(crate) cached: bool,
    pub(crate) keep: bool,
    pub(crate) docs: Vec<Attribute>,
}

/// A free function under `#[distob::function]`.
pub(crate) struct RemoteFunction {
    /// The function itself.
    pub(crate) item: ItemFn,
    /// Its visibility.
    pub(crate) vis: Visibility,
    /// The type of the object it runs on (its first argument, by reference).
    pub(crate) object: Type,
    /// Whether that reference is `&mut`.
    pub(crate) object_mut: bool,
    /// The other arguments.
    pub(crate) args: Vec<Arg>,
    /// What it returns.
    pub(crate) ret: Ret,
}

/// `on_panic = "..."` (with `max_restarts`, `restart_window_secs`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnPanic {
    Poison,
    Continue,
    Restart { max: u32, window_secs: u64 },
}
