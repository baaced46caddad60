//! Structure: transposes, new and squeezed axes, and joining arrays —
//! `concatenate`, `vstack`, `hstack`, `dstack`. Joining along the
//! distributed axis only joins block lists: no data moves.

use super::dist::DistArray;
use super::index::{Placed, Sel};
use super::partition::resolve_axis;
use super::protocol::ArrayOp;
use super::remote_array::RemoteArray;
use super::ShapeError;
use crate::error::{Error, Result};
use crate::value::{Element, Value};
use ndarray::SliceInfoElem;

fn full() -> SliceInfoElem {
    SliceInfoElem::Slice {
        start: 0,
        end: None,
        step: 1,
    }
}

/// Checks a permutation of `ndim` axes.
fn check_perm(axes: &[usize], ndim: usize) -> Result<(), ShapeError> {
    let mut seen = vec![false; ndim];
    for &a in axes {
        if a >= ndim || std::mem::replace(&mut seen[a], true) {
            return Err(ShapeError::AxisOutOfRange {
                axis: a as isize,
                ndim,
            });
        }
    }
    if axes.len() != ndim {
        return Err(ShapeError::SelectionLength {
            ndim,
            given: axes.len(),
        });
    }
    Ok(())
}

/// Where a new axis goes: `0..=ndim`, negative counting from the end of
/// the result (numpy's `expand_dims`).
fn new_axis_position(axis: isize, ndim: usize) -> Result<usize, ShapeError> {
    resolve_axis(axis, ndim + 1).ok_or(ShapeError::AxisOutOfRange {
        axis,
        ndim: ndim + 1,
    })
}

/// The axis order `0..ndim` with `a` and `b` swapped.
fn swapped_axes(ndim: usize, a: usize, b: usize) -> Result<Vec<usize>, ShapeError> {
    if a >= ndim || b >= ndim {
        return Err(ShapeError::AxisOutOfRange {
            axis: a.max(b) as isize,
            ndim,
        });
    }
    let mut axes: Vec<usize> = (0..ndim).collect();
    axes.swap(a, b);
    Ok(axes)
}

impl<A: Element + Value> crate::proxy::Remote<ndarray::ArrayD<A>> {
    /// The array with its axes reordered (`axes[i]` is the old axis that
    /// becomes axis `i`), computed on the engine.
    pub fn permuted_axes(&self, axes: &[usize]) -> Result<RemoteArray<A>> {
        let shape = self.known_shape()?;
        check_perm(axes, shape.len())?;
        let out: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
        Ok(self.run_op(
            ArrayOp::Transpose {
                axes: axes.to_vec(),
            },
            out,
        ))
    }

    /// The transpose (axes reversed).
    pub fn t(&self) -> RemoteArray<A> {
        let axes: Vec<usize> = (0..self.ndim()).rev().collect();
        let out: Vec<usize> = axes.iter().map(|&a| self.shape()[a]).collect();
        self.run_op(ArrayOp::Transpose { axes }, out)
    }

    /// Axes `a` and `b` swapped.
    pub fn swap_axes(&self, a: usize, b: usize) -> Result<RemoteArray<A>> {
        self.permuted_axes(&swapped_axes(self.ndim(), a, b)?)
    }

    /// A new axis of length 1 at `axis` (negative counts from the end of
    /// the result).
    pub fn expand_dims(&self, axis: isize) -> Result<RemoteArray<A>> {
        let ndim = self.ndim();
        let at = new_axis_position(axis, ndim)?;
        let mut info = vec![full(); ndim];
        info.insert(at, SliceInfoElem::NewAxis);
        self.slice(info)
    }

    /// Every axis of length 1 removed.
    pub fn squeeze(&self) -> RemoteArray<A> {
        let info: Vec<SliceInfoElem> = self
            .shape()
            .iter()
            .map(|&n| {
                if n == 1 {
                    SliceInfoElem::Index(0)
                } else {
                    full()
                }
            })
            .collect();
        let out: Vec<usize> = self.shape().iter().copied().filter(|&n| n != 1).collect();
        let sels: Vec<Sel> = info.into_iter().map(Into::into).collect();
        self.run_op(ArrayOp::Slice { sels }, out)
    }
}

impl<A: Element + Value> DistArray<A> {
    /// Every axis of length 1 removed, block by block (the distributed axis
    /// stays, whatever its length).
    pub fn squeeze(&self) -> Result<DistArray<A>> {
        let keep: Vec<bool> = self
            .shape
            .iter()
            .enumerate()
            .map(|(i, &n)| n != 1 || i == self.axis)
            .collect();
        let info: Vec<ndarray::SliceInfoElem> = keep
            .iter()
            .map(|&k| {
                if k {
                    ndarray::SliceInfoElem::Slice {
                        start: 0,
                        end: None,
                        step: 1,
                    }
                } else {
                    ndarray::SliceInfoElem::Index(0)
                }
            })
            .collect();
        let blocks = self
            .blocks
            .iter()
            .map(|b| b.slice(&info))
            .collect::<Result<Vec<_>>>()?;
        let axis = keep[..self.axis].iter().filter(|&&k| k).count();
        let shape = self
            .shape
            .iter()
            .zip(&keep)
            .filter(|(_, &k)| k)
            .map(|(&n, _)| n)
            .collect();
        Ok(DistArray {
            blocks,
            axis,
            shape,
            chain: self.chain.clone(),
        })
    }

