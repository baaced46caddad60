//! Partial results combined engine to engine, in a tree: pairs meet on one
//! engine of each pair (the other's copied there, engine to engine), round
//! after round, until one result is left. The client only names the
//! steps; no partial passes through it.

use crate::array::kinds::Reduce;
use crate::array::protocol::ArrayOp;
use crate::array::remote_array::RemoteArray;
use crate::array::ShapeError;
use crate::error::Result;
use crate::value::{Element, Value};

/// The partials merged by `op` (see `engine::merge`): one array on one
/// engine, its handle at once.
pub(crate) fn merge_tree<B: Element + Value>(
    mut parts: Vec<RemoteArray<B>>,
    op: Reduce,
) -> Result<RemoteArray<B>> {
    if parts.is_empty() {
        return Err(ShapeError::Empty { op }.into());
    }
    while parts.len() > 1 {
        let mut next = Vec::with_capacity(parts.len().div_ceil(2));
        let mut it = parts.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => next.push(merge_pair(&a, &b, op)?),
                None => next.push(a),
            }
        }
        parts = next;
    }
    Ok(parts.remove(0))
}

/// `a` and `b` merged on `a`'s engine.
pub(crate) fn merge_pair<B: Element + Value>(
    a: &RemoteArray<B>,
    b: &RemoteArray<B>,
    op: Reduce,
) -> Result<RemoteArray<B>> {
    let b = if b.node() == a.node() {
        b.clone()
    } else {
        b.copy_to(a.node())?
    };
    let shape = a.shape_meta().map(<[usize]>::to_vec);
    Ok(a.run_op_with(ArrayOp::Merge { op }, &b, shape))
}

/// `x` on `node`: itself if it lives there, else a copy made engine to
/// engine.
pub(crate) fn on_node<B: Element + Value>(
    x: &RemoteArray<B>,
    node: crate::NodeId,
) -> Result<RemoteArray<B>> {
    if x.node() == node {
        Ok(x.clone())
    } else {
        x.copy_to(node)
    }
}
