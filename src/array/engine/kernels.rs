//! What engines run on their arrays: the hosted array type, registered for
//! every built-in element type, and its kernels (ufuncs, scalar arithmetic,
//! reductions). Results stay on the engine as new hosted arrays.

use crate::actors::hosted::{Hosted, Invocation, Produced};
use crate::actors::registry::TypeEntry;
use crate::array::engine::chain::{map_chain, map_chain_inplace};
use crate::array::kinds::Cmp;
use crate::array::kinds::{BinOp, ElemOp, Reduce};
use crate::array::protocol::{self, ArrayOp};
use crate::macro_support::{decode_args, no_such_method, ok_value};
use crate::net::wire::{Fault, MethodId};
use crate::net::AlignedBuf;
use crate::value::{self, DType, Element, Encoded};
use bytes::Bytes;
use ndarray::{ArcArray, ArrayD, ArrayViewD, Axis, IxDyn};

pub(super) fn unsupported(what: &str, dtype: DType) -> Fault {
    Fault::Refused(format!("{what} is not defined for {dtype} arrays"))
}

/// The kernels of one element type.
pub(crate) trait Kernel: Element + crate::value::Value {
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
    /// The element as `f64` (bool: 0 or 1; large integers round).
    fn to_f64(x: Self) -> f64;
    /// An `f64` as the element (`as` semantics: saturating, NaN to 0; bool:
    /// nonzero).
    fn from_f64(x: f64) -> Self;
    /// `x cmp s` for every element, compared as `f64`.
    fn compare(a: ArrayViewD<'_, Self>, cmp: Cmp, s: f64) -> ArrayD<bool> {
        a.mapv(|x| cmp.test(Self::to_f64(x), s))
    }
    /// `a op= b` in place (`b` already broadcast to `a`'s shape).
    fn binary_inplace(
        _a: &mut ArcArray<Self, IxDyn>,
        _b: ArrayViewD<'_, Self>,
        op: BinOp,
    ) -> Result<(), Fault> {
        Err(unsupported(&format!("{op:?}"), Self::DTYPE))
    }
    /// `a op b`, broadcast as numpy does.
    fn binary(
        _a: ArrayViewD<'_, Self>,
        _b: ArrayViewD<'_, Self>,
        op: BinOp,
    ) -> Result<ArrayD<Self>, Fault> {
        Err(unsupported(&format!("{op:?}"), Self::DTYPE))
    }
    /// Applies a (checked) chain to a block of elements; the float types
    /// run it step by step over the block, vectorised.
    fn apply_block(buf: &mut [Self], chain: &[ElemOp]) {
        buf.iter_mut().for_each(|x| *x = apply(*x, chain));
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
    /// The operations of [`engine`](crate::array::engine) (scans, products,
    /// sorting); `None` for one the type does not have.
    fn more(_a: &ArcArray<Self, IxDyn>, _op: &ArrayOp<Self>) -> Option<Result<Produced, Fault>> {
        None
    }
    /// As [`more`](Kernel::more), with a second array as operand.
    fn more_with(
        _a: &ArcArray<Self, IxDyn>,
        _op: &ArrayOp<Self>,
        _other: &ArcArray<Self, IxDyn>,
    ) -> Option<Result<Produced, Fault>> {
        None
    }
}

/// The shape two shapes broadcast to (numpy's rules).
pub(super) fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, Fault> {
    crate::array::broadcast_shape(a, b)
        .ok_or_else(|| Fault::Refused(format!("shapes {a:?} and {b:?} do not broadcast")))
}

/// Checks a chain against the element type once, before any element.
pub(super) fn check_chain<A: Kernel>(chain: &[ElemOp]) -> Result<(), Fault> {
    match chain.iter().find(|op| !A::supports(op)) {
        Some(op) => Err(unsupported(&format!("{op:?}"), A::DTYPE)),
        None => Ok(()),
    }
}

/// Applies a (checked) chain to one element.
#[inline]
pub(super) fn apply<A: Kernel>(x: A, chain: &[ElemOp]) -> A {
    chain.iter().fold(x, |x, op| A::step(x, op))
}

#[inline]
/// The array converted to another element type (`as` semantics through `f64`).
fn astype<A: Kernel>(a: ArrayViewD<'_, A>, dtype: DType) -> Result<Box<dyn Hosted>, Fault> {
    fn to<A: Kernel, B: Kernel + RawBytes>(a: ArrayViewD<'_, A>) -> Box<dyn Hosted> {
        Box::new(HostedArray(
            a.mapv(|x| B::from_f64(A::to_f64(x))).into_shared(),
        ))
    }
    macro_rules! cast {
        ($($t:ident $d:ident),*) => {
            match dtype {
                $(DType::$d => to::<A, $t>(a),)*
            }
        };
    }
    Ok(crate::array::for_each_dtype!(cast))
}

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
        leases: Vec::new(),
    })
}

