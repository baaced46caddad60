//! A chain of elementwise steps run a block at a time: each step is one
//! tight loop over a block small enough to stay in the L1 cache, so the
//! loops vectorise (the transcendental ones through [`vmath`]) while the
//! array is still read and written once. Maps, in-place maps and the
//! chained sums and products all go through here.

use crate::array::engine::element::scalar_step;
use crate::array::engine::kernels::{apply, check_chain, Kernel};
use crate::array::engine::vmath;
use crate::array::kinds::{BinOp, ElemOp, Reduce, Unary};
use crate::net::buf::fresh_vec;
use crate::net::wire::Fault;
use ndarray::{ArcArray, ArrayD, ArrayViewD, IxDyn};
use num_traits::Float;

/// Elements per block: 8 KiB of `f64`.
pub(crate) const BLOCK: usize = 1024;

#[inline(always)]
fn map<A: Copy>(buf: &mut [A], f: impl Fn(A) -> A) {
    buf.iter_mut().for_each(|x| *x = f(*x));
}

/// `x op s` (or `s op x`) over a block, one loop per operation.
fn scalar_block<A: num_traits::NumOps + Copy>(buf: &mut [A], op: BinOp, s: A, left: bool) {
    match (op, left) {
        (BinOp::Add, _) => map(buf, |x| scalar_step(x, BinOp::Add, s, false)),
        (BinOp::Mul, _) => map(buf, |x| scalar_step(x, BinOp::Mul, s, false)),
        (BinOp::Sub, l) => map(buf, |x| scalar_step(x, BinOp::Sub, s, l)),
        (BinOp::Div, l) => map(buf, |x| scalar_step(x, BinOp::Div, s, l)),
    }
}

/// The steps that need no transcendental kernel, for either float type.
fn plain_step<A: Float>(buf: &mut [A], op: &ElemOp) {
    let of = |v: f64| A::from(v).unwrap_or_else(A::nan);
    match *op {
        ElemOp::Unary(u) => match u {
            Unary::Neg => map(buf, |x| -x),
            Unary::Abs => map(buf, A::abs),
            Unary::Sqrt => map(buf, A::sqrt),
            Unary::Floor => map(buf, A::floor),
            Unary::Ceil => map(buf, A::ceil),
            Unary::Exp => map(buf, A::exp),
            Unary::Ln => map(buf, A::ln),
            Unary::Sin => map(buf, A::sin),
            Unary::Cos => map(buf, A::cos),
            Unary::Tan => map(buf, A::tan),
            Unary::Tanh => map(buf, A::tanh),
        },
        ElemOp::Scalar(op, s, left) => scalar_block(buf, op, of(s), left),
        ElemOp::Clip(lo, hi) => {
            let (lo, hi) = (of(lo), of(hi));
            map(buf, |x| {
                if x < lo {
                    lo
                } else if x > hi {
                    hi
                } else {
                    x
                }
            })
        }
        ElemOp::Powi(n) => map(buf, |x| x.powi(n)),
        ElemOp::Powf(y) => {
            let y = of(y);
            map(buf, |x| x.powf(y))
        }
    }
}

/// The vectorised kernel of a transcendental step, if it has one.
fn vector_kernel(op: &ElemOp) -> Option<fn(&mut [f64])> {
    Some(match *op {
        ElemOp::Unary(Unary::Sin) => vmath::sin,
        ElemOp::Unary(Unary::Cos) => vmath::cos,
        ElemOp::Unary(Unary::Tan) => vmath::tan,
        ElemOp::Unary(Unary::Exp) => vmath::exp,
        ElemOp::Unary(Unary::Ln) => vmath::ln,
        ElemOp::Unary(Unary::Tanh) => vmath::tanh,
        _ => return None,
    })
}

/// A float type whose chains run block-wise.
pub(crate) trait FloatBlock: Sized {
    /// Applies a checked chain to a block of at most [`BLOCK`] elements.
    fn block(buf: &mut [Self], chain: &[ElemOp]);
}

impl FloatBlock for f64 {
    fn block(buf: &mut [f64], chain: &[ElemOp]) {
        for op in chain {
            match vector_kernel(op) {
                Some(kernel) => kernel(buf),
                None => plain_step(buf, op),
            }
        }
    }
}

impl FloatBlock for f32 {
    fn block(buf: &mut [f32], chain: &[ElemOp]) {
        let mut wide = [0.0f64; BLOCK];
        for op in chain {
            match (vector_kernel(op), *op) {
                (Some(kernel), _) => through_f64(buf, &mut wide, |w, _| kernel(w)),
                (None, ElemOp::Powf(y)) if (y as f32).is_finite() => {
                    through_f64(buf, &mut wide, |w, x| powf_f32(w, x, y as f32))
                }
                (None, _) => plain_step(buf, op),
            }
        }
    }
}

