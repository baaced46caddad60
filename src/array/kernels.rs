//! What engines run on their arrays: the hosted array type, registered for
//! every built-in element type, and its kernels (ufuncs, scalar arithmetic,
//! reductions). Results stay on the engine as new hosted arrays.

use super::kinds::{BinOp, ElemOp, Reduce, Unary};
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
    /// `(Vec<ElemOp>,)` → array: the chain applied in one pass
    pub(crate) const MAP: MethodId = MethodId::of_name("distob::array::map");
    /// `(Vec<Sel>,)` → array: the selection, as a new standard-layout array
    pub(crate) const SLICE: MethodId = MethodId::of_name("distob::array::slice");
    /// `(Vec<usize>,)` → array: axes permuted, in standard layout
    pub(crate) const TRANSPOSE: MethodId = MethodId::of_name("distob::array::transpose");
    /// `(usize,)` with a second array as operand → the two joined on that axis
    pub(crate) const CONCAT: MethodId = MethodId::of_name("distob::array::concat");
    /// `(BinOp,)` with a second array as operand → array (broadcasting)
    pub(crate) const BINARY: MethodId = MethodId::of_name("distob::array::binary");
    /// `(Vec<ElemOp>, Reduce)` → scalar: the chain and the reduction in one
    /// pass, with no array allocated
    pub(crate) const REDUCE_ALL: MethodId = MethodId::of_name("distob::array::reduce_all");
    /// `(Reduce, axis, keepdims)` → array
    pub(crate) const REDUCE_AXIS: MethodId = MethodId::of_name("distob::array::reduce_axis");
}

fn unsupported(what: &str, dtype: DType) -> Fault {
    Fault::Refused(format!("{what} is not defined for {dtype} arrays"))
}

/// The kernels of one element type.
pub(crate) trait Kernel: Element {
    /// Whether the element type has this operation.
    fn supports(op: &ElemOp) -> bool {
        let _ = op;
        false
    }
    /// One step on one element (only called for supported steps).
    fn step(x: Self, op: &ElemOp) -> Self {
        let _ = op;
        x
    }
    /// `a op b`, broadcast as numpy does.
    fn binary(
        _a: ArrayViewD<'_, Self>,
        _b: ArrayViewD<'_, Self>,
        op: BinOp,
    ) -> Result<ArrayD<Self>, Fault> {
        Err(unsupported(&format!("{op:?}"), Self::DTYPE))
    }
    fn reduce_all(
        _a: ArrayViewD<'_, Self>,
        _chain: &[ElemOp],
        op: Reduce,
    ) -> Result<Produced, Fault> {
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

/// The shape two shapes broadcast to (numpy's rules).
fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, Fault> {
    super::broadcast_shape(a, b)
        .ok_or_else(|| Fault::Refused(format!("shapes {a:?} and {b:?} do not broadcast")))
}

/// Checks a chain against the element type once, before any element.
fn check_chain<A: Kernel>(chain: &[ElemOp]) -> Result<(), Fault> {
    match chain.iter().find(|op| !A::supports(op)) {
        Some(op) => Err(unsupported(&format!("{op:?}"), A::DTYPE)),
        None => Ok(()),
    }
}

/// Applies a (checked) chain to one element.
#[inline]
fn apply<A: Kernel>(x: A, chain: &[ElemOp]) -> A {
    chain.iter().fold(x, |x, op| A::step(x, op))
}

/// The chain applied to every element, in one pass, into a new array.
fn map_chain<A: Kernel>(a: ArrayViewD<'_, A>, chain: &[ElemOp]) -> Result<ArrayD<A>, Fault> {
    check_chain::<A>(chain)?;
    Ok(a.mapv(|x| apply(x, chain)))
}

#[inline]
fn scalar_step<A: num_traits::NumOps + Copy>(x: A, op: BinOp, s: A, left: bool) -> A {
    match (op, left) {
        (BinOp::Add, _) => x + s,
        (BinOp::Mul, _) => x * s,
        (BinOp::Sub, false) => x - s,
        (BinOp::Sub, true) => s - x,
        (BinOp::Div, false) => x / s,
        (BinOp::Div, true) => s / x,
    }
}

/// Reduces a sequence of elements (a whole array or one lane).
fn reduce_iter<A, I>(items: I, len: usize, op: Reduce) -> Result<Reduced<A>, Fault>
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
        let out = a.map_axis(Axis(axis), |lane| {
            match reduce_iter(lane.iter().copied(), len, op) {
                Ok(Reduced::F64(x)) => x,
                _ => f64::NAN,
            }
        });
        Ok(Box::new(HostedArray(
            finish(out, axis, keepdims).into_shared(),
        )))
    } else {
        let mut failure = None;
        let out = a.map_axis(Axis(axis), |lane| {
            match reduce_iter(lane.iter().copied(), len, op) {
                Ok(Reduced::Same(x)) => x,
                Ok(Reduced::F64(_)) => A::zero(),
                Err(f) => {
                    failure = Some(f);
                    A::zero()
                }
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
                }
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
                }
            }
            numeric_kernel!(@common);
        }
    };
    (@common) => {
        fn binary(a: ArrayViewD<'_, Self>, b: ArrayViewD<'_, Self>, op: BinOp) -> Result<ArrayD<Self>, Fault> {
            let shape = broadcast(a.shape(), b.shape())?;
            let (Some(a), Some(b)) = (a.broadcast(shape.clone()), b.broadcast(shape)) else {
                return Err(Fault::Refused("operands do not broadcast".into()));
            };
            Ok(ndarray::Zip::from(&a).and(&b).map_collect(|&x, &y| scalar_step(x, op, y, false)))
        }
        fn reduce_all(a: ArrayViewD<'_, Self>, chain: &[ElemOp], op: Reduce) -> Result<Produced, Fault> {
            check_chain::<Self>(chain)?;
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
    };
}

