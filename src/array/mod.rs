//! Arrays on engines: [`RemoteArray`] (one `ndarray` array on one engine)
//! and [`DistArray`] (one array split along an axis over many engines).
//!
//! Operations return the result's handle at once: the client names the
//! result and the work is queued where the operands live, so a chain of
//! operations costs no round trip per step. Shapes are known on the client,
//! so a shape error is immediate; a failure on an engine surfaces when the
//! result is awaited or gathered.
//!
//! - `partition`: pure block math along an axis.
//! - `kinds`: the operations, as the wire names them.
//! - `remote_array`: one array on one engine.
//! - `dist_array`: one array over many engines.
//! - `kernels`: what engines run on their blocks.

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

pub(crate) mod dist_array;
pub(crate) mod kernels;
pub mod kinds;
pub mod partition;
pub(crate) mod remote_array;

pub use dist_array::DistArray;
pub use kinds::{BinOp, Reduce, Unary};
pub use remote_array::RemoteArray;

/// Why an array operation was refused on the client (nothing was sent).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
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
    /// No blocks at all.
    #[error("a distributed array needs at least one block")]
    NoBlocks,
    /// ndarray refused to put the gathered blocks together.
    #[error("the gathered blocks do not fit together")]
    Ndarray(#[from] ndarray::ShapeError),
}
