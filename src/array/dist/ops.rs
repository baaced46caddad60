//! Elementwise operations of distributed arrays with other operands —
//! remote arrays (broadcast, engine to engine) and local arrays (sent in
//! slices to the blocks' engines) — and their operators.

use crate::array::dist::DistArray;
use crate::array::kinds::BinOp;
use crate::array::remote_array::RemoteArray;
use crate::array::ShapeError;
use crate::error::Result;
use crate::value::{Element, Value};
use ndarray::{ArrayD, Axis, Slice};

impl<A: Element + Value> DistArray<A> {
    /// `self op other` with one remote array, broadcast as numpy does: each
    /// block meets the part of `other` it needs, copied to the block's
    /// engine engine to engine (the whole of `other` when it does not run
    /// along the distributed axis, else its matching slice).
    pub fn try_binary_remote(&self, op: BinOp, other: &RemoteArray<A>) -> Result<DistArray<A>> {
        self.with_remote(op, other, false)
    }

    /// `other op self` with one remote array on the left (see
    /// [`try_binary_remote`](DistArray::try_binary_remote)).
    pub fn try_binary_remote_left(
        &self,
        op: BinOp,
        other: &RemoteArray<A>,
    ) -> Result<DistArray<A>> {
        self.with_remote(op, other, true)
    }

    fn with_remote(&self, op: BinOp, other: &RemoteArray<A>, left: bool) -> Result<DistArray<A>> {
        let oshape = other.known_shape()?;
        let shape =
            crate::array::broadcast_shape(&self.shape, &oshape).ok_or(ShapeError::Broadcast {
                a: self.shape.clone(),
                b: oshape.clone(),
            })?;
        // The result's distributed axis, and the operand's axis facing it.
        let offset = shape.len() - self.shape.len();
        let axis = self.axis + offset;
        let facing = (axis + oshape.len()).checked_sub(shape.len());
        let bounds = self.boundaries();
        let me = self.materialize();
        let blocks = me
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let part = match facing {
                    Some(k) if oshape[k] > 1 => {
                        let mut info = vec![
                            ndarray::SliceInfoElem::Slice {
                                start: 0,
                                end: None,
                                step: 1
                            };
                            oshape.len()
                        ];
                        info[k] = ndarray::SliceInfoElem::Slice {
                            start: bounds[i] as isize,
                            end: Some(bounds[i + 1] as isize),
                            step: 1,
                        };
                        other.slice(info)?
                    }
                    _ => other.clone(),
                };
                let part = if part.node() == b.node() {
                    part
                } else {
                    part.copy_to(b.node())?
                };
                if left {
                    part.try_binary(op, b)
                } else {
                    b.try_binary(op, &part)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DistArray {
            blocks,
            axis,
            shape,
            chain: Vec::new(),
        })
    }

    /// `self op local` with a local array of the same shape: the local
    /// array is cut to this array's blocks and each slice sent to its
    /// block's engine, where the work runs.
    pub fn try_binary_local(&self, op: BinOp, local: &ArrayD<A>) -> Result<DistArray<A>> {
        if local.shape() != self.shape.as_slice() {
            return Err(ShapeError::Broadcast {
                a: self.shape.clone(),
                b: local.shape().to_vec(),
            }
            .into());
        }
        let me = self.materialize();
        let bounds = self.boundaries();
        let blocks = me
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let part = local
                    .slice_axis(Axis(self.axis), Slice::from(bounds[i]..bounds[i + 1]))
                    .as_standard_layout()
                    .into_owned();
                b.try_binary_local(op, &part)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.with_blocks(blocks))
    }
}

macro_rules! remote_operand_operators {
    ($($trait:ident $method:ident $op:ident),*) => {$(
        /// # Panics
        ///
        /// Where [`DistArray::try_binary_remote`] returns an error.
        impl<A: Element + Value> std::ops::$trait<&RemoteArray<A>> for &DistArray<A> {
            type Output = DistArray<A>;
            fn $method(self, other: &RemoteArray<A>) -> DistArray<A> {
                match self.try_binary_remote(BinOp::$op, other) {
                    Ok(out) => out,
                    Err(e) => panic!("distob: cannot {} these arrays: {e}", stringify!($method)),
                }
            }
        }
    )*};
}

remote_operand_operators!(Add add Add, Sub sub Sub, Mul mul Mul, Div div Div);

macro_rules! remote_left_operators {
    ($($trait:ident $method:ident $op:ident),*) => {$(
        /// # Panics
        ///
        /// Where [`DistArray::try_binary_remote_left`] returns an error.
        impl<A: Element + Value> std::ops::$trait<&DistArray<A>> for &RemoteArray<A> {
            type Output = DistArray<A>;
            fn $method(self, other: &DistArray<A>) -> DistArray<A> {
                match other.try_binary_remote_left(BinOp::$op, self) {
                    Ok(out) => out,
                    Err(e) => panic!("distob: cannot {} these arrays: {e}", stringify!($method)),
                }
            }
        }
    )*};
}

remote_left_operators!(Add add Add, Sub sub Sub, Mul mul Mul, Div div Div);
crate::array::array_operators!(DistArray<A>, DistArray<A>);
