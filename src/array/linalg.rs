//! Products by numpy's rules for 1-D and 2-D operands, placed by the
//! split: rows of `X` split → `X·w` stays split by rows (only `w` moves,
//! once per engine); a contraction over the distributed axis (`X·w` with
//! `X` split by columns, `Xᵀ·X`, `Xᵀ·y`) gives per-block partials summed
//! engine to engine in a tree.

use super::dist::tree::{merge_tree, on_node};
use super::dist::DistArray;
use super::index::Placed;
use super::kinds::Reduce;
use super::protocol::ArrayOp;
use super::remote_array::RemoteArray;
use super::ShapeError;
use crate::error::Result;
use crate::id::NodeId;
use crate::value::{Element, Value};
use ndarray::{ArrayD, Axis, Slice, SliceInfoElem};
use std::collections::HashMap;

/// The shape of `a·b` (numpy's `dot` of 1-D and 2-D operands).
pub fn dot_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ShapeError> {
    let bad = || ShapeError::NotAligned {
        a: a.to_vec(),
        b: b.to_vec(),
    };
    match (a, b) {
        ([n, m], [m2, q]) if m == m2 => Ok(vec![*n, *q]),
        ([n, m], [m2]) if m == m2 => Ok(vec![*n]),
        ([m], [m2, q]) if m == m2 => Ok(vec![*q]),
        ([m], [m2]) if m == m2 => Ok(vec![]),
        _ => Err(bad()),
    }
}

/// The shape of `aᵀ·b` (a contraction over the first axis of both).
pub fn tdot_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ShapeError> {
    let mut at = a.to_vec();
    at.reverse();
    dot_shape(&at, b)
}

impl<A: Element + Value> RemoteArray<A> {
    /// `self·other` (numpy's `dot` for 1-D and 2-D operands), on this
    /// array's engine (`other` copied there engine to engine if it lives
    /// elsewhere). Shapes that do not align are a [`ShapeError`] at once.
    pub fn dot(&self, other: &RemoteArray<A>) -> Result<RemoteArray<A>> {
        let shape = dot_shape(&self.known_shape()?, &other.known_shape()?)?;
        let other = on_node(other, self.node())?;
        Ok(self.run_op_with(ArrayOp::Dot, &other, shape))
    }

    /// `self·w` with a local array `w` (sent to this array's engine).
    pub fn dot_local(&self, w: &ArrayD<A>) -> Result<RemoteArray<A>> {
        dot_shape(&self.known_shape()?, w.shape())?;
        let (theirs, sent) = self.hub().put(self.node(), w.clone())?;
        drop(sent);
        self.dot(&theirs)
    }

    /// `selfᵀ·other`, without forming the transpose.
    pub fn t_dot(&self, other: &RemoteArray<A>) -> Result<RemoteArray<A>> {
        let shape = tdot_shape(&self.known_shape()?, &other.known_shape()?)?;
        if other.id() == self.id() {
            return Ok(self.run_op(ArrayOp::Gram, shape));
        }
        let other = on_node(other, self.node())?;
        Ok(self.run_op_with(ArrayOp::TDot, &other, shape))
    }

    /// Rows `range` (along axis 0), on the engine.
    fn rows(&self, range: std::ops::Range<usize>) -> Result<RemoteArray<A>> {
        let mut sel = vec![SliceInfoElem::from(Slice::from(range)); 1];
        sel.extend((1..self.ndim()).map(|_| SliceInfoElem::from(Slice::from(..))));
        self.slice(sel)
    }
}

impl<A: Element + Value> DistArray<A> {
    /// Whether the distributed axis is the one `self·w` contracts (the last).
    fn contracts(&self) -> bool {
        self.axis() + 1 == self.ndim()
    }

    /// `self·w` with a local `w` (numpy's `dot`): rows split → the result
    /// stays split by rows and `w` is sent once per engine; split along the
    /// contracted axis → each engine gets its rows of `w`, and the partial
    /// products are summed engine to engine into one array.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// use distob::array::Placed;
    /// use ndarray::array;
    /// let cluster = distob::Cluster::local(2).await?;
    /// let x2 = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
    /// let x = x2.clone().into_dyn();
    /// let d = cluster.scatter_axis(x.clone(), 0).await?;
    /// let w = array![1.0, -1.0].into_dyn();
    /// let Placed::Dist(y) = d.dot_local(&w)? else { unreachable!() };
    /// assert_eq!(cluster.gather(&y).await?, array![-1.0, -1.0, -1.0].into_dyn());
    /// let gram = d.t_dot(&d)?.fetch().await?;                 // Xᵀ·X
    /// assert_eq!(gram, x2.t().dot(&x2).into_dyn());
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn dot_local(&self, w: &ArrayD<A>) -> Result<Placed<A>> {
        let shape = dot_shape(self.shape(), w.shape())?;
        let hub = self.hub_of()?;
        self.dot_with(shape, |node, rows| {
            let part = match rows {
                Some(r) => w.slice_axis(Axis(0), Slice::from(r)).to_owned(),
                None => w.clone(),
            };
            let (theirs, sent) = hub.put(node, part)?;
            drop(sent);
            Ok(theirs)
        })
    }