impl<A: Kernel + RawBytes> HostedArray<A> {
    fn kept(a: ArrayD<A>) -> Produced {
        crate::array::engine::keep(a)
    }

    /// Runs an operation that takes no second array.
    fn run(&mut self, op: ArrayOp<A>) -> Result<Produced, Fault> {
        let view = self.0.view();
        match op {
            ArrayOp::Map { chain } => map_chain(view, &chain).map(Self::kept),
            ArrayOp::MapInPlace { chain } => {
                map_chain_inplace(&mut self.0, &chain).and_then(|()| ok_value(()))
            }
            ArrayOp::ReduceAll { chain, op } => A::reduce_all(view, &chain, op),
            ArrayOp::ReduceAxis { op, axis, keepdims } => {
                A::reduce_axis(view, op, axis, keepdims).map(Produced::Object)
            }
            ArrayOp::Slice { sels } => match rows_shared(&self.0, &sels) {
                Some(rows) => Ok(Produced::Object(Box::new(HostedArray(rows)))),
                None => select(view, sels).map(Self::kept),
            },
            ArrayOp::Assign { sels, value } => {
                let info = slice_info(sels)?;
                self.0.slice_mut(&info).fill(A::from_f64(value));
                ok_value(())
            }
            ArrayOp::Transpose { axes } => permute(view, axes).map(Self::kept),
            ArrayOp::Reshape { shape } => reshape(view, &shape).map(Self::kept),
            ArrayOp::Take { axis, picks } => take(view, axis, &picks).map(Self::kept),
            ArrayOp::Broadcast { shape } => broadcast_to(view, &shape).map(Self::kept),
            ArrayOp::Compare { cmp, scalar } => Ok(Produced::Object(Box::new(HostedArray(
                A::compare(view, cmp, scalar).into_shared(),
            )))),
            ArrayOp::AsType { dtype } => astype(view, dtype).map(Produced::Object),
            ArrayOp::Chunks { rows } => chunks(self.0.clone(), rows),
            ArrayOp::Shape => ok_value(view.shape().to_vec()),
            op => match A::more(&self.0, &op) {
                Some(result) => result,
                None => Err(refuse(&op, A::DTYPE, false)),
            },
        }
    }

    /// Runs an operation with a second array of the same type as operand.
    fn run_with(&mut self, op: ArrayOp<A>, other: &ArcArray<A, IxDyn>) -> Result<Produced, Fault> {
        match op {
            ArrayOp::Binary { op } => A::binary(self.0.view(), other.view(), op).map(Self::kept),
            ArrayOp::BinaryInPlace { op } => {
                let Some(b) = other.broadcast(self.0.raw_dim()) else {
                    return Err(Fault::Refused(format!(
                        "{:?} does not broadcast to {:?}",
                        other.shape(),
                        self.0.shape()
                    )));
                };
                A::binary_inplace(&mut self.0, b, op)?;
                ok_value(())
            }
            ArrayOp::Concat { axis } => {
                ndarray::concatenate(Axis(axis), &[self.0.view(), other.view()])
                    .map_err(|e| Fault::Refused(format!("cannot join: {e}")))
                    .map(Self::kept)
            }
            ArrayOp::CompareArray { cmp } => compare_arrays(&self.0, other, cmp)
                .map(|out| Produced::Object(Box::new(HostedArray(out.into_shared())))),
            op => match A::more_with(&self.0, &op, other) {
                Some(result) => result,
                None => Err(refuse(&op, A::DTYPE, true)),
            },
        }
    }
}

