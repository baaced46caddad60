//! The reduction kernels engines run on their blocks: over a whole array
//! or along each lane of an axis, into the element type, `f64`, `bool` or
//! an index as the reduction gives.

use crate::actors::hosted::{Hosted, Produced};
use crate::array::engine::kernels::{HostedArray, Kernel, RawBytes};
use crate::array::kinds::Reduce;
use crate::macro_support::ok_value;
use crate::net::wire::Fault;
use crate::value::{DType, Element};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use num_traits::NumCast;

/// Reduces a sequence of elements (a whole array or one lane).
pub(super) fn reduce_iter<A, I>(items: I, len: usize, op: Reduce) -> Result<Reduced<A>, Fault>
where
    A: Element + NumCast + num_traits::NumOps + PartialOrd + num_traits::Zero + num_traits::One,
    I: Iterator<Item = A> + Clone,
{
    let as_f64 = |x: A| x.to_f64().unwrap_or(f64::NAN);
    Ok(match op {
        Reduce::Sum => Reduced::Same(items.fold(A::zero(), |acc, x| acc + x)),
        Reduce::Prod => Reduced::Same(items.fold(A::one(), |acc, x| acc * x)),
        Reduce::Min | Reduce::Max => {
            let mut it = items;
            let first = it
                .next()
                .ok_or_else(|| Fault::Refused(format!("{op:?} of an empty array is undefined")))?;
            // NaN (x != x) wins, as in numpy.
            let pick = |m: A, x: A| {
                #[allow(clippy::eq_op)]
                let nan = x != x;
                if nan || (op == Reduce::Min && x < m) || (op == Reduce::Max && x > m) {
                    x
                } else {
                    m
                }
            };
            Reduced::Same(it.fold(first, pick))
        }
        Reduce::Any => Reduced::Bool(items.into_iter().any(|x| x != A::zero())),
        Reduce::All => Reduced::Bool(items.into_iter().all(|x| x != A::zero())),
        Reduce::ArgMin | Reduce::ArgMax => {
            let mut best: Option<(usize, A)> = None;
            for (i, x) in items.enumerate() {
                #[allow(clippy::eq_op)]
                let nan = x != x;
                let better = match best {
                    None => true,
                    // The first NaN wins, as in numpy; after it nothing does.
                    #[allow(clippy::eq_op)]
                    Some((_, b)) if b != b => false,
                    Some((_, b)) => {
                        nan || (op == Reduce::ArgMin && x < b) || (op == Reduce::ArgMax && x > b)
                    }
                };
                if better {
                    best = Some((i, x));
                }
            }
            let (i, _) = best
                .ok_or_else(|| Fault::Refused(format!("{op:?} of an empty array is undefined")))?;
            Reduced::Index(i as i64)
        }
        Reduce::Mean | Reduce::Var | Reduce::Std => {
            if len == 0 {
                return Ok(Reduced::F64(f64::NAN));
            }
            let n = len as f64;
            let mean = items.clone().map(as_f64).sum::<f64>() / n;
            if op == Reduce::Mean {
                return Ok(Reduced::F64(mean));
            }
            let var = items.map(|x| (as_f64(x) - mean).powi(2)).sum::<f64>() / n;
            Reduced::F64(if op == Reduce::Var { var } else { var.sqrt() })
        }
    })
}

/// Σ of a contiguous run in eight interleaved partial sums (which the
/// compiler vectorises; for floats also a little more accurate than one
/// running sum).
fn sum_run<A: Copy + num_traits::Zero>(run: &[A]) -> A {
    let mut acc = [A::zero(); 8];
    let mut chunks = run.chunks_exact(8);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = *a + x;
        }
    }
    let tail = chunks.remainder().iter().fold(A::zero(), |s, &x| s + x);
    acc.iter().fold(tail, |s, &x| s + x)
}

/// A reduction's result: the element type or `f64`.
pub(super) enum Reduced<A> {
    Same(A),
    F64(f64),
    Bool(bool),
    Index(i64),
}

pub(super) fn reduce_axis_generic<A>(
    a: ArrayViewD<'_, A>,
    op: Reduce,
    axis: usize,
    keepdims: bool,
) -> Result<Box<dyn Hosted>, Fault>
where
    A: Kernel
        + RawBytes
        + NumCast
        + num_traits::NumOps
        + PartialOrd
        + num_traits::Zero
        + num_traits::One,
{
    if axis >= a.ndim() {
        return Err(Fault::Refused(format!(
            "axis {axis} out of range for {} dimensions",
            a.ndim()
        )));
    }
    let len = a.len_of(Axis(axis));
    let mut shape = a.shape().to_vec();
    shape.remove(axis);
    let lanes = a
        .lanes(Axis(axis))
        .into_iter()
        .map(|lane| match (op, lane.as_slice()) {
            (Reduce::Sum, Some(run)) => Ok(Reduced::Same(sum_run(run))),
            _ => reduce_iter(lane.iter().copied(), len, op),
        })
        .collect::<Result<Vec<_>, Fault>>()?;
    macro_rules! pick {
        ($variant:ident, $t:ty) => {
            lanes_into::<$t>(
                lanes
                    .into_iter()
                    .map(|r| match r {
                        Reduced::$variant(x) => Ok(x),
                        _ => Err(Fault::Refused("mixed reduction results".into())),
                    })
                    .collect::<Result<Vec<$t>, Fault>>()?,
                &shape,
                axis,
                keepdims,
            )
        };
    }
    match op.result_dtype(A::DTYPE) {
        DType::F64 if op.is_statistic() => pick!(F64, f64),
        DType::Bool if matches!(op, Reduce::Any | Reduce::All) => pick!(Bool, bool),
        DType::I64 if matches!(op, Reduce::ArgMin | Reduce::ArgMax) => pick!(Index, i64),
        _ => pick!(Same, A),
    }
}

pub(super) fn reduced_value<A: Element + crate::value::Value>(
    r: Reduced<A>,
) -> Result<Produced, Fault> {
    match r {
        Reduced::Same(x) => ok_value(x),
        Reduced::F64(x) => ok_value(x),
        Reduced::Bool(x) => ok_value(x),
        Reduced::Index(x) => ok_value(x),
    }
}

/// Lane results into an array of their type, kept on the engine.
pub(super) fn lanes_into<B: Kernel + RawBytes>(
    values: Vec<B>,
    shape: &[usize],
    axis: usize,
    keepdims: bool,
) -> Result<Box<dyn Hosted>, Fault> {
    let mut out =
        ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|e| Fault::Refused(e.to_string()))?;
    if keepdims {
        out = out.insert_axis(Axis(axis));
    }
    Ok(Box::new(HostedArray(out.into_shared())))
}
