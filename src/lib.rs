//! # distob: distributed computing with remote objects
//!
//! Scatter ordinary Rust values — any serde type, your own structs with
//! methods, `ndarray` arrays — onto **engines** (actor hosts in this process,
//! in child processes, or on other machines), keep typed proxies in their
//! place, and compute where the data lives.
//!
//! ```
//! # async fn demo() -> distob::Result<()> {
//! use distob::Cluster;
//! let cluster = Cluster::local(2).await?;                 // two in-process engines
//! let x = cluster.scatter(vec![1.0f64, 2.0, 3.0]).await?;  // a Remote<Vec<f64>>
//! println!("{} lives at {}", std::any::type_name::<Vec<f64>>(), x.id());
//! let back: Vec<f64> = cluster.gather(&x).await?;
//! assert_eq!(back, [1.0, 2.0, 3.0]);
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! # The public API
//!
//! At the root, what nearly every program names: [`Cluster`] and
//! [`ClusterBuilder`], [`Remote`] handles and their [`Call`]s, [`Ctx`] for
//! engine code, [`Streamed`] and [`Feed`] streams, [`RemoteArray`] and
//! [`DistArray`], [`NodeId`] and [`Ref`], [`ObjectHub`], [`Engine`],
//! [`Error`] and [`Result`], the free [`scatter`] and [`gather`], and the
//! macros ([`remote`], [`function`], [`main`], [`register!`],
//! [`test_engine!`]). [`prelude`] is the glob import. The rest, by theme:
//!
//! - [`call`]: streams, deadlines ([`WithTimeout`](call::WithTimeout)),
//!   fates, [`call_all`](call::call_all), the method cache, bounds;
//! - [`cluster`]: settings and profiles, events, what an engine reports
//!   ([`ObjectEngine`](cluster::ObjectEngine)), keys and link options;
//! - [`engine`]: serving objects ([`EngineLimits`](engine::EngineLimits),
//!   [`main_if_engine`](engine::main_if_engine), [`run_engine`](engine::run_engine));
//! - [`launch`]: the [`Launcher`](launch::Launcher) seam, ssh and Slurm;
//! - [`array`](mod@array), [`value`], [`registry`], [`id`], [`error`].
//!
//! # Layout
//!
//! - `id`: small `Copy` ids.
//! - `error`: the user-facing [`Error`] (of calls) and
//!   [`StartError`](error::StartError) (of starting a cluster).
//! - `net` (private): the wire (CBOR frames with raw bodies), connections,
//!   handshake, TLS. Knows nothing of actors, proxies or arrays. Its
//!   internals are public only under the hidden `internals` feature, for
//!   distob's own tests, fuzz targets and benches.
//! - `actors`: the engine side, the only home of actix: [`Engine`], one
//!   session actor per peer (and a local one for the engine's own code),
//!   one actor per object, the object table with each object's holders,
//!   [`Ctx`] for engine code, names and kills, the type [`registry`].
//! - `proxy`: the hub side, plain tokio, for clients and engine code alike:
//!   [`ObjectHub`] (links to engines, an engine's local port), [`Remote`]
//!   (a serde value: handles travel in arguments and results), [`Call`],
//!   holds and leases of handles in flight, names and attach,
//!   scatter/gather.
//! - [`value`]: how values become bytes (CBOR; arrays as raw bytes).
//! - [`array`](mod@array): [`RemoteArray`] and [`DistArray`], built on the proxy and
//!   registry seams; their kernels run on engines.
//! - [`cluster`]: [`Cluster`] (in-process, child processes, profiles, and
//!   engines started through a [`launch::Launcher`] — local processes, ssh,
//!   Slurm — that dial back and register), [`ClusterBuilder`] and its
//!   settings, the default cluster of the free functions.
//!
//! The flow of a call, one way and back:
//!
//! ```text
//! user call → proxy (Remote<T>) → Call → ObjectHub → net (frame) → engine session actor
//!           → ObjectTable → object actor → method → reply frame → Call resolves
//! ```
//!
//! Engine code calls the same way, through its engine's own hub ([`Ctx`],
//! or any handle an object holds): to other engines over that engine's
//! links, to objects of its own engine through its local session (no
//! socket).

#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![doc(test(attr(deny(warnings))))]

