//! The array operations as the wire carries them: one typed enum, built by
//! the client's planning code and matched by the engine's hosted array.
//! Every operation travels as a call to one of two methods of the hosted
//! array ([`OP`] for operations that make a new value, [`OP_MUT`] for the
//! ones that change the array in place), its argument one [`ArrayOp`].
//! Operations marked *with operand* take a second array of the same engine
//! (sent as a combined call); the others take none.

use super::index::Sel;
use super::kinds::{BinOp, Cmp, ElemOp, Reduce, Scan};
use crate::net::wire::MethodId;
use crate::value::DType;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The hosted array's method for operations that leave it as it is.
pub(crate) const OP: MethodId = MethodId::of_name("distob::array::op");
/// The hosted array's method for operations that change it in place.
pub(crate) const OP_MUT: MethodId = MethodId::of_name("distob::array::op_mut");

/// One array operation, for an array of element type `A`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "A: Serialize + DeserializeOwned")]
pub(crate) enum ArrayOp<A> {
    /// The chain applied in one pass → array.
    Map { chain: Vec<ElemOp> },
    /// The chain applied in place.
    MapInPlace { chain: Vec<ElemOp> },
    /// The chain and the reduction in one pass, no array made → scalar.
    ReduceAll { chain: Vec<ElemOp>, op: Reduce },
    /// A reduction along `axis` → array.
    ReduceAxis {
        op: Reduce,
        axis: usize,
        keepdims: bool,
    },
    /// The selection, as a new standard-layout array.
    Slice { sels: Vec<Sel> },
    /// The selected elements set to `value`, in place.
    Assign { sels: Vec<Sel>, value: f64 },
    /// Axes permuted, in standard layout.
    Transpose { axes: Vec<usize> },
    /// The same elements in another shape (standard order).
    Reshape { shape: Vec<usize> },
    /// The elements at `picks` along `axis`.
    Take { axis: usize, picks: Vec<usize> },
    /// The array broadcast to `shape`.
    Broadcast { shape: Vec<usize> },
    /// `x cmp scalar` → bool array.
    Compare { cmp: Cmp, scalar: f64 },
    /// The array as another element type.
    AsType { dtype: DType },
    /// A stream of arrays of `rows` rows (along axis 0) each.
    Chunks { rows: usize },
    /// The array's shape (a value).
    Shape,
    /// The cumulative sum or product along `axis`.
    Scan { op: Scan, axis: usize },
    /// `aᵀ·a`.
    Gram,
    /// Every lane along `axis` sorted (NaN last).
    Sort { axis: usize },
    /// For every lane along `axis`, the indices (plus `offset`) in sorted
    /// order, as `i64` (stable).
    ArgSort { axis: usize, offset: i64 },
    /// `k` elements evenly spaced over positions `lo..hi` of a 1-D block
    /// (a value).
    Spaced { lo: usize, hi: usize, k: usize },
    /// For each value, how many elements of a sorted 1-D block are below
    /// it and how many not above it (a value).
    Ranks { values: Vec<A> },
    /// The distinct elements of a sorted 1-D block; with operand (the
    /// previous block's last element), without that one.
    Unique,
    /// As `Unique`, giving only how many there are (a value).
    UniqueCount,
    /// Counts in `bins` equal bins over `[lo, hi]`, as `i64`.
    Histogram { bins: usize, lo: f64, hi: f64 },
    /// With operand (a bool array): `where cond { x } else { other }`.
    Where { other: f64 },
    /// With operand: `a op b` (broadcasting) → array.
    Binary { op: BinOp },
    /// With operand: `a op= b` in place (b broadcast to a's shape).
    BinaryInPlace { op: BinOp },
    /// With operand: `a cmp b` (broadcasting) → bool array.
    CompareArray { cmp: Cmp },
    /// With operand: the two joined on `axis`.
    Concat { axis: usize },
    /// With operand (the carry): the scan continuing from it.
    ScanFrom { op: Scan, axis: usize },
    /// With operand: `a·b` (numpy's `dot`).
    Dot,
    /// With operand: `aᵀ·b`.
    TDot,
    /// With operand (a second partial): the two partials merged.
    Merge { op: Reduce },
    /// With operand (the extremes along `axis`): where each first occurs
    /// (plus `offset`), as `i64`.
    FirstMatch { axis: usize, offset: i64 },
    /// With operand (a second sorted run): the two merged.
    MergeSorted,
    /// With operand (a permutation): the 1-D block in that order.
    TakeBy,
}

impl<A> ArrayOp<A> {
    /// Whether the operation changes the array in place.
    pub(crate) fn mutates(&self) -> bool {
        matches!(
            self,
            ArrayOp::MapInPlace { .. } | ArrayOp::Assign { .. } | ArrayOp::BinaryInPlace { .. }
        )
    }

    /// The hosted array's method that carries the operation.
    pub(crate) fn method(&self) -> MethodId {
        if self.mutates() {
            OP_MUT
        } else {
            OP
        }
    }

    /// The operation's name, for errors.
    pub(crate) fn name(&self) -> &'static str {
        macro_rules! names {
            ($($v:ident)*) => {
                match self { $(ArrayOp::$v { .. } => stringify!($v),)* }
            };
        }
        names!(Map MapInPlace ReduceAll ReduceAxis Slice Assign Transpose Reshape Take
            Broadcast Compare AsType Chunks Shape Scan Gram Sort ArgSort Spaced Ranks Unique
            UniqueCount Histogram Where Binary BinaryInPlace CompareArray Concat ScanFrom Dot
            TDot Merge FirstMatch MergeSorted TakeBy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_operations_travel_as_the_mutating_method() {
        let chain = vec![ElemOp::Unary(crate::array::Unary::Neg)];
        assert_eq!(ArrayOp::<f64>::MapInPlace { chain }.method(), OP_MUT);
        assert_eq!(ArrayOp::<f64>::Gram.method(), OP);
        assert_eq!(ArrayOp::<f64>::Dot.name(), "Dot");
    }

    #[test]
    fn operations_round_trip_through_cbor() {
        let op = ArrayOp::<i64>::Ranks {
            values: vec![i64::MAX, -3],
        };
        let bytes = crate::value::to_cbor(&op).expect("encodes");
        let back: ArrayOp<i64> = crate::value::from_cbor(&bytes).expect("decodes");
        assert!(matches!(back, ArrayOp::Ranks { values } if values == [i64::MAX, -3]));
    }
}
