//! [`EngineLimits`]: what an engine bounds, so that no peer can make it
//! queue or buffer without end.

use crate::net::Limits;
use std::time::Duration;

/// Calls one connection may have in flight by default: far above any
/// pipeline that still gains speed, far below what exhausts memory.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1 << 16;

/// Calls one object may have queued (waiting in its mailbox or running) by
/// default: a quarter of a connection's bound, so that one hot object
/// cannot take a whole connection's worth of memory.
pub const DEFAULT_MAX_QUEUED: usize = 1 << 14;

/// How long a stopping engine waits for the calls in flight to finish, by
/// default.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// The bounds an engine keeps: calls in flight per connection, calls
/// queued per object, frame sizes, and how long a stop waits for calls in
/// flight. [`Engine::with_limits`](crate::Engine::with_limits) sets them on
/// one engine; [`ClusterBuilder`](crate::ClusterBuilder) on every engine a
/// cluster starts (in-process, processes, ssh, Slurm alike).
///
/// ```
/// use distob::engine::EngineLimits;
/// let limits = EngineLimits { max_in_flight: 1024, ..EngineLimits::default() };
/// assert_eq!(limits.max_queued_per_object, distob::engine::DEFAULT_MAX_QUEUED);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineLimits {
    /// Calls one connection may have in flight; beyond it new calls fail
    /// at once with [`Error::Busy`](crate::Error::Busy).
    pub max_in_flight: usize,
    /// Calls one object may have queued (in its mailbox or running);
    /// beyond it calls on that object fail with `Busy` while others go on.
    pub max_queued_per_object: usize,
    /// The largest frame (head and body) and assembled body accepted.
    pub frames: Limits,
    /// How long a peer may stall inside a frame before its connection is
    /// dropped.
    pub frame_timeout: Duration,
    /// How long a stopping engine lets the calls in flight finish (and be
    /// answered) before it closes its connections.
    pub drain_deadline: Duration,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_queued_per_object: DEFAULT_MAX_QUEUED,
            frames: Limits::default(),
            frame_timeout: crate::net::connection::DEFAULT_FRAME_TIMEOUT,
            drain_deadline: DRAIN_DEADLINE,
        }
    }
}
