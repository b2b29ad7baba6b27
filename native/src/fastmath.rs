//! Fast, accurate, branch-free `ln`, `exp` and `log1p` that vectorize.
//!
//! Every function is straight-line code on the bit pattern (exponent/mantissa split, a
//! polynomial, selects for special cases), with no tables and no branches, so a loop over a
//! slice becomes vector code. No fused multiply-add is used (Rust never contracts a*b+c), so
//! the scalar, AVX2 and AVX-512 copies give bit-identical results.
//!
//! Accuracy: the tests bound the distance from std: ln <= 1 ulp, exp <= 1 ulp, log1p <= 2 ulp.
//! Against the exact values (mpmath, 90k points each): ln up to 1.17 ulp, exp 1.0, log1p 1.45.

#![allow(clippy::excessive_precision)]

use crate::rng::{simd, Simd};

const LN2_HI: f64 = 6.93147180369123816490e-01; // 0x3fe62e42_fee00000
const LN2_LO: f64 = 1.90821492927058770002e-10; // 0x3dea39ef_35793c76
const SQRT1_2_BITS: u64 = 0x3FE6_A09E_667F_3BCD;
/// 1.5 * 2^52: adding it rounds a double of magnitude < 2^51 to an integer in the low bits.
const MAGIC: f64 = 6755399441055744.0;

// fdlibm / musl log coefficients: ln(1+f) = f - hfsq + s*(hfsq+R), s = f/(2+f)
const LG1: f64 = 6.666666666666735130e-01;
const LG2: f64 = 3.999999999940941908e-01;
const LG3: f64 = 2.857142874366239149e-01;
const LG4: f64 = 2.222219843214978396e-01;
const LG5: f64 = 1.818357216161805012e-01;
const LG6: f64 = 1.531383769920937332e-01;
const LG7: f64 = 1.479819860511658591e-01;

/// Integer-valued double from a small signed integer held in an i64, without a conversion
/// instruction (AVX2 has no 64-bit int -> double).
#[inline(always)]
fn small_i64_to_f64(k: i64) -> f64 {
    f64::from_bits((MAGIC.to_bits() as i64).wrapping_add(k) as u64) - MAGIC
}

/// Split a positive normal finite x = 2^k m with m in [sqrt(1/2), sqrt 2): returns (k, m - 1).
#[inline(always)]
fn ln_reduce(x: f64) -> (i64, f64) {
    let bits = x.to_bits();
    let tmp = bits.wrapping_sub(SQRT1_2_BITS);
    let k = (tmp as i64) >> 52;
    let m = f64::from_bits(bits.wrapping_sub((k as u64) << 52));
    (k, m - 1.0)
}

/// k ln2 + ln(1 + f) for |f| < ~0.42 (fdlibm: s = f/(2+f), ln(1+f) = f - hfsq + s (hfsq + R(s^2))).
#[inline(always)]
fn ln_poly(dk: f64, f: f64) -> f64 {
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    // R(z) = LG1 z + ... + LG7 z^7 by Estrin's scheme (short dependency chains: the loop is
    // latency-bound otherwise)
    let z2 = z * z;
    let z4 = z2 * z2;
    let p01 = LG1 + LG2 * z;
    let p23 = LG3 + LG4 * z;
    let p45 = LG5 + LG6 * z;
    let q = (p01 + z2 * p23) + z4 * (p45 + z2 * LG7);
    let r = z * q;
    let hi = dk * LN2_HI;
    let lo = dk * LN2_LO;
    (s * (hfsq + r) + lo + (f - hfsq)) + hi
}

/// Natural logarithm. ln(0) = -inf, ln(x < 0) = NaN, ln(inf) = inf, ln(NaN) = NaN;
/// subnormals are exact-range (scaled by 2^54 first).
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    let sub = x < f64::MIN_POSITIVE;
    let xs = if sub { x * 18014398509481984.0 } else { x }; // 2^54
    let (k, f) = ln_reduce(xs);
    let dk = small_i64_to_f64(k) + if sub { -54.0 } else { 0.0 };
    let r = ln_poly(dk, f);
    // special cases, as selects
    let r = if x == f64::INFINITY { x } else { r };
    let r = if x == 0.0 { f64::NEG_INFINITY } else { r };
    if x >= 0.0 {
        r
    } else {
        f64::NAN
    }
}

