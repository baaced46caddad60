//! Copies engine to engine (`copy_to`, `broadcast`): the source engine
//! sends the value over its own hub's link to the target, where the copy is
//! expected — the same request/reply link every hub uses.

use crate::id::{NodeId, ObjectId};
use crate::net::wire::{Fault, Op};
use crate::proxy::ObjectHub;
use crate::value::Encoded;
use bytes::Bytes;

/// Sends a copy of a value to engine `to`, where object `object` waits for
/// it; on failure, tells that engine the object will not come.
pub(crate) async fn deliver(
    hub: &ObjectHub,
    to: NodeId,
    object: ObjectId,
    value: Result<(String, Encoded), Fault>,
) -> Result<(), Fault> {
    let sent = match value {
        Ok((type_name, enc)) => {
            let op = Op::Deliver {
                object,
                type_name,
                head: enc.head,
            };
            let call = hub.submit_done(to, op, enc.body, enc.leases);
            call.await
                .map_err(|e| Fault::Refused(format!("cannot copy to engine {to}: {e}")))
        }
        Err(f) => Err(f),
    };
    if let Err(f) = &sent {
        let fail = Op::Fail {
            object,
            fault: f.clone(),
        };
        // If even this fails the peer is gone, and its objects with it.
        let _ = hub.submit_done(to, fail, Bytes::new(), Vec::new()).await;
    }
    sent
}
