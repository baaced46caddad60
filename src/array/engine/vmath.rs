//! Vectorisable `f64` transcendental functions, applied to a block of
//! elements at a time.
//!
//! Each function is branch-free over the lanes of a block (range reduction
//! by Cody–Waite constants, a polynomial, the result assembled by bit
//! operations), so the compiler turns its loop into SIMD instructions; an
//! argument outside the fast range (non-finite, too large, subnormal,
//! negative for `ln`) sends its block through `std`'s scalar function
//! instead, element by element (subnormal arguments do so only for `ln`).
//! Arrays not in standard layout go through `std` element by element, so
//! their results may differ from a contiguous array's in the last bits. Rounding-to-integer uses the `1.5·2⁵²`
//! trick, so nothing calls out of the loop.
//!
//! Accuracy against `std`'s functions, measured over millions of arguments
//! (tests/array_workloads/kernels.rs asserts it): `sin`, `cos`, `exp`, `ln` within 2 ULP,
//! `tan`, `tanh` within 4 ULP, for `|x| ≤ 2²⁰` (trigonometric; larger
//! arguments go to `std`). Like every Cody–Waite reduction, an argument
//! within a few ULP of a large multiple of π/2 has an absolute error of
//! about 10⁻²⁴ in its reduced argument, so the (tiny) results of `sin`,
//! `cos` and `tan` right at those zeros are less accurate relatively.
//! `f32` arrays use these same kernels through `f64` and round once.

// The constants are written as published, digits beyond an f64's included.
#![allow(clippy::excessive_precision)]

/// `x + ROUND - ROUND` rounds `x` to the nearest integer (ties to even) for
/// `|x| < 2⁵¹`; the low bits of `x + ROUND` hold that integer.
const ROUND: f64 = 6_755_399_441_055_744.0;
const ROUND_BITS: u64 = 0x4338_0000_0000_0000;

/// π/2 in three parts; the first two end in zero bits, so `n·part` is exact
/// for `|n| < 2²⁹`.
const PIO2_1: f64 = 2.0 * 7.853_981_256_484_985_351_56e-1;
const PIO2_2: f64 = 2.0 * 3.774_894_707_930_798_176_68e-8;
const PIO2_3: f64 = 2.0 * 2.695_151_429_079_059_526_45e-15;
/// Beyond this the reduction above loses bits; `std` takes over.
pub(crate) const TRIG_LIMIT: f64 = 1_048_576.0;

/// sin(r) = r + r·z·S(z), z = r², on [-π/4, π/4] (Cephes).
const SIN: [f64; 6] = [
    1.589_623_015_765_465_680_60e-10,
    -2.505_074_776_285_780_728_66e-8,
    2.755_731_362_138_572_452_13e-6,
    -1.984_126_982_958_953_859_96e-4,
    8.333_333_333_322_118_588_78e-3,
    -1.666_666_666_666_663_072_95e-1,
];
/// cos(r) = 1 − z/2 + z²·C(z) on [-π/4, π/4] (Cephes).
const COS: [f64; 6] = [
    -1.135_853_652_138_768_173_00e-11,
    2.087_570_084_197_473_167_78e-9,
    -2.755_731_417_929_673_881_12e-7,
    2.480_158_728_885_170_453_48e-5,
    -1.388_888_888_887_305_641_16e-3,
    4.166_666_666_666_659_292_18e-2,
];
/// tan(r) = r + r·z·P(z)/Q(z) on [-π/4, π/4] (Cephes; Q is monic).
const TAN_P: [f64; 3] = [
    -1.309_369_391_813_837_776_46e4,
    1.153_516_648_385_874_161_40e6,
    -1.795_652_519_764_848_779_88e7,
];
const TAN_Q: [f64; 5] = [
    1.0,
    1.368_129_634_706_929_546_78e4,
    -1.320_892_344_402_109_674_47e6,
    2.500_838_018_233_579_158_39e7,
    -5.386_957_559_294_546_298_81e7,
];

/// ln 2 in two parts (fdlibm); `n·LN2_HI` is exact for `|n| < 2¹¹`.
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// exp is computed directly for `|x| ≤ EXP_LIMIT` (2ⁿ stays normal).
const EXP_LIMIT: f64 = 708.0;
/// 1/k! for k = 13 down to 2: the Taylor series of `(eʳ − 1 − r)/r²`,
/// accurate to below an ULP for `|r| ≤ ln2/2`.
const EXP_TAYLOR: [f64; 12] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    1.0 / 2.0,
];

/// ln(1+f) = f − f²/2 + s·(f²/2 + R(s²)), s = f/(2+f) (fdlibm's minimax R).
const LG: [f64; 7] = [
    6.666_666_666_666_735_130e-1,
    3.999_999_999_940_941_908e-1,
    2.857_142_874_366_239_149e-1,
    2.222_219_843_214_978_396e-1,
    1.818_357_216_161_805_012e-1,
    1.531_383_769_920_937_332e-1,
    1.479_819_860_511_658_591e-1,
];

#[inline(always)]
fn horner<const N: usize>(z: f64, c: &[f64; N]) -> f64 {
    c[1..].iter().fold(c[0], |p, &k| p * z + k)
}

