//! Distribution programs (PROTOCOL.md §2): decoding with validation, samplers, normalized
//! log densities, and cdf / survival functions for 1-D programs (used by truncation).
//!
//! # Uniform consumption (the TypeScript fallback mirrors this exactly)
//!
//! `u` below is `Stream::next_f64()` (open (0,1)); `x` is `Stream::next_u64()`. Rows are
//! generated in order; within a row, columns in order. Batch paths (uniform, exponential,
//! truncation by inversion) use `fill_f64`, which yields the same sequence as repeated
//! `next_f64`. The normal and normal-mixture batch paths prefetch blocks of u64s (`fill_u64`),
//! never more than the scalar algorithm would consume, and replay the scalar algorithm over
//! them in order (slow paths take the following u64s of the block, then of the stream), so
//! they consume and produce exactly what the per-value descriptions below say.
//!
//! - standard normal `Z` (ziggurat, see `zig()` for the tables): repeat { x = next_u64;
//!   i = x & 255; neg = (x >> 8) & 1; f = (x >> 11) * 2^-53; z = f * X[i];
//!   if z < X[i+1] return ±z;
//!   if i == 0 { tail: repeat { a = -ln(u1) / R; b = -ln(u2) } until 2b > a*a (u1 drawn before
//!   u2); return ±(R + a) }
//!   wedge: u; if F[i] + u * (F[i+1] - F[i]) < exp(-0.5 z*z) return ±z; } (neg -> minus)
//! - uniform(a, b): `a + (b - a) * u`
//! - normal(mu, s): `mu + s * Z`; lognormal: `exp(mu + s * Z)`
//! - exponential(rate): `ln(u) * (-1 / rate)`
//! - gamma(shape, rate), unit-rate variate G(shape):
//!   shape >= 1: Marsaglia-Tsang with d = shape - 1/3, c = 1 / sqrt(9 d):
//!     repeat { Z; v = 1 + c Z; if v <= 0 continue (no uniform drawn); v = v^3; u;
//!       accept if u < 1 - 0.0331 Z^4 or ln(u) < 0.5 Z^2 + d (1 - v + ln v) } G = d v
//!   shape < 1: g = G(shape + 1) (as above), then u; G = g * exp(ln(u) / shape)
//!     (log-space form: ln G = ln g + ln(u) / shape)
//!   result G / rate; for shape < 1 where G < 2^-1022 (DBL_MIN), exp(ln g + ln(u) / shape -
//!   ln rate) instead (a small rate can bring an underflowed G back into range)
//! - beta(a, b): X = G(a) then Y = G(b); both shapes < 1: ln X, ln Y in log space and
//!   `1 / (1 + exp(lnY - lnX))`; otherwise `X / (X + Y)`.
//! - student t(df, loc, scale): Z first, then V = 2 G(df / 2); `loc + scale * Z / sqrt(V / df)`
//! - cauchy: `loc + scale * tan(pi * (u - 0.5))`
//! - laplace: `u < 0.5 ? loc + scale * ln(2u) : loc - scale * ln(2(1 - u))`
//! - logistic: `loc + scale * ln(u / (1 - u))`
//! - truncated(lo, hi, child): at decode, Flo = F(lo), Shi = S(hi), Slo = S(lo), Fhi = F(hi)
//!   (cdf / survival of the child); `upper` = Slo < 0.5 (lo above the median);
//!   mass = upper ? Slo - Shi : (Fhi <= 0.5 ? Fhi - Flo : 1 - Flo - Shi).
//!   mass >= 0.25: rejection, repeat { draw one child value } until lo <= v <= hi.
//!   Otherwise one u per value: upper ? S^-1(Slo - u (Slo - Shi)) : F^-1(Flo + u (Fhi - Flo)),
//!   clamped to [lo, hi] within the child's support, and off a support edge at 0 or 1 (to
//!   the smallest double above 0, the largest below 1). (No uniforms besides u; numeric
//!   inverses draw nothing.)
//!   Except for a narrow interval (mass below 2^-20 of Slo if `upper`, else of Fhi, below
//!   2^32 subnormal steps, or below 2^32 times a composite child's `cdf_floor`) where the
//!   child's density has a known bound pmax (`Flat`; the expected acceptance must be >= 1/2):
//!   with [a, b] = [lo, hi] within the child's support, repeat { x = min(a + (b - a) u1, b);
//!   u2 } until ln(u2) < ln p(x) - ln pmax (u1 drawn before u2).
//! - mixture: u; component = first j with u < cum[j] (cum = running sum of the normalized
//!   weights, in order), else the last component with positive weight; then that component
//!   draws one row.
//! - product: column i from child i (one value each, in column order).
//! - mvnormal: column i = mu_i + sigma_i * Z, in column order.

use crate::fastmath as fm;
use crate::rng::Stream;
use crate::special as sp;
use std::f64::consts::PI;
use std::sync::OnceLock;

/// Gamma and beta draws stay inside their open support: a draw that rounds to 0 (shapes far
/// below 1) or to 1 (a beta with a tiny second shape) moves to the nearest double inside, where
/// the log density is finite. At the edge it is infinite for shapes below 1, and a target with
/// the same edge would see p/q = inf - inf there: rejected, which biased the sample (0.8% of
/// beta(0.05, 0.1) lies within a rounding of 1). The true draw was within that rounding anyway.
const TINY_POS: f64 = f64::from_bits(1);
const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;

const LN_2: f64 = std::f64::consts::LN_2;
const LN_PI: f64 = 1.144_729_885_849_400_2;
/// Values per chunk of the bulk samplers (uniforms are transformed while in L1).
const FILL_CHUNK: usize = 2048;
/// Rows per scratch chunk for composite log densities.
const CHUNK: usize = 512;
/// Doubles of a mixture's log-density scratch (256 KiB), its component terms for a chunk of rows.
const MIX_SCRATCH: usize = 1 << 15;
/// Maximum nesting depth of a program (keeps decoding recursion bounded).
const MAX_DEPTH: usize = 64;

// ---------------------------------------------------------------------------------------------
// Ziggurat tables (Marsaglia & Tsang 2000, 256 layers, Doornik's construction)

/// Tail start R and layer area V for 256 layers of f(x) = exp(-x²/2).
pub const ZIG_R: f64 = 3.6541528853610088;
pub const ZIG_V: f64 = 0.00492867323399;

pub struct Zig {
    /// X[0] = V / f(R), X[1] = R, X[i] = sqrt(-2 ln(V / X[i-1] + f(X[i-1]))) for i = 2..255,
    /// X[256] = 0.
    pub x: [f64; 257],
    /// F[i] = exp(-X[i]² / 2) (so F[256] = 1).
    pub f: [f64; 257],
    /// Wedge squeeze of layer i (z in [X[i+1], X[i]]): `kind[i]` = 1 when exp(-z²/2) is convex
    /// there (X[i+1] >= 1), 2 when concave (X[i] <= 1), 0 otherwise (no squeeze);
    /// `cs[i]` = (F[i+1] - F[i]) / (X[i] - X[i+1]), the chord's slope. See `wedge_test`.
    pub kind: [u8; 257],
    pub cs: [f64; 257],
    /// X[i] 2^-53 (exact): (bits >> 11) as f64 * XS[i] is bit for bit f * X[i] with
    /// f = (bits >> 11) 2^-53 (both are the one rounding of the same real product).
    pub xs: [f64; 257],
}

/// Relative margin of the wedge squeeze: far above the error of `fm::exp(-0.5 z z)` (a few
/// ulps, argument rounding included) and of the bounds' own rounding (a few ulps).
const WEDGE_TOL: f64 = 1e-12;

/// The ziggurat wedge test of layer i (1..=255), `lhs < fm::exp(-0.5 z z)` with
/// lhs = F[i] + u (F[i+1] - F[i]) and z in [X[i+1], X[i]], decided without the exp when a
/// linear bound settles it: on [a, b] = [X[i+1], X[i]], g(z) = exp(-z²/2) lies below its chord
/// and above its tangents at a and b where it is convex (a >= 1), and the other way round
/// where it is concave (b <= 1). The bounds are widened by WEDGE_TOL, so a settled test has
/// the result the exp would give (about 1% of wedge tests still compute it).
#[inline(always)]
fn wedge_test(t: &Zig, i: usize, z: f64, lhs: f64) -> bool {
    let k = t.kind[i];
    if k != 0 {
        let (a, b, fa, fb) = (t.x[i + 1], t.x[i], t.f[i + 1], t.f[i]);
        let chord = fb + t.cs[i] * (b - z);
        let ta = fa * (1.0 - a * (z - a));
        let tb = fb * (1.0 + b * (b - z));
        let (lo, hi) = if k == 1 {
            (if ta > tb { ta } else { tb }, chord)
        } else {
            (chord, if ta < tb { ta } else { tb })
        };
        if lhs < lo * (1.0 - WEDGE_TOL) {
            return true;
        }
        if lhs > hi * (1.0 + WEDGE_TOL) {
            return false;
        }
    }
    lhs < fm::exp(-0.5 * z * z)
}

/// The linear bounds of `wedge_test` without branches: (settled accept, settled reject) for
/// a layer with kind != 0 (meaningless for kind 0).
#[inline(always)]
fn wedge_bounds(t: &Zig, i: usize, z: f64, lhs: f64) -> (bool, bool) {
    let (a, b, fa, fb) = (t.x[i + 1], t.x[i], t.f[i + 1], t.f[i]);
    let chord = fb + t.cs[i] * (b - z);
    let ta = fa * (1.0 - a * (z - a));
    let tb = fb * (1.0 + b * (b - z));
    let convex = t.kind[i] == 1;
    let tmax = if ta > tb { ta } else { tb };
    let tmin = if ta < tb { ta } else { tb };
    let lo = std::hint::select_unpredictable(convex, tmax, chord);
    let hi = std::hint::select_unpredictable(convex, chord, tmin);
    (lhs < lo * (1.0 - WEDGE_TOL), lhs > hi * (1.0 + WEDGE_TOL))
}

/// Built once per process with std's exp/ln/sqrt:
/// ```text
/// f = exp(-0.5 R R); X[0] = V / f; X[1] = R; X[256] = 0
/// for i in 2..256 { X[i] = sqrt(-2 ln(V / X[i-1] + f)); f = exp(-0.5 X[i] X[i]) }
/// for i in 0..=256 { F[i] = exp(-0.5 X[i] X[i]) }
/// ```
pub fn zig() -> &'static Zig {
    static Z: OnceLock<Zig> = OnceLock::new();
    Z.get_or_init(|| {
        let mut x = [0.0f64; 257];
        let mut f = (-0.5 * ZIG_R * ZIG_R).exp();
        x[0] = ZIG_V / f;
        x[1] = ZIG_R;
        x[256] = 0.0;
        for i in 2..256 {
            x[i] = (-2.0 * (ZIG_V / x[i - 1] + f).ln()).sqrt();
            f = (-0.5 * x[i] * x[i]).exp();
        }
        let mut ff = [0.0f64; 257];
        for i in 0..257 {
            ff[i] = (-0.5 * x[i] * x[i]).exp();
        }
        let mut kind = [0u8; 257];
        let mut cs = [0.0f64; 257];
        for i in 1..256 {
            let (a, b) = (x[i + 1], x[i]);
            kind[i] = if a >= 1.0 { 1 } else if b <= 1.0 { 2 } else { 0 };
            cs[i] = (ff[i + 1] - ff[i]) / (b - a);
        }
        let xs = x.map(|v| v * (1.0 / 9007199254740992.0));
        Zig { x, f: ff, kind, cs, xs }
    })
}

/// Applies the ziggurat sign bit (bit 8) to z >= 0 (branch-free; `neg -> -z`).
#[inline(always)]
fn zig_sign(z: f64, bits: u64) -> f64 {
    f64::from_bits(z.to_bits() | (((bits >> 8) & 1) << 63))
}

/// One standard normal variate (order of draws: see the module docs). The fast path (98.5%
/// of draws) is inlined; wedges, the tail and retries go to `std_normal_slow`.
#[inline(always)]
pub fn std_normal<R: Draw>(rng: &mut R, t: &Zig) -> f64 {
    let bits = rng.next_u64();
    let i = (bits & 255) as usize;
    let f = (bits >> 11) as f64 * (1.0 / 9007199254740992.0);
    let z = f * t.x[i];
    if z < t.x[i + 1] {
        return zig_sign(z, bits);
    }
    std_normal_slow(rng, t, bits)
}

/// Finishes an attempt that missed the rectangle (`bits` is its u64), then keeps drawing.
#[cold]
#[inline(never)]
fn std_normal_slow<R: Draw>(rng: &mut R, t: &Zig, mut bits: u64) -> f64 {
    loop {
        let i = (bits & 255) as usize;
        let f = (bits >> 11) as f64 * (1.0 / 9007199254740992.0);
        let z = f * t.x[i];
        if z < t.x[i + 1] {
            return zig_sign(z, bits);
        }
        if i == 0 {
            return zig_sign(ZIG_R + normal_tail(rng), bits);
        }
        let u = rng.next_f64();
        if wedge_test(t, i, z, t.f[i] + u * (t.f[i + 1] - t.f[i])) {
            return zig_sign(z, bits);
        }
        bits = rng.next_u64();
    }
}

