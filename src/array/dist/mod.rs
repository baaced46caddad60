//! [`DistArray`]: one array split along one axis over many engines, and
//! the planning that is its alone: reductions over everything,
//! elementwise work with other operands, re-splitting, and partials
//! merged engine to engine.

pub(crate) mod ops;
pub(crate) mod reduce;
pub(crate) mod shape;
pub(crate) mod tree;

use crate::array::kinds::{BinOp, Cmp, ElemOp, Unary};
use crate::array::partition::{self, resolve_axis};
use crate::array::remote_array::RemoteArray;
use crate::array::ShapeError;
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::proxy::{Call, Gather, ObjectHub};
use crate::value::{DType, Element, Value};
use futures::future::BoxFuture;
use ndarray::{ArrayD, Axis, Slice};
use std::fmt;

/// One logical array split along one axis into [`RemoteArray`] blocks on
/// many engines. Shape, axis and block boundaries are known on the client;
/// elementwise operations run on every block at once and give a `DistArray`
/// of the same layout, without moving data; reductions move only each
/// block's partial result.
///
/// Elementwise operations are fused: `d.sin() * 2.0 + 1.0` sends nothing
/// yet, and the whole chain runs on each engine in one pass over its block
/// when the result is consumed — by a reduction (then no array is made for
/// it at all), a gather, [`blocks`](DistArray::blocks), or an explicit
/// [`materialize`](DistArray::materialize), which keeps the result on the
/// engines for reuse.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// use ndarray::{ArrayD, IxDyn};
/// let cluster = distob::Cluster::local(4).await?;
/// let x = ArrayD::from_shape_fn(IxDyn(&[10]), |i| i[0] as f64);
/// let d = cluster.scatter_axis(x.clone(), 0).await?;
/// assert_eq!(d.block_lens(), vec![3, 3, 3, 1]);
/// assert_eq!(d.to_string(), "DistArray<f64> shape [10], axis 0 over 4 engines (3,3,3,1)");
/// let y = d.sin() * 2.0 + 1.0;            // queued on every engine at once
/// let total: f64 = y.sum().await?;
/// assert!((total - x.mapv(|v| v.sin() * 2.0 + 1.0).sum()).abs() < 1e-9);
/// assert_eq!(cluster.gather(&d).await?, x);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub struct DistArray<A> {
    pub(super) blocks: Vec<RemoteArray<A>>,
    pub(super) axis: usize,
    pub(super) shape: Vec<usize>,
    /// Elementwise steps not applied yet (see the type's docs).
    pub(super) chain: Vec<ElemOp>,
}

macro_rules! dist_unary {
    ($($t:tt)*) => { crate::array::methods::unary_methods!(DistArray<A>; $($t)*); };
}

macro_rules! dist_comparisons {
    ($($t:tt)*) => { crate::array::methods::comparison_methods!(DistArray<bool>; $($t)*); };
}

impl<A> Clone for DistArray<A> {
    fn clone(&self) -> Self {
        DistArray {
            blocks: self.blocks.clone(),
            axis: self.axis,
            shape: self.shape.clone(),
            chain: self.chain.clone(),
        }
    }
}

impl ObjectHub {
    /// Splits `a` along `axis` (negative counts from the end) into blocks of
    /// `ceil(n / engines)`, the last shorter, one per engine in node order
    /// (fewer blocks when there are fewer elements than engines). A
    /// [`Transfer`](crate::call::Transfer): it can report its progress.
    pub fn scatter_axis<A: Element + Value>(
        &self,
        a: ArrayD<A>,
        axis: isize,
    ) -> crate::proxy::Transfer<'_, DistArray<A>> {
        crate::proxy::Transfer::new(move |meter| self.scatter_axis_noted(a, axis, meter))
    }

    async fn scatter_axis_noted<A: Element + Value>(
        &self,
        a: ArrayD<A>,
        axis: isize,
        meter: std::sync::Arc<crate::proxy::progress::Meter>,
    ) -> Result<DistArray<A>> {
        let ndim = a.ndim();
        let k = resolve_axis(axis, ndim).ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
        let engines = self.engines();
        if engines.is_empty() {
            return Err(Error::HubClosed);
        }
        let ranges = partition::blocks(a.len_of(Axis(k)), engines.len());
        let mut blocks = Vec::with_capacity(ranges.len());
        let mut acks = Vec::with_capacity(ranges.len());
        for (range, node) in ranges.into_iter().zip(engines) {
            let block = a
                .slice_axis(Axis(k), Slice::from(range))
                .as_standard_layout()
                .into_owned();
            let (remote, ack) = self.put_noted(node, block, Some(&meter))?;
            blocks.push(remote);
            acks.push(ack);
        }
        for ack in acks {
            ack.await?;
        }
        let shape = a.shape().to_vec();
        Ok(DistArray {
            blocks,
            axis: k,
            shape,
            chain: Vec::new(),
        })
    }
}

