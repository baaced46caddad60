//! Structure: transposes, new and squeezed axes, and joining arrays —
//! `concatenate`, `vstack`, `hstack`, `dstack`. Joining along the
//! distributed axis only joins block lists: no data moves.

use super::dist_array::DistArray;
use super::index::{Placed, Sel};
use super::kernels::method;
use super::partition::resolve_axis;
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

impl<A: Element + Value> crate::proxy::Remote<ndarray::ArrayD<A>> {
    /// The array with its axes reordered (`axes[i]` is the old axis that
    /// becomes axis `i`), computed on the engine.
    pub fn permuted_axes(&self, axes: &[usize]) -> Result<RemoteArray<A>> {
        let shape = self.known_shape()?;
        check_perm(axes, shape.len())?;
        let out: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
        Ok(self.op_into(method::TRANSPOSE, &(axes,), out))
    }

    /// The transpose (axes reversed).
    pub fn t(&self) -> RemoteArray<A> {
        let axes: Vec<usize> = (0..self.ndim()).rev().collect();
        let out: Vec<usize> = axes.iter().map(|&a| self.shape()[a]).collect();
        self.op_into(method::TRANSPOSE, &(axes,), out)
    }

    /// Axes `a` and `b` swapped.
    pub fn swap_axes(&self, a: usize, b: usize) -> Result<RemoteArray<A>> {
        let mut axes: Vec<usize> = (0..self.ndim()).collect();
        if a >= axes.len() || b >= axes.len() {
            return Err(ShapeError::AxisOutOfRange {
                axis: a.max(b) as isize,
                ndim: axes.len(),
            }
            .into());
        }
        axes.swap(a, b);
        self.permuted_axes(&axes)
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
        self.op_into(method::SLICE, &(sels,), out)
    }
}