/// ln(x) for x known to be positive, normal and finite (e.g. a uniform from `rng`, which is
/// in [2^-54, 1]): the same value as `ln(x)` there, without the special-case selects.
/// Other inputs give unspecified (but non-panicking) results.
#[inline(always)]
pub fn ln_normal(x: f64) -> f64 {
    let (k, f) = ln_reduce(x);
    ln_poly(small_i64_to_f64(k), f)
}

/// Bound on |ln_approx(x) - ln(x)| (and on |ln_approx(x) - ln_normal(x)|) for positive normal
/// finite x: the polynomial's own error is 1.03e-5 on the reduced range (weighted least-squares
/// fit, checked on a dense grid by `ln_approx_bound`); the bound keeps a 10x margin.
pub const LN_APPROX_MAX_ERR: f64 = 1e-4;

/// A cheap ln (about 1e-5 absolute error, no division) for positive normal finite x. Used to
/// settle comparisons `ln(x) < t` without the full `ln` when `|ln_approx(x) - t| > LN_APPROX_MAX_ERR`.
#[inline(always)]
pub fn ln_approx(x: f64) -> f64 {
    let (k, f) = ln_reduce(x);
    let f2 = f * f;
    let p = f
        * ((0.9999189026834646 + -0.49923384031276075 * f)
            + f2 * ((0.337344564714547 + -0.27349464215120545 * f) + f2 * 0.17512858577558776));
    small_i64_to_f64(k) * std::f64::consts::LN_2 + p
}

/// ln(1 + x), accurate for tiny x. log1p(-1) = -inf, log1p(x < -1) = NaN, log1p(inf) = inf,
/// log1p(-0) = -0.
#[inline(always)]
pub fn log1p(x: f64) -> f64 {
    let u = 1.0 + x;
    // exact rounding error of u = fl(1 + x)
    let c = if x < 1.0 { x - (u - 1.0) } else { 1.0 - (u - x) };
    // 1 + x = u + c = 2^k (1 + f + c 2^-k): fold the correction into f (no extra division).
    // u >= 2^-53 whenever x > -1, so k >= -54 and 2^-k is a normal number (c is irrelevant
    // for huge k).
    let (k, f) = ln_reduce(u);
    let e = 1023i64.wrapping_sub(k);
    let scale = if e > 0 { f64::from_bits((e as u64 & 0x7FF) << 52) } else { 0.0 }; // 2^-k (0 for k >= 1023)
    let f = f + c * scale;
    let r = ln_poly(small_i64_to_f64(k), f);
    let r = if x.abs() < 1e-300 { x } else { r }; // keeps -0 and subnormals exact
    let r = if x == f64::INFINITY { x } else { r };
    let r = if x == -1.0 { f64::NEG_INFINITY } else { r };
    if x >= -1.0 {
        r
    } else {
        f64::NAN
    }
}

const LOG2E: f64 = std::f64::consts::LOG2_E;