/// Runs an `f64` kernel on a block of `f32`, rounding once at the end; the
/// kernel also sees the original elements.
fn through_f64(buf: &mut [f32], wide: &mut [f64; BLOCK], f: impl Fn(&mut [f64], &[f32])) {
    let w = &mut wide[..buf.len()];
    w.iter_mut()
        .zip(buf.iter())
        .for_each(|(w, &x)| *w = f64::from(x));
    f(w, buf);
    buf.iter_mut()
        .zip(w.iter())
        .for_each(|(x, &w)| *x = w as f32);
}

/// `xʸ = e^{y·ln x}` in `f64` (exact enough for `f32`) for a finite `y`,
/// with `std`'s `powf` for the elements that are not positive and finite.
fn powf_f32(w: &mut [f64], x: &[f32], y: f32) {
    vmath::ln(w);
    let wide_y = f64::from(y);
    map(w, |l| l * wide_y);
    vmath::exp(w);
    for (w, &x) in w.iter_mut().zip(x) {
        if !(x > 0.0 && x <= f32::MAX) {
            *w = f64::from(x.powf(y));
        }
    }
}

/// The chain applied to every element, in one pass, into a new array.
pub(crate) fn map_chain<A: Kernel>(
    a: ArrayViewD<'_, A>,
    chain: &[ElemOp],
) -> Result<ArrayD<A>, Fault> {
    check_chain::<A>(chain)?;
    let Some(s) = a.as_slice() else {
        return Ok(a.mapv(|x| apply(x, chain)));
    };
    let mut out = fresh_vec(s.len());
    for part in s.chunks(BLOCK) {
        let start = out.len();
        out.extend_from_slice(part);
        A::apply_block(&mut out[start..], chain);
    }
    ArrayD::from_shape_vec(a.raw_dim(), out).map_err(|e| Fault::Refused(e.to_string()))
}

/// The chain applied to every element in place.
pub(crate) fn map_chain_inplace<A: Kernel>(
    a: &mut ArcArray<A, IxDyn>,
    chain: &[ElemOp],
) -> Result<(), Fault> {
    check_chain::<A>(chain)?;
    match a.as_slice_mut() {
        Some(s) => s
            .chunks_mut(BLOCK)
            .for_each(|part| A::apply_block(part, chain)),
        None => a.mapv_inplace(|x| apply(x, chain)),
    }
    Ok(())
}

/// The sum or product of the chain's results; `None` for another
/// reduction or an array not in standard layout.
pub(crate) fn fold_blocks<A>(a: &ArrayViewD<'_, A>, chain: &[ElemOp], op: Reduce) -> Option<A>
where
    A: Kernel + num_traits::NumOps + num_traits::Zero + num_traits::One,
{
    let (start, step): (A, fn(A, A) -> A) = match op {
        Reduce::Sum => (A::zero(), |a, b| a + b),
        Reduce::Prod => (A::one(), |a, b| a * b),
        _ => return None,
    };
    Some(fold_slice(a.as_slice()?, chain, start, step))
}

/// The chain's results folded a block at a time with eight running
/// partials (as ndarray's own sum does).
fn fold_slice<A: Kernel>(s: &[A], chain: &[ElemOp], start: A, step: fn(A, A) -> A) -> A {
    let mut buf = [start; BLOCK];
    let mut acc = [start; 8];
    let mut tail = start;
    for part in s.chunks(BLOCK) {
        let b = &mut buf[..part.len()];
        b.copy_from_slice(part);
        A::apply_block(b, chain);
        let mut eights = b.chunks_exact(8);
        for e in &mut eights {
            acc.iter_mut().zip(e).for_each(|(a, &x)| *a = step(*a, x));
        }
        tail = eights.remainder().iter().fold(tail, |t, &x| step(t, x));
    }
    let pairs = [0, 1, 2, 3].map(|i| step(acc[i], acc[i + 4]));
    step(
        step(step(pairs[0], pairs[2]), step(pairs[1], pairs[3])),
        tail,
    )
}

/// The engine's kernel for `chain(x).sum()` over `f64` elements (every
/// step is defined for `f64`), run on the calling thread: what one engine
/// does per block of a chained sum, exposed for the benchmark's per-core
/// figure.
pub fn chained_sum(x: &[f64], chain: &[ElemOp]) -> f64 {
    fold_slice(x, chain, 0.0, |a, b| a + b)
}