impl<A: Element + Value> DistArray<A> {
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
        let mut axes: Vec<usize> = (0..self.ndim()).collect();
        if a >= axes.len() || b >= axes.len() {
            return Err(ShapeError::AxisOutOfRange {
                axis: a.max(b) as isize,
                ndim: axes.len(),
            }
            .into());
        }
        axes.swap(a, b);
        self.permuted_axes(&axes)
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
                joined = joined.combine_into(method::CONCAT, &(k,), b, s);
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
            joined = joined.combine_into(method::CONCAT, &(k,), &part[i], s);
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

impl<A: Element + Value> DistArray<A> {
    /// The same array laid out anew: split along `axis` into the given
    /// ranges, each on the given engine. Every new block is cut from the
    /// old blocks on their engines, copied engine to engine where it must
    /// move, and joined on its new engine; nothing passes through the client.
    pub fn relayout(
        &self,
        axis: usize,
        layout: &[(std::ops::Range<usize>, crate::NodeId)],
    ) -> Result<DistArray<A>> {
        let ndim = self.ndim();
        if axis >= ndim {
            return Err(ShapeError::AxisOutOfRange {
                axis: axis as isize,
                ndim,
            }
            .into());
        }
        let covered: usize = layout.iter().map(|(r, _)| r.len()).sum();
        let contiguous = layout.windows(2).all(|w| w[0].0.end == w[1].0.start)
            && layout.first().is_none_or(|(r, _)| r.start == 0);
        if !contiguous || covered != self.shape()[axis] {
            return Err(ShapeError::LayoutMismatch.into());
        }
        let mut blocks = Vec::with_capacity(layout.len());
        for (range, node) in layout {
            let mut info = vec![full(); ndim];
            info[axis] = SliceInfoElem::Slice {
                start: range.start as isize,
                end: Some(range.end as isize),
                step: 1,
            };
            let (parts, along) = match self.slice(info)? {
                Placed::Remote(r) => (vec![r], axis),
                Placed::Dist(d) => (d.blocks(), d.axis()),
            };
            let moved = parts
                .iter()
                .map(|p| {
                    if p.node() == *node {
                        Ok(p.clone())
                    } else {
                        p.copy_to(*node)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            match concatenate(&moved, along as isize)? {
                Placed::Remote(r) => blocks.push(r),
                Placed::Dist(_) => return Err(ShapeError::LayoutMismatch.into()),
            }
        }
        Ok(DistArray::assemble(
            blocks,
            axis,
            self.shape().to_vec(),
            Vec::new(),
        ))
    }

    /// Evens out the blocks over the engines that hold them (blocks of
    /// `ceil(n / engines)` along the same axis), moving data engine to engine.
    pub fn rebalance(&self) -> Result<DistArray<A>> {
        let mut nodes = self.engines();
        nodes.dedup();
        let mut seen = std::collections::BTreeSet::new();
        nodes.retain(|n| seen.insert(*n));
        let ranges = super::partition::blocks(self.shape()[self.axis()], nodes.len());
        let layout: Vec<_> = ranges.into_iter().zip(nodes).collect();
        self.relayout(self.axis(), &layout)
    }

    /// This array's layout: each block's range along the axis and engine.
    pub fn layout(&self) -> Vec<(std::ops::Range<usize>, crate::NodeId)> {
        let bounds = self.boundaries();
        bounds
            .windows(2)
            .map(|w| w[0]..w[1])
            .zip(self.engines())
            .collect()
    }
}

/// Where numpy's `array_split` cuts an axis of length `n` into `parts`
/// pieces: the first `n % parts` pieces are one longer.
fn split_ranges(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.max(1);
    let (base, extra) = (n / parts, n % parts);
    let mut at = 0;
    (0..parts)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let r = at..at + len;
            at += len;
            r
        })
        .collect()
}

/// The selections that cut `shape` into `parts` along `axis` (numpy's
/// `array_split`; `even` demands equal parts, as `split` does).
fn split_selections(
    shape: &[usize],
    parts: usize,
    axis: isize,
    even: bool,
) -> Result<Vec<Vec<SliceInfoElem>>> {
    let ndim = shape.len();
    let k = resolve_axis(axis, ndim).ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
    if even && (parts == 0 || shape[k] % parts != 0) {
        return Err(ShapeError::UnevenSplit {
            len: shape[k],
            parts,
        }
        .into());
    }
    Ok(split_ranges(shape[k], parts)
        .iter()
        .map(|r| range_selection(ndim, k, r))
        .collect())
}

fn range_selection(ndim: usize, axis: usize, r: &std::ops::Range<usize>) -> Vec<SliceInfoElem> {
    let mut info = vec![full(); ndim];
    info[axis] = SliceInfoElem::Slice {
        start: r.start as isize,
        end: Some(r.end as isize),
        step: 1,
    };
    info
}

impl<A: Element + Value> crate::proxy::Remote<ndarray::ArrayD<A>> {
    /// `parts` pieces along `axis`, as numpy's `array_split` cuts them (the
    /// first ones one longer when the length does not divide), each made on
    /// the engine.
    pub fn array_split(&self, parts: usize, axis: isize) -> Result<Vec<RemoteArray<A>>> {
        split_selections(self.shape(), parts, axis, false)?
            .into_iter()
            .map(|info| self.slice(info))
            .collect()
    }

    /// As [`array_split`](Self::array_split), but the length must divide
    /// evenly (numpy's `split`).
    pub fn split(&self, parts: usize, axis: isize) -> Result<Vec<RemoteArray<A>>> {
        split_selections(self.shape(), parts, axis, true)?
            .into_iter()
            .map(|info| self.slice(info))
            .collect()
    }

    /// The same elements in another shape (standard order), on the engine.
    pub fn reshape(&self, shape: &[usize]) -> Result<RemoteArray<A>> {
        let from = self.known_shape()?;
        if from.iter().product::<usize>() != shape.iter().product::<usize>() {
            return Err(ShapeError::Reshape {
                from,
                to: shape.to_vec(),
            }
            .into());
        }
        Ok(self.op_into(method::RESHAPE, &(shape,), shape.to_vec()))
    }
}

impl<A: Element + Value> DistArray<A> {
    /// `parts` pieces along `axis` (numpy's `array_split`); each piece is
    /// where its data are: one array inside one block, else distributed.
    pub fn array_split(&self, parts: usize, axis: isize) -> Result<Vec<Placed<A>>> {
        split_selections(self.shape(), parts, axis, false)?
            .into_iter()
            .map(|info| self.slice(info))
            .collect()
    }

