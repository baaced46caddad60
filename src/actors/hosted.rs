//! Live objects on an engine: the [`Hosted`] trait the object actor calls
//! into, and its two implementations — [`Host<T>`] for types with methods
//! (`#[distob::remote]` implements [`Dispatch`] for them) and [`Plain<T>`]
//! for any other value a function or method produced.

use super::ctx::Ctx;
use crate::net::wire::{Fault, MethodId};
use crate::value::{self, Encoded, Value};
use futures::future::LocalBoxFuture;
use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

/// What a method produced.
pub enum Produced {
    /// An encoded value of the named type, to send back (or to keep: hosted
    /// through the registry when the type is registered, else stored).
    Value(Encoded, &'static str),
    /// A live object, to keep on the engine (or to encode and send back).
    Object(Box<dyn Hosted>),
    /// Items to send one after another, as the caller consumes them (see
    /// [`Streamed`](crate::Streamed)).
    Stream(super::stream::Encodings),
}

impl std::fmt::Debug for Produced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Produced::Value(e, t) => write!(f, "Value({t}, {} bytes)", e.len()),
            Produced::Object(o) => write!(f, "Object({})", o.type_name()),
            Produced::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// What a method call on a hosted object gave.
pub enum Invocation {
    /// The method ran to completion.
    Ready(Result<Produced, Fault>),
    /// The method is async; the object's mailbox waits for it.
    Deferred(LocalBoxFuture<'static, Result<Produced, Fault>>),
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
    /// The Rust type name of the value.
    fn type_name(&self) -> &'static str;
    /// Runs one method. Panics are caught by the caller.
    fn invoke(&mut self, ctx: &Ctx, method: MethodId, args: &[u8]) -> Invocation;
    /// Encodes the current value (for `gather`).
    fn encode(&self) -> Result<Encoded, Fault>;
    /// The object, for typed access by registered functions.
    fn as_any(&mut self) -> &mut dyn Any;

    /// Whether the method changes the value in place (its snapshot is then
    /// published anew).
    fn mutates(&self, method: MethodId) -> bool {
        let _ = method;
        false
    }

    /// A snapshot of the value that another object on this engine can use
    /// as an operand (for arrays: the shared array, no copy). `None` for
    /// types that are never operands.
    fn share(&self) -> Option<std::sync::Arc<dyn Any + Send + Sync>> {
        None
    }

    /// Hands the value's memory to the spare shelf (`net::spare`) for the
    /// next result of about its size, if this object is its only owner;
    /// `false` if it keeps it (the object is being stopped either way).
    fn recycle(&mut self) -> bool {
        false
    }

    /// Lends the value to `f` in the form registered functions take it
    /// (`&mut T` of the object's value type), for types whose hosted form
    /// is another (arrays keep a shared array and lend an owned one, without
    /// a copy when they are its only owner), when that form is the type
    /// `wanted`. `false` when it lends nothing.
    fn lend(&mut self, wanted: std::any::TypeId, f: &mut dyn FnMut(&mut dyn Any)) -> bool {
        let _ = (wanted, f);
        false
    }

    /// The bytes the value holds, where that is known and large enough to
    /// matter (arrays); 0 otherwise. A released object this large is freed
    /// off the engine's thread.
    fn nbytes(&self) -> usize {
        0
    }

    /// What a panic in `method` does to the object (default: nothing: the
    /// value goes on as it is).
    fn on_panic(&self, method: MethodId) -> OnPanic {
        let _ = method;
        OnPanic::Continue
    }

    /// Replaces the value with a fresh one ([`OnPanic::Restart`]); false if
    /// the type cannot.
    fn restart(&mut self) -> bool {
        false
    }

    /// Runs one method with another object's [`share`](Hosted::share) as
    /// its operand.
    fn invoke_with(&mut self, method: MethodId, _args: &[u8], _operand: &dyn Any) -> Invocation {
        Invocation::Ready(Err(Fault::NoSuchMethod {
            type_name: self.type_name().to_owned(),
            method,
        }))
    }
}

/// What an engine does with an object after one of its methods panicked
/// (`#[distob::remote(on_panic = "...")]`). Panics in methods that take
/// `&self` never change an object: only `&mut self` methods are subject to
/// this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnPanic {
    /// The object may be half-changed: every later call fails with
    /// [`Error::ObjectPoisoned`](crate::Error::ObjectPoisoned) (the default).
    Poison,
    /// The type's methods are panic-safe: go on with the object as it is.
    Continue,
    /// Rebuild the object (its `Default`, or its `#[distob(init)]` function)
    /// and go on; after `max` restarts within `window`, poison it.
    Restart {
        /// Restarts allowed within `window`.
        max: u32,
        /// The window.
        window: std::time::Duration,
    },
}

/// A type whose methods an engine can run: implemented by `#[distob::remote]`.
///
/// `dispatch` decodes the arguments of method `method`, runs it on the
/// object in `cell`, and encodes what it returns. The object actor handles
/// one call at a time (and waits out async ones), so the cell is never
/// borrowed twice.
pub trait Dispatch: Value {
    /// The name the type is registered and travels under (see
    /// [`TypeEntry::name`](super::registry::TypeEntry::name)).
    const NAME: &'static str;
    /// What a panic in a `&mut self` method does to the object.
    const ON_PANIC: OnPanic = OnPanic::Poison;
    /// The names of its methods (`"Type::method"`, what their
    /// [`MethodId`]s hash), for spans and logs.
    const METHODS: &'static [&'static str] = &[];

