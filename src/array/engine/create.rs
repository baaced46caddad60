//! Arrays made on the engine that will hold them: constants, ranges and
//! random numbers, one block of a whole array at a time.
//!
//! Random numbers come from a counter-based generator (SplitMix64's output
//! function applied to `key + (i + 1)·γ`): element `i` of the whole array
//! (its flat index in standard order) depends only on the seed and `i`, so
//! an array is the same whatever the number of engines and the layout of
//! its blocks. Normal numbers are Box–Muller pairs of elements `2j` and
//! `2j + 1`.

use super::keep;
use crate::actors::hosted::Produced;
use crate::actors::registry::{FunctionEntry, ObjectSlot};
use crate::array::engine::kernels::{Kernel, RawBytes};
use crate::net::buf::try_fresh_vec;
use crate::net::wire::Fault;
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

/// Which part of a whole array a block is: the whole array's shape, the
/// axis it is split along, and the block's range along that axis. A
/// function given to [`ObjectHub::from_fn`](crate::ObjectHub::from_fn)
/// receives it and returns the block (of shape
/// [`block_shape`](BlockInfo::block_shape)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// The whole array's shape.
    pub shape: Vec<usize>,
    /// The distributed axis.
    pub axis: usize,
    /// Where the block starts along the axis.
    pub start: usize,
    /// The block's length along the axis.
    pub len: usize,
}

impl BlockInfo {
    /// The block's own shape.
    pub fn block_shape(&self) -> Vec<usize> {
        let mut s = self.shape.clone();
        if let Some(n) = s.get_mut(self.axis) {
            *n = self.len;
        }
        s
    }

    /// The runs of the whole array's flat indices (standard order) that
    /// the block holds, in the block's own order: `(first index, length)`.
    pub fn runs(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        let k = self.axis.min(self.shape.len());
        let inner: usize = self.shape.get(k + 1..).map_or(1, |s| s.iter().product());
        let outer: usize = self.shape[..k].iter().product();
        let along = self.shape.get(k).copied().unwrap_or(1);
        let (start, len) = if self.shape.is_empty() {
            (0, 1)
        } else {
            (self.start, self.len)
        };
        (0..outer).map(move |o| (((o * along + start) * inner) as u64, len * inner))
    }
}

/// What fills a block.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Fill {
    /// Every element the same.
    Const(f64),
    /// Element `i` is `start + i·step`.
    Range { start: f64, step: f64 },
    /// Uniform in `[lo, hi)`.
    Uniform { seed: u64, lo: f64, hi: f64 },
    /// Normal with this mean and standard deviation.
    Normal { seed: u64, mean: f64, std: f64 },
    /// Integers uniform in `[lo, hi)` (exact within ±2⁵³).
    Integers { seed: u64, lo: i64, hi: i64 },
}

/// A block to make: where it sits, and what fills it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Made {
    pub(crate) info: BlockInfo,
    pub(crate) fill: Fill,
}

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `i`-th 64 random bits of the stream `key`.
#[inline]
fn bits(key: u64, i: u64) -> u64 {
    mix(key.wrapping_add(i.wrapping_add(1).wrapping_mul(GAMMA)))
}

