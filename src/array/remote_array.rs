//! [`RemoteArray`]: one `ndarray` array on one engine.

use super::kinds::{BinOp, Cmp, ElemOp, Reduce, Unary};
use super::partition::resolve_axis;
use super::protocol::ArrayOp;
use super::ShapeError;
use crate::error::Result;
use crate::proxy::{Call, Invoke, Remote};
use crate::value::{DType, Element, Value};
use ndarray::ArrayD;

/// One array on one engine: `Remote<ArrayD<A>>`, with its shape known on
/// the client. `scatter` of an `ArrayD` returns one; `fetch` or `gather`
/// brings it back.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// use ndarray::{ArrayD, IxDyn};
/// let cluster = distob::Cluster::local(1).await?;
/// let a = ArrayD::from_shape_fn(IxDyn(&[2, 3]), |i| (i[0] * 3 + i[1]) as f64);
/// let r = cluster.scatter(a.clone()).await?;
/// assert_eq!(r.shape(), &[2, 3]);
/// let y = (r.sin() * 2.0 + 1.0).abs();      // queued on the engine, no round trip
/// let want = a.mapv(|x| (x.sin() * 2.0 + 1.0).abs());
/// // The engine's vectorised sin is within 2 ULP of std's.
/// assert!(y.fetch().await?.iter().zip(&want).all(|(y, w)| (y - w).abs() <= 1e-15 * w.abs()));
/// assert_eq!(r.sum().await?, 15.0);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub type RemoteArray<A> = Remote<ArrayD<A>>;

macro_rules! remote_unary {
    ($($t:tt)*) => { super::methods::unary_methods!(RemoteArray<A>; $($t)*); };
}

macro_rules! remote_comparisons {
    ($($t:tt)*) => { super::methods::comparison_methods!(RemoteArray<bool>; $($t)*); };
}

/// A lent array: the token of the reply, taken from this process's exchange.
fn decode_lent<A: Element + Value>(
    reply: crate::proxy::link::Reply,
) -> Result<ndarray::ArcArray<A, ndarray::IxDyn>> {
    let token: u64 = crate::proxy::remote::decode_value(reply)?;
    let value = crate::actors::take_lent(token).ok_or_else(crate::proxy::remote::unexpected)?;
    value
        .downcast_ref::<ndarray::ArcArray<A, ndarray::IxDyn>>()
        .cloned()
        .ok_or_else(crate::proxy::remote::unexpected)
}

/// A fetched array, made shareable.
fn decode_fetched<A: Element + Value>(
    reply: crate::proxy::link::Reply,
) -> Result<ndarray::ArcArray<A, ndarray::IxDyn>> {
    crate::proxy::remote::decode_value::<ArrayD<A>, _>(reply).map(ArrayD::into_shared)
}

