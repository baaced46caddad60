//! The kernels of each element type: one elementwise step, scalar and
//! array arithmetic, casts and reductions, for the numeric types and `bool`.

use crate::actors::hosted::{Hosted, Produced};
use crate::array::engine::kernels::{apply, broadcast, check_chain, unsupported, Kernel};
use crate::array::engine::reduce::{lanes_into, reduce_axis_generic, reduce_iter, reduced_value};
use crate::array::kinds::{BinOp, ElemOp, Reduce, Unary};
use crate::array::protocol::ArrayOp;
use crate::macro_support::ok_value;
use crate::net::wire::Fault;
use crate::value::DType;
use ndarray::{ArcArray, ArrayD, ArrayViewD, Axis, IxDyn};
use num_traits::NumCast;

fn clip<A: PartialOrd>(x: A, lo: A, hi: A) -> A {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

#[inline]
pub(super) fn scalar_step<A: num_traits::NumOps + Copy>(x: A, op: BinOp, s: A, left: bool) -> A {
    match (op, left) {
        (BinOp::Add, _) => x + s,
        (BinOp::Mul, _) => x * s,
        (BinOp::Sub, false) => x - s,
        (BinOp::Sub, true) => s - x,
        (BinOp::Div, false) => x / s,
        (BinOp::Div, true) => s / x,
    }
}

macro_rules! numeric_kernel {
    ($t:ty, float) => {
        impl Kernel for $t {
            fn supports(_op: &ElemOp) -> bool {
                true
            }
            #[inline]
            fn step(x: Self, op: &ElemOp) -> Self {
                match *op {
                    ElemOp::Unary(u) => match u {
                        Unary::Neg => -x,
                        Unary::Abs => x.abs(),
                        Unary::Sqrt => x.sqrt(),
                        Unary::Exp => x.exp(),
                        Unary::Ln => x.ln(),
                        Unary::Sin => x.sin(),
                        Unary::Cos => x.cos(),
                        Unary::Tan => x.tan(),
                        Unary::Tanh => x.tanh(),
                        Unary::Floor => x.floor(),
                        Unary::Ceil => x.ceil(),
                    },
                    ElemOp::Scalar(op, s, left) => scalar_step(x, op, s as $t, left),
                    ElemOp::Clip(lo, hi) => clip(x, lo as $t, hi as $t),
                    ElemOp::Powi(n) => x.powi(n),
                    ElemOp::Powf(y) => x.powf(y as $t),
                }
            }
            fn apply_block(buf: &mut [Self], chain: &[ElemOp]) {
                <$t as crate::array::engine::chain::FloatBlock>::block(buf, chain)
            }
            numeric_kernel!(@common);
        }
    };
    ($t:ty, int, $signed:expr) => {
        impl Kernel for $t {
            fn supports(op: &ElemOp) -> bool {
                match *op {
                    ElemOp::Unary(Unary::Neg | Unary::Abs) => $signed,
                    ElemOp::Unary(_) => false,
                    // Integer division by zero has no value: refuse it up front.
                    ElemOp::Scalar(BinOp::Div, s, false) => s as $t != 0,
                    ElemOp::Scalar(_, s, _) => s.fract() == 0.0 && <$t as NumCast>::from(s).is_some(),
                    ElemOp::Clip(lo, hi) => {
                        lo <= hi && <$t as NumCast>::from(lo.ceil()).is_some() && <$t as NumCast>::from(hi.floor()).is_some()
                    }
                    ElemOp::Powi(n) => n >= 0,
                    ElemOp::Powf(_) => false,
                }
            }
            #[inline]
            fn step(x: Self, op: &ElemOp) -> Self {
                match *op {
                    ElemOp::Unary(Unary::Neg) => (0 as $t).wrapping_sub(x),
                    ElemOp::Unary(Unary::Abs) => {
                        if x >= (0 as $t) { x } else { (0 as $t).wrapping_sub(x) }
                    }
                    ElemOp::Unary(_) => x,
                    ElemOp::Scalar(BinOp::Div, s, true) if x == 0 as $t => {
                        let _ = s;
                        0 as $t
                    }
                    ElemOp::Scalar(op, s, left) => scalar_step(x, op, s as $t, left),
                    ElemOp::Clip(lo, hi) => clip(x, lo.ceil() as $t, hi.floor() as $t),
                    ElemOp::Powi(n) => x.wrapping_pow(n.unsigned_abs()),
                    ElemOp::Powf(_) => x,
                }
            }
            numeric_kernel!(@common);
        }
    };
    (@common) => {
        casts_of_self!();
        fn binary_inplace(
            a: &mut ArcArray<Self, IxDyn>,
            b: ArrayViewD<'_, Self>,
            op: BinOp,
        ) -> Result<(), Fault> {
            a.zip_mut_with(&b, |x, &y| *x = scalar_step(*x, op, y, false));
            Ok(())
        }
        fn binary(a: ArrayViewD<'_, Self>, b: ArrayViewD<'_, Self>, op: BinOp) -> Result<ArrayD<Self>, Fault> {
            let shape = broadcast(a.shape(), b.shape())?;
            let (Some(a), Some(b)) = (a.broadcast(shape.clone()), b.broadcast(shape)) else {
                return Err(Fault::Refused("operands do not broadcast".into()));
            };
            Ok(ndarray::Zip::from(&a).and(&b).map_collect(|&x, &y| scalar_step(x, op, y, false)))
        }
        fn reduce_all(a: ArrayViewD<'_, Self>, chain: &[ElemOp], op: Reduce) -> Result<Produced, Fault> {
            check_chain::<Self>(chain)?;
            if let Some(folded) = crate::array::engine::chain::fold_blocks(&a, chain, op) {
                return reduced_value(crate::array::engine::reduce::Reduced::Same(folded));
            }
            reduced_value(reduce_iter(a.iter().map(|&x| apply(x, chain)), a.len(), op)?)
        }
        fn reduce_axis(
            a: ArrayViewD<'_, Self>,
            op: Reduce,
            axis: usize,
            keepdims: bool,
        ) -> Result<Box<dyn Hosted>, Fault> {
            reduce_axis_generic(a, op, axis, keepdims)
        }
        fn more(a: &ArcArray<Self, IxDyn>, op: &ArrayOp<Self>) -> Option<Result<Produced, Fault>> {
            crate::array::engine::numeric(a, op)
        }
        fn more_with(
            a: &ArcArray<Self, IxDyn>,
            op: &ArrayOp<Self>,
            other: &ArcArray<Self, IxDyn>,
        ) -> Option<Result<Produced, Fault>> {
            crate::array::engine::numeric_with(a, op, other)
        }
    };
}

macro_rules! casts_of_self {
    () => {
        #[inline]
        fn to_f64(x: Self) -> f64 {
            <Self as ToF64Cast>::to(x)
        }
        #[inline]
        fn from_f64(x: f64) -> Self {
            <Self as ToF64Cast>::from(x)
        }
    };
}

/// `as` casts between the numeric element types and `f64`.
pub(crate) trait ToF64Cast {
    fn to(x: Self) -> f64;
    fn from(x: f64) -> Self;
}

macro_rules! to_f64_cast {
    ($($t:ty),*) => {$(
        impl ToF64Cast for $t {
            #[inline]
            fn to(x: Self) -> f64 {
                x as f64
            }
            #[inline]
            fn from(x: f64) -> Self {
                x as $t
            }
        }
    )*};
}
to_f64_cast!(f64, f32, i64, i32, u8);

numeric_kernel!(f64, float);
numeric_kernel!(f32, float);
numeric_kernel!(i64, int, true);
numeric_kernel!(i32, int, true);
numeric_kernel!(u8, int, false);
impl Kernel for bool {
    fn to_f64(x: Self) -> f64 {
        if x {
            1.0
        } else {
            0.0
        }
    }
    fn from_f64(x: f64) -> Self {
        x != 0.0
    }
    fn reduce_all(
        a: ArrayViewD<'_, Self>,
        chain: &[ElemOp],
        op: Reduce,
    ) -> Result<Produced, Fault> {
        check_chain::<Self>(chain)?;
        match op {
            Reduce::Any => ok_value(a.iter().any(|&x| x)),
            Reduce::All => ok_value(a.iter().all(|&x| x)),
            other => Err(unsupported(&format!("{other:?}"), DType::Bool)),
        }
    }
    fn reduce_axis(
        a: ArrayViewD<'_, Self>,
        op: Reduce,
        axis: usize,
        keepdims: bool,
    ) -> Result<Box<dyn Hosted>, Fault> {
        if axis >= a.ndim() || !matches!(op, Reduce::Any | Reduce::All) {
            return Err(unsupported(
                &format!("{op:?} along axis {axis}"),
                DType::Bool,
            ));
        }
        let mut shape = a.shape().to_vec();
        shape.remove(axis);
        let values = a
            .lanes(Axis(axis))
            .into_iter()
            .map(|l| {
                if op == Reduce::Any {
                    l.iter().any(|&x| x)
                } else {
                    l.iter().all(|&x| x)
                }
            })
            .collect();
        lanes_into::<bool>(values, &shape, axis, keepdims)
    }
    fn more_with(
        a: &ArcArray<Self, IxDyn>,
        op: &ArrayOp<Self>,
        other: &ArcArray<Self, IxDyn>,
    ) -> Option<Result<Produced, Fault>> {
        match *op {
            ArrayOp::Merge { op } => Some(
                crate::array::engine::merge::merge_bool(a.view(), other.view(), op)
                    .map(crate::array::engine::keep),
            ),
            _ => None,
        }
    }
}
