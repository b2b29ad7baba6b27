//! Squeeze tables for the linear-density fast path (Marsaglia's squeeze, with rigorous bounds).
//!
//! For a 1-D job whose target p and proposal q are both `density::Lin`, the proposal's bulk
//! [x0, x1) is cut into N equal cells and every cell c gets bounds
//! `lo[c] <= p(x) / (M q(x)) <= hi[c]` for every x the kernel maps to c. The bounds come from
//! interval enclosures (`Lin::enclose`: every leaf is unimodal with a known mode, mixtures add,
//! truncations scale), so they hold for the mathematical densities. p and q are bounded
//! separately on `DEFAULT_SUB` pieces per cell (the cell's bounds are the min / max over its
//! pieces), and a cell whose bound reaches 1 (tight M: the ratio's flat peak) is retried with
//! 4x finer pieces a round, up to 4096x, unless the ratio at its midpoint already reaches 1
//! (then no refinement could help), within a budget of leaf evaluations (`REFINE_BUDGET`; the
//! cells with the most proposal mass first once it binds). The bounds are then widened by
//! the relative margin `SQ_TOL` (plus `ABS_TOL` absolute), which dominates the rounding of the
//! tables, of the cell index and of the exact log-space path by orders of magnitude, and
//! finally rounded outward to f32 (lo down, hi up) and packed into one u64 per cell
//! (lo bits | hi bits << 32: one gather per lane).
//!
//! Per proposal x with uniform u (`decide`): c = floor(fma(x, 1/w, -x0/w)); c outside
//! [0, N) (and NaN x) -> the extra open cell N (undecided, no separate range test); accept
//! when u < lo[c], reject when u >= hi[c], else undecided. A decided lane is decided exactly as the log-space test
//! `ln u < logp - logM - logq` decides it (the margin is > 1e-9 relative, the log-space
//! computation is good to ~1e-12).
//!
//! The kernel runs the same test on the uniforms' raw u64s (`decide_bits` / `decide_gen`):
//! with t = x >> 32 (u lies strictly between t 2^-32 and (t + 1) 2^-32), it accepts when
//! t < floor(lo 2^32) and rejects when t > ceil(hi 2^32) - 1, which imply u < lo and u > hi:
//! every lane it decides is decided as above; the lanes at a threshold (about 2^-31 of them)
//! are left undecided and go through the exact path, so the rows and statistics do not change.
//! Its results are bit masks (accept, keep = decided and not routed), 8 lanes a byte: the
//! AVX-512 loop is then a handful of vector ops per 8 lanes besides the gather.
//! `decide_gen` also draws the u64s inside its AVX-512 loop.
//!
//! Statistics: a cell whose (widened) hi is >= 1 could hold an envelope violation, so such
//! cells (and cells whose proposal density is outside [TINY, HUGE] or whose bounds are not
//! finite) get lo = 0, hi = +inf: everything there is undecided and goes through the exact
//! path. So decided lanes have p < M q (no violation), finite log densities (no NaN), and
//! their log ratio is at most ln(M hi[c]): the kernel uses hi to skip lanes that cannot raise
//! the running maxLogRatio (see `kernel.rs`).
//!
//! Cell boundaries: the enclosure of cell c is taken over [x0 + (c - e) w, x0 + (c + 1 + e) w]
//! clipped to [x0 - e w, x1 + e w] and to q's support, where e w dominates the rounding of the
//! index computation (e >= 1e-6; the squeeze is not built when e would exceed 0.01). Cells
//! that may hold the ratio's maximum (hi >= the largest lo) get 4x, then 16x finer pieces, so
//! fewer lanes are routed for maxLogRatio (unless the ratio is flat, where every lane is).

use crate::density::{Lin, HUGE, TINY};
use crate::rng::{Simd, State, Stream};