    /// As [`array_split`](Self::array_split), but the length must divide
    /// evenly (numpy's `split`).
    pub fn split(&self, parts: usize, axis: isize) -> Result<Vec<Placed<A>>> {
        split_selections(self.shape(), parts, axis, true)?
            .into_iter()
            .map(|info| self.slice(info))
            .collect()
    }

    /// Another shape along the other axes: the distributed axis keeps its
    /// place and length, and the axes before it and after it reshape
    /// among themselves (their products unchanged), block by block.
    pub fn reshape(&self, shape: &[usize]) -> Result<DistArray<A>> {
        let k = self.axis();
        let n = self.shape()[k];
        let before: usize = self.shape()[..k].iter().product();
        let fits = shape.len() > k
            && shape[k] == n
            && shape[..k].iter().product::<usize>() == before
            && shape[k + 1..].iter().product::<usize>()
                == self.shape()[k + 1..].iter().product::<usize>();
        if !fits {
            return Err(ShapeError::Reshape {
                from: self.shape().to_vec(),
                to: shape.to_vec(),
            }
            .into());
        }
        let (blocks, chain) = self.parts();
        let blocks = blocks
            .iter()
            .map(|b| {
                let mut s = shape.to_vec();
                s[k] = b.shape()[k];
                b.reshape(&s)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DistArray::assemble(
            blocks,
            k,
            shape.to_vec(),
            chain.to_vec(),
        ))
    }
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

impl<A: Element + Value + PartialOrd> DistArray<A> {
    /// Flat index (standard order) of the first smallest element: each
    /// engine finds its block's, only those candidates move.
    pub async fn argmin(&self) -> Result<i64> {
        self.arg_extreme(true).await
    }

    /// Flat index (standard order) of the first largest element.
    pub async fn argmax(&self) -> Result<i64> {
        self.arg_extreme(false).await
    }

    async fn arg_extreme(&self, smallest: bool) -> Result<i64> {
        let blocks = self.blocks();
        let calls: Vec<_> = blocks
            .iter()
            .filter(|b| !b.is_empty())
            .map(|b| {
                let arg = if smallest { b.argmin() } else { b.argmax() };
                let val = if smallest { b.min() } else { b.max() };
                (b.clone(), arg, val)
            })
            .collect();
        let bounds = self.boundaries();
        let k = self.axis();
        let mut best: Option<(Vec<usize>, A)> = None;
        for (b, arg, val) in calls {
            let (arg, val) = (arg.await?, val.await?);
            // The block's flat index, as a multi-index of the whole array.
            let bshape = b.shape().to_vec();
            let mut rest = arg as usize;
            let mut index = vec![0; bshape.len()];
            for d in (0..bshape.len()).rev() {
                index[d] = rest % bshape[d].max(1);
                rest /= bshape[d].max(1);
            }
            let block_no = blocks.iter().position(|x| x.id() == b.id()).unwrap_or(0);
            index[k] += bounds[block_no];
            #[allow(clippy::eq_op)]
            let better = match &best {
                None => true,
                Some((at, v)) => {
                    let earlier = index < *at;
                    let (nan_new, nan_old) = (val != val, *v != *v);
                    if nan_old {
                        nan_new && earlier
                    } else if nan_new {
                        true
                    } else if smallest {
                        val < *v || (val == *v && earlier)
                    } else {
                        val > *v || (val == *v && earlier)
                    }
                }
            };
            if better {
                best = Some((index, val));
            }
        }
        let (index, _) = best.ok_or(Error::Refused {
            message: "argmin and argmax of an empty array are undefined".into(),
        })?;
        let flat = index
            .iter()
            .zip(self.shape())
            .fold(0usize, |acc, (&i, &n)| acc * n + i);
        Ok(flat as i64)
    }
}
