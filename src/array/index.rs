//! Selection: `s![…]`-style slicing with steps (either sign), negative
//! bounds, single indices and new axes, on one array or across the blocks
//! of a distributed one — with ndarray's semantics, checked on the client.

use super::dist::DistArray;
use super::protocol::ArrayOp;
use super::remote_array::RemoteArray;
use super::ShapeError;
use crate::error::Result;
use crate::value::{Element, Value};
use ndarray::SliceInfoElem;
use serde::{Deserialize, Serialize};

/// One element of a selection, as the wire carries it (ndarray's
/// `SliceInfoElem`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sel {
    /// `start..end;step` (negative bounds count from the back; a negative
    /// step walks from `end - 1` down).
    Slice {
        /// First index.
        start: isize,
        /// One past the last index (`None`: the axis end).
        end: Option<isize>,
        /// Step, not zero.
        step: isize,
    },
    /// One index: the axis goes away.
    Index(isize),
    /// A new axis of length 1.
    NewAxis,
}

impl From<SliceInfoElem> for Sel {
    fn from(e: SliceInfoElem) -> Self {
        match e {
            SliceInfoElem::Slice { start, end, step } => Sel::Slice { start, end, step },
            SliceInfoElem::Index(i) => Sel::Index(i),
            SliceInfoElem::NewAxis => Sel::NewAxis,
        }
    }
}

impl From<Sel> for SliceInfoElem {
    fn from(s: Sel) -> Self {
        match s {
            Sel::Slice { start, end, step } => SliceInfoElem::Slice { start, end, step },
            Sel::Index(i) => SliceInfoElem::Index(i),
            Sel::NewAxis => SliceInfoElem::NewAxis,
        }
    }
}

fn abs_index(len: usize, i: isize) -> Option<usize> {
    let a = if i < 0 { len as isize + i } else { i };
    (a >= 0).then_some(a as usize)
}

/// What a slice picks on an axis of length `len`: the checked range
/// `s..e` and the stride (the step's size).
fn span(
    axis: usize,
    len: usize,
    start: isize,
    end: Option<isize>,
    step: isize,
) -> Result<(usize, usize, usize), ShapeError> {
    let bad = |index| ShapeError::IndexOutOfBounds { axis, index, len };
    if step == 0 {
        return Err(ShapeError::ZeroStep { axis });
    }
    let s = abs_index(len, start)
        .filter(|&s| s <= len)
        .ok_or(bad(start))?;
    let e = match end {
        None => len,
        Some(e) => abs_index(len, e).filter(|&e| e <= len).ok_or(bad(e))?,
    };
    Ok((s, e.max(s), step.unsigned_abs()))
}

/// How many indices a slice picks (without listing them).
fn picked_len(
    axis: usize,
    len: usize,
    start: isize,
    end: Option<isize>,
    step: isize,
) -> Result<usize, ShapeError> {
    let (s, e, stride) = span(axis, len, start, end, step)?;
    Ok((e - s).div_ceil(stride))
}

/// The indices a slice picks on an axis of length `len`, in order (the
/// reference the arithmetic above is tested against).
#[cfg(test)]
fn picked(
    axis: usize,
    len: usize,
    start: isize,
    end: Option<isize>,
    step: isize,
) -> Result<Vec<usize>, ShapeError> {
    let (s, e, stride) = span(axis, len, start, end, step)?;
    Ok(if step > 0 {
        (s..e).step_by(stride).collect()
    } else {
        (s..e).rev().step_by(stride).collect()
    })
}

/// A checked selection: the result's shape and, for every input axis,
/// where it went.
pub(crate) struct Plan {
    pub(crate) shape: Vec<usize>,
    /// For input axis `i`: its position in the result, or `None` if indexed away.
    pub(crate) out_axis: Vec<Option<usize>>,
    /// For input axis `i`: the position of its element in the selection.
    pub(crate) sel_pos: Vec<usize>,
}

