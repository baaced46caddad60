//! Arrays on engines: [`RemoteArray`] (one `ndarray` array on one engine)
//! and [`DistArray`] (one array split along an axis over many engines).
//!
//! Operations return the result's handle at once: the client names the
//! result and the work is queued where the operands live, so a chain of
//! operations costs no round trip per step. Shapes are known on the client,
//! so a shape error is immediate; a failure on an engine surfaces when the
//! result is awaited or gathered.
//!
//! The layout, by side:
//!
//! - shared by client and engine: `kinds` (the operations, as the wire
//!   names them), `methods` (the method tables both kinds expand),
//!   `for_each_dtype!` (the one list of element types), `partition` (pure
//!   block math, property-tested beside it);
//! - the two kinds: `remote_array` (one array on one engine), `dist/` (one
//!   array over many engines: its type, reductions over everything,
//!   operands, re-splitting, and `tree`, partials merged engine to engine);
//! - themes implemented for both kinds, each planning on the client what
//!   the engines run: `index` (selections), `stack` (structure and joins),
//!   `axis` (reductions along any axis), `scan` (cumulative sums and
//!   products), `linalg` (`dot`, `matmul`, `t_dot`), `create` (arrays made
//!   on the engines), `files` (`.npy` files and block directories),
//!   `blocks` (your code on the blocks), `overlap` (stencils), `sort`
//!   (sorting and selection);
//! - `engine/`: what engines run, reached only through the hosted-object
//!   and function-registry seams: `kernels` (the hosted array and its
//!   dispatch), `element` and `reduce` (per-type elementwise and reduction
//!   kernels), `scan`, `linalg`, `merge`, `sort`, `create`, `npy`.

/// `array op scalar` and `scalar op array` for `+ - * /`, by value and by
/// reference, through the type's `scalar(op, s, scalar_left)`.
macro_rules! scalar_operators {
    ($ty:ty, $out:ty) => {
        scalar_operators!(@one $ty, $out, Add add Add);
        scalar_operators!(@one $ty, $out, Sub sub Sub);
        scalar_operators!(@one $ty, $out, Mul mul Mul);
        scalar_operators!(@one $ty, $out, Div div Div);
    };
    (@one $ty:ty, $out:ty, $trait:ident $method:ident $op:ident) => {
        impl<A: Element + Value> std::ops::$trait<f64> for &$ty {
            type Output = $out;
            fn $method(self, s: f64) -> $out {
                self.scalar(BinOp::$op, s, false)
            }
        }
        impl<A: Element + Value> std::ops::$trait<f64> for $ty {
            type Output = $out;
            fn $method(self, s: f64) -> $out {
                self.scalar(BinOp::$op, s, false)
            }
        }
        impl<A: Element + Value> std::ops::$trait<&$ty> for f64 {
            type Output = $out;
            fn $method(self, a: &$ty) -> $out {
                a.scalar(BinOp::$op, self, true)
            }
        }
        impl<A: Element + Value> std::ops::$trait<$ty> for f64 {
            type Output = $out;
            fn $method(self, a: $ty) -> $out {
                a.scalar(BinOp::$op, self, true)
            }
        }
    };
}
pub(crate) use scalar_operators;

