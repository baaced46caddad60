//! What engines run on their arrays: the hosted array type, registered for
//! every built-in element type, and its kernels (ufuncs, scalar arithmetic,
//! reductions). Results stay on the engine as new hosted arrays.

use super::kinds::{BinOp, Reduce, Unary};
use crate::actors::hosted::{Hosted, Invocation, Produced};
use crate::actors::registry::TypeEntry;
use crate::macro_support::{decode_args, no_such_method, ok_value};
use crate::net::wire::{Fault, MethodId};
use crate::net::AlignedBuf;
use crate::value::{self, DType, Element, Encoded};
use bytes::Bytes;
use ndarray::{ArcArray, ArrayD, ArrayViewD, Axis, IxDyn};
use num_traits::NumCast;

/// Method ids of the array kernels.
pub(crate) mod method {
    use crate::net::wire::MethodId;
    /// `(Unary,)` → array
    pub(crate) const UNARY: MethodId = MethodId::of_name("distob::array::unary");
    /// `(BinOp, f64 scalar, scalar on the left)` → array
    pub(crate) const SCALAR: MethodId = MethodId::of_name("distob::array::scalar");
    /// `(Reduce,)` → scalar
    pub(crate) const REDUCE_ALL: MethodId = MethodId::of_name("distob::array::reduce_all");
    /// `(Reduce, axis, keepdims)` → array
    pub(crate) const REDUCE_AXIS: MethodId = MethodId::of_name("distob::array::reduce_axis");
}

fn unsupported(what: &str, dtype: DType) -> Fault {
    Fault::Refused(format!("{what} is not defined for {dtype} arrays"))
}

/// The kernels of one element type.
pub(crate) trait Kernel: Element {
    fn unary(_a: ArrayViewD<'_, Self>, op: Unary) -> Result<ArrayD<Self>, Fault> {
        Err(unsupported(&format!("{op:?}"), Self::DTYPE))
    }
    fn scalar(
        _a: ArrayViewD<'_, Self>,
        op: BinOp,
        _s: f64,
        _left: bool,
    ) -> Result<ArrayD<Self>, Fault> {
        Err(unsupported(&format!("{op:?}"), Self::DTYPE))
    }
    fn reduce_all(_a: ArrayViewD<'_, Self>, op: Reduce) -> Result<Produced, Fault> {
        Err(unsupported(&format!("{op:?}"), Self::DTYPE))
    }
    fn reduce_axis(
        _a: ArrayViewD<'_, Self>,
        op: Reduce,
        _axis: usize,
        _keepdims: bool,
    ) -> Result<Box<dyn Hosted>, Fault> {
        Err(unsupported(&format!("{op:?}"), Self::DTYPE))
    }
}

