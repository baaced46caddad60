//! [`Remote<T>`]: a live handle to one remote `T`.

use super::cache::{self, CacheFill, CacheStats, MethodCache};
use super::call::Call;
use super::hub::{HeldObject, ObjectHub, Reply};
use crate::error::{Error, Result};
use crate::id::{NodeId, Ref};
use crate::net::wire::{CallOp, MethodId, Op, Outcome};
use crate::value::{self, Value};
use bytes::Bytes;
use serde::Serialize;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

struct Handle {
    id: Ref,
    hub: ObjectHub,
    cache: OnceLock<Arc<MethodCache>>,
    /// An array's shape, known on the client without a round trip.
    shape: Option<Vec<usize>>,
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
        Self::adopt_shaped(id, hub, None)
    }

    /// As [`adopt`](Remote::adopt), for an array of a known shape.
    pub(crate) fn adopt_shaped(id: Ref, hub: ObjectHub, shape: Option<Vec<usize>>) -> Self {
        Remote {
            handle: Arc::new(Handle {
                id,
                hub,
                cache: OnceLock::new(),
                shape,
            }),
            _type: PhantomData,
        }
    }

    /// The array shape recorded with the handle, if any.
    pub(crate) fn shape_meta(&self) -> Option<&[usize]> {
        self.handle.shape.as_deref()
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

    fn cache(&self) -> &Arc<MethodCache> {
        self.handle.cache.get_or_init(Default::default)
    }

    /// How full this object's cache of `#[distob(cached)]` replies is (on
    /// this client; shared by every clone of the handle).
    pub fn method_cache_stats(&self) -> CacheStats {
        self.handle.cache.get().map_or(
            CacheStats {
                entries: 0,
                bytes: 0,
            },
            |c| c.stats(),
        )
    }

    /// Sends a method call (generated proxies go through here).
    ///
    /// `mutating` (a `&mut self` method) empties this object's method cache
    /// first; `cached` answers from it, or fills it with the reply.
    pub fn invoke<R: Value, E>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        how: Invoke,
    ) -> Call<R, E> {
        let id = self.handle.id;
        let args = match self.prepare(args, how) {
            Ok(a) => a,
            Err(e) => return Call::ready(Err(e), id.node, Some(id)),
        };
        let fill = if how.cached {
            let cache = self.cache();
            let key = cache::key(method, &args);
            if let Some(hit) = cache.get(&key) {
                return Call::ready(hit.decode::<R, E>(), id.node, Some(id));
            }
            Some(CacheFill {
                cache: cache.clone(),
                generation: cache.generation(),
                key,
                limit: self.handle.hub.method_cache_limit(),
            })
        } else {
            None
        };
        let op = Op::Call(CallOp(id.object, method, args, None));
        let call =
            self.handle
                .hub
                .submit(id.node, Some(id), op, Bytes::new(), decode_value::<R, E>);
        match fill {
            Some(fill) => call.fill_cache(fill, cache::Cached::decode::<R, E>),
            None => call,
        }
    }

    /// Sends a method call whose result stays on the engine as a new object;
    /// the call resolves to its proxy once the engine holds it.
    pub fn invoke_kept<U, E>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        how: Invoke,
    ) -> Call<Remote<U>, E> {
        let id = self.handle.id;
        match self.prepare(args, how) {
            Ok(args) => self.kept(Op::Call(CallOp(id.object, method, args, None)), None),
            Err(e) => Call::ready(Err(e), id.node, Some(id)),
        }
    }

    /// Encodes a call's arguments; a mutating call empties the method cache.
    fn prepare<E>(&self, args: &impl Serialize, how: Invoke) -> Result<Vec<u8>, Error<E>> {
        let args = value::to_cbor(args).map_err(Error::Codec)?;
        if how.mutating {
            if let Some(cache) = self.handle.cache.get() {
                cache.invalidate();
            }
        }
        Ok(args)
    }

    /// Sends a method call whose result stays on the engine as a new object,
    /// and returns that object's proxy at once: calls on it may follow
    /// straight away (they wait on the engine for the result). A failure
    /// surfaces when the result is used or gathered.
    pub fn invoke_into<U>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        how: Invoke,
    ) -> Remote<U> {
        let call: Call<Remote<U>> = self.invoke_kept(method, args, how);
        self.detach(call)
    }

    /// Sends a call whose result, of a known shape, stays on the engine;
    /// returns its proxy at once (array operations go through here).
    pub(crate) fn op_into<U>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        shape: Vec<usize>,
    ) -> Remote<U> {
        let id = self.handle.id;
        let call: Call<Remote<U>> = match value::to_cbor(args) {
            Ok(args) => self.kept(Op::Call(CallOp(id.object, method, args, None)), Some(shape)),
            Err(e) => Call::ready(Err(Error::Codec(e)), id.node, Some(id)),
        };
        self.detach(call)
    }

    /// As [`op_into`](Remote::op_into), with a second object of the same
    /// engine as the method's operand.
    pub(crate) fn combine_into<U, V>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        other: &Remote<V>,
        shape: Vec<usize>,
    ) -> Remote<U> {
        let id = self.handle.id;
        let call: Call<Remote<U>> = match value::to_cbor(args) {
            Ok(args) => self.kept(
                Op::Combine(CallOp(id.object, method, args, None), other.id().object),
                Some(shape),
            ),
            Err(e) => Call::ready(Err(Error::Codec(e)), id.node, Some(id)),
        };
        self.detach(call)
    }

    /// A call with a second object of the same engine as the method's
    /// operand, whose result comes back (or is `()` for in-place methods).
    pub(crate) fn combine_call<V, R: Value>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        other: &Remote<V>,
    ) -> Call<R> {
        let id = self.handle.id;
        match value::to_cbor(args) {
            Ok(args) => self.handle.hub.submit(
                id.node,
                Some(id),
                Op::Combine(CallOp(id.object, method, args, None), other.id().object),
                Bytes::new(),
                decode_value::<R, _>,
            ),
            Err(e) => Call::ready(Err(Error::Codec(e)), id.node, Some(id)),
        }
    }

    /// The kept object's proxy of a call that is not awaited: the engine's
    /// acknowledgement is dropped, its failure recorded on the object.
    pub(crate) fn detach<U, E>(&self, call: Call<Remote<U>, E>) -> Remote<U> {
        match call.take_on_done() {
            Some(remote) => remote,
            // Encoding the arguments failed before anything was sent: the
            // handle names an object the engine never heard of, so using it
            // fails with `NoSuchObject`.
            None => Remote::adopt(
                self.handle.hub.new_ref::<U>(self.node()),
                self.handle.hub.clone(),
            ),
        }
    }

    /// Sends `op` with a fresh `keep` id; resolves to the kept object's proxy.
    pub(crate) fn kept<U, E>(&self, mut op: Op, shape: Option<Vec<usize>>) -> Call<Remote<U>, E> {
        let hub = &self.handle.hub;
        let node = self.handle.id.node;
        let new = hub.new_ref::<U>(node);
        match &mut op {
            Op::Call(CallOp(.., keep))
            | Op::Combine(CallOp(.., keep), _)
            | Op::Apply { keep, .. } => *keep = Some(new.object),
            _ => {}
        }
        hub.hold(
            new,
            HeldObject {
                type_name: std::any::type_name::<U>(),
                nbytes: 0,
            },
        );
        let remote = Remote::adopt_shaped(new, hub.clone(), shape);
        hub.submit(node, Some(self.handle.id), op, Bytes::new(), expect_done)
            .on_done(remote)
    }

    /// A copy of the object on engine `node`, made engine to engine (the
    /// data never pass through this client). The handle comes at once;
    /// calls on it wait on `node` until the copy has arrived.
    pub fn copy_to(&self, node: NodeId) -> Result<Remote<T>> {
        let (remote, pushed) = self.copy_to_acked(node)?;
        drop(pushed);
        Ok(remote)
    }

    /// [`copy_to`](Remote::copy_to), with the call that completes once the
    /// copy has arrived on `node`.
    pub(crate) fn copy_to_acked(&self, node: NodeId) -> Result<(Remote<T>, Call<()>)> {
        let hub = &self.handle.hub;
        let to = hub.engine_addr(node).ok_or(Error::NoSuchEngine(node))?;
        let new = hub.new_ref::<T>(node);
        let type_name = std::any::type_name::<T>();
        hub.hold(
            new,
            HeldObject {
                type_name,
                nbytes: 0,
            },
        );
        let remote = Remote::adopt_shaped(new, hub.clone(), self.handle.shape.clone());
        // The copy is expected on `node` first, so that calls on it queue
        // there; the push goes to the source engine, in order with this
        // client's other calls and releases there. Neither reply is awaited:
        // a failed push marks the copy failed, and using it reports why.
        let expect = Op::Expect {
            object: new.object,
            type_name: type_name.to_owned(),
        };
        let expected: Call<()> = hub.submit(node, Some(new), expect, Bytes::new(), decode_done);
        drop(expected);
        let push = Op::Push {
            source: self.handle.id.object,
            object: new.object,
            to,
        };
        let pushed: Call<()> = hub.submit(
            self.node(),
            Some(self.handle.id),
            push,
            Bytes::new(),
            decode_done,
        );
        Ok((remote, pushed))
    }

    /// Runs a registered function (`#[distob::function]`) with this object
    /// as its first argument, on the object's engine.
    pub fn apply<F, A, R>(&self, f: F, args: A) -> Call<R>
    where
        F: RemoteFn<T, A, R>,
        A: Serialize,
        R: Value,
    {
        let id = self.handle.id;
        let args = match value::to_cbor(&args) {
            Ok(a) => a,
            Err(e) => return Call::ready(Err(Error::Codec(e)), id.node, Some(id)),
        };
        drop(f);
        let op = Op::Apply {
            object: id.object,
            function: MethodId::of_name(std::any::type_name::<F>()),
            args,
            keep: None,
        };
        self.handle
            .hub
            .submit(id.node, Some(id), op, Bytes::new(), decode_value::<R, _>)
    }

    /// As [`apply`](Remote::apply), keeping the result on the engine as a
    /// new object (its shape, for an array, as given); the handle comes at
    /// once.
    pub fn apply_into<F, A, R>(&self, f: F, args: A, shape: Option<Vec<usize>>) -> Remote<R>
    where
        F: RemoteFn<T, A, R>,
        A: Serialize,
    {
        let id = self.handle.id;
        drop(f);
        let call: Call<Remote<R>> = match value::to_cbor(&args) {
            Ok(args) => self.kept(
                Op::Apply {
                    object: id.object,
                    function: MethodId::of_name(std::any::type_name::<F>()),
                    args,
                    keep: None,
                },
                shape,
            ),
            Err(e) => Call::ready(Err(Error::Codec(e)), id.node, Some(id)),
        };
        self.detach(call)
    }
}