/// Marsaglia's tail method: the excess over R.
#[cold]
fn normal_tail<R: Draw>(rng: &mut R) -> f64 {
    loop {
        let a = -fm::ln(rng.next_f64()) / ZIG_R;
        let b = -fm::ln(rng.next_f64());
        if 2.0 * b > a * a {
            return a;
        }
    }
}


/// Where ziggurat slow paths take their draws from: the stream, or a prefetched block of the
/// stream's next outputs followed by the stream itself (same sequence either way).
pub trait Draw {
    fn next_u64(&mut self) -> u64;
    #[inline(always)]
    fn next_f64(&mut self) -> f64 {
        crate::rng::u64_to_open01(self.next_u64())
    }
}

impl Draw for Stream {
    #[inline(always)]
    fn next_u64(&mut self) -> u64 {
        Stream::next_u64(self)
    }
}

/// `buf[pos..]` (already taken from `rng`), then `rng`.
struct Prefetched<'a> {
    buf: &'a [u64],
    pos: usize,
    rng: &'a mut Stream,
}

impl Draw for Prefetched<'_> {
    #[inline(always)]
    fn next_u64(&mut self) -> u64 {
        match self.buf.get(self.pos) {
            Some(&x) => {
                self.pos += 1;
                x
            }
            None => self.rng.next_u64(),
        }
    }
}

/// u64s prefetched per block by `normal_fill`.
const NBUF: usize = 512;

/// `out[k] = mu + s * Z_k` for consecutive standard normals, consuming the stream exactly as
/// repeated `std_normal` calls would (same values, bit for bit). Each variate takes at least
/// one u64, so a block of `min(remaining, NBUF)` prefetched u64s never reads past what the
/// scalar code would; slow paths continue in the block (then the stream) in sequence.
/// Pass 1 runs the rectangle test on every prefetched u64 without branches
/// (values written straight into `out`, misses marked in a bit mask); pass 2 walks the misses in
/// order, running the slow path for each (which consumes the following u64s, the same ones
/// scalar code would; the common wedge case is settled inline without branches), writing its
/// value at the miss's own slot and marking the consumed slots dropped; one in-place
/// compaction (`compact_kept`, vcompresspd on AVX-512) then removes the dropped slots.
#[inline(always)]
fn normal_fill_body(rng: &mut Stream, t: &Zig, out: &mut [f64], mu: f64, s: f64) {
    let n = out.len();
    let mut buf = [0u64; NBUF];
    let mut miss = [0u64; NBUF / 64];
    let mut k = 0;
    while k < n {
        let m = (n - k).min(NBUF);
        let mut any = 0u64;
        if !fused_pass1(rng, t, &mut buf[..m], &mut out[k..k + m], mu, s, &mut miss, &mut any) {
            rng.fill_u64(&mut buf[..m]);
            let (buf, o) = (&buf[..m], &mut out[k..k + m]);
            for (w, (bc, oc)) in miss.iter_mut().zip(buf.chunks(64).zip(o.chunks_mut(64))) {
                let mut mw = 0u64;
                for (l, (&bits, ov)) in bc.iter().zip(oc.iter_mut()).enumerate() {
                    let i = (bits & 255) as usize;
                    let f = (bits >> 11) as f64 * (1.0 / 9007199254740992.0);
                    let z = f * t.x[i];
                    mw |= ((z >= t.x[i + 1]) as u64) << l;
                    *ov = mu + s * zig_sign(z, bits);
                }
                *w = mw;
                any |= mw;
            }
        }
        let buf = &buf[..m];
        let o = &mut out[k..k + m];
        if any == 0 {
            k += m;
            continue;
        }
        // pass 2: the misses in order (j = next unconsumed u64 of the block); a miss's slow
        // path consumes the u64s after it (the ones scalar code would), its value goes to the
        // miss's own slot and the slots it consumed are marked dropped; then one compaction
        // pass (from the first dropped slot) removes them
        let mut drop = [0u64; NBUF / 64];
        let mut first = m;
        let mut j = 0usize;
        let words = (m + 63) / 64;
        let mut b = 0;
        while b < words {
            let mut mw = miss[b];
            // misses already consumed by an earlier slow path
            if j > b * 64 {
                let skip = j - b * 64;
                mw = if skip >= 64 { 0 } else { mw & (u64::MAX << skip) };
            }
            if mw == 0 {
                b += 1;
                continue;
            }
            let e = b * 64 + mw.trailing_zeros() as usize;
            // the common case without branches (the layer kind and the wedge outcome are
            // unpredictable): a layer > 0 with a wedge, buf[e + 1] its uniform, the linear
            // bounds settle the test, and on a rejection the next attempt buf[e + 2] lies in
            // its rectangle (pass 1 has its value in o): exactly what `std_normal_slow` does
            // with these draws. Anything else takes `std_normal_slow`.
            let bits = buf[e];
            let i = (bits & 255) as usize;
            let z = (bits >> 11) as f64 * (1.0 / 9007199254740992.0) * t.x[i];
            let (acc, rej) = if e + 2 < m {
                let u = crate::rng::u64_to_open01(buf[e + 1]);
                wedge_bounds(t, i, z, t.f[i] + u * (t.f[i + 1] - t.f[i]))
            } else {
                (false, false)
            };
            let next_hit = e + 2 < m && (miss[(e + 2).min(m - 1) / 64] >> ((e + 2) % 64)) & 1 == 0;
            let simple = (i != 0) & (t.kind[i] != 0) & (z >= t.x[i + 1]) & (acc | (rej & next_hit));
            if simple {
                let va = mu + s * zig_sign(z, bits);
                o[e] = std::hint::select_unpredictable(acc, va, o[e + 2]);
                drop[(e + 1) / 64] |= 1 << ((e + 1) % 64);
                // (a rejection only when the accept bound did not settle it: wedge_test
                // checks acceptance first)
                drop[(e + 2) / 64] |= (!acc as u64) << ((e + 2) % 64);
                j = e + 3 - acc as usize;
                first = first.min(e + 1);
                continue;
            }
            let mut src = Prefetched { buf, pos: e + 1, rng: &mut *rng };
            let z = std_normal_slow(&mut src, t, buf[e]);
            j = src.pos;
            o[e] = mu + s * z;
            let end = j.min(m);
            if e + 1 < end && e + 1 < first {
                first = e + 1;
            }
            for p in e + 1..end {
                drop[p / 64] |= 1 << (p % 64);
            }
            if j >= m {
                break;
            }
        }
        let w = if first < m { compact_kept(o, first, &drop) } else { m };
        k += w;
    }
}

/// Removes the slots marked in `drop` from `o` (slots before `first` are not marked):
/// in place, order kept; returns the number of slots left.
#[inline(always)]
fn compact_kept(o: &mut [f64], first: usize, drop: &[u64]) -> usize {
    let m = o.len();
    let mut c = first;
    let mut p = first;
    #[cfg(target_arch = "x86_64")]
    {
        if crate::rng::simd() == crate::rng::Simd::Avx512 && drop.len() * 64 >= m {
            // SAFETY: the CPU has the features (checked above); drop covers the m slots
            let (c8, p8) = unsafe { compact_kept_avx512(o.as_mut_ptr(), m, first, drop.as_ptr()) };
            c = c8;
            p = p8;
        }
    }
    while p < m {
        o[c] = o[p];
        c += ((drop[p / 64] >> (p % 64)) & 1 == 0) as usize;
        p += 1;
    }
    c
}

/// The 8-slot groups of `compact_kept` (from the group holding `first`): returns (slots
/// kept so far, next slot).
///
/// # Safety
/// AVX-512 CPU; `o` holds m doubles and `drop` ceil(m / 64) words.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,popcnt")]
unsafe fn compact_kept_avx512(o: *mut f64, m: usize, first: usize, drop: *const u64) -> (usize, usize) {
    use std::arch::x86_64::*;
    let mut p = first & !7;
    let mut c = p;
    while p + 8 <= m {
        let keep = !((*drop.add(p / 64) >> (p % 64)) as u8);
        let v = _mm512_loadu_pd(o.add(p));
        // c <= p: the full-vector store reaches at most the vector just loaded
        _mm512_storeu_pd(o.add(c), _mm512_maskz_compress_pd(keep, v));
        c += keep.count_ones() as usize;
        p += 8;
    }
    (c, p)
}

/// Pass 1 of `normal_fill_body` on AVX-512 with the generator stepped inside the loop (its
/// dependency chain overlaps the table gathers): fills `buf` with the stream's next
/// `buf.len()` u64s (exactly as `fill_u64` would), `o` with the rectangle values and `miss`
/// (first ceil(len / 64) words) with the misses; `any` = OR of the miss words. False (nothing
/// done) on other CPUs.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fused_pass1(rng: &mut Stream, t: &Zig, buf: &mut [u64], o: &mut [f64], mu: f64, s: f64, miss: &mut [u64], any: &mut u64) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::rng::simd() == crate::rng::Simd::Avx512 {
            let m = buf.len().min(o.len()).min(miss.len() * 64);
            let head = rng.take_buffered(&mut buf[..m]);
            let bulk = (m - head) / 8 * 8;
            for w in miss[..m.div_ceil(64)].iter_mut() {
                *w = 0;
            }
            let lane = |bits: u64, ov: &mut f64| -> bool {
                let i = (bits & 255) as usize;
                let f = (bits >> 11) as f64 * (1.0 / 9007199254740992.0);
                let z = f * t.x[i];
                *ov = mu + s * zig_sign(z, bits);
                z >= t.x[i + 1]
            };
            for p in 0..head {
                miss[p / 64] |= (lane(buf[p], &mut o[p]) as u64) << (p % 64);
            }
            if bulk > 0 {
                // SAFETY: the CPU has the features (checked above); buf, o hold head + bulk
                // entries and miss covers them
                unsafe { zig_pass1_gen_avx512(rng.state_mut(), t, buf.as_mut_ptr(), o.as_mut_ptr(), head, bulk, mu, s, miss.as_mut_ptr()) };
            }
            if head + bulk < m {
                rng.fill_u64_short(&mut buf[head + bulk..m]);
                for p in head + bulk..m {
                    miss[p / 64] |= (lane(buf[p], &mut o[p]) as u64) << (p % 64);
                }
            }
            *any = miss[..m.div_ceil(64)].iter().fold(0, |a, &w| a | w);
            return true;
        }
    }
    let _ = (rng, t, buf, o, mu, s, miss, any);
    false
}

/// Lanes a..a+len (len a multiple of 8) of `fused_pass1`, generating their u64s from `st`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn zig_pass1_gen_avx512(st: &mut crate::rng::State, t: &Zig, buf: *mut u64, o: *mut f64, a: usize, len: usize, mu: f64, s: f64, miss: *mut u64) {
    use std::arch::x86_64::*;
    let mut regs = crate::rng::avx512::load(st);
    let m255 = _mm512_set1_epi64(255);
    let sign = _mm512_set1_epi64(i64::MIN);
    let muv = _mm512_set1_pd(mu);
    let sv = _mm512_set1_pd(s);
    let xt = t.x.as_ptr();
    let xst = t.xs.as_ptr();
    let mut p = a;
    let mut acc = 0u64;
    while p < a + len {
        let bits = crate::rng::avx512::next(&mut regs);
        _mm512_storeu_si512(buf.add(p) as *mut _, bits);
        let i = _mm512_and_si512(bits, m255);
        // z = f X[i] as (bits >> 11) (X[i] 2^-53): the same bits, one multiplication less
        let xi = _mm512_i64gather_pd::<8>(i, xst as *const _);
        let xi1 = _mm512_i64gather_pd::<8>(i, xt.add(1) as *const _);
        let z = _mm512_mul_pd(_mm512_cvtepu64_pd(_mm512_srli_epi64::<11>(bits)), xi);
        let mk = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(z, xi1) as u64;
        // sign bit 8 to bit 63: z | (bits << 55 & sign) in one ternary op
        let zs = _mm512_castsi512_pd(_mm512_ternarylogic_epi64::<0xF8>(_mm512_castpd_si512(z), _mm512_slli_epi64::<55>(bits), sign));
        _mm512_storeu_pd(o.add(p), _mm512_add_pd(muv, _mm512_mul_pd(sv, zs)));
        // miss bits gather in a register, flushed once per word (p + 8 ends a word or the run)
        let (w, b) = (p / 64, p % 64);
        acc |= mk << b;
        if b > 56 {
            // (only when a is not a multiple of 8)
            *miss.add(w + 1) |= mk >> (64 - b);
        }
        p += 8;
        if p % 64 < 8 || p >= a + len {
            *miss.add(w) |= acc;
            acc = 0;
        }
    }
    crate::rng::avx512::store(st, &regs);
}

/// Dispatched `normal_fill_body` (LLVM keeps the table lookups scalar; the rest is wide).
fn normal_fill(rng: &mut Stream, out: &mut [f64], mu: f64, s: f64) {
    let t = zig();
    crate::simd_dispatch!(crate::rng::simd(), fn(rng: &mut Stream, t: &Zig, out: &mut [f64], mu: f64, s: f64) -> () {
        normal_fill_body(rng, t, out, mu, s)
    })
}