mod actors;
pub mod array;
pub mod cluster;
#[cfg(feature = "dashboard")]
mod dashboard;
pub mod error;
pub mod id;
mod macro_support;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod net;
#[cfg(not(feature = "internals"))]
#[allow(unreachable_pub, dead_code, unused_imports)]
mod net;
mod proxy;
mod telemetry;
pub mod value;

pub use actors::ctx::Ctx;
pub use actors::stream::Streamed;
pub use actors::Engine;
pub use array::{DistArray, RemoteArray};
pub use cluster::{gather, scatter, Cluster, ClusterBuilder};
pub use error::{Error, Result};
pub use id::{NodeId, Ref};
pub use proxy::{Call, Feed, ObjectHub, Remote};

/// Calls and what goes with them: streams, deadlines, fates, batches,
/// transfers and their progress, the method cache, and their bounds.
pub mod call {
    pub use crate::actors::ctx::Timer;
    pub use crate::actors::stream::Streamed;
    pub use crate::error::{CallFate, NameError};
    pub use crate::proxy::{
        call_all, CacheStats, Call, CallStream, Feed, Gather, Invoke, Progress, RemoteFn, Timed,
        Transfer, WithTimeout, DEFAULT_METHOD_CACHE_BYTES, DEFAULT_WINDOW_BYTES,
        DEFAULT_WINDOW_ITEMS, FEED_WINDOW, MAX_BULK_IN_FLIGHT, MAX_NAME_LEN, PROGRESS_PERIOD,
    };
}

/// The engine side: serving objects, its limits, and engine mode for
/// programs.
pub mod engine {
    pub use crate::actors::{
        Engine, EngineError, EngineLimits, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_QUEUED,
        DRAIN_DEADLINE, HANDSHAKE_TIMEOUT,
    };
    pub use crate::cluster::process::{
        engine_program, main_if_engine, run_engine, shutdown_signal, EngineProcess,
    };
    pub use crate::net::Limits as FrameLimits;
}

/// The type registry that `#[distob::remote]` fills (and
/// [`register!`] for hand-written [`Dispatch`](registry::Dispatch) impls).
pub mod registry {
    pub use crate::actors::hosted::{Dispatch, Host, Hosted, Invocation, OnPanic, Plain, Produced};
    pub use crate::actors::registry::{
        lookup, lookup_function, method_name, registered, stable_name, type_name_of, AdoptFn,
        FunctionEntry, FunctionFn, HostFn, ObjectSlot, TypeEntry,
    };
    pub use crate::actors::stream::Encodings;
    pub use crate::macro_support::no_such_method;
    pub use crate::net::wire::Fault;
}

/// Starting engines where they run and registering them: the
/// [`Launcher`](launch::Launcher) seam, its backends, and the engine side of
/// registration.
pub mod launch {
    pub use crate::cluster::launch::{
        LaunchError, LaunchRecord, Launcher, LocalProcesses, Slurm, Ssh,
    };
    pub use crate::cluster::launched::Unregistered;
    pub use crate::cluster::process::{join_token, route_back, run_engine_joining, Join};
    pub use crate::cluster::registrar::register_with;
}

#[doc(hidden)]
pub mod __private {
    pub use crate::array::engine::chain::chained_sum;
    pub use crate::array::engine::create::normal_into;
    pub use crate::cluster::process::{serve_test_engine, TestEngine};
    pub use crate::macro_support::*;
    pub use crate::telemetry::set_telemetry;
}

/// Makes this test binary able to serve as engines for its own types: put
/// it once in an integration test file (`tests/*.rs`) of a crate that
/// depends on distob, and [`Cluster::spawn`] there starts engine processes
/// of this very test binary, hosting the types the test defines. It adds
/// one test, `__distob_test_engine`, which does nothing in a normal run and
/// serves as the engine in the processes `Cluster::spawn` starts.
///
/// ```text
/// // tests/workers.rs
/// distob::test_engine!();
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// pub struct Worker { done: u32 }
///
/// #[distob::remote]
/// impl Worker { pub fn work(&mut self) -> u32 { self.done += 1; self.done } }
///
/// #[tokio::test]
/// async fn workers_run_in_engine_processes() -> Result<(), Box<dyn std::error::Error>> {
///     let cluster = distob::Cluster::spawn(2).await?;
///     let w: RemoteWorker = cluster.scatter(Worker { done: 0 }).await?;
///     assert_eq!(w.work().await?, 1);
///     Ok(())
/// }
/// ```
#[macro_export]
macro_rules! test_engine {
    () => {
        #[test]
        fn __distob_test_engine() {
            $crate::__private::serve_test_engine();
        }
        $crate::__private::inventory::submit! {
            $crate::__private::TestEngine {
                test: concat!(module_path!(), "::__distob_test_engine"),
            }
        }
    };
}