#[cfg(test)]
thread_local! {
    /// Cells refined by `Squeeze::build` on this thread (tests count them).
    static REFINED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The refinement budget those refinements spent.
    static SPENT: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Relative widening of the bounds.
pub const SQ_TOL: f64 = 1e-9;
/// Absolute widening (covers subnormal rounding in the enclosures; u >= 2^-53 anyway).
const ABS_TOL: f64 = 1e-30;
/// Default number of cells (power of two; 4096 packed cells = 32 KiB).
pub const DEFAULT_CELLS: usize = 4096;
/// Pieces per cell in the enclosure computation.
pub const DEFAULT_SUB: usize = 4;
/// Pieces per cell of the finest refinement of cells whose bound reaches 1 (see `build`).
const MAX_FINE: usize = 16384;
/// Pieces per cell of the refinement of the cells around the ratio's peak (see `build`).
const PEAK_FINE: usize = 64;
/// Leaf evaluations the first pass of `Squeeze::build` may cost (~0.1 s), else no tables:
/// 4096 Laplace components sampled from their own mixture took 2.8 s for tables that decided
/// nothing (logistic 2.9 s, Cauchy 1.1 s). Normals count only where they reach (38.8 sd), so
/// 4096 narrow ones, whose tables cut a block from 4.2 s to 0.4 s, still get them.
const FIRST_PASS_MAX: f64 = 1e7;
/// Leaf evaluations (points times the leaves of p and q that reach them, `Lin::cost_on`) the
/// refinement rounds may spend in all, ~30 ms: T1-T3 spend ~5e4, but a 50-component normal
/// mixture sampled from itself, where p and q bounded separately never tighten to p / q,
/// spent 1.2e8 (sd 0.3) to 3.4e8 (sd 0.01) refining every cell to 16384 pieces: 1-3.6 s on a
/// job's second call (95 s before `Lin::groups_reached`).
const REFINE_BUDGET: f64 = 4e6;
/// Proposal mass left outside the table on each infinite side.
pub const TAIL: f64 = 1e-6;

pub struct Squeeze {
    x0: f64,
    x1: f64,
    inv_w: f64,
    /// -(x0 inv_w), rounded: the cell of x is floor(fma(x, inv_w, nx0iw)) (`cell_ix`)
    nx0iw: f64,
    n: usize,
    /// f32 lo bits | f32 hi bits << 32, n + 1 entries (the last one, for x mapped to no
    /// cell, is open: lo = 0, hi = inf)
    tbl: Vec<u64>,
    /// The same bounds as thresholds on the top 32 bits t of a uniform's u64 (`decide_bits`):
    /// L | H << 32 with L = floor(lo 2^32), H = ceil(hi 2^32) - 1 (2^32 - 1 when hi >= 1).
    itbl: Vec<u64>,
}

/// Integer thresholds of f32 bounds (lf, hf): `t < L` implies `u < lf`, `t > H` implies
/// `u > hf`, for t = x >> 32 and u = ((x >> 12) + 0.5) 2^-52 (u lies in (t 2^-32, (t + 1) 2^-32)).
fn int_bounds(lf: f32, hf: f32) -> u64 {
    const S: f64 = 4294967296.0;
    let (l, h) = (lf as f64, hf as f64);
    let li = if l > 0.0 { ((l * S).floor() as u64).min(0xFFFF_FFFF) } else { 0 };
    let hi = if h.is_nan() || h >= 1.0 {
        0xFFFF_FFFF
    } else if h > 0.0 {
        ((h * S).ceil() as u64).saturating_sub(1)
    } else {
        0
    };
    li | hi << 32
}

/// The integer key threshold of `decide_bits`: a lane is routed when H >= T, which holds for
/// every lane whose f32 hi exceeds thr (hi <= (H + 1) 2^-32).
fn int_thr(thr: f64) -> u64 {
    let t = thr * 4294967296.0;
    if t.is_nan() || t < 0.0 {
        0
    } else if t >= 4294967296.0 {
        1 << 32
    } else {
        t.floor() as u64
    }
}

/// Largest f32 <= v (v >= 0 or -inf..; used for lo >= 0).
fn f32_down(v: f64) -> f32 {
    let f = v as f32;
    if (f as f64) > v {
        next_f32(f, false)
    } else {
        f
    }
}

/// Smallest f32 >= v.
fn f32_up(v: f64) -> f32 {
    let f = v as f32;
    if (f as f64) < v {
        next_f32(f, true)
    } else {
        f
    }
}

fn next_f32(f: f32, up: bool) -> f32 {
    if f.is_nan() || (f.is_infinite() && (f > 0.0) == up) {
        return f;
    }
    if f == 0.0 {
        let t = f32::from_bits(1);
        return if up { t } else { -t };
    }
    let b = f.to_bits();
    let b = if (f > 0.0) == up { b + 1 } else { b - 1 };
    f32::from_bits(b)
}

impl Squeeze {
    /// Build the tables for target `p` (optionally restricted to the support box `bx`, where
    /// it is zero outside, without renormalization), proposal `q`, constant `m` = M, over
    /// [x0, x1) (within q's support) with `cells` cells. None when the range is unusable.
    #[allow(clippy::too_many_arguments)]
    pub fn build(p: &Lin, q: &Lin, m: f64, bx: Option<(f64, f64)>, x0: f64, x1: f64, cells: usize, sub: usize) -> Option<Squeeze> {
        if !(x0.is_finite() && x1.is_finite() && x0 < x1 && cells >= 1 && cells <= 1 << 20 && m > 0.0 && m.is_finite()) {
            return None;
        }
        let n = cells;
        let range = x1 - x0;
        let w = range / n as f64;
        let inv_w = n as f64 / range;
        if !(w > 0.0 && inv_w.is_finite()) {
            return None;
        }
        // rounding of (x - x0) * inv_w, in x units: a few ulps of |x| and of the range
        let big = x0.abs().max(x1.abs()).max(range);
        let slack = (1e-6 * w).max(16.0 * big * f64::EPSILON);
        if slack > 0.01 * w {
            return None;
        }
        let sub = sub.clamp(1, 64);
        // x maps to cell floor(fma(x, inv_w, nx0iw)) (`cell_ix`): within `slack` of its
        // interval [x0 + c w, x0 + (c + 1) w) (the rounding of nx0iw and of the fma are a few
        // ulps of x0 and of the range); cells 0 and n - 1 can so receive x slightly outside
        // [x0, x1], which is inside q's support unless x0 / x1 is its end (no x beyond it)
        let nx0iw = -(x0 * inv_w);
        // the first pass's cost: each leaf at the points of the cells it reaches, and every
        // leaf's pdf1 at each cell's midpoint (a call, mostly cheap; an exp where it reaches)
        let first_pass = (sub.clamp(1, 64) + 1) as f64 * (p.cells_reached(x0, w, n) + q.cells_reached(x0, w, n))
            + 0.2 * n as f64 * (p.leaves() + q.leaves()) as f64;
        if first_pass > FIRST_PASS_MAX {
            return None;
        }
        let (s0, s1) = q.support();
        // pieces: cell c is cut into `sub` pieces; its outer ends carry the slack
        let mut pts = Vec::with_capacity(n * (sub + 1));
        let step = w / sub as f64;
        for c in 0..n {
            let a = (x0 + (c as f64) * w - slack).max(s0.max(x0 - slack));
            let b = (x0 + (c as f64 + 1.0) * w + slack).min(s1.min(x1 + slack));
            pts.push(a);
            for k in 1..sub {
                pts.push((x0 + (c as f64) * w + k as f64 * step).clamp(a, b));
            }
            pts.push(b);
        }
        let np = n * sub;
        let (mut ql, mut qh) = (vec![0.0; np], vec![0.0; np]);
        q.enclose_grid(&pts, sub, &mut ql, &mut qh);
        let (mut pl, mut ph) = (vec![0.0; np], vec![0.0; np]);
        p.enclose_grid(&pts, sub, &mut pl, &mut ph);
        if let Some((bl, bh)) = bx {
            // zero outside the box (no renormalization): pieces crossing it are redone clipped
            for j in 0..np {
                let g = j + j / sub;
                let (a, b) = (pts[g], pts[g + 1]);
                if !(a >= bl && b <= bh) {
                    let (ca, cb) = (a.max(bl), b.min(bh));
                    pl[j] = 0.0;
                    ph[j] = if ca <= cb { p.enclose(ca, cb).1 } else { 0.0 };
                }
            }
        }
        // a cell's bounds from `fine` equal pieces of its interval (None when unusable)
        let refine = |c: usize, fine: usize| -> Option<(f64, f64)> {
            #[cfg(test)]
            REFINED.with(|r| r.set(r.get() + 1));
            let a = pts[c * (sub + 1)];
            let b = pts[c * (sub + 1) + sub];
            let mut fp: Vec<f64> = (0..=fine).map(|k| a + (b - a) * (k as f64 / fine as f64)).collect();
            fp[fine] = b;
            let (mut fpl, mut fph, mut fql, mut fqh) = (vec![0.0; fine], vec![0.0; fine], vec![0.0; fine], vec![0.0; fine]);
            q.enclose_grid(&fp, fine, &mut fql, &mut fqh);
            p.enclose_grid(&fp, fine, &mut fpl, &mut fph);
            if let Some((bl, bh)) = bx {
                for j in 0..fine {
                    let (a, b) = (fp[j], fp[j + 1]);
                    if !(a >= bl && b <= bh) {
                        let (ca, cb) = (a.max(bl), b.min(bh));
                        fpl[j] = 0.0;
                        fph[j] = if ca <= cb { p.enclose(ca, cb).1 } else { 0.0 };
                    }
                }
            }
            let (l2, h2, ok2) = cell_bounds(m, &fpl, &fph, &fql, &fqh);
            if ok2 {
                Some((l2, h2))
            } else {
                None
            }
        };
        // the cell's ratio bounds: min / max over its pieces (bounding p and q separately
        // on smaller pieces keeps the bounds close to the ratio's own range)
        let bounds: Vec<(f64, f64, bool)> = (0..n)
            .map(|c| {
                let r = c * sub..(c + 1) * sub;
                cell_bounds(m, &pl[r.clone()], &ph[r.clone()], &ql[r.clone()], &qh[r])
            })
            .collect();
        // the largest lo: cells whose hi reaches it may hold the block's largest ratio, and
        // the kernel routes lanes of cells with hi above the largest ratio seen so far
        // through the exact path (for maxLogRatio); near the ratio's flat peak, p and q
        // bounded separately overshoot, so such cells get finer pieces (as do cells whose hi
        // reaches 1: when M is tight they might hold p > M q and would decide nothing)
        // (round by round: each round's largest lo is that of the bounds refined so far)
        let mut bounds = bounds;
        let usable = |b: &(f64, f64, bool)| b.2 && b.1 * (1.0 + SQ_TOL) + ABS_TOL < 1.0;
        // A lower bound of the ratio at each cell's midpoint (the ratio there, to a few ulps):
        // no refinement takes a cell's hi below it, so a cell where it is 1 within the widening
        // can never become usable, and is left as it is. Where the ratio is flat (equal at
        // every midpoint where p > 0: p = q, or p a truncation of q), every lane is a candidate
        // for maxLogRatio whatever the bounds, so no cell is refined for the peak. Where p = M q
        // on an interval every cell there went through all the rounds below: up to 2 s on a
        // job's second call.
        let mid_ratio: Vec<f64> = (0..n)
            .map(|c| {
                let x = 0.5 * (pts[c * (sub + 1)] + pts[c * (sub + 1) + sub]);
                if bx.is_some_and(|(bl, bh)| !(x >= bl && x <= bh)) {
                    return 0.0;
                }
                let r = p.pdf1(x) / (m * q.pdf1(x));
                if r >= 0.0 { r * (1.0 - 1e-12) } else { 0.0 }
            })
            .collect();
        let hopeless = |c: usize| mid_ratio[c] * (1.0 + SQ_TOL) + ABS_TOL >= 1.0;
        let (rmin, rmax) = mid_ratio.iter().filter(|&&r| r > 0.0).fold((f64::INFINITY, 0.0f64), |(a, b), &r| (a.min(r), b.max(r)));
        let flat = rmax <= rmin * (1.0 + SQ_TOL);
        // (4x the pieces a round: most cells that need finer pieces decide at 4x, and 16x a
        // round had made a 50-component mixture's table take 0.3 s where 4x takes 0.15 s)
        // Within REFINE_BUDGET: a round that would exceed it refines the cells with the most
        // proposal mass first, and the rounds stop where the budget runs out.
        // (plus a visit of every leaf per refinement: 300 truncated narrow normals from their own
        // mixture spent ~0.1 s visiting the components a cell does not reach)
        let visit = 4.0 * (p.leaves() + q.leaves()) as f64;
        let cell_cost = |c: usize, fine: usize| {
            let (a, b) = (pts[c * (sub + 1)], pts[c * (sub + 1) + sub]);
            fine as f64 * (p.cost_on(a, b) + q.cost_on(a, b)) + visit
        };
        let q_mass: Vec<f64> = (0..n).map(|c| qh[c * sub..(c + 1) * sub].iter().sum()).collect();
        let mut budget = REFINE_BUDGET;
        let mut fine = sub;
        'rounds: while fine < MAX_FINE {
            fine *= 4;
            let lmax = bounds.iter().filter(|b| usable(b)).fold(0.0f64, |a, b| a.max(b.0));
            // (a cell where p is 0 has nothing to refine)
            let wanted = |c: usize, b: &(f64, f64, bool)| {
                let peak = b.1 >= lmax && b.1 > 0.0 && !flat && fine <= PEAK_FINE;
                b.2 && (peak || (!usable(b) && !hopeless(c)))
            };
            let mut todo: Vec<(usize, f64)> = (0..n).filter(|&c| wanted(c, &bounds[c])).map(|c| (c, cell_cost(c, fine))).collect();
            if todo.iter().map(|t| t.1).sum::<f64>() > budget {
                todo.sort_by(|&(i, _), &(j, _)| q_mass[j].total_cmp(&q_mass[i]).then(i.cmp(&j)));
            }
            for (c, cost) in todo {
                if cost > budget {
                    break 'rounds;
                }
                budget -= cost;
                #[cfg(test)]
                SPENT.with(|r| r.set(r.get() + cost));
                if let Some((l2, h2)) = refine(c, fine) {
                    let b = &mut bounds[c];
                    *b = (b.0.max(l2), b.1.min(h2), true);
                }
            }
        }
        let mut tbl = Vec::with_capacity(n + 1);
        for &(lo, hi, ok) in &bounds {
            let lo = lo * (1.0 - SQ_TOL) - ABS_TOL;
            let hi = hi * (1.0 + SQ_TOL) + ABS_TOL;
            let (lo, hi) = if ok && hi < 1.0 && lo.is_finite() { (lo.max(0.0), hi) } else { (0.0, f64::INFINITY) };
            let (lf, hf) = (f32_down(lo), f32_up(hi));
            tbl.push(lf.to_bits() as u64 | (hf.to_bits() as u64) << 32);
        }
        // x = x1 at the end of q's support (where its density may be defined either way)
        // decides nothing, as before the fma mapping
        if cell_ix(x1, inv_w, nx0iw, n) < n && x1 >= s1 {
            tbl[cell_ix(x1, inv_w, nx0iw, n)] = (f32::INFINITY.to_bits() as u64) << 32;
        }
        // the open cell of x mapped to no cell
        tbl.push((f32::INFINITY.to_bits() as u64) << 32);
        let itbl = tbl.iter().map(|&e| int_bounds(f32::from_bits(e as u32), f32::from_bits((e >> 32) as u32))).collect();
        Some(Squeeze { x0, x1, inv_w, nx0iw, n, tbl, itbl })
    }

    pub fn cells(&self) -> usize {
        self.n
    }

    pub fn range(&self) -> (f64, f64) {
        (self.x0, self.x1)
    }

    /// The cell of x (None when `decide` maps it to no cell), as `decide` computes it.
    pub fn cell_of(&self, x: f64) -> Option<usize> {
        let c = cell_ix(x, self.inv_w, self.nx0iw, self.n);
        if c < self.n {
            Some(c)
        } else {
            None
        }
    }

    /// (lo, hi) of cell c as the kernel sees them.
    pub fn bounds(&self, c: usize) -> (f64, f64) {
        let e = self.tbl[c];
        (f32::from_bits(e as u32) as f64, f32::from_bits((e >> 32) as u32) as f64)
    }

    /// Fraction of cells that decide nothing (lo = 0, hi = inf).
    pub fn open_cells(&self) -> usize {
        (0..self.n).filter(|&c| self.bounds(c).1 == f64::INFINITY).count()
    }

    /// One pass over a chunk: `flags[i]` = 1 accept, 0 reject, 2 undecided; the indices of
    /// the lanes to route through the exact path (undecided, or decided with hi > `thr`) are
    /// appended to `idx` in increasing order. Returns the largest lo over decided lanes (0 if
    /// none). (The reference form of the test: the kernel runs `decide_gen`.)
    pub fn decide(&self, level: Simd, xs: &[f64], u: &[f64], flags: &mut [u8], thr: f64, idx: &mut Vec<u32>) -> f64 {
        let n = xs.len().min(u.len()).min(flags.len());
        let (xs, u, flags) = (&xs[..n], &u[..n], &mut flags[..n]);
        idx.clear();
        idx.reserve(n + 16);
        #[cfg(target_arch = "x86_64")]
        {
            if level == Simd::Avx512 && crate::rng::simd() == Simd::Avx512 {
                // SAFETY: the CPU has the features (checked above); lengths are equal (n) and
                // idx has room for n more entries (+16 for the full-vector compress store)
                return unsafe { self.decide_avx512(xs, u, flags, thr, idx) };
            }
        }
        let (inv_w, nx0iw, n, tbl) = (self.inv_w, self.nx0iw, self.n, &self.tbl[..]);
        crate::simd_dispatch!(level, fn(xs: &[f64], u: &[f64], flags: &mut [u8], thr: f64, idx: &mut Vec<u32>, inv_w: f64, nx0iw: f64, n: usize, tbl: &[u64]) -> f64 {
            let mut lmax = 0.0f64;
            for i in 0..xs.len() {
                let (l, f, k) = lane(xs[i], u[i], inv_w, nx0iw, n, tbl);
                flags[i] = f;
                if k > thr {
                    idx.push(i as u32);
                }
                lmax = if l > lmax { l } else { lmax };
            }
            lmax
        })
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,popcnt")]
    unsafe fn decide_avx512(&self, xs: &[f64], u: &[f64], flags: &mut [u8], thr: f64, idx: &mut Vec<u32>) -> f64 {
        use std::arch::x86_64::*;
        let n = xs.len();
        let iw = _mm512_set1_pd(self.inv_w);
        let nx0 = _mm512_set1_pd(self.nx0iw);
        let th = _mm512_set1_pd(thr);
        let nv = _mm256_set1_epi32(self.n as i32);
        let ones = _mm_set1_epi8(1);
        let twos = _mm_set1_epi8(2);
        let tbl = self.tbl.as_ptr() as *const i64;
        let mut lane_ix = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let eight = _mm256_set1_epi32(8);
        let base = idx.len();
        let ip = idx.as_mut_ptr().add(base);
        let mut k = 0usize;
        let mut lmax = _mm512_setzero_pd();
        let mut i = 0;
        while i + 8 <= n {
            let x = _mm512_loadu_pd(xs.as_ptr().add(i));
            let uv = _mm512_loadu_pd(u.as_ptr().add(i));
            let c = _mm256_min_epu32(_mm512_cvt_roundpd_epu32::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(_mm512_fmadd_pd(x, iw, nx0)), nv);
            let e = _mm512_i32gather_epi64::<8>(c, tbl);
            let lo = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_cvtepi64_epi32(e)));
            let hi = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_cvtepi64_epi32(_mm512_srli_epi64::<32>(e))));
            let am = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(uv, lo);
            let dec = am | _mm512_cmp_pd_mask::<_CMP_GE_OQ>(uv, hi);
            let um = !dec;
            let fl = _mm_or_si128(_mm_maskz_mov_epi8(am as u16, ones), _mm_maskz_mov_epi8(um as u16, twos));
            _mm_storel_epi64(flags.as_mut_ptr().add(i) as *mut __m128i, fl);
            let rm = um | _mm512_cmp_pd_mask::<_CMP_GT_OQ>(hi, th);
            if rm != 0 {
                // compress in a register, store all 8 (idx has room): faster than a masked store
                _mm256_storeu_si256(ip.add(k) as *mut __m256i, _mm256_maskz_compress_epi32(rm, lane_ix));
                k += rm.count_ones() as usize;
            }
            lmax = _mm512_mask_max_pd(lmax, dec, lmax, lo);
            lane_ix = _mm256_add_epi32(lane_ix, eight);
            i += 8;
        }
        idx.set_len(base + k);
        let mut l = _mm512_reduce_max_pd(lmax);
        let (inv_w, nx0iw, nn) = (self.inv_w, self.nx0iw, self.n);
        while i < n {
            let (lo, f, key) = lane(xs[i], u[i], inv_w, nx0iw, nn, &self.tbl);
            flags[i] = f;
            if key > thr {
                idx.push(i as u32);
            }
            l = if lo > l { lo } else { l };
            i += 1;
        }
        l
    }

    /// `decide` on the raw u64s of the uniforms (u = u64_to_open01(x)), with integer
    /// thresholds on t = x >> 32 (accept when t < L, reject when t > H: every lane decided
    /// here is decided the same way by `decide`; the rare lanes at a threshold, about 2^-31 of
    /// them, are left undecided, which only routes them through the exact path), as bit masks:
    /// bit i (byte i / 8, bit i % 8) of `keep` is set when lane i is decided and not routed,
    /// and then bit i of `acc` says accept (`acc` is meaningless for the other lanes). Routed
    /// (keep clear): the undecided lanes plus the decided ones with H >= floor(thr 2^32) (a
    /// superset of those with hi > thr). `acc` and `keep` need ceil(n / 8) bytes (bits from n
    /// on, in the last byte, are left clear). Returns the largest L 2^-32 over the lanes mapped
    /// to a cell, decided or not (0 if none): at most the lo of that lane's cell, hence at
    /// most its true ratio, so the routing argument of `kernel.rs` (thr = that value) holds.
    pub fn decide_bits(&self, level: Simd, xs: &[f64], ub: &[u64], acc: &mut [u8], keep: &mut [u8], thr: f64) -> f64 {
        let n = xs.len().min(ub.len()).min(acc.len() * 8).min(keep.len() * 8);
        let (xs, ub) = (&xs[..n], &ub[..n]);
        let nb = n.div_ceil(8);
        let (acc, keep) = (&mut acc[..nb], &mut keep[..nb]);
        let tt = int_thr(thr);
        #[cfg(target_arch = "x86_64")]
        {
            if level == Simd::Avx512 && crate::rng::simd() == Simd::Avx512 {
                let bulk = n / 8 * 8;
                // SAFETY: the CPU has the features (checked above); xs, ub hold `bulk` lanes
                // (a multiple of 8), acc and keep bulk / 8 bytes (ub is only read: no generator)
                let l = unsafe { self.decide_bits_avx512(&xs[..bulk], ub.as_ptr() as *mut u64, None, acc.as_mut_ptr(), keep.as_mut_ptr(), tt) };
                let l2 = self.bits_lanes(xs, ub, bulk, acc, keep, tt);
                return (if l2 > l { l2 } else { l }) as f64 * (1.0 / 4294967296.0);
            }
        }
        let (inv_w, nx0iw, nn, tbl) = (self.inv_w, self.nx0iw, self.n, &self.itbl[..]);
        crate::simd_dispatch!(level, fn(xs: &[f64], ub: &[u64], acc: &mut [u8], keep: &mut [u8], tt: u64, inv_w: f64, nx0iw: f64, nn: usize, tbl: &[u64]) -> f64 {
            let mut lmax = 0u64;
            for (g, (xc, uc)) in xs.chunks(8).zip(ub.chunks(8)).enumerate() {
                let (mut a, mut k) = (0u8, 0u8);
                for j in 0..xc.len() {
                    let (l, ab, kb) = lane_bits(xc[j], uc[j], inv_w, nx0iw, nn, tbl, tt);
                    a |= (ab as u8) << j;
                    k |= (kb as u8) << j;
                    lmax = if l > lmax { l } else { lmax };
                }
                acc[g] = a;
                keep[g] = k;
            }
            lmax as f64 * (1.0 / 4294967296.0)
        })
    }

    /// Scalar lanes `from..xs.len()` of `decide_bits` (bits written one by one); returns the
    /// largest L.
    fn bits_lanes(&self, xs: &[f64], ub: &[u64], from: usize, acc: &mut [u8], keep: &mut [u8], tt: u64) -> u64 {
        let mut l = 0u64;
        for i in from..xs.len() {
            let (lo, a, k) = lane_bits(xs[i], ub[i], self.inv_w, self.nx0iw, self.n, &self.itbl, tt);
            let (b, s) = (i / 8, i % 8);
            if s == 0 {
                // (so the bits past the last lane stay clear)
                acc[b] = 0;
                keep[b] = 0;
            }
            acc[b] = (acc[b] & !(1 << s)) | (a as u8) << s;
            keep[b] = (keep[b] & !(1 << s)) | (k as u8) << s;
            l = if lo > l { lo } else { l };
        }
        l
    }

    /// `decide_bits` with the uniforms' u64s drawn from `rng` into `ub` (`ub[..n]` = the
    /// stream's next n outputs, exactly as `rng.fill_u64` gives them). On AVX-512 the
    /// generator steps inside the decision loop (its dependency chain then overlaps the table
    /// gathers instead of running alone); the result is the same on every path.
    #[allow(clippy::too_many_arguments)]
    pub fn decide_gen(&self, level: Simd, xs: &[f64], rng: &mut Stream, ub: &mut [u64], acc: &mut [u8], keep: &mut [u8], thr: f64) -> f64 {
        let n = xs.len().min(ub.len()).min(acc.len() * 8).min(keep.len() * 8);
        let (xs, ub) = (&xs[..n], &mut ub[..n]);
        #[cfg(target_arch = "x86_64")]
        {
            if level == Simd::Avx512 && crate::rng::simd() == Simd::Avx512 {
                let head = rng.take_buffered(ub);
                if head % 8 == 0 {
                    let bulk = (n - head) / 8 * 8;
                    let tt = int_thr(thr);
                    let mut l = self.bits_lanes(&xs[..head], ub, 0, acc, keep, tt);
                    if bulk > 0 {
                        let (r, b) = (head..head + bulk, head / 8..(head + bulk) / 8);
                        // SAFETY: the CPU has the features (checked above); xs and ub hold
                        // `bulk` lanes from head (a multiple of 8), acc and keep bulk / 8 bytes
                        // from head / 8
                        let lv = unsafe { self.decide_bits_avx512(&xs[r.clone()], ub[r].as_mut_ptr(), Some(rng.state_mut()), acc[b.clone()].as_mut_ptr(), keep[b].as_mut_ptr(), tt) };
                        l = if lv > l { lv } else { l };
                    }
                    let rest = head + bulk;
                    if rest < n {
                        rng.fill_u64_short(&mut ub[rest..]);
                        let lr = self.bits_lanes(xs, ub, rest, acc, keep, tt);
                        l = if lr > l { lr } else { l };
                    }
                    return l as f64 * (1.0 / 4294967296.0);
                }
                // (a stream left mid-step by odd requests: draw first, then decide)
                rng.fill_u64(&mut ub[head..]);
                return self.decide_bits(level, xs, ub, acc, keep, thr);
            }
        }
        rng.fill_u64(ub);
        self.decide_bits(level, xs, ub, acc, keep, thr)
    }

    /// The AVX-512 loop of `decide_bits` (xs.len() a multiple of 8, `ub` points to xs.len()
    /// u64s, `acc` and `keep` to xs.len() / 8 bytes); with `gen`, the u64s are generated here
    /// (8 xoshiro lanes stepped per group, written to `ub`), otherwise read from `ub`. Out of
    /// range, NaN and infinite x map to the open cell n (no separate range test). Returns the
    /// largest L.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,popcnt")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn decide_bits_avx512(&self, xs: &[f64], ub: *mut u64, gen: Option<&mut State>, acc: *mut u8, keep: *mut u8, tt: u64) -> u64 {
        use std::arch::x86_64::*;
        let n = xs.len();
        let st = gen.map(|s| s as *mut State);
        let mut regs = match st {
            Some(p) => crate::rng::avx512::load(&*p),
            None => [_mm512_setzero_si512(); 4],
        };
        let iw = _mm512_set1_pd(self.inv_w);
        let nx0 = _mm512_set1_pd(self.nx0iw);
        // e = L | H << 32 < tt << 32 iff H < tt (tt <= 2^32; L < 2^32 - 1)
        let th = _mm512_set1_epi64(if tt >= 1 << 32 { -1 } else { (tt << 32) as i64 });
        let lo_ones = _mm512_set1_epi64(0xFFFF_FFFF);
        let nv = _mm256_set1_epi32(self.n as i32);
        let tbl = self.itbl.as_ptr() as *const i64;
        let mut lmax = _mm512_setzero_si512();
        let gen = st.is_some();
        let mut i = 0;
        while i + 8 <= n {
            let x = _mm512_loadu_pd(xs.as_ptr().add(i));
            let raw = if gen {
                let r = crate::rng::avx512::next(&mut regs);
                _mm512_storeu_si512(ub.add(i) as *mut _, r);
                r
            } else {
                _mm512_loadu_si512(ub.add(i) as *const _)
            };
            // cell floor(fma(x, 1/w, -x0/w)); negative, NaN or >= 2^32 give 2^32 - 1 (unsigned
            // conversion out of range), clamped with the rest to the open cell n
            let c = _mm256_min_epu32(_mm512_cvt_roundpd_epu32::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(_mm512_fmadd_pd(x, iw, nx0)), nv);
            let e = _mm512_i32gather_epi64::<8>(c, tbl);
            // raw < L << 32 iff t < L; raw > H << 32 | (2^32 - 1) iff t > H
            let lsh = _mm512_slli_epi64::<32>(e);
            let hf = _mm512_or_si512(e, lo_ones);
            let nr = _mm512_cmplt_epu64_mask(e, th);
            let am = _mm512_mask_cmplt_epu64_mask(nr, raw, lsh);
            let km = am | _mm512_mask_cmpgt_epu64_mask(nr, raw, hf);
            *acc.add(i / 8) = am;
            *keep.add(i / 8) = km;
            lmax = _mm512_max_epu64(lmax, lsh);
            i += 8;
        }
        if let Some(p) = st {
            crate::rng::avx512::store(&mut *p, &regs);
        }
        _mm512_reduce_max_epu64(lmax) >> 32
    }
}

