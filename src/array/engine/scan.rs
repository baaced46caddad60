//! Cumulative sums and products along an axis, optionally continuing from
//! a carry (the running total of the blocks before).

use super::Num;
use crate::net::wire::Fault;
use ndarray::{ArrayD, ArrayViewD};
use serde::{Deserialize, Serialize};

/// A cumulative operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scan {
    /// Running sum (numpy's `cumsum`).
    Sum,
    /// Running product (numpy's `cumprod`).
    Prod,
}

impl Scan {
    #[inline]
    fn step<A: Num>(self, acc: A, x: A) -> A {
        match self {
            Scan::Sum => acc + x,
            Scan::Prod => acc * x,
        }
    }
}

/// `a` scanned along `axis`; with a carry (shaped as `a` without that
/// axis, or with it of length 1), every lane starts from the carry's value.
pub(crate) fn scan<A: Num>(
    a: ArrayViewD<'_, A>,
    op: Scan,
    axis: usize,
    carry: Option<ArrayViewD<'_, A>>,
) -> Result<ArrayD<A>, Fault> {
    if axis >= a.ndim() {
        return Err(Fault::Refused(format!(
            "axis {axis} out of range for {} dimensions",
            a.ndim()
        )));
    }
    let shape = a.shape().to_vec();
    let mut out = a.as_standard_layout().into_owned();
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let carry = match carry {
        None => None,
        Some(c) => Some(carry_values(c, &shape, axis)?),
    };
    let Some(flat) = out.as_slice_mut() else {
        return Err(Fault::Refused("array is not contiguous".into()));
    };
    for o in 0..outer {
        let lanes = &mut flat[o * n * inner..(o + 1) * n * inner];
        if let (Some(c), true) = (&carry, n > 0) {
            let from = &c[o * inner..(o + 1) * inner];
            for (x, &c) in lanes[..inner].iter_mut().zip(from) {
                *x = op.step(c, *x);
            }
        }
        for i in 1..n {
            let (done, rest) = lanes.split_at_mut(i * inner);
            let prev = &done[(i - 1) * inner..];
            for (x, &p) in rest[..inner].iter_mut().zip(prev) {
                *x = op.step(p, *x);
            }
        }
    }
    Ok(out)
}

/// The carry's values in standard order, checked against the lanes.
fn carry_values<A: Num>(
    c: ArrayViewD<'_, A>,
    shape: &[usize],
    axis: usize,
) -> Result<Vec<A>, Fault> {
    let mut without = shape.to_vec();
    without.remove(axis);
    let mut with_one = shape.to_vec();
    with_one[axis] = 1;
    if c.shape() != without.as_slice() && c.shape() != with_one.as_slice() {
        return Err(Fault::Refused(format!(
            "a carry of shape {:?} does not fit lanes of {shape:?} along axis {axis}",
            c.shape()
        )));
    }
    Ok(c.iter().copied().collect())
}
