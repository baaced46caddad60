//! The calls that failed lately, as this hub saw them: what a dashboard
//! shows under "recent errors".

use super::hub::ObjectHub;
use crate::id::{NodeId, Ref};
use std::collections::VecDeque;
use std::time::SystemTime;

/// How many failures a hub remembers.
pub const FAILURES_KEPT: usize = 64;

/// A call that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// When it failed.
    pub at: SystemTime,
    /// The engine it went to.
    pub node: NodeId,
    /// Its object, if it had one.
    pub target: Option<Ref>,
    /// What went wrong ([`Error::kind`](crate::Error::kind)).
    pub kind: &'static str,
}

/// The ring of failures (shared by the hub's clones).
#[derive(Debug, Default)]
pub(crate) struct Failures(std::sync::Mutex<VecDeque<Failure>>);

impl Failures {
    pub(crate) fn note(&self, node: NodeId, target: Option<Ref>, kind: &'static str) {
        let mut ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == FAILURES_KEPT {
            ring.pop_front();
        }
        ring.push_back(Failure {
            at: SystemTime::now(),
            node,
            target,
            kind,
        });
    }
}

impl ObjectHub {
    /// The last [`FAILURES_KEPT`] calls through this hub that failed,
    /// oldest first (cancelled ones are not failures).
    pub fn recent_failures(&self) -> Vec<Failure> {
        let ring = self
            .inner
            .failures
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        ring.iter().cloned().collect()
    }
}
