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
    /// whether any element is true (or nonzero), as `bool`
    Any,
    /// whether every element is true (or nonzero), as `bool`
    All,
    /// flat index of the first smallest element, as `u64`
    ArgMin,
    /// flat index of the first largest element, as `u64`
    ArgMax,
}

impl Reduce {
    /// Whether the result is `f64` whatever the element type.
    pub fn is_statistic(self) -> bool {
        matches!(self, Reduce::Mean | Reduce::Var | Reduce::Std)
    }

    /// The result's element type, given the array's.
    pub fn result_dtype(self, of: crate::value::DType) -> crate::value::DType {
        match self {
            Reduce::Mean | Reduce::Var | Reduce::Std => crate::value::DType::F64,
            Reduce::Any | Reduce::All => crate::value::DType::Bool,
            Reduce::ArgMin | Reduce::ArgMax => crate::value::DType::I64,
            _ => of,
        }
    }
}

/// One step of a fused elementwise chain.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ElemOp {
    /// An elementwise function.
    Unary(Unary),
    /// `x op s`, or `s op x` when the flag is set.
    Scalar(BinOp, f64, bool),
    /// `x` limited to `[lo, hi]` (NaN stays NaN).
    Clip(f64, f64),
    /// `xⁿ` for an integer `n` (floats; integers for `n ≥ 0`).
    Powi(i32),
    /// `xʸ` for a float `y` (floats).
    Powf(f64),
}

/// An elementwise comparison, giving a `bool` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Cmp {
    /// Applies the comparison.
    pub fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Gt => a > b,
            Cmp::Lt => a < b,
            Cmp::Ge => a >= b,
            Cmp::Le => a <= b,
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
        }
    }
}

/// A cumulative operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scan {
    /// Running sum (numpy's `cumsum`).
    Sum,
    /// Running product (numpy's `cumprod`).
    Prod,
}
