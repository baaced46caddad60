//! Engine-side kernels for numerical work: scans, products, merges of
//! partial reductions, and arrays made where they live. They reach the
//! engine through [`HostedArray`](kernels::HostedArray)'s dispatch
//! (method ids in [`method`](kernels::method)) and, for creation,
//! through the function registry.

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
use crate::macro_support::{decode_args, ok_value};
use crate::net::wire::{Fault, MethodId};
use kernels::{method, HostedArray, Kernel, RawBytes};
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

/// The numeric methods of one array; `None` for a method it does not have.
pub(crate) fn numeric<A: Num>(
    a: &ArcArray<A, IxDyn>,
    m: MethodId,
    args: &[u8],
) -> Option<Result<Produced, Fault>> {
    let view = a.view();
    Some(match m {
        method::SCAN => decode_args::<(scan::Scan, usize)>(args)
            .and_then(|(op, axis)| scan::scan(view, op, axis, None))
            .map(keep),
        method::GRAM => linalg::gram(view).map(keep),
        method::SORT => sort::sort(view).map(keep),
        method::ARGSORT => decode_args::<(i64,)>(args)
            .and_then(|(offset,)| sort::argsort(view, offset))
            .map(keep),
        method::SPACED => decode_args::<(usize, usize, usize)>(args)
            .and_then(|(lo, hi, k)| sort::spaced(view, lo, hi, k))
            .and_then(ok_value),
        method::RANKS => decode_args::<(Vec<A>,)>(args)
            .and_then(|(v,)| sort::ranks(view, &v))
            .and_then(ok_value),
        method::UNIQUE => sort::unique(view, None).map(keep),
        method::UNIQUE_COUNT => sort::unique(view, None).and_then(|u| ok_value(u.len() as u64)),
        method::HISTOGRAM => decode_args::<(usize, f64, f64)>(args)
            .and_then(|(bins, lo, hi)| sort::histogram(view, bins, lo, hi))
            .map(keep),
        _ => return None,
    })
}

/// The numeric methods of one array with a second array of the same type
/// and engine as operand; `None` for a method it does not have.
pub(crate) fn numeric_with<A: Num>(
    a: &ArcArray<A, IxDyn>,
    m: MethodId,
    args: &[u8],
    other: &ArcArray<A, IxDyn>,
) -> Option<Result<Produced, Fault>> {
    let (x, y) = (a.view(), other.view());
    Some(match m {
        method::SCAN_FROM => decode_args::<(scan::Scan, usize)>(args)
            .and_then(|(op, axis)| scan::scan(x, op, axis, Some(y)))
            .map(keep),
        method::DOT => linalg::dot(x, y).map(keep),
        method::TDOT => linalg::tdot(x, y).map(keep),
        method::MERGE => decode_args::<(super::kinds::Reduce,)>(args)
            .and_then(|(op,)| merge::merge(x, y, op))
            .map(keep),
        method::MERGE_SORTED => sort::merge_sorted(x, y).map(keep),
        method::TAKE_BY => sort::take_by(x, y).map(keep),
        method::UNIQUE => sort::unique(x, Some(y)).map(keep),
        method::UNIQUE_COUNT => sort::unique(x, Some(y)).and_then(|u| ok_value(u.len() as u64)),
        method::FIRST_MATCH => decode_args::<(usize, i64)>(args)
            .and_then(|(axis, offset)| merge::first_match(x, y, axis, offset))
            .map(keep),
        _ => return None,
    })
}