    /// The array with its axes reordered, block by block; the distributed
    /// axis moves with them (pending elementwise steps carry over).
    pub fn permuted_axes(&self, axes: &[usize]) -> Result<DistArray<A>> {
        check_perm(axes, self.ndim())?;
        let (blocks, chain) = self.parts();
        let blocks = blocks
            .iter()
            .map(|b| b.permuted_axes(axes))
            .collect::<Result<Vec<_>>>()?;
        let axis = axes.iter().position(|&a| a == self.axis()).unwrap_or(0);
        let shape = axes.iter().map(|&a| self.shape()[a]).collect();
        Ok(DistArray::assemble(blocks, axis, shape, chain.to_vec()))
    }

    /// The transpose (axes reversed).
    pub fn t(&self) -> DistArray<A> {
        let axes: Vec<usize> = (0..self.ndim()).rev().collect();
        let (blocks, chain) = self.parts();
        let blocks = blocks.iter().map(|b| b.t()).collect();
        let shape = axes.iter().map(|&a| self.shape()[a]).collect();
        DistArray::assemble(blocks, self.ndim() - 1 - self.axis(), shape, chain.to_vec())
    }

    /// Axes `a` and `b` swapped.
    pub fn swap_axes(&self, a: usize, b: usize) -> Result<DistArray<A>> {
        self.permuted_axes(&swapped_axes(self.ndim(), a, b)?)
    }

    /// A new axis of length 1 at `axis`, block by block.
    pub fn expand_dims(&self, axis: isize) -> Result<DistArray<A>> {
        let at = new_axis_position(axis, self.ndim())?;
        let (blocks, chain) = self.parts();
        let blocks = blocks
            .iter()
            .map(|b| b.expand_dims(at as isize))
            .collect::<Result<Vec<_>>>()?;
        let mut shape = self.shape().to_vec();
        shape.insert(at, 1);
        let axis = if at <= self.axis() {
            self.axis() + 1
        } else {
            self.axis()
        };
        Ok(DistArray::assemble(blocks, axis, shape, chain.to_vec()))
    }
}

/// Arrays that can be joined: [`RemoteArray`], [`DistArray`] and [`Placed`].
pub trait Joinable<A> {
    /// The array as a [`Placed`] value.
    fn placed(&self) -> Placed<A>;
}

impl<A: Element + Value> Joinable<A> for RemoteArray<A> {
    fn placed(&self) -> Placed<A> {
        Placed::Remote(self.clone())
    }
}

impl<A: Element + Value> Joinable<A> for DistArray<A> {
    fn placed(&self) -> Placed<A> {
        Placed::Dist(self.clone())
    }
}

impl<A: Element + Value> Joinable<A> for Placed<A> {
    fn placed(&self) -> Placed<A> {
        match self {
            Placed::Remote(r) => Placed::Remote(r.clone()),
            Placed::Dist(d) => Placed::Dist(d.clone()),
        }
    }
}

impl<A: Element + Value> Placed<A> {
    fn expand_dims(&self, axis: isize) -> Result<Placed<A>> {
        Ok(match self {
            Placed::Remote(r) => Placed::Remote(r.expand_dims(axis)?),
            Placed::Dist(d) => Placed::Dist(d.expand_dims(axis)?),
        })
    }

    fn ndim(&self) -> usize {
        self.shape().len()
    }
}