impl<A: Element + Value> Remote<ArrayD<A>> {
    /// The array, shared with its engine when that engine runs in this
    /// process (`Cluster::local`): no copy and no encoding — the engine
    /// and the caller hold one buffer copy-on-write, as in-process engines
    /// do among themselves, so a change on either side copies first. From
    /// an engine in another process it is fetched (and copied in) as
    /// [`fetch`](Remote::fetch) does. In order with the calls before it.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// use ndarray::{ArrayD, IxDyn};
    /// let cluster = distob::Cluster::local(1).await?;
    /// let r = cluster.scatter(ArrayD::from_elem(IxDyn(&[1000]), 2.0f64)).await?;
    /// let mut a = r.fetch_shared().await?;        // the engine's own buffer
    /// a[[0]] = 5.0;                                 // copies it first
    /// assert_eq!(r.fetch().await?[[0]], 2.0);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn fetch_shared(&self) -> Call<ndarray::ArcArray<A, ndarray::IxDyn>> {
        let id = self.id();
        let (op, decode): (_, crate::proxy::call::Decode<_, _>) = if self.hub().in_process(id.node)
        {
            (crate::net::wire::Op::Lend(id.object), decode_lent::<A>)
        } else {
            (self.fetch_op(), decode_fetched::<A>)
        };
        self.hub()
            .submit(id.node, Some(id), op, bytes::Bytes::new(), decode)
    }

    /// The shape (empty if this client does not know it: an array that came
    /// back from a method not marked as an array operation).
    pub fn shape(&self) -> &[usize] {
        self.shape_meta().unwrap_or(&[])
    }

    pub(crate) fn known_shape(&self) -> std::result::Result<Vec<usize>, ShapeError> {
        self.shape_meta()
            .map(<[usize]>::to_vec)
            .ok_or(ShapeError::UnknownShape(self.id()))
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the data in bytes.
    pub fn nbytes(&self) -> usize {
        self.len() * A::DTYPE.size()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        A::DTYPE
    }

    /// A chain of elementwise steps, applied on the engine in one pass.
    pub fn map_chain(&self, chain: &[ElemOp]) -> RemoteArray<A> {
        self.run_op(
            ArrayOp::Map {
                chain: chain.to_vec(),
            },
            self.shape().to_vec(),
        )
    }

    /// An elementwise function, computed on the engine.
    pub fn unary(&self, op: Unary) -> RemoteArray<A> {
        self.map_chain(&[ElemOp::Unary(op)])
    }

    super::methods::for_each_unary!(remote_unary);

    /// `self op s` (or `s op self` when `scalar_left`), computed on the engine.
    pub fn scalar(&self, op: BinOp, s: f64, scalar_left: bool) -> RemoteArray<A> {
        self.map_chain(&[ElemOp::Scalar(op, s, scalar_left)])
    }

    /// `self op other`, elementwise with numpy broadcasting, computed where
    /// the data are: operands on different engines meet on the larger's
    /// engine (the smaller is copied there engine to engine, never through
    /// the client). Shapes that do not broadcast give a [`ShapeError`] at
    /// once.
    pub fn try_binary(&self, op: BinOp, other: &RemoteArray<A>) -> Result<RemoteArray<A>> {
        let (x, y, shape) = self.colocate(other)?;
        Ok(x.run_op_with(ArrayOp::Binary { op }, &y, shape))
    }

    /// `self op local` with a local array (numpy broadcasting): the local
    /// array is sent to this array's engine, and the work runs there.
    pub fn try_binary_local(&self, op: BinOp, local: &ArrayD<A>) -> Result<RemoteArray<A>> {
        let (theirs, sent) = self.hub().put(self.node(), local.clone())?;
        // The put goes first on the same connection; its failure surfaces
        // in the result.
        drop(sent);
        self.try_binary(op, &theirs)
    }

    /// The array broadcast to `shape` (numpy's `broadcast_to`), on the engine.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<RemoteArray<A>> {
        let from = self.known_shape()?;
        match super::broadcast_shape(&from, shape) {
            Some(s) if s == shape => Ok(self.run_op(
                ArrayOp::Broadcast {
                    shape: shape.to_vec(),
                },
                shape.to_vec(),
            )),
            _ => Err(ShapeError::Broadcast {
                a: from,
                b: shape.to_vec(),
            }
            .into()),
        }
    }

    /// `x cmp s` for every element (compared as `f64`): a `bool` array.
    pub fn compare(&self, cmp: Cmp, s: f64) -> RemoteArray<bool> {
        self.run_op(ArrayOp::Compare { cmp, scalar: s }, self.shape().to_vec())
    }

    super::methods::for_each_comparison!(remote_comparisons);

    /// `x cmp y` elementwise between two arrays on one engine (broadcasting).
    pub fn compare_array(&self, cmp: Cmp, other: &RemoteArray<A>) -> Result<RemoteArray<bool>> {
        let (x, y, shape) = self.colocate(other)?;
        Ok(x.run_op_with(ArrayOp::CompareArray { cmp }, &y, shape))
    }

    /// `xⁿ` elementwise (integer arrays: `n ≥ 0`, wrapping on overflow).
    pub fn powi(&self, n: i32) -> RemoteArray<A> {
        self.map_chain(&[ElemOp::Powi(n)])
    }

    /// `xʸ` elementwise (float arrays).
    pub fn powf(&self, y: f64) -> RemoteArray<A> {
        self.map_chain(&[ElemOp::Powf(y)])
    }

    /// Every element limited to `[lo, hi]` (NaN stays NaN).
    pub fn clip(&self, lo: f64, hi: f64) -> RemoteArray<A> {
        self.map_chain(&[ElemOp::Clip(lo, hi)])
    }

    /// The array converted to element type `B` (`as` semantics).
    pub fn astype<B: Element + Value>(&self) -> RemoteArray<B> {
        self.run_op(ArrayOp::AsType { dtype: B::DTYPE }, self.shape().to_vec())
    }

    /// Where `cond` is true the element, elsewhere `other` (numpy's
    /// `where(cond, x, other)`), on this array's engine (a condition that
    /// lives elsewhere is copied here, engine to engine).
    pub fn where_(&self, cond: &RemoteArray<bool>, other: f64) -> Result<RemoteArray<A>> {
        let (a, b) = (self.known_shape()?, cond.known_shape()?);
        let shape = super::broadcast_shape(&a, &b).ok_or(ShapeError::Broadcast { a, b })?;
        let cond = if cond.node() == self.node() {
            cond.clone()
        } else {
            cond.copy_to(self.node())?
        };
        Ok(self.run_op_with(ArrayOp::Where { other }, &cond, shape))
    }

    /// The array as a stream of arrays of `rows` rows each (along axis 0;
    /// the last may have fewer): a gather that never holds more than the
    /// stream's window of chunks at once, on either side.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// use futures::StreamExt;
    /// let cluster = distob::Cluster::local(1).await?;
    /// let a = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[10, 2]), |i| i[0] as f64);
    /// let r = cluster.scatter(a).await?;
    /// let parts: Vec<_> = r.chunks(4).map(|c| c.unwrap().shape()[0]).collect().await;
    /// assert_eq!(parts, [4, 4, 2]);
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn chunks(&self, rows: usize) -> crate::call::CallStream<ArrayD<A>> {
        let op = ArrayOp::<A>::Chunks { rows };
        self.invoke_stream(op.method(), &op, crate::call::Invoke::default())
    }

    /// Whether any element is true (nonzero).
    pub fn any(&self) -> Call<bool> {
        self.reduce_all(Reduce::Any)
    }

    /// Whether every element is true (nonzero).
    pub fn all(&self) -> Call<bool> {
        self.reduce_all(Reduce::All)
    }

    /// Flat index (standard order) of the first smallest element.
    pub fn argmin(&self) -> Call<i64> {
        self.reduce_all(Reduce::ArgMin)
    }

    /// Flat index (standard order) of the first largest element.
    pub fn argmax(&self) -> Call<i64> {
        self.reduce_all(Reduce::ArgMax)
    }

    /// The two operands on one engine, and the shape they broadcast to:
    /// where they live apart, the smaller is copied to the larger's engine,
    /// engine to engine (never through the client).
    fn colocate(
        &self,
        other: &RemoteArray<A>,
    ) -> Result<(RemoteArray<A>, RemoteArray<A>, Vec<usize>)> {
        let (a, b) = (self.known_shape()?, other.known_shape()?);
        let shape = super::broadcast_shape(&a, &b).ok_or(ShapeError::Broadcast { a, b })?;
        let (x, y) = if self.node() == other.node() {
            (self.clone(), other.clone())
        } else if self.len() >= other.len() {
            (self.clone(), other.copy_to(self.node())?)
        } else {
            (self.copy_to(other.node())?, other.clone())
        };
        Ok((x, y, shape))
    }

    /// `self op= other` in place on the engine (`other` broadcast to this
    /// array's shape; copied here engine to engine if it lives elsewhere).
    /// Not awaited: a failure surfaces on the next use of the array.
    pub fn assign_array(&self, op: BinOp, other: &RemoteArray<A>) -> Result<()> {
        let (mine, theirs) = (self.known_shape()?, other.known_shape()?);
        match super::broadcast_shape(&mine, &theirs) {
            Some(s) if s == mine => {}
            _ => return Err(ShapeError::Broadcast { a: mine, b: theirs }.into()),
        }
        let other = if other.node() == self.node() {
            other.clone()
        } else {
            other.copy_to(self.node())?
        };
        let done: Call<()> = self.ask_op_with(ArrayOp::BinaryInPlace { op }, &other);
        drop(done);
        Ok(())
    }

    /// `self op= other`, in place (see [`assign_array`](Self::assign_array)).
    pub fn assign_other(&mut self, op: BinOp, other: &RemoteArray<A>) -> Result<()> {
        self.assign_array(op, other)
    }

    /// `self op= s` in place on the engine: every handle of this array sees
    /// the change, in order with the calls made on it (`+=` and friends).
    pub fn assign_scalar(&self, op: BinOp, s: f64) {
        self.map_inplace(&[ElemOp::Scalar(op, s, false)]);
    }

    /// A reduction of the array after a chain of elementwise steps, in one
    /// pass on the engine (no array is made for the chain's result).
    pub(crate) fn reduce_chain<R: Value>(&self, chain: &[ElemOp], op: Reduce) -> Call<R> {
        self.ask_op(ArrayOp::ReduceAll {
            chain: chain.to_vec(),
            op,
        })
    }

    fn reduce_all<R: Value>(&self, op: Reduce) -> Call<R> {
        self.reduce_chain(&[], op)
    }

    /// Σ of every element.
    pub fn sum(&self) -> Call<A> {
        self.reduce_all(Reduce::Sum)
    }

    /// Π of every element.
    pub fn prod(&self) -> Call<A> {
        self.reduce_all(Reduce::Prod)
    }

    /// The smallest element (NaN if any is NaN); an error for an empty array.
    pub fn min(&self) -> Call<A> {
        self.reduce_all(Reduce::Min)
    }

    /// The largest element (NaN if any is NaN); an error for an empty array.
    pub fn max(&self) -> Call<A> {
        self.reduce_all(Reduce::Max)
    }

    /// The mean, as `f64`.
    pub fn mean(&self) -> Call<f64> {
        self.reduce_all(Reduce::Mean)
    }

    /// The population variance, as `f64`.
    pub fn var(&self) -> Call<f64> {
        self.reduce_all(Reduce::Var)
    }

    /// The population standard deviation, as `f64`.
    pub fn std(&self) -> Call<f64> {
        self.reduce_all(Reduce::Std)
    }

    /// A reduction along `axis` (negative counts from the end), kept on the
    /// engine. `B` is `A` for sum, prod, min and max, `f64` for mean, var
    /// and std.
    pub fn reduce_axis<B: Element + Value>(
        &self,
        op: Reduce,
        axis: isize,
        keepdims: bool,
    ) -> Result<RemoteArray<B>> {
        let shape = self.known_shape()?;
        let k = resolve_axis(axis, shape.len()).ok_or(ShapeError::AxisOutOfRange {
            axis,
            ndim: shape.len(),
        })?;
        let expected = op.result_dtype(A::DTYPE);
        if B::DTYPE != expected {
            return Err(crate::Error::Codec(
                crate::value::ValueError::DTypeMismatch {
                    expected,
                    found: B::DTYPE,
                },
            ));
        }
        let mut out = shape;
        if keepdims {
            out[k] = 1;
        } else {
            out.remove(k);
        }
        Ok(self.run_op(
            ArrayOp::ReduceAxis {
                op,
                axis: k,
                keepdims,
            },
            out,
        ))
    }
}

