//! Arrays made where they will live: each engine makes its own block of a
//! [`DistArray`] (or one engine a whole [`RemoteArray`]); the client sends
//! a few bytes per block and no array data.

use super::dist::DistArray;
use super::engine::create::{function_name, BlockInfo, Fill, Made};
use super::partition::{self, resolve_axis};
use super::remote_array::RemoteArray;
use super::ShapeError;
use crate::call::RemoteFn;
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::proxy::ObjectHub;
use crate::value::{Element, Value};
use ndarray::ArrayD;

/// Random arrays of one seed, made on the engines (see
/// [`ObjectHub::random`]): counter-based, so the same seed gives the same
/// array whatever the number of engines and the block layout.
#[derive(Clone, Copy, Debug)]
pub struct Random<'a> {
    hub: &'a ObjectHub,
    seed: u64,
}

impl Random<'_> {
    /// Uniform numbers in `[0, 1)`.
    pub fn uniform<A: Element + Value>(
        &self,
        shape: &[usize],
        axis: isize,
    ) -> Result<DistArray<A>> {
        self.uniform_in(0.0, 1.0, shape, axis)
    }

    /// Uniform numbers in `[lo, hi)`.
    pub fn uniform_in<A: Element + Value>(
        &self,
        lo: f64,
        hi: f64,
        shape: &[usize],
        axis: isize,
    ) -> Result<DistArray<A>> {
        let fill = Fill::Uniform {
            seed: self.seed,
            lo,
            hi,
        };
        self.hub.made(shape, axis, fill)
    }

    /// Standard normal numbers (mean 0, standard deviation 1).
    pub fn normal<A: Element + Value>(&self, shape: &[usize], axis: isize) -> Result<DistArray<A>> {
        self.normal_with(0.0, 1.0, shape, axis)
    }

    /// Normal numbers of this mean and standard deviation.
    pub fn normal_with<A: Element + Value>(
        &self,
        mean: f64,
        std: f64,
        shape: &[usize],
        axis: isize,
    ) -> Result<DistArray<A>> {
        let fill = Fill::Normal {
            seed: self.seed,
            mean,
            std,
        };
        self.hub.made(shape, axis, fill)
    }

    /// Integers uniform in `[lo, hi)` (exact within ±2⁵³).
    pub fn integers<A: Element + Value>(
        &self,
        lo: i64,
        hi: i64,
        shape: &[usize],
        axis: isize,
    ) -> Result<DistArray<A>> {
        if lo >= hi {
            return Err(crate::Error::Refused {
                message: format!("integers in [{lo}, {hi}): an empty range"),
            });
        }
        let fill = Fill::Integers {
            seed: self.seed,
            lo,
            hi,
        };
        self.hub.made(shape, axis, fill)
    }

    /// Standard normal numbers as one array on engine `node`.
    pub fn normal_on<A: Element + Value>(
        &self,
        node: NodeId,
        shape: &[usize],
    ) -> Result<RemoteArray<A>> {
        let fill = Fill::Normal {
            seed: self.seed,
            mean: 0.0,
            std: 1.0,
        };
        self.hub.made_on(node, shape, fill)
    }
}

