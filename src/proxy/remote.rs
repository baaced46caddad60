//! [`Remote<T>`]: a live handle to one remote `T`.

use super::cache::{self, CacheFill, CacheStats, MethodCache};
use super::call::{Call, Decode};
use super::hub::{HeldObject, ObjectHub, Reply};
use crate::error::{Error, Result};
use crate::id::{NodeId, ObjectId, Ref};
use crate::net::wire::{CallOp, MethodId, Op, Outcome};
use crate::value::Lease;
use crate::value::{self, Value};
use bytes::Bytes;
use serde::Serialize;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// What every clone of one `Remote` shares; its hub keeps a weak pointer
/// to it, so that a handle decoded again finds the live one.
pub(crate) struct Handle {
    id: Ref,
    hub: ObjectHub,
    cache: OnceLock<Arc<MethodCache>>,
    /// An array's shape, known on the client without a round trip.
    shape: Option<Vec<usize>>,
}

impl Handle {
    pub(crate) fn new(id: Ref, hub: ObjectHub, shape: Option<Vec<usize>>) -> Arc<Handle> {
        Arc::new(Handle {
            id,
            hub,
            cache: OnceLock::new(),
            shape,
        })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.hub.release(self.id, self);
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
    /// The proxy of a shared handle.
    pub(crate) fn from_handle(handle: Arc<Handle>) -> Self {
        Remote {
            handle,
            _type: PhantomData,
        }
    }

    /// The handle of an object this hub creates now (its holder from the
    /// start: the engine counts it when it creates the object).
    pub(crate) fn created(hub: &ObjectHub, id: Ref, nbytes: u64, shape: Option<Vec<usize>>) -> Self
    where
        T: 'static,
    {
        let info = HeldObject {
            type_name: crate::actors::registry::stable_name::<T>(),
            nbytes,
        };
        Remote::from_handle(hub.new_handle(id, info, shape))
    }

    /// What keeps this handle alive while a payload carries it.
    pub(crate) fn keepalive(&self) -> Arc<dyn std::any::Any + Send + Sync> {
        self.handle.clone()
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
    /// first; `cached` answers from it, or fills it with the reply (replies
    /// that carry handles are never cached: a cached copy would not hold
    /// their objects).
    pub fn invoke<R: Value, E>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        how: Invoke,
    ) -> Call<R, E> {
        let id = self.handle.id;
        let (args, leases) = match self.prepare(args, how) {
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
        let call = self.send(op, leases, decode_value::<R, E>);
        match fill {
            Some(fill) => call.fill_cache(fill, cache::Cached::decode::<R, E>),
            None => call,
        }
    }

    /// Sends a call to a method that answers with a stream
    /// ([`Streamed`](crate::Streamed)); its items come on the
    /// [`CallStream`](crate::call::CallStream). Generated proxies go through here.
    pub fn invoke_stream<R: Value, E>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        how: Invoke,
    ) -> super::CallStream<R, E> {
        let id = self.handle.id;
        match self.prepare(args, how) {
            Ok((args, leases)) => {
                let op = Op::Call(CallOp(id.object, method, args, None));
                self.handle.hub.stream_leased(id.node, Some(id), op, leases)
            }
            Err(e) => super::CallStream::failed(e, id.node),
        }
    }

    /// Sends a method call whose result stays on the engine as a new object;
    /// the call resolves to its proxy once the engine holds it.
    pub fn invoke_kept<U: 'static, E>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        how: Invoke,
    ) -> Call<Remote<U>, E> {
        let id = self.handle.id;
        match self.prepare(args, how) {
            Ok((args, leases)) => self.kept(
                Op::Call(CallOp(id.object, method, args, None)),
                leases,
                None,
            ),
            Err(e) => Call::ready(Err(e), id.node, Some(id)),
        }
    }

    /// Encodes a call's arguments (with the leases of the handles among
    /// them; feeds among them start on their way to the engine); a mutating
    /// call empties the method cache.
    fn prepare<E>(
        &self,
        args: &impl Serialize,
        how: Invoke,
    ) -> Result<(Vec<u8>, Vec<Lease>), Error<E>> {
        let (encoded, feeds) = super::feed::collecting(|| value::to_cbor_leased(args));
        let encoded = encoded.map_err(Error::Codec)?;
        for (id, items) in feeds {
            self.handle.hub.pump_feed(self.node(), id, items);
        }
        if how.mutating {
            if let Some(cache) = self.handle.cache.get() {
                cache.invalidate();
            }
        }
        Ok(encoded)
    }

