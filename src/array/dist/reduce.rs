//! Reductions of distributed arrays: over everything (each engine reduces
//! its block; only the partial results move) and along an axis.

use crate::array::dist::DistArray;
use crate::array::kinds::Reduce;
use crate::array::partition::resolve_axis;
use crate::array::ShapeError;
use crate::error::{Error, Result};
use crate::proxy::Call;
use crate::value::{Element, Value};

impl<A: Element + Value> DistArray<A> {
    /// Each block's reduction (after the pending steps), all in flight.
    pub(super) fn partials<R: Value>(&self, op: Reduce) -> Vec<(usize, Call<R>)> {
        self.blocks
            .iter()
            .map(|b| (b.len(), b.reduce_chain(&self.chain, op)))
            .collect()
    }

    /// Σ of every element: each engine sums its block, the client adds the
    /// partial sums.
    pub async fn sum(&self) -> Result<A>
    where
        A: num_traits::Zero,
    {
        let mut total = A::zero();
        for (_, c) in self.partials::<A>(Reduce::Sum) {
            total = total + c.await?;
        }
        Ok(total)
    }

    /// The smallest element.
    pub async fn min(&self) -> Result<A>
    where
        A: PartialOrd,
    {
        self.extreme(true).await
    }

    /// The largest element.
    pub async fn max(&self) -> Result<A>
    where
        A: PartialOrd,
    {
        self.extreme(false).await
    }

    async fn extreme(&self, smallest: bool) -> Result<A>
    where
        A: PartialOrd,
    {
        let op = if smallest { Reduce::Min } else { Reduce::Max };
        let calls = self.partials::<A>(op);
        let mut best: Option<A> = None;
        for (n, c) in calls {
            if n == 0 {
                continue;
            }
            let x = c.await?;
            #[allow(clippy::eq_op)]
            let nan = x != x;
            best = Some(match best {
                None => x,
                Some(b) if nan || (smallest && x < b) || (!smallest && x > b) => x,
                Some(b) => b,
            });
        }
        best.ok_or(Error::Shape(ShapeError::Empty { op }))
    }

    /// The mean (weighted by block sizes).
    pub async fn mean(&self) -> Result<f64> {
        let n = self.len() as f64;
        let mut total = 0.0;
        for (len, c) in self.partials::<f64>(Reduce::Mean) {
            if len > 0 {
                total += c.await? * len as f64;
            }
        }
        Ok(total / n)
    }

    /// The population variance, combined from each block's mean and variance.
    pub async fn var(&self) -> Result<f64> {
        let means = self.partials::<f64>(Reduce::Mean);
        let vars = self.partials::<f64>(Reduce::Var);
        let n = self.len() as f64;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for ((len, m), (_, v)) in means.into_iter().zip(vars) {
            if len == 0 {
                continue;
            }
            let (m, v) = (m.await?, v.await?);
            sum += m * len as f64;
            sum_sq += (v + m * m) * len as f64;
        }
        let mean = sum / n;
        Ok(sum_sq / n - mean * mean)
    }

    /// The population standard deviation.
    pub async fn std(&self) -> Result<f64> {
        Ok(self.var().await?.sqrt())
    }

    /// A reduction along an axis other than the distributed one: each
    /// engine reduces its block, and the result stays distributed (no data
    /// moves). Along any axis, the distributed one too, use the
    /// `sum_axis`, `mean_axis`, … methods. `B` is `A` for sum, prod, min and max, `f64` for mean, var
    /// and std.
    pub fn reduce_axis<B: Element + Value>(
        &self,
        op: Reduce,
        axis: isize,
        keepdims: bool,
    ) -> Result<DistArray<B>> {
        let ndim = self.ndim();
        let k = resolve_axis(axis, ndim).ok_or(ShapeError::AxisOutOfRange { axis, ndim })?;
        if k == self.axis {
            return Err(ShapeError::AlongDistributedAxis { axis: k }.into());
        }
        let blocks = self
            .materialize()
            .blocks
            .iter()
            .map(|b| b.reduce_axis::<B>(op, k as isize, keepdims))
            .collect::<Result<Vec<_>>>()?;
        let mut shape = self.shape.clone();
        let mut dist = self.axis;
        if keepdims {
            shape[k] = 1;
        } else {
            shape.remove(k);
            if k < dist {
                dist -= 1;
            }
        }
        Ok(DistArray::assemble(blocks, dist, shape, Vec::new()))
    }

    /// Whether any element is true (nonzero).
    pub async fn any(&self) -> Result<bool> {
        for (n, c) in self.partials::<bool>(Reduce::Any) {
            if n > 0 && c.await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether every element is true (nonzero).
    pub async fn all(&self) -> Result<bool> {
        for (n, c) in self.partials::<bool>(Reduce::All) {
            if n > 0 && !c.await? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl<A: Element + Value + PartialOrd> DistArray<A> {
    /// Flat index (standard order) of the first smallest element: each
    /// engine finds its block's, only those candidates move.
    pub async fn argmin(&self) -> Result<i64> {
        self.arg_extreme(true).await
    }

    /// Flat index (standard order) of the first largest element.
    pub async fn argmax(&self) -> Result<i64> {
        self.arg_extreme(false).await
    }

    async fn arg_extreme(&self, smallest: bool) -> Result<i64> {
        let blocks = self.blocks();
        let calls: Vec<_> = blocks
            .iter()
            .filter(|b| !b.is_empty())
            .map(|b| {
                let arg = if smallest { b.argmin() } else { b.argmax() };
                let val = if smallest { b.min() } else { b.max() };
                (b.clone(), arg, val)
            })
            .collect();
        let bounds = self.boundaries();
        let k = self.axis();
        let mut best: Option<(Vec<usize>, A)> = None;
        for (b, arg, val) in calls {
            let (arg, val) = (arg.await?, val.await?);
            // The block's flat index, as a multi-index of the whole array.
            let bshape = b.shape().to_vec();
            let mut rest = arg as usize;
            let mut index = vec![0; bshape.len()];
            for d in (0..bshape.len()).rev() {
                index[d] = rest % bshape[d].max(1);
                rest /= bshape[d].max(1);
            }
            let block_no = blocks.iter().position(|x| x.id() == b.id()).unwrap_or(0);
            index[k] += bounds[block_no];
            #[allow(clippy::eq_op)]
            let better = match &best {
                None => true,
                Some((at, v)) => {
                    let earlier = index < *at;
                    let (nan_new, nan_old) = (val != val, *v != *v);
                    if nan_old {
                        nan_new && earlier
                    } else if nan_new {
                        true
                    } else if smallest {
                        val < *v || (val == *v && earlier)
                    } else {
                        val > *v || (val == *v && earlier)
                    }
                }
            };
            if better {
                best = Some((index, val));
            }
        }
        let op = if smallest {
            Reduce::ArgMin
        } else {
            Reduce::ArgMax
        };
        let (index, _) = best.ok_or(Error::Shape(ShapeError::Empty { op }))?;
        let flat = index
            .iter()
            .zip(self.shape())
            .fold(0usize, |acc, (&i, &n)| acc * n + i);
        Ok(flat as i64)
    }
}