// ---------------------------------------------------------------------------------------------
// Gamma variates (unit rate)

#[derive(Clone, Debug)]
struct GammaGen {
    shape: f64,
    d: f64,
    c: f64,
    small: bool,
}

impl GammaGen {
    fn new(shape: f64) -> GammaGen {
        let small = shape < 1.0;
        let s = if small { shape + 1.0 } else { shape };
        let d = s - 1.0 / 3.0;
        GammaGen { shape, d, c: 1.0 / (9.0 * d).sqrt(), small }
    }

    /// Marsaglia-Tsang for the (possibly shifted) shape >= 1.
    #[inline(always)]
    fn mt<R: Draw>(&self, rng: &mut R, t: &Zig) -> f64 {
        let (d, c) = (self.d, self.c);
        loop {
            let z = std_normal(rng, t);
            let v = 1.0 + c * z;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = rng.next_f64();
            let z2 = z * z;
            if u < 1.0 - 0.0331 * z2 * z2 {
                return d * v;
            }
            if fm::ln(u) < 0.5 * z2 + d * (1.0 - v + fm::ln(v)) {
                return d * v;
            }
        }
    }

    #[inline(always)]
    fn sample<R: Draw>(&self, rng: &mut R, t: &Zig) -> f64 {
        let (g, e) = self.parts(rng, t);
        if self.small {
            g * fm::exp(e)
        } else {
            g
        }
    }

    /// The draws of one variate as (g, e), the variate being g e^e: shape >= 1: (G(shape), 0);
    /// shape < 1: (G(shape + 1), ln(u) / shape), u drawn after g.
    #[inline(always)]
    fn parts<R: Draw>(&self, rng: &mut R, t: &Zig) -> (f64, f64) {
        let g = self.mt(rng, t);
        if self.small {
            (g, fm::ln(rng.next_f64()) / self.shape)
        } else {
            (g, 0.0)
        }
    }

    /// A gamma(shape, rate) variate: `sample() / rate`, except where the unit variate fell below
    /// the normal range (shapes far below 1, where u^(1/shape) underflows): there the same draws
    /// give exp(ln g + ln(u) / shape - ln rate), so a rate far below 1 still carries it back
    /// into range (gamma(0.01, 1e-100) drew 5e-324 for 5.9e-4 of its draws, ten times the
    /// mass that lies there). Results in the normal range keep their bytes.
    #[inline]
    fn sample_rate<R: Draw>(&self, rng: &mut R, t: &Zig, rate: f64, ln_rate: f64) -> f64 {
        let (g, e) = self.parts(rng, t);
        if !self.small {
            return g / rate;
        }
        let x = g * fm::exp(e);
        if x >= f64::MIN_POSITIVE {
            x / rate
        } else {
            fm::exp(fm::ln(g) + e - ln_rate)
        }
    }

    /// ln of the same variate `sample` would give (same draws).
    #[inline]
    fn ln_sample<R: Draw>(&self, rng: &mut R, t: &Zig) -> f64 {
        let (g, e) = self.parts(rng, t);
        fm::ln(g) + e
    }
}

/// Components handled by the batch sampler for 1-D mixtures of normals.
const MIX_FAST_K: usize = 16;

/// Batch sampler for a 1-D mixture whose components are all normal (same two-pass scheme as
/// `normal_fill_body`): a value is one uniform (component pick) then one standard normal, so
/// at least two u64s. Pass 1 evaluates, at every position j of a prefetched block, the value
/// that would follow if the normal's first u64 (j + 1) hits the ziggurat rectangle: the pick
/// `#{c : cum[c] <= u}` (the first c with u < cum[c], cum being nondecreasing; K means
/// "none": the last positive-weight component) with no branches. Pass 2 replays the scalar
/// algorithm in order (`Mix::pick`, then `std_normal`).
#[inline(always)]
fn mix_normal_fill_body(rng: &mut Stream, t: &Zig, out: &mut [f64], mx: &Mix) {
    let k_n = mx.children.len();
    let mut mus = [0.0f64; MIX_FAST_K + 1];
    let mut sig = [0.0f64; MIX_FAST_K + 1];
    for (c, ch) in mx.children.iter().enumerate() {
        if let Dist::Normal { mu, sigma, .. } = ch {
            mus[c] = *mu;
            sig[c] = *sigma;
        }
    }
    // index K (no cum above u) means the last positive-weight component
    mus[k_n] = mus[mx.last];
    sig[k_n] = sig[mx.last];
    let cum = &mx.cum[..k_n];
    let n = out.len();
    let mut buf = [0u64; NBUF];
    let mut res = [0.0f64; NBUF];
    let mut uu = [0.0f64; NBUF];
    let mut idx = [0u64; NBUF];
    let mut fast = [false; NBUF];
    let mut k = 0;
    while k < n {
        let m = ((n - k) * 2).min(NBUF);
        rng.fill_u64(&mut buf[..m]);
        let buf = &buf[..m];
        let m1 = m - 1;
        for j in 0..m1 {
            uu[j] = crate::rng::u64_to_open01(buf[j]);
            idx[j] = 0;
        }
        for &c in cum {
            for j in 0..m1 {
                idx[j] += (c <= uu[j]) as u64;
            }
        }
        for j in 0..m1 {
            let bits = buf[j + 1];
            let i = (bits & 255) as usize;
            let f = (bits >> 11) as f64 * (1.0 / 9007199254740992.0);
            let z = f * t.x[i];
            fast[j] = z < t.x[i + 1];
            let c = (idx[j] as usize).min(MIX_FAST_K);
            res[j] = mus[c] + sig[c] * zig_sign(z, bits);
        }
        fast[m1] = false;
        let mut src = Prefetched { buf, pos: 0, rng: &mut *rng };
        // each value consumes >= 2 u64s, so k < n while pos < m
        while src.pos < m {
            let j = src.pos;
            out[k] = if fast[j] {
                src.pos = j + 2;
                res[j]
            } else {
                let c = mx.pick(src.next_f64());
                mus[c] + sig[c] * std_normal(&mut src, t)
            };
            k += 1;
        }
    }
}

fn mix_normal_fill(rng: &mut Stream, out: &mut [f64], mx: &Mix) {
    let t = zig();
    crate::simd_dispatch!(crate::rng::simd(), fn(rng: &mut Stream, t: &Zig, out: &mut [f64], mx: &Mix) -> () {
        mix_normal_fill_body(rng, t, out, mx)
    })
}

// ---------------------------------------------------------------------------------------------
// The program tree

#[derive(Clone, Debug)]
pub struct Trunc {
    lo: f64,
    hi: f64,
    child: Dist,
    flo: f64,
    fhi: f64,
    slo: f64,
    shi: f64,
    mass: f64,
    lnmass: f64,
    upper: bool,
    reject: bool,
    /// Set for an interval too narrow for inversion (see `Flat`); sampling, cdf and mass then
    /// come from it.
    flat: Option<Flat>,
    /// Inversion results are clamped into [clo, chi]: [lo, hi] within the child's support, and
    /// off a support edge at 0 or 1 (where gamma's, beta's or lognormal's density may be
    /// infinite, and a proposal of exactly 0 would be rejected: as the base samplers keep to
    /// TINY_POS and BELOW_ONE). truncated(gamma(0.01, 1e-100), 0, 1e-200) drew 0 for 6%.
    clo: f64,
    chi: f64,
}

/// Inversion reaches fewer than 2^32 distinct values when the mass is below this fraction of
/// the probability it is added to (F^-1(Flo + u (Fhi - Flo)) resolves Fhi to 2^-52 of itself):
/// `truncated(normal(0,1), 0, 1e-12)` came out on 3594 points, and a cdf difference of 1e-17
/// at the median is 0. Such intervals use `Flat` instead.
const LATTICE_FRACTION: f64 = 1.0 / 1048576.0;
/// ... or below 2^32 steps of the smallest subnormal, where the probabilities themselves are
/// subnormal (normal(0,1) on [38.4, 38.41] came out on 5 values).
const LATTICE_FLOOR: f64 = 2.0e-314; // ~ 2^-1042
/// A truncation's mass from a cdf difference estimated less accurate than this is taken from
/// quadrature instead, where that is available and more accurate.
const MASS_TOL: f64 = 1e-14;
/// What the quadrature's mass is checked against: a cdf value's absolute error, at worst.
const CDF_ACCURACY: f64 = 1.0 / 1099511627776.0; // 2^-40
/// Relative rounding of a double (half an ulp) and the smallest subnormal.
const HALF_ULP: f64 = f64::EPSILON / 2.0;
const TINIEST: f64 = f64::from_bits(1);

/// Gauss-Legendre, 8 points on [-1, 1]: the positive nodes and their weights.
const GL8_X: [f64; 4] = [0.1834346424956498, 0.525532409916329, 0.7966664774136267, 0.9602898564975363];
const GL8_W: [f64; 4] = [0.362683783378362, 0.31370664587788727, 0.22238103445337448, 0.10122853629037626];

/// Where a 1-D base density takes its sup over an interval.
enum Peak {
    /// Nondecreasing below the point, nonincreasing above it: an end or the point clamped in.
    At(f64),
    /// Log-convex (beta with both shapes < 1): an end.
    Ends,
}

/// A narrow truncation sampled by rejection from the uniform on [lo, hi] (the truncation's
/// interval within the child's support): x = lo + w u1, kept
/// when u2 < p(x) / pmax. pmax bounds p over the interval (`Dist::ln_sup_on`: exact for a base
/// distribution, a weighted sum of the components' sups for a mixture), so the draws are
/// exact; the interval is only used when the expected acceptance is at least 1/2 (narrow
/// against the child's scale, where its density barely changes). Masses are integrals of
/// p / pmax by 8-point Gauss-Legendre between the points where p may have a kink or a jump
/// (laplace modes, support ends, inner truncation ends); the density is smooth in between
/// and, over so narrow an interval, as good as a low-degree polynomial.
///
/// The quadrature refines a piece by halves until two levels agree, down to the error that
/// rounding the nodes to doubles leaves (`node_err`): over an interval only a few doubles
/// wide, on a steep density, that error exceeds a cdf difference's, and `Trunc::new` takes
/// the latter for the mass.
#[derive(Clone, Debug)]
struct Flat {
    /// The interval proposed from (the truncation's, within the child's support).
    lo: f64,
    hi: f64,
    w: f64,
    ln_pmax: f64,
    /// lo, the kinks and jumps inside, hi: increasing.
    pieces: Vec<f64>,
    /// The interval's mass divided by pmax.
    rel_mass: f64,
    /// Relative error of p at a node rounded to a double: the steepest |d ln p / dx| within
    /// the pieces times half an ulp of the interval's largest magnitude.
    node_err: f64,
}

/// Halvings of a quadrature piece at most (256 panels).
const QUAD_DEPTH: u32 = 8;
/// Quadrature pieces at most (cut points + 1).
const MAX_PIECES: usize = 129;

impl Flat {
    fn new(child: &Dist, lo: f64, hi: f64) -> Option<Flat> {
        let w = hi - lo;
        if !(w > 0.0 && w.is_finite()) {
            return None;
        }
        let mut pieces = vec![lo, hi];
        let ln_pmax = child.ln_sup_on(lo, hi, &mut pieces)?;
        if !ln_pmax.is_finite() {
            return None;
        }
        pieces.sort_by(f64::total_cmp);
        pieces.dedup();
        // (each piece costs a density of every component: a mixture of hundreds of truncations
        // ending inside the interval is left to inversion)
        if pieces.len() > MAX_PIECES {
            return None;
        }
        // (secants between each piece's outermost nodes: inside the piece, off its jumps; a
        // piece an ulp or two wide has both nodes on one double, and no slope to speak of)
        let mut slope: f64 = 0.0;
        for s in pieces.windows(2) {
            let (h, c) = (0.5 * (s[1] - s[0]), s[0] + 0.5 * (s[1] - s[0]));
            let (a, b) = (c - h * GL8_X[3], c + h * GL8_X[3]);
            if b > a {
                let d = (child.logpdf_one(b) - child.logpdf_one(a)).abs() / (b - a);
                slope = slope.max(if d.is_nan() { f64::INFINITY } else { d });
            }
        }
        let node_err = slope * (lo.abs().max(hi.abs()) * HALF_ULP).max(TINIEST);
        let mut f = Flat { lo, hi, w, ln_pmax, pieces, rel_mass: 0.0, node_err };
        f.rel_mass = f.integral(child, lo, hi);
        // expected acceptance = rel_mass / w
        if !(f.rel_mass >= 0.5 * w) {
            return None;
        }
        Some(f)
    }

    /// Whether the quadrature's mass agrees with a cdf difference `mass` whose absolute error is
    /// `abs_err`, where that difference says anything (mass > 0, error below half of it): a
    /// mixture component far narrower than the interval can fall between the nodes (a 1e-7
    /// weight spike of width 3e-7 in [0.499, 0.501] went missing, 1.4e-4 of the mass), while
    /// the cdfs see it.
    fn agrees(&self, mass: f64, abs_err: f64) -> bool {
        if !(mass > 0.0 && abs_err < 0.5 * mass) {
            return true;
        }
        let q = self.ln_mass().exp();
        (q - mass).abs() <= abs_err + q * (1e-12 + 4.0 * self.node_err)
    }

