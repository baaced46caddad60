//! Reductions along any axis, on either kind: a `RemoteArray` reduces on
//! its engine; a `DistArray` reduces each block, and along the distributed
//! axis combines the blocks' partials engine to engine (a tree, never
//! through the client) into one `RemoteArray`.

use super::dist::tree::{merge_tree, on_node};
use super::dist::DistArray;
use super::index::Placed;
use super::kinds::{BinOp, Reduce};
use super::methods::for_each_axis_reduction;
use super::partition::resolve_axis;
use super::protocol::ArrayOp;
use super::remote_array::RemoteArray;
use super::ShapeError;
use crate::error::Result;
use crate::value::{Element, Value};

macro_rules! remote_axis_methods {
    ($($name:ident $op:ident [$t:ty] $how:ident $doc:literal;)*) => {$(
        #[doc = concat!($doc, " along `axis` (negative counts from the end), kept on the engine.")]
        pub fn $name(&self, axis: isize) -> Result<RemoteArray<$t>> {
            self.reduce_axis::<$t>(Reduce::$op, axis, false)
        }
    )*};
}

macro_rules! dist_axis_methods {
    ($($name:ident $op:ident [$t:ty] $how:ident $doc:literal;)*) => {$(
        #[doc = concat!(
            $doc, " along `axis` (negative counts from the end), its handle at once: ",
            "still distributed along another axis, else one array on one engine, ",
            "combined from the blocks' partials engine to engine."
        )]
        pub fn $name(&self, axis: isize) -> Result<Placed<$t>> {
            self.$how(Reduce::$op, axis)
        }
    )*};
}

impl<A: Element + Value> RemoteArray<A> {
    for_each_axis_reduction!(remote_axis_methods);
}

impl<A: Element + Value> DistArray<A> {
    for_each_axis_reduction!(dist_axis_methods);

    /// The axis, resolved; `None` when it is the distributed one.
    fn other_axis(&self, axis: isize) -> Result<Option<usize>> {
        let ndim = self.ndim();
        let k = resolve_axis(axis, ndim).ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
        Ok((k != self.axis()).then_some(k))
    }

    /// Along an empty distributed axis: its one block reduced on its engine
    /// (zeros, ones, NaN, false or true, as numpy gives; an error for the
    /// extremes).
    fn empty_axis<B: Element + Value>(&self, op: Reduce) -> Result<Option<Placed<B>>> {
        if self.shape()[self.axis()] > 0 {
            return Ok(None);
        }
        let first = self
            .blocks()
            .into_iter()
            .next()
            .ok_or(ShapeError::NoBlocks)?;
        Ok(Some(Placed::Remote(first.reduce_axis::<B>(
            op,
            self.axis() as isize,
            false,
        )?)))
    }

