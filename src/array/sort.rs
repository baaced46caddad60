//! Sorting and selection of distributed arrays, with the data moving
//! engine to engine. A 1-D array is sorted by a sample sort: each engine
//! sorts its block; for every boundary of
//! the balanced result (the layout `scatter_axis` gives) the client finds
//! where in each sorted block the elements of lower rank end, by a
//! distributed selection (each round asks one engine for one element and
//! every engine for that element's rank in its block: a few values per
//! round, no array data); each block's runs go to the engines that own
//! their ranks, where they are merged. `unique`, `percentile` and `median`
//! build on it (an n-D array flattened block by block first); `histogram`
//! merges per-block counts. An n-D array sorts along its distributed axis
//! lane by lane, laid out anew so that each engine holds whole lanes.

use super::dist::tree::{merge_tree, on_node};
use super::dist::DistArray;
use super::kinds::Reduce;
use super::partition;
use super::protocol::ArrayOp;
use super::remote_array::RemoteArray;
use super::ShapeError;
use crate::error::Result;
use crate::id::NodeId;
use crate::value::{Element, Value};
use ndarray::SliceInfoElem;

/// Where each block's runs go: for every target engine, the runs (one per
/// block that has elements for it) already copied there.
struct Exchange<A> {
    targets: Vec<(NodeId, Vec<RemoteArray<A>>, usize)>,
}

fn range_of(range: std::ops::Range<usize>) -> Vec<SliceInfoElem> {
    vec![SliceInfoElem::Slice {
        start: range.start as isize,
        end: Some(range.end as isize),
        step: 1,
    }]
}

impl<A: Element + Value + PartialOrd> DistArray<A> {
    /// The lanes along the distributed axis of an n-D array, each made by
    /// `op` (a sort or argsort of every lane along that axis): the array is
    /// laid out anew split along its longest other axis, so that each engine
    /// holds whole lanes, every engine runs `op` on its block, and the
    /// result is laid out back along the distributed axis in balanced
    /// blocks; every move is engine to engine.
    fn by_lanes<B: Element + Value>(&self, op: ArrayOp<A>) -> Result<DistArray<B>> {
        let (k, shape) = (self.axis(), self.shape().to_vec());
        let j = (0..shape.len())
            .filter(|&j| j != k)
            .max_by_key(|&j| shape[j])
            .unwrap_or(k);
        let nodes = self.distinct_engines();
        let across = |axis: usize| -> Vec<_> {
            partition::blocks(shape[axis], nodes.len())
                .into_iter()
                .zip(nodes.iter().copied())
                .collect()
        };
        let lanes = self.relayout(j, &across(j))?;
        let done: Vec<RemoteArray<B>> = lanes
            .blocks()
            .iter()
            .map(|b| b.run_op(op.clone(), b.shape().to_vec()))
            .collect();
        lanes.with_blocks(done).relayout(k, &across(k))
    }

    /// The elements as a 1-D array, each block flattened where it lives
    /// (in the array's order when it is split along axis 0; otherwise in
    /// some order, which is all that `unique`, percentiles and histograms
    /// need).
    fn flattened(&self) -> Result<DistArray<A>> {
        if self.ndim() == 1 {
            return Ok(self.clone());
        }
        let flat = self
            .blocks()
            .iter()
            .map(|b| b.reshape(&[b.len()]))
            .collect::<Result<Vec<_>>>()?;
        Ok(DistArray::from_blocks(flat, 0)?)
    }

