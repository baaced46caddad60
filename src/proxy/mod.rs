//! The client side: plain tokio, `Send`, usable from any runtime.
//!
//! ```text
//! Remote<T> ──(method, fetch)──▶ Call<T> ◀── reply ── reader task (one per engine)
//!     │                             ▲
//!     └── ObjectHub ── FrameWriter ─┘  (the caller writes its own frame)
//! ```

pub(crate) mod cache;
pub(crate) mod call;
pub(crate) mod deadline;
pub(crate) mod failures;
pub(crate) mod feed;
pub(crate) mod handles;
pub(crate) mod holds;
pub(crate) mod hub;
pub(crate) mod link;
mod link_open;
pub(crate) mod local;
pub(crate) mod names;
pub(crate) mod object_engine;
mod pending;
pub(crate) mod progress;
pub(crate) mod reconnect;
pub(crate) mod remote;
pub(crate) mod routes;
pub(crate) mod runtime;
pub(crate) mod scatter;
pub(crate) mod stream;
pub(crate) mod submit;

pub use cache::{CacheStats, DEFAULT_METHOD_CACHE_BYTES};
pub use call::{call_all, Call};
pub use deadline::{Timed, WithTimeout};
pub use failures::{Failure, FAILURES_KEPT};
pub use feed::{Feed, FEED_WINDOW};
pub use hub::{ClusterEvent, HeldObject, ObjectHub};
pub use link::MAX_BULK_IN_FLIGHT;
pub use names::MAX_NAME_LEN;
pub use object_engine::ObjectEngine;
pub use progress::{Progress, Transfer, PROGRESS_PERIOD};
pub use reconnect::{ClusterEvents, EVENT_BACKLOG};
pub use remote::{Invoke, Remote, RemoteFn};
pub use scatter::Gather;
pub use stream::{CallStream, DEFAULT_WINDOW_BYTES, DEFAULT_WINDOW_ITEMS};