    /// The blocks with elements, and their lengths along the axis.
    fn filled(&self, op: Reduce) -> Result<Vec<(RemoteArray<A>, usize)>> {
        let k = self.axis();
        let filled: Vec<_> = self
            .blocks()
            .into_iter()
            .map(|b| {
                let n = b.shape().get(k).copied().unwrap_or(0);
                (b, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if filled.is_empty() {
            return Err(ShapeError::Empty { op }.into());
        }
        Ok(filled)
    }

    /// Σ, Π, min, max: partials of the element type, merged.
    fn along_same(&self, op: Reduce, axis: isize) -> Result<Placed<A>> {
        if self.other_axis(axis)?.is_some() {
            return Ok(Placed::Dist(self.reduce_axis::<A>(op, axis, false)?));
        }
        self.merged::<A>(op)
    }

    /// Any, all: `bool` partials, merged.
    fn along_logic(&self, op: Reduce, axis: isize) -> Result<Placed<bool>> {
        if self.other_axis(axis)?.is_some() {
            return Ok(Placed::Dist(self.reduce_axis::<bool>(op, axis, false)?));
        }
        self.merged::<bool>(op)
    }

    fn merged<B: Element + Value>(&self, op: Reduce) -> Result<Placed<B>> {
        if let Some(empty) = self.empty_axis::<B>(op)? {
            return Ok(empty);
        }
        let k = self.axis() as isize;
        let parts = self
            .filled(op)?
            .iter()
            .map(|(b, _)| b.reduce_axis::<B>(op, k, false))
            .collect::<Result<Vec<_>>>()?;
        Ok(Placed::Remote(merge_tree(parts, op)?))
    }

    /// Mean, variance, standard deviation: the blocks' means weighted by
    /// their lengths give the mean; each block's variance plus its mean's
    /// squared distance from that mean, weighted, gives the variance
    /// (Chan's parallel formula, two passes over no data but the partials).
    fn along_stat(&self, op: Reduce, axis: isize) -> Result<Placed<f64>> {
        if self.other_axis(axis)?.is_some() {
            return Ok(Placed::Dist(self.reduce_axis::<f64>(op, axis, false)?));
        }
        if let Some(empty) = self.empty_axis::<f64>(op)? {
            return Ok(empty);
        }
        let k = self.axis() as isize;
        let total = self.shape()[self.axis()] as f64;
        let blocks = self.filled(op)?;
        let means = blocks
            .iter()
            .map(|(b, n)| {
                Ok((
                    b.reduce_axis::<f64>(Reduce::Mean, k, false)?,
                    *n as f64 / total,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let weighted = means
            .iter()
            .map(|(m, w)| m.scalar(BinOp::Mul, *w, false))
            .collect();
        let mean = merge_tree(weighted, Reduce::Sum)?;
        if op == Reduce::Mean {
            return Ok(Placed::Remote(mean));
        }
        let terms = blocks
            .iter()
            .zip(&means)
            .map(|((b, _), (m, w))| {
                let var = b.reduce_axis::<f64>(Reduce::Var, k, false)?;
                let apart = m.try_binary(BinOp::Sub, &on_node(&mean, b.node())?)?;
                Ok(apart
                    .powi(2)
                    .try_binary(BinOp::Add, &var)?
                    .scalar(BinOp::Mul, *w, false))
            })
            .collect::<Result<Vec<_>>>()?;
        let var = merge_tree(terms, Reduce::Sum)?;
        Ok(Placed::Remote(if op == Reduce::Std {
            var.sqrt()
        } else {
            var
        }))
    }

    /// Argmin, argmax: the extreme along the axis (merged engine to
    /// engine), then on every block where it first occurs, merged by the
    /// smallest index.
    fn along_index(&self, op: Reduce, axis: isize) -> Result<Placed<i64>> {
        if self.other_axis(axis)?.is_some() {
            return Ok(Placed::Dist(self.reduce_axis::<i64>(op, axis, false)?));
        }
        let extreme_op = if op == Reduce::ArgMin {
            Reduce::Min
        } else {
            Reduce::Max
        };
        let k = self.axis();
        let mut lanes = self.shape().to_vec();
        lanes.remove(k);
        let blocks = self.filled(op)?;
        let extremes = blocks
            .iter()
            .map(|(b, _)| b.reduce_axis::<A>(extreme_op, k as isize, false))
            .collect::<Result<Vec<_>>>()?;
        let extreme = merge_tree(extremes, extreme_op)?;
        let starts = self.boundaries();
        let lens = self.block_lens();
        let mut found = Vec::with_capacity(blocks.len());
        let mut next = blocks.iter();
        for (i, len) in lens.iter().enumerate() {
            if *len == 0 {
                continue;
            }
            let Some((b, _)) = next.next() else { break };
            let here = on_node(&extreme, b.node())?;
            let at: RemoteArray<i64> = b.run_op_with(
                ArrayOp::FirstMatch {
                    axis: k,
                    offset: starts[i] as i64,
                },
                &here,
                lanes.clone(),
            );
            found.push(at);
        }
        Ok(Placed::Remote(merge_tree(found, Reduce::Min)?))
    }
}