    /// Whether a method may change the object (takes `&mut self`); the
    /// default assumes every method may.
    fn mutating(method: MethodId) -> bool {
        let _ = method;
        true
    }

    /// A fresh object for [`OnPanic::Restart`].
    fn restart() -> Option<Self> {
        None
    }
    /// Runs one method; engine code gets `ctx` to act in the cluster.
    fn dispatch(cell: &Rc<RefCell<Self>>, ctx: &Ctx, method: MethodId, args: &[u8]) -> Invocation;
}

/// A value of a [`Dispatch`] type, hosted with its methods.
#[derive(Debug)]
pub struct Host<T>(Rc<RefCell<T>>);

impl<T> Host<T> {
    /// Hosts `value`.
    pub fn new(value: T) -> Self {
        Host(Rc::new(RefCell::new(value)))
    }

    /// The cell the value lives in.
    pub fn cell(&self) -> &Rc<RefCell<T>> {
        &self.0
    }
}

impl<T: Dispatch> Hosted for Host<T> {
    fn type_name(&self) -> &'static str {
        T::NAME
    }

    fn invoke(&mut self, ctx: &Ctx, method: MethodId, args: &[u8]) -> Invocation {
        T::dispatch(&self.0, ctx, method, args)
    }

    fn on_panic(&self, method: MethodId) -> OnPanic {
        match T::mutating(method) {
            true => T::ON_PANIC,
            false => OnPanic::Continue,
        }
    }

    fn restart(&mut self) -> bool {
        match T::restart() {
            Some(fresh) => {
                *self.0.borrow_mut() = fresh;
                true
            }
            None => false,
        }
    }

    fn encode(&self) -> Result<Encoded, Fault> {
        value::encode_borrowed(&*self.0.borrow()).map_err(|e| Fault::Decode(e.to_string()))
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Any value, hosted without methods (a function's or method's result kept
/// on the engine, or a stored value a function asked for by type).
#[derive(Debug)]
pub struct Plain<T>(pub T);

impl<T: Value> Hosted for Plain<T> {
    fn type_name(&self) -> &'static str {
        super::registry::stable_name::<T>()
    }

    fn invoke(&mut self, _ctx: &Ctx, method: MethodId, _args: &[u8]) -> Invocation {
        Invocation::Ready(Err(Fault::NoSuchMethod {
            type_name: self.type_name().to_owned(),
            method,
        }))
    }

    fn encode(&self) -> Result<Encoded, Fault> {
        value::encode_borrowed(&self.0).map_err(|e| Fault::Decode(e.to_string()))
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}
