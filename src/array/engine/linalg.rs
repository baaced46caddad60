//! Products of blocks, by numpy's rules for 1-D and 2-D operands: `a·b`,
//! `aᵀ·b` (a contraction over the first axis of both, the partial of a
//! product over a distributed axis) and `aᵀ·a`.

use super::Num;
use crate::net::wire::Fault;
use ndarray::{Array0, ArrayD, ArrayView1, ArrayView2, ArrayViewD, Ix1, Ix2};

enum Operand<'a, A> {
    Vector(ArrayView1<'a, A>),
    Matrix(ArrayView2<'a, A>),
}

fn operand<'a, A: Num>(a: ArrayViewD<'a, A>) -> Result<Operand<'a, A>, Fault> {
    match a.ndim() {
        1 => Ok(Operand::Vector(
            a.into_dimensionality::<Ix1>().map_err(bad)?,
        )),
        2 => Ok(Operand::Matrix(
            a.into_dimensionality::<Ix2>().map_err(bad)?,
        )),
        n => Err(Fault::Refused(format!(
            "dot takes 1-D and 2-D operands, not {n}-D"
        ))),
    }
}

fn bad(e: ndarray::ShapeError) -> Fault {
    Fault::Refused(e.to_string())
}

fn mismatch(a: &[usize], b: &[usize]) -> Fault {
    Fault::Refused(format!("shapes {a:?} and {b:?} are not aligned"))
}

/// `a·b` (numpy's `dot` for 1-D and 2-D operands).
pub(crate) fn dot<A: Num>(a: ArrayViewD<'_, A>, b: ArrayViewD<'_, A>) -> Result<ArrayD<A>, Fault> {
    let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
    let inner_a = *sa.last().unwrap_or(&0);
    let inner_b = if sb.len() == 2 {
        sb[0]
    } else {
        *sb.first().unwrap_or(&0)
    };
    if inner_a != inner_b {
        return Err(mismatch(&sa, &sb));
    }
    Ok(match (operand(a)?, operand(b)?) {
        (Operand::Matrix(x), Operand::Matrix(y)) => x.dot(&y).into_dyn(),
        (Operand::Matrix(x), Operand::Vector(y)) => x.dot(&y).into_dyn(),
        (Operand::Vector(x), Operand::Matrix(y)) => x.dot(&y).into_dyn(),
        (Operand::Vector(x), Operand::Vector(y)) => Array0::from_elem((), x.dot(&y)).into_dyn(),
    })
}

/// `aᵀ·b`: the contraction over the first axis of both.
pub(crate) fn tdot<A: Num>(a: ArrayViewD<'_, A>, b: ArrayViewD<'_, A>) -> Result<ArrayD<A>, Fault> {
    let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
    if sa.first() != sb.first() {
        return Err(mismatch(&sa, &sb));
    }
    Ok(match (operand(a)?, operand(b)?) {
        (Operand::Matrix(x), Operand::Matrix(y)) => x.t().dot(&y).into_dyn(),
        (Operand::Matrix(x), Operand::Vector(y)) => x.t().dot(&y).into_dyn(),
        (Operand::Vector(x), Operand::Matrix(y)) => x.dot(&y).into_dyn(),
        (Operand::Vector(x), Operand::Vector(y)) => Array0::from_elem((), x.dot(&y)).into_dyn(),
    })
}

/// `aᵀ·a`.
pub(crate) fn gram<A: Num>(a: ArrayViewD<'_, A>) -> Result<ArrayD<A>, Fault> {
    tdot(a.clone(), a)
}