impl<T: Value> Remote<T> {
    /// Brings a copy of the value back (the object stays where it is).
    ///
    /// A large value (an array of a million elements or more, or a
    /// scattered value over 1 MiB) comes back on the engine's bulk
    /// connection, so that small replies do not wait behind it.
    pub fn fetch(&self) -> Call<T> {
        let id = self.handle.id;
        let hub = &self.handle.hub;
        let large = self
            .handle
            .shape
            .as_ref()
            .is_some_and(|s| s.iter().product::<usize>() >= BULK_ELEMENTS)
            || hub
                .get(&id)
                .is_some_and(|h| h.nbytes > super::link::BULK_THRESHOLD as u64);
        let op = if large {
            Op::GetBulk(id.object)
        } else {
            Op::Get(id.object)
        };
        hub.submit(id.node, Some(id), op, Bytes::new(), decode_value::<T, _>)
    }
}

/// Arrays of at least this many elements are fetched over the bulk
/// connection (1 MiB of 8-byte elements).
const BULK_ELEMENTS: usize = super::link::BULK_THRESHOLD / 8;

/// How a generated proxy method calls: see [`Remote::invoke`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Invoke {
    /// The method takes `&mut self`: empty the object's method cache.
    pub mutating: bool,
    /// The method is `#[distob(cached)]`.
    pub cached: bool,
}