/// The cell of x: floor(fma(x, 1/w, -x0/w)) when that is in [0, n), else n (the open cell;
/// NaN included). The AVX-512 loops compute the same (a rounding-down unsigned conversion
/// gives 2^32 - 1 for negative or huge values).
#[inline(always)]
fn cell_ix(x: f64, inv_w: f64, nx0iw: f64, n: usize) -> usize {
    let f = x.mul_add(inv_w, nx0iw).floor();
    if f >= 0.0 && f < n as f64 {
        f as usize
    } else {
        n
    }
}

/// Unwidened bounds of p / (M q) over pieces with enclosures [pl, ph] of p and [ql, qh] of q,
/// and whether they are usable (q in [TINY, HUGE], p bounded).
fn cell_bounds(m: f64, pl: &[f64], ph: &[f64], ql: &[f64], qh: &[f64]) -> (f64, f64, bool) {
    let mut lo = f64::INFINITY;
    let mut hi = 0.0f64;
    let mut ok = true;
    for j in 0..pl.len() {
        let (qlo, qhi) = (ql[j], qh[j]);
        let plo = if pl[j] >= 0.0 { pl[j] } else { 0.0 };
        let phi = if ph[j] >= 0.0 { ph[j] } else { f64::INFINITY };
        ok &= qlo >= TINY && qhi <= HUGE && qlo <= qhi && phi.is_finite();
        lo = lo.min(plo / (m * qhi));
        hi = hi.max(phi / (m * qlo));
    }
    (lo, hi, ok)
}