    /// Sends `op` (aimed at this object) with the leases of the handles it
    /// carries.
    fn send<R, E>(&self, op: Op, leases: Vec<Lease>, decode: Decode<R, E>) -> Call<R, E> {
        let id = self.handle.id;
        self.handle
            .hub
            .submit_leased(id.node, Some(id), op, Bytes::new(), leases, decode)
    }

    /// Sends a method call whose result stays on the engine as a new object,
    /// and returns that object's proxy at once: calls on it may follow
    /// straight away (they wait on the engine for the result). A failure
    /// surfaces when the result is used or gathered.
    pub fn invoke_into<U: 'static>(
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
    pub(crate) fn op_into<U: 'static>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        shape: Vec<usize>,
    ) -> Remote<U> {
        self.kept_at_once(
            |object, args| Op::Call(CallOp(object, method, args, None)),
            args,
            Some(shape),
        )
    }

    /// As [`op_into`](Remote::op_into), with a second object of the same
    /// engine as the method's operand, for a result whose shape
    /// this client may not know.
    pub(crate) fn combine_kept<U: 'static, V>(
        &self,
        method: MethodId,
        args: &impl Serialize,
        other: &Remote<V>,
        shape: Option<Vec<usize>>,
    ) -> Remote<U> {
        let other = other.id().object;
        self.kept_at_once(
            |object, args| Op::Combine(CallOp(object, method, args, None), other),
            args,
            shape,
        )
    }

    /// Encodes `args`, makes the op, keeps its result (of `shape`) on the
    /// engine and returns the result's proxy at once.
    fn kept_at_once<U: 'static>(
        &self,
        op: impl FnOnce(ObjectId, Vec<u8>) -> Op,
        args: &impl Serialize,
        shape: Option<Vec<usize>>,
    ) -> Remote<U> {
        let id = self.handle.id;
        let call: Call<Remote<U>> = match value::to_cbor_leased(args) {
            Ok((args, leases)) => self.kept(op(id.object, args), leases, shape),
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
        match value::to_cbor_leased(args) {
            Ok((args, leases)) => self.send(
                Op::Combine(CallOp(id.object, method, args, None), other.id().object),
                leases,
                decode_value::<R, _>,
            ),
            Err(e) => Call::ready(Err(Error::Codec(e)), id.node, Some(id)),
        }
    }

    /// The kept object's proxy of a call that is not awaited: the engine's
    /// acknowledgement is dropped, its failure recorded on the object.
    pub(crate) fn detach<U: 'static, E>(&self, call: Call<Remote<U>, E>) -> Remote<U> {
        match call.take_on_done() {
            Some(remote) => remote,
            // Encoding the arguments failed before anything was sent: the
            // handle names an object the engine never heard of, so using it
            // fails with `NoSuchObject`.
            None => Remote::created(
                &self.handle.hub,
                self.handle.hub.new_ref::<U>(self.node()),
                0,
                None,
            ),
        }
    }

    /// Sends `op` with a fresh `keep` id; resolves to the kept object's proxy.
    pub(crate) fn kept<U: 'static, E>(
        &self,
        mut op: Op,
        leases: Vec<Lease>,
        shape: Option<Vec<usize>>,
    ) -> Call<Remote<U>, E> {
        let hub = &self.handle.hub;
        let node = self.handle.id.node;
        let new = hub.new_ref::<U>(node);
        match &mut op {
            Op::Call(CallOp(.., keep))
            | Op::Combine(CallOp(.., keep), _)
            | Op::Apply { keep, .. } => *keep = Some(new.object),
            _ => {}
        }
        let remote = Remote::created(hub, new, 0, shape);
        self.send(op, leases, expect_done).on_done(remote)
    }

    /// A copy of the object on engine `node`, made engine to engine (the
    /// data never pass through this client). The handle comes at once;
    /// calls on it wait on `node` until the copy has arrived.
    pub fn copy_to(&self, node: NodeId) -> Result<Remote<T>>
    where
        T: 'static,
    {
        let (remote, pushed) = self.copy_to_acked(node)?;
        drop(pushed);
        Ok(remote)
    }

    /// [`copy_to`](Remote::copy_to), with the call that completes once the
    /// copy has arrived on `node`.
    pub(crate) fn copy_to_acked(&self, node: NodeId) -> Result<(Remote<T>, Call<()>)>
    where
        T: 'static,
    {
        let hub = &self.handle.hub;
        let addr = hub.engine_addr(node).ok_or(Error::NoSuchEngine(node))?;
        let new = hub.new_ref::<T>(node);
        let remote = Remote::created(hub, new, 0, self.handle.shape.clone());
        // The copy is expected on `node` first, so that calls on it queue
        // there (and this hub holds it there); the push goes to the source
        // engine, in order with this client's other calls and releases
        // there. Neither reply is awaited: a failed push marks the copy
        // failed, and using it reports why.
        let expect = Op::Expect {
            object: new.object,
            type_name: remote.type_name().to_owned(),
        };
        let expected: Call<()> = hub.submit(node, Some(new), expect, Bytes::new(), decode_done);
        drop(expected);
        let push = Op::Push {
            source: self.handle.id.object,
            object: new.object,
            to: node,
            addr,
        };
        Ok((remote, self.send(push, Vec::new(), decode_done)))
    }

    /// The registered name of the object's type, as this hub knows it.
    fn type_name(&self) -> &'static str {
        self.handle
            .hub
            .get(&self.handle.id)
            .map_or("(unknown)", |h| h.type_name)
    }

    /// Runs a registered function (`#[distob::function]`) with this object
    /// as its first argument, on the object's engine.
    pub fn apply<F, A, R>(&self, f: F, args: A) -> Call<R>
    where
        F: RemoteFn<T, A, R>,
        A: Serialize,
        R: Value,
    {
        drop(f);
        self.apply_named(std::any::type_name::<F>(), &args)
    }

    /// Runs the registered function of that name with this object as its
    /// first argument; its result comes back.
    pub(crate) fn apply_named<R: Value>(&self, name: &str, args: &impl Serialize) -> Call<R> {
        let id = self.handle.id;
        match apply_op(id.object, name, args) {
            Ok((op, leases)) => self.send(op, leases, decode_value::<R, _>),
            Err(e) => Call::ready(Err(Error::Codec(e)), id.node, Some(id)),
        }
    }

    /// As [`apply`](Remote::apply), keeping the result on the engine as a
    /// new object (its shape, for an array, as given); the handle comes at
    /// once.
    pub fn apply_into<F, A, R>(&self, f: F, args: A, shape: Option<Vec<usize>>) -> Remote<R>
    where
        F: RemoteFn<T, A, R>,
        A: Serialize,
        R: 'static,
    {
        drop(f);
        self.apply_named_into(std::any::type_name::<F>(), &args, shape)
    }

    /// Runs the registered function of that name with this object as its
    /// first argument, keeping the result on the engine (the crate's own
    /// engine-side functions go through here).
    pub(crate) fn apply_named_into<R: 'static>(
        &self,
        name: &str,
        args: &impl Serialize,
        shape: Option<Vec<usize>>,
    ) -> Remote<R> {
        self.detach(self.apply_named_kept(name, args, shape))
    }

    /// As [`apply_named_into`](Remote::apply_named_into), with the call
    /// that completes (or fails) once the result is kept.
    pub(crate) fn apply_named_kept<R: 'static>(
        &self,
        name: &str,
        args: &impl Serialize,
        shape: Option<Vec<usize>>,
    ) -> Call<Remote<R>> {
        let id = self.handle.id;
        match apply_op(id.object, name, args) {
            Ok((op, leases)) => self.kept(op, leases, shape),
            Err(e) => Call::ready(Err(Error::Codec(e)), id.node, Some(id)),
        }
    }
}

