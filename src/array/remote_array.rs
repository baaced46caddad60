//! [`RemoteArray`]: one `ndarray` array on one engine.

use super::kernels::method;
use super::kinds::{BinOp, ElemOp, Reduce, Unary};
use super::partition::resolve_axis;
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
/// assert_eq!(y.fetch().await?, a.mapv(|x| (x.sin() * 2.0 + 1.0).abs()));
/// assert_eq!(r.sum().await?, 15.0);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub type RemoteArray<A> = Remote<ArrayD<A>>;

const PLAIN: Invoke = Invoke {
    mutating: false,
    cached: false,
};

macro_rules! unary_methods {
    ($($name:ident => $op:ident),* $(,)?) => {$(
        #[doc = concat!("Elementwise `", stringify!($name), "`, computed on the engine.")]
        pub fn $name(&self) -> RemoteArray<A> {
            self.unary(Unary::$op)
        }
    )*};
}

impl<A: Element + Value> Remote<ArrayD<A>> {
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
        self.op_into(method::MAP, &(chain,), self.shape().to_vec())
    }

    /// An elementwise function, computed on the engine.
    pub fn unary(&self, op: Unary) -> RemoteArray<A> {
        self.map_chain(&[ElemOp::Unary(op)])
    }

    unary_methods!(
        neg => Neg, abs => Abs, sqrt => Sqrt, exp => Exp, ln => Ln, sin => Sin,
        cos => Cos, tan => Tan, tanh => Tanh, floor => Floor, ceil => Ceil,
    );

    /// `self op s` (or `s op self` when `scalar_left`), computed on the engine.
    pub fn scalar(&self, op: BinOp, s: f64, scalar_left: bool) -> RemoteArray<A> {
        self.map_chain(&[ElemOp::Scalar(op, s, scalar_left)])
    }

    /// `self op other`, elementwise with numpy broadcasting, computed on the
    /// engine both live on. Arrays on different engines give
    /// [`Error::NotColocated`](crate::Error::NotColocated) (moving one engine
    /// to engine is not built yet); shapes that do not broadcast give a
    /// [`ShapeError`] at once.
    pub fn try_binary(&self, op: BinOp, other: &RemoteArray<A>) -> Result<RemoteArray<A>> {
        if self.node() != other.node() {
            return Err(crate::Error::NotColocated {
                a: self.id(),
                b: other.id(),
            });
        }
        let (a, b) = (self.known_shape()?, other.known_shape()?);
        let shape = super::broadcast_shape(&a, &b).ok_or(ShapeError::Broadcast { a, b })?;
        Ok(self.combine_into(method::BINARY, &(op,), other, shape))
    }

    /// A reduction of the array after a chain of elementwise steps, in one
    /// pass on the engine (no array is made for the chain's result).
    pub(crate) fn reduce_chain<R: Value>(&self, chain: &[ElemOp], op: Reduce) -> Call<R> {
        self.invoke(method::REDUCE_ALL, &(chain, op), PLAIN)
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
        let expected = if op.is_statistic() {
            DType::F64
        } else {
            A::DTYPE
        };
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
        Ok(self.op_into(method::REDUCE_AXIS, &(op, k, keepdims), out))
    }

    /// Σ along `axis`.
    pub fn sum_axis(&self, axis: isize) -> Result<RemoteArray<A>> {
        self.reduce_axis(Reduce::Sum, axis, false)
    }

    /// Mean along `axis`.
    pub fn mean_axis(&self, axis: isize) -> Result<RemoteArray<f64>> {
        self.reduce_axis(Reduce::Mean, axis, false)
    }

    /// Smallest along `axis`.
    pub fn min_axis(&self, axis: isize) -> Result<RemoteArray<A>> {
        self.reduce_axis(Reduce::Min, axis, false)
    }

    /// Largest along `axis`.
    pub fn max_axis(&self, axis: isize) -> Result<RemoteArray<A>> {
        self.reduce_axis(Reduce::Max, axis, false)
    }
}

super::scalar_operators!(Remote<ArrayD<A>>, RemoteArray<A>);
super::array_operators!(Remote<ArrayD<A>>, RemoteArray<A>);

impl<A: Element + Value> std::ops::Neg for &Remote<ArrayD<A>> {
    type Output = RemoteArray<A>;
    fn neg(self) -> RemoteArray<A> {
        self.unary(Unary::Neg)
    }
}
