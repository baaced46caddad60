//! The kernels of sorting and selection: sort a block (every lane along
//! an axis), sample it, count
//! where splitters fall, merge two sorted runs, order by a permutation,
//! drop repeats, count into bins. NaN sorts last, as in numpy.

use super::Num;
use crate::net::buf::fresh_vec;
use crate::net::wire::Fault;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use std::cmp::Ordering;

/// The order numpy sorts by: NaN after everything, equal to NaN.
#[inline]
pub(crate) fn order<A: PartialOrd>(a: &A, b: &A) -> Ordering {
    #[allow(clippy::eq_op)]
    a.partial_cmp(b).unwrap_or_else(|| (a != a).cmp(&(b != b)))
}

fn flat<'a, A: Num>(a: &'a ArrayViewD<'_, A>) -> Result<&'a [A], Fault> {
    if a.ndim() != 1 {
        return Err(Fault::Refused(format!(
            "sorting takes 1-D blocks, not {}-D",
            a.ndim()
        )));
    }
    a.as_slice()
        .ok_or_else(|| Fault::Refused("block is not contiguous".into()))
}

fn vector<A>(v: Vec<A>) -> Result<ArrayD<A>, Fault> {
    let n = v.len();
    ArrayD::from_shape_vec(IxDyn(&[n]), v).map_err(|e| Fault::Refused(e.to_string()))
}

/// Every lane along `axis` sorted (NaN last).
pub(crate) fn sort<A: Num>(a: ArrayViewD<'_, A>, axis: usize) -> Result<ArrayD<A>, Fault> {
    lanewise(a, axis, sort_into)
}

/// For every lane along `axis`, the indices (`offset + i`) in sorted order
/// (stable: equal elements keep their order).
pub(crate) fn argsort<A: Num>(
    a: ArrayViewD<'_, A>,
    axis: usize,
    offset: i64,
) -> Result<ArrayD<i64>, Fault> {
    lanewise(a, axis, |xs, out| {
        let mut idx: Vec<usize> = (0..xs.len()).collect();
        idx.sort_by(|&i, &j| order(&xs[i], &xs[j]));
        out.extend(idx.into_iter().map(|i| i as i64 + offset));
    })
}

/// The lanes sorted: NaN moved to the end first, so that the rest sorts
/// with a plain comparison.
fn sort_into<A: Num>(xs: &[A], out: &mut Vec<A>) {
    #[allow(clippy::eq_op)]
    out.extend(xs.iter().copied().filter(|x| x == x));
    let nan = xs.len() - out.len();
    out.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    if nan > 0 {
        #[allow(clippy::eq_op)]
        out.extend(xs.iter().copied().filter(|x| x != x));
    }
}

/// `f` run on every lane along `axis` (as a slice), its output (as long as
/// the lane) written to the same lane of the result. A contiguous 1-D
/// block is its own lane, with no copy in.
fn lanewise<A: Num, B: Clone + num_traits::Zero>(
    a: ArrayViewD<'_, A>,
    axis: usize,
    mut f: impl FnMut(&[A], &mut Vec<B>),
) -> Result<ArrayD<B>, Fault> {
    if axis >= a.ndim() {
        return Err(Fault::Refused(format!(
            "axis {axis} out of range for {} dimensions",
            a.ndim()
        )));
    }
    if let (1, Some(xs)) = (a.ndim(), a.as_slice()) {
        let mut out = fresh_vec(xs.len());
        f(xs, &mut out);
        return vector(out);
    }
    let mut out = ArrayD::<B>::zeros(a.raw_dim());
    let (mut lane, mut done) = (Vec::new(), Vec::new());
    for (from, mut to) in a
        .lanes(Axis(axis))
        .into_iter()
        .zip(out.lanes_mut(Axis(axis)))
    {
        lane.clear();
        lane.extend(from.iter().copied());
        done.clear();
        f(&lane, &mut done);
        to.iter_mut().zip(&done).for_each(|(t, d)| *t = d.clone());
    }
    Ok(out)
}

