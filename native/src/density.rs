//! Linear-space densities for the accept fast path (see `kernel.rs`).
//!
//! For 1-D programs whose normalized density is cheap without logarithms (uniform, beta with
//! integer shapes <= 9, normal, exponential, gamma with integer shape <= 9, Cauchy, Laplace,
//! logistic, truncations and mixtures of these), `Lin::pdf` evaluates the density of a batch
//! of points as vector code (one `exp` at most per point and node, no `ln`).
//!
//! Sign convention (so the kernel can tell a structural zero from an underflow):
//! - `-0.0`: structural zero: the point is outside the support, where `Dist::logpdf` gives
//!   exactly -inf (uniform/beta/truncation outside their closed interval, exponential/gamma
//!   at x < 0; a mixture whose components are all structural zeros);
//! - NaN: NaN input (the exact log-space path decides);
//! - anything else (including `+0.0` from underflow, subnormals, inf): an approximation of
//!   `exp(logpdf)` with relative error far below `kernel`'s tolerance where it is a normal
//!   number; the kernel treats values outside [TINY, HUGE] as undecided.
//!
//! `Lin::from_program` parses the prefix program (PROTOCOL.md §2) itself and computes its
//! constants from the program's parameters; `validate` then checks the result against
//! `Dist::logpdf` at a few hundred points, so a mismatch (e.g. a different truncation mass)
//! disables the fast path instead of changing decisions.

use crate::dist::Dist;
use crate::fastmath;
use crate::rng::{Simd, Stream};

/// Densities (and M q) in [TINY, HUGE] are decided in linear space; anything else falls back.
/// (The range keeps products of two densities finite and normal.)
pub const TINY: f64 = 1e-150;
pub const HUGE: f64 = 1e150;
/// Standard deviations beyond which a normal's `pdf1` is exactly 0: exp(-z²/2) at z = 38.8 has
/// an argument below -752 (with room for the rounding of z), which `fastmath::exp` clamps to
/// -750, where it underflows to 0.
const NORMAL_REACH: f64 = 38.8;