/// Joins arrays along an existing axis (numpy's `concatenate`). Along the
/// distributed axis of the parts, the block lists are joined and no data
/// moves; parts all on one engine are joined there into one array; parts
/// on several engines give a [`DistArray`]. Distributed parts split along
/// another axis must be split alike, and are joined block by block.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// use distob::{array::{concatenate, Placed}, NodeId};
/// use ndarray::{ArrayD, IxDyn};
/// let cluster = distob::Cluster::local(2).await?;
/// let a = cluster.scatter_to(NodeId(0), ArrayD::<f64>::zeros(IxDyn(&[2, 3]))).await?;
/// let b = cluster.scatter_to(NodeId(1), ArrayD::<f64>::ones(IxDyn(&[4, 3]))).await?;
/// let j = concatenate(&[a, b], 0)?;
/// assert!(matches!(j, Placed::Dist(_)));          // two engines: no data moved
/// assert_eq!(j.shape(), vec![6, 3]);
/// assert_eq!(cluster.gather(&j).await?.sum(), 12.0);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub fn concatenate<A: Element + Value, J: Joinable<A>>(
    parts: &[J],
    axis: isize,
) -> Result<Placed<A>> {
    let parts: Vec<Placed<A>> = parts.iter().map(Joinable::placed).collect();
    let first = parts.first().ok_or(ShapeError::NoBlocks)?.shape();
    let ndim = first.len();
    let k = resolve_axis(axis, ndim).ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
    let mut shape = first.clone();
    shape[k] = 0;
    for p in &parts {
        let s = p.shape();
        if s.len() != ndim || (0..ndim).any(|i| i != k && s[i] != first[i]) {
            return Err(ShapeError::IncompatibleBlocks {
                axis: k,
                first: first.clone(),
                other: s,
            }
            .into());
        }
        shape[k] += s[k];
    }
    // Every part splits along k: join the block lists.
    let along_k = parts.iter().all(|p| match p {
        Placed::Remote(_) => true,
        Placed::Dist(d) => d.axis() == k,
    });
    if along_k {
        let mut blocks: Vec<RemoteArray<A>> = Vec::new();
        for p in &parts {
            match p {
                Placed::Remote(r) => blocks.push(r.clone()),
                Placed::Dist(d) => blocks.extend(d.blocks()),
            }
        }
        let node = blocks[0].node();
        if blocks.iter().all(|b| b.node() == node) {
            // One engine: join there, pairwise.
            let mut joined = blocks[0].clone();
            for b in &blocks[1..] {
                let mut s = joined.shape().to_vec();
                s[k] += b.shape()[k];
                joined = joined.run_op_with(ArrayOp::Concat { axis: k }, b, s);
            }
            return Ok(Placed::Remote(joined));
        }
        return Ok(Placed::Dist(DistArray::assemble(
            blocks,
            k,
            shape,
            Vec::new(),
        )));
    }
    // Distributed parts split alike along another axis: join block by block.
    let dists: Vec<&DistArray<A>> = parts
        .iter()
        .filter_map(|p| match p {
            Placed::Dist(d) => Some(d),
            Placed::Remote(_) => None,
        })
        .collect();
    let d0 = dists[0];
    let alike = dists.len() == parts.len()
        && dists.iter().all(|d| {
            d.axis() == d0.axis()
                && d.block_lens() == d0.block_lens()
                && d.engines() == d0.engines()
        });
    if !alike {
        return Err(Error::Shape(ShapeError::LayoutMismatch));
    }
    let per_part: Vec<Vec<RemoteArray<A>>> = dists.iter().map(|d| d.blocks()).collect();
    let mut blocks = Vec::with_capacity(per_part[0].len());
    for i in 0..per_part[0].len() {
        let mut joined = per_part[0][i].clone();
        for part in &per_part[1..] {
            let mut s = joined.shape().to_vec();
            s[k] += part[i].shape()[k];
            joined = joined.run_op_with(ArrayOp::Concat { axis: k }, &part[i], s);
        }
        blocks.push(joined);
    }
    Ok(Placed::Dist(DistArray::assemble(
        blocks,
        d0.axis(),
        shape,
        Vec::new(),
    )))
}

/// Stacks arrays as rows (numpy's `vstack`): 1-D arrays become rows, then
/// they are joined along axis 0.
pub fn vstack<A: Element + Value, J: Joinable<A>>(parts: &[J]) -> Result<Placed<A>> {
    let parts = parts
        .iter()
        .map(|p| {
            let p = p.placed();
            if p.ndim() == 1 {
                p.expand_dims(0)
            } else {
                Ok(p)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    concatenate(&parts, 0)
}

/// Stacks arrays as columns (numpy's `hstack`): along axis 1, or axis 0
/// for 1-D arrays.
pub fn hstack<A: Element + Value, J: Joinable<A>>(parts: &[J]) -> Result<Placed<A>> {
    let one_d = parts.first().is_some_and(|p| p.placed().ndim() == 1);
    concatenate(parts, if one_d { 0 } else { 1 })
}

/// Stacks arrays in depth (numpy's `dstack`): `(n)` becomes `(1, n, 1)`,
/// `(m, n)` becomes `(m, n, 1)`, then they are joined along axis 2.
pub fn dstack<A: Element + Value, J: Joinable<A>>(parts: &[J]) -> Result<Placed<A>> {
    let parts = parts
        .iter()
        .map(|p| {
            let p = p.placed();
            match p.ndim() {
                1 => p.expand_dims(0)?.expand_dims(2),
                2 => p.expand_dims(2),
                _ => Ok(p),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    concatenate(&parts, 2)
}

/// Both arrays broadcast to their common shape (numpy's
/// `broadcast_arrays`), each on its own engine.
pub fn broadcast_arrays<A: Element + Value>(
    a: &RemoteArray<A>,
    b: &RemoteArray<A>,
) -> Result<(RemoteArray<A>, RemoteArray<A>)> {
    let (sa, sb) = (a.known_shape()?, b.known_shape()?);
    let shape = super::broadcast_shape(&sa, &sb).ok_or(ShapeError::Broadcast { a: sa, b: sb })?;
    Ok((a.broadcast_to(&shape)?, b.broadcast_to(&shape)?))
}
