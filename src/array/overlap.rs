//! Stencils over distributed arrays: each block gets `depth` neighbouring
//! rows (along the distributed axis) from the blocks beside it, copied
//! engine to engine (a halo exchange), a registered function runs on the
//! padded block, and the halo is trimmed off its result.

use super::dist::tree::on_node;
use super::dist::DistArray;
use super::remote_array::RemoteArray;
use super::ShapeError;
use crate::call::RemoteFn;
use crate::error::Result;
use crate::value::{Element, Value};
use ndarray::{ArrayD, SliceInfoElem};

/// What a stencil sees beyond the ends of the whole array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Boundary {
    /// Nothing: the first and last blocks get no halo at the array's ends
    /// (the function sees the end as an end).
    None,
    /// The rows at the end mirrored, the end row included (numpy's
    /// `pad(mode="symmetric")`): before row 0 come rows 0, 1, …
    Reflect,
    /// The array wrapped around: before the first row come the last rows.
    Periodic,
}

/// Rows `from..to` (negative step: reversed) of `b` along `axis`.
fn rows<A: Element + Value>(
    b: &RemoteArray<A>,
    axis: usize,
    from: usize,
    to: usize,
    reversed: bool,
) -> Result<RemoteArray<A>> {
    let mut sel = vec![
        SliceInfoElem::Slice {
            start: 0,
            end: None,
            step: 1
        };
        b.ndim()
    ];
    sel[axis] = SliceInfoElem::Slice {
        start: from as isize,
        end: Some(to as isize),
        step: if reversed { -1 } else { 1 },
    };
    b.slice(sel)
}

impl<A: Element + Value> DistArray<A> {
    /// `f` (a `#[distob::function]` of a block, giving an array of the
    /// same shape) on every block padded with `depth` rows of its
    /// neighbours along the distributed axis, the halo trimmed off the
    /// result (Dask's `map_overlap`). Every block must hold at least
    /// `depth` rows (a [`ShapeError::DepthTooLarge`] at once otherwise:
    /// halos never reach past the next block); re-split with
    /// [`relayout`](DistArray::relayout) first if they do not.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// use distob::array::Boundary;
    /// use ndarray::ArrayD;
    /// /// One step of 1-D diffusion (the ends kept).
    /// #[distob::function]
    /// fn diffuse(x: &ArrayD<f64>) -> ArrayD<f64> {
    ///     let mut out = x.clone();
    ///     for i in 1..x.len().saturating_sub(1) {
    ///         out[i] = x[i] + 0.25 * (x[i - 1] - 2.0 * x[i] + x[i + 1]);
    ///     }
    ///     out
    /// }
    /// let cluster = distob::Cluster::local(3).await?;
    /// let x = ArrayD::from_shape_fn(ndarray::IxDyn(&[9]), |i| if i[0] == 4 { 1.0 } else { 0.0 });
    /// let d = cluster.scatter_axis(x.clone(), 0).await?;
    /// let step = cluster.gather(&d.map_overlap(1, Boundary::None, diffuse)?).await?;
    /// assert_eq!(step, diffuse(&x));
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn map_overlap<F, B>(&self, depth: usize, boundary: Boundary, f: F) -> Result<DistArray<B>>
    where
        F: RemoteFn<ArrayD<A>, (), ArrayD<B>> + Copy,
        B: Element + Value,
    {
        let k = self.axis();
        let blocks = self.blocks();
        let lens = self.block_lens();
        if let Some(&short) = lens.iter().filter(|&&l| l < depth).min() {
            return Err(ShapeError::DepthTooLarge {
                depth,
                block: short,
            }
            .into());
        }
        let last = blocks.len() - 1;
        let out = blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let before = match (i, boundary) {
                    _ if depth == 0 => None,
                    (0, Boundary::None) => None,
                    (0, Boundary::Reflect) => Some(rows(b, k, 0, depth, true)?),
                    (0, Boundary::Periodic) => {
                        let n = lens[last];
                        Some(rows(&blocks[last], k, n - depth, n, false)?)
                    }
                    _ => Some(rows(
                        &blocks[i - 1],
                        k,
                        lens[i - 1] - depth,
                        lens[i - 1],
                        false,
                    )?),
                };
                let after = match (i == last, boundary) {
                    _ if depth == 0 => None,
                    (true, Boundary::None) => None,
                    (true, Boundary::Reflect) => Some(rows(b, k, lens[i] - depth, lens[i], true)?),
                    (true, Boundary::Periodic) => Some(rows(&blocks[0], k, 0, depth, false)?),
                    _ => Some(rows(&blocks[i + 1], k, 0, depth, false)?),
                };
                let front = before.as_ref().map_or(0, |_| depth);
                let mut parts = Vec::with_capacity(3);
                if let Some(h) = before {
                    parts.push(on_node(&h, b.node())?);
                }
                parts.push(b.clone());
                if let Some(h) = after {
                    parts.push(on_node(&h, b.node())?);
                }
                let padded = match super::concatenate(&parts, k as isize)? {
                    super::Placed::Remote(r) => r,
                    super::Placed::Dist(_) => return Err(ShapeError::LayoutMismatch.into()),
                };
                let result: RemoteArray<B> =
                    padded.apply_into(f, (), Some(padded.shape().to_vec()));
                rows(&result, k, front, front + lens[i], false)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DistArray::from_blocks(out, k as isize)?)
    }
}
