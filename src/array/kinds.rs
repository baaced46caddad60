//! The operations arrays support, as the wire names them.

use serde::{Deserialize, Serialize};

/// An elementwise function of one array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Unary {
    /// `-x`
    Neg,
    /// `|x|`
    Abs,
    /// `√x` (floats)
    Sqrt,
    /// `eˣ` (floats)
    Exp,
    /// `ln x` (floats)
    Ln,
    /// `sin x` (floats)
    Sin,
    /// `cos x` (floats)
    Cos,
    /// `tan x` (floats)
    Tan,
    /// `tanh x` (floats)
    Tanh,
    /// `⌊x⌋` (floats)
    Floor,
    /// `⌈x⌉` (floats)
    Ceil,
}

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// A reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Reduce {
    /// Σ
    Sum,
    /// Π
    Prod,
    /// smallest
    Min,
    /// largest
    Max,
    /// arithmetic mean (as `f64`)
    Mean,
    /// population variance (as `f64`)
    Var,
    /// population standard deviation (as `f64`)
    Std,
}

impl Reduce {
    /// Whether the result is `f64` whatever the element type.
    pub fn is_statistic(self) -> bool {
        matches!(self, Reduce::Mean | Reduce::Var | Reduce::Std)
    }
}

/// One step of a fused elementwise chain.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ElemOp {
    /// An elementwise function.
    Unary(Unary),
    /// `x op s`, or `s op x` when the flag is set.
    Scalar(BinOp, f64, bool),
}