/// `+ - * /` between two arrays of one type, by value and by reference,
/// through the type's `try_binary`.
///
/// # Panics
///
/// The operators panic where `try_binary` returns an error (shapes that do
/// not broadcast, operands on different engines or split differently), as
/// ndarray's operators panic on shapes that do not broadcast. Use
/// `try_binary` to get the error instead.
macro_rules! array_operators {
    ($ty:ty, $out:ty) => {
        array_operators!(@one $ty, $out, Add add Add);
        array_operators!(@one $ty, $out, Sub sub Sub);
        array_operators!(@one $ty, $out, Mul mul Mul);
        array_operators!(@one $ty, $out, Div div Div);
    };
    (@one $ty:ty, $out:ty, $trait:ident $method:ident $op:ident) => {
        impl<A: Element + Value> std::ops::$trait<&$ty> for &$ty {
            type Output = $out;
            fn $method(self, other: &$ty) -> $out {
                match self.try_binary(BinOp::$op, other) {
                    Ok(out) => out,
                    Err(e) => panic!("distob: cannot {} these arrays: {e}", stringify!($method)),
                }
            }
        }
        impl<A: Element + Value> std::ops::$trait<$ty> for $ty {
            type Output = $out;
            fn $method(self, other: $ty) -> $out {
                std::ops::$trait::$method(&self, &other)
            }
        }
        impl<A: Element + Value> std::ops::$trait<&$ty> for $ty {
            type Output = $out;
            fn $method(self, other: &$ty) -> $out {
                std::ops::$trait::$method(&self, other)
            }
        }
        impl<A: Element + Value> std::ops::$trait<$ty> for &$ty {
            type Output = $out;
            fn $method(self, other: $ty) -> $out {
                std::ops::$trait::$method(self, &other)
            }
        }
    };
}
pub(crate) use array_operators;

/// `+= -= *= /=` with a scalar, through the type's `assign_scalar`.
macro_rules! assign_operators {
    ($ty:ty) => {
        assign_operators!(@one $ty, AddAssign add_assign Add);
        assign_operators!(@one $ty, SubAssign sub_assign Sub);
        assign_operators!(@one $ty, MulAssign mul_assign Mul);
        assign_operators!(@one $ty, DivAssign div_assign Div);
    };
    (@one $ty:ty, $trait:ident $method:ident $op:ident) => {
        impl<A: Element + Value> std::ops::$trait<f64> for $ty {
            fn $method(&mut self, s: f64) {
                self.assign_scalar(BinOp::$op, s)
            }
        }
        /// # Panics
        ///
        /// Where `assign_other` returns an error (shapes that do not fit).
        impl<A: Element + Value> std::ops::$trait<&$ty> for $ty {
            fn $method(&mut self, other: &$ty) {
                if let Err(e) = self.assign_other(BinOp::$op, other) {
                    panic!("distob: cannot {} these arrays: {e}", stringify!($method));
                }
            }
        }
    };
}
pub(crate) use assign_operators;

/// The element types arrays hold, each with its [`DType`](crate::value::DType)
/// variant: the one list every per-type table (hosting, casts, creation,
/// files) is generated from. `for_each_dtype!(m)` expands to
/// `m!(f64 F64, f32 F32, …)`.
macro_rules! for_each_dtype {
    ($m:ident) => {
        $m! { f64 F64, f32 F32, i64 I64, i32 I32, u8 U8, bool Bool }
    };
}
pub(crate) use for_each_dtype;

pub(crate) mod axis;
pub(crate) mod blocks;
pub(crate) mod create;
pub(crate) mod dist;
pub(crate) mod engine;
pub(crate) mod files;
pub(crate) mod index;
pub mod kinds;
pub(crate) mod linalg;
pub(crate) mod methods;
pub(crate) mod overlap;
pub mod partition;
pub(crate) mod protocol;
pub(crate) mod remote_array;
pub(crate) mod scan;
pub(crate) mod sort;
pub(crate) mod stack;

pub use create::Random;
pub use dist::DistArray;
pub use engine::create::BlockInfo;
pub use index::{Placed, Sel};
pub use kinds::{BinOp, Cmp, ElemOp, Reduce, Scan, Unary};
pub use linalg::{dot_shape, tdot_shape};
pub use overlap::Boundary;
pub use remote_array::RemoteArray;
pub use stack::{broadcast_arrays, concatenate, dstack, hstack, vstack, Joinable};