/// The `i`-th uniform number of `[0, 1)` of the stream `key`.
#[inline]
fn unit(key: u64, i: u64) -> f64 {
    (bits(key, i) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The stream of a user's seed (so that seeds 1 and 2 are not neighbours).
fn key(seed: u64) -> u64 {
    mix(seed ^ 0x6A09_E667_F3BC_C909)
}

/// The Box–Muller pair `j`: elements `2j` (cosine) and `2j + 1` (sine).
#[inline]
fn normal_pair(key: u64, j: u64) -> (f64, f64) {
    let u1 = 1.0 - unit(key, 2 * j);
    let u2 = unit(key, 2 * j + 1);
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

/// One run of the whole array, from flat index `g`, into `out`.
fn fill_run<A: Kernel>(fill: Fill, g: u64, out: &mut [A]) {
    match fill {
        Fill::Const(v) => out.fill(A::from_f64(v)),
        Fill::Range { start, step } => {
            for (i, x) in out.iter_mut().enumerate() {
                *x = A::from_f64(start + step * (g + i as u64) as f64);
            }
        }
        Fill::Uniform { seed, lo, hi } => {
            let k = key(seed);
            for (i, x) in out.iter_mut().enumerate() {
                *x = A::from_f64(lo + (hi - lo) * unit(k, g + i as u64));
            }
        }
        Fill::Integers { seed, lo, hi } => {
            let k = key(seed);
            let span = (i128::from(hi) - i128::from(lo)).max(0) as u128;
            for (i, x) in out.iter_mut().enumerate() {
                let r = ((u128::from(bits(k, g + i as u64)) * span) >> 64) as i128;
                *x = A::from_f64((i128::from(lo) + r) as f64);
            }
        }
        Fill::Normal { seed, mean, std } => fill_normal(key(seed), g, out, |z| mean + std * z),
    }
}

fn fill_normal<A: Kernel>(key: u64, g: u64, out: &mut [A], scale: impl Fn(f64) -> f64) {
    let (mut i, mut at) = (0, g);
    let n = out.len();
    if at % 2 == 1 && n > 0 {
        out[0] = A::from_f64(scale(normal_pair(key, at / 2).1));
        (i, at) = (1, at + 1);
    }
    while i + 1 < n {
        let (c, s) = normal_pair(key, at / 2);
        out[i] = A::from_f64(scale(c));
        out[i + 1] = A::from_f64(scale(s));
        (i, at) = (i + 2, at + 2);
    }
    if i < n {
        out[i] = A::from_f64(scale(normal_pair(key, at / 2).0));
    }
}

/// Standard normal numbers of the stream of `seed` from flat index
/// `first` into `out`, exactly as the engines make them (for baselines).
pub fn normal_into(seed: u64, first: u64, out: &mut [f64]) {
    fill_normal(key(seed), first, out, |z| z);
}

/// Elements filled at a time. Even, so that a run's pieces all start on
/// its own parity: a normal pair is made twice only where a run starts
/// mid-pair.
const FILL_PIECE: usize = 8192;

/// The block `made` describes.
pub(crate) fn make<A: Kernel>(made: &Made) -> Result<ArrayD<A>, Fault> {
    let info = &made.info;
    let end = info.start.checked_add(info.len);
    if info.axis >= info.shape.len().max(1)
        || end.is_none_or(|e| e > info.shape.get(info.axis).copied().unwrap_or(1))
    {
        return Err(Fault::Refused(format!(
            "no block {}..{} along axis {} of {:?}",
            info.start,
            info.start + info.len,
            info.axis,
            info.shape
        )));
    }
    let shape = info.block_shape();
    let too_large = || Fault::Refused(format!("a block of {shape:?} is too large"));
    let total = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(too_large)?;
    let mut data = try_fresh_vec(total).map_err(|_| too_large())?;
    for (g, len) in info.runs() {
        // A piece at a time, each filled while its zeros are in cache.
        let mut done = 0;
        while done < len {
            let at = data.len();
            let n = (len - done).min(FILL_PIECE);
            data.resize(at + n, A::from_f64(0.0));
            fill_run(made.fill, g + done as u64, &mut data[at..]);
            done += n;
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| Fault::Refused(e.to_string()))
}

fn run<A: Kernel + RawBytes>(slot: ObjectSlot<'_>, _args: &[u8]) -> Result<Produced, Fault> {
    slot.with::<Made, _>(|m| make::<A>(m))?.map(keep)
}

/// The registered name of the function that makes blocks of `dtype`.
pub(crate) fn function_name(dtype: crate::value::DType) -> &'static str {
    macro_rules! name {
        ($($t:ident $d:ident),*) => {
            match dtype {
                $(crate::value::DType::$d => concat!("distob::array::make<", stringify!($t), ">"),)*
            }
        };
    }
    crate::array::for_each_dtype!(name)
}

fn name_of<A: Kernel>() -> &'static str {
    function_name(A::DTYPE)
}

macro_rules! register_make {
    ($($t:ident $d:ident),*) => {$(
        inventory::submit! {
            FunctionEntry {
                name: name_of::<$t>,
                call: run::<$t>,
                mutates: false,
            }
        }
    )*};
}

crate::array::for_each_dtype!(register_make);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_the_block_in_order() {
        let info = BlockInfo {
            shape: vec![2, 5, 3],
            axis: 1,
            start: 1,
            len: 2,
        };
        let runs: Vec<_> = info.runs().collect();
        assert_eq!(runs, [(3, 6), (18, 6)]);
    }

    #[test]
    fn uniform_numbers_look_uniform() {
        let k = key(7);
        let n = 100_000;
        let mean = (0..n).map(|i| unit(k, i)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let mut z = vec![0.0f64; n as usize];
        fill_normal(k, 0, &mut z, |x| x);
        let m = z.iter().sum::<f64>() / n as f64;
        let v = z.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.02 && (v - 1.0).abs() < 0.02, "{m} {v}");
    }
}