/// sin(x) (`shift` 0) or cos(x) (`shift` 1) for `|x| ≤ TRIG_LIMIT`.
#[inline(always)]
fn sin_shifted(x: f64, shift: u64) -> f64 {
    let t = x * std::f64::consts::FRAC_2_PI + ROUND;
    let n = t - ROUND;
    let q = t.to_bits().wrapping_add(shift);
    let r = ((x - n * PIO2_1) - n * PIO2_2) - n * PIO2_3;
    let z = r * r;
    let s = r + r * z * horner(z, &SIN);
    let c = 1.0 - 0.5 * z + z * z * horner(z, &COS);
    let v = if q & 1 == 0 { s } else { c };
    f64::from_bits(v.to_bits() ^ ((q & 2) << 62))
}

#[inline(always)]
fn tan_fast(x: f64) -> f64 {
    let t = x * std::f64::consts::FRAC_2_PI + ROUND;
    let n = t - ROUND;
    let r = ((x - n * PIO2_1) - n * PIO2_2) - n * PIO2_3;
    let z = r * r;
    let y = r + r * (z * horner(z, &TAN_P) / horner(z, &TAN_Q));
    if t.to_bits() & 1 == 0 {
        y
    } else {
        -1.0 / y
    }
}

/// `2ⁿ` and `r` with `x = n·ln2 + r`, `|r| ≤ ln2/2`, for `|x| ≤ EXP_LIMIT`.
#[inline(always)]
fn exp_split(x: f64) -> (f64, f64) {
    let t = x * std::f64::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let k = t.to_bits().wrapping_sub(ROUND_BITS);
    let scale = f64::from_bits(k.wrapping_add(1023) << 52);
    (scale, r)
}

/// `eʳ − 1` for `|r| ≤ ln2/2`, accurate relatively even for tiny `r`.
#[inline(always)]
fn expm1_reduced(r: f64) -> f64 {
    r + r * r * horner(r, &EXP_TAYLOR)
}

#[inline(always)]
fn exp_fast(x: f64) -> f64 {
    let (scale, r) = exp_split(x);
    scale + scale * expm1_reduced(r)
}

/// tanh(x) = e/(e + 2) with e = e^{2|x|} − 1, the sign restored; |x| is
/// capped at 20, where tanh is 1 to the last bit.
#[inline(always)]
fn tanh_fast(x: f64) -> f64 {
    let (scale, r) = exp_split(2.0 * x.abs().min(20.0));
    let e = scale * expm1_reduced(r) + (scale - 1.0);
    let y = e / (e + 2.0);
    f64::from_bits(y.to_bits() | (x.to_bits() & (1 << 63)))
}

/// ln(x) for normal positive finite `x`: `x = 2ᵏ·m`, `m ∈ [√2/2, √2)`.
#[inline(always)]
fn ln_fast(x: f64) -> f64 {
    const OFFSET: u64 = 0x3ff0_0000_0000_0000 - 0x3fe6_a09e_0000_0000;
    let u = x.to_bits().wrapping_add(OFFSET);
    let k = (u >> 52).wrapping_sub(1023);
    let m = f64::from_bits((u & 0x000f_ffff_ffff_ffff).wrapping_add(0x3fe6_a09e_0000_0000));
    let dk = f64::from_bits(ROUND_BITS.wrapping_add(k)) - ROUND;
    let f = m - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG[1] + w * (LG[3] + w * LG[5]));
    let t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])));
    s * (hfsq + t1 + t2) + dk * LN2_LO - hfsq + f + dk * LN2_HI
}

/// Applies `fast` to every element of the block, or, when any element is
/// outside `fast`'s range, `fast` or `slow` to each as its range says.
#[inline(always)]
fn each(
    buf: &mut [f64],
    in_range: impl Fn(f64) -> bool,
    fast: impl Fn(f64) -> f64,
    slow: fn(f64) -> f64,
) {
    let all = buf.iter().fold(true, |all, &x| all & in_range(x));
    if all {
        buf.iter_mut().for_each(|x| *x = fast(*x));
    } else {
        buf.iter_mut()
            .for_each(|x| *x = if in_range(*x) { fast(*x) } else { slow(*x) });
    }
}

fn trig_range(x: f64) -> bool {
    x.abs() <= TRIG_LIMIT
}

/// sin of each element.
pub(crate) fn sin(buf: &mut [f64]) {
    each(buf, trig_range, |x| sin_shifted(x, 0), f64::sin);
}

/// cos of each element.
pub(crate) fn cos(buf: &mut [f64]) {
    each(buf, trig_range, |x| sin_shifted(x, 1), f64::cos);
}

/// tan of each element.
pub(crate) fn tan(buf: &mut [f64]) {
    each(buf, trig_range, tan_fast, f64::tan);
}

/// eˣ of each element.
pub(crate) fn exp(buf: &mut [f64]) {
    each(buf, |x| x.abs() <= EXP_LIMIT, exp_fast, f64::exp);
}

/// tanh of each element.
pub(crate) fn tanh(buf: &mut [f64]) {
    #[allow(clippy::eq_op)]
    each(buf, |x| x == x, tanh_fast, f64::tanh);
}

/// The natural logarithm of each element.
pub(crate) fn ln(buf: &mut [f64]) {
    each(
        buf,
        |x| (f64::MIN_POSITIVE..=f64::MAX).contains(&x),
        ln_fast,
        f64::ln,
    );
}