impl<A: Element + Value> DistArray<A> {
    /// A distributed array from arrays already on engines, joined along
    /// `axis`: their shapes must agree on every other axis.
    pub fn from_blocks(blocks: Vec<RemoteArray<A>>, axis: isize) -> Result<Self, ShapeError> {
        let first = blocks.first().ok_or(ShapeError::NoBlocks)?.known_shape()?;
        let ndim = first.len();
        let k = resolve_axis(axis, ndim).ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
        let mut shape = first.clone();
        shape[k] = 0;
        for b in &blocks {
            let s = b.known_shape()?;
            let fits = s.len() == ndim && (0..ndim).all(|i| i == k || s[i] == first[i]);
            if !fits {
                return Err(ShapeError::IncompatibleBlocks {
                    axis: k,
                    first: first.clone(),
                    other: s,
                });
            }
            shape[k] += s[k];
        }
        Ok(DistArray {
            blocks,
            axis: k,
            shape,
            chain: Vec::new(),
        })
    }

    /// New blocks laid out as this array's (same axis and shape), with no
    /// pending chain.
    pub(crate) fn with_blocks<B>(&self, blocks: Vec<RemoteArray<B>>) -> DistArray<B> {
        DistArray {
            blocks,
            axis: self.axis,
            shape: self.shape.clone(),
            chain: Vec::new(),
        }
    }

    /// Puts blocks together as they are (the crate's own constructors,
    /// which know the blocks fit).
    pub(crate) fn assemble(
        blocks: Vec<RemoteArray<A>>,
        axis: usize,
        shape: Vec<usize>,
        chain: Vec<ElemOp>,
    ) -> Self {
        DistArray {
            blocks,
            axis,
            shape,
            chain,
        }
    }

    /// The blocks as they are and the elementwise steps still pending.
    pub(crate) fn parts(&self) -> (&[RemoteArray<A>], &[ElemOp]) {
        (&self.blocks, &self.chain)
    }

    /// The whole array's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The distributed axis.
    pub fn axis(&self) -> usize {
        self.axis
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        A::DTYPE
    }

    /// The blocks, in order along the axis (any pending elementwise steps
    /// applied first, on the engines).
    pub fn blocks(&self) -> Vec<RemoteArray<A>> {
        self.materialize().blocks
    }

    /// The same array with its pending elementwise steps applied and kept
    /// on the engines (one pass per block; handles at once).
    pub fn materialize(&self) -> DistArray<A> {
        if self.chain.is_empty() {
            return self.clone();
        }
        DistArray {
            blocks: self
                .blocks
                .iter()
                .map(|b| b.map_chain(&self.chain))
                .collect(),
            axis: self.axis,
            shape: self.shape.clone(),
            chain: Vec::new(),
        }
    }

    /// Each block's length along the axis.
    pub fn block_lens(&self) -> Vec<usize> {
        self.blocks
            .iter()
            .map(|b| b.shape().get(self.axis).copied().unwrap_or(0))
            .collect()
    }

    /// Where blocks start and end along the axis: `[0, …, n]`.
    pub fn boundaries(&self) -> Vec<usize> {
        partition::boundaries(&self.block_lens())
    }

    /// The engine of each block.
    pub fn engines(&self) -> Vec<NodeId> {
        self.blocks.iter().map(|b| b.node()).collect()
    }