pub(crate) fn plan(shape: &[usize], sels: &[Sel]) -> Result<Plan, ShapeError> {
    let given = sels.iter().filter(|s| !matches!(s, Sel::NewAxis)).count();
    if given != shape.len() {
        return Err(ShapeError::SelectionLength {
            ndim: shape.len(),
            given,
        });
    }
    let mut out = Vec::new();
    let mut out_axis = Vec::new();
    let mut sel_pos = Vec::new();
    let mut axis = 0;
    for (pos, sel) in sels.iter().enumerate() {
        match *sel {
            Sel::NewAxis => out.push(1),
            Sel::Index(i) => {
                let len = shape[axis];
                abs_index(len, i)
                    .filter(|&a| a < len)
                    .ok_or(ShapeError::IndexOutOfBounds {
                        axis,
                        index: i,
                        len,
                    })?;
                out_axis.push(None);
                sel_pos.push(pos);
                axis += 1;
            }
            Sel::Slice { start, end, step } => {
                let n = picked_len(axis, shape[axis], start, end, step)?;
                out_axis.push(Some(out.len()));
                sel_pos.push(pos);
                out.push(n);
                axis += 1;
            }
        }
    }
    Ok(Plan {
        shape: out,
        out_axis,
        sel_pos,
    })
}

/// What a selection or a join gives: the data decide where it lives.
pub enum Placed<A> {
    /// All on one engine: one array.
    Remote(RemoteArray<A>),
    /// Over several engines: distributed.
    Dist(DistArray<A>),
}

impl<A: Element + Value> std::fmt::Debug for Placed<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Placed::Remote(r) => write!(f, "Placed::Remote({r:?})"),
            Placed::Dist(d) => write!(f, "Placed::Dist({d})"),
        }
    }
}

impl<A: Element + Value> Placed<A> {
    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Placed::Remote(r) => r.shape().to_vec(),
            Placed::Dist(d) => d.shape().to_vec(),
        }
    }
}

impl<A: Element + Value> crate::proxy::Remote<ndarray::ArrayD<A>> {
    /// A selection, computed on the engine (a new array there; handle at
    /// once). `info` is what `ndarray::s![…]` gives; it is checked against
    /// the shape here, so a bad selection fails at once.
    pub fn slice(&self, info: impl AsRef<[SliceInfoElem]>) -> Result<RemoteArray<A>> {
        let sels: Vec<Sel> = info.as_ref().iter().map(|&e| e.into()).collect();
        let plan = plan(&self.known_shape()?, &sels)?;
        Ok(self.run_op(ArrayOp::Slice { sels }, plan.shape))
    }
}

/// One block's part of a selection: the block's index and its own selection.
type BlockSel = (usize, Vec<Sel>);

impl<A: Element + Value> DistArray<A> {
    /// A checked selection and, for each block it touches (in selection
    /// order), that block's index and its own local selection.
    fn block_selections(&self, sels: &[Sel]) -> Result<(Plan, Vec<BlockSel>)> {
        let plan = plan(self.shape(), sels)?;
        let k = self.axis();
        let pos = plan.sel_pos[k];
        let len = self.shape()[k];
        let bounds = self.boundaries();
        // Per block it touches, in selection order: the first and last
        // index picked there (found by arithmetic, not by listing picks).
        let groups: Vec<(usize, usize, usize)> = match sels[pos] {
            Sel::Index(i) => {
                let g = abs_index(len, i).unwrap_or(0);
                let b = bounds
                    .windows(2)
                    .position(|w| w[0] <= g && g < w[1])
                    .unwrap_or(0);
                vec![(b, g, g)]
            }
            Sel::Slice { start, end, step } => {
                let (s, e, stride) = span(k, len, start, end, step)?;
                let n = (e - s).div_ceil(stride);
                // Pick j is s + j·stride walking up, e - 1 - j·stride walking down.
                let pick = |j: usize| {
                    if step > 0 {
                        s + j * stride
                    } else {
                        e - 1 - j * stride
                    }
                };
                let mut out: Vec<(usize, usize, usize)> = bounds
                    .windows(2)
                    .enumerate()
                    .filter_map(|(b, w)| {
                        let (b0, b1) = (w[0], w[1]);
                        // The picks j with b0 <= pick(j) < b1.
                        let (j0, j1) = if step > 0 {
                            (
                                b0.saturating_sub(s).div_ceil(stride),
                                b1.saturating_sub(s).div_ceil(stride),
                            )
                        } else {
                            let top = e.saturating_sub(1);
                            let j0 = if top >= b1 {
                                (top - (b1 - 1)).div_ceil(stride)
                            } else {
                                0
                            };
                            let j1 = if top >= b0 {
                                (top - b0) / stride + 1
                            } else {
                                0
                            };
                            (j0, j1)
                        };
                        let (j0, j1) = (j0.min(n), j1.min(n));
                        (j0 < j1).then(|| (b, pick(j0), pick(j1 - 1)))
                    })
                    .collect();
                if step < 0 {
                    out.reverse();
                }
                out
            }
            Sel::NewAxis => Vec::new(),
        };
        let step = match sels[pos] {
            Sel::Slice { step, .. } => step,
            _ => 1,
        };
        let parts = groups
            .into_iter()
            .map(|(b, first, last)| {
                let b0 = bounds[b];
                let elem = match sels[pos] {
                    Sel::Index(_) => Sel::Index((first - b0) as isize),
                    _ => {
                        let (lo, hi) = (first.min(last), first.max(last));
                        Sel::Slice {
                            start: (lo - b0) as isize,
                            end: Some((hi - b0 + 1) as isize),
                            step,
                        }
                    }
                };
                let mut local = sels.to_vec();
                local[pos] = elem;
                (b, local)
            })
            .collect();
        Ok((plan, parts))
    }