/// The operation a call carries, checked against the method it came as.
fn decode_op<A: Kernel>(m: MethodId, args: &[u8]) -> Result<ArrayOp<A>, Invocation> {
    if m != protocol::OP && m != protocol::OP_MUT {
        return Err(no_such_method::<ArrayD<A>>(m));
    }
    let op: ArrayOp<A> = decode_args(args).map_err(|f| Invocation::Ready(Err(f)))?;
    if op.method() != m {
        return Err(Invocation::Ready(Err(Fault::Refused(format!(
            "{} came as the wrong method (in place or not)",
            op.name()
        )))));
    }
    Ok(op)
}

/// Why an operation does not run: the type lacks it, or it came with (or
/// without) a second array it does not (or does) take.
fn refuse<A>(op: &ArrayOp<A>, dtype: DType, with_operand: bool) -> Fault {
    let either = matches!(op, ArrayOp::Unique | ArrayOp::UniqueCount);
    match (takes_operand(op), with_operand) {
        (true, false) => Fault::Refused(format!("{} takes a second array", op.name())),
        (false, true) if !either => Fault::Refused(format!("{} takes no second array", op.name())),
        _ => unsupported(op.name(), dtype),
    }
}

/// Whether an operation always takes a second array.
fn takes_operand<A>(op: &ArrayOp<A>) -> bool {
    matches!(
        op,
        ArrayOp::Where { .. }
            | ArrayOp::Binary { .. }
            | ArrayOp::BinaryInPlace { .. }
            | ArrayOp::CompareArray { .. }
            | ArrayOp::Concat { .. }
            | ArrayOp::ScanFrom { .. }
            | ArrayOp::Dot
            | ArrayOp::TDot
            | ArrayOp::Merge { .. }
            | ArrayOp::FirstMatch { .. }
            | ArrayOp::MergeSorted
            | ArrayOp::TakeBy
    )
}

fn slice_info(
    sels: Vec<crate::array::index::Sel>,
) -> Result<ndarray::SliceInfo<Vec<ndarray::SliceInfoElem>, IxDyn, IxDyn>, Fault> {
    let elems: Vec<ndarray::SliceInfoElem> = sels.into_iter().map(Into::into).collect();
    ndarray::SliceInfo::<_, IxDyn, IxDyn>::try_from(elems)
        .map_err(|e| Fault::Refused(format!("bad selection: {e}")))
}

fn reshape<A: Element>(a: ArrayViewD<'_, A>, shape: &[usize]) -> Result<ArrayD<A>, Fault> {
    let flat: Vec<A> = a.iter().copied().collect();
    ArrayD::from_shape_vec(IxDyn(shape), flat)
        .map_err(|e| Fault::Refused(format!("cannot reshape: {e}")))
}

fn take<A: Element>(
    a: ArrayViewD<'_, A>,
    axis: usize,
    picks: &[usize],
) -> Result<ArrayD<A>, Fault> {
    if axis >= a.ndim() || picks.iter().any(|&i| i >= a.len_of(Axis(axis))) {
        return Err(Fault::Refused("index out of bounds".into()));
    }
    Ok(a.select(Axis(axis), picks))
}

fn broadcast_to<A: Element>(a: ArrayViewD<'_, A>, shape: &[usize]) -> Result<ArrayD<A>, Fault> {
    a.broadcast(IxDyn(shape))
        .map(|b| b.to_owned())
        .ok_or_else(|| Fault::Refused(format!("{:?} does not broadcast to {shape:?}", a.shape())))
}

/// `f` of the two arrays' elements, broadcast to one shape (numpy's rules).
fn zip_broadcast<A: Element, B: Element, C>(
    a: &ArcArray<A, IxDyn>,
    b: &ArcArray<B, IxDyn>,
    f: impl Fn(A, B) -> C,
) -> Result<ArrayD<C>, Fault> {
    let shape = broadcast(a.shape(), b.shape())?;
    let (Some(x), Some(y)) = (a.broadcast(shape.clone()), b.broadcast(shape)) else {
        return Err(Fault::Refused("operands do not broadcast".into()));
    };
    Ok(ndarray::Zip::from(&x).and(&y).map_collect(|&x, &y| f(x, y)))
}