    pub(super) fn then(&self, step: ElemOp) -> DistArray<A> {
        let mut next = self.clone();
        next.chain.push(step);
        next
    }

    /// An elementwise function on every block.
    pub fn unary(&self, op: Unary) -> DistArray<A> {
        self.then(ElemOp::Unary(op))
    }

    /// `self op s` (or `s op self`) on every block.
    pub fn scalar(&self, op: BinOp, s: f64, scalar_left: bool) -> DistArray<A> {
        self.then(ElemOp::Scalar(op, s, scalar_left))
    }

    /// `self op other`, block by block: for distributed arrays split the
    /// same way (shape, axis, block lengths and engines) no data moves; an
    /// `other` of the same shape split another way is first re-split to
    /// match, engine to engine ([`relayout`](DistArray::relayout)); an
    /// `other` of a shape that broadcasts is gathered onto one engine
    /// (engine to engine) and broadcast against every block
    /// ([`try_binary_remote`](DistArray::try_binary_remote)).
    pub fn try_binary(&self, op: BinOp, other: &DistArray<A>) -> Result<DistArray<A>> {
        if self.shape != other.shape {
            // Shapes that broadcast: gather the other onto one engine (engine
            // to engine) and broadcast it against every block.
            crate::array::broadcast_shape(&self.shape, &other.shape).ok_or(
                ShapeError::Broadcast {
                    a: self.shape.clone(),
                    b: other.shape.clone(),
                },
            )?;
            let node = other.engines().first().copied().unwrap_or(NodeId(0));
            let whole = other.relayout(other.axis, &[(0..other.shape[other.axis], node)])?;
            let one = whole.blocks.first().cloned().ok_or(ShapeError::NoBlocks)?;
            return self.try_binary_remote(op, &one);
        }
        let same = self.axis == other.axis
            && self.block_lens() == other.block_lens()
            && self.engines() == other.engines();
        let other = if same {
            other.materialize()
        } else {
            other.relayout(self.axis, &self.layout())?
        };
        let (a, b) = (self.materialize(), other);
        let blocks = a
            .blocks
            .iter()
            .zip(&b.blocks)
            .map(|(x, y)| x.try_binary(op, y))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.with_blocks(blocks))
    }

    /// `self op= other`: this value becomes `self op other` (block by block,
    /// see [`try_binary`](Self::try_binary)); other copies keep theirs.
    pub fn assign_other(&mut self, op: BinOp, other: &DistArray<A>) -> Result<()> {
        *self = self.try_binary(op, other)?;
        Ok(())
    }

    /// `self op= s`: one more fused elementwise step on this value (other
    /// copies of this `DistArray` keep theirs).
    pub fn assign_scalar(&mut self, op: BinOp, s: f64) {
        self.chain.push(ElemOp::Scalar(op, s, false));
    }

    /// A registered function (`#[distob::function]`) applied to every
    /// block on its engine, its results kept there as the blocks of a new
    /// distributed array (dask's `map_blocks`). `f` must give each block
    /// back in the same shape.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// use ndarray::{ArrayD, IxDyn};
    /// #[distob::function]
    /// fn cumsum(block: &ArrayD<f64>) -> ArrayD<f64> {
    ///     let mut out = block.clone();
    ///     out.accumulate_axis_inplace(ndarray::Axis(1), |&prev, cur| *cur += prev);
    ///     out
    /// }
    /// let cluster = distob::Cluster::local(2).await?;
    /// let x = ArrayD::from_elem(IxDyn(&[4, 3]), 1.0);
    /// let d = cluster.scatter_axis(x, 0).await?;
    /// let sums = d.map_blocks(cumsum);
    /// let back = cluster.gather(&sums).await?;
    /// let row: Vec<f64> = back.index_axis(ndarray::Axis(0), 3).iter().copied().collect();
    /// assert_eq!(row, vec![1.0, 2.0, 3.0]);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn map_blocks<F, B>(&self, f: F) -> DistArray<B>
    where
        F: crate::call::RemoteFn<ArrayD<A>, (), ArrayD<B>> + Copy,
        B: Element + Value,
    {
        let blocks = self
            .materialize()
            .blocks
            .iter()
            .map(|b| b.apply_into(f, (), Some(b.shape().to_vec())))
            .collect();
        self.with_blocks(blocks)
    }

    /// Every block mapped to another array of the same layout (pending
    /// steps applied first).
    pub(super) fn per_block<B>(
        &self,
        f: impl Fn(&RemoteArray<A>) -> RemoteArray<B>,
    ) -> DistArray<B> {
        self.with_blocks(self.materialize().blocks.iter().map(f).collect())
    }

    /// `x cmp s` for every element: a `bool` distributed array.
    pub fn compare(&self, cmp: Cmp, s: f64) -> DistArray<bool> {
        self.per_block(|b| b.compare(cmp, s))
    }

    crate::array::methods::for_each_comparison!(dist_comparisons);

    /// `xⁿ` elementwise (fused).
    pub fn powi(&self, n: i32) -> DistArray<A> {
        self.then(ElemOp::Powi(n))
    }

    /// `xʸ` elementwise (fused; float arrays).
    pub fn powf(&self, y: f64) -> DistArray<A> {
        self.then(ElemOp::Powf(y))
    }

    /// Where `cond` (split the same way) is true the element, elsewhere
    /// `other`, block by block.
    pub fn where_(&self, cond: &DistArray<bool>, other: f64) -> Result<DistArray<A>> {
        let alike = self.shape == cond.shape
            && self.axis == cond.axis
            && self.block_lens() == cond.block_lens()
            && self.engines() == cond.engines();
        if !alike {
            return Err(ShapeError::LayoutMismatch.into());
        }
        let conds = cond.blocks();
        let blocks = self
            .materialize()
            .blocks
            .iter()
            .zip(&conds)
            .map(|(b, c)| b.where_(c, other))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.with_blocks(blocks))
    }

    /// Every element limited to `[lo, hi]` (fused like other steps).
    pub fn clip(&self, lo: f64, hi: f64) -> DistArray<A> {
        self.then(ElemOp::Clip(lo, hi))
    }

    /// The array converted to element type `B`, block by block.
    pub fn astype<B: Element + Value>(&self) -> DistArray<B> {
        self.per_block(|b| b.astype::<B>())
    }

    crate::array::methods::for_each_unary!(dist_unary);
}