/// The first i in 0..n for which `before(i)` is false (`before` true on a prefix).
fn partition_point(n: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Constants (normalizers, 1/mass, M) must lie in [1/CONST_RANGE, CONST_RANGE].
pub const CONST_RANGE: f64 = 1e100;
/// Largest integer exponent (shape - 1) handled by the polynomial forms.
const MAX_POW: u32 = 8;

#[derive(Clone, Debug)]
pub enum Lin {
    Uniform { a: f64, b: f64, c: f64 },
    /// c x^ia (1-x)^ib on [0, 1]
    Beta { ia: u32, ib: u32, c: f64 },
    Normal { mu: f64, inv: f64, c: f64 },
    /// rate e^(-rate x) on [0, inf)
    Exponential { rate: f64 },
    /// c x^k e^(-rate x) on [0, inf)
    Gamma { k: u32, rate: f64, c: f64 },
    Cauchy { loc: f64, inv: f64, c: f64 },
    Laplace { loc: f64, inv: f64, c: f64 },
    Logistic { loc: f64, inv: f64, c: f64 },
    /// child / mass on [lo, hi]
    Truncated { lo: f64, hi: f64, im: f64, child: Box<Lin> },
    /// sum of w_k child_k (zero weights dropped)
    Mixture { w: Vec<f64>, children: Vec<Lin> },
}

fn in_range(c: f64) -> bool {
    c.is_finite() && (1.0 / CONST_RANGE..=CONST_RANGE).contains(&c)
}

fn small_int(v: f64) -> Option<u32> {
    if v.fract() == 0.0 && v >= 1.0 && v <= (MAX_POW + 1) as f64 {
        Some(v as u32 - 1)
    } else {
        None
    }
}

fn fact(n: u32) -> f64 {
    (1..=n).fold(1.0, |a, k| a * k as f64)
}

impl Lin {
    /// Parse a whole 1-D program; None when any node is not cheap (or constants are extreme).
    pub fn from_program(prog: &[f64]) -> Option<Lin> {
        let mut pos = 0;
        let l = Lin::parse(prog, &mut pos, 0)?;
        if pos != prog.len() {
            return None;
        }
        Some(l)
    }

    fn parse(p: &[f64], pos: &mut usize, depth: usize) -> Option<Lin> {
        if depth > 32 {
            return None;
        }
        let take = |pos: &mut usize, k: usize| -> Option<&[f64]> {
            let s = p.get(*pos..*pos + k)?;
            *pos += k;
            Some(s)
        };
        let tag = take(pos, 1)?[0];
        let l = match tag as i64 {
            _ if tag.fract() != 0.0 => return None,
            1 => {
                let v = take(pos, 2)?;
                let (a, b) = (v[0], v[1]);
                let c = 1.0 / (b - a);
                if !(a < b) || !in_range(c) {
                    return None;
                }
                Lin::Uniform { a, b, c }
            }
            2 => {
                let v = take(pos, 2)?;
                let c = 1.0 / (v[1] * (2.0 * std::f64::consts::PI).sqrt());
                if !(v[0].is_finite() && v[1] > 0.0 && in_range(c) && in_range(1.0 / v[1])) {
                    return None;
                }
                Lin::Normal { mu: v[0], inv: 1.0 / v[1], c }
            }
            4 => {
                let v = take(pos, 1)?;
                if !in_range(v[0]) {
                    return None;
                }
                Lin::Exponential { rate: v[0] }
            }
            5 => {
                let v = take(pos, 2)?;
                let k = small_int(v[0])?;
                let rate = v[1];
                if !in_range(rate) {
                    return None;
                }
                let c = rate.powi(k as i32 + 1) / fact(k);
                if !in_range(c) {
                    return None;
                }
                Lin::Gamma { k, rate, c }
            }
            6 => {
                let v = take(pos, 2)?;
                let ia = small_int(v[0])?;
                let ib = small_int(v[1])?;
                // 1 / B(a, b) = (a + b - 1)! / ((a - 1)! (b - 1)!), exact integers here
                let c = fact(ia + ib + 1) / (fact(ia) * fact(ib));
                Lin::Beta { ia, ib, c }
            }
            8 | 9 | 10 => {
                let v = take(pos, 2)?;
                let (loc, s) = (v[0], v[1]);
                let inv = 1.0 / s;
                let c = match tag as i64 {
                    8 => 1.0 / (std::f64::consts::PI * s),
                    9 => 0.5 / s,
                    _ => inv,
                };
                if !(loc.is_finite() && s > 0.0 && in_range(c) && in_range(inv)) {
                    return None;
                }
                match tag as i64 {
                    8 => Lin::Cauchy { loc, inv, c },
                    9 => Lin::Laplace { loc, inv, c },
                    _ => Lin::Logistic { loc, inv, c },
                }
            }
            20 => {
                let v = take(pos, 2)?;
                let (lo, hi) = (v[0], v[1]);
                if !(lo < hi) {
                    return None;
                }
                let start = *pos - 3;
                let child = Lin::parse(p, pos, depth + 1)?;
                // the truncation's own mass (quadrature for narrow intervals), so the two paths
                // normalize alike
                let mass = Dist::decode(&p[start..*pos]).ok()?.truncation_mass()?;
                let im = 1.0 / mass;
                if !(mass > 0.0 && in_range(im)) {
                    return None;
                }
                Lin::Truncated { lo, hi, im, child: Box::new(child) }
            }
            21 => {
                let k = take(pos, 1)?[0];
                if !(k.fract() == 0.0 && k >= 1.0 && k <= 4096.0) {
                    return None;
                }
                let k = k as usize;
                let w = take(pos, k)?.to_vec();
                let sum: f64 = w.iter().sum();
                if !(w.iter().all(|&x| x >= 0.0 && x.is_finite()) && sum > 0.0) {
                    return None;
                }
                let mut ws = Vec::new();
                let mut children = Vec::new();
                for &wi in &w {
                    let c = Lin::parse(p, pos, depth + 1)?;
                    if wi > 0.0 {
                        ws.push(wi / sum);
                        children.push(c);
                    }
                }
                Lin::Mixture { w: ws, children }
            }
            _ => return None,
        };
        Some(l)
    }

    /// A closed interval outside which `pdf` is -0.0 (or NaN for NaN points).
    pub fn support(&self) -> (f64, f64) {
        let inf = f64::INFINITY;
        match self {
            Lin::Uniform { a, b, .. } => (*a, *b),
            Lin::Beta { .. } => (0.0, 1.0),
            Lin::Exponential { .. } | Lin::Gamma { .. } => (0.0, inf),
            Lin::Normal { .. } | Lin::Cauchy { .. } | Lin::Laplace { .. } | Lin::Logistic { .. } => (-inf, inf),
            Lin::Truncated { lo, hi, child, .. } => {
                let (a, b) = child.support();
                (lo.max(a), hi.min(b))
            }
            Lin::Mixture { children, .. } => children.iter().map(|c| c.support()).fold((inf, -inf), |(a, b), (c, d)| (a.min(c), b.max(d))),
        }
    }

    /// Rough cost of `pdf` per point, in transcendental-function units (exp = 1).
    pub fn lin_cost(&self) -> f64 {
        match self {
            Lin::Uniform { .. } | Lin::Beta { .. } => 0.1,
            Lin::Cauchy { .. } => 0.3,
            Lin::Normal { .. } | Lin::Exponential { .. } | Lin::Laplace { .. } | Lin::Gamma { .. } => 1.0,
            Lin::Logistic { .. } => 1.3,
            Lin::Truncated { child, .. } => child.lin_cost() + 0.1,
            Lin::Mixture { children, .. } => children.iter().map(|c| c.lin_cost() + 0.2).sum(),
        }
    }

    /// Rough cost of `Dist::logpdf` of the same program per point, in the same units.
    pub fn log_cost(&self) -> f64 {
        match self {
            Lin::Uniform { .. } => 0.1,
            Lin::Normal { .. } | Lin::Exponential { .. } | Lin::Laplace { .. } => 0.1,
            Lin::Gamma { .. } | Lin::Cauchy { .. } => 1.0,
            Lin::Beta { .. } | Lin::Logistic { .. } => 2.0,
            Lin::Truncated { child, .. } => child.log_cost() + 0.1,
            Lin::Mixture { children, .. } => children.iter().map(|c| c.log_cost() + 1.3).sum::<f64>() + 1.0,
        }
    }

    /// Density of each point of `xs` into `out` (same length; see the module doc for the
    /// meaning of -0.0 / NaN).
    pub fn pdf(&self, level: Simd, xs: &[f64], out: &mut [f64]) {
        let n = xs.len().min(out.len());
        let (xs, out) = (&xs[..n], &mut out[..n]);
        match self {
            Lin::Uniform { a, b, c } => {
                let (a, b, c) = (*a, *b, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], a: f64, b: f64, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        *o = if x >= a && x <= b { c } else { outside(x) };
                    }
                })
            }
            Lin::Beta { ia, ib, c } => {
                let (ia, ib, c) = (*ia, *ib, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], ia: u32, ib: u32, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        let v = c * powi_small(x, ia) * powi_small(1.0 - x, ib);
                        *o = if x >= 0.0 && x <= 1.0 { v } else { outside(x) };
                    }
                })
            }
            Lin::Normal { mu, inv, c } => {
                let (mu, inv, c) = (*mu, *inv, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], mu: f64, inv: f64, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        let z = (x - mu) * inv;
                        *o = c * fastmath::exp_clamped(-0.5 * z * z);
                    }
                })
            }
            Lin::Exponential { rate } => {
                let r = *rate;
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], r: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        let v = r * fastmath::exp_clamped(-r * x);
                        *o = if x >= 0.0 { v } else { outside(x) };
                    }
                })
            }
            Lin::Gamma { k, rate, c } => {
                let (k, r, c) = (*k, *rate, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], k: u32, r: f64, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        let v = c * powi_small(x, k) * fastmath::exp_clamped(-r * x);
                        *o = if x >= 0.0 { v } else { outside(x) };
                    }
                })
            }
            Lin::Cauchy { loc, inv, c } => {
                let (m, iv, c) = (*loc, *inv, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], m: f64, iv: f64, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        let z = (x - m) * iv;
                        *o = c / (1.0 + z * z);
                    }
                })
            }
            Lin::Laplace { loc, inv, c } => {
                let (m, iv, c) = (*loc, *inv, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], m: f64, iv: f64, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        *o = c * fastmath::exp_clamped(-((x - m).abs() * iv));
                    }
                })
            }
            Lin::Logistic { loc, inv, c } => {
                let (m, iv, c) = (*loc, *inv, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], m: f64, iv: f64, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        let e = fastmath::exp_clamped(-((x - m) * iv).abs());
                        let d = 1.0 + e;
                        *o = c * e / (d * d);
                    }
                })
            }
            Lin::Truncated { lo, hi, im, child } => {
                child.pdf(level, xs, out);
                let (lo, hi, im) = (*lo, *hi, *im);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], lo: f64, hi: f64, im: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        *o = if x >= lo && x <= hi { *o * im } else { outside(x) };
                    }
                })
            }
            Lin::Mixture { w, children } => {
                // -0.0 is the identity of + that keeps "all structural" as -0.0
                out.fill(-0.0);
                let mut tmp = Vec::new();
                for (c, &wk) in children.iter().zip(w) {
                    if let Lin::Normal { mu, inv, c } = c {
                        // fused: out += w c exp(-z^2/2), no scratch
                        let (mu, inv, wc) = (*mu, *inv, wk * *c);
                        crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], mu: f64, inv: f64, wc: f64) -> () {
                            for (o, &x) in out.iter_mut().zip(xs) {
                                let z = (x - mu) * inv;
                                *o += wc * fastmath::exp_clamped(-0.5 * z * z);
                            }
                        });
                        continue;
                    }
                    tmp.resize(n, 0.0);
                    c.pdf(level, xs, &mut tmp);
                    let tmp = &tmp[..];
                    crate::simd_dispatch!(level, fn(out: &mut [f64], tmp: &[f64], wk: f64) -> () {
                        for (o, &t) in out.iter_mut().zip(tmp) {
                            *o += wk * t;
                        }
                    })
                }
            }
        }
    }

    /// Density at one point, scalar, with the same formulas as `pdf` but the full `fastmath::exp`
    /// (which underflows to 0 instead of clamping), for the squeeze tables (`squeeze.rs`). Outside the
    /// support: 0.0. Relative error a few ulps (plus the exponent's rounding) where the result
    /// is a normal number.
    pub fn pdf1(&self, x: f64) -> f64 {
        match self {
            Lin::Uniform { a, b, c } => {
                if x >= *a && x <= *b {
                    *c
                } else {
                    0.0
                }
            }
            Lin::Beta { ia, ib, c } => {
                if (0.0..=1.0).contains(&x) {
                    c * powi_small(x, *ia) * powi_small(1.0 - x, *ib)
                } else {
                    0.0
                }
            }
            Lin::Normal { mu, inv, c } => {
                let z = (x - mu) * inv;
                // (exactly what the exp gives beyond NORMAL_REACH: a mixture of many narrow
                // normals evaluates each at every point of its squeeze's scalar enclosures)
                if z.abs() > NORMAL_REACH {
                    return 0.0;
                }
                c * fastmath::exp(-0.5 * z * z)
            }
            Lin::Exponential { rate } => {
                if x >= 0.0 {
                    rate * fastmath::exp(-rate * x)
                } else {
                    0.0
                }
            }
            Lin::Gamma { k, rate, c } => {
                if x >= 0.0 {
                    c * powi_small(x, *k) * fastmath::exp(-rate * x)
                } else {
                    0.0
                }
            }
            Lin::Cauchy { loc, inv, c } => {
                let z = (x - loc) * inv;
                c / (1.0 + z * z)
            }
            Lin::Laplace { loc, inv, c } => c * fastmath::exp(-((x - loc).abs() * inv)),
            Lin::Logistic { loc, inv, c } => {
                let e = fastmath::exp(-((x - loc) * inv).abs());
                let d = 1.0 + e;
                c * e / (d * d)
            }
            Lin::Truncated { lo, hi, im, child } => {
                if x >= *lo && x <= *hi {
                    child.pdf1(x) * im
                } else {
                    0.0
                }
            }
            Lin::Mixture { w, children } => children.iter().zip(w).map(|(c, wk)| wk * c.pdf1(x)).sum(),
        }
    }

    /// Mode of a leaf (every leaf density is unimodal or monotone on its support; a flat
    /// density may return any point). None for truncations and mixtures.
    fn mode(&self) -> Option<f64> {
        match self {
            Lin::Uniform { a, b, .. } => Some(0.5 * (a + b)),
            Lin::Beta { ia, ib, .. } => Some(if ia + ib == 0 { 0.5 } else { *ia as f64 / (*ia + *ib) as f64 }),
            Lin::Exponential { .. } => Some(0.0),
            Lin::Gamma { k, rate, .. } => Some(*k as f64 / rate),
            Lin::Normal { mu: m, .. } | Lin::Cauchy { loc: m, .. } | Lin::Laplace { loc: m, .. } | Lin::Logistic { loc: m, .. } => {
                Some(*m)
            }
            _ => None,
        }
    }

    /// Enclosure `(lo, hi)` of the density over the closed interval [a, b] (a <= b, finite):
    /// lo <= pdf(x) <= hi for every x in [a, b], up to the rounding of `pdf1` (a few ulps; the
    /// squeeze widens the result by a far larger margin). Leaves are unimodal (or monotone)
    /// with a known mode on their support, so over a sub-interval [a', b'] of the support the
    /// density lies in [min(f(a'), f(b')), f(clamp(mode, a', b'))]; an interval that reaches
    /// outside the support (or a truncation) has lower bound 0. Mixtures add their children's
    /// enclosures (weights >= 0), truncations scale their child's by 1 / mass.
    pub fn enclose(&self, a: f64, b: f64) -> (f64, f64) {
        let (s0, s1) = match self {
            Lin::Truncated { lo, hi, .. } => (*lo, *hi),
            Lin::Mixture { .. } => (f64::NEG_INFINITY, f64::INFINITY),
            _ => self.support(),
        };
        let (ca, cb) = (a.max(s0), b.min(s1));
        if !(ca <= cb) {
            return (0.0, 0.0);
        }
        let partial = ca > a || cb < b;
        let (lo, hi) = match self {
            Lin::Truncated { im, child, .. } => {
                let (l, h) = child.enclose(ca, cb);
                (l * im, h * im)
            }
            Lin::Mixture { w, children } => {
                let mut l = 0.0;
                let mut h = 0.0;
                for (c, wk) in children.iter().zip(w) {
                    let (cl, ch) = c.enclose(ca, cb);
                    l += wk * cl;
                    h += wk * ch;
                }
                (l, h)
            }
            _ => {
                let mode = self.mode().unwrap_or(ca);
                let fa = self.pdf1(ca);
                let fb = self.pdf1(cb);
                let fm = self.pdf1(mode.clamp(ca, cb));
                (fa.min(fb), fm.max(fa).max(fb))
            }
        };
        (if partial { 0.0 } else { lo }, hi)
    }

    /// `pdf1` of a leaf at many points (vector code; values outside the support are +-0).
    fn leaf_pdf_full(&self, xs: &[f64], out: &mut [f64]) {
        let level = crate::rng::simd();
        match self {
            Lin::Normal { mu, inv, c } => {
                let (mu, inv, c) = (*mu, *inv, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], mu: f64, inv: f64, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        let z = (x - mu) * inv;
                        *o = c * fastmath::exp(-0.5 * z * z);
                    }
                })
            }
            Lin::Exponential { rate } => {
                let r = *rate;
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], r: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        let v = r * fastmath::exp(-r * x);
                        *o = if x >= 0.0 { v } else { 0.0 };
                    }
                })
            }
            Lin::Gamma { k, rate, c } => {
                let (k, r, c) = (*k, *rate, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], k: u32, r: f64, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        let v = c * powi_small(x, k) * fastmath::exp(-r * x);
                        *o = if x >= 0.0 { v } else { 0.0 };
                    }
                })
            }
            Lin::Laplace { loc, inv, c } => {
                let (m, iv, c) = (*loc, *inv, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], m: f64, iv: f64, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        *o = c * fastmath::exp(-((x - m).abs() * iv));
                    }
                })
            }
            Lin::Logistic { loc, inv, c } => {
                let (m, iv, c) = (*loc, *inv, *c);
                crate::simd_dispatch!(level, fn(xs: &[f64], out: &mut [f64], m: f64, iv: f64, c: f64) -> () {
                    for (o, &x) in out.iter_mut().zip(xs) {
                        let e = fastmath::exp(-((x - m) * iv).abs());
                        let d = 1.0 + e;
                        *o = c * e / (d * d);
                    }
                })
            }
            Lin::Uniform { .. } | Lin::Beta { .. } | Lin::Cauchy { .. } => self.pdf(level, xs, out),
            _ => {
                for (o, &x) in out.iter_mut().zip(xs) {
                    *o = self.pdf1(x);
                }
            }
        }
    }

    /// Leaves evaluated per point of [a, b] by `enclose_grid` (normals out of reach cost none).
    pub fn cost_on(&self, a: f64, b: f64) -> f64 {
        match self {
            Lin::Normal { mu, inv, .. } => {
                let reach = NORMAL_REACH / inv;
                if b < mu - reach || a > mu + reach {
                    0.0
                } else {
                    1.0
                }
            }
            Lin::Mixture { children, .. } => children.iter().map(|c| c.cost_on(a, b)).sum(),
            Lin::Truncated { child, .. } => child.cost_on(a, b),
            _ => 1.0,
        }
    }

    /// The groups [g0, g1) of an `enclose_grid` point list (groups of `sub + 1` increasing
    /// points) outside which this node's bounds are exactly 0: for a normal, the points more
    /// than NORMAL_REACH standard deviations from its mean, where `pdf1` and `leaf_pdf_full`
    /// (exp of at most -750) are exactly 0, so every piece there encloses [0, 0]. All groups
    /// for other nodes.
    fn groups_reached(&self, pts: &[f64], sub: usize) -> (usize, usize) {
        let groups = pts.len() / (sub + 1);
        match self {
            Lin::Normal { mu, inv, .. } => {
                let reach = NORMAL_REACH / inv;
                let (lo, hi) = (mu - reach, mu + reach);
                let first = |g: usize| pts[g * (sub + 1)];
                let last = |g: usize| pts[g * (sub + 1) + sub];
                // groups ending before lo, and groups starting at or before hi
                let g0 = partition_point(groups, |g| last(g) < lo);
                let g1 = partition_point(groups, |g| first(g) <= hi);
                (g0, g1.max(g0))
            }
            // (pieces crossing the truncation's ends go through `enclose`, 0 there as well)
            Lin::Truncated { child, .. } => child.groups_reached(pts, sub),
            _ => (0, groups),
        }
    }

    /// Of `n` cells of width `w` from `x0`, how many `enclose_grid` evaluates each leaf on,
    /// summed over the leaves (a normal: those within its reach; other leaves: all).
    pub fn cells_reached(&self, x0: f64, w: f64, n: usize) -> f64 {
        match self {
            Lin::Normal { mu, inv, .. } => {
                let reach = NORMAL_REACH / inv;
                let a = ((mu - reach - x0) / w).floor().max(0.0);
                let b = ((mu + reach - x0) / w).ceil().min(n as f64);
                (b - a).max(0.0)
            }
            Lin::Mixture { children, .. } => children.iter().map(|c| c.cells_reached(x0, w, n)).sum(),
            Lin::Truncated { child, .. } => child.cells_reached(x0, w, n),
            _ => n as f64,
        }
    }

    /// Leaves of the density's tree.
    pub fn leaves(&self) -> usize {
        match self {
            Lin::Mixture { children, .. } => children.iter().map(|c| c.leaves()).sum(),
            Lin::Truncated { child, .. } => child.leaves(),
            _ => 1,
        }
    }

    /// `enclose` over many pieces at once: `pts` holds groups of `sub + 1` points (one group per
    /// cell, increasing), piece k of group c is [pts[c (sub+1) + k], pts[c (sub+1) + k + 1]] and
    /// its enclosure goes to `lo[c sub + k]`, `hi[c sub + k]`. Same bounds as `enclose` piece by
    /// piece, with each leaf evaluated once per point instead of three times per piece.
    pub fn enclose_grid(&self, pts: &[f64], sub: usize, lo: &mut [f64], hi: &mut [f64]) {
        let groups = pts.len() / (sub + 1);
        let np = groups * sub;
        let (lo, hi) = (&mut lo[..np], &mut hi[..np]);
        // only the groups this node reaches (a narrow normal, or one truncated): elsewhere its
        // bounds are exactly 0
        let (g0, g1) = self.groups_reached(pts, sub);
        if g0 > 0 || g1 < groups {
            for v in [&mut *lo, &mut *hi] {
                v[..g0 * sub].fill(0.0);
                v[g1 * sub..].fill(0.0);
            }
            if g0 < g1 {
                self.enclose_grid(&pts[g0 * (sub + 1)..g1 * (sub + 1)], sub, &mut lo[g0 * sub..g1 * sub], &mut hi[g0 * sub..g1 * sub]);
            }
            return;
        }
        // piece j = c sub + k starts at point c (sub + 1) + k = j + c
        let piece = |j: usize| -> (f64, f64) {
            let g = j + j / sub;
            (pts[g], pts[g + 1])
        };
        match self {
            Lin::Mixture { w, children } => {
                lo.fill(0.0);
                hi.fill(0.0);
                let mut cl = vec![0.0; np];
                let mut ch = vec![0.0; np];
                for (c, &wk) in children.iter().zip(w) {
                    // only the groups the component reaches: elsewhere its bounds are exactly 0,
                    // and adding 0 changes nothing (a mixture of 50 narrow normals spread wide
                    // had evaluated every one of them at every point)
                    let (g0, g1) = c.groups_reached(pts, sub);
                    if g0 >= g1 {
                        continue;
                    }
                    let (j0, j1) = (g0 * sub, g1 * sub);
                    c.enclose_grid(&pts[g0 * (sub + 1)..g1 * (sub + 1)], sub, &mut cl[j0..j1], &mut ch[j0..j1]);
                    for j in j0..j1 {
                        lo[j] += wk * cl[j];
                        hi[j] += wk * ch[j];
                    }
                }
            }
            Lin::Truncated { lo: tl, hi: th, im, child } => {
                child.enclose_grid(pts, sub, lo, hi);
                for j in 0..np {
                    let (a, b) = piece(j);
                    if a >= *tl && b <= *th {
                        lo[j] *= im;
                        hi[j] *= im;
                    } else {
                        let (l, h) = self.enclose(a, b);
                        lo[j] = l;
                        hi[j] = h;
                    }
                }
            }
            _ => {
                let (s0, s1) = self.support();
                let mode = self.mode().unwrap_or(0.0);
                let mut v = vec![0.0; pts.len()];
                self.leaf_pdf_full(pts, &mut v);
                for j in 0..np {
                    let g = j + j / sub;
                    let (a, b) = (pts[g], pts[g + 1]);
                    if a >= s0 && b <= s1 {
                        let (fa, fb) = (v[g], v[g + 1]);
                        let l = fa.min(fb);
                        let h = if mode > a && mode < b { self.pdf1(mode).max(fa).max(fb) } else { fa.max(fb) };
                        lo[j] = l;
                        hi[j] = h;
                    } else {
                        let (l, h) = self.enclose(a, b);
                        lo[j] = l;
                        hi[j] = h;
                    }
                }
            }
        }
    }

    /// Check against `dist` (the same program decoded by `Dist`): at `n` points drawn from
    /// `dist` plus a few fixed ones, ln(pdf) must agree with `logpdf` to 1e-11 where pdf is in
    /// [TINY, HUGE], and structural zeros must be -inf there.
    pub fn validate(&self, dist: &Dist, extra: &[f64]) -> bool {
        if dist.dim() != 1 {
            return false;
        }
        let n = 512;
        let mut xs = vec![0.0; n];
        dist.sample(&mut Stream::new(0x5EED, 0xD15, 0), &mut xs);
        xs.extend_from_slice(extra);
        xs.extend_from_slice(&[-1.0, 0.0, 0.5, 1.0, 2.0, -3.0, 10.0]);
        let mut lp = vec![0.0; xs.len()];
        dist.logpdf(&xs, &mut lp);
        let mut v = vec![0.0; xs.len()];
        self.pdf(Simd::Scalar, &xs, &mut v);
        for level in Simd::available() {
            let mut w = vec![0.0; xs.len()];
            self.pdf(level, &xs, &mut w);
            if w.iter().zip(&v).any(|(a, b)| a.to_bits() != b.to_bits()) {
                return false;
            }
        }
        for i in 0..xs.len() {
            let (pv, l) = (v[i], lp[i]);
            if pv == 0.0 && pv.is_sign_negative() {
                if l != f64::NEG_INFINITY {
                    return false;
                }
            } else if (TINY..=HUGE).contains(&pv) && !((pv.ln() - l).abs() <= 1e-11) {
                return false;
            }
        }
        true
    }
}