/// Turns the public methods of an `impl` block into remote calls — the
/// Rust form of distob's `@proxy_methods`.
///
/// For `impl Counter { .. }` it generates:
/// - `RemoteCounter`, an alias of [`Remote<Counter>`](Remote), and the trait
///   `CounterProxy` that gives it every public method: `&self` and `&mut
///   self` methods alike take `&self` on the proxy and return a [`Call`],
///   sent at once; calls on one object run in the order they were made.
/// - one message per method (its arguments, a CBOR tuple) and the engine's
///   dispatch (the object actor's handler runs the method), with method ids
///   hashed from `"Counter::incr"`, so reordering methods changes nothing;
/// - the registration of `Counter` in the engine type registry, under the
///   stable name `module_path!()::Counter` (or the one given by
///   `#[distob::remote(name = "...")]`), so any engine built from this code
///   — `Cluster::local`, and `Cluster::spawn` engines re-run from this
///   executable ([`engine::main_if_engine`]) — hosts it.
///
/// Rules: private and `#[distob(skip)]` methods and associated functions
/// are not proxied; arguments and results are serde types (`&str`, `&[T]`
/// and `&T` arguments are sent as the owned value); a method returning
/// `Result<T, E>` gives `Call<T, E>` whose `Err` arrives as
/// [`Error::Remote`]; `async fn` methods run on the engine with the object's
/// mailbox held until they finish. `#[distob(cached)]` on a `&self` method
/// keeps its results in a client-side LRU per object (any `&mut self` call
/// through this client empties it); `#[distob(remote_result)]` keeps the
/// result on the engine and returns its proxy. A method may take
/// `ctx: &distob::Ctx` as its first argument after the receiver: engine
/// code's context ([`Ctx`]), kept off the wire and out of the proxy's
/// signature. Arguments and results may be (or contain) handles
/// ([`Remote`]). A method returning [`Streamed<T>`](Streamed) (or
/// `Result<Streamed<T>, E>`) gives a [`CallStream`](call::CallStream) on the proxy; an
/// argument of type [`Feed<T>`](Feed) takes a stream from the caller.
/// `#[distob::remote(on_panic = "poison" | "continue" | "restart",
/// max_restarts = N, restart_window_secs = S)]` says what a panic in a
/// `&mut self` method does to the object (default: poison it; see
/// [`registry::OnPanic`]); `restart` rebuilds it with `Default`, or with the
/// associated `#[distob(init)] fn … -> Self`. `name = "..."` fixes the name
/// the type registers under. Generic methods and `self` by value are compile
/// errors that say why.
///
/// ```
/// use distob::Cluster;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct Counter { n: i64 }
///
/// #[distob::remote]
/// impl Counter {
///     pub fn incr(&mut self, by: i64) -> i64 { self.n += by; self.n }
///     pub fn get(&self) -> i64 { self.n }
/// }
///
/// # async fn demo() -> distob::Result<()> {
/// let cluster = Cluster::local(2).await?;
/// let c: RemoteCounter = cluster.scatter(Counter { n: 0 }).await?;
/// let a = c.incr(5);              // sent now
/// let b = c.incr(1);              // sent now, runs after the first
/// assert_eq!((a.await?, b.await?), (5, 6));
/// assert_eq!(c.get().await?, 6);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
///
/// <details><summary>What it expands to (abridged)</summary>
///
/// ```text
/// impl Counter { /* the methods, unchanged */ }
///
/// pub type RemoteCounter = ::distob::Remote<Counter>;
///
/// pub trait CounterProxy {
///     fn incr(&self, __a0: i64) -> ::distob::Call<i64>;
///     fn get(&self) -> ::distob::Call<i64>;
/// }
///
/// impl CounterProxy for ::distob::Remote<Counter> {
///     fn incr(&self, __a0: i64) -> ::distob::Call<i64, Infallible> {
///         ::distob::Remote::invoke(self, const { MethodId::of_name("Counter::incr") }, &(__a0,),
///             Invoke { mutating: true, cached: false })
///     }
///     fn get(&self) -> ::distob::Call<i64, Infallible> { /* mutating: false */ }
/// }
///
/// const _: () = {
///     impl ::distob::__private::Dispatch for Counter {
///         const NAME: &'static str = concat!(module_path!(), "::", "Counter");
///         fn dispatch(cell: &Rc<RefCell<Self>>, ctx: &Ctx, method: MethodId, args: &[u8])
///             -> Invocation {
///             match method {
///                 m if m == MethodId::of_name("Counter::incr") => {
///                     let (mut __a0,): (i64,) = decode_args(args)?;   // as a fault reply
///                     let r = cell.borrow_mut().incr(__a0);
///                     Invocation::Ready(ok_value(r))
///                 }
///                 m if m == MethodId::of_name("Counter::get") => { /* cell.borrow().get() */ }
///                 _ => no_such_method::<Self>(method),
///             }
///         }
///     }
///     inventory::submit! { TypeEntry::of::<Counter>() }
///     fn __distob_wire_types() { assert_wire::<i64>(); /* every argument and result */ }
/// };
/// ```
/// </details>
pub use distob_macros::remote;

