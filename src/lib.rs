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
//! # Layout
//!
//! - `id`: [`NodeId`], [`ObjectId`], [`Ref`], [`CallId`] — small `Copy` ids.
//! - `error`: the user-facing [`Error`].
//! - [`net`]: the wire (CBOR frames with raw bodies), connections, handshake.
//!   Knows nothing of actors, proxies or arrays.
//! - `actors`: the engine side, the only home of actix: [`Engine`], one
//!   session actor per peer, one actor per object, the type [`registry`].
//! - `proxy`: the client side, plain tokio: [`ObjectHub`], [`Remote`],
//!   [`Call`], scatter/gather, [`ObjectEngine`].
//! - [`value`]: how values become bytes (CBOR; arrays as raw bytes).
//! - `cluster`: [`Cluster`] (in-process, child processes, profiles),
//!   [`engine::main_if_engine`], the default cluster of the free functions.
//!
//! The flow of a call, one way and back:
//!
//! ```text
//! user call → proxy (Remote<T>) → Call → ObjectHub → net (frame) → engine session actor
//!           → ObjectTable → object actor → method → reply frame → Call resolves
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![doc(test(attr(deny(warnings))))]

mod actors;
mod cluster;
mod error;
mod id;
pub mod net;
mod proxy;
pub mod value;

/// The engine side: serving objects, and engine mode for programs.
pub mod engine {
    pub use crate::actors::{Engine, EngineError, HANDSHAKE_TIMEOUT};
    pub use crate::cluster::{engine_program, main_if_engine, run_engine, EngineProcess};
}

/// The type registry that `#[distob::remote]` fills.
pub mod registry {
    pub use crate::actors::hosted::{Dispatch, Host, Hosted, Invocation, Plain, Produced};
    pub use crate::actors::registry::{
        lookup, lookup_function, registered, FunctionEntry, FunctionFn, HostFn, ObjectSlot,
        TypeEntry,
    };
}

pub use actors::{Engine, EngineError};
pub use cluster::{
    default_cluster, gather, scatter, scatter_each, scatter_to, Cluster, EngineEntry, LaunchError,
    Profile, ProfileError,
};
pub use error::{Error, Result};
pub use id::{CallId, NodeId, ObjectId, Ref, TypeTag};
pub use net::wire::{MethodId, ObjectInfo};
pub use net::ClusterKey;
pub use net::wire::EngineStats;
pub use proxy::{call_all, Call, Gather, HeldObject, Invoke, ObjectEngine, ObjectHub, Remote, RemoteFn};
pub use value::{DType, Value};

/// The glob import: `use distob::prelude::*;`.
pub mod prelude {
    pub use crate::{gather, scatter, scatter_each, Call, Cluster, Gather, NodeId, Ref, Remote};
}
