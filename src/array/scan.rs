//! Cumulative sums and products. Along the distributed axis each block is
//! scanned on its engine starting from a carry: the running total of the
//! blocks before it, passed engine to engine (each engine adds its
//! block's total to the carry it got and copies the result to the next).

use super::dist::tree::{merge_pair, on_node};
use super::dist::DistArray;
use super::kinds::Reduce;
use super::kinds::Scan;
use super::partition::resolve_axis;
use super::protocol::ArrayOp;
use super::remote_array::RemoteArray;
use super::ShapeError;
use crate::error::Result;
use crate::value::{Element, Value};

impl<A: Element + Value> RemoteArray<A> {
    /// The cumulative sum along `axis` (negative counts from the end), on
    /// the engine.
    pub fn cumsum(&self, axis: isize) -> Result<RemoteArray<A>> {
        self.scan(Scan::Sum, axis)
    }

    /// The cumulative product along `axis`, on the engine.
    pub fn cumprod(&self, axis: isize) -> Result<RemoteArray<A>> {
        self.scan(Scan::Prod, axis)
    }

    fn scan(&self, op: Scan, axis: isize) -> Result<RemoteArray<A>> {
        let shape = self.known_shape()?;
        let ndim = shape.len();
        let k = resolve_axis(axis, ndim).ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
        Ok(self.run_op(ArrayOp::Scan { op, axis: k }, shape))
    }

    fn scan_from(&self, op: Scan, axis: usize, carry: &RemoteArray<A>) -> RemoteArray<A> {
        self.run_op_with(ArrayOp::ScanFrom { op, axis }, carry, self.shape().to_vec())
    }
}

impl<A: Element + Value> DistArray<A> {
    /// The cumulative sum along `axis` (numpy's `cumsum`), laid out as this
    /// array; along the distributed axis the carries pass engine to engine.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// let cluster = distob::Cluster::local(3).await?;
    /// let d = cluster.arange::<f64>(1.0, 8.0, 1.0)?;
    /// let c = cluster.gather(&d.cumsum(0)?).await?;
    /// assert_eq!(c.as_slice().unwrap(), &[1.0, 3.0, 6.0, 10.0, 15.0, 21.0, 28.0]);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn cumsum(&self, axis: isize) -> Result<DistArray<A>> {
        self.scan(Scan::Sum, axis)
    }

    /// The cumulative product along `axis` (numpy's `cumprod`).
    pub fn cumprod(&self, axis: isize) -> Result<DistArray<A>> {
        self.scan(Scan::Prod, axis)
    }

    fn scan(&self, op: Scan, axis: isize) -> Result<DistArray<A>> {
        let ndim = self.ndim();
        let k = resolve_axis(axis, ndim).ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
        let blocks = self.blocks();
        if k != self.axis() {
            let out = blocks
                .iter()
                .map(|b| b.scan(op, k as isize))
                .collect::<Result<Vec<_>>>()?;
            return Ok(self.with_blocks(out));
        }
        let total = match op {
            Scan::Sum => Reduce::Sum,
            Scan::Prod => Reduce::Prod,
        };
        // The carries first, each on its block's engine: each block's
        // total runs beside the other blocks' totals, and no engine's scan
        // waits behind its own.
        let mut carries: Vec<Option<RemoteArray<A>>> = vec![None];
        for (i, pair) in blocks.windows(2).enumerate() {
            let mine = pair[0].reduce_axis::<A>(total, k as isize, false)?;
            let through = match &carries[i] {
                None => mine,
                Some(c) => merge_pair(c, &mine, total)?,
            };
            carries.push(Some(on_node(&through, pair[1].node())?));
        }
        let out = blocks
            .iter()
            .zip(&carries)
            .map(|(b, carry)| match carry {
                None => b.scan(op, k as isize),
                Some(c) => Ok(b.scan_from(op, k, c)),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.with_blocks(out))
    }
}