/// e^x. Overflows to inf above ~709.78, underflows through subnormals to 0 below ~-745.13;
/// exp(NaN) = NaN, exp(-inf) = 0.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let xc = if x > 750.0 { 750.0 } else { x };
    let xc = if xc < -750.0 { -750.0 } else { xc };
    // k = round(x / ln2) via the magic constant
    let kd = xc * LOG2E + MAGIC;
    let k = (kd.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
    let kf = kd - MAGIC;
    let r = xc - kf * LN2_HI - kf * LN2_LO; // |r| <= ~0.3466
                                            // e^r - 1 = r + r^2 Q(r), Taylor series to degree 13 (truncation < 5e-18 on |r| <= ln2/2),
                                            // Q by Estrin's scheme (short dependency chains)
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let p0 = 1.0 / 2.0 + r * (1.0 / 6.0);
    let p1 = 1.0 / 24.0 + r * (1.0 / 120.0);
    let p2 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    let p3 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    let p4 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    let p5 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    let q = (p0 + r2 * p1) + r4 * (p2 + r2 * p3) + r8 * (p4 + r2 * p5);
    let em1 = r + r2 * q;
    let e = 1.0 + em1;
    // 2^k = 2^k1 * 2^k2, each within the normal exponent range for |k| <= 1083
    let k1 = k >> 1;
    let k2 = k - k1;
    let s1 = f64::from_bits(((k1 + 1023) as u64) << 52);
    let s2 = f64::from_bits(((k2 + 1023) as u64) << 52);
    let y = e * s1 * s2;
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// A cheaper e^x for the linear-density fast path (`density.rs`): relative error < 1e-14
/// (degree-11 Taylor polynomial instead of 13, one scaling step) for x in [-700, 700]; the
/// argument is clamped to that range (e^-700 ~ 1e-304, e^700 ~ 1e304), so results below ~1e-304
/// or above ~1e304 are not exp(x), which the callers (who treat densities outside
/// [1e-150, 1e150] as unknown) never rely on. NaN gives NaN.
#[inline(always)]
pub fn exp_clamped(x: f64) -> f64 {
    let xc = if x > 700.0 { 700.0 } else { x };
    let xc = if xc < -700.0 { -700.0 } else { xc };
    let kd = xc * LOG2E + MAGIC;
    let k = (kd.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
    let kf = kd - MAGIC;
    let r = xc - kf * LN2_HI - kf * LN2_LO; // |r| <= ~0.3466: truncation r^12/12! < 7e-15
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let p0 = 1.0 / 2.0 + r * (1.0 / 6.0);
    let p1 = 1.0 / 24.0 + r * (1.0 / 120.0);
    let p2 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    let p3 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    let p4 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    let q = (p0 + r2 * p1) + r4 * (p2 + r2 * p3) + r8 * p4;
    let e = 1.0 + (r + r2 * q);
    let y = e * f64::from_bits(((k + 1023) as u64) << 52);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// In place: xs[i] = ln(xs[i]).
pub fn ln_inplace(xs: &mut [f64]) {
    ln_inplace_with(simd(), xs)
}

/// `ln_inplace` on an explicit path (capped at what the CPU runs).
pub fn ln_inplace_with(level: Simd, xs: &mut [f64]) {
    let level = level.min(simd());
    crate::simd_dispatch!(level, fn(xs: &mut [f64]) -> () {
        for x in xs.iter_mut() {
            *x = ln(*x);
        }
    })
}

/// In place: xs[i] = exp(xs[i]).
pub fn exp_inplace(xs: &mut [f64]) {
    exp_inplace_with(simd(), xs)
}

pub fn exp_inplace_with(level: Simd, xs: &mut [f64]) {
    let level = level.min(simd());
    crate::simd_dispatch!(level, fn(xs: &mut [f64]) -> () {
        for x in xs.iter_mut() {
            *x = exp(*x);
        }
    })
}

/// In place: xs[i] = log1p(xs[i]).
pub fn log1p_inplace(xs: &mut [f64]) {
    log1p_inplace_with(simd(), xs)
}

pub fn log1p_inplace_with(level: Simd, xs: &mut [f64]) {
    let level = level.min(simd());
    crate::simd_dispatch!(level, fn(xs: &mut [f64]) -> () {
        for x in xs.iter_mut() {
            *x = log1p(*x);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn ulps(a: f64, b: f64) -> f64 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0.0;
        }
        if !a.is_finite() || !b.is_finite() {
            return f64::INFINITY;
        }
        let ulp = {
            let m = b.abs().max(f64::from_bits(1));
            let e = f64::from_bits(m.to_bits() & 0x7FF0_0000_0000_0000);
            if e == 0.0 {
                f64::from_bits(1)
            } else {
                e * f64::EPSILON
            }
        };
        (a - b).abs() / ulp
    }

    fn samples() -> Vec<f64> {
        let mut r = Stream::new(42, 0, 0);
        let mut v = Vec::new();
        for _ in 0..300_000 {
            // log-uniform over the whole positive range incl. subnormals
            let e = r.next_f64() * 2098.0 - 1074.0;
            v.push(2f64.powf(e) * (1.0 + r.next_f64()));
            v.push(r.next_f64());
            v.push(1.0 + (r.next_f64() - 0.5) * 1e-3);
        }
        for i in 1..2000 {
            v.push(f64::from_bits(i));
            v.push(f64::MIN_POSITIVE * (i as f64 / 1000.0));
            v.push(1.0 + i as f64 * f64::EPSILON);
            v.push(1.0 - i as f64 * f64::EPSILON / 2.0);
        }
        v.extend_from_slice(&[f64::MAX, f64::MIN_POSITIVE, 0.5, 2.0, std::f64::consts::E, 1.0]);
        v.retain(|x| x.is_finite() && *x > 0.0);
        v
    }

    #[test]
    fn ln_accuracy_and_specials() {
        let mut worst = 0.0f64;
        for &x in samples().iter() {
            let u = ulps(ln(x), x.ln());
            if u > worst {
                worst = u;
            }
        }
        println!("ln max ulp error {worst}");
        assert!(worst <= 1.0, "ln max ulp {worst}");
        for &x in samples().iter() {
            if x >= f64::MIN_POSITIVE {
                assert_eq!(ln_normal(x).to_bits(), ln(x).to_bits());
            }
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert_eq!(ln(-0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert!(ln(f64::NEG_INFINITY).is_nan());
        assert!(ln(f64::NAN).is_nan());
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
        assert!((ln(f64::from_bits(1)) - (-744.4400719213812)).abs() < 1e-12);
    }

    #[test]
    fn ln_approx_bound() {
        let mut worst = 0.0f64;
        let mut check = |x: f64| {
            let e = (ln_approx(x) - ln_normal(x)).abs();
            if e > worst {
                worst = e;
            }
        };
        // dense over one binade of mantissas (the error depends on the mantissa only, plus the
        // rounding of k ln2), then random over every exponent a uniform can have and more
        for i in 0..2_000_000u64 {
            check(1.0 + i as f64 / 2_000_000.0);
            check(0.5 + i as f64 / 4_000_000.0);
        }
        let mut r = Stream::new(8, 8, 8);
        for _ in 0..1_000_000 {
            let e = -(r.next_f64() * 60.0).floor();
            check(2f64.powf(e) * (1.0 + r.next_f64()));
            check(r.next_f64());
        }
        check(1.0);
        check(f64::MIN_POSITIVE);
        check(f64::MAX);
        println!("ln_approx max error {worst:e}");
        assert!(worst < LN_APPROX_MAX_ERR / 5.0, "{worst}");
        assert_eq!(ln_approx(1.0), 0.0);
    }

    #[test]
    fn log1p_accuracy_and_specials() {
        let mut worst = 0.0f64;
        let mut r = Stream::new(3, 0, 0);
        let mut xs: Vec<f64> = samples().iter().map(|x| x - 1.0).collect();
        for _ in 0..200_000 {
            let e = r.next_f64() * 60.0 - 60.0;
            let s = if r.next_f64() < 0.5 { -1.0 } else { 1.0 };
            xs.push(s * 2f64.powf(e) * 0.999);
        }
        xs.extend_from_slice(&[1e-300, -1e-300, 1e-310, 1e300, 1.0, -0.5, -0.9999999]);
        for &x in xs.iter() {
            if x <= -1.0 {
                continue;
            }
            let u = ulps(log1p(x), x.ln_1p());
            if u > worst {
                worst = u;
            }
        }
        println!("log1p max ulp error {worst}");
        assert!(worst <= 2.0, "log1p max ulp {worst}");
        assert_eq!(log1p(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(log1p(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(log1p(-1.0), f64::NEG_INFINITY);
        assert!(log1p(-1.5).is_nan());
        assert!(log1p(f64::NAN).is_nan());
        assert_eq!(log1p(f64::INFINITY), f64::INFINITY);
        assert_eq!(log1p(f64::MAX), f64::MAX.ln());
    }

    #[test]
    fn exp_accuracy_and_specials() {
        let mut worst = 0.0f64;
        let mut r = Stream::new(4, 0, 0);
        let mut xs = Vec::new();
        for _ in 0..300_000 {
            xs.push((r.next_f64() - 0.5) * 1500.0);
            xs.push((r.next_f64() - 0.5) * 4.0);
            xs.push((r.next_f64() - 0.5) * 1e-6);
        }
        for i in 0..2000 {
            xs.push(709.0 + i as f64 * 0.0005);
            xs.push(-708.0 - i as f64 * 0.02); // subnormal results
        }
        for &x in xs.iter() {
            let want = x.exp();
            let u = ulps(exp(x), want);
            // subnormal results: judge by absolute error in units of the smallest subnormal
            let u = if want < f64::MIN_POSITIVE { (exp(x) - want).abs() / f64::from_bits(1) } else { u };
            if u > worst {
                worst = u;
            }
        }
        println!("exp max ulp error {worst}");
        assert!(worst <= 1.0, "exp max ulp {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(1e300), f64::INFINITY);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(-746.0), 0.0);
        assert_eq!(exp(-1e300), 0.0);
        assert!(exp(f64::NAN).is_nan());
        assert!(exp(709.78) < f64::INFINITY);
        assert!(exp(-745.0) > 0.0);
    }

    #[test]
    fn slice_paths_bit_identical() {
        let xs = samples();
        let mut neg: Vec<f64> = xs.iter().map(|x| x.ln() * 3.0).collect();
        neg.extend_from_slice(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, -1.0, 800.0, -800.0]);
        for level in Simd::available() {
            let mut a = neg.clone();
            ln_inplace_with(level, &mut a);
            let mut b = neg.clone();
            exp_inplace_with(level, &mut b);
            let mut c = neg.clone();
            log1p_inplace_with(level, &mut c);
            for i in 0..neg.len() {
                assert_eq!(a[i].to_bits(), ln(neg[i]).to_bits(), "{level:?} ln({})", neg[i]);
                assert_eq!(b[i].to_bits(), exp(neg[i]).to_bits(), "{level:?} exp({})", neg[i]);
                assert_eq!(c[i].to_bits(), log1p(neg[i]).to_bits(), "{level:?} log1p({})", neg[i]);
            }
        }
    }

    #[test]
    #[ignore]
    fn bench_fastmath() {
        let mut r = Stream::new(1, 1, 1);
        let mut base = vec![0f64; 4096];
        r.fill_f64(&mut base);
        let mut v = base.clone();
        let reps = 20000;
        for level in Simd::available() {
            let t = std::time::Instant::now();
            for _ in 0..reps {
                v.copy_from_slice(&base);
                ln_inplace_with(level, &mut v);
            }
            let a = (reps * 4096) as f64 / t.elapsed().as_secs_f64() / 1e6;
            let t = std::time::Instant::now();
            for _ in 0..reps {
                v.copy_from_slice(&base);
                exp_inplace_with(level, &mut v);
            }
            let b = (reps * 4096) as f64 / t.elapsed().as_secs_f64() / 1e6;
            let t = std::time::Instant::now();
            for _ in 0..reps {
                v.copy_from_slice(&base);
                log1p_inplace_with(level, &mut v);
            }
            let c = (reps * 4096) as f64 / t.elapsed().as_secs_f64() / 1e6;
            println!("{level:?}: ln {a:.0} M/s, exp {b:.0} M/s, log1p {c:.0} M/s");
        }
        let t = std::time::Instant::now();
        for _ in 0..reps {
            v.copy_from_slice(&base);
            for x in v.iter_mut() {
                *x = x.ln();
            }
        }
        println!("std ln {:.0} M/s", (reps * 4096) as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
}

#[cfg(test)]
mod exp_clamped_tests {
    #[test]
    fn exp_clamped_accuracy() {
        let mut worst = 0.0f64;
        let n = 2_000_000;
        for i in 0..=n {
            let x = -700.0 + 1400.0 * i as f64 / n as f64;
            let want = x.exp();
            let got = super::exp_clamped(x);
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 1e-14, "worst relative error {worst}");
        assert!(super::exp_clamped(f64::NAN).is_nan());
        assert!(super::exp_clamped(-1e9) > 0.0 && super::exp_clamped(-1e9) < 1e-300);
        assert!(super::exp_clamped(1e9) > 1e300);
        assert_eq!(super::exp_clamped(0.0), 1.0);
    }
}