    /// A selection across the blocks: each block selects its part on its
    /// engine, and no data moves. Inside one block the result is a
    /// [`RemoteArray`]; spanning blocks, a `DistArray`.
    pub fn slice(&self, info: impl AsRef<[SliceInfoElem]>) -> Result<Placed<A>> {
        let sels: Vec<Sel> = info.as_ref().iter().map(|&e| e.into()).collect();
        let (plan, parts) = self.block_selections(&sels)?;
        let (blocks, chain) = self.parts();
        let part = |b: usize, local: &[Sel]| -> Result<RemoteArray<A>> {
            let shape = plan_block_shape(&blocks[b], local)?;
            Ok(blocks[b].run_op(
                ArrayOp::Slice {
                    sels: local.to_vec(),
                },
                shape,
            ))
        };
        let with_chain = |r: RemoteArray<A>| {
            if chain.is_empty() {
                r
            } else {
                r.map_chain(chain)
            }
        };
        let mut out = parts
            .iter()
            .map(|(b, local)| part(*b, local))
            .collect::<Result<Vec<_>>>()?;
        if out.is_empty() {
            let mut empty = sels.clone();
            empty[plan.sel_pos[self.axis()]] = Sel::Slice {
                start: 0,
                end: Some(0),
                step: 1,
            };
            return Ok(Placed::Remote(with_chain(part(0, &empty)?)));
        }
        match plan.out_axis[self.axis()] {
            Some(axis) if out.len() > 1 => Ok(Placed::Dist(DistArray::assemble(
                out,
                axis,
                plan.shape,
                chain.to_vec(),
            ))),
            _ => Ok(Placed::Remote(with_chain(out.remove(0)))),
        }
    }

    /// Sets the selected elements to `value`, in place, each block on its
    /// engine. Pending elementwise steps are applied first (into new
    /// blocks); without any, the blocks change in place, and so does every
    /// `DistArray` that shares them.
    pub fn assign_slice(&mut self, info: impl AsRef<[SliceInfoElem]>, value: f64) -> Result<()> {
        let sels: Vec<Sel> = info.as_ref().iter().map(|&e| e.into()).collect();
        let (_, parts) = self.block_selections(&sels)?;
        *self = self.materialize();
        let (blocks, _) = self.parts();
        for (b, local) in parts {
            blocks[b].assign_slice_sels(local, value)?;
        }
        Ok(())
    }
}

impl<A: Element + Value> crate::proxy::Remote<ndarray::ArrayD<A>> {
    /// Sets the selected elements to `value`, in place on the engine (every
    /// handle of this array sees the change; calls already made see the old
    /// values).
    pub fn assign_slice(&self, info: impl AsRef<[SliceInfoElem]>, value: f64) -> Result<()> {
        let sels: Vec<Sel> = info.as_ref().iter().map(|&e| e.into()).collect();
        self.assign_slice_sels(sels, value)
    }

