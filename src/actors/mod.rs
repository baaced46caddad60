//! The engine side: the only home of actix.
//!
//! ```text
//! actix System (one thread per engine, or per group of in-process engines)
//! └── Engine::serve            accept loop; handshake per connection;
//!     │                        EngineState (state.rs) shared by all below
//!     ├── Session actor        one per peer: reads its frames, routes requests
//!     │     replies ──────────────────────────────┐ (FrameWriter, batched)
//!     └── ObjectTable          id → object actor   │
//!         └── ObjectActor      one per object: runs its calls in order, replies
//! ```
//!
//! A request's path: session reads the frame → looks the object up in the
//! table → `do_send` to the object actor → the actor runs the method (panics
//! caught) → writes the reply frame to the peer's writer. All of it runs on
//! the engine's one thread: no thread hop between socket and method.
//! In-process engines hand values to each other by reference (`exchange`);
//! other engines are reached over authenticated links (`peers`).

pub(crate) mod ctx;
pub(crate) mod engine;
pub(crate) mod exchange;
pub(crate) mod held;
pub(crate) mod hosted;
pub(crate) mod limits;
pub(crate) mod names;
pub(crate) mod object;
pub(crate) mod ops;
pub(crate) mod push;
pub(crate) mod registry;
pub(crate) mod reply;
mod running;
pub(crate) mod session;
pub(crate) mod snapshots;
pub(crate) mod state;
pub(crate) mod stream;
pub(crate) mod table;
mod trim;

pub(crate) use engine::LocalDialer;
pub use engine::{
    Engine, EngineError, EngineLimits, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_QUEUED, DRAIN_DEADLINE,
    HANDSHAKE_TIMEOUT,
};
pub(crate) use exchange::{in_process_dialer, take_lent};