/// `a cmp b` elementwise, broadcast, compared as `f64`.
fn compare_arrays<A: Kernel>(
    a: &ArcArray<A, IxDyn>,
    b: &ArcArray<A, IxDyn>,
    cmp: Cmp,
) -> Result<ArrayD<bool>, Fault> {
    zip_broadcast(a, b, |x, y| cmp.test(A::to_f64(x), A::to_f64(y)))
}

/// `where cond { x } else { other }`, broadcast.
fn where_<A: Kernel>(
    a: &ArcArray<A, IxDyn>,
    cond: &ArcArray<bool, IxDyn>,
    other: A,
) -> Result<ArrayD<A>, Fault> {
    zip_broadcast(a, cond, |x, c| if c { x } else { other })
}

impl<A: Kernel + RawBytes> Hosted for HostedArray<A> {
    fn type_name(&self) -> &'static str {
        crate::actors::registry::stable_name::<ArrayD<A>>()
    }

    fn nbytes(&self) -> usize {
        self.0.len() * std::mem::size_of::<A>()
    }

    fn invoke(&mut self, _ctx: &crate::actors::ctx::Ctx, m: MethodId, args: &[u8]) -> Invocation {
        match decode_op::<A>(m, args) {
            Ok(op) => Invocation::Ready(self.run(op)),
            Err(refused) => refused,
        }
    }

    fn encode(&self) -> Result<Encoded, Fault> {
        encode_shared(&self.0)
    }

    fn mutates(&self, m: MethodId) -> bool {
        m == protocol::OP_MUT
    }

    fn share(&self) -> Option<std::sync::Arc<dyn std::any::Any + Send + Sync>> {
        Some(std::sync::Arc::new(self.0.clone()))
    }

    fn recycle(&mut self) -> bool {
        let empty = ArcArray::from_vec(Vec::new()).into_dyn();
        match std::mem::replace(&mut self.0, empty).try_into_owned_nocopy() {
            Ok(owned) => {
                crate::net::spare::keep(owned.into_raw_vec_and_offset().0);
                true
            }
            Err(shared) => {
                self.0 = shared;
                false
            }
        }
    }

    /// Lends the array as an owned `ArrayD` without a copy when this is
    /// its only owner: taken out, handed over, and put back after (in
    /// standard layout, whatever the function did to it), even when `f`
    /// panics. A function that changes the array's shape changes the
    /// object; handles made before keep the shape they knew.
    fn lend(
        &mut self,
        wanted: std::any::TypeId,
        f: &mut dyn FnMut(&mut dyn std::any::Any),
    ) -> bool {
        if wanted != std::any::TypeId::of::<ArrayD<A>>() {
            return false;
        }
        let Ok(empty) = ArcArray::from_shape_vec(IxDyn(&[0]), Vec::new()) else {
            return false;
        };
        let mut owned: ArrayD<A> = std::mem::replace(&mut self.0, empty).into_owned();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut owned)));
        if !owned.is_standard_layout() {
            owned = owned.as_standard_layout().into_owned();
        }
        self.0 = owned.into_shared();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        true
    }

    fn invoke_with(&mut self, m: MethodId, args: &[u8], operand: &dyn std::any::Any) -> Invocation {
        let op = match decode_op::<A>(m, args) {
            Ok(op) => op,
            Err(refused) => return refused,
        };
        let result = if let ArrayOp::Where { other } = op {
            match operand.downcast_ref::<ArcArray<bool, IxDyn>>() {
                Some(cond) => where_(&self.0, cond, A::from_f64(other)).map(Self::kept),
                None => Err(Fault::Refused("the condition is not a bool array".into())),
            }
        } else {
            match operand.downcast_ref::<ArcArray<A, IxDyn>>() {
                Some(other) => self.run_with(op, other),
                None => Err(Fault::Refused(format!(
                    "the operand is not a {} array",
                    A::DTYPE
                ))),
            }
        };
        Invocation::Ready(result)
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// The array as a stream of `rows` rows (along axis 0) each, each copied
/// out only when the caller's credit asks for it.
fn chunks<A: Kernel + RawBytes>(a: ArcArray<A, IxDyn>, rows: usize) -> Result<Produced, Fault> {
    if rows == 0 {
        return Err(Fault::Refused("chunks of 0 rows".into()));
    }
    let n = if a.ndim() == 0 { 1 } else { a.len_of(Axis(0)) };
    let starts = (0..n.max(1)).step_by(rows);
    let items = starts.map(move |start| {
        let part = if a.ndim() == 0 {
            a.to_owned()
        } else {
            let end = (start + rows).min(n);
            a.slice_axis(Axis(0), ndarray::Slice::from(start..end))
                .to_owned()
        };
        value::encode_array(part).map_err(|e| Fault::Decode(e.to_string()))
    });
    Ok(Produced::Stream(Box::pin(futures::stream::iter(items))))
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

/// A selection of whole rows (a unit-step range of the first axis, every
/// other axis whole, at least a quarter of the rows) as an array sharing
/// the original's memory: no copy, and still standard layout
/// (copy-on-write: whichever side changes first copies). `None` for any
/// other selection.
fn rows_shared<A: Element>(
    a: &ArcArray<A, IxDyn>,
    sels: &[crate::array::index::Sel],
) -> Option<ArcArray<A, IxDyn>> {
    use crate::array::index::Sel;
    let whole = |s: &Sel| {
        matches!(
            s,
            Sel::Slice {
                start: 0,
                end: None,
                step: 1
            }
        )
    };
    if a.ndim() == 0 || sels.len() != a.ndim() || !sels[1..].iter().all(whole) {
        return None;
    }
    let Sel::Slice {
        start,
        end,
        step: 1,
    } = sels[0]
    else {
        return None;
    };
    let len = a.len_of(Axis(0)) as isize;
    let at = |i: isize| if i < 0 { i + len } else { i };
    let (from, to) = (at(start), at(end.unwrap_or(len)));
    if !(0 <= from && from <= to && to <= len) {
        return None;
    }
    // A small part is copied, so that it does not keep a large array's
    // memory alive after the array goes.
    if ((to - from) as usize) * 4 < a.len_of(Axis(0)) {
        return None;
    }
    let mut rows = a.clone();
    rows.slice_axis_inplace(Axis(0), ndarray::Slice::from(from as usize..to as usize));
    rows.is_standard_layout().then_some(rows)
}

/// A selection of an array, copied into a new standard-layout array.
fn select<A: Element>(
    a: ArrayViewD<'_, A>,
    sels: Vec<crate::array::index::Sel>,
) -> Result<ArrayD<A>, Fault> {
    let info = slice_info(sels)?;
    Ok(a.slice(&info).as_standard_layout().into_owned())
}

fn host<A: Kernel + RawBytes>(head: &[u8], body: AlignedBuf) -> Result<Box<dyn Hosted>, Fault> {
    let a: ArrayD<A> =
        value::decode_array::<A, IxDyn>(head, body).map_err(|e| Fault::Decode(e.to_string()))?;
    Ok(Box::new(HostedArray(a.into_shared())))
}

/// Another in-process engine's shared array, hosted here without a copy
/// (copy-on-write: whichever side changes it first copies it).
fn adopt<A: Kernel + RawBytes>(
    shared: &(dyn std::any::Any + Send + Sync),
) -> Option<Box<dyn Hosted>> {
    let a = shared.downcast_ref::<ArcArray<A, IxDyn>>()?;
    Some(Box::new(HostedArray(a.clone())))
}

macro_rules! register_arrays {
    ($($t:ident $d:ident),*) => {$(
        inventory::submit! {
            TypeEntry {
                name: concat!("ndarray::ArrayD<", stringify!($t), ">"),
                type_id: std::any::TypeId::of::<ArrayD<$t>>,
                host: host::<$t>,
                adopt: Some(adopt::<$t>),
                methods: &[],
            }
        }
    )*};
}

crate::array::for_each_dtype!(register_arrays);