    pub(crate) fn assign_slice_sels(&self, sels: Vec<Sel>, value: f64) -> Result<()> {
        plan(&self.known_shape()?, &sels)?;
        // Not awaited: a failure surfaces on the next use of the array.
        let done: crate::Call<()> = self.ask_op(ArrayOp::Assign { sels, value });
        drop(done);
        Ok(())
    }

    /// Applies elementwise steps to the array in place on the engine.
    pub fn map_inplace(&self, chain: &[super::kinds::ElemOp]) {
        let done: crate::Call<()> = self.ask_op(ArrayOp::MapInPlace {
            chain: chain.to_vec(),
        });
        drop(done);
    }
}

impl<A: Element + Value> Placed<A> {
    /// The elements at `indices` along `axis` (see [`DistArray::take`]).
    pub fn take(&self, indices: &[isize], axis: isize) -> Result<Placed<A>> {
        match self {
            Placed::Remote(r) => Ok(Placed::Remote(r.take(indices, axis)?)),
            Placed::Dist(d) => d.take(indices, axis),
        }
    }
}

impl<A: Element + Value + std::fmt::Display> DistArray<A> {
    /// The header [`Display`](std::fmt::Display) gives, and the values: all
    /// of them for a small array, else the first and last three along each
    /// long axis — only those move to the client.
    pub async fn describe(&self) -> Result<String> {
        let mut view = Placed::Dist(self.clone());
        let mut cut = false;
        for (k, &n) in self.shape().iter().enumerate() {
            if n > 6 && self.len() > 1000 {
                view = view.take(&[0, 1, 2, -3, -2, -1], k as isize)?;
                cut = true;
            }
        }
        let values = crate::proxy::Gather::start_gather(&view).await?;
        let note = if cut {
            "\n(the first and last 3 along each long axis)"
        } else {
            ""
        };
        Ok(format!("{self}\n{values}{note}"))
    }
}

impl<A: Element + Value> crate::proxy::Gather for Placed<A> {
    type Output = ndarray::ArrayD<A>;
    type Future = futures::future::BoxFuture<'static, Result<ndarray::ArrayD<A>>>;

    fn start_gather(&self) -> Self::Future {
        match self {
            Placed::Remote(r) => Box::pin(r.fetch()),
            Placed::Dist(d) => d.start_gather(),
        }
    }
}

fn plan_block_shape<A: Element + Value>(
    block: &RemoteArray<A>,
    sels: &[Sel],
) -> Result<Vec<usize>> {
    Ok(plan(&block.known_shape()?, sels)?.shape)
}

fn resolve_indices(indices: &[isize], len: usize, axis: usize) -> Result<Vec<usize>, ShapeError> {
    indices
        .iter()
        .map(|&i| {
            abs_index(len, i)
                .filter(|&a| a < len)
                .ok_or(ShapeError::IndexOutOfBounds {
                    axis,
                    index: i,
                    len,
                })
        })
        .collect()
}

impl<A: Element + Value> crate::proxy::Remote<ndarray::ArrayD<A>> {
    /// The elements at `indices` along `axis` (numpy's `take`, fancy
    /// indexing; negative indices count from the end), on the engine.
    pub fn take(&self, indices: &[isize], axis: isize) -> Result<RemoteArray<A>> {
        let shape = self.known_shape()?;
        let ndim = shape.len();
        let k = super::partition::resolve_axis(axis, ndim)
            .ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
        let picks = resolve_indices(indices, shape[k], k)?;
        let mut out = shape;
        out[k] = picks.len();
        Ok(self.run_op(ArrayOp::Take { axis: k, picks }, out))
    }
}