numeric_kernel!(f64, float);
numeric_kernel!(f32, float);
numeric_kernel!(i64, int, true);
numeric_kernel!(i32, int, true);
numeric_kernel!(u8, int, false);
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
            method::MAP => decode_args::<(Vec<ElemOp>,)>(args)
                .and_then(|(chain,)| map_chain(view, &chain))
                .map(Self::kept),
            method::REDUCE_ALL => decode_args::<(Vec<ElemOp>, Reduce)>(args)
                .and_then(|(chain, op)| A::reduce_all(view, &chain, op)),
            method::TRANSPOSE => decode_args::<(Vec<usize>,)>(args)
                .and_then(|(axes,)| permute(view, axes))
                .map(Self::kept),
            method::SLICE => decode_args::<(Vec<super::index::Sel>,)>(args)
                .and_then(|(sels,)| select(view, sels))
                .map(Self::kept),
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

    fn share(&self) -> Option<std::sync::Arc<dyn std::any::Any + Send + Sync>> {
        Some(std::sync::Arc::new(self.0.clone()))
    }

    fn invoke_with(&mut self, m: MethodId, args: &[u8], operand: &dyn std::any::Any) -> Invocation {
        let Some(other) = operand.downcast_ref::<ArcArray<A, IxDyn>>() else {
            return Invocation::Ready(Err(Fault::Refused(format!(
                "the operand is not a {} array",
                A::DTYPE
            ))));
        };
        let result = match m {
            method::BINARY => decode_args::<(BinOp,)>(args)
                .and_then(|(op,)| A::binary(self.0.view(), other.view(), op)),
            method::CONCAT => decode_args::<(usize,)>(args).and_then(|(axis,)| {
                ndarray::concatenate(Axis(axis), &[self.0.view(), other.view()])
                    .map_err(|e| Fault::Refused(format!("cannot join: {e}")))
            }),
            other => return no_such_method::<ArrayD<A>>(other),
        };
        Invocation::Ready(result.map(Self::kept))
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// An array with its axes permuted, copied into standard layout.
fn permute<A: Element>(a: ArrayViewD<'_, A>, axes: Vec<usize>) -> Result<ArrayD<A>, Fault> {
    let mut seen = vec![false; a.ndim()];
    if axes.len() != a.ndim()
        || axes
            .iter()
            .any(|&x| x >= seen.len() || std::mem::replace(&mut seen[x], true))
    {
        return Err(Fault::Refused(format!(
            "{axes:?} is not a permutation of {} axes",
            a.ndim()
        )));
    }
    Ok(a.permuted_axes(IxDyn(&axes))
        .as_standard_layout()
        .into_owned())
}

/// A selection of an array, copied into a new standard-layout array.
fn select<A: Element>(
    a: ArrayViewD<'_, A>,
    sels: Vec<super::index::Sel>,
) -> Result<ArrayD<A>, Fault> {
    let elems: Vec<ndarray::SliceInfoElem> = sels.into_iter().map(Into::into).collect();
    let info = ndarray::SliceInfo::<_, IxDyn, IxDyn>::try_from(elems)
        .map_err(|e| Fault::Refused(format!("bad selection: {e}")))?;
    Ok(a.slice(&info).as_standard_layout().into_owned())
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