/// Registers a free function so that [`Remote::apply`] (or
/// [`Cluster::call`]) runs it on the engine that holds its first argument,
/// passed by reference (distob's `call`/`apply`).
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// #[distob::function]
/// fn norm(v: &Vec<f64>, p: f64) -> f64 {
///     v.iter().map(|x| x.abs().powf(p)).sum::<f64>().powf(1.0 / p)
/// }
///
/// let cluster = distob::Cluster::local(2).await?;
/// let v = cluster.scatter(vec![3.0, 4.0]).await?;
/// assert_eq!(cluster.call(norm, &v, (2.0,)).await?, 5.0);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub use distob_macros::function;

/// Put on `main` (above `#[tokio::main]` if there is one) to make the
/// program serve as an engine when [`Cluster::spawn`] starts it as one:
/// the same as calling [`engine::main_if_engine`] first thing.
pub use distob_macros::main;

/// Registers a type with a hand-written [`registry::Dispatch`] impl, so
/// that engines built from this code host it (what `#[distob::remote]`
/// does for its types).
///
/// ```
/// use distob::registry::{Dispatch, Invocation, Produced};
/// use distob::id::MethodId;
/// use std::{cell::RefCell, rc::Rc};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Tally(u64);
///
/// impl Dispatch for Tally {
///     const NAME: &'static str = "docs::Tally";
///     fn dispatch(cell: &Rc<RefCell<Self>>, _: &distob::Ctx, method: MethodId, _: &[u8]) -> Invocation {
///         if method == MethodId::of_name("Tally::bump") {
///             cell.borrow_mut().0 += 1;
///             let n = cell.borrow().0;
///             let enc = distob::value::encode(n).map_err(|e| distob::registry::Fault::Decode(e.to_string()));
///             return Invocation::Ready(enc.map(|e| Produced::Value(e, "u64")));
///         }
///         distob::registry::no_such_method::<Self>(method)
///     }
/// }
/// distob::register!(Tally);
/// assert!(distob::registry::registered().contains(&"docs::Tally"));
/// assert_eq!(distob::registry::stable_name::<Tally>(), "docs::Tally");
/// ```
#[macro_export]
macro_rules! register {
    ($t:ty) => {
        $crate::__private::inventory::submit! { $crate::registry::TypeEntry::of::<$t>() }
    };
}

/// The glob import: `use distob::prelude::*;`.
pub mod prelude {
    pub use crate::call::{call_all, CallStream, Gather, WithTimeout};
    pub use crate::cluster::scatter_each;
    pub use crate::{
        gather, scatter, Call, Cluster, Ctx, DistArray, Feed, NodeId, Ref, Remote, RemoteArray,
        Streamed,
    };
}
