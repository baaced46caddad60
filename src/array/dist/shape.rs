//! Reshaping and re-laying out: split and array_split, reshape, and the
//! relayout (rebalance included) that moves blocks engine to engine.

use crate::array::dist::DistArray;
use crate::array::index::Placed;
use crate::array::partition::resolve_axis;
use crate::array::protocol::ArrayOp;
use crate::array::remote_array::RemoteArray;
use crate::array::stack::concatenate;
use crate::array::ShapeError;
use crate::error::Result;
use crate::value::{Element, Value};
use ndarray::SliceInfoElem;

fn full() -> SliceInfoElem {
    SliceInfoElem::Slice {
        start: 0,
        end: None,
        step: 1,
    }
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
        let nodes = self.distinct_engines();
        let ranges = crate::array::partition::blocks(self.shape()[self.axis()], nodes.len());
        let layout: Vec<_> = ranges.into_iter().zip(nodes).collect();
        self.relayout(self.axis(), &layout)
    }

    /// The engines that hold blocks, each once, in block order.
    pub(crate) fn distinct_engines(&self) -> Vec<crate::NodeId> {
        let mut seen = std::collections::BTreeSet::new();
        let mut nodes = self.engines();
        nodes.retain(|n| seen.insert(*n));
        nodes
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
    if even && (parts == 0 || !shape[k].is_multiple_of(parts)) {
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
        Ok(self.run_op(
            ArrayOp::Reshape {
                shape: shape.to_vec(),
            },
            shape.to_vec(),
        ))
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