impl<A: Element + Value> DistArray<A> {
    /// The elements at `indices` along `axis` (numpy's `take`). Along the
    /// distributed axis each block gives the elements it holds, in the
    /// order asked, and no data moves: the result is one array when they
    /// all come from one block, else distributed.
    pub fn take(&self, indices: &[isize], axis: isize) -> Result<Placed<A>> {
        let ndim = self.ndim();
        let k = super::partition::resolve_axis(axis, ndim)
            .ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
        let (blocks, chain) = self.parts();
        if k != self.axis() {
            let picks = resolve_indices(indices, self.shape()[k], k)?;
            let taken = blocks
                .iter()
                .map(|b| {
                    b.take(
                        &picks.iter().map(|&i| i as isize).collect::<Vec<_>>(),
                        k as isize,
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            let mut shape = self.shape().to_vec();
            shape[k] = picks.len();
            return Ok(Placed::Dist(DistArray::assemble(
                taken,
                self.axis(),
                shape,
                chain.to_vec(),
            )));
        }
        let picks = resolve_indices(indices, self.shape()[k], k)?;
        let bounds = self.boundaries();
        let mut runs: Vec<(usize, Vec<isize>)> = Vec::new();
        for g in picks {
            let b = bounds
                .windows(2)
                .position(|w| w[0] <= g && g < w[1])
                .unwrap_or(0);
            let local = (g - bounds[b]) as isize;
            match runs.last_mut() {
                Some((last, locals)) if *last == b => locals.push(local),
                _ => runs.push((b, vec![local])),
            }
        }
        let mut pieces = runs
            .iter()
            .map(|(b, locals)| blocks[*b].take(locals, k as isize))
            .collect::<Result<Vec<_>>>()?;
        if !chain.is_empty() {
            pieces = pieces.iter().map(|p| p.map_chain(chain)).collect();
        }
        match pieces.len() {
            0 => Ok(Placed::Remote(blocks[0].take(&[], k as isize)?)),
            1 => Ok(Placed::Remote(pieces.remove(0))),
            _ => {
                let mut shape = self.shape().to_vec();
                shape[k] = pieces.iter().map(|p| p.shape()[k]).sum();
                Ok(Placed::Dist(DistArray::assemble(
                    pieces,
                    k,
                    shape,
                    Vec::new(),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};
    use proptest::prelude::*;

    fn sel() -> impl Strategy<Value = (isize, Option<isize>, isize)> {
        (
            -8isize..8,
            prop::option::of(-8isize..9),
            prop_oneof![-3isize..0, 1isize..4],
        )
    }

    proptest! {
        #[test]
        fn the_plan_matches_ndarray(len in 1usize..9, (start, end, step) in sel()) {
            let a = ArrayD::from_shape_fn(IxDyn(&[len]), |i| i[0] as i64);
            let info = [SliceInfoElem::Slice { start, end, step }];
            let sels: Vec<Sel> = info.iter().map(|&e| e.into()).collect();
            let ours = plan(&[len], &sels);
            let theirs = std::panic::catch_unwind(|| {
                let si = ndarray::SliceInfo::<_, IxDyn, IxDyn>::try_from(info.to_vec()).unwrap();
                a.slice(&si).to_owned()
            });
            match (ours, theirs) {
                (Ok(p), Ok(v)) => {
                    prop_assert_eq!(p.shape, v.shape().to_vec());
                    let picks = picked(0, len, start, end, step).unwrap();
                    prop_assert_eq!(picks.iter().map(|&i| i as i64).collect::<Vec<_>>(), v.iter().copied().collect::<Vec<_>>());
                }
                (Err(_), Err(_)) => {}
                (o, t) => prop_assert!(false, "ours {:?}, ndarray {:?}", o.map(|p| p.shape), t.map(|v| v.shape().to_vec())),
            }
        }
    }

    #[test]
    fn index_and_new_axis_shapes() {
        // s![1..3, -1, NewAxis, ..;2], spelled out (s! needs unsafe inside).
        let info = [
            SliceInfoElem::Slice {
                start: 1,
                end: Some(3),
                step: 1,
            },
            SliceInfoElem::Index(-1),
            SliceInfoElem::NewAxis,
            SliceInfoElem::Slice {
                start: 0,
                end: None,
                step: 2,
            },
        ];
        let sels: Vec<Sel> = info.iter().map(|&e| e.into()).collect();
        let p = plan(&[4, 5, 6], &sels).unwrap();
        assert_eq!(p.shape, vec![2, 1, 3]);
        assert_eq!(p.out_axis, vec![Some(0), None, Some(2)]);
        assert!(matches!(
            plan(&[4, 5], &sels),
            Err(ShapeError::SelectionLength { ndim: 2, given: 3 })
        ));
    }
}