    /// The array sorted (NaN last, as numpy sorts), split into balanced
    /// blocks as [`scatter_axis`](crate::ObjectHub::scatter_axis) splits;
    /// the data move engine to engine only. An n-D array is sorted along
    /// its distributed axis (every lane on its own, as numpy's
    /// `sort(axis=k)`): it is laid out anew split along its longest other
    /// axis, each engine sorts whole lanes, and the result is laid out back;
    /// engines beyond that axis's length have no part in it.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// let cluster = distob::Cluster::local(3).await?;
    /// let d = cluster.random(1).uniform::<f64>(&[1000], 0)?;
    /// let s = cluster.gather(&d.sort().await?).await?;
    /// assert!(s.as_slice().unwrap().windows(2).all(|w| w[0] <= w[1]));
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub async fn sort(&self) -> Result<DistArray<A>> {
        if self.is_empty() {
            return Ok(self.materialize());
        }
        if self.ndim() > 1 {
            return self.by_lanes(ArrayOp::Sort { axis: self.axis() });
        }
        let sorted = self.sorted_blocks();
        let exchange = self.exchange(&sorted, &[]).await?.0;
        let blocks = exchange
            .targets
            .into_iter()
            .map(|(_, runs, n)| merge_runs(runs, n))
            .collect::<Result<Vec<_>>>()?;
        Ok(DistArray::from_blocks(blocks, 0)?)
    }

    /// The indices that sort the array (a permutation, `i64`), split into
    /// balanced blocks; equal elements keep their order. For an n-D array,
    /// along the distributed axis: every lane's indices along that axis
    /// (numpy's `argsort(axis=k, kind="stable")`), laid out as
    /// [`sort`](Self::sort) lays them.
    pub async fn argsort(&self) -> Result<DistArray<i64>> {
        if self.is_empty() {
            return Ok(self.astype::<i64>());
        }
        if self.ndim() > 1 {
            let op = ArrayOp::ArgSort {
                axis: self.axis(),
                offset: 0,
            };
            return self.by_lanes(op);
        }
        let blocks = self.blocks();
        let starts = self.boundaries();
        let sorted = self.sorted_blocks();
        let indices: Vec<RemoteArray<i64>> = blocks
            .iter()
            .zip(&starts)
            .map(|(b, &s)| {
                let op = ArrayOp::ArgSort {
                    axis: 0,
                    offset: s as i64,
                };
                b.run_op(op, b.shape().to_vec())
            })
            .collect();
        let (values, indices) = self.exchange(&sorted, &indices).await?;
        let mut out = Vec::new();
        for ((node, runs, n), idx) in values.targets.into_iter().zip(indices) {
            let v = super::concatenate(&runs, 0)?;
            let i = super::concatenate(&idx, 0)?;
            let (super::Placed::Remote(v), super::Placed::Remote(i)) = (v, i) else {
                return Err(ShapeError::LayoutMismatch.into());
            };
            debug_assert_eq!(v.node(), node);
            let perm: RemoteArray<i64> = v.run_op(ArrayOp::ArgSort { axis: 0, offset: 0 }, vec![n]);
            out.push(i.run_op_with(ArrayOp::TakeBy, &perm, vec![n]));
        }
        Ok(DistArray::from_blocks(out, 0)?)
    }

    /// The distinct elements, sorted, as a 1-D array (numpy's `unique`,
    /// which flattens an n-D array).
    pub async fn unique(&self) -> Result<DistArray<A>> {
        let sorted = self.flattened()?.sort().await?;
        if sorted.is_empty() {
            return Ok(sorted);
        }
        let blocks = sorted.blocks();
        let mut counts = Vec::with_capacity(blocks.len());
        let mut befores = Vec::with_capacity(blocks.len());
        for (j, b) in blocks.iter().enumerate() {
            let before = match j.checked_sub(1).map(|i| &blocks[i]) {
                Some(prev) if !prev.is_empty() => {
                    let n = prev.len();
                    Some(on_node(&prev.slice(range_of(n - 1..n))?, b.node())?)
                }
                _ => None,
            };
            counts.push(match &before {
                None => b.ask_op::<u64>(ArrayOp::UniqueCount),
                Some(p) => b.ask_op_with(ArrayOp::UniqueCount, p),
            });
            befores.push(before);
        }
        let counts = futures::future::try_join_all(counts).await?;
        let out = blocks
            .iter()
            .zip(befores)
            .zip(counts)
            .map(|((b, before), n)| match before {
                None => b.run_op(ArrayOp::Unique, vec![n as usize]),
                Some(p) => b.run_op_with(ArrayOp::Unique, &p, vec![n as usize]),
            })
            .collect();
        Ok(DistArray::from_blocks(out, 0)?)
    }