/// The value outside the support: -0.0, or NaN for a NaN point.
#[inline(always)]
fn outside(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else {
        -0.0
    }
}

/// x^k for 0 <= k <= 15 by square-and-multiply with a fixed trip count (vectorizes).
#[inline(always)]
fn powi_small(x: f64, k: u32) -> f64 {
    let mut r = 1.0;
    let mut b = x;
    for bit in 0..4 {
        r = if (k >> bit) & 1 != 0 { r * b } else { r };
        b *= b;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(prog: &[f64]) {
        let l = Lin::from_program(prog).unwrap_or_else(|| panic!("not cheap: {prog:?}"));
        let d = Dist::decode(prog).unwrap();
        assert!(l.validate(&d, &[]), "validation failed for {prog:?}");
    }

    #[test]
    fn cheap_programs_match_logpdf() {
        check(&[1.0, -2.0, 3.0]);
        check(&[6.0, 2.0, 5.0]);
        check(&[6.0, 1.0, 1.0]);
        check(&[6.0, 9.0, 3.0]);
        check(&[2.0, 1.5, 0.3]);
        check(&[4.0, 2.5]);
        check(&[5.0, 3.0, 2.0]);
        check(&[5.0, 1.0, 0.5]);
        check(&[8.0, 0.5, 2.0]);
        check(&[9.0, -1.0, 0.7]);
        check(&[10.0, 2.0, 1.3]);
        check(&[20.0, -1.0, 2.0, 2.0, 0.0, 1.0]);
        check(&[20.0, 3.0, f64::INFINITY, 2.0, 0.0, 1.0]);
        check(&[20.0, 0.1, 0.4, 6.0, 2.0, 5.0]);
        check(&[21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 1.0, 2.0, 2.0, 0.5]);
        check(&[21.0, 3.0, 0.2, 0.0, 0.8, 2.0, -2.0, 1.0, 9.0, 1.0, 2.0, 9.0, 0.0, 1.0]);
        check(&[20.0, 0.0, 3.0, 21.0, 2.0, 0.5, 0.5, 2.0, -2.0, 1.0, 4.0, 1.0]);
    }

    #[test]
    fn not_cheap() {
        assert!(Lin::from_program(&[6.0, 2.5, 5.0]).is_none());
        assert!(Lin::from_program(&[6.0, 11.0, 5.0]).is_none());
        assert!(Lin::from_program(&[5.0, 0.5, 1.0]).is_none());
        assert!(Lin::from_program(&[3.0, 0.0, 1.0]).is_none());
        assert!(Lin::from_program(&[7.0, 3.0, 0.0, 1.0]).is_none());
        assert!(Lin::from_program(&[22.0, 1.0, 2.0, 0.0, 1.0]).is_none());
        assert!(Lin::from_program(&[21.0, 2.0, 0.5, 0.5, 2.0, 0.0, 1.0, 3.0, 0.0, 1.0]).is_none());
        assert!(Lin::from_program(&[2.0, 0.0, 1.0, 5.0]).is_none());
    }

    #[test]
    fn structural_zeros_and_powi() {
        let l = Lin::from_program(&[20.0, 0.1, 0.4, 6.0, 2.0, 5.0]).unwrap();
        let xs = [0.05, 0.2, 0.5, f64::NAN, 0.1, 0.4];
        let mut o = [0.0; 6];
        l.pdf(crate::rng::simd(), &xs, &mut o);
        assert!(o[0] == 0.0 && o[0].is_sign_negative());
        assert!(o[2] == 0.0 && o[2].is_sign_negative());
        assert!(o[1] > 0.0 && o[4] > 0.0 && o[5] > 0.0);
        assert!(o[3].is_nan());
        for k in 0..=15 {
            assert_eq!(powi_small(1.5, k), 1.5f64.powi(k as i32));
        }
    }

    /// A mixture's grid enclosure skips the groups a narrow normal cannot reach; the bounds are
    /// bit for bit those of every component at every point (a normal, a Laplace and a
    /// truncation among 40 narrow normals, with groups that straddle a component's reach).
    #[test]
    fn mixture_grid_enclosure_skips_only_zeros() {
        let mut prog = vec![21.0, 43.0];
        prog.extend(std::iter::repeat(1.0).take(43));
        for i in 0..40 {
            prog.extend([2.0, -10.0 + 0.5 * i as f64, 0.003 * (1.0 + (i % 7) as f64)]);
        }
        prog.extend([2.0, 0.0, 3.0, 9.0, 1.0, 0.2, 20.0, -1.0, 1.0, 2.0, 0.0, 0.01]);
        let l = Lin::from_program(&prog).unwrap();
        let Lin::Mixture { w, children } = &l else { panic!("not a mixture") };
        for (sub, groups) in [(4usize, 777usize), (16, 333), (1, 2048)] {
            let mut pts = Vec::new();
            for g in 0..groups {
                let (a, b) = (-12.0 + 24.0 * g as f64 / groups as f64, -12.0 + 24.0 * (g + 1) as f64 / groups as f64);
                pts.extend((0..=sub).map(|k| a + (b - a) * k as f64 / sub as f64));
            }
            let np = groups * sub;
            let (mut lo, mut hi) = (vec![0.0; np], vec![0.0; np]);
            l.enclose_grid(&pts, sub, &mut lo, &mut hi);
            let (mut wl, mut wh) = (vec![0.0; np], vec![0.0; np]);
            let (mut cl, mut ch) = (vec![0.0; np], vec![0.0; np]);
            for (c, &wk) in children.iter().zip(w) {
                c.enclose_grid(&pts, sub, &mut cl, &mut ch);
                // what is skipped is exactly 0, and what is kept is not all 0
                let (g0, g1) = c.groups_reached(&pts, sub);
                let zero = |j: usize| cl[j].to_bits() == 0 && ch[j].to_bits() == 0;
                assert!((0..g0 * sub).chain(g1 * sub..np).all(zero), "sub {sub}: a skipped piece is not 0");
                assert!((g0 * sub..g1 * sub).any(|j| !zero(j)), "sub {sub}: nothing reached");
                for j in 0..np {
                    wl[j] += wk * cl[j];
                    wh[j] += wk * ch[j];
                }
            }
            assert!(lo.iter().zip(&wl).all(|(a, b)| a.to_bits() == b.to_bits()), "lower bounds, sub {sub}");
            assert!(hi.iter().zip(&wh).all(|(a, b)| a.to_bits() == b.to_bits()), "upper bounds, sub {sub}");
            assert!(hi.iter().filter(|&&h| h > 0.0).count() > np / 4, "the grid reaches the components");
        }
    }
}