fn apply_scalar<A>(a: ArrayViewD<'_, A>, op: BinOp, s: f64, left: bool) -> Result<ArrayD<A>, Fault>
where
    A: Element + NumCast + num_traits::NumOps + PartialEq + num_traits::Zero,
{
    let s: A =
        NumCast::from(s).ok_or_else(|| Fault::Refused(format!("{s} does not fit {}", A::DTYPE)))?;
    Ok(match (op, left) {
        (BinOp::Add, _) => a.mapv(|x| x + s),
        (BinOp::Mul, _) => a.mapv(|x| x * s),
        (BinOp::Sub, false) => a.mapv(|x| x - s),
        (BinOp::Sub, true) => a.mapv(|x| s - x),
        (BinOp::Div, false) => a.mapv(|x| x / s),
        (BinOp::Div, true) => a.mapv(|x| s / x),
    })
}

/// Reduces a sequence of elements (a whole array or one lane).
fn reduce_iter<'a, A, I>(items: I, len: usize, op: Reduce) -> Result<Reduced<A>, Fault>
where
    A: Element
        + NumCast
        + num_traits::NumOps
        + PartialOrd
        + num_traits::Zero
        + num_traits::One
        + 'a,
    I: Iterator<Item = &'a A> + Clone,
{
    let as_f64 = |x: &A| x.to_f64().unwrap_or(f64::NAN);
    Ok(match op {
        Reduce::Sum => Reduced::Same(items.fold(A::zero(), |acc, &x| acc + x)),
        Reduce::Prod => Reduced::Same(items.fold(A::one(), |acc, &x| acc * x)),
        Reduce::Min | Reduce::Max => {
            let mut it = items;
            let first = *it
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
            Reduced::Same(it.fold(first, |m, &x| pick(m, x)))
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

/// A reduction's result: the element type or `f64`.
enum Reduced<A> {
    Same(A),
    F64(f64),
}

fn reduce_axis_generic<A>(
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
    fn finish<B>(r: ArrayD<B>, axis: usize, keepdims: bool) -> ArrayD<B> {
        if keepdims {
            r.insert_axis(Axis(axis))
        } else {
            r
        }
    }
    if op.is_statistic() {
        let out = a.map_axis(Axis(axis), |lane| match reduce_iter(lane.iter(), len, op) {
            Ok(Reduced::F64(x)) => x,
            _ => f64::NAN,
        });
        Ok(Box::new(HostedArray(
            finish(out, axis, keepdims).into_shared(),
        )))
    } else {
        let mut failure = None;
        let out = a.map_axis(Axis(axis), |lane| match reduce_iter(lane.iter(), len, op) {
            Ok(Reduced::Same(x)) => x,
            Ok(Reduced::F64(_)) => A::zero(),
            Err(f) => {
                failure = Some(f);
                A::zero()
            }
        });
        match failure {
            Some(f) => Err(f),
            None => Ok(Box::new(HostedArray(
                finish(out, axis, keepdims).into_shared(),
            ))),
        }
    }
}

fn reduced_value<A: Element + crate::value::Value>(r: Reduced<A>) -> Result<Produced, Fault> {
    match r {
        Reduced::Same(x) => ok_value(x),
        Reduced::F64(x) => ok_value(x),
    }
}

macro_rules! numeric_kernel {
    ($t:ty, float) => {
        impl Kernel for $t {
            fn unary(a: ArrayViewD<'_, Self>, op: Unary) -> Result<ArrayD<Self>, Fault> {
                Ok(match op {
                    Unary::Neg => a.mapv(|x| -x),
                    Unary::Abs => a.mapv(|x| x.abs()),
                    Unary::Sqrt => a.mapv(|x| x.sqrt()),
                    Unary::Exp => a.mapv(|x| x.exp()),
                    Unary::Ln => a.mapv(|x| x.ln()),
                    Unary::Sin => a.mapv(|x| x.sin()),
                    Unary::Cos => a.mapv(|x| x.cos()),
                    Unary::Tan => a.mapv(|x| x.tan()),
                    Unary::Tanh => a.mapv(|x| x.tanh()),
                    Unary::Floor => a.mapv(|x| x.floor()),
                    Unary::Ceil => a.mapv(|x| x.ceil()),
                })
            }
            numeric_kernel!(@common);
        }
    };
    ($t:ty, signed) => {
        impl Kernel for $t {
            fn unary(a: ArrayViewD<'_, Self>, op: Unary) -> Result<ArrayD<Self>, Fault> {
                match op {
                    Unary::Neg => Ok(a.mapv(|x| x.wrapping_neg())),
                    Unary::Abs => Ok(a.mapv(|x| x.wrapping_abs())),
                    other => Err(unsupported(&format!("{other:?}"), Self::DTYPE)),
                }
            }
            numeric_kernel!(@common);
        }
    };
    ($t:ty, unsigned) => {
        impl Kernel for $t {
            numeric_kernel!(@common);
        }
    };
    (@common) => {
        fn scalar(a: ArrayViewD<'_, Self>, op: BinOp, s: f64, left: bool) -> Result<ArrayD<Self>, Fault> {
            apply_scalar(a, op, s, left)
        }
        fn reduce_all(a: ArrayViewD<'_, Self>, op: Reduce) -> Result<Produced, Fault> {
            reduced_value(reduce_iter(a.iter(), a.len(), op)?)
        }
        fn reduce_axis(
            a: ArrayViewD<'_, Self>,
            op: Reduce,
            axis: usize,
            keepdims: bool,
        ) -> Result<Box<dyn Hosted>, Fault> {
            reduce_axis_generic(a, op, axis, keepdims)
        }
    };
}

numeric_kernel!(f64, float);
numeric_kernel!(f32, float);
numeric_kernel!(i64, signed);
numeric_kernel!(i32, signed);
numeric_kernel!(u8, unsigned);
impl Kernel for bool {}

/// An array hosted on an engine: shared, immutable, standard layout.
pub(crate) struct HostedArray<A>(pub(crate) ArcArray<A, IxDyn>);

/// Lends an array's memory to the wire without a copy.
struct SharedBytes<A>(ArcArray<A, IxDyn>);

impl<A: bytemuck::Pod> AsRef<[u8]> for SharedBytes<A> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(self.0.as_slice().unwrap_or(&[]))
    }
}

/// The raw bytes of a standard-layout array, shared.
pub(crate) trait RawBytes: Element {
    fn raw(a: &ArcArray<Self, IxDyn>) -> Bytes;
}

macro_rules! pod_raw {
    ($($t:ty),*) => {$(
        impl RawBytes for $t {
            fn raw(a: &ArcArray<Self, IxDyn>) -> Bytes {
                Bytes::from_owner(SharedBytes(a.clone()))
            }
        }
    )*};
}
pod_raw!(f64, f32, i64, i32, u8);

impl RawBytes for bool {
    fn raw(a: &ArcArray<Self, IxDyn>) -> Bytes {
        Bytes::from(
            a.iter()
                .map(|&b| <u8 as From<bool>>::from(b))
                .collect::<Vec<u8>>(),
        )
    }
}

fn encode_shared<A: RawBytes>(a: &ArcArray<A, IxDyn>) -> Result<Encoded, Fault> {
    let head = value::to_cbor(&value::ArrayHeader {
        v: value::ARRAY_FORMAT_VERSION,
        dtype: A::DTYPE,
        shape: a.shape().to_vec(),
    })
    .map_err(|e| Fault::Decode(e.to_string()))?;
    Ok(Encoded {
        head,
        body: A::raw(a),
    })
}

impl<A: Kernel + RawBytes> HostedArray<A> {
    fn kept(a: ArrayD<A>) -> Produced {
        // Kernels build standard-layout arrays; keep it that way.
        let a = if a.is_standard_layout() {
            a
        } else {
            a.as_standard_layout().into_owned()
        };
        Produced::Object(Box::new(HostedArray(a.into_shared())))
    }
}

impl<A: Kernel + RawBytes> Hosted for HostedArray<A> {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<ArrayD<A>>()
    }

    fn invoke(&mut self, m: MethodId, args: &[u8]) -> Invocation {
        let view = self.0.view();
        let result = match m {
            method::UNARY => decode_args::<(Unary,)>(args)
                .and_then(|(op,)| A::unary(view, op))
                .map(Self::kept),
            method::SCALAR => decode_args::<(BinOp, f64, bool)>(args)
                .and_then(|(op, s, left)| A::scalar(view, op, s, left))
                .map(Self::kept),
            method::REDUCE_ALL => {
                decode_args::<(Reduce,)>(args).and_then(|(op,)| A::reduce_all(view, op))
            }
            method::REDUCE_AXIS => decode_args::<(Reduce, usize, bool)>(args)
                .and_then(|(op, axis, keep)| A::reduce_axis(view, op, axis, keep))
                .map(Produced::Object),
            other => return no_such_method::<ArrayD<A>>(other),
        };
        Invocation::Ready(result)
    }

    fn encode(&self) -> Result<Encoded, Fault> {
        encode_shared(&self.0)
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn host<A: Kernel + RawBytes>(head: &[u8], body: AlignedBuf) -> Result<Box<dyn Hosted>, Fault> {
    let a: ArrayD<A> =
        value::decode_array::<A, IxDyn>(head, body).map_err(|e| Fault::Decode(e.to_string()))?;
    Ok(Box::new(HostedArray(a.into_shared())))
}

macro_rules! register_arrays {
    ($($t:ty),*) => {$(
        inventory::submit! {
            TypeEntry { name: std::any::type_name::<ArrayD<$t>>, host: host::<$t> }
        }
    )*};
}

register_arrays!(f64, f32, i64, i32, u8, bool);