impl ObjectHub {
    /// An array of zeros, split along `axis` over the engines as
    /// [`scatter_axis`](ObjectHub::scatter_axis) would split it, each block
    /// made on its engine.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// let cluster = distob::Cluster::local(2).await?;
    /// let z = cluster.hub().zeros::<f64>(&[4, 3], 0)?;
    /// assert_eq!(cluster.gather(&z).await?, ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[4, 3])));
    /// let r = cluster.hub().random(7).normal::<f64>(&[1000], 0)?;
    /// assert!(r.mean().await?.abs() < 0.2);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn zeros<A: Element + Value>(&self, shape: &[usize], axis: isize) -> Result<DistArray<A>> {
        self.full(shape, 0.0, axis)
    }

    /// An array of ones (see [`zeros`](ObjectHub::zeros)).
    pub fn ones<A: Element + Value>(&self, shape: &[usize], axis: isize) -> Result<DistArray<A>> {
        self.full(shape, 1.0, axis)
    }

    /// An array with every element `v` (as `A`, `as` semantics).
    pub fn full<A: Element + Value>(
        &self,
        shape: &[usize],
        v: f64,
        axis: isize,
    ) -> Result<DistArray<A>> {
        self.made(shape, axis, Fill::Const(v))
    }

    /// `start, start + step, …` below `stop` (numpy's `arange`, ndarray's
    /// `Array::range`), 1-D, computed in `f64`.
    pub fn arange<A: Element + Value>(
        &self,
        start: f64,
        stop: f64,
        step: f64,
    ) -> Result<DistArray<A>> {
        let n = if step == 0.0 || !((stop - start) / step).is_finite() {
            0
        } else {
            ((stop - start) / step).ceil().max(0.0) as usize
        };
        self.made(&[n], 0, Fill::Range { start, step })
    }

    /// `n` numbers evenly from `start` to `stop` inclusive (numpy's and
    /// ndarray's `linspace`), 1-D, computed in `f64`.
    pub fn linspace<A: Element + Value>(
        &self,
        start: f64,
        stop: f64,
        n: usize,
    ) -> Result<DistArray<A>> {
        let step = if n > 1 {
            (stop - start) / (n - 1) as f64
        } else {
            0.0
        };
        self.made(&[n], 0, Fill::Range { start, step })
    }

    /// Random arrays of `seed` (see [`Random`]).
    pub fn random(&self, seed: u64) -> Random<'_> {
        Random { hub: self, seed }
    }

    /// An array whose blocks a registered function (`#[distob::function]`
    /// of a [`BlockInfo`]) makes, each on its engine.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// use distob::array::BlockInfo;
    /// use ndarray::ArrayD;
    /// #[distob::function]
    /// fn rows(b: &BlockInfo) -> ArrayD<f64> {
    ///     ArrayD::from_shape_fn(b.block_shape(), |i| (b.start + i[0]) as f64)
    /// }
    /// let cluster = distob::Cluster::local(2).await?;
    /// let d = cluster.hub().from_fn(&[5, 2], 0, rows)?;
    /// assert_eq!(cluster.gather(&d).await?[[4, 1]], 4.0);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn from_fn<A, F>(&self, shape: &[usize], axis: isize, f: F) -> Result<DistArray<A>>
    where
        A: Element + Value,
        F: RemoteFn<BlockInfo, (), ArrayD<A>> + Copy,
    {
        self.laid_out(shape, axis, |node, info| {
            let block = info.block_shape();
            let (spec, sent) = self.put(node, info)?;
            drop(sent);
            Ok(spec.apply_into(f, (), Some(block)))
        })
    }

    /// An array of zeros on engine `node`.
    pub fn zeros_on<A: Element + Value>(
        &self,
        node: NodeId,
        shape: &[usize],
    ) -> Result<RemoteArray<A>> {
        self.made_on(node, shape, Fill::Const(0.0))
    }

    /// An array of ones on engine `node`.
    pub fn ones_on<A: Element + Value>(
        &self,
        node: NodeId,
        shape: &[usize],
    ) -> Result<RemoteArray<A>> {
        self.made_on(node, shape, Fill::Const(1.0))
    }

    /// An array with every element `v` on engine `node`.
    pub fn full_on<A: Element + Value>(
        &self,
        node: NodeId,
        shape: &[usize],
        v: f64,
    ) -> Result<RemoteArray<A>> {
        self.made_on(node, shape, Fill::Const(v))
    }

    pub(super) fn made<A: Element + Value>(
        &self,
        shape: &[usize],
        axis: isize,
        fill: Fill,
    ) -> Result<DistArray<A>> {
        self.laid_out(shape, axis, |node, info| {
            self.make_block(node, Made { info, fill })
        })
    }

    fn made_on<A: Element + Value>(
        &self,
        node: NodeId,
        shape: &[usize],
        fill: Fill,
    ) -> Result<RemoteArray<A>> {
        let info = BlockInfo {
            shape: shape.to_vec(),
            axis: 0,
            start: 0,
            len: shape.first().copied().unwrap_or(1),
        };
        self.make_block(node, Made { info, fill })
    }

    fn make_block<A: Element + Value>(&self, node: NodeId, made: Made) -> Result<RemoteArray<A>> {
        let block = made.info.block_shape();
        let (spec, sent) = self.put(node, made)?;
        // The put goes first on the same connection; its failure surfaces
        // in the block.
        drop(sent);
        Ok(spec.apply_named_into(function_name(A::DTYPE), &(), Some(block)))
    }

    /// The blocks of `shape` split along `axis` as `scatter_axis` splits,
    /// each made on its engine by `make`.
    pub(super) fn laid_out<A: Element + Value>(
        &self,
        shape: &[usize],
        axis: isize,
        make: impl Fn(NodeId, BlockInfo) -> Result<RemoteArray<A>>,
    ) -> Result<DistArray<A>> {
        let (k, plan) = self.block_plan(shape, axis)?;
        let blocks = plan
            .into_iter()
            .map(|(node, info)| make(node, info))
            .collect::<Result<Vec<_>>>()?;
        Ok(DistArray::assemble(blocks, k, shape.to_vec(), Vec::new()))
    }

    /// Where the blocks of `shape` split along `axis` go (as
    /// `scatter_axis` splits), and the axis resolved.
    pub(super) fn block_plan(
        &self,
        shape: &[usize],
        axis: isize,
    ) -> Result<(usize, Vec<(NodeId, BlockInfo)>)> {
        let ndim = shape.len();
        let k = resolve_axis(axis, ndim).ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
        let engines = self.engines();
        if engines.is_empty() {
            return Err(Error::HubClosed);
        }
        let plan = partition::blocks(shape[k], engines.len())
            .into_iter()
            .zip(engines)
            .map(|(range, node)| {
                let info = BlockInfo {
                    shape: shape.to_vec(),
                    axis: k,
                    start: range.start,
                    len: range.len(),
                };
                (node, info)
            })
            .collect();
        Ok((k, plan))
    }
}