/// The op that runs the registered function `name` on `object` with `args`.
fn apply_op(
    object: ObjectId,
    name: &str,
    args: &impl Serialize,
) -> Result<(Op, Vec<Lease>), crate::value::ValueError> {
    let (args, leases) = value::to_cbor_leased(args)?;
    let op = Op::Apply {
        object,
        function: MethodId::of_name(name),
        args,
        keep: None,
    };
    Ok((op, leases))
}

impl<T: Value> Remote<T> {
    /// Brings a copy of the value back (the object stays where it is).
    ///
    /// A large value (an array of a million elements or more, or a
    /// scattered value over 1 MiB) comes back on the engine's bulk
    /// connection, so that small replies do not wait behind it.
    pub fn fetch(&self) -> Call<T> {
        let id = self.handle.id;
        self.handle.hub.submit(
            id.node,
            Some(id),
            self.fetch_op(),
            Bytes::new(),
            decode_value::<T, _>,
        )
    }

    /// The op that fetches the value: on the bulk connection when large.
    pub(crate) fn fetch_op(&self) -> Op {
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
        if large {
            Op::GetBulk(id.object)
        } else {
            Op::Get(id.object)
        }
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

/// Decodes a `Value` reply (its handles bound to the hub that received
/// it; they count as arrived once it is decoded).
pub(crate) fn decode_value<T: Value, E>(reply: Reply) -> Result<T, Error<E>> {
    let Reply {
        outcome,
        body,
        landing,
        ..
    } = reply;
    match outcome {
        Outcome::Value(head) => Ok(super::handles::decode_landed(landing.as_ref(), || {
            value::decode(&head, body)
        })?),
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