/// Scalar lane of `decide_bits`: (L, accept, keep).
#[inline(always)]
fn lane_bits(x: f64, ub: u64, inv_w: f64, nx0iw: f64, n: usize, tbl: &[u64], tt: u64) -> (u64, bool, bool) {
    let c = cell_ix(x, inv_w, nx0iw, n);
    let e = tbl[c.min(tbl.len() - 1)];
    let (lo, hi) = (e & 0xFFFF_FFFF, e >> 32);
    let t = ub >> 32;
    let nr = hi < tt;
    let a = nr & (t < lo);
    (lo, a, a | (nr & (t > hi)))
}

/// Scalar lane: (lo if decided else 0, flag, key).
#[inline(always)]
fn lane(x: f64, u: f64, inv_w: f64, nx0iw: f64, n: usize, tbl: &[u64]) -> (f64, u8, f64) {
    let c = cell_ix(x, inv_w, nx0iw, n);
    let e = tbl[c.min(tbl.len() - 1)];
    let lo = f32::from_bits(e as u32) as f64;
    let hi = f32::from_bits((e >> 32) as u32) as f64;
    let acc = u < lo;
    let dec = acc | (u >= hi);
    (if dec { lo } else { 0.0 }, if dec { acc as u8 } else { 2 }, if dec { hi } else { f64::INFINITY })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    #[test]
    fn f32_rounding_is_outward() {
        let mut r = Stream::new(1, 2, 0);
        for _ in 0..100_000 {
            let v = r.next_f64() * 10f64.powi((r.next_f64() * 80.0) as i32 - 60);
            assert!((f32_down(v) as f64) <= v && (f32_up(v) as f64) >= v, "{v}");
        }
        assert_eq!(f32_down(0.0), 0.0);
        assert!(f32_up(1e-300) > 0.0);
        assert_eq!(f32_up(f64::INFINITY), f32::INFINITY);
        assert_eq!(f32_up(1e300), f32::INFINITY);
        assert_eq!(f32_down(1e300), f32::MAX);
    }

    /// Where p = M q on an interval, the cells there cannot become usable, and are not refined
    /// (three rounds of 16x the pieces each had taken 0.3-2 s); where the ratio is flat below 1,
    /// no cell is refined for the peak; elsewhere refinement still runs.
    #[test]
    fn ratio_plateaus_are_not_refined() {
        let refined = |p: &[f64], q: &[f64], m: f64, x0: f64, x1: f64| -> (usize, usize) {
            let (p, q) = (Lin::from_program(p).unwrap(), Lin::from_program(q).unwrap());
            REFINED.with(|r| r.set(0));
            let sq = Squeeze::build(&p, &q, m, None, x0, x1, 4096, DEFAULT_SUB).unwrap();
            (REFINED.with(|r| r.get()), sq.open_cells())
        };
        // p = q, M = 1: every cell open, none refined
        assert_eq!(refined(&[2.0, 0.0, 1.0], &[2.0, 0.0, 1.0], 1.0, -5.0, 5.0), (0, 4096));
        // p = q, M = 10: every cell decides, and none is refined for the peak (a flat ratio's
        // peak is everywhere: each cell was redone with 64 pieces)
        assert_eq!(refined(&[2.0, 0.0, 1.0], &[2.0, 0.0, 1.0], 10.0, -5.0, 5.0), (0, 0));
        // a mixture from itself with M = 1.001: the enclosures of the sums overshoot 1, so cells
        // are refined until they decide, once each
        let mix = [21.0, 3.0, 0.2, 0.3, 0.5, 2.0, -2.0, 1.0, 2.0, 0.0, 0.5, 2.0, 3.0, 2.0];
        let (n_refined, open) = refined(&mix, &mix, 1.001, -9.0, 11.0);
        assert!(n_refined <= 4096 && open == 0, "{n_refined} refinements, {open} open cells");
        // p = normal(0, 1) on [-1, 1] from normal(0, 1) with M = 1 / mass: the cells inside
        // are open and not refined, those outside decide (p = 0); at most the two cells at the
        // ends are refined, once a round (six rounds)
        let m = 1.0 / 0.682_689_492_137_085_9;
        let (n_refined, open) = refined(&[20.0, -1.0, 1.0, 2.0, 0.0, 1.0], &[2.0, 0.0, 1.0], m, -5.0, 5.0);
        assert!(n_refined <= 2 * 6, "{n_refined} refinements");
        assert!((819..=823).contains(&open), "{open} open cells");
        // beta(2, 5) from uniform with M its exact sup: the cells around the peak are refined
        // (the peak's own cell stays open)
        let (n_refined, open) = refined(&[6.0, 2.0, 5.0], &[1.0, 0.0, 1.0], 2.4576, 0.0, 1.0);
        assert!(n_refined > 0 && open <= 2, "{n_refined} refinements, {open} open cells");
    }

    /// No tables where their first pass alone would cost more than FIRST_PASS_MAX: 2048 narrow
    /// Laplace components from their own mixture (every leaf at every point); 2048 narrow
    /// normals from a wide normal reach a few cells each and get them.
    #[test]
    fn first_pass_has_a_cap() {
        let mix = |tag: f64| {
            let mut v = vec![21.0, 2048.0];
            v.extend(std::iter::repeat(1.0).take(2048));
            for i in 0..2048 {
                v.extend([tag, -10.0 + 20.0 * i as f64 / 2047.0, 0.001]);
            }
            Lin::from_program(&v).unwrap()
        };
        let laplace = mix(9.0);
        assert!(Squeeze::build(&laplace, &laplace, 1.01, None, -12.0, 12.0, 4096, DEFAULT_SUB).is_none());
        let normals = mix(2.0);
        let q = Lin::from_program(&[2.0, 0.0, 3.0]).unwrap();
        assert!(Squeeze::build(&normals, &q, 400.0, None, -15.0, 15.0, 4096, DEFAULT_SUB).is_some());
    }

    /// Refinement stops at its budget, spending it on the cells with the most proposal mass
    /// first: 50 narrow normals sampled from their own mixture (every cell's separate
    /// enclosures of p and q overshoot 1 until ~16384 pieces) spent 3.4e8 leaf evaluations,
    /// 3.6 s. With M = 1.01 it binds too, and the tables stay sound (checked against the ratio
    /// itself) and decide where the budget reached.
    #[test]
    fn refinement_stops_at_its_budget() {
        let mut mix = vec![21.0, 50.0];
        mix.extend(std::iter::repeat(1.0).take(50));
        for i in 0..50 {
            mix.extend([2.0, -10.0 + 20.0 * i as f64 / 49.0, 0.01]);
        }
        let p = Lin::from_program(&mix).unwrap();
        let spent = |q: &Lin, m: f64| {
            SPENT.with(|r| r.set(0.0));
            let sq = Squeeze::build(&p, q, m, None, -12.0, 12.0, 4096, DEFAULT_SUB).unwrap();
            (sq, SPENT.with(|r| r.get()))
        };
        let (_, s) = spent(&p, 1.0001);
        assert!(s > 0.5 * REFINE_BUDGET && s <= REFINE_BUDGET, "spent {s}");
        // with M = 1.01 (p / M q = 0.99) the cells near the components' peaks decide after a few
        // rounds, and the budget runs out in the round that would tighten their tails
        let q = Lin::from_program(&mix).unwrap();
        let m = 1.01;
        let (sq, s) = spent(&q, m);
        assert!(s > 0.5 * REFINE_BUDGET && s <= REFINE_BUDGET, "spent {s}");
        let mut r = Stream::new(5, 6, 0);
        let mut decided = 0;
        for _ in 0..50_000 {
            // points near the components, where cells are refined first
            let k = (r.next_f64() * 50.0) as usize;
            let x = -10.0 + 20.0 * k as f64 / 49.0 + 0.1 * (r.next_f64() - 0.5);
            let Some(c) = sq.cell_of(x) else { continue };
            let (lo, hi) = sq.bounds(c);
            let ratio = p.pdf1(x) / (m * q.pdf1(x));
            if hi < f64::INFINITY {
                decided += 1;
                assert!(lo <= ratio && ratio <= hi, "x {x}: {ratio} outside [{lo}, {hi}]");
            }
        }
        assert!(decided > 2_500, "{decided} points in deciding cells");
    }

    /// Dense random points of random intervals lie inside the enclosure, for every family,
    /// truncations and mixtures.
    #[test]
    fn enclosures_are_sound() {
        let inf = f64::INFINITY;
        let progs: Vec<Vec<f64>> = vec![
            vec![1.0, -2.0, 3.0],
            vec![6.0, 2.0, 5.0],
            vec![6.0, 1.0, 1.0],
            vec![6.0, 1.0, 4.0],
            vec![6.0, 3.0, 1.0],
            vec![6.0, 9.0, 3.0],
            vec![2.0, 1.5, 0.3],
            vec![2.0, -2.0, 0.5],
            vec![4.0, 2.5],
            vec![5.0, 3.0, 2.0],
            vec![5.0, 1.0, 0.5],
            vec![5.0, 9.0, 0.7],
            vec![8.0, 0.5, 2.0],
            vec![9.0, -1.0, 0.7],
            vec![10.0, 2.0, 1.3],
            vec![20.0, -1.0, 2.0, 2.0, 0.0, 1.0],
            vec![20.0, 2.0, inf, 2.0, 0.0, 1.0],
            vec![20.0, 2.0, inf, 4.0, 2.414],
            vec![20.0, 0.1, 0.4, 6.0, 2.0, 5.0],
            vec![21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0],
            vec![21.0, 3.0, 0.2, 0.0, 0.8, 2.0, -2.0, 1.0, 9.0, 1.0, 2.0, 9.0, 0.0, 1.0],
            vec![20.0, 0.0, 3.0, 21.0, 2.0, 0.5, 0.5, 2.0, -2.0, 1.0, 4.0, 1.0],
            vec![21.0, 2.0, 0.5, 0.5, 20.0, 0.0, 1.0, 1.0, 0.0, 1.0, 6.0, 1.0, 1.0],
        ];
        let mut r = Stream::new(3, 4, 0);
        for prog in &progs {
            let l = Lin::from_program(prog).unwrap();
            let mut checked = 0;
            for trial in 0..4000 {
                // random interval: centre in [-6, 8], width from 1e-6 to 10
                let c = r.next_f64() * 14.0 - 6.0;
                let wdt = 10f64.powf(r.next_f64() * 7.0 - 6.0);
                let (a, b) = if trial % 10 == 0 { (c, c) } else { (c - wdt * r.next_f64(), c + wdt * r.next_f64()) };
                let (lo, hi) = l.enclose(a, b);
                assert!(lo >= 0.0 && lo <= hi * (1.0 + 1e-12), "{prog:?} [{a}, {b}]: {lo} {hi}");
                let mut xs: Vec<f64> = (0..64).map(|_| a + (b - a) * r.next_f64()).collect();
                xs.push(a);
                xs.push(b);
                let mut v = vec![0.0; xs.len()];
                l.pdf(crate::rng::Simd::Scalar, &xs, &mut v);
                for (&x, &pv) in xs.iter().zip(&v) {
                    if !(x >= a && x <= b) {
                        continue;
                    }
                    let p1 = l.pdf1(x);
                    for f in [p1, pv.max(0.0)] {
                        // exp_clamped (pdf) is not exp below e^-700: compare where it is
                        if f < 1e-290 && f > 0.0 {
                            continue;
                        }
                        assert!(f >= lo * (1.0 - 1e-12) && f <= hi * (1.0 + 1e-12), "{prog:?} x={x} in [{a}, {b}]: {f} not in [{lo}, {hi}]");
                    }
                    checked += 1;
                }
            }
            assert!(checked > 100_000);
            // the batched form gives the same enclosures as `enclose` piece by piece
            for sub in [1usize, 3, 16] {
                let cells = 200;
                let mut pts = Vec::new();
                for c in 0..cells {
                    let a = -6.0 + 14.0 * c as f64 / cells as f64 + 1e-7 * r.next_f64();
                    let b = a + 0.07 * (0.1 + r.next_f64());
                    for k in 0..=sub {
                        pts.push(if k == sub { b } else { a + (b - a) * k as f64 / sub as f64 });
                    }
                }
                let (mut lo, mut hi) = (vec![0.0; cells * sub], vec![0.0; cells * sub]);
                l.enclose_grid(&pts, sub, &mut lo, &mut hi);
                for j in 0..cells * sub {
                    let g = j + j / sub;
                    let (el, eh) = l.enclose(pts[g], pts[g + 1]);
                    let close = |x: f64, y: f64| (x - y).abs() <= 1e-13 * x.abs().max(y.abs()) || (x < 1e-290 && y < 1e-290);
                    assert!(close(lo[j], el) && close(hi[j], eh), "{prog:?} piece {j}: ({}, {}) vs ({el}, {eh})", lo[j], hi[j]);
                }
            }
        }
    }
}