    /// ln of the interval's mass, by the quadrature.
    fn ln_mass(&self) -> f64 {
        self.ln_pmax + self.rel_mass.ln()
    }

    /// Integral of p / pmax over [a, b] (a subinterval of [lo, hi]).
    fn integral(&self, child: &Dist, a: f64, b: f64) -> f64 {
        self.pieces
            .windows(2)
            .map(|s| {
                let (a, b) = (s[0].max(a), s[1].min(b));
                self.refine(child, a, b, self.gl8(child, a, b), QUAD_DEPTH, f64::INFINITY)
            })
            .sum()
    }

    /// `whole` (the 8-point rule on [a, b]) refined by halves until the halves agree with it
    /// to rounding or to `node_err`, or stop converging (`prev`, the parent's disagreement):
    /// the rule's error shrinks ~2^17-fold per halving, rounding noise in the log density
    /// (gamma(1000)'s near its mode: ~1e-12) only twofold, and chasing it took every piece
    /// to full depth.
    fn refine(&self, child: &Dist, a: f64, b: f64, whole: f64, depth: u32, prev: f64) -> f64 {
        let m = a + 0.5 * (b - a);
        if !(m > a && m < b) {
            return whole;
        }
        let (l, r) = (self.gl8(child, a, m), self.gl8(child, m, b));
        let err = (l + r - whole).abs();
        let tol = (4.0 * f64::EPSILON).max(4.0 * self.node_err) * (l + r);
        // (the early stop only near tolerance: a half that first catches a narrow feature does
        // not shrink the error either)
        if depth == 0 || !(err > tol) || (err < 1e5 * tol && !(err < prev / 8.0)) {
            return l + r;
        }
        self.refine(child, a, m, l, depth - 1, err) + self.refine(child, m, b, r, depth - 1, err)
    }

    fn gl8(&self, child: &Dist, a: f64, b: f64) -> f64 {
        if !(b > a) {
            return 0.0;
        }
        let (h, c) = (0.5 * (b - a), a + 0.5 * (b - a));
        let rel = |x: f64| (child.logpdf_one(x) - self.ln_pmax).exp();
        let mut s = 0.0;
        for (&x, &wt) in GL8_X.iter().zip(&GL8_W) {
            s += wt * (rel(c - h * x) + rel(c + h * x));
        }
        s * h
    }

