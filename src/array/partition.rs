//! Pure block math along one axis: how an axis of length `n` is split over
//! `engines` engines. No I/O; property-tested below.

use std::ops::Range;

/// The blocks of an axis of length `n` over `engines` engines: blocks of
/// `ceil(n / engines)`, the last one shorter, and fewer blocks than
/// engines when there are fewer elements (10 on 4 → 3,3,3,1; 4 on 4 →
/// 1,1,1,1; 2 on 4 → 1,1). An empty axis is one empty block.
///
/// ```
/// use distob::array::partition::blocks;
/// let lens: Vec<usize> = blocks(10, 4).iter().map(|r| r.len()).collect();
/// assert_eq!(lens, [3, 3, 3, 1]);
/// ```
pub fn blocks(n: usize, engines: usize) -> Vec<Range<usize>> {
    let engines = engines.max(1);
    if n == 0 {
        #[allow(clippy::single_range_in_vec_init)] // one empty block, not 0..0 as a list
        return vec![0..0];
    }
    let size = n.div_ceil(engines);
    (0..n).step_by(size).map(|s| s..(s + size).min(n)).collect()
}

/// Where block boundaries fall: `[0, b1, b2, …, n]`.
pub fn boundaries(lens: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(lens.len() + 1);
    let mut at = 0;
    out.push(0);
    for &l in lens {
        at += l;
        out.push(at);
    }
    out
}

/// Resolves a possibly negative axis against `ndim`.
pub fn resolve_axis(axis: isize, ndim: usize) -> Option<usize> {
    let n = ndim as isize;
    let a = if axis < 0 { axis + n } else { axis };
    (0..n).contains(&a).then_some(a as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_table() {
        let lens = |n, e| blocks(n, e).iter().map(|r| r.len()).collect::<Vec<_>>();
        assert_eq!(lens(10, 4), [3, 3, 3, 1]);
        assert_eq!(lens(4, 4), [1, 1, 1, 1]);
        assert_eq!(lens(2, 4), [1, 1]);
        assert_eq!(lens(7, 1), [7]);
        assert_eq!(lens(0, 3), [0]);
    }

    proptest! {
        #[test]
        fn blocks_cover_the_axis_exactly_once(n in 0usize..500, e in 1usize..64) {
            let b = blocks(n, e);
            prop_assert!(b.len() <= e.max(1));
            let mut next = 0;
            for r in &b {
                prop_assert_eq!(r.start, next);
                next = r.end;
            }
            prop_assert_eq!(next, n);
            if n > 0 {
                let size = n.div_ceil(e);
                prop_assert!(b.iter().all(|r| r.len() <= size && !r.is_empty()));
                prop_assert!(b[..b.len() - 1].iter().all(|r| r.len() == size));
            }
        }

        #[test]
        fn negative_axes_count_from_the_end(ndim in 1usize..6, k in 0usize..6) {
            prop_assume!(k < ndim);
            prop_assert_eq!(resolve_axis(k as isize, ndim), Some(k));
            prop_assert_eq!(resolve_axis(k as isize - ndim as isize, ndim), Some(k));
            prop_assert_eq!(resolve_axis(ndim as isize, ndim), None);
            prop_assert_eq!(resolve_axis(-(ndim as isize) - 1, ndim), None);
        }
    }
}