impl<A: Element + Value> Gather for DistArray<A> {
    type Output = ArrayD<A>;
    type Future = BoxFuture<'static, Result<ArrayD<A>>>;

    fn sizes(&self, out: &mut Vec<(crate::id::NodeId, u64)>) {
        for b in &self.blocks {
            let len: usize = b.known_shape().map_or(0, |s| s.iter().product());
            out.push((b.node(), (len * std::mem::size_of::<A>()) as u64));
        }
    }

    fn start_gather(&self) -> Self::Future {
        let blocks = self.materialize().blocks;
        let calls: Vec<Call<ArrayD<A>>> = blocks.iter().map(|b| b.fetch()).collect();
        let axis = self.axis;
        Box::pin(async move {
            let parts = futures::future::try_join_all(calls).await?;
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            Ok(ndarray::concatenate(Axis(axis), &views).map_err(ShapeError::from)?)
        })
    }
}

crate::array::scalar_operators!(DistArray<A>, DistArray<A>);
crate::array::assign_operators!(DistArray<A>);

impl<A: Element + Value> std::ops::Neg for &DistArray<A> {
    type Output = DistArray<A>;
    fn neg(self) -> DistArray<A> {
        self.unary(Unary::Neg)
    }
}

impl<A: Element + Value> fmt::Display for DistArray<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lens: Vec<String> = self.block_lens().iter().map(|l| l.to_string()).collect();
        write!(
            f,
            "DistArray<{}> shape {:?}, axis {} over {} engines ({})",
            A::DTYPE,
            self.shape,
            self.axis,
            self.blocks.len(),
            lens.join(",")
        )
    }
}

impl<A: Element + Value> fmt::Debug for DistArray<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
