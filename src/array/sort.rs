//! Sorting and selection of 1-D distributed arrays, with the data moving
//! engine to engine. Each engine sorts its block; for every boundary of
//! the balanced result (the layout `scatter_axis` gives) the client finds
//! where in each sorted block the elements of lower rank end, by a
//! distributed selection (each round asks one engine for one element and
//! every engine for that element's rank in its block: a few values per
//! round, no array data); each block's runs go to the engines that own
//! their ranks, where they are merged. `unique`, `percentile` and `median`
//! build on it; `histogram` merges per-block counts.

use super::dist::tree::{merge_tree, on_node};
use super::dist::DistArray;
use super::engine::kernels::method;
use super::kinds::Reduce;
use super::remote_array::RemoteArray;
use super::ShapeError;
use crate::call::Invoke;
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
    fn check_1d(&self) -> Result<()> {
        if self.ndim() == 1 {
            Ok(())
        } else {
            Err(ShapeError::AxisOutOfRange {
                axis: 1,
                ndim: self.ndim(),
            }
            .into())
        }
    }

    /// The array sorted (NaN last, as numpy sorts), split into balanced
    /// blocks as [`scatter_axis`](crate::ObjectHub::scatter_axis) splits;
    /// the data move engine to engine only. 1-D arrays.
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
        self.check_1d()?;
        if self.is_empty() {
            return Ok(self.materialize());
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
    /// balanced blocks; equal elements keep their order.
    pub async fn argsort(&self) -> Result<DistArray<i64>> {
        self.check_1d()?;
        if self.is_empty() {
            return Ok(self.astype::<i64>());
        }
        let blocks = self.blocks();
        let starts = self.boundaries();
        let sorted = self.sorted_blocks();
        let indices: Vec<RemoteArray<i64>> = blocks
            .iter()
            .zip(&starts)
            .map(|(b, &s)| b.op_into(method::ARGSORT, &(s as i64,), b.shape().to_vec()))
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
            let perm: RemoteArray<i64> = v.op_into(method::ARGSORT, &(0i64,), vec![n]);
            out.push(i.combine_into(method::TAKE_BY, &(), &perm, vec![n]));
        }
        Ok(DistArray::from_blocks(out, 0)?)
    }

    /// The distinct elements, sorted (numpy's `unique`).
    pub async fn unique(&self) -> Result<DistArray<A>> {
        let sorted = self.sort().await?;
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
                None => b.invoke::<u64, std::convert::Infallible>(
                    method::UNIQUE_COUNT,
                    &(),
                    Invoke::default(),
                ),
                Some(p) => b.combine_call(method::UNIQUE_COUNT, &(), p),
            });
            befores.push(before);
        }
        let counts = futures::future::try_join_all(counts).await?;
        let out = blocks
            .iter()
            .zip(befores)
            .zip(counts)
            .map(|((b, before), n)| match before {
                None => b.op_into(method::UNIQUE, &(), vec![n as usize]),
                Some(p) => b.combine_into(method::UNIQUE, &(), &p, vec![n as usize]),
            })
            .collect();
        Ok(DistArray::from_blocks(out, 0)?)
    }

    /// The `q`-th percentile (`0 ≤ q ≤ 100`), interpolated linearly between
    /// the two nearest ranks as numpy's default does (NaN if any element
    /// is NaN).
    pub async fn percentile(&self, q: f64) -> Result<f64> {
        let n = self.len();
        if !(0.0..=100.0).contains(&q) {
            return Err(ShapeError::Percentile(q).into());
        }
        if n == 0 {
            return Err(ShapeError::Empty { op: Reduce::Mean }.into());
        }
        let sorted = self.sort().await?;
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
            .map(|b| b.op_into(method::HISTOGRAM, &(bins, lo, hi), vec![bins]))
            .collect();
        merge_tree(parts, Reduce::Sum)
    }

    fn sorted_blocks(&self) -> Vec<RemoteArray<A>> {
        self.blocks()
            .iter()
            .map(|b| b.op_into(method::SORT, &(), b.shape().to_vec()))
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
            b.invoke::<Vec<A>, std::convert::Infallible>(
                method::SPACED,
                &(lo[i], hi[i], PIVOTS),
                Invoke::default(),
            )
        }))
        .await?;
        let pivots: Vec<A> = offers.into_iter().flatten().collect();
        let ranks = futures::future::try_join_all(sorted.iter().map(|b| {
            b.invoke::<Vec<(u64, u64)>, std::convert::Infallible>(
                method::RANKS,
                &(pivots.clone(),),
                Invoke::default(),
            )
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
                    next.push(a.combine_into(method::MERGE_SORTED, &(), &b, vec![len]));
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
