//! What an object actor holds: a hosted value, a value kept as its
//! encoding, a result still being computed, or a failure.

use super::hosted::Hosted;
use super::object::{catch, not_an_operand, Shared};
use crate::net::wire::Fault;
use crate::value::{Encoded, Lease};
use bytes::Bytes;

/// A value kept as its encoding (its type is not registered on this engine):
/// it can be gathered, and typed on demand by registered functions.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) type_name: String,
    pub(crate) head: Vec<u8>,
    pub(crate) body: Bytes,
    /// This engine's holds on the handles inside the value (it cannot
    /// decode it to find them: they came listed with it).
    pub(crate) leases: Vec<Lease>,
}

/// What an object actor holds.
pub(crate) enum Held {
    Stored(Stored),
    Hosted(Box<dyn Hosted>),
    /// The result of a call not finished yet: calls on it wait, in order.
    Pending,
    /// The result of a call that failed: every call on it gets this fault.
    Failed(Fault),
}

impl Held {
    /// The Rust type name of what it holds.
    pub(crate) fn type_name(&self) -> &str {
        match self {
            Held::Stored(s) => &s.type_name,
            Held::Hosted(h) => h.type_name(),
            Held::Pending => "(pending)",
            Held::Failed(_) => "(failed)",
        }
    }

    /// The value as an operand for other objects.
    pub(crate) fn snapshot(&self) -> Shared {
        self.operand_value()
            .unwrap_or_else(|| Err(not_an_operand(self.type_name())))
    }

    /// The value as an operand, `None` for a value that is none (nothing
    /// to publish for it, and no slot to keep).
    pub(crate) fn operand_value(&self) -> Option<Shared> {
        match self {
            Held::Hosted(h) => catch(|| h.share()).map_or_else(|f| Some(Err(f)), |s| s.map(Ok)),
            Held::Failed(fault) => Some(Err(fault.clone())),
            Held::Stored(_) | Held::Pending => None,
        }
    }

    pub(super) fn encode(&self) -> Result<Encoded, Fault> {
        match self {
            Held::Stored(s) => Ok(Encoded {
                head: s.head.clone(),
                body: s.body.clone(),
                leases: s.leases.clone(),
            }),
            Held::Hosted(h) => catch(|| h.encode()).and_then(|r| r),
            Held::Failed(fault) => Err(fault.clone()),
            Held::Pending => Err(Fault::Refused("the object is not computed yet".into())),
        }
    }
}
