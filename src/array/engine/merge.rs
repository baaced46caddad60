//! Merges of partial reductions (one block's result along the distributed
//! axis with another's), and where along an axis an extreme first occurs:
//! what reductions along the distributed axis combine with, engine to
//! engine.

use super::Num;
use crate::array::kinds::Reduce;
use crate::net::wire::Fault;
use ndarray::{ArrayD, ArrayViewD, Axis, Zip};

/// `a` and `b` (partials of one shape) merged by the reduction: summed
/// (sums and means already weighted), multiplied, or the smaller or larger
/// (NaN wins, as in numpy).
pub(crate) fn merge<A: Num>(
    a: ArrayViewD<'_, A>,
    b: ArrayViewD<'_, A>,
    op: Reduce,
) -> Result<ArrayD<A>, Fault> {
    if a.shape() != b.shape() {
        return Err(Fault::Refused(format!(
            "partials of shapes {:?} and {:?} do not merge",
            a.shape(),
            b.shape()
        )));
    }
    #[allow(clippy::eq_op)]
    let pick = move |x: A, y: A, smaller: bool| {
        if x != x || (y == y && ((smaller && x <= y) || (!smaller && x >= y))) {
            x
        } else {
            y
        }
    };
    let f: Box<dyn Fn(A, A) -> A> = match op {
        Reduce::Sum | Reduce::Mean => Box::new(|x, y| x + y),
        Reduce::Prod => Box::new(|x, y| x * y),
        Reduce::Min => Box::new(move |x, y| pick(x, y, true)),
        Reduce::Max => Box::new(move |x, y| pick(x, y, false)),
        other => {
            return Err(Fault::Refused(format!(
                "{other:?} partials do not merge elementwise"
            )))
        }
    };
    Ok(Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)))
}

/// For every lane of `a` along `axis`: `offset` plus the first index whose
/// element equals the lane's value in `extreme` (NaN matching NaN), or
/// `i64::MAX` where none does.
pub(crate) fn first_match<A: Num>(
    a: ArrayViewD<'_, A>,
    extreme: ArrayViewD<'_, A>,
    axis: usize,
    offset: i64,
) -> Result<ArrayD<i64>, Fault> {
    if axis >= a.ndim() {
        return Err(Fault::Refused(format!("no axis {axis}")));
    }
    let mut lanes_shape = a.shape().to_vec();
    lanes_shape.remove(axis);
    if extreme.shape() != lanes_shape.as_slice() {
        return Err(Fault::Refused(format!(
            "extremes of shape {:?} do not fit lanes {lanes_shape:?}",
            extreme.shape()
        )));
    }
    #[allow(clippy::eq_op)]
    let same = |x: A, e: A| x == e || (x != x && e != e);
    let found: Vec<i64> = a
        .lanes(Axis(axis))
        .into_iter()
        .zip(extreme.iter())
        .map(|(lane, &e)| {
            lane.iter()
                .position(|&x| same(x, e))
                .map_or(i64::MAX, |i| i as i64 + offset)
        })
        .collect();
    ArrayD::from_shape_vec(lanes_shape, found).map_err(|e| Fault::Refused(e.to_string()))
}

/// Two `bool` partials merged: `or` for any, `and` for all.
pub(crate) fn merge_bool(
    a: ArrayViewD<'_, bool>,
    b: ArrayViewD<'_, bool>,
    op: Reduce,
) -> Result<ArrayD<bool>, Fault> {
    if a.shape() != b.shape() {
        return Err(Fault::Refused("partials of different shapes".into()));
    }
    match op {
        Reduce::Any => Ok(Zip::from(&a).and(&b).map_collect(|&x, &y| x || y)),
        Reduce::All => Ok(Zip::from(&a).and(&b).map_collect(|&x, &y| x && y)),
        other => Err(Fault::Refused(format!("{other:?} of bool partials"))),
    }
}
