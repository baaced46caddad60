//! Your own code on the blocks, with arguments: `map_blocks_with` keeps
//! each block's result as a block of a new distributed array, and
//! `map_reduce` merges the blocks' results engine to engine into one.

use super::dist::tree::merge_tree;
use super::dist::DistArray;
use super::index::Sel;
use super::kinds::Reduce;
use super::protocol::ArrayOp;
use super::remote_array::RemoteArray;
use crate::call::RemoteFn;
use crate::error::Result;
use crate::value::{Element, Value};
use ndarray::ArrayD;
use serde::Serialize;

impl<A: Element + Value> DistArray<A> {
    /// A registered function (`#[distob::function]`) of each block and
    /// `args` (sent with each block's call: once per engine when each
    /// engine holds one block), its results kept as the blocks of a new
    /// distributed array along the same axis. `shape_of` gives a result
    /// block's shape from its block's: any shape whose other axes agree
    /// between blocks (a [`ShapeError`](super::ShapeError) at once if
    /// they do not).
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// use ndarray::{ArrayD, Axis};
    /// #[distob::function]
    /// fn scaled_pairs(block: &ArrayD<f64>, by: f64) -> ArrayD<f64> {
    ///     ndarray::stack(Axis(1), &[block.view(), (block * by).view()]).unwrap()
    /// }
    /// let cluster = distob::Cluster::local(2).await?;
    /// let d = cluster.arange::<f64>(0.0, 4.0, 1.0)?;
    /// let pairs = d.map_blocks_with(scaled_pairs, (10.0,), |s| vec![s[0], 2])?;
    /// assert_eq!(pairs.shape(), &[4, 2]);
    /// assert_eq!(cluster.gather(&pairs).await?[[3, 1]], 30.0);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn map_blocks_with<F, Args, B>(
        &self,
        f: F,
        args: Args,
        shape_of: impl Fn(&[usize]) -> Vec<usize>,
    ) -> Result<DistArray<B>>
    where
        F: RemoteFn<ArrayD<A>, Args, ArrayD<B>> + Copy,
        Args: Serialize + Clone,
        B: Element + Value,
    {
        let blocks = self
            .blocks()
            .iter()
            .map(|b| b.apply_into(f, args.clone(), Some(shape_of(b.shape()))))
            .collect();
        Ok(DistArray::from_blocks(blocks, self.axis() as isize)?)
    }

    /// As [`map_blocks_with`](Self::map_blocks_with), with each result
    /// block's shape found from the engines (one small round trip, all
    /// blocks at once) instead of declared: blocks of any shapes whose
    /// other axes agree.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// use ndarray::ArrayD;
    /// #[distob::function]
    /// fn positives(block: &ArrayD<f64>, above: f64) -> ArrayD<f64> {
    ///     let kept: Vec<f64> = block.iter().copied().filter(|&x| x > above).collect();
    ///     ArrayD::from_shape_vec(ndarray::IxDyn(&[kept.len()]), kept).unwrap()
    /// }
    /// let cluster = distob::Cluster::local(2).await?;
    /// let d = cluster.arange::<f64>(-3.0, 5.0, 1.0)?;
    /// let p = d.map_blocks_found(positives, (0.0,)).await?;
    /// assert_eq!(p.shape(), &[4]);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub async fn map_blocks_found<F, Args, B>(&self, f: F, args: Args) -> Result<DistArray<B>>
    where
        F: RemoteFn<ArrayD<A>, Args, ArrayD<B>> + Copy,
        Args: Serialize + Clone,
        B: Element + Value,
    {
        let results: Vec<RemoteArray<B>> = self
            .blocks()
            .iter()
            .map(|b| b.apply_into(f, args.clone(), None))
            .collect();
        let shapes = futures::future::try_join_all(
            results
                .iter()
                .map(|r| r.ask_op::<Vec<usize>>(ArrayOp::Shape)),
        )
        .await?;
        // The same arrays under handles that know their shapes (whole-row
        // selections share the arrays' memory on the engines).
        let blocks = results
            .iter()
            .zip(shapes)
            .map(|(r, shape)| {
                let whole: Vec<Sel> = shape
                    .iter()
                    .map(|_| Sel::Slice {
                        start: 0,
                        end: None,
                        step: 1,
                    })
                    .collect();
                r.run_op(ArrayOp::Slice { sels: whole }, shape)
            })
            .collect();
        Ok(DistArray::from_blocks(blocks, self.axis() as isize)?)
    }

    /// A registered function of each block and `args`, whose results (one
    /// array per block, of one shape) are merged by `combine` — `Sum`,
    /// `Prod`, `Min` or `Max`, elementwise — engine to engine in a tree,
    /// into one array on one engine (Dask's `reduction`). Its shape is not
    /// known on the client until fetched.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// use distob::array::Reduce;
    /// use ndarray::ArrayD;
    /// #[distob::function]
    /// fn moments(block: &ArrayD<f64>, p: i32) -> ArrayD<f64> {
    ///     ndarray::arr1(&[block.len() as f64, block.mapv(|x| x.powi(p)).sum()]).into_dyn()
    /// }
    /// let cluster = distob::Cluster::local(3).await?;
    /// let d = cluster.arange::<f64>(0.0, 10.0, 1.0)?;
    /// let m = d.map_reduce(moments, (2,), Reduce::Sum)?.fetch().await?;
    /// assert_eq!(m.as_slice().unwrap(), &[10.0, 285.0]);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn map_reduce<F, Args, B>(
        &self,
        f: F,
        args: Args,
        combine: Reduce,
    ) -> Result<RemoteArray<B>>
    where
        F: RemoteFn<ArrayD<A>, Args, ArrayD<B>> + Copy,
        Args: Serialize + Clone,
        B: Element + Value,
    {
        if !matches!(
            combine,
            Reduce::Sum | Reduce::Prod | Reduce::Min | Reduce::Max
        ) {
            return Err(super::ShapeError::NotCombinable { op: combine }.into());
        }
        let parts = self
            .blocks()
            .iter()
            .map(|b| b.apply_into(f, args.clone(), None))
            .collect();
        merge_tree(parts, combine)
    }
}