impl crate::Cluster {
    /// Zeros made on the engines (see [`ObjectHub::zeros`]).
    pub fn zeros<A: Element + Value>(&self, shape: &[usize], axis: isize) -> Result<DistArray<A>> {
        self.hub().zeros(shape, axis)
    }

    /// Ones made on the engines (see [`ObjectHub::ones`]).
    pub fn ones<A: Element + Value>(&self, shape: &[usize], axis: isize) -> Result<DistArray<A>> {
        self.hub().ones(shape, axis)
    }

    /// Every element `v`, made on the engines (see [`ObjectHub::full`]).
    pub fn full<A: Element + Value>(
        &self,
        shape: &[usize],
        v: f64,
        axis: isize,
    ) -> Result<DistArray<A>> {
        self.hub().full(shape, v, axis)
    }

    /// A range made on the engines (see [`ObjectHub::arange`]).
    pub fn arange<A: Element + Value>(
        &self,
        start: f64,
        stop: f64,
        step: f64,
    ) -> Result<DistArray<A>> {
        self.hub().arange(start, stop, step)
    }

    /// Evenly spaced numbers made on the engines (see [`ObjectHub::linspace`]).
    pub fn linspace<A: Element + Value>(
        &self,
        start: f64,
        stop: f64,
        n: usize,
    ) -> Result<DistArray<A>> {
        self.hub().linspace(start, stop, n)
    }

    /// Random arrays of `seed` made on the engines (see [`Random`]).
    pub fn random(&self, seed: u64) -> Random<'_> {
        self.hub().random(seed)
    }

    /// Blocks made by a registered function (see [`ObjectHub::from_fn`]).
    pub fn from_fn<A, F>(&self, shape: &[usize], axis: isize, f: F) -> Result<DistArray<A>>
    where
        A: Element + Value,
        F: RemoteFn<BlockInfo, (), ArrayD<A>> + Copy,
    {
        self.hub().from_fn(shape, axis, f)
    }
}