super::scalar_operators!(Remote<ArrayD<A>>, RemoteArray<A>);
super::assign_operators!(Remote<ArrayD<A>>);
super::array_operators!(Remote<ArrayD<A>>, RemoteArray<A>);

/// Sending [`ArrayOp`]s: every array operation of both kinds goes through
/// these four.
impl<A: Element + Value> Remote<ArrayD<A>> {
    /// Sends an operation whose result, of `shape`, stays on the engine;
    /// returns its handle at once.
    pub(crate) fn run_op<B: 'static>(&self, op: ArrayOp<A>, shape: Vec<usize>) -> RemoteArray<B> {
        self.op_into(op.method(), &op, shape)
    }

    /// As [`run_op`](Self::run_op), with a second array of this engine as
    /// operand (a result shape this client may not know: `None`).
    pub(crate) fn run_op_with<B: 'static, C>(
        &self,
        op: ArrayOp<A>,
        other: &RemoteArray<C>,
        shape: impl Into<Option<Vec<usize>>>,
    ) -> RemoteArray<B> {
        self.combine_kept(op.method(), &op, other, shape.into())
    }

    /// Sends an operation whose answer is a value.
    pub(crate) fn ask_op<R: Value>(&self, op: ArrayOp<A>) -> Call<R> {
        let how = Invoke {
            mutating: op.mutates(),
            cached: false,
        };
        self.invoke(op.method(), &op, how)
    }

    /// As [`ask_op`](Self::ask_op), with a second array of this engine as
    /// operand.
    pub(crate) fn ask_op_with<R: Value, C>(
        &self,
        op: ArrayOp<A>,
        other: &RemoteArray<C>,
    ) -> Call<R> {
        self.combine_call(op.method(), &op, other)
    }
}

impl<A: Element + Value> std::ops::Neg for &Remote<ArrayD<A>> {
    type Output = RemoteArray<A>;
    fn neg(self) -> RemoteArray<A> {
        self.unary(Unary::Neg)
    }
}