    /// `self·w` with `w` on an engine: as [`dot_local`](Self::dot_local),
    /// `w` (or each block's rows of it) copied engine to engine.
    pub fn dot_remote(&self, w: &RemoteArray<A>) -> Result<Placed<A>> {
        let shape = dot_shape(self.shape(), &w.known_shape()?)?;
        self.dot_with(shape, |node, rows| match rows {
            Some(r) => on_node(&w.rows(r)?, node),
            None => on_node(w, node),
        })
    }

    /// `self·w`, with `operand(node, rows)` putting `w` (or its rows `rows`,
    /// for a contraction over the distributed axis) on `node`: once per
    /// engine for the whole of `w`.
    fn dot_with(
        &self,
        shape: Vec<usize>,
        operand: impl Fn(NodeId, Option<std::ops::Range<usize>>) -> Result<RemoteArray<A>>,
    ) -> Result<Placed<A>> {
        let blocks = self.blocks();
        if self.contracts() {
            let parts = blocks
                .iter()
                .zip(self.ranges())
                .map(|(b, r)| b.dot(&operand(b.node(), Some(r))?))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Placed::Remote(merge_tree(parts, Reduce::Sum)?));
        }
        let mut placed: HashMap<NodeId, RemoteArray<A>> = HashMap::new();
        let out = blocks
            .iter()
            .map(|b| {
                let w = match placed.get(&b.node()) {
                    Some(w) => w.clone(),
                    None => {
                        let w = operand(b.node(), None)?;
                        placed.insert(b.node(), w.clone());
                        w
                    }
                };
                b.dot(&w)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Placed::Dist(DistArray::assemble(out, 0, shape, Vec::new())))
    }

    /// `self·other` between distributed arrays: `self` split along the
    /// contracted axis meets `other` split along its first axis the same
    /// way (re-split to match, engine to engine, if it is not) and the
    /// partials are summed engine to engine; `self` split by rows meets
    /// `other` gathered onto one engine (engine to engine).
    pub fn dot(&self, other: &DistArray<A>) -> Result<Placed<A>> {
        dot_shape(self.shape(), other.shape())?;
        if !self.contracts() {
            let node = other.engines().first().copied().unwrap_or(NodeId(0));
            let whole = other.relayout(other.axis(), &[(0..other.shape()[other.axis()], node)])?;
            let one = whole
                .blocks()
                .first()
                .cloned()
                .ok_or(ShapeError::NoBlocks)?;
            return self.dot_remote(&one);
        }
        let other = self.aligned(other)?;
        let parts = self
            .blocks()
            .iter()
            .zip(other.blocks())
            .map(|(a, b)| a.dot(&b))
            .collect::<Result<Vec<_>>>()?;
        Ok(Placed::Remote(merge_tree(parts, Reduce::Sum)?))
    }

    /// `self·other`: the same as [`dot`](Self::dot) for the 1-D and 2-D
    /// operands distob multiplies (numpy's `matmul` and `dot` agree there).
    pub fn matmul(&self, other: &DistArray<A>) -> Result<Placed<A>> {
        self.dot(other)
    }

    /// `selfᵀ·other` for arrays split along their first axis (`Xᵀ·X`,
    /// `Xᵀ·y`), without forming the transpose: each engine multiplies its
    /// blocks, and the partials are summed engine to engine into one array.
    pub fn t_dot(&self, other: &DistArray<A>) -> Result<RemoteArray<A>> {
        tdot_shape(self.shape(), other.shape())?;
        if self.axis() != 0 {
            return Err(ShapeError::NotAligned {
                a: self.shape().to_vec(),
                b: other.shape().to_vec(),
            }
            .into());
        }
        let other = self.aligned(other)?;
        let parts = self
            .blocks()
            .iter()
            .zip(other.blocks())
            .map(|(a, b)| a.t_dot(&b))
            .collect::<Result<Vec<_>>>()?;
        merge_tree(parts, Reduce::Sum)
    }

    /// `other` split along its first axis as this array is along its
    /// distributed one (re-split engine to engine if it is not).
    fn aligned(&self, other: &DistArray<A>) -> Result<DistArray<A>> {
        let same = other.axis() == 0
            && other.block_lens() == self.block_lens()
            && other.engines() == self.engines();
        if same {
            Ok(other.clone())
        } else {
            other.relayout(0, &self.layout())
        }
    }

    /// Each block's range along the distributed axis.
    pub(super) fn ranges(&self) -> Vec<std::ops::Range<usize>> {
        self.boundaries().windows(2).map(|w| w[0]..w[1]).collect()
    }

    fn hub_of(&self) -> Result<crate::ObjectHub> {
        Ok(self
            .parts()
            .0
            .first()
            .ok_or(ShapeError::NoBlocks)?
            .hub()
            .clone())
    }
}