    #[inline]
    fn draw(&self, child: &Dist, rng: &mut Stream) -> f64 {
        loop {
            let x = (self.lo + self.w * rng.next_f64()).min(self.hi);
            let u = rng.next_f64();
            if fm::ln(u) < child.logpdf_one(x) - self.ln_pmax {
                return x;
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Mix {
    w: Vec<f64>,
    lw: Vec<f64>,
    cum: Vec<f64>,
    /// Index of the last component with positive weight.
    last: usize,
    children: Vec<Dist>,
    dim: usize,
}

#[derive(Clone, Debug)]
pub enum Dist {
    Uniform { a: f64, b: f64, lpdf: f64 },
    Normal { mu: f64, sigma: f64, inv: f64, lnorm: f64 },
    LogNormal { mu: f64, sigma: f64, inv: f64, lnorm: f64 },
    Exponential { rate: f64, lrate: f64 },
    Gamma { shape: f64, rate: f64, ln_rate: f64, lnorm: f64, about_mode: Option<GammaAboutMode>, gen: GammaGenBox },
    Beta { a: f64, b: f64, lnorm: f64, about_mode: Option<BetaAboutMode>, ga: GammaGenBox, gb: GammaGenBox },
    StudentT { df: f64, loc: f64, scale: f64, inv: f64, lnorm: f64, ln_df: f64, gv: GammaGenBox },
    Cauchy { loc: f64, scale: f64, inv: f64, lnorm: f64 },
    Laplace { loc: f64, scale: f64, inv: f64, lnorm: f64 },
    Logistic { loc: f64, scale: f64, inv: f64, lnorm: f64 },
    Truncated(Box<Trunc>),
    Mixture(Box<Mix>),
    Product(Vec<Dist>),
    MvNormal { mu: Vec<f64>, sigma: Vec<f64>, inv: Vec<f64>, lnorm: f64 },
}

/// Shape from which gamma and beta log densities are taken about their mode. The plain form
/// c + (a - 1) ln x - rate x adds terms of ~a ln a, so its rounding is ~a ln(a) ulp: under
/// 1e-13 below this shape, but 2e-9 at a = 1e6 and 4e-3 at a = 1e12, where the density came out
/// as rounding noise.
const ABOUT_MODE_SHAPE: f64 = 64.0;

/// l(t) = ln(1 + t) - t for the mode-centred densities, t = x / m - 1 (given with x, 1 / m and
/// ln m): by its series near the mode (x - m is exact there; log1p(t) - t kept k eps |t| once
/// scaled by k, 1e-10 for gamma(1e12) one sd from the mode), through ln(x / m) below m / 2,
/// where t lost the digits of a small x (as ln x - ln m where x / m is subnormal or 0), and -inf
/// where t overflows (log1p(inf) - inf was NaN).
#[inline(always)]
fn log1pmx_of(t: f64, x: f64, im: f64, ln_m: f64) -> f64 {
    if t.abs() < 0.5 {
        sp::log1pmx_small(t)
    } else if t > 0.0 {
        if t < f64::INFINITY {
            fm::log1p(t) - t
        } else {
            f64::NEG_INFINITY
        }
    } else {
        let r = x * im;
        (if r >= f64::MIN_POSITIVE { fm::ln(r) } else { fm::ln(x) - ln_m }) - t
    }
}

/// gamma(a, rate) for a >= ABOUT_MODE_SHAPE: ln p(x) = ln p(m) + k l((x - m) / m), m = k / rate,
/// k = a - 1 (k l(t) = k ln(x / m) - rate (x - m)), with
/// ln p(m) = ln rate - ln(k)/2 - ln√(2π) - μ(k) from Stirling, free of the lgamma(a) ~ a ln a
/// that the plain form cancels.
#[derive(Clone, Copy, Debug)]
pub struct GammaAboutMode {
    k: f64,
    lp: f64,
    m: f64,
    im: f64,
    ln_m: f64,
}

impl GammaAboutMode {
    fn new(shape: f64, rate: f64, ln_rate: f64) -> Option<Self> {
        if !(shape >= ABOUT_MODE_SHAPE) {
            return None;
        }
        let k = shape - 1.0;
        let m = k / rate;
        let lp = ln_rate - 0.5 * k.ln() - sp::LN_SQRT_2PI - sp::stirling_corr(k);
        (m.is_finite() && m > 0.0).then_some(GammaAboutMode { k, lp, m, im: 1.0 / m, ln_m: m.ln() })
    }
}

/// beta(a, b) for min(a, b) >= ABOUT_MODE_SHAPE: ln p(x) = ln p(x0) + a' l(u) + b' l(v) about the
/// mode x0 = a' / n, a' = a - 1, b' = b - 1, n = a' + b', u = (x - x0) / x0, v = (x0 - x) / y0,
/// y0 = b' / n (a' u + b' v = 0), and from Stirling
/// ln p(x0) = ln(n) / 2 + ln(n + 1) - ln(a' b') / 2 - ln√(2π) + μ(n) - μ(a') - μ(b').
#[derive(Clone, Copy, Debug)]
pub struct BetaAboutMode {
    a1: f64,
    b1: f64,
    lp: f64,
    x0: f64,
    y0: f64,
    ix0: f64,
    iy0: f64,
    ln_x0: f64,
    ln_y0: f64,
}

impl BetaAboutMode {
    fn new(a: f64, b: f64) -> Option<Self> {
        if !(a.min(b) >= ABOUT_MODE_SHAPE) {
            return None;
        }
        let (a1, b1) = (a - 1.0, b - 1.0);
        let n = a1 + b1;
        let (x0, y0) = (a1 / n, b1 / n);
        let lp = 0.5 * n.ln() + (n + 1.0).ln() - 0.5 * (a1.ln() + b1.ln()) - sp::LN_SQRT_2PI + sp::stirling_corr(n)
            - sp::stirling_corr(a1)
            - sp::stirling_corr(b1);
        (n.is_finite() && x0 > 0.0 && y0 > 0.0).then_some(BetaAboutMode {
            a1,
            b1,
            lp,
            x0,
            y0,
            ix0: 1.0 / x0,
            iy0: 1.0 / y0,
            ln_x0: x0.ln(),
            ln_y0: y0.ln(),
        })
    }
}

/// Opaque wrapper so the generator's fields stay private.
#[derive(Clone, Debug)]
pub struct GammaGenBox(GammaGen);

// ---------------------------------------------------------------------------------------------
// Decoding

struct Reader<'a> {
    p: &'a [f64],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [f64], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.p.len());
        match end {
            Some(e) => {
                let s = &self.p[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => Err(format!(
                "program ends early: {what} needs {n} number(s) at position {} but only {} remain",
                self.pos,
                self.p.len().saturating_sub(self.pos)
            )),
        }
    }
    fn count(&mut self, what: &str) -> Result<usize, String> {
        let v = self.take(1, what)?[0];
        let rem = self.p.len() - self.pos;
        if !(v >= 1.0 && v.floor() == v) {
            return Err(format!("{what} must be a positive integer, got {}", num(v)));
        }
        if v > rem as f64 {
            return Err(format!("{what} is {v} but only {rem} numbers follow"));
        }
        Ok(v as usize)
    }
}

/// A number for an error message: as written where that is short, else in exponent form
/// (`{}` spells 1e300 out in 301 digits).
fn num(v: f64) -> String {
    let plain = format!("{v}");
    if plain.len() <= 12 {
        plain
    } else {
        format!("{v:e}")
    }
}

fn finite(name: &str, what: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{name}: {what} must be finite, got {v}"))
    }
}
fn positive(name: &str, what: &str, v: f64) -> Result<f64, String> {
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{name}: {what} must be finite and > 0, got {}", num(v)))
    }
}

impl Dist {
    /// Decodes and validates a whole program (trailing numbers are an error).
    pub fn decode(prog: &[f64]) -> Result<Dist, String> {
        let mut r = Reader { p: prog, pos: 0 };
        if prog.is_empty() {
            return Err("empty distribution program".into());
        }
        let d = Dist::parse(&mut r, 0)?;
        if r.pos != prog.len() {
            return Err(format!(
                "{} trailing number(s) after the distribution program (it ends at position {})",
                prog.len() - r.pos,
                r.pos
            ));
        }
        Ok(d)
    }

    fn parse(r: &mut Reader, depth: usize) -> Result<Dist, String> {
        if depth > MAX_DEPTH {
            return Err(format!("program nests deeper than {MAX_DEPTH} levels"));
        }
        let at = r.pos;
        let tag = r.take(1, "a node tag")?[0];
        let t = if tag.floor() == tag && (0.0..=255.0).contains(&tag) { tag as u32 } else { 0 };
        let d = match t {
            1 => {
                let p = r.take(2, "uniform [1, a, b]")?;
                let a = finite("uniform", "a", p[0])?;
                let b = finite("uniform", "b", p[1])?;
                if !(a < b) {
                    return Err(format!("uniform: need a < b, got a = {a}, b = {b}"));
                }
                if !(b - a).is_finite() {
                    return Err("uniform: b - a overflows".into());
                }
                Dist::Uniform { a, b, lpdf: -(b - a).ln() }
            }
            2 | 3 => {
                let name = if t == 2 { "normal" } else { "lognormal" };
                let p = r.take(2, if t == 2 { "normal [2, mu, sigma]" } else { "lognormal [3, mu, sigma]" })?;
                let mu = finite(name, "mu", p[0])?;
                let sigma = positive(name, "sigma", p[1])?;
                let lnorm = -sigma.ln() - sp::LN_SQRT_2PI;
                if t == 2 {
                    Dist::Normal { mu, sigma, inv: 1.0 / sigma, lnorm }
                } else {
                    Dist::LogNormal { mu, sigma, inv: 1.0 / sigma, lnorm }
                }
            }
            4 => {
                let p = r.take(1, "exponential [4, rate]")?;
                let rate = positive("exponential", "rate", p[0])?;
                Dist::Exponential { rate, lrate: rate.ln() }
            }
            5 => {
                let p = r.take(2, "gamma [5, shape, rate]")?;
                let shape = positive("gamma", "shape", p[0])?;
                let rate = positive("gamma", "rate", p[1])?;
                let ln_rate = rate.ln();
                let lnorm = shape * ln_rate - sp::lgamma_pos(shape);
                let about_mode = GammaAboutMode::new(shape, rate, ln_rate);
                Dist::Gamma { shape, rate, ln_rate, lnorm, about_mode, gen: GammaGenBox(GammaGen::new(shape)) }
            }
            6 => {
                let p = r.take(2, "beta [6, alpha, beta]")?;
                let a = positive("beta", "alpha", p[0])?;
                let b = positive("beta", "beta", p[1])?;
                Dist::Beta {
                    a,
                    b,
                    lnorm: -sp::lbeta(a, b),
                    about_mode: BetaAboutMode::new(a, b),
                    ga: GammaGenBox(GammaGen::new(a)),
                    gb: GammaGenBox(GammaGen::new(b)),
                }
            }
            7 => {
                let p = r.take(3, "student t [7, df, loc, scale]")?;
                let df = positive("student t", "df", p[0])?;
                let loc = finite("student t", "loc", p[1])?;
                let scale = positive("student t", "scale", p[2])?;
                // Γ((df + 1) / 2) / (Γ(df / 2) √(df π)) = 1 / (B(df / 2, 1/2) √df): lbeta keeps the
                // digits that the difference of the two lgammas loses for large df
                let lnorm = -sp::lbeta(0.5 * df, 0.5) - 0.5 * df.ln() - scale.ln();
                Dist::StudentT { df, loc, scale, inv: 1.0 / scale, lnorm, ln_df: fm::ln(df), gv: GammaGenBox(GammaGen::new(0.5 * df)) }
            }
            8 | 9 | 10 => {
                let name = ["cauchy", "laplace", "logistic"][(t - 8) as usize];
                let p = r.take(2, &format!("{name} [{t}, loc, scale]"))?;
                let loc = finite(name, "loc", p[0])?;
                let scale = positive(name, "scale", p[1])?;
                let inv = 1.0 / scale;
                match t {
                    8 => Dist::Cauchy { loc, scale, inv, lnorm: -(LN_PI + scale.ln()) },
                    9 => Dist::Laplace { loc, scale, inv, lnorm: -(LN_2 + scale.ln()) },
                    _ => Dist::Logistic { loc, scale, inv, lnorm: -scale.ln() },
                }
            }
            20 => {
                let p = r.take(2, "truncated [20, lo, hi, child]")?;
                let (lo, hi) = (p[0], p[1]);
                if lo.is_nan() || hi.is_nan() || !(lo < hi) || lo == f64::INFINITY || hi == f64::NEG_INFINITY {
                    return Err(format!("truncated: need lo < hi (lo may be -inf, hi +inf), got [{}, {}]", num(lo), num(hi)));
                }
                let child = Dist::parse(r, depth + 1)?;
                if child.dim() != 1 {
                    return Err(format!("truncated: the child must be 1-D, it has dimension {}", child.dim()));
                }
                Dist::Truncated(Box::new(Trunc::new(lo, hi, child)?))
            }
            21 => {
                let k = r.count("mixture: number of components k")?;
                let w = r.take(k, "mixture weights")?.to_vec();
                let mut sum = 0.0;
                for (i, &wi) in w.iter().enumerate() {
                    if !(wi >= 0.0 && wi.is_finite()) {
                        return Err(format!("mixture: weight {} must be finite and >= 0, got {}", i + 1, num(wi)));
                    }
                    sum += wi;
                }
                if !((sum - 1.0).abs() <= 1e-6) {
                    return Err(format!("mixture: weights must sum to 1, they sum to {sum}"));
                }
                let w: Vec<f64> = w.iter().map(|&x| x / sum).collect();
                let mut children = Vec::with_capacity(k);
                for _ in 0..k {
                    children.push(Dist::parse(r, depth + 1)?);
                }
                let dim = children[0].dim();
                for (i, c) in children.iter().enumerate() {
                    if c.dim() != dim {
                        return Err(format!(
                            "mixture: components must share one dimension; component 1 has {dim}, component {} has {}",
                            i + 1,
                            c.dim()
                        ));
                    }
                }
                let mut cum = Vec::with_capacity(k);
                let mut acc = 0.0;
                for &wi in &w {
                    acc += wi;
                    cum.push(acc);
                }
                let last = w.iter().rposition(|&x| x > 0.0).unwrap_or(k - 1);
                let lw = w.iter().map(|&x| x.ln()).collect();
                Dist::Mixture(Box::new(Mix { w, lw, cum, last, children, dim }))
            }
            22 => {
                let d = r.count("product: dimension d")?;
                let mut children = Vec::with_capacity(d);
                for i in 0..d {
                    let c = Dist::parse(r, depth + 1)?;
                    if c.dim() != 1 {
                        return Err(format!("product: child {} must be 1-D, it has dimension {}", i + 1, c.dim()));
                    }
                    children.push(c);
                }
                Dist::Product(children)
            }
            23 => {
                let d = r.count("mvnormal: dimension d")?;
                let mu = r.take(d, "mvnormal means")?.to_vec();
                let sigma = r.take(d, "mvnormal sigmas")?.to_vec();
                let mut lnorm = 0.0;
                for i in 0..d {
                    finite("mvnormal", &format!("mu_{}", i + 1), mu[i])?;
                    positive("mvnormal", &format!("sigma_{}", i + 1), sigma[i])?;
                    lnorm -= sigma[i].ln() + sp::LN_SQRT_2PI;
                }
                let inv = sigma.iter().map(|s| 1.0 / s).collect();
                Dist::MvNormal { mu, sigma, inv, lnorm }
            }
            _ => return Err(format!("unknown distribution tag {tag} at position {at}")),
        };
        Ok(d)
    }

    pub fn dim(&self) -> usize {
        match self {
            Dist::Mixture(m) => m.dim,
            Dist::Product(c) => c.len(),
            Dist::MvNormal { mu, .. } => mu.len(),
            _ => 1,
        }
    }
}

impl Trunc {
    fn new(lo: f64, hi: f64, child: Dist) -> Result<Trunc, String> {
        let flo = child.cdf(lo);
        let slo = child.sf(lo);
        let fhi = child.cdf(hi);
        let shi = child.sf(hi);
        let upper = slo < 0.5;
        let mass = if upper {
            slo - shi
        } else if fhi <= 0.5 {
            fhi - flo
        } else {
            1.0 - flo - shi
        };
        // [lo, hi] within the child's support: what the uniform proposal covers, and (off an
        // edge at 0 or 1) what inversion results are clamped to
        let (sa, sb) = child.support();
        let (plo, phi) = (lo.max(sa), hi.min(sb));
        let clo = if plo == 0.0 && sa == 0.0 { TINY_POS } else { plo };
        let chi = if phi == 1.0 && sb == 1.0 { BELOW_ONE } else { phi };
        // the probability inversion would add u (Fhi - Flo) or subtract u (Slo - Shi) to or from
        let base = if upper { slo } else { fhi };
        // a truncation or mixture of truncations as the child: its cdf carries an absolute
        // error that does not shrink with the cdf (`cdf_floor`): normal(0,1) on [-1e-6, 1e-6],
        // truncated again to its first 2e-16, had a mass 44% high from a difference of two
        // such values
        let floor = child.cdf_floor();
        let coarse = !(mass >= (base * LATTICE_FRACTION).max(LATTICE_FLOOR).max(floor * 4294967296.0));
        // the cdf difference's error relative to it; and a generous bound on its absolute
        // error, for `Flat::agrees` (the cdfs themselves are good to ~1e-13 at worst, e.g. the
        // incomplete gamma at shape 1e6)
        let cdf_err = (base * HALF_ULP).max(TINIEST).max(floor) / mass;
        let cdf_abs = 4.0 * floor + (base * CDF_ACCURACY).max(4.0 * TINIEST);
        let flat = if coarse { Flat::new(&child, plo, phi) } else { None };
        let flat = flat.filter(|f| f.agrees(mass, cdf_abs));
        if let Some(f) = &flat {
            // the mass from the quadrature, unless the cdf difference is the more accurate (an
            // interval a few doubles wide on a steep density)
            let lnmass = if mass > 0.0 && cdf_err < f.node_err { mass.ln() } else { f.ln_mass() };
            let mass = lnmass.exp();
            return Ok(Trunc { lo, hi, child, flo, fhi, slo, shi, mass, lnmass, upper, reject: false, flat, clo, chi });
        }
        if !(mass > 0.0) {
            return Err(format!(
                "truncated: the interval [{}, {}] has probability {mass:e} under the child (must be > 0)",
                num(lo),
                num(hi)
            ));
        }
        let mass = mass.min(1.0);
        // Inversion resolves such an interval finely enough, but its mass, a cdf difference,
        // can still be off by up to 2^-32 (normal(0,1) on [-1e-6, 1e-6]: 1.4e-10): the
        // quadrature's mass where it is the more accurate (the draws keep their bytes)
        let quad = if cdf_err > MASS_TOL { Flat::new(&child, plo, phi) } else { None };
        let lnmass = match quad {
            Some(q) if q.node_err < cdf_err && q.agrees(mass, cdf_abs) => q.ln_mass(),
            _ => mass.ln(),
        };
        let mass = lnmass.exp();
        Ok(Trunc { lo, hi, child, flo, fhi, slo, shi, mass, lnmass, upper, reject: mass >= 0.25, flat, clo, chi })
    }

    #[inline]
    fn sample_one(&self, rng: &mut Stream, t: &Zig) -> f64 {
        if let Some(f) = &self.flat {
            return f.draw(&self.child, rng);
        }
        if self.reject {
            loop {
                let v = self.child.sample_one(rng, t);
                if v >= self.lo && v <= self.hi {
                    return v;
                }
            }
        }
        let u = rng.next_f64();
        let x = if self.upper {
            self.child.isf_in(self.slo - u * (self.slo - self.shi), self.lo, self.hi)
        } else {
            self.child.ppf_in(self.flo + u * (self.fhi - self.flo), self.lo, self.hi)
        };
        // clamp (NaN from a failed inverse becomes clo)
        if x >= self.clo {
            x.min(self.chi)
        } else {
            self.clo
        }
    }

    /// Inversion for a whole batch (not `reject`): one uniform per value, drawn in bulk, then
    /// the same formula as `sample_one` applied in place (closed-form quantiles in vector loops).
    /// Done in chunks of `FILL_CHUNK` so the uniforms are transformed while still in L1.
    fn sample_inv(&self, rng: &mut Stream, out: &mut [f64]) {
        let tr = self;
        crate::simd_dispatch!(crate::rng::simd(), fn(tr: &Trunc, rng: &mut Stream, out: &mut [f64]) -> () {
            for oc in out.chunks_mut(FILL_CHUNK) {
                rng.fill_f64(oc);
                tr.inv_body(oc);
            }
        })
    }

    #[inline(always)]
    fn inv_body(&self, out: &mut [f64]) {
        let (lo, hi) = (self.lo, self.hi);
        let (clo, chi) = (self.clo, self.chi);
        // probability argument: upper ? Slo - u (Slo - Shi) : Flo + u (Fhi - Flo)
        let up = self.upper;
        let (base, w) = if up { (self.slo, self.slo - self.shi) } else { (self.flo, self.fhi - self.flo) };
        let arg = |u: f64| if up { base - u * w } else { base + u * w };
        let clamp = |x: f64| if x >= clo { x.min(chi) } else { clo };
        match &self.child {
            Dist::Exponential { rate, .. } => {
                let nr = -1.0 / *rate;
                if up {
                    for v in out.iter_mut() {
                        *v = clamp(fm::ln(base - *v * w) * nr);
                    }
                } else {
                    for v in out.iter_mut() {
                        *v = clamp(fm::log1p(-(base + *v * w)) * nr);
                    }
                }
            }
            Dist::Uniform { a, b, .. } => {
                let (a, b) = (*a, *b);
                if up {
                    for v in out.iter_mut() {
                        *v = clamp(b - (base - *v * w) * (b - a));
                    }
                } else {
                    for v in out.iter_mut() {
                        *v = clamp(a + (base + *v * w) * (b - a));
                    }
                }
            }
            Dist::Laplace { loc, scale, .. } => {
                let (m, s) = (*loc, *scale);
                for v in out.iter_mut() {
                    let p = arg(*v);
                    let small = p < 0.5;
                    let l = fm::ln(if small { 2.0 * p } else { 2.0 * (1.0 - p) });
                    // ppf: p < 0.5 ? m + s ln(2p) : m - s ln(2(1-p)); isf mirrored
                    let x = if small == up { m - s * l } else { m + s * l };
                    *v = clamp(x);
                }
            }
            Dist::Logistic { loc, scale, .. } => {
                let (m, s) = (*loc, *scale);
                for v in out.iter_mut() {
                    let p = arg(*v);
                    let (a, b) = (fm::ln(p), fm::log1p(-p));
                    *v = clamp(if up { m + s * (b - a) } else { m + s * (a - b) });
                }
            }
            c => {
                for v in out.iter_mut() {
                    let p = arg(*v);
                    let x = if up { c.isf_in(p, lo, hi) } else { c.ppf_in(p, lo, hi) };
                    *v = clamp(x);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sampling

impl Dist {
    /// Fills `out` with rows of `dim()` values (a trailing partial row is left untouched).
    pub fn sample(&self, rng: &mut Stream, out: &mut [f64]) {
        let t = zig();
        match self {
            Dist::Uniform { a, b, .. } => {
                let (a, w) = (*a, *b - *a);
                crate::simd_dispatch!(crate::rng::simd(), fn(rng: &mut Stream, out: &mut [f64], a: f64, w: f64) -> () {
                    for oc in out.chunks_mut(FILL_CHUNK) {
                        rng.fill_f64(oc);
                        for v in oc.iter_mut() {
                            *v = a + w * *v;
                        }
                    }
                })
            }
            Dist::Exponential { rate, .. } => {
                let nr = -1.0 / *rate;
                crate::simd_dispatch!(crate::rng::simd(), fn(rng: &mut Stream, out: &mut [f64], nr: f64) -> () {
                    for oc in out.chunks_mut(FILL_CHUNK) {
                        rng.fill_f64(oc);
                        for v in oc.iter_mut() {
                            *v = fm::ln(*v) * nr;
                        }
                    }
                })
            }
            Dist::Normal { mu, sigma, .. } => normal_fill(rng, out, *mu, *sigma),
            Dist::LogNormal { mu, sigma, .. } => {
                normal_fill(rng, out, *mu, *sigma);
                fm::exp_inplace(out);
            }
            Dist::Truncated(tr) if !tr.reject && tr.flat.is_none() => tr.sample_inv(rng, out),
            Dist::Logistic { loc, scale, .. } => {
                let (m, sc) = (*loc, *scale);
                crate::simd_dispatch!(crate::rng::simd(), fn(rng: &mut Stream, out: &mut [f64], m: f64, sc: f64) -> () {
                    for oc in out.chunks_mut(FILL_CHUNK) {
                        rng.fill_f64(oc);
                        for v in oc.iter_mut() {
                            let u = *v;
                            *v = m + sc * fm::ln(u / (1.0 - u));
                        }
                    }
                })
            }
            Dist::Laplace { loc, scale, .. } => {
                let (m, sc) = (*loc, *scale);
                crate::simd_dispatch!(crate::rng::simd(), fn(rng: &mut Stream, out: &mut [f64], m: f64, sc: f64) -> () {
                    for oc in out.chunks_mut(FILL_CHUNK) {
                        rng.fill_f64(oc);
                        for v in oc.iter_mut() {
                            let u = *v;
                            let small = u < 0.5;
                            let l = fm::ln(if small { 2.0 * u } else { 2.0 * (1.0 - u) });
                            *v = if small { m + sc * l } else { m - sc * l };
                        }
                    }
                })
            }
            Dist::Gamma { rate, ln_rate, gen, .. } => {
                let (g, r, lr) = (&gen.0, *rate, *ln_rate);
                for v in out.iter_mut() {
                    *v = g.sample_rate(rng, t, r, lr).max(TINY_POS);
                }
            }
            Dist::Mixture(m)
                if m.dim == 1
                    && m.children.len() <= MIX_FAST_K
                    && m.children.iter().all(|c| matches!(c, Dist::Normal { .. })) =>
            {
                mix_normal_fill(rng, out, m)
            }
            Dist::Mixture(m) if m.dim > 1 => {
                let d = m.dim;
                for row in out.chunks_exact_mut(d) {
                    let k = m.pick(rng.next_f64());
                    m.children[k].sample(rng, row);
                }
            }
            Dist::Product(children) => {
                let d = children.len();
                for row in out.chunks_exact_mut(d) {
                    for (v, c) in row.iter_mut().zip(children) {
                        *v = c.sample_one(rng, t);
                    }
                }
            }
            Dist::MvNormal { mu, sigma, .. } => {
                let d = mu.len();
                for row in out.chunks_exact_mut(d) {
                    for i in 0..d {
                        row[i] = mu[i] + sigma[i] * std_normal(rng, t);
                    }
                }
            }
            _ => {
                for v in out.iter_mut() {
                    *v = self.sample_one(rng, t);
                }
            }
        }
    }

    /// One value of a 1-D program (NaN for multi-dimensional ones, which never reach here
    /// after validation).
    #[inline]
    fn sample_one(&self, rng: &mut Stream, t: &Zig) -> f64 {
        match self {
            Dist::Uniform { a, b, .. } => *a + (*b - *a) * rng.next_f64(),
            Dist::Normal { mu, sigma, .. } => *mu + *sigma * std_normal(rng, t),
            Dist::LogNormal { mu, sigma, .. } => fm::exp(*mu + *sigma * std_normal(rng, t)),
            Dist::Exponential { rate, .. } => fm::ln(rng.next_f64()) * (-1.0 / *rate),
            Dist::Gamma { rate, ln_rate, gen, .. } => gen.0.sample_rate(rng, t, *rate, *ln_rate).max(TINY_POS),
            Dist::Beta { ga, gb, .. } => {
                let x = if ga.0.small && gb.0.small {
                    let lx = ga.0.ln_sample(rng, t);
                    let ly = gb.0.ln_sample(rng, t);
                    1.0 / (1.0 + fm::exp(ly - lx))
                } else {
                    let x = ga.0.sample(rng, t);
                    let y = gb.0.sample(rng, t);
                    x / (x + y)
                };
                x.clamp(TINY_POS, BELOW_ONE)
            }
            Dist::StudentT { df, loc, scale, ln_df, gv, .. } => {
                let z = std_normal(rng, t);
                if gv.0.small {
                    // df < 2: V = 2 G(df/2) underflows to 0 for small df (t(0.01) gave +-inf
                    // for 2.4% of its draws, where 0.08% of its mass lies beyond DBL_MAX), so
                    // sqrt(df / V) is formed in log space, from the same draws
                    let lv = std::f64::consts::LN_2 + gv.0.ln_sample(rng, t);
                    *loc + *scale * z * fm::exp(0.5 * (*ln_df - lv))
                } else {
                    let v = 2.0 * gv.0.sample(rng, t);
                    *loc + *scale * z / (v / *df).sqrt()
                }
            }
            Dist::Cauchy { loc, scale, .. } => *loc + *scale * (PI * (rng.next_f64() - 0.5)).tan(),
            Dist::Laplace { loc, scale, .. } => {
                let u = rng.next_f64();
                if u < 0.5 {
                    *loc + *scale * fm::ln(2.0 * u)
                } else {
                    *loc - *scale * fm::ln(2.0 * (1.0 - u))
                }
            }
            Dist::Logistic { loc, scale, .. } => {
                let u = rng.next_f64();
                *loc + *scale * fm::ln(u / (1.0 - u))
            }
            Dist::Truncated(tr) => tr.sample_one(rng, t),
            Dist::Mixture(m) => {
                let k = m.pick(rng.next_f64());
                m.children[k].sample_one(rng, t)
            }
            Dist::Product(c) if c.len() == 1 => c[0].sample_one(rng, t),
            Dist::MvNormal { mu, sigma, .. } if mu.len() == 1 => mu[0] + sigma[0] * std_normal(rng, t),
            _ => f64::NAN,
        }
    }
}

impl Mix {
    #[inline]
    fn pick(&self, u: f64) -> usize {
        for (j, &c) in self.cum.iter().enumerate() {
            if u < c {
                return j;
            }
        }
        self.last
    }

    /// Generic mixture log density (any components, any dimension).
    fn logpdf_generic(&self, xs: &[f64], out: &mut [f64]) {
        let (m, d) = (self, self.dim);
        // Two passes per chunk: component log densities (+ ln w) and their max, then
        // max + ln Σ exp(v - max). The exponent is clamped at -700 and the term zeroed
        // below it, so no subnormal arithmetic happens for far-away components.
        let active: Vec<usize> = (0..m.children.len()).filter(|&k| m.w[k] > 0.0).collect();
        // rows per chunk: scratch stays <= MIX_SCRATCH doubles however many components (at
        // least 8 rows where there are that many: one row a chunk made 4096 components a call
        // per component and row, 30 s for an envelope grid's 7e5 points), and no larger than
        // the rows at hand (the kernel's exact path calls this one row at a time: 64 KiB
        // allocated and zeroed per row was most of its cost)
        let ch = (MIX_SCRATCH / active.len().max(1)).clamp(8, CHUNK).min(out.len().max(1));
        let mut vals = vec![0.0; ch * active.len()];
        let mut mx = vec![0.0; ch];
        let mut e = vec![0.0; ch];
        for (oc, xc) in out.chunks_mut(ch).zip(xs.chunks(ch * d)) {
            let rows = oc.len();
            let mx = &mut mx[..rows];
            mx.fill(f64::NEG_INFINITY);
            let mut nan = false;
            for (j, &k) in active.iter().enumerate() {
                let v = &mut vals[j * ch..j * ch + rows];
                m.children[k].logpdf(xc, v);
                let lw = m.lw[k];
                for i in 0..rows {
                    let x = v[i] + lw;
                    v[i] = x;
                    nan |= x.is_nan();
                    mx[i] = if x > mx[i] { x } else { mx[i] };
                }
            }
            oc.fill(0.0);
            let e = &mut e[..rows];
            for j in 0..active.len() {
                let v = &vals[j * ch..j * ch + rows];
                // (a component far from every row of the chunk adds exactly 0: no exps for it;
                // sorted points, as an envelope search's grid, leave most of many narrow ones out)
                if !(0..rows).any(|i| v[i] - mx[i] > -700.0) {
                    continue;
                }
                for i in 0..rows {
                    let d = v[i] - mx[i];
                    e[i] = if d > -700.0 { d } else { -700.0 };
                }
                fm::exp_inplace(e);
                for i in 0..rows {
                    let d = v[i] - mx[i];
                    oc[i] += if d > -700.0 { e[i] } else { 0.0 };
                }
            }
            fm::ln_inplace(oc);
            for i in 0..rows {
                let r = mx[i] + oc[i];
                oc[i] = if mx[i] > f64::NEG_INFINITY && mx[i] < f64::INFINITY { r } else { mx[i] };
            }
            if nan {
                // a NaN component density makes the row NaN
                for (j, _) in active.iter().enumerate() {
                    let v = &vals[j * ch..j * ch + rows];
                    for i in 0..rows {
                        if v[i].is_nan() {
                            oc[i] = f64::NAN;
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Log densities

impl Dist {
    /// Normalized log density of each row of `xs` (`out.len()` rows; -inf outside the support).
    pub fn logpdf(&self, xs: &[f64], out: &mut [f64]) {
        let dist = self;
        crate::simd_dispatch!(crate::rng::simd(), fn(dist: &Dist, xs: &[f64], out: &mut [f64]) -> () {
            dist.logpdf_body(xs, out)
        })
    }

    /// `logpdf`, compiled into each vector path (fused loops with the fastmath functions
    /// inlined; composite nodes call their children's dispatched `logpdf`).
    #[inline(always)]
    fn logpdf_body(&self, xs: &[f64], out: &mut [f64]) {
        let d = self.dim();
        let n = out.len().min(xs.len() / d.max(1));
        let (xs, out) = (&xs[..n * d], &mut out[..n]);
        match self {
            Dist::Uniform { a, b, lpdf } => {
                let (a, b, l) = (*a, *b, *lpdf);
                for (o, &x) in out.iter_mut().zip(xs) {
                    *o = if x >= a && x <= b { l } else if x.is_nan() { x } else { f64::NEG_INFINITY };
                }
            }
            Dist::Normal { mu, inv, lnorm, .. } => {
                let (m, iv, c) = (*mu, *inv, *lnorm);
                for (o, &x) in out.iter_mut().zip(xs) {
                    let z = (x - m) * iv;
                    *o = c - 0.5 * z * z;
                }
            }
            Dist::LogNormal { mu, inv, lnorm, .. } => {
                let (m, iv, c) = (*mu, *inv, *lnorm);
                for (o, &x) in out.iter_mut().zip(xs) {
                    let lx = fm::ln(x);
                    let z = (lx - m) * iv;
                    let v = c - 0.5 * z * z - lx;
                    *o = if x > 0.0 { v } else if x.is_nan() { x } else { f64::NEG_INFINITY };
                }
            }
            Dist::Exponential { rate, lrate } => {
                let (r, lr) = (*rate, *lrate);
                for (o, &x) in out.iter_mut().zip(xs) {
                    let v = lr - r * x;
                    *o = if x >= 0.0 { v } else if x.is_nan() { x } else { f64::NEG_INFINITY };
                }
            }
            Dist::Gamma { about_mode: Some(g), .. } => {
                let GammaAboutMode { k, lp, m, im, ln_m } = *g;
                for (o, &x) in out.iter_mut().zip(xs) {
                    let t = (x - m) * im;
                    let v = lp + k * log1pmx_of(t, x, im, ln_m);
                    *o = if x > 0.0 && x < f64::INFINITY {
                        v
                    } else if x.is_nan() {
                        x
                    } else {
                        f64::NEG_INFINITY
                    };
                }
            }
            Dist::Gamma { shape, rate, lnorm, .. } => {
                let (k1, r, c) = (*shape - 1.0, *rate, *lnorm);
                let at0 = if k1 == 0.0 { c } else if k1 < 0.0 { f64::INFINITY } else { f64::NEG_INFINITY };
                for (o, &x) in out.iter_mut().zip(xs) {
                    let v = c + k1 * fm::ln(x) - r * x;
                    // (+inf: -inf, as JS; k1 ln x - r x there is inf - inf)
                    *o = if x > 0.0 && x < f64::INFINITY {
                        v
                    } else if x == 0.0 {
                        at0
                    } else if x.is_nan() {
                        x
                    } else {
                        f64::NEG_INFINITY
                    };
                }
            }
            Dist::Beta { about_mode: Some(bm), .. } => {
                let BetaAboutMode { a1, b1, lp, x0, y0, ix0, iy0, ln_x0, ln_y0 } = *bm;
                let from_y = x0 > 0.5;
                for (o, &x) in out.iter_mut().zip(xs) {
                    // x - x0 = y0 - y, taken on the side of the mode nearer 0: x0's rounding,
                    // ~eps absolute near 1, divided by a small y0 made beta(1e8, 100)'s
                    // density 5e-9 off by its mode
                    let d = if from_y { y0 - (1.0 - x) } else { x - x0 };
                    let u = d * ix0;
                    let v = -d * iy0;
                    let l = lp + a1 * log1pmx_of(u, x, ix0, ln_x0) + b1 * log1pmx_of(v, 1.0 - x, iy0, ln_y0);
                    *o = if x > 0.0 && x < 1.0 {
                        l
                    } else if x.is_nan() {
                        x
                    } else {
                        f64::NEG_INFINITY
                    };
                }
            }
            Dist::Beta { a, b, lnorm, .. } => {
                let (a1, b1, c) = (*a - 1.0, *b - 1.0, *lnorm);
                let edge = |e: f64| if e == 0.0 { c } else if e < 0.0 { f64::INFINITY } else { f64::NEG_INFINITY };
                let (at0, at1) = (edge(a1), edge(b1));
                for (o, &x) in out.iter_mut().zip(xs) {
                    let v = c + a1 * fm::ln(x) + b1 * fm::log1p(-x);
                    *o = if x > 0.0 && x < 1.0 {
                        v
                    } else if x == 0.0 {
                        at0
                    } else if x == 1.0 {
                        at1
                    } else if x.is_nan() {
                        x
                    } else {
                        f64::NEG_INFINITY
                    };
                }
            }
            Dist::StudentT { df, loc, inv, lnorm, ln_df, .. } => {
                let (m, iv, c, h, idf) = (*loc, *inv, *lnorm, -0.5 * (*df + 1.0), 1.0 / *df);
                for (o, &x) in out.iter_mut().zip(xs) {
                    let z = (x - m) * iv;
                    let zz = z * z * idf;
                    // beyond |z| = sqrt(DBL_MAX df) (1.3e153 for df = 0.01) z^2 / df overflows,
                    // and log1p(z^2 / df) is 2 ln|z| - ln df to the last bit
                    let l = if zz < f64::INFINITY { fm::log1p(zz) } else { 2.0 * fm::ln(z.abs()) - *ln_df };
                    *o = c + h * l;
                }
            }
            Dist::Cauchy { loc, inv, lnorm, .. } => {
                let (m, iv, c) = (*loc, *inv, *lnorm);
                for (o, &x) in out.iter_mut().zip(xs) {
                    let z = (x - m) * iv;
                    // past |z| = 1.3e154 z² overflows; log1p(z²) is 2 ln|z| to the last bit
                    let zz = z * z;
                    *o = c - if zz < f64::INFINITY { fm::log1p(zz) } else { 2.0 * fm::ln(z.abs()) };
                }
            }
            Dist::Laplace { loc, inv, lnorm, .. } => {
                let (m, iv, c) = (*loc, *inv, *lnorm);
                for (o, &x) in out.iter_mut().zip(xs) {
                    *o = c - (x - m).abs() * iv;
                }
            }
            Dist::Logistic { loc, inv, lnorm, .. } => {
                // c - |z| - 2 ln(1 + exp(-|z|))
                let (m, iv, c) = (*loc, *inv, *lnorm);
                // (two separate vector passes measured faster than one fused loop here)
                for (o, &x) in out.iter_mut().zip(xs) {
                    *o = -((x - m) * iv).abs();
                }
                let mut sc = [0.0f64; CHUNK];
                for oc in out.chunks_mut(CHUNK) {
                    let sc = &mut sc[..oc.len()];
                    sc.copy_from_slice(oc);
                    fm::exp_inplace(sc);
                    fm::log1p_inplace(sc);
                    for (o, &l) in oc.iter_mut().zip(sc.iter()) {
                        *o = c + *o - 2.0 * l;
                    }
                }
            }
            Dist::Truncated(tr) => {
                tr.child.logpdf(xs, out);
                let (lo, hi, lm) = (tr.lo, tr.hi, tr.lnmass);
                for (o, &x) in out.iter_mut().zip(xs) {
                    *o = if x >= lo && x <= hi { *o - lm } else if x.is_nan() { x } else { f64::NEG_INFINITY };
                }
            }
            Dist::Mixture(m) if m.dim == 1 && m.children.iter().all(|c| matches!(c, Dist::Normal { .. })) => {
                mix_normal_logpdf(m, xs, out)
            }
            Dist::Mixture(m) => m.logpdf_generic(xs, out),
            Dist::Product(children) => {
                let mut col = vec![0.0; CHUNK];
                let mut tmp = vec![0.0; CHUNK];
                for (oc, xc) in out.chunks_mut(CHUNK).zip(xs.chunks(CHUNK * d)) {
                    let rows = oc.len();
                    oc.fill(0.0);
                    for (j, c) in children.iter().enumerate() {
                        for i in 0..rows {
                            col[i] = xc[i * d + j];
                        }
                        c.logpdf(&col[..rows], &mut tmp[..rows]);
                        for i in 0..rows {
                            oc[i] += tmp[i];
                        }
                    }
                }
            }
            Dist::MvNormal { mu, inv, lnorm, .. } => {
                for (o, row) in out.iter_mut().zip(xs.chunks_exact(d)) {
                    let mut s = 0.0;
                    for i in 0..d {
                        let z = (row[i] - mu[i]) * inv[i];
                        s += z * z;
                    }
                    *o = lnorm - 0.5 * s;
                }
            }
        }
    }

    /// Scalar log density of a 1-D program.
    pub fn logpdf_one(&self, x: f64) -> f64 {
        let mut o = [0.0];
        if self.dim() == 1 {
            self.logpdf(&[x], &mut o);
            o[0]
        } else {
            f64::NAN
        }
    }
}

/// Log density of a 1-D mixture of normals: per row max_k v_k + ln Σ_k exp(v_k - max), with
/// v_k = (lnorm_k - z_k²/2) + ln w_k recomputed in each pass (cheaper than storing it), terms
/// below exp(-700) dropped (no subnormal arithmetic); two components take the fused
/// max + log1p(exp(min - max)).
#[inline(always)]
fn mix_normal_logpdf(m: &Mix, xs: &[f64], out: &mut [f64]) {
    const MAXK: usize = 32;
    let mut comp = [(0.0f64, 0.0f64, 0.0f64, 0.0f64); MAXK];
    let mut k = 0;
    for (c, &lw) in m.children.iter().zip(&m.lw) {
        if let Dist::Normal { mu, inv, lnorm, .. } = c {
            if lw > f64::NEG_INFINITY {
                if k == MAXK {
                    return mix_normal_logpdf_many(m, xs, out);
                }
                comp[k] = (*lnorm, lw, *mu, *inv);
                k += 1;
            }
        }
    }
    let comp = &comp[..k];
    let v = |x: f64, (c, lw, mu, iv): (f64, f64, f64, f64)| {
        let z = (x - mu) * iv;
        (c - 0.5 * z * z) + lw
    };
    if k == 1 {
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = v(x, comp[0]);
        }
        return;
    }
    if k == 2 {
        let (c0, c1) = (comp[0], comp[1]);
        for (o, &x) in out.iter_mut().zip(xs) {
            let (a, b) = (v(x, c0), v(x, c1));
            let (hi, lo) = if a > b { (a, b) } else { (b, a) };
            let r = hi + fm::log1p(fm::exp(lo - hi));
            // x = ±inf: both -inf (the difference would be NaN); NaN stays NaN
            *o = if hi > f64::NEG_INFINITY { r } else if x.is_nan() { x } else { f64::NEG_INFINITY };
        }
        return;
    }
    const R: usize = 256;
    let mut mx = [0.0f64; R];
    let mut sm = [0.0f64; R];
    for (oc, xc) in out.chunks_mut(R).zip(xs.chunks(R)) {
        let n = oc.len();
        let (mx, sm) = (&mut mx[..n], &mut sm[..n]);
        mx.fill(f64::NEG_INFINITY);
        sm.fill(0.0);
        for &c in comp {
            for (mv, &x) in mx.iter_mut().zip(xc) {
                let t = v(x, c);
                *mv = if t > *mv { t } else { *mv };
            }
        }
        for &c in comp {
            for ((sv, &mv), &x) in sm.iter_mut().zip(mx.iter()).zip(xc) {
                let d = v(x, c) - mv;
                let e = fm::exp(if d > -700.0 { d } else { -700.0 });
                *sv += if d > -700.0 { e } else { 0.0 };
            }
        }
        for ((o, (&mv, &sv)), &x) in oc.iter_mut().zip(mx.iter().zip(sm.iter())).zip(xc) {
            let r = mv + fm::ln(sv);
            *o = if mv > f64::NEG_INFINITY { r } else if x.is_nan() { x } else { f64::NEG_INFINITY };
        }
    }
}

/// Many-component normal mixtures: the generic path (heap scratch).
#[cold]
fn mix_normal_logpdf_many(m: &Mix, xs: &[f64], out: &mut [f64]) {
    m.logpdf_generic(xs, out)
}

// ---------------------------------------------------------------------------------------------
// cdf, survival and their inverses (1-D programs)

/// Below y = rate x = 1e-300, P(a, y) = y^a / Γ(a + 1) (1 + O(y)) to the last bit.
const GAMMA_TINY_Y: f64 = 1e-300;

/// gamma(shape, rate)'s (cdf, sf) at x: below `GAMMA_TINY_Y` from the leading term in logs,
/// since rate x may underflow there while P does not (gamma(0.01, 1e-100) holds 1e-4 of its
/// mass below 1e-300, where rate x is 0).
fn gamma_pq(shape: f64, rate: f64, ln_rate: f64, x: f64) -> (f64, f64) {
    let y = rate * x;
    if x > 0.0 && y < GAMMA_TINY_Y {
        // (lgamma1p: 1 + shape rounds a shape of 1e-8 to 8 digits)
        let ln_p = shape * (x.ln() + ln_rate) - sp::lgamma1p(shape);
        return (ln_p.exp(), -ln_p.exp_m1());
    }
    sp::gammainc_pq(shape, y.max(0.0))
}

/// The x with P(shape, rate x) = exp(ln_p) when rate x falls below `GAMMA_TINY_Y` (the
/// leading term inverted in logs), else None.
fn gamma_inv_tiny(shape: f64, ln_p: f64, ln_rate: f64) -> Option<f64> {
    let ln_y = (ln_p + sp::lgamma1p(shape)) / shape;
    (ln_y < GAMMA_TINY_Y.ln()).then(|| (ln_y - ln_rate).exp())
}

impl Dist {
    /// P(X <= x) for a 1-D program (NaN for multi-dimensional ones).
    pub fn cdf(&self, x: f64) -> f64 {
        self.cdf_sf(x, false)
    }

    /// P(X > x) for a 1-D program, computed directly (keeps upper-tail precision).
    pub fn sf(&self, x: f64) -> f64 {
        self.cdf_sf(x, true)
    }

    fn cdf_sf(&self, x: f64, upper: bool) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        // std(x): standardized argument; returns (cdf, sf) pairs where convenient.
        match self {
            Dist::Uniform { a, b, .. } => {
                let p = ((x - a) / (b - a)).clamp(0.0, 1.0);
                let q = ((b - x) / (b - a)).clamp(0.0, 1.0);
                if upper {
                    q
                } else {
                    p
                }
            }
            Dist::Normal { mu, inv, .. } => {
                let z = (x - mu) * inv;
                if upper {
                    sp::ndtr_sf(z)
                } else {
                    sp::ndtr(z)
                }
            }
            Dist::LogNormal { mu, inv, .. } => {
                if x <= 0.0 {
                    return if upper { 1.0 } else { 0.0 };
                }
                let z = (x.ln() - mu) * inv;
                if upper {
                    sp::ndtr_sf(z)
                } else {
                    sp::ndtr(z)
                }
            }
            Dist::Exponential { rate, .. } => {
                if x <= 0.0 {
                    return if upper { 1.0 } else { 0.0 };
                }
                if upper {
                    (-rate * x).exp()
                } else {
                    -(-rate * x).exp_m1()
                }
            }
            Dist::Gamma { shape, rate, ln_rate, .. } => {
                let (p, q) = gamma_pq(*shape, *rate, *ln_rate, x);
                if upper {
                    q
                } else {
                    p
                }
            }
            Dist::Beta { a, b, .. } => {
                let (p, q) = sp::betainc_pq(*a, *b, x.clamp(0.0, 1.0));
                if upper {
                    q
                } else {
                    p
                }
            }
            Dist::StudentT { df, loc, inv, .. } => {
                let z = (x - loc) * inv;
                if upper {
                    sp::t_sf(z, *df)
                } else {
                    sp::t_sf(-z, *df)
                }
            }
            Dist::Cauchy { loc, inv, .. } => {
                let z = (x - loc) * inv;
                let z = if upper { -z } else { z };
                // cdf(z) = 1/2 + atan(z)/pi; for z < 0 use -atan(1/z)/pi (no cancellation)
                if z < 0.0 {
                    -(1.0 / z).atan() / PI
                } else {
                    0.5 + z.atan() / PI
                }
            }
            Dist::Laplace { loc, inv, .. } => {
                let z = (x - loc) * inv;
                let z = if upper { -z } else { z };
                if z < 0.0 {
                    0.5 * z.exp()
                } else {
                    1.0 - 0.5 * (-z).exp()
                }
            }
            Dist::Logistic { loc, inv, .. } => {
                let z = (x - loc) * inv;
                let z = if upper { -z } else { z };
                1.0 / (1.0 + (-z).exp())
            }
            Dist::Truncated(t) => {
                if x < t.lo {
                    return if upper { 1.0 } else { 0.0 };
                }
                if x >= t.hi {
                    return if upper { 0.0 } else { 1.0 };
                }
                if let Some(f) = &t.flat {
                    let (a, b) = if upper { (x, t.hi) } else { (t.lo, x) };
                    return (f.integral(&t.child, a, b) / f.rel_mass).clamp(0.0, 1.0);
                }
                // Subtract values that are each accurate in their own tail of the child.
                let v = if upper {
                    let s = t.child.sf(x);
                    if s < 0.5 {
                        s - t.shi
                    } else {
                        t.fhi - t.child.cdf(x)
                    }
                } else {
                    let f = t.child.cdf(x);
                    if f < 0.5 {
                        f - t.flo
                    } else {
                        t.slo - t.child.sf(x)
                    }
                };
                (v / t.mass).clamp(0.0, 1.0)
            }
            Dist::Mixture(m) if m.dim == 1 => {
                let mut s = 0.0;
                for (w, c) in m.w.iter().zip(&m.children) {
                    if *w > 0.0 {
                        s += w * c.cdf_sf(x, upper);
                    }
                }
                s.min(1.0)
            }
            Dist::Product(c) if c.len() == 1 => c[0].cdf_sf(x, upper),
            Dist::MvNormal { mu, inv, .. } if mu.len() == 1 => {
                let z = (x - mu[0]) * inv[0];
                if upper {
                    sp::ndtr_sf(z)
                } else {
                    sp::ndtr(z)
                }
            }
            _ => f64::NAN,
        }
    }

    /// A bound on the absolute error of this 1-D program's cdf that does not shrink with the
    /// cdf itself: 0 for base distributions (accurate in both tails), ~ulp / mass for a
    /// truncation by inversion (its cdf is a difference of the child's values, over the mass),
    /// the weighted sum for a mixture.
    fn cdf_floor(&self) -> f64 {
        match self {
            Dist::Truncated(t) if t.flat.is_some() => 0.0,
            Dist::Truncated(t) => (HALF_ULP + t.child.cdf_floor()) / t.mass,
            Dist::Mixture(m) if m.dim == 1 => m.w.iter().zip(&m.children).map(|(w, c)| w * c.cdf_floor()).sum(),
            _ => 0.0,
        }
    }

    /// The probability of a truncation's interval under its child (None for other programs).
    pub fn truncation_mass(&self) -> Option<f64> {
        match self {
            Dist::Truncated(t) => Some(t.mass),
            _ => None,
        }
    }

    /// An upper bound on ln p over [lo, hi] (within the support of a 1-D program), exact for
    /// base distributions; pushes onto `cuts` the points inside where p may have a kink or a
    /// jump. None where no bound is known (products).
    fn ln_sup_on(&self, lo: f64, hi: f64, cuts: &mut Vec<f64>) -> Option<f64> {
        let inside = |x: f64| x > lo && x < hi;
        match self {
            Dist::Truncated(t) => {
                let (a, b) = (lo.max(t.lo), hi.min(t.hi));
                cuts.extend([t.lo, t.hi].into_iter().filter(|&e| inside(e)));
                if !(a <= b) {
                    return Some(f64::NEG_INFINITY);
                }
                Some(t.child.ln_sup_on(a, b, cuts)? - t.lnmass)
            }
            Dist::Mixture(m) if m.dim == 1 => {
                let mut terms = Vec::with_capacity(m.children.len());
                for (&lw, c) in m.lw.iter().zip(&m.children) {
                    if lw > f64::NEG_INFINITY {
                        terms.push(lw + c.ln_sup_on(lo, hi, cuts)?);
                    }
                }
                let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if !top.is_finite() {
                    return Some(top);
                }
                // rounded up a little: a bound, not an estimate
                Some(top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln() + 1e-12)
            }
            _ => {
                let x = match self.peak()? {
                    Peak::At(m) => m.clamp(lo, hi),
                    Peak::Ends => lo,
                };
                // where the density is not smooth: laplace's mode (a kink) and the support's
                // ends (jumps, inside a mixture); smooth modes need no cut, and a mixture of k
                // components would pay O(k) pieces of O(k) densities each
                let (sa, sb) = self.support();
                let kink = if matches!(self, Dist::Laplace { .. }) { x } else { f64::NAN };
                cuts.extend([kink, sa, sb].into_iter().filter(|&e| inside(e)));
                Some(self.logpdf_one(lo).max(self.logpdf_one(hi)).max(self.logpdf_one(x)))
            }
        }
    }

    /// Where the density of a 1-D base distribution takes its sup over an interval (None for
    /// truncations, mixtures and products, which have no such rule).
    fn peak(&self) -> Option<Peak> {
        Some(match self {
            Dist::Uniform { a, b, .. } => Peak::At(0.5 * a + 0.5 * b),
            Dist::Normal { mu, .. } => Peak::At(*mu),
            Dist::LogNormal { mu, sigma, .. } => Peak::At((mu - sigma * sigma).exp()),
            Dist::Exponential { .. } => Peak::At(0.0),
            Dist::Gamma { shape, rate, .. } => Peak::At(if *shape >= 1.0 { (shape - 1.0) / rate } else { 0.0 }),
            Dist::Beta { a, b, .. } => match (*a >= 1.0, *b >= 1.0) {
                (true, true) if a + b > 2.0 => Peak::At((a - 1.0) / (a + b - 2.0)),
                (true, true) => Peak::At(0.5),
                (false, true) => Peak::At(0.0),
                (true, false) => Peak::At(1.0),
                (false, false) => Peak::Ends,
            },
            Dist::StudentT { loc, .. } | Dist::Cauchy { loc, .. } | Dist::Laplace { loc, .. } | Dist::Logistic { loc, .. } => {
                Peak::At(*loc)
            }
            _ => return None,
        })
    }

    /// The support of a 1-D program (closure of where the density is positive).
    fn support(&self) -> (f64, f64) {
        match self {
            Dist::Uniform { a, b, .. } => (*a, *b),
            Dist::LogNormal { .. } | Dist::Exponential { .. } | Dist::Gamma { .. } => (0.0, f64::INFINITY),
            Dist::Beta { .. } => (0.0, 1.0),
            Dist::Truncated(t) => {
                let (a, b) = t.child.support();
                (a.max(t.lo), b.min(t.hi))
            }
            Dist::Mixture(m) => m.children.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), c| {
                let (ca, cb) = c.support();
                (a.min(ca), b.max(cb))
            }),
            Dist::Product(c) if c.len() == 1 => c[0].support(),
            _ => (f64::NEG_INFINITY, f64::INFINITY),
        }
    }

    /// Quantile: x with F(x) = p, searched within [lo, hi] when numeric.
    pub fn ppf_in(&self, p: f64, lo: f64, hi: f64) -> f64 {
        match self {
            Dist::Uniform { a, b, .. } => a + p * (b - a),
            Dist::Normal { mu, sigma, .. } => mu + sigma * sp::ndtri(p),
            Dist::LogNormal { mu, sigma, .. } => (mu + sigma * sp::ndtri(p)).exp(),
            Dist::Exponential { rate, .. } => fm::log1p(-p) * (-1.0 / rate),
            Dist::Gamma { shape, rate, ln_rate, .. } => {
                gamma_inv_tiny(*shape, p.ln(), *ln_rate).unwrap_or_else(|| sp::gammaincinv(*shape, p) / rate)
            }
            Dist::Beta { a, b, .. } => sp::betaincinv(*a, *b, p),
            Dist::StudentT { loc, scale, df, .. } if *df >= sp::T_LARGE_DF => {
                if p < 0.5 {
                    loc - scale * sp::t_hill_inv(sp::ndtri_sf(p), *df)
                } else {
                    loc + scale * sp::t_hill_inv(sp::ndtri_sf(1.0 - p), *df)
                }
            }
            Dist::Cauchy { loc, scale, .. } => {
                if p < 0.5 {
                    loc - scale / (PI * p).tan()
                } else {
                    loc + scale / (PI * (1.0 - p)).tan()
                }
            }
            Dist::Laplace { loc, scale, .. } => {
                if p < 0.5 {
                    loc + scale * fm::ln(2.0 * p)
                } else {
                    loc - scale * fm::ln(2.0 * (1.0 - p))
                }
            }
            Dist::Logistic { loc, scale, .. } => loc + scale * (fm::ln(p) - fm::log1p(-p)),
            _ => self.invert_numeric(p, false, lo, hi),
        }
    }

    /// Inverse survival: x with S(x) = q, searched within [lo, hi] when numeric.
    pub fn isf_in(&self, q: f64, lo: f64, hi: f64) -> f64 {
        match self {
            Dist::Uniform { a, b, .. } => b - q * (b - a),
            Dist::Normal { mu, sigma, .. } => mu + sigma * sp::ndtri_sf(q),
            Dist::LogNormal { mu, sigma, .. } => (mu + sigma * sp::ndtri_sf(q)).exp(),
            Dist::Exponential { rate, .. } => fm::ln(q) * (-1.0 / rate),
            Dist::Gamma { shape, rate, ln_rate, .. } => {
                gamma_inv_tiny(*shape, (-q).ln_1p(), *ln_rate).unwrap_or_else(|| sp::gammainccinv(*shape, q) / rate)
            }
            Dist::Beta { a, b, .. } => sp::betainccinv(*a, *b, q),
            Dist::StudentT { loc, scale, df, .. } if *df >= sp::T_LARGE_DF => {
                if q < 0.5 {
                    loc + scale * sp::t_hill_inv(sp::ndtri_sf(q), *df)
                } else {
                    loc - scale * sp::t_hill_inv(sp::ndtri_sf(1.0 - q), *df)
                }
            }
            Dist::Cauchy { loc, scale, .. } => {
                if q < 0.5 {
                    loc + scale / (PI * q).tan()
                } else {
                    loc - scale / (PI * (1.0 - q)).tan()
                }
            }
            Dist::Laplace { loc, scale, .. } => {
                if q < 0.5 {
                    loc - scale * fm::ln(2.0 * q)
                } else {
                    loc + scale * fm::ln(2.0 * (1.0 - q))
                }
            }
            Dist::Logistic { loc, scale, .. } => loc + scale * (fm::log1p(-q) - fm::ln(q)),
            _ => self.invert_numeric(q, true, lo, hi),
        }
    }

    /// Safeguarded Newton in the log domain on ln F(x) - ln p (or ln q - ln S(x)).
    fn invert_numeric(&self, prob: f64, upper: bool, lo: f64, hi: f64) -> f64 {
        if !(prob > 0.0) {
            return if upper { hi } else { lo };
        }
        if prob >= 1.0 {
            return if upper { lo } else { hi };
        }
        let (sa, sb) = self.support();
        let (a, b) = (lo.max(sa), hi.min(sb));
        let lp = prob.ln();
        let x0 = match self {
            Dist::StudentT { loc, scale, df, .. } if *df >= 1.0 => {
                let z = if upper { sp::ndtri_sf(prob) } else { sp::ndtri(prob) };
                // in a far tail from the tail's leading term, P(|T| > t) / 2 = (df / t²)^a /
                // (2 a B(a, 1/2)), a = df / 2: from the normal's quantile, t(3)'s tail at 1e-7
                // (222 against 5.2) took ~20 evaluations
                let tail = prob.min(1.0 - prob);
                let a = 0.5 * df;
                let t = df.sqrt() * (-((2.0 * tail).ln() + a.ln() + sp::lbeta(a, 0.5)) / (2.0 * a)).exp();
                let t = if t * t > 3.0 * df && t > z.abs() { t } else { z.abs() };
                loc + scale * if z < 0.0 { -t } else { t }
            }
            _ => f64::NAN,
        };
        sp::solve_increasing(a, b, x0, |x| {
            let dens = self.logpdf_one(x);
            if upper {
                let s = self.sf(x);
                (lp - s.ln(), (dens - s.ln()).exp())
            } else {
                let f = self.cdf(x);
                (f.ln() - lp, (dens - f.ln()).exp())
            }
        })
    }
}

#[cfg(test)]
mod tests;