/// `k` elements evenly spaced over positions `lo..hi` of a 1-D block.
pub(crate) fn spaced<A: Num>(
    a: ArrayViewD<'_, A>,
    lo: usize,
    hi: usize,
    k: usize,
) -> Result<Vec<A>, Fault> {
    let xs = flat(&a)?;
    let hi = hi.min(xs.len());
    if lo >= hi {
        return Ok(Vec::new());
    }
    let k = k.min(hi - lo);
    Ok((0..k).map(|i| xs[lo + i * (hi - lo) / k]).collect())
}

/// For each value: how many elements of a sorted block are smaller, and
/// how many are not larger (numpy's order).
pub(crate) fn ranks<A: Num>(a: ArrayViewD<'_, A>, values: &[A]) -> Result<Vec<(u64, u64)>, Fault> {
    let xs = flat(&a)?;
    Ok(values
        .iter()
        .map(|v| {
            let lt = xs.partition_point(|x| order(x, v) == Ordering::Less);
            let le = xs.partition_point(|x| order(x, v) != Ordering::Greater);
            (lt as u64, le as u64)
        })
        .collect())
}

/// Two sorted runs merged into one: their numbers merged without a branch
/// per element, then their NaN (sorted last in each).
pub(crate) fn merge_sorted<A: Num>(
    a: ArrayViewD<'_, A>,
    b: ArrayViewD<'_, A>,
) -> Result<ArrayD<A>, Fault> {
    let (xs, ys) = (flat(&a)?, flat(&b)?);
    #[allow(clippy::eq_op)]
    let numbers = |v: &[A]| v.partition_point(|x| x == x);
    let (nx, ny) = (numbers(xs), numbers(ys));
    let mut out = fresh_vec(xs.len() + ys.len());
    let (mut i, mut j) = (0, 0);
    while i < nx && j < ny {
        let (x, y) = (xs[i], ys[j]);
        let take_y = y < x;
        out.push(if take_y { y } else { x });
        j += usize::from(take_y);
        i += usize::from(!take_y);
    }
    out.extend_from_slice(&xs[i..nx]);
    out.extend_from_slice(&ys[j..ny]);
    out.extend_from_slice(&xs[nx..]);
    out.extend_from_slice(&ys[ny..]);
    vector(out)
}

/// `a[perm[k]]` for every `k`.
pub(crate) fn take_by<A: Num>(
    a: ArrayViewD<'_, A>,
    perm: ArrayViewD<'_, A>,
) -> Result<ArrayD<A>, Fault> {
    let xs = flat(&a)?;
    let out = perm
        .iter()
        .map(|p| {
            p.to_usize()
                .and_then(|i| xs.get(i).copied())
                .ok_or_else(|| Fault::Refused("a permutation index out of range".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    vector(out)
}

/// The distinct elements of a sorted block, without those equal to
/// `before` (the previous block's last element).
pub(crate) fn unique<A: Num>(
    a: ArrayViewD<'_, A>,
    before: Option<ArrayViewD<'_, A>>,
) -> Result<ArrayD<A>, Fault> {
    let xs = flat(&a)?;
    let mut last = before.and_then(|b| b.iter().last().copied());
    let mut out = Vec::new();
    for &x in xs {
        if last.is_none_or(|l| order(&l, &x) != Ordering::Equal) {
            out.push(x);
        }
        last = Some(x);
    }
    vector(out)
}

/// Counts of the elements in `bins` equal bins over `[lo, hi]` (the last
/// bin includes `hi`; elements outside, and NaN, are not counted).
pub(crate) fn histogram<A: Num>(
    a: ArrayViewD<'_, A>,
    bins: usize,
    lo: f64,
    hi: f64,
) -> Result<ArrayD<i64>, Fault> {
    if bins == 0 || lo.partial_cmp(&hi) != Some(Ordering::Less) {
        return Err(Fault::Refused(format!("{bins} bins over [{lo}, {hi}]")));
    }
    let mut counts = vec![0i64; bins];
    let width = (hi - lo) / bins as f64;
    for &x in a.iter() {
        let x = <A as crate::array::engine::kernels::Kernel>::to_f64(x);
        if (lo..=hi).contains(&x) {
            let b = (((x - lo) / width) as usize).min(bins - 1);
            counts[b] += 1;
        }
    }
    vector(counts)
}