/// A free function registered with `#[distob::function]`, callable on a
/// remote first argument of type `T` with the other arguments `A` (a tuple).
pub trait RemoteFn<T, A, R> {}

impl<F, T, R> RemoteFn<T, (), R> for F where F: Fn(&T) -> R {}
impl<F, T, A1, R> RemoteFn<T, (A1,), R> for F where F: Fn(&T, A1) -> R {}
impl<F, T, A1, A2, R> RemoteFn<T, (A1, A2), R> for F where F: Fn(&T, A1, A2) -> R {}
impl<F, T, A1, A2, A3, R> RemoteFn<T, (A1, A2, A3), R> for F where F: Fn(&T, A1, A2, A3) -> R {}
impl<F, T, A1, A2, A3, A4, R> RemoteFn<T, (A1, A2, A3, A4), R> for F where
    F: Fn(&T, A1, A2, A3, A4) -> R
{
}

/// Decodes a `Value` reply.
pub(crate) fn decode_value<T: Value, E>(reply: Reply) -> Result<T, Error<E>> {
    match reply.outcome {
        Outcome::Value(head) => Ok(value::decode(&head, reply.body)?),
        _ => Err(unexpected().widen()),
    }
}

/// Accepts a `Done` reply.
pub(crate) fn decode_done(reply: Reply) -> Result<()> {
    match reply.outcome {
        Outcome::Done => Ok(()),
        _ => Err(unexpected()),
    }
}

fn expect_done<T, E>(_: Reply) -> Result<T, Error<E>> {
    Err(unexpected().widen())
}

pub(crate) fn unexpected() -> Error {
    Error::Protocol(crate::net::NetError::Protocol {
        expected: "a reply of the kind the request asks for",
    })
}