/// The shape that two shapes broadcast to, by numpy's rules (aligned at
/// the right; each pair of lengths equal, or one of them 1).
///
/// ```
/// use distob::array::broadcast_shape;
/// assert_eq!(broadcast_shape(&[4, 1, 3], &[5, 1]), Some(vec![4, 5, 3]));
/// assert_eq!(broadcast_shape(&[2, 3], &[4]), None);
/// ```
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        let k = n - i;
        if k <= s.len() {
            s[s.len() - k]
        } else {
            1
        }
    };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Why an array operation was refused on the client (nothing was sent).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// A reduction of an array with no elements where it has no value (min,
    /// max, argmin, argmax, the statistics).
    #[error("{op:?} of an empty array is undefined")]
    Empty {
        /// The reduction.
        op: kinds::Reduce,
    },
    /// A reduction along the distributed axis that cannot be combined from
    /// the engines' partial results.
    #[error("{op:?} along the distributed axis cannot be combined from partials")]
    NotCombinable {
        /// The reduction.
        op: kinds::Reduce,
    },
    /// The axis does not exist.
    #[error("axis {axis} is out of range for an array of {ndim} dimensions")]
    AxisOutOfRange {
        /// The axis asked for.
        axis: isize,
        /// The array's dimensions.
        ndim: usize,
    },
    /// Blocks whose shapes do not fit together along the axis.
    #[error("block of shape {other:?} does not fit blocks of shape {first:?} along axis {axis}")]
    IncompatibleBlocks {
        /// The axis.
        axis: usize,
        /// The first block's shape.
        first: Vec<usize>,
        /// The misfit's shape.
        other: Vec<usize>,
    },
    /// An array whose shape the client does not know.
    #[error("the shape of {0} is not known on this client")]
    UnknownShape(crate::Ref),
    /// Shapes that do not broadcast together.
    #[error("shapes {a:?} and {b:?} do not broadcast")]
    Broadcast {
        /// One shape.
        a: Vec<usize>,
        /// The other.
        b: Vec<usize>,
    },
    /// Distributed arrays whose blocks do not line up.
    #[error("the distributed arrays are split differently (shape, axis or blocks)")]
    LayoutMismatch,
    /// A selection with more or fewer elements than the array has axes.
    #[error("a selection of {given} axes for an array of {ndim}")]
    SelectionLength {
        /// The array's dimensions.
        ndim: usize,
        /// Axes the selection names.
        given: usize,
    },
    /// An index or bound outside its axis.
    #[error("index {index} is out of bounds for axis {axis} of length {len}")]
    IndexOutOfBounds {
        /// The axis.
        axis: usize,
        /// The index.
        index: isize,
        /// The axis length.
        len: usize,
    },
    /// A slice step of zero.
    #[error("slice step of zero on axis {axis}")]
    ZeroStep {
        /// The axis.
        axis: usize,
    },
    /// `reduce_axis` along the distributed axis (the `*_axis` methods take
    /// any axis).
    #[error("axis {axis} is the distributed axis: use sum_axis, mean_axis and the others, which merge the partials")]
    AlongDistributedAxis {
        /// The axis.
        axis: usize,
    },
    /// A split whose pieces cannot be equal.
    #[error("an axis of length {len} does not split into {parts} equal parts")]
    UnevenSplit {
        /// The axis length.
        len: usize,
        /// The parts asked for.
        parts: usize,
    },
    /// A reshape to a shape of another size (or, distributed, one that moves
    /// the distributed axis).
    #[error("cannot reshape {from:?} into {to:?}")]
    Reshape {
        /// The shape.
        from: Vec<usize>,
        /// The shape asked for.
        to: Vec<usize>,
    },
    /// Operands of a product whose shapes do not align (numpy's `dot` of
    /// 1-D and 2-D operands).
    #[error("shapes {a:?} and {b:?} are not aligned for a product")]
    NotAligned {
        /// The left operand's shape.
        a: Vec<usize>,
        /// The right operand's shape.
        b: Vec<usize>,
    },
    /// A stencil whose halo is deeper than a block.
    #[error("a halo of depth {depth} is deeper than a block of {block} rows")]
    DepthTooLarge {
        /// The halo's depth.
        depth: usize,
        /// The shortest block's length along the distributed axis.
        block: usize,
    },
    /// A percentile outside `[0, 100]`.
    #[error("percentile {0} is not within [0, 100]")]
    Percentile(f64),
    /// No blocks at all.
    #[error("a distributed array needs at least one block")]
    NoBlocks,
    /// ndarray refused to put the gathered blocks together.
    #[error("the gathered blocks do not fit together")]
    Ndarray(#[from] ndarray::ShapeError),
}