    /// The `q`-th percentile (`0 ≤ q ≤ 100`) of all the elements,
    /// interpolated linearly between the two nearest ranks as numpy's
    /// default does (NaN if any element is NaN).
    pub async fn percentile(&self, q: f64) -> Result<f64> {
        let n = self.len();
        if !(0.0..=100.0).contains(&q) {
            return Err(ShapeError::Percentile(q).into());
        }
        if n == 0 {
            return Err(ShapeError::Empty { op: Reduce::Mean }.into());
        }
        let sorted = self.flattened()?.sort().await?;
        // Any NaN (sorted last) makes the percentile NaN, as in numpy.
        if sorted.element(n - 1).await?.is_nan() {
            return Ok(f64::NAN);
        }
        let pos = q / 100.0 * (n - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        let (a, b) = (sorted.element(lo).await?, sorted.element(hi).await?);
        Ok(a + (b - a) * (pos - lo as f64))
    }

    /// The median (the 50th percentile).
    pub async fn median(&self) -> Result<f64> {
        self.percentile(50.0).await
    }

    /// Element `i` (of a 1-D array), as `f64`.
    async fn element(&self, i: usize) -> Result<f64> {
        let bounds = self.boundaries();
        let block = bounds
            .windows(2)
            .position(|w| w[0] <= i && i < w[1])
            .unwrap_or(0);
        let at = i - bounds[block];
        let one = self.blocks()[block].slice(range_of(at..at + 1))?;
        let one = one.astype::<f64>().fetch().await?;
        Ok(one.iter().next().copied().unwrap_or(f64::NAN))
    }

    /// Counts of the elements in `bins` equal bins over `[lo, hi]` (the last
    /// bin includes `hi`; elements outside it are not counted, as numpy's
    /// `histogram` with a `range`): each engine counts its block, and the
    /// counts are summed engine to engine. The bin edges are
    /// `linspace(lo, hi, bins + 1)`.
    pub fn histogram(&self, bins: usize, lo: f64, hi: f64) -> Result<RemoteArray<i64>> {
        let parts = self
            .blocks()
            .iter()
            .map(|b| b.run_op(ArrayOp::Histogram { bins, lo, hi }, vec![bins]))
            .collect();
        merge_tree(parts, Reduce::Sum)
    }

    fn sorted_blocks(&self) -> Vec<RemoteArray<A>> {
        self.blocks()
            .iter()
            .map(|b| b.run_op(ArrayOp::Sort { axis: 0 }, b.shape().to_vec()))
            .collect()
    }

    /// Splits the sorted blocks at the ranks of the balanced layout and
    /// sends each run to the engine that owns its ranks; `with` (blocks of
    /// indices paired with the sorted blocks) is split the same way.
    async fn exchange(
        &self,
        sorted: &[RemoteArray<A>],
        with: &[RemoteArray<i64>],
    ) -> Result<(Exchange<A>, Vec<Vec<RemoteArray<i64>>>)> {
        let mut engines: Vec<NodeId> = self.engines();
        engines.dedup();
        let ranges = super::partition::blocks(self.len(), engines.len());
        let boundaries = ranges.iter().skip(1).map(|r| cut_at(sorted, r.start));
        let mut cuts: Vec<Vec<usize>> = vec![vec![0; sorted.len()]];
        cuts.extend(futures::future::try_join_all(boundaries).await?);
        cuts.push(sorted.iter().map(|b| b.len()).collect());
        let mut targets = Vec::with_capacity(ranges.len());
        let mut paired = Vec::with_capacity(ranges.len());
        for (j, (range, node)) in ranges.iter().zip(engines).enumerate() {
            let (mut runs, mut idx) = (Vec::new(), Vec::new());
            for (i, b) in sorted.iter().enumerate() {
                let (from, to) = (cuts[j][i], cuts[j + 1][i]);
                if to <= from {
                    continue;
                }
                runs.push(on_node(&b.slice(range_of(from..to))?, node)?);
                if let Some(x) = with.get(i) {
                    idx.push(on_node(&x.slice(range_of(from..to))?, node)?);
                }
            }
            targets.push((node, runs, range.len()));
            paired.push(idx);
        }
        Ok((Exchange { targets }, paired))
    }
}

/// Pivots each block offers per round of [`cut_at`].
const PIVOTS: usize = 64;

/// Where, in each sorted block, the `r` smallest elements of all of them
/// end: positions summing to `r`. Each block keeps a window known to hold
/// its cut; each round every block offers pivots evenly spaced over its
/// window, every block gives every pivot's rank, and the windows close in
/// to the nearest pivots below and above rank `r` (a factor of about
/// [`PIVOTS`] a round) until a pivot's ties straddle `r` (they are shared
/// out) or the windows are empty.
async fn cut_at<A: Element + Value + PartialOrd>(
    sorted: &[RemoteArray<A>],
    r: usize,
) -> Result<Vec<usize>> {
    let (mut lo, mut hi): (Vec<usize>, Vec<usize>) = (
        vec![0; sorted.len()],
        sorted.iter().map(|b| b.len()).collect(),
    );
    while lo.iter().zip(&hi).any(|(l, h)| l < h) {
        let offers = futures::future::try_join_all(sorted.iter().enumerate().map(|(i, b)| {
            b.ask_op::<Vec<A>>(ArrayOp::Spaced {
                lo: lo[i],
                hi: hi[i],
                k: PIVOTS,
            })
        }))
        .await?;
        let pivots: Vec<A> = offers.into_iter().flatten().collect();
        let ranks = futures::future::try_join_all(sorted.iter().map(|b| {
            b.ask_op::<Vec<(u64, u64)>>(ArrayOp::Ranks {
                values: pivots.clone(),
            })
        }))
        .await?;
        for c in 0..pivots.len() {
            let below: usize = ranks.iter().map(|rk| rk[c].0 as usize).sum();
            let upto: usize = ranks.iter().map(|rk| rk[c].1 as usize).sum();
            if r < below {
                for (h, rk) in hi.iter_mut().zip(&ranks) {
                    *h = (*h).min(rk[c].0 as usize);
                }
            } else if r > upto {
                for (l, rk) in lo.iter_mut().zip(&ranks) {
                    *l = (*l).max(rk[c].1 as usize);
                }
            } else {
                // The pivot's ties straddle rank r: share them out in order.
                let mut left = r - below;
                return Ok(ranks
                    .iter()
                    .map(|rk| {
                        let (lt, le) = (rk[c].0 as usize, rk[c].1 as usize);
                        let take = left.min(le - lt);
                        left -= take;
                        lt + take
                    })
                    .collect());
            }
        }
    }
    Ok(lo)
}

/// Sorted runs on one engine merged pairwise into one.
fn merge_runs<A: Element + Value>(
    mut runs: Vec<RemoteArray<A>>,
    n: usize,
) -> Result<RemoteArray<A>> {
    while runs.len() > 1 {
        let mut next = Vec::with_capacity(runs.len().div_ceil(2));
        let mut it = runs.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => {
                    let len = a.len() + b.len();
                    next.push(a.run_op_with(ArrayOp::MergeSorted, &b, vec![len]));
                }
                None => next.push(a),
            }
        }
        runs = next;
    }
    let one = runs.pop().ok_or(ShapeError::NoBlocks)?;
    debug_assert_eq!(one.len(), n);
    Ok(one)
}
