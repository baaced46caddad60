//! The engine's vectorised elementwise kernels against `std`'s functions,
//! in ULPs, for `f64` and `f32`, over wide and narrow argument ranges and
//! the special values that take the scalar path; and the chained sum.

use crate::run;
use distob::{Cluster, RemoteArray};
use ndarray::{ArrayD, IxDyn};

/// Distance in units in the last place between two floats given as their
/// bits in monotonic order, with NaN equal only to NaN.
fn ulps(nan: (bool, bool), a: i64, b: i64) -> u64 {
    match nan {
        (true, true) => 0,
        (false, false) => a.abs_diff(b),
        _ => u64::MAX,
    }
}

/// A sign-magnitude float's bits as an integer that grows with the float.
fn monotonic(bits: i64, min: i64) -> i64 {
    if bits < 0 {
        min.wrapping_sub(bits)
    } else {
        bits
    }
}

fn ulps64(a: f64, b: f64) -> u64 {
    let m = |x: f64| monotonic(x.to_bits() as i64, i64::MIN);
    ulps((a.is_nan(), b.is_nan()), m(a), m(b))
}

fn ulps32(a: f32, b: f32) -> u64 {
    let m = |x: f32| monotonic(i64::from(x.to_bits() as i32), i64::from(i32::MIN));
    ulps((a.is_nan(), b.is_nan()), m(a), m(b))
}

/// `n` arguments, uniform in `[lo, hi]`, from a fixed xorshift stream.
fn uniform(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// `n` positive arguments spread over every binade from `2^lo` to `2^hi`.
fn log_uniform(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    uniform(n, lo, hi, seed)
        .into_iter()
        .map(f64::exp2)
        .collect()
}

const SPECIAL: [f64; 9] = [
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    1e-310,
    -1.0,
    1e300,
    -1e9,
];

type Remote64 = fn(&RemoteArray<f64>) -> RemoteArray<f64>;
type Remote32 = fn(&RemoteArray<f32>) -> RemoteArray<f32>;
/// A function's name, its remote forms, `std`'s, its arguments and its
/// bound in ULP on `f64`.
type Case = (
    &'static str,
    (Remote64, Remote32),
    fn(f64) -> f64,
    Vec<f64>,
    u64,
);

/// The worst distance between the engine's results and `std`'s, on `f64`
/// and on the same arguments as `f32`.
async fn worst(
    c: &Cluster,
    args: &[f64],
    remote: (Remote64, Remote32),
    std: fn(f64) -> f64,
) -> (u64, u64) {
    let x = ArrayD::from_shape_vec(IxDyn(&[args.len()]), args.to_vec()).unwrap();
    let got = remote.0(&c.scatter(x.clone()).await.unwrap())
        .fetch()
        .await
        .unwrap();
    let w64 = got
        .iter()
        .zip(&x)
        .map(|(&g, &x)| ulps64(g, std(x)))
        .max()
        .unwrap();
    let x32 = x.mapv(|v| v as f32);
    let got = remote.1(&c.scatter(x32.clone()).await.unwrap())
        .fetch()
        .await
        .unwrap();
    let std32 = |x: f32| std(f64::from(x)) as f32;
    let w32 = got
        .iter()
        .zip(&x32)
        .map(|(&g, &x)| ulps32(g, std32(x)))
        .max()
        .unwrap();
    (w64, w32)
}

macro_rules! remote {
    ($m:ident) => {
        (
            (|r: &RemoteArray<f64>| r.$m()) as Remote64,
            (|r: &RemoteArray<f32>| r.$m()) as Remote32,
        )
    };
}

#[test]
fn vectorised_kernels_stay_within_their_ulp_bounds() {
    let c = &crate::clusters().1[0];
    run(async {
        let n = 200_000;
        let trig: Vec<f64> = [
            uniform(n, -10.0, 10.0, 1),
            uniform(n, -1e4, 1e4, 2),
            uniform(n, -1e6, 1e6, 3),
            uniform(n / 10, -1e-6, 1e-6, 4),
            uniform(1000, 1.1e6, 1e12, 5),
            SPECIAL.to_vec(),
        ]
        .concat();
        let cases: [Case; 6] = [
            ("sin", remote!(sin), f64::sin, trig.clone(), 2),
            ("cos", remote!(cos), f64::cos, trig.clone(), 2),
            ("tan", remote!(tan), f64::tan, trig, 4),
            (
                "exp",
                remote!(exp),
                f64::exp,
                [
                    uniform(n, -708.0, 708.0, 6),
                    uniform(n, -1.0, 1.0, 7),
                    uniform(1000, -800.0, 800.0, 8),
                    SPECIAL.to_vec(),
                ]
                .concat(),
                2,
            ),
            (
                "ln",
                remote!(ln),
                f64::ln,
                [
                    log_uniform(n, -1020.0, 1020.0, 9),
                    uniform(n, 0.5, 2.0, 10),
                    uniform(n / 10, 1.0 - 1e-6, 1.0 + 1e-6, 11),
                    SPECIAL.to_vec(),
                ]
                .concat(),
                2,
            ),
            (
                "tanh",
                remote!(tanh),
                f64::tanh,
                [
                    uniform(n, -25.0, 25.0, 12),
                    uniform(n, -1e-3, 1e-3, 13),
                    SPECIAL.to_vec(),
                ]
                .concat(),
                4,
            ),
        ];
        for (name, remote, std, args, bound) in cases {
            let (w64, w32) = worst(c, &args, remote, std).await;
            assert!(w64 <= bound, "{name} on f64: {w64} ULP, bound {bound}");
            assert!(w32 <= 1, "{name} on f32: {w32} ULP");
        }
    });
}
