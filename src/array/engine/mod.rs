//! Engine-side kernels for numerical work: scans, products, merges of
//! partial reductions, and arrays made where they live. They reach the
//! engine through [`HostedArray`](kernels::HostedArray)'s dispatch of
//! [`ArrayOp`]s and, for creation, through the function registry.

pub(crate) mod chain;
pub(crate) mod create;
pub(crate) mod element;
pub(crate) mod kernels;
pub(crate) mod linalg;
pub(crate) mod merge;
pub(crate) mod npy;
pub(crate) mod reduce;
pub(crate) mod scan;
pub(crate) mod sort;
pub(crate) mod vmath;

use crate::actors::hosted::Produced;
use crate::array::protocol::ArrayOp;
use crate::macro_support::ok_value;
use crate::net::wire::Fault;
use kernels::{HostedArray, Kernel, RawBytes};
use ndarray::{ArcArray, ArrayD, IxDyn};

/// The element types with arithmetic (every built-in type but `bool`).
pub(crate) trait Num:
    Kernel + RawBytes + ndarray::LinalgScalar + PartialOrd + num_traits::NumCast + crate::value::Value
{
}

impl<T> Num for T where
    T: Kernel
        + RawBytes
        + ndarray::LinalgScalar
        + PartialOrd
        + num_traits::NumCast
        + crate::value::Value
{
}

/// A new array kept on the engine, in standard layout.
pub(crate) fn keep<A: Kernel + RawBytes>(a: ArrayD<A>) -> Produced {
    let a = if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    };
    Produced::Object(Box::new(HostedArray(a.into_shared())))
}

/// The numeric operations of one array; `None` for one it does not have.
pub(crate) fn numeric<A: Num>(
    a: &ArcArray<A, IxDyn>,
    op: &ArrayOp<A>,
) -> Option<Result<Produced, Fault>> {
    let view = a.view();
    Some(match *op {
        ArrayOp::Scan { op, axis } => scan::scan(view, op, axis, None).map(keep),
        ArrayOp::Gram => linalg::gram(view).map(keep),
        ArrayOp::Sort { axis } => sort::sort(view, axis).map(keep),
        ArrayOp::ArgSort { axis, offset } => sort::argsort(view, axis, offset).map(keep),
        ArrayOp::Spaced { lo, hi, k } => sort::spaced(view, lo, hi, k).and_then(ok_value),
        ArrayOp::Ranks { ref values } => sort::ranks(view, values).and_then(ok_value),
        ArrayOp::Unique => sort::unique(view, None).map(keep),
        ArrayOp::UniqueCount => sort::unique(view, None).and_then(|u| ok_value(u.len() as u64)),
        ArrayOp::Histogram { bins, lo, hi } => sort::histogram(view, bins, lo, hi).map(keep),
        _ => return None,
    })
}

/// The numeric operations of one array with a second array of the same
/// type and engine as operand; `None` for one it does not have.
pub(crate) fn numeric_with<A: Num>(
    a: &ArcArray<A, IxDyn>,
    op: &ArrayOp<A>,
    other: &ArcArray<A, IxDyn>,
) -> Option<Result<Produced, Fault>> {
    let (x, y) = (a.view(), other.view());
    Some(match *op {
        ArrayOp::ScanFrom { op, axis } => scan::scan(x, op, axis, Some(y)).map(keep),
        ArrayOp::Dot => linalg::dot(x, y).map(keep),
        ArrayOp::TDot => linalg::tdot(x, y).map(keep),
        ArrayOp::Merge { op } => merge::merge(x, y, op).map(keep),
        ArrayOp::MergeSorted => sort::merge_sorted(x, y).map(keep),
        ArrayOp::TakeBy => sort::take_by(x, y).map(keep),
        ArrayOp::Unique => sort::unique(x, Some(y)).map(keep),
        ArrayOp::UniqueCount => sort::unique(x, Some(y)).and_then(|u| ok_value(u.len() as u64)),
        ArrayOp::FirstMatch { axis, offset } => merge::first_match(x, y, axis, offset).map(keep),
        _ => return None,
    })
}
