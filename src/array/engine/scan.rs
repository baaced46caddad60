//! Cumulative sums and products along an axis, optionally continuing from
//! a carry (the running total of the blocks before).

use super::Num;
use crate::array::kinds::Scan;
use crate::net::buf::fresh_vec;
use crate::net::wire::Fault;
use ndarray::{ArrayD, ArrayViewD};

#[inline]
fn step<A: Num>(op: Scan, acc: A, x: A) -> A {
    match op {
        Scan::Sum => acc + x,
        Scan::Prod => acc * x,
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
    let src = a.as_standard_layout();
    let Some(src) = src.as_slice() else {
        return Err(Fault::Refused("array is not contiguous".into()));
    };
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let carry = match carry {
        None => None,
        Some(c) => Some(carry_values(c, &shape, axis)?),
    };
    // One pass: each element is read once and its running value written
    // once (no copy first, no zeroed buffer).
    let mut out: Vec<A> = fresh_vec(src.len());
    for (o, lanes) in src.chunks_exact((n * inner).max(1)).enumerate() {
        let from = carry.as_ref().map(|c| &c[o * inner..(o + 1) * inner]);
        scan_lanes(op, lanes, inner, from, &mut out);
    }
    ArrayD::from_shape_vec(shape, out).map_err(|e| Fault::Refused(e.to_string()))
}

/// `n` rows of `inner` elements scanned row after row, appended to `out`.
fn scan_lanes<A: Num>(op: Scan, rows: &[A], inner: usize, from: Option<&[A]>, out: &mut Vec<A>) {
    if inner == 1 {
        let mut it = rows.iter();
        let mut acc = match (from, it.next()) {
            (_, None) => return,
            (None, Some(&x)) => x,
            (Some(c), Some(&x)) => step(op, c[0], x),
        };
        out.push(acc);
        out.extend(it.map(|&x| {
            acc = step(op, acc, x);
            acc
        }));
        return;
    }
    let base = out.len();
    for (i, row) in rows.chunks_exact(inner).enumerate() {
        match (i, from) {
            (0, None) => out.extend_from_slice(row),
            (0, Some(c)) => out.extend(row.iter().zip(c).map(|(&x, &c)| step(op, c, x))),
            _ => {
                let prev = base + (i - 1) * inner;
                for (j, &x) in row.iter().enumerate() {
                    let v = step(op, out[prev + j], x);
                    out.push(v);
                }
            }
        }
    }
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
