//! Jobs and the block kernel (PROTOCOL.md §4).
//!
//! `sample_block` = proposals from stream `(seed, block, 0)`, their proposal log density, the
//! target log density (distribution program or expression; the support box applied to every
//! target), acceptance uniforms from `(seed, block, 1)`, the test `ln u < logp - logM - logq`
//! and branch-free compaction of accepted rows to the front of `out`.
//!
//! The proposals of the whole block are drawn in one `Dist::sample` call (straight into `out`),
//! so the result never depends on how a sampler groups its uniforms; the rest runs in chunks of
//! `CHUNK` rows whose scratch buffers (thread-local, reused) stay in L1/L2. Every per-row
//! decision is a pure function of the row, and the statistics are integer counts and a max, so
//! the result does not depend on the chunk size. `propose_block` + `accept_block` run exactly
//! the same code on the same numbers, so they are bit-identical to `sample_block`.
//!
//! The accept test settles `ln u < t` with a cheap approximate ln (error < 1.1e-5, margin 1e-4)
//! and computes the full `fastmath::ln` only for the few groups of 8 rows where it is too close
//! to call, so the decisions are exactly those of the full ln. Compaction of 1-column rows uses
//! AVX-512 `vcompresspd` when available. Every wide path gives the same bits as the scalar one.
//!
//! When target and proposal are both 1-D programs that are cheap in linear space
//! (`density::Lin`: uniform, integer-shape beta/gamma, normal, exponential, Cauchy, Laplace,
//! logistic, truncations and mixtures of these) and a rough cost model says it pays,
//! `sample_block` decides `u M q(x) < p(x)` with no logarithm at all (`sample_block_fast`);
//! lanes it cannot settle with certainty go through the exact log-space test, so the rows and
//! statistics are those of the log-space kernel (tests compare the two). `RSFT_LINEAR=0`
//! disables the fast path. `propose_block` + `accept_block` stay in log space.
//!
//! On top of it, a squeeze (`squeeze.rs`): per-cell bounds lo <= p / (M q) <= hi over the
//! proposal's bulk (4096 cells, from rigorous interval enclosures, widened by 1e-9) settle
//! `u < lo` (accept) and `u >= hi` (reject) with one table gather and no density at all; the
//! rest (about 0.3% of T2's proposals), and the decided lanes that could raise maxLogRatio,
//! go through the linear path above, so rows and statistics stay bit-identical to the
//! log-space kernel. The tables are built (about 1 ms) when a job's second block is decoded,
//! or its first when that block alone is expected to draw a million proposals
//! (`SQUEEZE_AT_ONCE`), and cached with the fast path; the cost model uses them only where they
//! beat the plain linear path (T1-T3 of bench/tasks.js). `RSFT_SQUEEZE=0`
//! disables them (A/B benchmarks).
//!
//! N-API callers should use the `try_*` functions (they return `Err` for an external target in
//! `sample_block` and for inconsistent lengths); the infallible stub-API wrappers return
//! `ERROR_STATS` (all NaN) / do nothing instead.

use crate::density::{Lin, CONST_RANGE, HUGE, TINY};
use crate::dist::Dist;
use crate::expr::Expr;
use crate::fastmath;
use crate::rng::{simd, Simd, Stream};
use crate::squeeze::{self, Squeeze};
use std::cell::RefCell;
use std::rc::Rc;

/// [accepted, proposals, violations, maxLogRatio, nonFinite]
pub type BlockStats = [f64; 5];

pub const JOB_VERSION: f64 = 1.0;
/// Rows per chunk of the accept/compact stage.
pub const CHUNK: usize = 4096;
const MAX_DIM: usize = 1 << 20;

pub enum Target {
    Dist(Dist),
    Expr(Expr),
    External,
}

pub struct Job {
    d: usize,
    log_m: f64,
    target: Target,
    proposal: Dist,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// false when every bound is infinite (the box test is skipped).
    has_box: bool,
    /// Linear-space densities of target and proposal when both are cheap (d = 1 only).
    fast: Option<Fast>,
}

/// The linear-density fast path of a job: `u M q(x) < p(x)` decides without logarithms.
#[derive(Clone)]
struct Fast {
    p: Lin,
    q: Lin,
    m: f64,
    /// false when the box contains the target's support (the box test changes nothing)
    need_box: bool,
    /// Squeeze tables (`squeeze.rs`), shared by the cached copies.
    sq: Option<std::sync::Arc<Squeeze>>,
}

/// `RSFT_LINEAR=0` in the environment disables the fast path (read once; for A/B benchmarks).
fn linear_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("RSFT_LINEAR").map(|v| v != "0").unwrap_or(true))
}

/// `RSFT_SQUEEZE=0` disables the squeeze tables (read once; for A/B benchmarks);
/// `RSFT_SQUEEZE_CELLS=n` (a power of two) overrides the number of cells (measurements).
fn squeeze_cells() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        if std::env::var("RSFT_SQUEEZE").map(|v| v == "0").unwrap_or(false) {
            return 0;
        }
        std::env::var("RSFT_SQUEEZE_CELLS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| n.is_power_of_two() && *n <= 1 << 20)
            .unwrap_or(squeeze::DEFAULT_CELLS)
    })
}

/// Jobs whose fast path a thread keeps (most recent first): a caller alternating between a few
/// targets does not rebuild squeeze tables on every call.
const FAST_CACHE_JOBS: usize = 4;

thread_local! {
    /// The last jobs' fast paths, keyed by the bits of (logM, target program, proposal
    /// program): N-API calls decode the job for every block, and the validation costs tens of
    /// us. The flag says whether an entry is complete: the squeeze tables (1-2 ms to build)
    /// are left out the first time a job is seen and built when it comes back (its second
    /// block), so one-block jobs never pay for them; unless that first block alone is expected
    /// to draw SQUEEZE_AT_ONCE proposals.
    #[allow(clippy::type_complexity)]
    static FAST_CACHE: RefCell<Vec<(Vec<u64>, Option<Fast>, bool)>> = const { RefCell::new(Vec::new()) };
}

/// The linear path's work (proposals times its densities' cost, `Lin::lin_cost`, in exps) a job's
/// first call must be expected to do for its squeeze tables to be built at once rather than on
/// its next call. Building them costs about as much as ~1e6 such units (1-2 ms for T2, 45 ms
/// for a 50-component mixture) and cuts the cost per proposal 1.5-15x: a 50-component narrow
/// mixture's first block of 32768 rows (M = 48, ~1e8 units) took 113 ms without them and 7 ms
/// with them, and 4096 narrow components (M = 15, ~2.5e9) 4.3 s against 0.4 s. T1-T3 blocks
/// do ~2e4-3e5 and wait for their second block.
const SQUEEZE_AT_ONCE: f64 = 3e6;

/// What the call that decodes a job will draw: `rows` accepted rows within `max_proposals`
/// proposals (both 0 where unknown); the proposals expected are rows x M, capped by the budget.
#[derive(Clone, Copy, Debug, Default)]
pub struct Work {
    pub rows: f64,
    pub max_proposals: f64,
}

impl Work {
    fn expected_proposals(&self, log_m: f64) -> f64 {
        (self.rows * log_m.exp()).min(self.max_proposals)
    }
}

/// Build the fast path when d = 1, the target is a program and both densities are cheap in
/// linear space (and agree with `Dist::logpdf` on a validation sample). The flag says whether
/// the result is final: false when the squeeze tables were left for the job's next call.
#[allow(clippy::too_many_arguments)]
fn build_fast(
    d: usize,
    log_m: f64,
    target: &Target,
    tprog: &[f64],
    proposal: &Dist,
    pprog: &[f64],
    force: bool,
    bx: (f64, f64),
    work: Work,
) -> (Option<Fast>, bool) {
    if d != 1 || !matches!(target, Target::Dist(_)) || !linear_enabled() {
        return (None, true);
    }
    let mut key = Vec::with_capacity(tprog.len() + pprog.len() + 2);
    key.push(log_m.to_bits());
    key.push(force as u64);
    key.push(bx.0.to_bits());
    key.push(bx.1.to_bits());
    key.push(tprog.len() as u64);
    key.extend(tprog.iter().chain(pprog).map(|v| v.to_bits()));
    // None: not cached; Some(None): cached without the squeeze; Some(Some(f)): complete
    let hit = FAST_CACHE.with(|c| match c.try_borrow_mut() {
        Ok(mut g) => {
            let i = g.iter().position(|(k, _, _)| *k == key)?;
            let e = g.remove(i);
            let r = if e.2 { Some(e.1.clone()) } else { None };
            g.insert(0, e);
            Some(r)
        }
        Err(_) => None,
    });
    let (full, eager) = match hit {
        Some(Some(f)) => return (f, true),
        Some(None) => (true, 0.0),
        None => (force || squeeze_cells() == 0, work.expected_proposals(log_m)),
    };
    let mut cells = if full { squeeze_cells() } else { 0 };
    let f = build_fast_uncached(log_m, target, tprog, proposal, pprog, force, bx, &mut cells, eager);
    let full = full || cells > 0;
    FAST_CACHE.with(|c| {
        if let Ok(mut g) = c.try_borrow_mut() {
            g.retain(|(k, _, _)| *k != key);
            g.insert(0, (key, f.clone(), full));
            g.truncate(FAST_CACHE_JOBS);
        }
    });
    (f, full)
}

/// `build_fast` without the cache, with squeeze tables of `cells` cells (0: none). `eager`: the
/// proposals this call is expected to draw, which may have the tables built at once (see
/// SQUEEZE_AT_ONCE); `cells` then says how many.
#[allow(clippy::too_many_arguments)]
fn build_fast_uncached(
    log_m: f64,
    target: &Target,
    tprog: &[f64],
    proposal: &Dist,
    pprog: &[f64],
    force: bool,
    bx: (f64, f64),
    cells: &mut usize,
    eager: f64,
) -> Option<Fast> {
    let tdist = match target {
        Target::Dist(t) => t,
        _ => return None,
    };
    let m = log_m.exp();
    if !(1.0 / CONST_RANGE..=CONST_RANGE).contains(&m) {
        return None;
    }
    let p = Lin::from_program(tprog)?;
    let q = Lin::from_program(pprog)?;
    // Log space costs the two log densities plus the cheap ln of u (~0.5); normal, exponential
    // and Laplace log densities are plain arithmetic, so e.g. normal/exponential pairs stay there
    // unless the squeeze settles nearly every lane without evaluating either density.
    let lin = p.lin_cost() + q.lin_cost();
    let log = p.log_cost() + q.log_cost() + 0.5;
    if *cells == 0 && eager * lin >= SQUEEZE_AT_ONCE {
        *cells = squeeze_cells();
    }
    let cells = *cells;
    if !force && lin >= log && cells == 0 {
        return None;
    }
    let (slo, shi) = p.support();
    let need_box = !(bx.0 <= slo && bx.1 >= shi);
    let sq = if cells > 0 { build_squeeze(&p, &q, m, proposal, need_box, bx, cells) } else { None };
    // squeeze: one cheap pass (~0.3, its uniforms included) plus the linear path for the
    // undecided fraction (a routed lane costs far more than its densities: gather, scatter,
    // exact max checks); the plain linear path pays its own pass for the uniforms and the
    // test besides the densities (~0.5: measured 2.7 vs 2.1 ns per proposal for beta from
    // uniform, whose densities are a few multiplications)
    let sq_cost = sq.as_ref().map(|(_, und)| 0.3 + 4.0 * und * (lin + 1.0));
    let lin_total = lin + 0.5;
    // (tests force both the fast path and the squeeze wherever they can be built)
    let sq = if force || sq_cost.is_some_and(|c| c < lin_total) { sq } else { None };
    let cost = match sq_cost {
        Some(c) if c < lin_total => c,
        _ => lin,
    };
    if !force && cost >= log {
        return None;
    }
    let mut extra = vec![0.0; 512];
    proposal.sample(&mut Stream::new(0x5EED, 0xB0C, 0), &mut extra);
    if !(p.validate(tdist, &extra) && q.validate(proposal, &extra)) {
        return None;
    }
    Some(Fast { p, q, m, need_box, sq: sq.map(|(s, _)| std::sync::Arc::new(s)) })
}

/// Squeeze tables over the proposal's bulk (its support where finite, else the `TAIL`
/// quantiles), with an estimate of the fraction of proposals they leave undecided.
#[allow(clippy::too_many_arguments)]
fn build_squeeze(p: &Lin, q: &Lin, m: f64, proposal: &Dist, need_box: bool, bx: (f64, f64), cells: usize) -> Option<(Squeeze, f64)> {
    let (s0, s1) = q.support();
    let x0 = if s0.is_finite() { s0 } else { proposal.ppf_in(squeeze::TAIL, s0, s1) };
    let x1 = if s1.is_finite() { s1 } else { proposal.isf_in(squeeze::TAIL, s0, s1) };
    let sub = std::env::var("RSFT_SQUEEZE_SUB").ok().and_then(|v| v.parse().ok()).unwrap_or(squeeze::DEFAULT_SUB);
    let sq = Squeeze::build(p, q, m, if need_box { Some(bx) } else { None }, x0, x1, cells, sub)?;
    // expected undecided fraction: sum over cells of q's mass there times P(lo <= u < hi)
    let (a, b) = sq.range();
    let w = (b - a) / sq.cells() as f64;
    let mut und = 0.0;
    let mut mass = 0.0;
    for c in 0..sq.cells() {
        let qm = q.pdf1(a + (c as f64 + 0.5) * w) * w;
        let (lo, hi) = sq.bounds(c);
        mass += qm;
        und += qm * (hi.min(1.0) - lo).max(0.0);
    }
    und += (1.0 - mass).max(0.0);
    Some((sq, und))
}

fn bad(msg: String) -> String {
    format!("malformed job: {msg}")
}

fn int_at(buf: &[f64], i: usize, name: &str, min: usize, max: usize) -> Result<usize, String> {
    let v = *buf.get(i).ok_or_else(|| bad(format!("truncated before {name} (index {i})")))?;
    if !(v.fract() == 0.0 && v >= min as f64 && v <= max as f64) {
        return Err(bad(format!("{name} must be an integer in [{min}, {max}], got {v}")));
    }
    Ok(v as usize)
}

/// Decode and validate a job buffer.
pub fn decode_job(buf: &[f64]) -> Result<Job, String> {
    decode_job_opts(buf, false)
}

/// `decode_job`; with `force_fast` the linear fast path is built whenever it is possible, even
/// where the cost model prefers log space (tests).
pub fn decode_job_opts(buf: &[f64], force_fast: bool) -> Result<Job, String> {
    decode_job_final(buf, force_fast, Work::default()).map(|(job, _)| job)
}

thread_local! {
    /// The job this thread decoded last, by the bits of its buffer, while final (see
    /// `build_fast`): every block of a run comes with the same job, and decoding it (programs,
    /// normalizing constants, the fast path's validation and cache key) cost ~1.5 us a call.
    static LAST_JOB: RefCell<Option<(Vec<u64>, Rc<Job>)>> = const { RefCell::new(None) };
}

/// `decode_job` for the N-API entry points: the last job again when the buffer holds the same
/// numbers (bit for bit, so -0 and NaN payloads count). `work`: what the calling entry point
/// will draw with it.
pub fn decode_job_cached(buf: &[f64], work: Work) -> Result<Rc<Job>, String> {
    let same = |k: &[u64]| k.len() == buf.len() && k.iter().zip(buf).all(|(a, b)| *a == b.to_bits());
    let hit = LAST_JOB.with(|c| c.try_borrow().ok().and_then(|g| g.as_ref().filter(|(k, _)| same(k)).map(|(_, j)| j.clone())));
    if let Some(job) = hit {
        return Ok(job);
    }
    let (job, fin) = decode_job_final(buf, false, work)?;
    let job = Rc::new(job);
    if fin {
        LAST_JOB.with(|c| {
            if let Ok(mut g) = c.try_borrow_mut() {
                *g = Some((buf.iter().map(|v| v.to_bits()).collect(), job.clone()));
            }
        });
    }
    Ok(job)
}

/// `decode_job_opts`, and whether the job is final (its fast path will not change on a later call).
fn decode_job_final(buf: &[f64], force_fast: bool, work: Work) -> Result<(Job, bool), String> {
    if buf.len() < 6 {
        return Err(bad(format!("too short ({} numbers)", buf.len())));
    }
    if buf[0] != JOB_VERSION {
        return Err(bad(format!("unsupported version {}", buf[0])));
    }
    let d = int_at(buf, 1, "dimension d", 1, MAX_DIM)?;
    let log_m = buf[2];
    if !log_m.is_finite() {
        return Err(bad(format!("logM must be finite, got {log_m}")));
    }
    let kind = int_at(buf, 3, "target kind", 0, 2)?;
    let l1 = int_at(buf, 4, "target program length", 0, buf.len())?;
    let t_start = 5;
    let t_end = t_start + l1;
    if t_end >= buf.len() {
        return Err(bad(format!("target program of length {l1} runs past the end ({} numbers)", buf.len())));
    }
    let l2 = int_at(buf, t_end, "proposal program length", 1, buf.len())?;
    let p_start = t_end + 1;
    let p_end = p_start + l2;
    let want = p_end + 2 * d;
    if want != buf.len() {
        return Err(bad(format!(
            "length {} does not match the header (expected {want}: 5 + {l1} target + 1 + {l2} proposal + 2*{d} bounds)",
            buf.len()
        )));
    }
    let target = match kind {
        0 => {
            let t = Dist::decode(&buf[t_start..t_end]).map_err(|e| bad(format!("target program: {e}")))?;
            if t.dim() != d {
                return Err(bad(format!("target distribution has dimension {}, job has d = {d}", t.dim())));
            }
            Target::Dist(t)
        }
        1 => {
            let e = Expr::decode(&buf[t_start..t_end]).map_err(|e| bad(format!("target expression: {e}")))?;
            if e.dim() != d {
                return Err(bad(format!("target expression has dimension {}, job has d = {d}", e.dim())));
            }
            Target::Expr(e)
        }
        _ => {
            if l1 != 0 {
                return Err(bad(format!("external target must have an empty program, got {l1} numbers")));
            }
            Target::External
        }
    };
    let proposal = Dist::decode(&buf[p_start..p_end]).map_err(|e| bad(format!("proposal program: {e}")))?;
    if proposal.dim() != d {
        return Err(bad(format!("proposal has dimension {}, job has d = {d}", proposal.dim())));
    }
    let lo = buf[p_end..p_end + d].to_vec();
    let hi = buf[p_end + d..p_end + 2 * d].to_vec();
    for j in 0..d {
        if lo[j].is_nan() || hi[j].is_nan() || !(lo[j] <= hi[j]) {
            return Err(bad(format!("support bounds of column {j} are invalid: [{}, {}]", lo[j], hi[j])));
        }
    }
    let has_box = lo.iter().any(|&v| v != f64::NEG_INFINITY) || hi.iter().any(|&v| v != f64::INFINITY);
    let (fast, fin) = build_fast(d, log_m, &target, &buf[t_start..t_end], &proposal, &buf[p_start..p_end], force_fast, (lo[0], hi[0]), work);
    Ok((Job { d, log_m, target, proposal, lo, hi, has_box, fast }, fin))
}

impl Job {
    pub fn dim(&self) -> usize {
        self.d
    }
    pub fn log_m(&self) -> f64 {
        self.log_m
    }
    pub fn target(&self) -> &Target {
        &self.target
    }
    pub fn proposal(&self) -> &Dist {
        &self.proposal
    }
    /// Whether `sample_block` decides in linear space (see `sample_block_fast`).
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }
    /// Whether the fast path has squeeze tables.
    pub fn has_squeeze(&self) -> bool {
        self.fast.as_ref().is_some_and(|f| f.sq.is_some())
    }
    pub fn is_external(&self) -> bool {
        matches!(self.target, Target::External)
    }
    /// Support box (lower bounds, upper bounds).
    pub fn support(&self) -> (&[f64], &[f64]) {
        (&self.lo, &self.hi)
    }
}

// ---------------------------------------------------------------------------------------------
// Accept / compact core

/// Running statistics (integer counts, so summing over chunks is exact).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Acc {
    pub accepted: u64,
    pub proposals: u64,
    pub violations: u64,
    pub max_ratio: f64,
    pub non_finite: u64,
}

impl Acc {
    pub fn new() -> Acc {
        Acc { accepted: 0, proposals: 0, violations: 0, max_ratio: f64::NEG_INFINITY, non_finite: 0 }
    }
    pub fn stats(&self) -> BlockStats {
        [self.accepted as f64, self.proposals as f64, self.violations as f64, self.max_ratio, self.non_finite as f64]
    }
}

impl Default for Acc {
    fn default() -> Self {
        Acc::new()
    }
}

/// The accept test over one chunk: `u` holds the acceptance uniforms; on return `flags[i]` is 1
/// for an accepted row, else 0. Returns (accepted, violations, max log ratio, non-finite).
///
/// `ln u < t` (t = logp - logM - logq) is settled with the cheap `ln_approx` wherever it is more
/// than `LN_APPROX_MAX_ERR` away from t, which gives exactly the decision the full `ln` gives;
/// the rare undecided rows (flag 2 after the first pass) get the full `ln` in a second pass,
/// one group of 8 at a time. NaN t is always undecided and the full test rejects it.
#[inline(always)]
fn decide_body(u: &[f64], logp: &[f64], logq: &[f64], log_m: f64, flags: &mut [u8]) -> (u64, u64, f64, u64) {
    let n = u.len().min(logp.len()).min(logq.len()).min(flags.len());
    let (u, logp, logq, flags) = (&u[..n], &logp[..n], &logq[..n], &mut flags[..n]);
    // Pass 1, branch-free. Eight independent accumulators (one per vector lane) so the loop
    // vectorizes without reassociating anything: counts are integers and max is
    // order-independent (-0 is normalized to +0 by `+ 0.0` so ties cannot depend on order).
    let mut viol = [0u64; 8];
    let mut nonf = [0u64; 8];
    let mut maxr = [f64::NEG_INFINITY; 8];
    let eps = fastmath::LN_APPROX_MAX_ERR;
    let log_mv = log_m + VIOLATION_SLACK;
    let body = n / 8 * 8;
    {
        let it = u[..body]
            .chunks_exact(8)
            .zip(logp[..body].chunks_exact(8))
            .zip(logq[..body].chunks_exact(8))
            .zip(flags[..body].chunks_exact_mut(8));
        for (((us, ps), qs), fs) in it {
            for l in 0..8 {
                let (p, q) = (ps[l], qs[l]);
                let t = p - log_m - q;
                let la = fastmath::ln_approx(us[l]);
                let yes = la + eps < t;
                let no = la - eps >= t;
                fs[l] = yes as u8 | ((!(yes | no)) as u8) << 1;
                let r = p - q + 0.0;
                viol[l] += (r > log_mv) as u64;
                nonf[l] += (p.is_nan() || q.is_nan()) as u64;
                maxr[l] = if r > maxr[l] { r } else { maxr[l] };
            }
        }
    }
    for i in body..n {
        let (p, q) = (logp[i], logq[i]);
        let t = p - log_m - q;
        flags[i] = (fastmath::ln_normal(u[i]) < t) as u8;
        let r = p - q + 0.0;
        viol[0] += (r > log_mv) as u64;
        nonf[0] += (p.is_nan() || q.is_nan()) as u64;
        maxr[0] = if r > maxr[0] { r } else { maxr[0] };
    }
    // Pass 2: full ln for groups with an undecided row (u in [2^-54, 1]: ln_normal is exact ln).
    let mut g = 0;
    while g < body {
        let fs = &mut flags[g..g + 8];
        if fs.iter().fold(0u8, |o, &f| o | f) & 2 != 0 {
            for l in 0..8 {
                let t = logp[g + l] - log_m - logq[g + l];
                fs[l] = (fastmath::ln_normal(u[g + l]) < t) as u8;
            }
        }
        g += 8;
    }
    let acc = flags.iter().map(|&f| f as u64).sum::<u64>();
    let mut m = f64::NEG_INFINITY;
    for &x in maxr.iter() {
        m = if x > m { x } else { m };
    }
    (acc, viol.iter().sum(), m, nonf.iter().sum())
}

fn decide(level: Simd, u: &[f64], logp: &[f64], logq: &[f64], log_m: f64, flags: &mut [u8]) -> (u64, u64, f64, u64) {
    crate::simd_dispatch!(level, fn(u: &[f64], logp: &[f64], logq: &[f64], log_m: f64, flags: &mut [u8]) -> (u64, u64, f64, u64) {
        decide_body(u, logp, logq, log_m, flags)
    })
}

/// Where a compaction reads which lanes to keep: one byte per lane (0 or 1, the linear and
/// log modes' flags) or one bit per lane (bit i of byte i / 8, the squeeze's masks). Both
/// compactions are then one loop (`compact1`).
trait Keep: Copy {
    /// The keep bits of lanes i..i + 8 (i a multiple of 8), lane i in bit 0; called only from
    /// the AVX-512 loop, into which it is inlined.
    #[cfg(target_arch = "x86_64")]
    unsafe fn mask8(self, i: usize) -> u8;
    /// 1 when lane i is kept, else 0.
    unsafe fn lane(self, i: usize) -> usize;
}

#[derive(Clone, Copy)]
struct ByteFlags(*const u8);

#[derive(Clone, Copy)]
struct BitFlags(*const u8);

impl Keep for ByteFlags {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn mask8(self, i: usize) -> u8 {
        use std::arch::x86_64::*;
        let fb = _mm_loadl_epi64(self.0.add(i) as *const __m128i);
        _mm_test_epi8_mask(fb, fb) as u8
    }
    #[inline(always)]
    unsafe fn lane(self, i: usize) -> usize {
        *self.0.add(i) as usize
    }
}

impl Keep for BitFlags {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn mask8(self, i: usize) -> u8 {
        *self.0.add(i / 8)
    }
    #[inline(always)]
    unsafe fn lane(self, i: usize) -> usize {
        ((*self.0.add(i / 8) >> (i % 8)) & 1) as usize
    }
}

/// Branch-free compaction of one column: `dst[c] = src[i]; c += keep(i)` for i < n; returns c.
///
/// # Safety
/// `src` and `keep` must cover n lanes and `dst` n writable doubles; `dst` may alias `src`
/// only at or below it (in-place compaction, dst <= src). Every write lands at dst + c with
/// c <= i, so the AVX-512 path's full-vector store at dst + c (8 doubles) only reaches the
/// vector just loaded (dst + c + 8 <= src + i + 8).
unsafe fn compact1<K: Keep>(level: Simd, src: *const f64, dst: *mut f64, n: usize, keep: K) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if level == Simd::Avx512 && simd() == Simd::Avx512 {
            return compact1_avx512(src, dst, n, keep);
        }
    }
    let _ = level;
    let mut c = 0usize;
    for i in 0..n {
        *dst.add(c) = *src.add(i);
        c += keep.lane(i);
    }
    c
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,popcnt")]
unsafe fn compact1_avx512<K: Keep>(src: *const f64, dst: *mut f64, n: usize, keep: K) -> usize {
    use std::arch::x86_64::*;
    let mut c = 0usize;
    let mut i = 0usize;
    while i + 8 <= n {
        let m = keep.mask8(i);
        let v = _mm512_loadu_pd(src.add(i));
        _mm512_storeu_pd(dst.add(c), _mm512_maskz_compress_pd(m, v));
        c += m.count_ones() as usize;
        i += 8;
    }
    while i < n {
        *dst.add(c) = *src.add(i);
        c += keep.lane(i);
        i += 1;
    }
    c
}

/// Branch-free compaction of the chunk's rows `src` (flags.len() rows of d) into `out` at row
/// `cursor`: every row is written at the cursor, the cursor advances by its flag. `out` must
/// hold at least `cursor + flags.len()` rows. Returns the new cursor.
fn compact_copy(level: Simd, src: &[f64], d: usize, flags: &[u8], out: &mut [f64], mut cursor: usize) -> usize {
    if d == 1 {
        let n = flags.len().min(src.len());
        let dst = &mut out[cursor..cursor + n]; // bounds-checked once, here
                                                // SAFETY: src and dst both hold n doubles and do not overlap (dst is a different slice)
        let c = unsafe { compact1(level, src.as_ptr(), dst.as_mut_ptr(), n, ByteFlags(flags.as_ptr())) };
        return cursor + c;
    }
    for (i, row) in src.chunks_exact(d).enumerate().take(flags.len()) {
        out[cursor * d..cursor * d + d].copy_from_slice(row);
        cursor += flags[i] as usize;
    }
    cursor
}

/// The lanes `< m` whose bit in `keep` (bit i of byte i / 8) is clear, in increasing order.
fn routed_lanes(keep: &[u8], m: usize, idx: &mut Vec<u32>) {
    idx.clear();
    idx.reserve(m);
    let m = m.min(keep.len() * 8);
    let mut k = 0usize;
    let p = idx.as_mut_ptr();
    let mut word = |w: usize, mut z: u64| {
        while z != 0 {
            // SAFETY: at most one entry per lane < m, and idx has room for m
            unsafe { *p.add(k) = (w * 64 + z.trailing_zeros() as usize) as u32 };
            k += 1;
            z &= z - 1;
        }
    };
    let full = m / 64;
    for (w, ch) in keep[..full * 8].chunks_exact(8).enumerate() {
        word(w, !u64::from_le_bytes([ch[0], ch[1], ch[2], ch[3], ch[4], ch[5], ch[6], ch[7]]));
    }
    if full * 64 < m {
        let mut b = [0xFFu8; 8];
        let tail = &keep[full * 8..m.div_ceil(8)];
        b[..tail.len()].copy_from_slice(tail);
        word(full, !u64::from_le_bytes(b) & ((1u64 << (m - full * 64)) - 1));
    }
    // SAFETY: k entries were written (k <= m <= capacity)
    unsafe { idx.set_len(k) };
}

/// Apply the support box: rows with any coordinate outside [lo, hi] (or NaN) get -inf.
fn apply_box(job: &Job, xs: &[f64], logp: &mut [f64]) {
    if job.has_box {
        apply_box_raw(job.d, &job.lo, &job.hi, xs, logp)
    }
}

fn apply_box_raw(d: usize, lo_b: &[f64], hi_b: &[f64], xs: &[f64], logp: &mut [f64]) {
    crate::simd_dispatch!(simd(), fn(d: usize, lo_b: &[f64], hi_b: &[f64], xs: &[f64], logp: &mut [f64]) -> () {
        apply_box_body(d, lo_b, hi_b, xs, logp)
    })
}

#[inline(always)]
fn apply_box_body(d: usize, lo_b: &[f64], hi_b: &[f64], xs: &[f64], logp: &mut [f64]) {
    if d == 1 {
        let (lo, hi) = (lo_b[0], hi_b[0]);
        for (p, &x) in logp.iter_mut().zip(xs) {
            *p = if x >= lo && x <= hi { *p } else { f64::NEG_INFINITY };
        }
        return;
    }
    for (p, row) in logp.iter_mut().zip(xs.chunks_exact(d)) {
        let mut inside = true;
        for j in 0..d {
            inside &= row[j] >= lo_b[j] && row[j] <= hi_b[j];
        }
        *p = if inside { *p } else { f64::NEG_INFINITY };
    }
}

struct Scratch {
    /// a chunk's proposals (chunk rows of d), and the `Sink`'s stage
    xs: Vec<f64>,
    stage: Vec<f64>,
    logq: Vec<f64>,
    logp: Vec<f64>,
    u: Vec<f64>,
    flags: Vec<u8>,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { xs: Vec::new(), stage: Vec::new(), logq: Vec::new(), logp: Vec::new(), u: Vec::new(), flags: Vec::new() }
    }
    fn ensure(&mut self, chunk: usize, d: usize) {
        if self.u.len() < chunk {
            self.logq.resize(chunk, 0.0);
            self.logp.resize(chunk, 0.0);
            self.u.resize(chunk, 0.0);
            self.flags.resize(chunk, 0);
        }
        if self.xs.len() < chunk * d {
            self.xs.resize(chunk * d, 0.0);
        }
        if self.stage.len() < stage_len(chunk, d) {
            self.stage.resize(stage_len(chunk, d), 0.0);
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

/// Runs `f` on this thread's scratch, sized for chunks of `chunk` rows of `d` (0: no rows).
fn with_scratch<R>(chunk: usize, d: usize, f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| {
        // try_borrow_mut: a re-entrant call (never expected) gets fresh buffers instead of a panic
        match s.try_borrow_mut() {
            Ok(mut g) => {
                g.ensure(chunk, d);
                f(&mut g)
            }
            Err(_) => {
                let mut g = Scratch::new();
                g.ensure(chunk, d);
                f(&mut g)
            }
        }
    })
}

/// The target log density of rows `xs` (program or expression), with the support box applied.
/// External targets get -inf (they are never evaluated here).
pub fn target_logpdf(job: &Job, xs: &[f64], logp: &mut [f64]) {
    match &job.target {
        Target::Dist(t) => t.logpdf(xs, logp),
        Target::Expr(e) => e.eval(xs, logp),
        Target::External => logp.fill(f64::NEG_INFINITY),
    }
    apply_box(job, xs, logp);
}

// ---------------------------------------------------------------------------------------------
// Linear-density fast path
//
// When target and proposal are both cheap in linear space (`density::Lin`, d = 1), the test
// `ln u < logp - logM - logq` is decided as `u (M q) < p`, with no logarithm. A lane is decided
// there only when p, q and M q are normal numbers in [TINY, HUGE] and both comparisons (the
// accept test and the violation test p > M q) clear a relative margin `LIN_TOL`, far above the
// rounding error of either computation (|ln p| < 346 in that range, so log-space rounding is
// < 1e-12 relative): the decision is then the one the log-space kernel makes. A structural zero
// of p (-0.0: outside the support or the box, logp = -inf exactly) with a normal q is a
// rejection with no statistics. Every other lane (underflow, NaN, near ties) is recomputed
// exactly in log space with `Dist::logpdf` and the full ln, like `decide`.
//
// maxLogRatio stays the log-space value: per chunk, the fast lanes whose linear ratio p/q is
// within `LIN_TOL` of the running maximum (rarely more than one) get their exact logp - logq,
// so the maximum is taken over exactly the numbers the log-space kernel would see.

/// Rows per chunk of the fast path (4 arrays of doubles = 32 KiB).
const FAST_CHUNK: usize = 1024;

/// Proposals the fast path draws at a time (64 KiB), decided a chunk at a time.
const FAST_BATCH: usize = 32768;

/// Relative margin of the linear comparisons.
const LIN_TOL: f64 = 1e-10;

/// A proposal is an envelope violation when log p - log q > log M + VIOLATION_SLACK: p/q above
/// M by more than a relative 1e-9. Rounding in log p - log q reaches M itself where M is exactly
/// sup p/q (a truncation of the proposal, M = 1 / its mass), and counting that failed runs
/// whose envelope holds; an excess this small is far below what any sample could show. The
/// same slack as resolve.ts's check of a given M, and as the JS kernel (js-kernel.ts).
pub const VIOLATION_SLACK: f64 = 1e-9;

/// Pass 1 over a chunk: flags 0/1 for decided lanes, 2 for lanes to redo in log space.
/// Returns (violations among decided lanes, max of p/q over decided lanes (0 if none),
/// 1 if any lane has flag 2, else 0). No division per lane: each vector lane keeps its best (p, q) pair
/// (compared by cross-multiplication; p, q in [TINY, HUGE] keep the products finite and normal).
#[inline(always)]
fn lin_decide_body(u: &[f64], p: &[f64], q: &[f64], m: f64, flags: &mut [u8]) -> (u64, f64, u64) {
    let n = u.len().min(p.len()).min(q.len()).min(flags.len());
    let (u, p, q, flags) = (&u[..n], &p[..n], &q[..n], &mut flags[..n]);
    let neg0 = (-0.0f64).to_bits();
    // (violations against M (1 + VIOLATION_SLACK), as log p - log q > log M + VIOLATION_SLACK:
    // the two differ by ~5e-19, far inside LIN_TOL, so lanes near either go to the log test)
    let mv = m * (1.0 + VIOLATION_SLACK);
    let lane = |u: f64, p: f64, q: f64| -> (u8, u64, bool) {
        let mq = m * q;
        let mvq = mv * q;
        // M is in [1/CONST_RANGE, CONST_RANGE], so M q and u M q are normal too
        let okq = q >= TINY && q <= HUGE;
        let okp = p >= TINY && p <= HUGE;
        let a = u * mq;
        let yes = a < p * (1.0 - LIN_TOL);
        let no = a > p * (1.0 + LIN_TOL);
        let v_yes = p > mvq * (1.0 + LIN_TOL);
        let v_no = p < mvq * (1.0 - LIN_TOL);
        let fast = okp & okq & (yes | no) & (v_yes | v_no);
        let zero = okq & (p.to_bits() == neg0);
        let flag = if fast { yes as u8 } else if zero { 0 } else { 2 };
        (flag, (fast & v_yes) as u64, fast)
    };
    let mut viol = [0u64; 8];
    let mut fb = [0u8; 8];
    let mut bp = [0.0f64; 8];
    let mut bq = [1.0f64; 8];
    let body = n / 8 * 8;
    {
        let it = u[..body]
            .chunks_exact(8)
            .zip(p[..body].chunks_exact(8))
            .zip(q[..body].chunks_exact(8))
            .zip(flags[..body].chunks_exact_mut(8));
        for (((us, ps), qs), fs) in it {
            for l in 0..8 {
                let (f, v, fast) = lane(us[l], ps[l], qs[l]);
                fs[l] = f;
                viol[l] += v;
                fb[l] |= f;
                let better = fast & (ps[l] * bq[l] > bp[l] * qs[l]);
                bp[l] = if better { ps[l] } else { bp[l] };
                bq[l] = if better { qs[l] } else { bq[l] };
            }
        }
    }
    for i in body..n {
        let (f, v, fast) = lane(u[i], p[i], q[i]);
        flags[i] = f;
        viol[0] += v;
        fb[0] |= f;
        let better = fast & (p[i] * bq[0] > bp[0] * q[i]);
        bp[0] = if better { p[i] } else { bp[0] };
        bq[0] = if better { q[i] } else { bq[0] };
    }
    let mut mx = 0.0f64;
    for l in 0..8 {
        let r = bp[l] / bq[l];
        mx = if r > mx { r } else { mx };
    }
    (viol.iter().sum(), mx, (fb.iter().fold(0, |a, &b| a | b) >> 1) as u64)
}

fn lin_decide(level: Simd, u: &[f64], p: &[f64], q: &[f64], m: f64, flags: &mut [u8]) -> (u64, f64, u64) {
    crate::simd_dispatch!(level, fn(u: &[f64], p: &[f64], q: &[f64], m: f64, flags: &mut [u8]) -> (u64, f64, u64) {
        lin_decide_body(u, p, q, m, flags)
    })
}

/// Indices i with p[i] >= t q[i] and q[i] in [TINY, HUGE] (into `idx`, cleared first); groups of
/// 8 are tested with vector code, so the usual no-hit scan is cheap.
fn candidates(level: Simd, p: &[f64], q: &[f64], t: f64, idx: &mut Vec<u32>) {
    idx.clear();
    crate::simd_dispatch!(level, fn(p: &[f64], q: &[f64], t: f64, idx: &mut Vec<u32>) -> () {
        let n = p.len().min(q.len());
        let hit = |p: f64, q: f64| p >= t * q && q >= TINY && q <= HUGE;
        let mut g = 0;
        while g + 8 <= n {
            let mut any = false;
            for l in 0..8 {
                any |= hit(p[g + l], q[g + l]);
            }
            if any {
                for l in 0..8 {
                    if hit(p[g + l], q[g + l]) {
                        idx.push((g + l) as u32);
                    }
                }
            }
            g += 8;
        }
        for i in g..n {
            if hit(p[i], q[i]) {
                idx.push(i as u32);
            }
        }
    })
}

/// Support box in linear space: a row outside [lo, hi] gets -0.0 (structural zero), NaN stays.
fn apply_box_linear(level: Simd, lo: f64, hi: f64, xs: &[f64], p: &mut [f64]) {
    crate::simd_dispatch!(level, fn(lo: f64, hi: f64, xs: &[f64], p: &mut [f64]) -> () {
        for (pv, &x) in p.iter_mut().zip(xs) {
            *pv = if x >= lo && x <= hi { *pv } else if x.is_nan() { x } else { -0.0 };
        }
    })
}

/// Exact (log-space) target and proposal log densities of one row, as the log-space kernel
/// computes them.
/// Exact log densities of the lanes `idx` of the 1-D rows `xs`, into `ex.lp` / `ex.lq`, one
/// call of each logpdf for the lot (each density is a function of its row alone). Lane by lane,
/// a flat ratio, where every lane is a maxLogRatio candidate, or a target below the linear
/// range almost everywhere, cost ~100 ns a lane in call overhead (50-component mixtures:
/// microseconds) against ~5 ns in one batch.
fn exact_lanes(job: &Job, xs: &[f64], idx: &[u32], ex: &mut ExactScratch) {
    let k = idx.len();
    if k == 0 {
        return;
    }
    ex.x.clear();
    ex.x.extend(idx.iter().map(|&i| xs[i as usize]));
    ex.lp.resize(k, 0.0);
    ex.lq.resize(k, 0.0);
    target_logpdf(job, &ex.x, &mut ex.lp[..k]);
    job.proposal.logpdf(&ex.x, &mut ex.lq[..k]);
}

/// `exact_lanes`' gathered rows and their log densities.
#[derive(Default)]
struct ExactScratch {
    x: Vec<f64>,
    lp: Vec<f64>,
    lq: Vec<f64>,
}

/// Scratch of the fast path: the chunk's uniforms, flags and squeeze keys, and the routed
/// (undecided) lanes' compacted x, u, p, q, flags and indices.
struct FastScratch {
    /// a batch of proposals (`FAST_BATCH`), and the `Sink`'s stage
    xs: Vec<f64>,
    stage: Vec<f64>,
    u: Vec<f64>,
    ub: Vec<u64>,
    flags: Vec<u8>,
    xr: Vec<f64>,
    ur: Vec<f64>,
    pr: Vec<f64>,
    qr: Vec<f64>,
    fr: Vec<u8>,
    idx: Vec<u32>,
    cand: Vec<u32>,
    exact: ExactScratch,
    /// the squeeze's accept / keep bit masks (bit i of byte i / 8)
    acc: Vec<u8>,
    keep: Vec<u8>,
}

impl FastScratch {
    fn new() -> FastScratch {
        FastScratch {
            xs: Vec::new(),
            stage: Vec::new(),
            u: Vec::new(),
            ub: Vec::new(),
            flags: Vec::new(),
            xr: Vec::new(),
            ur: Vec::new(),
            pr: Vec::new(),
            qr: Vec::new(),
            fr: Vec::new(),
            idx: Vec::new(),
            cand: Vec::new(),
            exact: ExactScratch::default(),
            acc: Vec::new(),
            keep: Vec::new(),
        }
    }
    fn ensure(&mut self, chunk: usize) {
        if self.u.len() < chunk {
            self.xs.resize(chunk.max(FAST_BATCH), 0.0);
            self.stage.resize(stage_len(chunk, 1), 0.0);
            for v in [&mut self.u, &mut self.xr, &mut self.ur, &mut self.pr, &mut self.qr] {
                v.resize(chunk, 0.0);
            }
            self.ub.resize(chunk, 0);
            self.flags.resize(chunk, 0);
            self.fr.resize(chunk, 0);
            self.acc.resize(chunk.div_ceil(8), 0);
            self.keep.resize(chunk.div_ceil(8), 0);
        }
    }
}

thread_local! {
    static FAST_SCRATCH: RefCell<FastScratch> = RefCell::new(FastScratch::new());
}

/// The linear decision for lanes `xs` (uniforms `u`) into `flags`, with the statistics into
/// `acc` (violations, nonFinite, maxLogRatio) and `g` (largest linear ratio among lanes whose
/// exact log ratio is in acc.max_ratio); `pv`, `qv` and `cand` are scratch.
#[allow(clippy::too_many_arguments)]
fn lin_lanes(
    job: &Job,
    f: &Fast,
    level: Simd,
    xs: &[f64],
    u: &[f64],
    pv: &mut [f64],
    qv: &mut [f64],
    flags: &mut [u8],
    acc: &mut Acc,
    g: &mut f64,
    cand: &mut Vec<u32>,
    ex: &mut ExactScratch,
) {
    let log_m = job.log_m;
    let m = xs.len();
    let (pv, qv, u, flags) = (&mut pv[..m], &mut qv[..m], &u[..m], &mut flags[..m]);
    f.q.pdf(level, xs, qv);
    f.p.pdf(level, xs, pv);
    if f.need_box {
        apply_box_linear(level, job.lo[0], job.hi[0], xs, pv);
    }
    let (v, rmax, nfb) = lin_decide(level, u, pv, qv, f.m, flags);
    acc.violations += v;
    if nfb > 0 {
        cand.clear();
        cand.extend((0..m as u32).filter(|&i| flags[i as usize] == 2));
        exact_lanes(job, xs, cand, ex);
        for (j, &i) in cand.iter().enumerate() {
            let (i, lp, lq) = (i as usize, ex.lp[j], ex.lq[j]);
            flags[i] = (fastmath::ln_normal(u[i]) < lp - log_m - lq) as u8;
            let r = lp - lq + 0.0;
            acc.violations += (r > log_m + VIOLATION_SLACK) as u64;
            acc.non_finite += (lp.is_nan() || lq.is_nan()) as u64;
            acc.max_ratio = if r > acc.max_ratio { r } else { acc.max_ratio };
        }
    }
    if rmax > 0.0 && rmax >= *g * (1.0 - LIN_TOL) {
        let t = (if rmax > *g { rmax } else { *g }) * (1.0 - LIN_TOL);
        // candidates: p >= t q (decided lanes only matter; the others are exact already
        // and p NaN / -0.0 / +0.0 fail the test or are harmless to redo)
        candidates(level, pv, qv, t, cand);
        exact_lanes(job, xs, cand, ex);
        for (j, &i) in cand.iter().enumerate() {
            let (i, lp, lq) = (i as usize, ex.lp[j], ex.lq[j]);
            let r = lp - lq + 0.0;
            acc.max_ratio = if r > acc.max_ratio { r } else { acc.max_ratio };
            let lr = pv[i] / qv[i];
            *g = if lr > *g { lr } else { *g };
        }
    }
}

/// Where a block's accepted rows go: the front of the caller's `out`, which has room for
/// exactly `rows` rows; the kernel stops once they are written, and nothing past them is ever
/// written (with a shared output, the next block's rows are there). Each chunk is compacted
/// into a stage (scratch in L1/L2) that goes to `out` every STAGE_NUMBERS numbers: with
/// streaming stores when the block is big and not read soon, since the output is usually far
/// bigger than the caches and ordinary stores would first read every line of it (measured
/// 1-8% faster per block than compacting straight into `out`, most on the cheapest targets).
/// A ring slot that another thread copies from at once is better left in cache.
struct Sink<'a> {
    out: &'a mut [f64],
    d: usize,
    rows: usize,
    /// rows in `out` so far, and rows kept in the stage after them
    cursor: usize,
    staged: usize,
    /// the SIMD level for streaming stores, or None for plain copies (small blocks, scalar)
    stream: Option<Simd>,
}

/// Numbers staged before they go to the output (16 KiB).
const STAGE_NUMBERS: usize = 2048;

/// Numbers a stage needs for chunks of `chunk` rows of `d`.
fn stage_len(chunk: usize, d: usize) -> usize {
    STAGE_NUMBERS + chunk * d
}

impl<'a> Sink<'a> {
    fn new(out: &'a mut [f64], d: usize, rows: usize, level: Simd, stream_out: bool) -> Sink<'a> {
        let big = rows * d * 8 >= crate::copy::STREAM_MIN_BYTES;
        let stream = if stream_out && big && level != Simd::Scalar { Some(level) } else { None };
        Sink { out, d, rows, cursor: 0, staged: 0, stream }
    }

    fn left(&self) -> usize {
        self.rows - self.cursor - self.staged
    }

    /// Compacts the chunk's rows `xs` kept by `flags` (one byte per row) into the stage
    /// (`stage_len` numbers); returns how many were kept, including any that did not fit.
    fn put_flags(&mut self, level: Simd, xs: &[f64], flags: &[u8], stage: &mut [f64]) -> usize {
        let (m, d, at) = (flags.len(), self.d, self.staged * self.d);
        let c = compact_copy(level, xs, d, flags, &mut stage[at..at + m * d], 0);
        self.kept(c, stage)
    }

    /// `put_flags` for 1-column rows with one bit per row (bit i of `bits[i / 8]`).
    fn put_bits(&mut self, level: Simd, xs: &[f64], bits: &[u8], stage: &mut [f64]) -> usize {
        let (m, at) = (xs.len(), self.staged);
        if self.d != 1 || bits.len() * 8 < m || stage.len() < at + m {
            return 0; // unreachable: the fast path is 1-D and sizes its buffers (no panic across FFI)
        }
        // SAFETY: xs and bits cover m lanes, the stage has m doubles at `at` (checked above),
        // and the stage is another buffer than xs
        let c = unsafe { compact1(level, xs.as_ptr(), stage.as_mut_ptr().add(at), m, BitFlags(bits.as_ptr())) };
        self.kept(c, stage)
    }

    /// c rows were compacted after the staged ones: keep those that fit, and send a full stage
    /// (or the last rows) to `out`.
    fn kept(&mut self, c: usize, stage: &[f64]) -> usize {
        self.staged += c.min(self.left());
        if self.staged * self.d >= STAGE_NUMBERS || self.left() == 0 {
            self.flush(stage);
        }
        c
    }

    /// The staged rows into `out`; called on every way out of a block.
    fn flush(&mut self, stage: &[f64]) {
        let (n, at) = (self.staged * self.d, self.cursor * self.d);
        let (src, dst) = (&stage[..n], &mut self.out[at..at + n]);
        match self.stream {
            Some(level) => crate::copy::stream_rows(level, src, dst),
            None => dst.copy_from_slice(src),
        }
        self.cursor += self.staged;
        self.staged = 0;
    }
}

/// Which proposals a block decides, chunk by chunk, the same on every path (log space,
/// linear, squeeze) and in the JS kernel (js-kernel.ts ChunkSchedule): proposals come in
/// batches of up to FAST_BATCH (the fast path draws a batch at a time), decided in chunks of
/// up to `chunk.min(FAST_CHUNK)` that never cross a batch, each sized by `next_chunk`. The
/// decisions do not depend on the chunks, but the last chunk decides a few proposals past the
/// last row kept, and those are counted: with one schedule, a block's stats are a function of
/// the block alone, not of which path ran it (a job's first block runs before its squeeze
/// tables are built, so a path can change between calls).
struct ChunkSchedule {
    chunk: usize,
    /// proposals a row is expected to take before the block has seen any (`prior_per_row`)
    per_row: f64,
    /// proposals in the current batch, and decided of them
    drawn: usize,
    at: usize,
}

impl ChunkSchedule {
    fn new(chunk: usize, per_row: f64) -> ChunkSchedule {
        ChunkSchedule { chunk: chunk.clamp(1, FAST_CHUNK), per_row, drawn: 0, at: 0 }
    }

    /// The next chunk's size, and the size of the batch it opens, if it opens one.
    fn next(&mut self, acc: &Acc, rows_left: usize, props_left: u64) -> (usize, Option<usize>) {
        let mut opened = None;
        if self.at == self.drawn {
            self.drawn = next_chunk(FAST_BATCH, acc, rows_left, props_left, self.per_row);
            self.at = 0;
            opened = Some(self.drawn);
        }
        let m = next_chunk(self.chunk, acc, rows_left, (self.drawn - self.at) as u64, self.per_row);
        self.at += m;
        (m, opened)
    }

    /// Where the current chunk starts in its batch.
    fn start(&self, m: usize) -> usize {
        self.at - m
    }
}

/// Rows per proposal chunk, at most `chunk`: the proposals still allowed, and near the end of
/// the rows wanted, about what the block's acceptance rate so far says is enough (plus a
/// margin), so the last chunk decides few proposals past the last row kept. Before the block
/// has seen a proposal, `per_row` (`prior_per_row`) stands in for the rate: a block of fewer
/// rows than a batch (the last one of a run, or a short run) then draws about what it needs
/// instead of a whole batch. Decisions do not depend on chunk sizes; only the proposals
/// counted do (see ChunkSchedule).
fn next_chunk(chunk: usize, acc: &Acc, rows_left: usize, props_left: u64, per_row: f64) -> usize {
    let mut m = chunk as u64;
    if acc.accepted > 0 {
        let est = (rows_left as f64 * (acc.proposals as f64 / acc.accepted as f64) * 1.05) as u64 + 32;
        m = m.min(est.div_ceil(8) * 8);
    } else if acc.proposals == 0 {
        m = m.min((rows_left as f64 * per_row) as u64 + 64);
    }
    m.min(props_left) as usize
}

/// 2^(j/16), j = 0..15 (the same literals as js-kernel.ts, so both kernels compute the same prior).
const SIXTEENTH_POWERS: [f64; 16] = [
    1.0,
    1.0442737824274138,
    1.0905077326652577,
    1.1387886347566916,
    1.189207115002721,
    1.241857812073484,
    1.2968395546510096,
    1.3542555469368927,
    std::f64::consts::SQRT_2, // (1.4142135623730951, the same bits as Math.SQRT2)
    1.4768261459394993,
    1.5422108254079407,
    1.6104903319492543,
    1.681792830507429,
    1.7562521603732995,
    1.8340080864093424,
    1.9152065613971474,
];

/// Proposals a row takes, as far as a block knows before its first proposal. A distribution
/// target is normalized, like the proposal, so the acceptance rate is at most 1/M (exactly 1/M
/// with a true bound): M, rounded up to the next 2^(j/16) (at most 4.4% over, the margin: a
/// block that falls short draws a small second batch, one that overshoots draws proposals it
/// never decides), and at least 1. Built from a correctly rounded division, an integer and a
/// table, not from exp(logM), whose last bit may differ between libms: the fallback kernel
/// must get the same number, since the schedule decides the proposals a block counts. An
/// expression target's normalizer is unknown: 2, which suits rates of 1/2 or more and costs a
/// second batch below.
fn prior_per_row(job: &Job) -> f64 {
    if !matches!(job.target, Target::Dist(_)) {
        return 2.0;
    }
    // M <= 2^16: past that any block's first batch is a whole one anyway
    let k = (job.log_m / std::f64::consts::LN_2 * 16.0).ceil().clamp(0.0, 256.0) as usize;
    (1u64 << (k >> 4)) as f64 * SIXTEENTH_POWERS[k & 15]
}

/// The fast path over a block. With squeeze tables, each chunk first goes through
/// `Squeeze::decide`; the lanes it leaves undecided, plus the decided lanes that could raise
/// maxLogRatio, are routed (compacted) through `lin_lanes`, whose decisions are the same for
/// the decided ones. A decided lane with key (its cell's hi) <= thr = max(g (1 - LIN_TOL) / M,
/// L) cannot raise the maximum: its true ratio is below g (1 - LIN_TOL) (below the maximum
/// already counted, by `lin_lanes`' rule), or below the true ratio of the decided lane whose
/// cell has the largest lo, L (hi and lo are widened by SQ_TOL, far more than the log-space
/// rounding), and that lane is routed itself.
#[allow(clippy::too_many_arguments)]
fn sample_rows_fast(job: &Job, f: &Fast, prng: &mut Stream, urng: &mut Stream, sink: &mut Sink, max_props: u64, chunk: usize, level: Simd, use_sq: bool) -> BlockStats {
    // x, p, q and u of a chunk stay in L1 (the result does not depend on the chunk size)
    let mut plan = ChunkSchedule::new(chunk, prior_per_row(job));
    let mut acc = Acc::new();
    // largest linear ratio among lanes whose exact log ratio is already in acc.max_ratio
    let mut g = 0.0f64;
    let sq = if use_sq { f.sq.as_deref() } else { None };
    let mut body = |s: &mut FastScratch| {
        s.ensure(plan.chunk);
        // proposals are drawn a batch of chunks ahead (the samplers run best on long runs);
        // those past the last row kept are drawn but never decided
        while sink.left() > 0 && acc.proposals < max_props {
            let (m, batch) = plan.next(&acc, sink.left(), max_props - acc.proposals);
            if let Some(drawn) = batch {
                job.proposal.sample(prng, &mut s.xs[..drawn]);
            }
            let at = plan.start(m);
            let xs = &s.xs[at..at + m];
            let kept = match sq {
                Some(sq) => {
                    // raw u64s: the squeeze compares their top 32 bits with integer thresholds;
                    // only the routed lanes' uniforms are converted (same values as fill_f64)
                    let ub = &mut s.ub[..m];
                    let nb = m.div_ceil(8);
                    let (am, km) = (&mut s.acc[..nb], &mut s.keep[..nb]);
                    let gt = g * (1.0 - LIN_TOL) / f.m;
                    let lmax = sq.decide_gen(level, xs, urng, ub, am, km, gt);
                    if lmax > gt {
                        // (usually the first chunk of a block, g still 0) route by lmax instead:
                        // the decided lanes with hi > lmax are a subset of those routed so far
                        // (one more wide pass over the drawn u64s: same decisions, and the lanes
                        // with H >= floor(lmax 2^32), a superset of those with hi > lmax)
                        sq.decide_bits(level, xs, ub, am, km, lmax);
                    }
                    routed_lanes(km, m, &mut s.idx);
                    let k = s.idx.len();
                    if k > 0 {
                        for (j, &i) in s.idx.iter().enumerate() {
                            s.xr[j] = xs[i as usize];
                            s.ur[j] = crate::rng::u64_to_open01(ub[i as usize]);
                        }
                        lin_lanes(job, f, level, &s.xr[..k], &s.ur[..k], &mut s.pr, &mut s.qr, &mut s.fr, &mut acc, &mut g, &mut s.cand, &mut s.exact);
                        for (j, &i) in s.idx.iter().enumerate() {
                            let (b, sh) = (i as usize / 8, i % 8);
                            am[b] = (am[b] & !(1 << sh)) | s.fr[j] << sh;
                        }
                    }
                    sink.put_bits(level, xs, am, &mut s.stage)
                }
                None => {
                    let flags = &mut s.flags[..m];
                    let u = &mut s.u[..m];
                    urng.fill_f64(u);
                    lin_lanes(job, f, level, xs, u, &mut s.pr, &mut s.qr, flags, &mut acc, &mut g, &mut s.cand, &mut s.exact);
                    sink.put_flags(level, xs, &s.flags[..m], &mut s.stage)
                }
            };
            acc.proposals += m as u64;
            acc.accepted += kept as u64;
        }
        sink.flush(&s.stage);
    };
    FAST_SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut g) => body(&mut g),
        Err(_) => body(&mut FastScratch::new()),
    });
    acc.stats()
}

// ---------------------------------------------------------------------------------------------
// Entry points

/// Error-returning `sample_block` with an explicit chunk size (tests use small ones).
pub fn try_sample_block_chunked(
    job: &Job,
    seed: u64,
    block: u64,
    n: usize,
    out: &mut [f64],
    chunk: usize,
    level: Simd,
) -> Result<BlockStats, String> {
    try_sample_block_mode(job, seed, block, n, out, chunk, level, Mode::Squeeze)
}

/// How `try_sample_rows_mode` decides: all in log space, linear fast path without the
/// squeeze tables, or with them (when the job has them). All give the same result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Log,
    Linear,
    Squeeze,
}

/// A block of exactly `n` proposals, every accepted row kept (`out` holds n rows): the rows
/// sampler with room for every proposal and a budget of n.
#[allow(clippy::too_many_arguments)]
pub fn try_sample_block_mode(
    job: &Job,
    seed: u64,
    block: u64,
    n: usize,
    out: &mut [f64],
    chunk: usize,
    level: Simd,
    mode: Mode,
) -> Result<BlockStats, String> {
    try_sample_rows_mode(job, seed, block, n, n as u64, out, chunk, level, mode, true)
}

/// The first `rows` accepted rows of block `block`: proposals from `(seed, block, 0)` and
/// acceptance uniforms from `(seed, block, 1)`, drawn chunk by chunk until `rows` rows are
/// kept or `max_props` proposals are decided. `out` holds at least `rows` rows; nothing past
/// them is written. Stats count every proposal decided (the last chunk may accept rows past
/// `rows`, which are counted but not kept); fewer than `rows` rows were kept exactly when
/// stats[0] < rows. `stream_out`: a big block may go out with streaming stores (`Sink`).
#[allow(clippy::too_many_arguments)]
pub fn try_sample_rows_mode(
    job: &Job,
    seed: u64,
    block: u64,
    rows: usize,
    max_props: u64,
    out: &mut [f64],
    chunk: usize,
    level: Simd,
    mode: Mode,
    stream_out: bool,
) -> Result<BlockStats, String> {
    let d = job.d;
    if job.is_external() {
        return Err("sampleRows: the job's target is external; use proposeBlock and acceptBlock".into());
    }
    let need = rows.checked_mul(d).ok_or("sampleRows: rows * d overflows")?;
    if out.len() < need {
        return Err(format!("sampleRows: out holds {} numbers, needs rows * d = {need}", out.len()));
    }
    let level = level.min(simd());
    let mut sink = Sink::new(&mut out[..need], d, rows, level, stream_out);
    let mut prng = Stream::new(seed, block, 0);
    let mut urng = Stream::new(seed, block, 1);
    if let (Some(f), true) = (&job.fast, mode != Mode::Log) {
        return Ok(sample_rows_fast(job, f, &mut prng, &mut urng, &mut sink, max_props, chunk, level, mode == Mode::Squeeze));
    }
    let mut acc = Acc::new();
    // (chunk by chunk as the fast path, whose batches only bound the chunks here: ChunkSchedule)
    let mut plan = ChunkSchedule::new(chunk, prior_per_row(job));
    with_scratch(plan.chunk, d, |s| {
        while sink.left() > 0 && acc.proposals < max_props {
            let (m, _) = plan.next(&acc, sink.left(), max_props - acc.proposals);
            let xs = &mut s.xs[..m * d];
            job.proposal.sample(&mut prng, xs);
            let xs = &s.xs[..m * d];
            let logq = &mut s.logq[..m];
            let logp = &mut s.logp[..m];
            job.proposal.logpdf(xs, logq);
            target_logpdf(job, xs, logp);
            urng.fill_f64(&mut s.u[..m]);
            let (_, v, r, nf) = decide(level, &s.u[..m], logp, logq, job.log_m, &mut s.flags[..m]);
            acc.accepted += sink.put_flags(level, xs, &s.flags[..m], &mut s.stage) as u64;
            acc.violations += v;
            acc.non_finite += nf;
            acc.max_ratio = if r > acc.max_ratio { r } else { acc.max_ratio };
            acc.proposals += m as u64;
        }
        sink.flush(&s.stage);
    });
    Ok(acc.stats())
}

/// `try_sample_rows_mode` with the default chunk size, SIMD level and mode. `read_soon`: the
/// caller reads the rows right away (a ring slot another thread copies from), so they go out
/// with plain stores and stay in cache; otherwise a big block streams past the caches.
pub fn try_sample_rows(job: &Job, seed: u64, block: u64, rows: usize, max_props: u64, out: &mut [f64], read_soon: bool) -> Result<BlockStats, String> {
    try_sample_rows_mode(job, seed, block, rows, max_props, out, CHUNK, simd(), Mode::Squeeze, !read_soon)
}

pub fn try_sample_block(job: &Job, seed: u64, block: u64, n: usize, out: &mut [f64]) -> Result<BlockStats, String> {
    try_sample_block_chunked(job, seed, block, n, out, CHUNK, simd())
}

/// Stats returned by the infallible wrappers when the arguments are wrong (the N-API layer
/// should call the `try_` functions and throw instead).
pub const ERROR_STATS: BlockStats = [f64::NAN; 5];

pub fn sample_block(job: &Job, seed: u64, block: u64, n: usize, out: &mut [f64]) -> BlockStats {
    try_sample_block(job, seed, block, n, out).unwrap_or(ERROR_STATS)
}

/// Proposals (rows of d in `xs`, `xs.len() / d` of them) and their proposal log densities.
pub fn try_propose_block(job: &Job, seed: u64, block: u64, xs: &mut [f64], logq: &mut [f64]) -> Result<(), String> {
    let d = job.d;
    if xs.len() % d != 0 {
        return Err(format!("proposeBlock: xsOut length {} is not a multiple of d = {d}", xs.len()));
    }
    let n = xs.len() / d;
    if logq.len() != n {
        return Err(format!("proposeBlock: logqOut has {} numbers, expected {n} (xsOut.length / d)", logq.len()));
    }
    let mut prop_rng = Stream::new(seed, block, 0);
    job.proposal.sample(&mut prop_rng, xs);
    // logq in chunks, exactly like sample_block
    let mut start = 0;
    while start < n {
        let m = CHUNK.min(n - start);
        job.proposal.logpdf(&xs[start * d..(start + m) * d], &mut logq[start..start + m]);
        start += m;
    }
    Ok(())
}

pub fn propose_block(job: &Job, seed: u64, block: u64, xs: &mut [f64], logq: &mut [f64]) {
    let _ = try_propose_block(job, seed, block, xs, logq);
}

/// The accept half without a `Job` (d, logM and an optional support box given directly).
#[allow(clippy::too_many_arguments)]
pub fn accept_core(
    d: usize,
    log_m: f64,
    support: Option<(&[f64], &[f64])>,
    seed: u64,
    block: u64,
    xs: &[f64],
    logq: &[f64],
    logp: &[f64],
    out: &mut [f64],
    chunk: usize,
    level: Simd,
) -> Result<BlockStats, String> {
    let n = logq.len();
    if d == 0 {
        return Err("acceptBlock: d must be >= 1".into());
    }
    if logp.len() != n {
        return Err(format!("acceptBlock: logp has {} numbers, logq has {n}", logp.len()));
    }
    let need = n.checked_mul(d).ok_or("acceptBlock: size overflow")?;
    if xs.len() != need {
        return Err(format!("acceptBlock: xs has {} numbers, expected {n} rows x d = {d}", xs.len()));
    }
    if out.len() < need {
        return Err(format!("acceptBlock: out holds {} numbers, needs {need}", out.len()));
    }
    if let Some((lo, hi)) = support {
        if lo.len() != d || hi.len() != d {
            return Err("acceptBlock: support bounds must have d entries each".into());
        }
    }
    let chunk = chunk.max(1);
    let level = level.min(simd());
    let mut urng = Stream::new(seed, block, 1);
    let mut acc = Acc::new();
    let mut cursor = 0usize;
    with_scratch(chunk, 0, |s| {
        let mut start = 0;
        while start < n {
            let m = chunk.min(n - start);
            let xc = &xs[start * d..(start + m) * d];
            let lp = &mut s.logp[..m];
            lp.copy_from_slice(&logp[start..start + m]);
            if let Some((lo, hi)) = support {
                apply_box_raw(d, lo, hi, xc, lp);
            }
            urng.fill_f64(&mut s.u[..m]);
            let (a, v, r, nf) = decide(level, &s.u[..m], lp, &logq[start..start + m], log_m, &mut s.flags[..m]);
            acc.accepted += a;
            acc.violations += v;
            acc.non_finite += nf;
            acc.max_ratio = if r > acc.max_ratio { r } else { acc.max_ratio };
            acc.proposals += m as u64;
            cursor = compact_copy(level, xc, d, &s.flags[..m], out, cursor);
            start += m;
        }
    });
    Ok(acc.stats())
}

/// Error-returning `accept_block` with an explicit chunk size. `logp` is used as given, with
/// the support box applied (to a scratch copy; `logp` itself is not modified).
#[allow(clippy::too_many_arguments)]
pub fn try_accept_block_chunked(
    job: &Job,
    seed: u64,
    block: u64,
    xs: &[f64],
    logq: &[f64],
    logp: &[f64],
    out: &mut [f64],
    chunk: usize,
    level: Simd,
) -> Result<BlockStats, String> {
    let support = if job.has_box { Some((&job.lo[..], &job.hi[..])) } else { None };
    accept_core(job.d, job.log_m, support, seed, block, xs, logq, logp, out, chunk, level)
}

pub fn try_accept_block(
    job: &Job,
    seed: u64,
    block: u64,
    xs: &[f64],
    logq: &[f64],
    logp: &[f64],
    out: &mut [f64],
) -> Result<BlockStats, String> {
    try_accept_block_chunked(job, seed, block, xs, logq, logp, out, CHUNK, simd())
}

pub fn accept_block(
    job: &Job,
    seed: u64,
    block: u64,
    xs: &[f64],
    logq: &[f64],
    logp: &[f64],
    out: &mut [f64],
) -> BlockStats {
    try_accept_block(job, seed, block, xs, logq, logp, out).unwrap_or(ERROR_STATS)
}

/// "avx512" | "avx2" | "scalar": the widest path this CPU runs.
pub fn simd_level() -> &'static str {
    simd().name()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward reference of the accept half: one row at a time.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        d: usize,
        log_m: f64,
        support: Option<(&[f64], &[f64])>,
        seed: u64,
        block: u64,
        xs: &[f64],
        logq: &[f64],
        logp: &[f64],
    ) -> (Vec<f64>, BlockStats) {
        let mut u = Stream::new(seed, block, 1);
        let mut rows = Vec::new();
        let mut st = [0.0, 0.0, 0.0, f64::NEG_INFINITY, 0.0];
        for i in 0..logq.len() {
            let row = &xs[i * d..(i + 1) * d];
            let mut p = logp[i];
            if let Some((lo, hi)) = support {
                if !(0..d).all(|j| row[j] >= lo[j] && row[j] <= hi[j]) {
                    p = f64::NEG_INFINITY;
                }
            }
            let q = logq[i];
            let lnu = fastmath::ln(u.next_f64());
            st[1] += 1.0;
            if p - q > log_m + VIOLATION_SLACK {
                st[2] += 1.0;
            }
            if p - q > st[3] {
                st[3] = p - q;
            }
            if p.is_nan() || q.is_nan() {
                st[4] += 1.0;
            }
            if lnu < p - log_m - q {
                st[0] += 1.0;
                rows.extend_from_slice(row);
            }
        }
        (rows, st)
    }

    fn fake_block(d: usize, n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut r = Stream::new(seed, 99, 0);
        let xs: Vec<f64> = (0..n * d).map(|_| r.next_f64() * 4.0 - 2.0).collect();
        let mut logq = Vec::with_capacity(n);
        let mut logp = Vec::with_capacity(n);
        for i in 0..n {
            let q = -(xs[i * d] * xs[i * d]) / 8.0 - 1.0;
            let p = -(xs[i * d] * xs[i * d]) / 2.0 + 0.3 * (i % 5) as f64 - 0.5;
            // sprinkle special values
            let (p, q) = match i % 97 {
                3 => (f64::NAN, q),
                5 => (p, f64::NAN),
                7 => (f64::NEG_INFINITY, q),
                11 => (f64::INFINITY, q),
                13 => (p, f64::NEG_INFINITY),
                _ => (p, q),
            };
            logq.push(q);
            logp.push(p);
        }
        (xs, logq, logp)
    }

    fn same_stats(a: BlockStats, b: BlockStats) -> bool {
        a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn accept_core_matches_reference_any_chunk_and_path() {
        for &d in &[1usize, 3] {
            let n = 5000;
            let (xs, logq, logp) = fake_block(d, n, d as u64);
            let lo = vec![-1.5; d];
            let hi = vec![1.8; d];
            for support in [None, Some((&lo[..], &hi[..]))] {
                let (want_rows, want_st) = reference(d, 0.7, support, 5, 17, &xs, &logq, &logp);
                assert!(want_st[0] > 100.0 && want_st[0] < n as f64);
                for level in Simd::available() {
                    for &chunk in &[1usize, 3, 64, 1000, 4096, n, 10 * n] {
                        let mut out = vec![f64::NAN; n * d];
                        let st =
                            accept_core(d, 0.7, support, 5, 17, &xs, &logq, &logp, &mut out, chunk, level).unwrap();
                        assert!(same_stats(st, want_st), "d={d} chunk={chunk} {level:?}: {st:?} vs {want_st:?}");
                        let k = st[0] as usize;
                        assert_eq!(&out[..k * d], &want_rows[..], "d={d} chunk={chunk} {level:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn violations_max_ratio_nonfinite() {
        let logq = vec![0.0, 0.0, 0.0, 0.0, f64::NAN, 0.0];
        let logp = vec![1.0, 2.5, 3.0, f64::NAN, 0.0, -1.0];
        let xs = vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let mut out = vec![0.0; 6];
        let st = accept_core(1, 2.0, None, 1, 1, &xs, &logq, &logp, &mut out, 4096, simd()).unwrap();
        assert_eq!(st[1], 6.0);
        assert_eq!(st[2], 2.0); // 2.5 and 3.0 exceed logM = 2
        assert_eq!(st[3], 3.0);
        assert_eq!(st[4], 2.0);
        // logp - logM - logq >= 0 > ln u: rows 1 and 2 always accepted; NaN rows never
        let (rows, want) = reference(1, 2.0, None, 1, 1, &xs, &logq, &logp);
        assert!(same_stats(st, want));
        assert!(rows.contains(&0.2) && rows.contains(&0.3) && !rows.contains(&0.4) && !rows.contains(&0.5));
        // nothing: max ratio -inf
        let st = accept_core(1, 0.0, None, 1, 1, &[], &[], &[], &mut [], 16, simd()).unwrap();
        assert_eq!(st, [0.0, 0.0, 0.0, f64::NEG_INFINITY, 0.0]);
        let st = accept_core(1, 0.0, None, 1, 1, &[1.0], &[0.0], &[f64::NEG_INFINITY], &mut [0.0], 16, simd()).unwrap();
        assert_eq!(st, [0.0, 1.0, 0.0, f64::NEG_INFINITY, 0.0]);
    }

    #[test]
    fn accept_core_errors_do_not_panic() {
        let mut out = vec![0.0; 4];
        assert!(accept_core(1, 0.0, None, 1, 1, &[1.0, 2.0], &[0.0], &[0.0, 0.0], &mut out, 16, simd()).is_err());
        assert!(accept_core(2, 0.0, None, 1, 1, &[1.0, 2.0, 3.0], &[0.0], &[0.0], &mut out, 16, simd()).is_err());
        assert!(accept_core(1, 0.0, None, 1, 1, &[1.0; 5], &[0.0; 5], &[0.0; 5], &mut out, 16, simd()).is_err());
        assert!(accept_core(0, 0.0, None, 1, 1, &[], &[], &[], &mut out, 16, simd()).is_err());
    }

    #[test]
    fn compaction_by_bytes_and_bits_equals_filter() {
        for &d in &[1usize, 2, 5] {
            let n = 777;
            let mut r = Stream::new(3, 3, 0);
            let src: Vec<f64> = (0..n * d).map(|i| i as f64).collect();
            let flags: Vec<u8> = (0..n).map(|_| (r.next_f64() < 0.4) as u8).collect();
            let want: Vec<f64> = src.chunks(d).zip(&flags).filter(|(_, &f)| f == 1).flat_map(|(r, _)| r.to_vec()).collect();
            for level in Simd::available() {
                // in chunks of 100 rows, each appended at the cursor
                let mut a = vec![0.0; n * d];
                let mut ca = 0;
                for start in (0..n).step_by(100) {
                    let m = 100.min(n - start);
                    ca = compact_copy(level, &src[start * d..(start + m) * d], d, &flags[start..start + m], &mut a, ca);
                }
                assert_eq!(&a[..ca * d], &want[..]);
                if d == 1 {
                    let mut bits = vec![0u8; n.div_ceil(8)];
                    for (i, &f) in flags.iter().enumerate() {
                        bits[i / 8] |= f << (i % 8);
                    }
                    let mut b = vec![0.0; n];
                    // SAFETY: src, bits and b cover n lanes; b is another buffer
                    let cb = unsafe { compact1(level, src.as_ptr(), b.as_mut_ptr(), n, BitFlags(bits.as_ptr())) };
                    assert_eq!(&b[..cb], &want[..]);
                }
            }
        }
    }

    // ---- full jobs (need crate::dist) ----------------------------------------------------

    fn job_buf(d: usize, log_m: f64, kind: f64, target: &[f64], proposal: &[f64], lo: &[f64], hi: &[f64]) -> Vec<f64> {
        let mut v = vec![1.0, d as f64, log_m, kind, target.len() as f64];
        v.extend_from_slice(target);
        v.push(proposal.len() as f64);
        v.extend_from_slice(proposal);
        v.extend_from_slice(lo);
        v.extend_from_slice(hi);
        v
    }

    /// Beta(2,5) target from Uniform(0,1); M = 2.4576 (mode 0.2: 30 * 0.2 * 0.8^4).
    fn beta_job() -> Vec<f64> {
        job_buf(1, 2.4576f64.ln(), 0.0, &[6.0, 2.0, 5.0], &[1.0, 0.0, 1.0], &[0.0], &[1.0])
    }

    /// The same target as an expression: ln 30 + ln x + 4 ln(1 - x).
    fn beta_expr_job() -> Vec<f64> {
        let ln30 = 30f64.ln();
        let body = [1.0, ln30, 2.0, 0.0, 22.0, 10.0, 1.0, 4.0, 2.0, 0.0, 20.0, 23.0, 12.0, 10.0];
        let code = {
            let mut c = vec![1.0, 1.0, 3.0, 10.0];
            c.extend_from_slice(&body);
            c
        };
        job_buf(1, 2.4576f64.ln(), 1.0, &code, &[1.0, 0.0, 1.0], &[0.0], &[1.0])
    }

    #[test]
    fn job_beta_chunk_independent_and_propose_accept_identical() {
        for buf in [beta_job(), beta_expr_job()] {
            let job = decode_job(&buf).unwrap();
            assert_eq!(job.dim(), 1);
            let n = 20_000;
            let mut base = vec![0.0; n];
            let st = try_sample_block(&job, 11, 3, n, &mut base).unwrap();
            let rate = st[0] / st[1];
            assert!((rate - 1.0 / 2.4576).abs() < 0.02, "acceptance {rate}");
            assert_eq!(st[2], 0.0);
            assert!(st[3] <= 2.4576f64.ln() + 1e-12 && st[3] > 2.4576f64.ln() - 0.01);
            assert_eq!(st[4], 0.0);
            let k = st[0] as usize;
            let mean = base[..k].iter().sum::<f64>() / k as f64;
            assert!((mean - 2.0 / 7.0).abs() < 0.01, "mean {mean}");
            for level in Simd::available() {
                for &chunk in &[1usize, 7, 1000, 4096, n] {
                    let mut out = vec![0.0; n];
                    let st2 = try_sample_block_chunked(&job, 11, 3, n, &mut out, chunk, level).unwrap();
                    assert!(same_stats(st, st2));
                    assert_eq!(&out[..k], &base[..k]);
                }
            }
            // propose + (target logpdf) + accept == sample
            let mut xs = vec![0.0; n];
            let mut logq = vec![0.0; n];
            try_propose_block(&job, 11, 3, &mut xs, &mut logq).unwrap();
            let mut logp = vec![0.0; n];
            target_logpdf(&job, &xs, &mut logp);
            let mut out = vec![0.0; n];
            let st3 = try_accept_block(&job, 11, 3, &xs, &logq, &logp, &mut out).unwrap();
            assert!(same_stats(st, st3));
            assert_eq!(&out[..k], &base[..k]);
            // other blocks differ
            let mut other = vec![0.0; n];
            try_sample_block(&job, 11, 4, n, &mut other).unwrap();
            assert_ne!(&other[..100], &base[..100]);
        }
    }

    /// Same job through the TypeScript fallback (dist/sampling/js-kernel.js, seed 11, block 3,
    /// 20000 proposals) gave stats [8113, 20000, 0, 0.89918523974254xx, 0] and rows
    /// out[0] = 0.39588676328461936, out[1] = 0.1144685315202093, out[8112] = 0.19450413855289483.
    #[test]
    fn job_matches_typescript_fallback() {
        for buf in [beta_job(), beta_expr_job()] {
            let job = decode_job(&buf).unwrap();
            let mut out = vec![0.0; 20000];
            let st = try_sample_block(&job, 11, 3, 20000, &mut out).unwrap();
            assert_eq!(&st[..3], &[8113.0, 20000.0, 0.0]);
            assert!((st[3] - 0.8991852397425415).abs() < 1e-14);
            assert_eq!(st[4], 0.0);
            assert_eq!(out[0], 0.39588676328461936);
            assert_eq!(out[1], 0.1144685315202093);
            assert_eq!(out[8112], 0.19450413855289483);
        }
    }

    #[test]
    fn job_violations_when_m_too_small() {
        // logM = ln 2 < ln 2.4576: the ratio exceeds M near the mode
        let mut buf = beta_job();
        buf[2] = 2f64.ln();
        let job = decode_job(&buf).unwrap();
        let n = 10_000;
        let mut out = vec![0.0; n];
        let st = try_sample_block(&job, 1, 0, n, &mut out).unwrap();
        // P(30 x (1-x)^4 > 2) for x ~ U(0,1)
        assert!(st[2] > 0.0 && st[2] < n as f64);
        assert!(st[3] > 2f64.ln());
        // count by hand from propose + logpdf
        let mut xs = vec![0.0; n];
        let mut logq = vec![0.0; n];
        try_propose_block(&job, 1, 0, &mut xs, &mut logq).unwrap();
        let mut logp = vec![0.0; n];
        target_logpdf(&job, &xs, &mut logp);
        let v = (0..n).filter(|&i| logp[i] - logq[i] > 2f64.ln()).count();
        assert_eq!(st[2], v as f64);
    }

    #[test]
    fn job_multivariate_with_box() {
        // 2-D: product of normals target truncated by the box [-1, 2] x [0, inf), normal proposal
        let target = [22.0, 2.0, 2.0, 0.0, 1.0, 2.0, 0.5, 1.0];
        let proposal = [23.0, 2.0, 0.0, 0.5, 2.0, 2.0];
        let lm = 3.0;
        let buf = job_buf(2, lm, 0.0, &target, &proposal, &[-1.0, 0.0], &[2.0, f64::INFINITY]);
        let job = decode_job(&buf).unwrap();
        let n = 5000;
        let mut base = vec![0.0; 2 * n];
        let st = try_sample_block(&job, 2, 2, n, &mut base).unwrap();
        let k = st[0] as usize;
        assert!(k > 0);
        for r in base[..2 * k].chunks(2) {
            assert!(r[0] >= -1.0 && r[0] <= 2.0 && r[1] >= 0.0);
        }
        let mut out = vec![0.0; 2 * n];
        let st2 = try_sample_block_chunked(&job, 2, 2, n, &mut out, 333, Simd::Scalar).unwrap();
        assert!(same_stats(st, st2));
        assert_eq!(&out[..2 * k], &base[..2 * k]);
        let mut xs = vec![0.0; 2 * n];
        let mut logq = vec![0.0; n];
        try_propose_block(&job, 2, 2, &mut xs, &mut logq).unwrap();
        // external-style: raw (unboxed) target density; accept_block applies the box itself
        let mut logp = vec![0.0; n];
        match job.target() {
            Target::Dist(t) => t.logpdf(&xs, &mut logp),
            _ => unreachable!(),
        }
        let st3 = try_accept_block(&job, 2, 2, &xs, &logq, &logp, &mut out).unwrap();
        assert!(same_stats(st, st3));
        assert_eq!(&out[..2 * k], &base[..2 * k]);
    }

    #[test]
    fn decode_job_errors() {
        let ok = beta_job();
        assert!(decode_job(&ok).is_ok());
        let check = |v: Vec<f64>, what: &str| {
            let e = decode_job(&v).err().unwrap_or_else(|| panic!("accepted bad job ({what})"));
            assert!(e.contains(what), "{e} should mention {what}");
        };
        let mut v = ok.clone();
        v[0] = 2.0;
        check(v, "version");
        let mut v = ok.clone();
        v[1] = 0.0;
        check(v, "dimension");
        let mut v = ok.clone();
        v[2] = f64::INFINITY;
        check(v, "logM");
        let mut v = ok.clone();
        v[2] = f64::NAN;
        check(v, "logM");
        let mut v = ok.clone();
        v[3] = 3.0;
        check(v, "target kind");
        let mut v = ok.clone();
        v[4] = 100.0;
        check(v, "target program");
        let mut v = ok.clone();
        v.push(0.0);
        check(v, "length");
        let mut v = ok.clone();
        v.pop();
        check(v, "length");
        let mut v = ok.clone();
        let n = v.len();
        v[n - 2] = 2.0; // lo > hi
        check(v, "bounds");
        let mut v = ok.clone();
        v[n - 1] = f64::NAN;
        check(v, "bounds");
        // 2-D proposal for a 1-D job
        check(job_buf(1, 0.0, 0.0, &[6.0, 2.0, 5.0], &[23.0, 2.0, 0.0, 0.0, 1.0, 1.0], &[0.0], &[1.0]), "dimension");
        // bad target program
        check(job_buf(1, 0.0, 0.0, &[99.0, 2.0, 5.0], &[1.0, 0.0, 1.0], &[0.0], &[1.0]), "target");
        // bad proposal program
        check(job_buf(1, 0.0, 0.0, &[6.0, 2.0, 5.0], &[99.0, 0.0, 1.0], &[0.0], &[1.0]), "proposal");
        // expression of the wrong dimension
        check(job_buf(1, 0.0, 1.0, &[1.0, 2.0, 1.0, 1.0, 2.0, 1.0], &[1.0, 0.0, 1.0], &[0.0], &[1.0]), "dimension");
        // external with a program
        check(job_buf(1, 0.0, 2.0, &[6.0, 2.0, 5.0], &[1.0, 0.0, 1.0], &[0.0], &[1.0]), "external");
        assert!(decode_job(&[]).is_err());
        assert!(decode_job(&[1.0, 1.0, 0.0, 0.0, 0.0, 0.0]).is_err());
        // external job: sample_block refuses, propose/accept work
        let ext = decode_job(&job_buf(1, 2.4576f64.ln(), 2.0, &[], &[1.0, 0.0, 1.0], &[0.0], &[1.0])).unwrap();
        let mut out = vec![0.0; 10];
        assert!(try_sample_block(&ext, 1, 1, 10, &mut out).is_err());
        assert!(sample_block(&ext, 1, 1, 10, &mut out)[0].is_nan());
        assert!(try_sample_block(&decode_job(&ok).unwrap(), 1, 1, 11, &mut out).is_err());
    }

    /// Linear-density fast path: same rows and bit-identical stats as the log-space path, for
    /// any chunk size and SIMD level, and propose + accept (log space) gives the same again.
    #[test]
    fn fast_path_equals_log_space() {
        let inf = f64::INFINITY;
        // (target, proposal, logM, box lo, box hi)
        let cases: Vec<(Vec<f64>, Vec<f64>, f64, f64, f64)> = vec![
            (vec![6.0, 2.0, 5.0], vec![1.0, 0.0, 1.0], 2.4576f64.ln(), 0.0, 1.0),
            (vec![6.0, 2.0, 5.0], vec![1.0, 0.0, 1.0], 2f64.ln(), 0.0, 1.0), // M too small
            (vec![6.0, 3.0, 3.0], vec![1.0, -0.5, 1.5], 1.0, 0.2, 0.9),      // box, q > 0 outside
            (vec![20.0, 0.5, 3.0, 2.0, 0.0, 1.0], vec![2.0, 0.0, 1.5], 1.5, -inf, inf),
            (vec![21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 1.0, 2.0, 2.0, 0.5], vec![8.0, 0.0, 2.0], 1.6, -inf, inf),
            (vec![5.0, 3.0, 2.0], vec![4.0, 0.5], 1.2, -inf, inf),
            (vec![9.0, 0.5, 1.0], vec![10.0, 0.0, 1.0], 0.9, -inf, inf),
            // far tails: the normal target underflows where the wide Cauchy proposal reaches
            (vec![2.0, 0.0, 1.0], vec![8.0, 0.0, 100.0], 6.0, -inf, inf),
            (vec![20.0, 1.0, 4.0, 4.0, 1.0], vec![4.0, 0.7], 1.0, -inf, inf),
            (vec![21.0, 2.0, 0.5, 0.5, 20.0, 0.0, 1.0, 1.0, 0.0, 1.0, 6.0, 1.0, 1.0], vec![1.0, -1.0, 2.0], 0.8, -inf, inf),
            // bench/tasks.js T2 and T3 (tight M), T2 with M too small, and a box cutting T2
            (t2_target(), vec![2.0, 0.0, 3.0], (2.4171f64 * 1.001).ln(), -inf, inf),
            (t2_target(), vec![2.0, 0.0, 3.0], 2.3f64.ln(), -inf, inf),
            (t2_target(), vec![2.0, 0.0, 3.0], (2.4171f64 * 1.001).ln(), -1.0, 2.5),
            (vec![20.0, 2.0, inf, 2.0, 0.0, 1.0], vec![20.0, 2.0, inf, 4.0, T3_LAM], (1.07107053797f64 * 1.0001).ln(), -inf, inf),
            // gamma from a shifted Laplace, logistic from Cauchy
            (vec![5.0, 4.0, 1.5], vec![9.0, 2.5, 2.0], 1.1, -inf, inf),
            (vec![10.0, 0.5, 0.8], vec![8.0, 0.0, 1.0], 0.75, -inf, inf),
        ];
        for (ci, (t, q, lm, lo, hi)) in cases.iter().enumerate() {
            let job = decode_job_opts(&job_buf(1, *lm, 0.0, t, q, &[*lo], &[*hi]), true).unwrap();
            assert!(job.has_fast_path(), "case {ci} has no fast path");
            // every case but the far-tail Cauchy one (cells far too wide) gets squeeze tables
            assert!(job.has_squeeze() || ci == 7, "case {ci} has no squeeze");
            let n = 30_000;
            for block in 0..3 {
                let mut want = vec![0.0; n];
                let ws = try_sample_block_mode(&job, 7, block, n, &mut want, CHUNK, simd(), Mode::Log).unwrap();
                let k = ws[0] as usize;
                assert!(k > 0, "case {ci}");
                for level in Simd::available() {
                    for &chunk in &[1usize, 7, 1000, 4096, n] {
                        for mode in [Mode::Linear, Mode::Squeeze] {
                            let mut out = vec![0.0; n];
                            let st = try_sample_block_mode(&job, 7, block, n, &mut out, chunk, level, mode).unwrap();
                            assert!(same_stats(st, ws), "case {ci} chunk {chunk} {level:?} {mode:?}: {st:?} vs {ws:?}");
                            assert_eq!(&out[..k], &want[..k], "case {ci} chunk {chunk} {level:?} {mode:?}");
                        }
                    }
                }
                let mut xs = vec![0.0; n];
                let mut logq = vec![0.0; n];
                try_propose_block(&job, 7, block, &mut xs, &mut logq).unwrap();
                let mut logp = vec![0.0; n];
                target_logpdf(&job, &xs, &mut logp);
                let mut out = vec![0.0; n];
                let st = try_accept_block(&job, 7, block, &xs, &logq, &logp, &mut out).unwrap();
                assert!(same_stats(st, ws), "case {ci} propose+accept");
                assert_eq!(&out[..k], &want[..k]);
            }
        }
        // not cheap: log space only (expression target, non-integer beta, 2-D)
        assert!(!decode_job(&beta_expr_job()).unwrap().has_fast_path());
        let j = job_buf(1, 1.0, 0.0, &[6.0, 2.5, 5.0], &[1.0, 0.0, 1.0], &[0.0], &[1.0]);
        assert!(!decode_job(&j).unwrap().has_fast_path());
        // cost model: beta/uniform goes linear, truncated normal / truncated exponential stays
        assert!(decode_job(&beta_job()).unwrap().has_fast_path());
        let j = job_buf(1, 0.1, 0.0, &[20.0, 2.0, inf, 2.0, 0.0, 1.0], &[20.0, 2.0, inf, 4.0, 2.0], &[-inf], &[inf]);
        assert!(!decode_job(&j).unwrap().has_fast_path());
        assert!(decode_job_opts(&j, true).unwrap().has_fast_path());
    }

    /// sample_rows keeps the first `rows` accepted rows of the block's proposal sequence (the
    /// prefix of a big fixed-proposal block), writes nothing past them, stops at its budget,
    /// and does not depend on chunk size, SIMD level or decision mode.
    #[test]
    fn decoded_jobs_are_reused_once_final() {
        let inf = f64::INFINITY;
        let t3 = |m: f64| job_buf(1, m.ln(), 0.0, &[20.0, 2.0, inf, 2.0, 0.0, 1.0], &[20.0, 2.0, inf, 4.0, T3_LAM], &[-inf], &[inf]);
        let buf = t3(1.0712);
        // (a fresh thread) the first call leaves the squeeze tables for the next: not final, not kept
        let first = decode_job_cached(&buf, Work::default()).unwrap();
        assert!(!first.has_squeeze());
        let second = decode_job_cached(&buf, Work::default()).unwrap();
        assert!(second.has_squeeze() && !Rc::ptr_eq(&first, &second));
        // final: the same job from now on, for the same numbers bit for bit
        assert!(Rc::ptr_eq(&second, &decode_job_cached(&buf, Work::default()).unwrap()));
        let other = decode_job_cached(&t3(1.5), Work::default()).unwrap();
        assert!(!Rc::ptr_eq(&second, &other) && other.log_m() == 1.5f64.ln());
        let mut neg0 = buf.clone();
        let lo = neg0.len() - 2;
        neg0[lo] = -0.0;
        let mut pos0 = buf.clone();
        pos0[lo] = 0.0;
        let (a, b) = (decode_job_cached(&neg0, Work::default()).unwrap(), decode_job_cached(&pos0, Work::default()).unwrap());
        assert!(!Rc::ptr_eq(&a, &b));
        // a bad buffer is still an error, whatever was decoded before
        let mut bad = buf.clone();
        bad[0] = 99.0;
        assert!(decode_job_cached(&bad, Work::default()).is_err());
    }

    #[test]
    fn first_batch_follows_the_prior() {
        let inf = f64::INFINITY;
        let t3 = |m: f64| job_buf(1, m.ln(), 0.0, &[20.0, 2.0, inf, 2.0, 0.0, 1.0], &[20.0, 2.0, inf, 4.0, T3_LAM], &[-inf], &[inf]);
        // a distribution target: M rounded up to the next 2^(j/16), at least 1; exact at powers of 2
        for (m, want) in [(0.5, 1.0), (1.0, 1.0), (2.0, 2.0), (4.0, 4.0), (1.0e9, 65536.0)] {
            assert_eq!(prior_per_row(&decode_job(&t3(m)).unwrap()), want, "M = {m}");
        }
        for m in [1.0001, 1.07107053797 * 1.0001, 2.4576, 3.3, 1000.0] {
            let p = prior_per_row(&decode_job(&t3(m)).unwrap());
            assert!(p >= m && p <= m * 1.0443, "M = {m}: {p}");
        }
        // an expression's normalizer is unknown: 2 proposals a row
        assert_eq!(prior_per_row(&decode_job(&beta_expr_job()).unwrap()), 2.0);
        // T3's last block of a 10^6-row run (16960 rows, acceptance 0.93) opens a batch of about
        // what it needs, not a whole one: 1.09 x 16960 + 64 = 18559 (the old rule drew 32768)
        let job = decode_job(&t3(1.07107053797 * 1.0001)).unwrap();
        let (m, batch) = ChunkSchedule::new(CHUNK, prior_per_row(&job)).next(&Acc::new(), 16960, u64::MAX);
        assert_eq!((m, batch), (FAST_CHUNK, Some(18559)));
        // and it takes one batch: the proposals it decides stay within it
        let mut out = vec![0.0; 16960];
        let st = try_sample_rows(&job, 7, 3, 16960, u64::MAX, &mut out, false).unwrap();
        assert!(st[0] >= 16960.0 && st[1] <= 18559.0, "{st:?}");
    }

    #[test]
    fn sample_rows_is_the_prefix_of_the_block() {
        let inf = f64::INFINITY;
        let jobs: Vec<(&str, Vec<f64>)> = vec![
            ("T1", beta_job()),
            ("T1 expr", beta_expr_job()),
            ("T2", job_buf(1, (2.4171f64 * 1.001).ln(), 0.0, &t2_target(), &[2.0, 0.0, 3.0], &[-inf], &[inf])),
            ("T3", job_buf(1, (1.07107053797f64 * 1.0001).ln(), 0.0, &[20.0, 2.0, inf, 2.0, 0.0, 1.0], &[20.0, 2.0, inf, 4.0, T3_LAM], &[-inf], &[inf])),
            ("2-D box", job_buf(2, 3.0, 0.0, &[22.0, 2.0, 2.0, 0.0, 1.0, 2.0, 0.5, 1.0], &[23.0, 2.0, 0.0, 0.5, 2.0, 2.0], &[-1.0, 0.0], &[2.0, inf])),
        ];
        const SENTINEL: f64 = -12345.5;
        for (name, buf) in &jobs {
            for force in [false, true] {
                let job = decode_job_opts(buf, force).unwrap();
                let d = job.dim();
                let n = 150_000;
                let mut whole = vec![0.0; n * d];
                let ws = try_sample_block(&job, 9, 4, n, &mut whole).unwrap();
                let k = ws[0] as usize;
                assert!(k > 3000, "{name}: {k} accepted");
                // 20000 rows (160 KB at d = 1) go out with streaming stores, here into a
                // buffer one double off a line boundary
                for &rows in &[1usize, 7, 1000, 2999, 20000] {
                    if rows > k {
                        continue;
                    }
                    let modes: &[Mode] = if job.has_fast_path() { &[Mode::Log, Mode::Linear, Mode::Squeeze] } else { &[Mode::Log] };
                    for level in Simd::available() {
                        // every mode decides the same proposals (one ChunkSchedule), and any
                        // chunk of FAST_CHUNK or more is the same schedule: the same stats
                        let mut same: Option<BlockStats> = None;
                        for &chunk in &[1usize, 13, 1024, CHUNK] {
                            for &mode in modes {
                                let what = format!("{name} force {force} rows {rows} chunk {chunk} {level:?} {mode:?}");
                                let mut buf = vec![SENTINEL; (rows + 50) * d + 1];
                                let out = &mut buf[1..];
                                let st = try_sample_rows_mode(&job, 9, 4, rows, u64::MAX, out, chunk, level, mode, true).unwrap();
                                assert_eq!(&out[..rows * d], &whole[..rows * d], "{what}");
                                assert!(out[rows * d..].iter().all(|&v| v == SENTINEL) && buf[0] == SENTINEL, "{what}: wrote past its rows");
                                assert!(st[0] as usize >= rows && st[1] >= rows as f64, "{what}: {st:?}");
                                // the last chunk stops near the row wanted, not a whole chunk past it
                                let rate = ws[0] / ws[1];
                                let near = ((rows as f64 / rate) * 1.2 + 300.0).max(2.0 * rows as f64 + 64.0);
                                assert!(rows < 1000 || st[1] <= near, "{what}: {st:?} proposals for {rows} rows at rate {rate}");
                                if chunk >= FAST_CHUNK {
                                    let want = *same.get_or_insert(st);
                                    assert_eq!(st.map(f64::to_bits), want.map(f64::to_bits), "{what}: stats differ from another mode or chunk");
                                }
                            }
                        }
                    }
                }
                // read soon (plain stores for a big block): the same rows
                if k >= 20000 {
                    let mut out = vec![SENTINEL; 20050 * d];
                    try_sample_rows(&job, 9, 4, 20000, u64::MAX, &mut out, true).unwrap();
                    assert_eq!(&out[..20000 * d], &whole[..20000 * d], "{name} read soon");
                    assert!(out[20000 * d..].iter().all(|&v| v == SENTINEL), "{name} read soon: wrote past its rows");
                }
                // a budget: at most that many proposals, and then fewer rows than asked
                let mut out = vec![SENTINEL; 3100 * d];
                let st = try_sample_rows(&job, 9, 4, 3000, 500, &mut out, false).unwrap();
                assert_eq!(st[1], 500.0, "{name}");
                let kept = st[0] as usize;
                assert!(kept < 3000);
                assert_eq!(&out[..kept * d], &whole[..kept * d], "{name} budget");
                assert!(out[3000 * d..].iter().all(|&v| v == SENTINEL), "{name} budget: wrote past its rows");
            }
        }
    }

    const T3_LAM: f64 = 2.414213562373095;

    fn t2_target() -> Vec<f64> {
        vec![21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0]
    }

    /// (target, proposal, logM, box) pairs for the squeeze tests: T1, T2, T3 of bench/tasks.js
    /// and variations (boxes, truncations, mixtures with exponentials, M too small).
    fn squeeze_pairs() -> Vec<(Vec<f64>, Vec<f64>, f64, f64, f64)> {
        let inf = f64::INFINITY;
        vec![
            (vec![6.0, 2.0, 5.0], vec![1.0, 0.0, 1.0], 2.4576f64.ln(), 0.0, 1.0),
            (t2_target(), vec![2.0, 0.0, 3.0], (2.4171f64 * 1.001).ln(), -inf, inf),
            (vec![20.0, 2.0, inf, 2.0, 0.0, 1.0], vec![20.0, 2.0, inf, 4.0, T3_LAM], (1.07107053797f64 * 1.0001).ln(), -inf, inf),
            (t2_target(), vec![10.0, 0.0, 2.0], 1.5, -0.5, 3.0),
            (vec![6.0, 3.0, 3.0], vec![1.0, -0.5, 1.5], 1.0, 0.2, 0.9),
            (vec![21.0, 2.0, 0.5, 0.5, 20.0, 0.0, 1.0, 1.0, 0.0, 1.0, 6.0, 1.0, 1.0], vec![1.0, -1.0, 2.0], 0.8, -inf, inf),
            (vec![5.0, 3.0, 2.0], vec![4.0, 0.5], 1.2, -inf, inf),
            (vec![21.0, 2.0, 0.4, 0.6, 6.0, 2.0, 5.0, 5.0, 3.0, 2.0], vec![4.0, 1.0], 1.3, -inf, inf),
            (t2_target(), vec![2.0, 0.0, 3.0], 2.0f64.ln(), -inf, inf),
        ]
    }

    /// Table soundness: at dense random points of the table's range (and at cell edges), the
    /// exact ratio exp(logp - logM - logq) (log-space densities, box applied) lies in [lo, hi]
    /// of the point's cell.
    #[test]
    fn squeeze_tables_are_sound() {
        for (ci, (t, q, lm, lo, hi)) in squeeze_pairs().into_iter().enumerate() {
            let job = decode_job_opts(&job_buf(1, lm, 0.0, &t, &q, &[lo], &[hi]), true).unwrap();
            let sq = job.fast.as_ref().and_then(|f| f.sq.clone()).unwrap_or_else(|| panic!("pair {ci}: no squeeze"));
            let (a, b) = sq.range();
            let n = 400_000;
            let mut r = Stream::new(ci as u64, 5, 0);
            let mut xs: Vec<f64> = (0..n).map(|_| a + (b - a) * r.next_f64()).collect();
            let w = (b - a) / sq.cells() as f64;
            for c in 0..sq.cells() {
                let e = a + c as f64 * w;
                xs.extend_from_slice(&[e, f64::from_bits(e.to_bits() + 1), f64::from_bits(e.to_bits().wrapping_sub(1))]);
            }
            let mut lp = vec![0.0; xs.len()];
            let mut lq = vec![0.0; xs.len()];
            target_logpdf(&job, &xs, &mut lp);
            job.proposal.logpdf(&xs, &mut lq);
            let mut decided = 0;
            for i in 0..xs.len() {
                let Some(c) = sq.cell_of(xs[i]) else { continue };
                let (l, h) = sq.bounds(c);
                if h == f64::INFINITY {
                    continue; // open cell
                }
                let ratio = (lp[i] - lm - lq[i]).exp();
                assert!(l <= ratio && ratio <= h, "pair {ci} x={} cell {c}: {ratio} not in [{l}, {h}]", xs[i]);
                assert!(h <= 1.0);
                decided += 1;
            }
            assert!(decided > n / 2, "pair {ci}: only {decided} points in decided cells");
        }
    }

    /// The squeeze's decided lanes equal the exact log-space decisions, over millions of
    /// proposals per pair and every SIMD level; the routed lanes are exactly the undecided
    /// ones plus the decided ones whose cell's hi exceeds the threshold.
    #[test]
    fn squeeze_decisions_equal_exact() {
        for (ci, (t, q, lm, lo, hi)) in squeeze_pairs().into_iter().enumerate() {
            let job = decode_job_opts(&job_buf(1, lm, 0.0, &t, &q, &[lo], &[hi]), true).unwrap();
            let sq = job.fast.as_ref().and_then(|f| f.sq.clone()).unwrap();
            let n = 1 << 17;
            let mut undecided = 0usize;
            let mut total = 0usize;
            for block in 0..16u64 {
                let mut xs = vec![0.0; n];
                job.proposal.sample(&mut Stream::new(3, block, 0), &mut xs);
                let mut u = vec![0.0; n];
                Stream::new(3, block, 1).fill_f64(&mut u);
                let mut lp = vec![0.0; n];
                let mut lq = vec![0.0; n];
                target_logpdf(&job, &xs, &mut lp);
                job.proposal.logpdf(&xs, &mut lq);
                let thr = 0.5;
                let mut want_flags = vec![0u8; n];
                let mut want_idx = Vec::new();
                for i in 0..n {
                    let exact = fastmath::ln_normal(u[i]) < lp[i] - lm - lq[i];
                    let (f, key) = match sq.cell_of(xs[i]) {
                        Some(c) => {
                            let (l, h) = sq.bounds(c);
                            if u[i] < l {
                                (1u8, h)
                            } else if u[i] >= h {
                                (0, h)
                            } else {
                                (2, f64::INFINITY)
                            }
                        }
                        None => (2, f64::INFINITY),
                    };
                    if f != 2 {
                        assert_eq!(f == 1, exact, "pair {ci} x={} u={}", xs[i], u[i]);
                        assert!(!(lp[i] - lq[i] > lm) && !lp[i].is_nan() && !lq[i].is_nan());
                    }
                    want_flags[i] = f;
                    if key > thr {
                        want_idx.push(i as u32);
                    }
                }
                undecided += want_flags.iter().filter(|&&f| f == 2).count();
                total += n;
                for level in Simd::available() {
                    let mut flags = vec![9u8; n];
                    let mut idx = Vec::new();
                    let lmax = sq.decide(level, &xs, &u, &mut flags, thr, &mut idx);
                    assert_eq!(flags, want_flags, "pair {ci} {level:?}");
                    assert_eq!(idx, want_idx, "pair {ci} {level:?}");
                    assert!(lmax >= 0.0 && lmax < 1.0);
                }
                // decide_bits (integer thresholds on the raw u64s, bit masks): every lane it
                // keeps is decided as above, it leaves at most a handful more undecided, it
                // routes a superset, and every SIMD level gives the same masks and lmax
                let mut ub = vec![0u64; n];
                Stream::new(3, block, 1).fill_u64(&mut ub);
                assert!(ub.iter().zip(&u).all(|(&b, &v)| crate::rng::u64_to_open01(b) == v));
                let bit = |v: &[u8], i: usize| (v[i / 8] >> (i % 8)) & 1 == 1;
                let mut first: Option<(Vec<u8>, Vec<u8>, f64)> = None;
                for level in Simd::available() {
                    let (mut am, mut km) = (vec![0x5Au8; n / 8], vec![0xA5u8; n / 8]);
                    let lmax = sq.decide_bits(level, &xs, &ub, &mut am, &mut km, thr);
                    let mut extra = 0;
                    let mut routed = Vec::new();
                    for i in 0..n {
                        if bit(&km, i) {
                            assert!(want_flags[i] != 2 && bit(&am, i) == (want_flags[i] == 1), "pair {ci} {level:?} lane {i}");
                        } else {
                            routed.push(i as u32);
                            extra += (want_flags[i] != 2 && !(sq.bounds(sq.cell_of(xs[i]).unwrap()).1 > thr - 1e-9)) as usize;
                        }
                    }
                    assert!(extra <= 2, "pair {ci} {level:?}: {extra} more undecided");
                    let mut ix = Vec::new();
                    routed_lanes(&km, n, &mut ix);
                    assert_eq!(ix, routed);
                    let mut r = vec![false; n];
                    for &i in &routed {
                        r[i as usize] = true;
                    }
                    assert!(want_idx.iter().all(|&i| r[i as usize]), "pair {ci} {level:?}");
                    assert!(lmax >= 0.0 && lmax < 1.0);
                    // lmax is the largest L of a lane in a cell: at most that lane's lo
                    let top = (0..n).filter_map(|i| sq.cell_of(xs[i]).map(|c| sq.bounds(c).0)).fold(0.0, f64::max);
                    assert!(lmax <= top && lmax > top - 2.4e-10, "pair {ci} {level:?}: lmax {lmax} top lo {top}");
                    let am: Vec<u8> = (0..n).map(|i| (bit(&km, i) && bit(&am, i)) as u8).collect();
                    match &first {
                        None => first = Some((am, km, lmax)),
                        Some((a0, k0, l0)) => assert!(*a0 == am && *k0 == km && *l0 == lmax, "pair {ci} {level:?}"),
                    }
                }
                // decide_gen (uniforms drawn inside the loop) = fill_u64 + decide_bits, also
                // mid-buffer and for odd lengths, and leaves the stream at the same place
                if block < 2 {
                    for skip in [0usize, 3, 8, 256] {
                        for level in Simd::available() {
                            let mut r1 = Stream::new(5, block, 1);
                            let mut r2 = Stream::new(5, block, 1);
                            for _ in 0..skip {
                                assert_eq!(r1.next_u64(), r2.next_u64());
                            }
                            let mut at = 0;
                            for len in [1000usize, 7, 1024, 1, 333, 4096, 9, 4096] {
                                let xs = &xs[at..at + len];
                                at += len;
                                let nb = len.div_ceil(8);
                                let (mut u1, mut u2) = (vec![0u64; len], vec![0u64; len]);
                                let (mut a1, mut a2) = (vec![0x5Au8; nb], vec![0xA5u8; nb]);
                                let (mut k1, mut k2) = (vec![0x33u8; nb], vec![0xCCu8; nb]);
                                r1.fill_u64(&mut u1);
                                let l1 = sq.decide_bits(level, xs, &u1, &mut a1, &mut k1, thr);
                                let l2 = sq.decide_gen(level, xs, &mut r2, &mut u2, &mut a2, &mut k2, thr);
                                assert!(u1 == u2 && a1 == a2 && k1 == k2 && l1 == l2, "pair {ci} {level:?} skip {skip} len {len}");
                                // bits past the last lane are clear
                                if len % 8 != 0 {
                                    assert!(a1[nb - 1] >> (len % 8) == 0 && k1[nb - 1] >> (len % 8) == 0);
                                }
                            }
                            for _ in 0..300 {
                                assert_eq!(r1.next_u64(), r2.next_u64());
                            }
                        }
                    }
                }
            }
            // (pairs 5 and 8 have M too small: cells that may hold violations decide nothing)
            assert!(undecided * 5 < total || ci == 5 || ci == 8, "pair {ci}: {undecided} of {total} undecided");
        }
    }

    /// The squeeze tables are built on a job's second decode (one-block jobs skip them);
    /// RSFT_SQUEEZE=0 is not set in tests.
    #[test]
    fn squeeze_built_on_second_decode() {
        let inf = f64::INFINITY;
        // a job no other test uses (the cache is per thread)
        let buf = job_buf(1, (2.4171f64 * 1.002).ln(), 0.0, &t2_target(), &[2.0, 0.0, 3.0], &[-inf], &[inf]);
        let first = decode_job(&buf).unwrap();
        assert!(!first.has_squeeze());
        let second = decode_job(&buf).unwrap();
        assert!(second.has_squeeze());
        assert!(decode_job(&buf).unwrap().has_squeeze());
        let n = 20_000;
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        let sa = try_sample_block(&first, 5, 1, n, &mut a).unwrap();
        let sb = try_sample_block(&second, 5, 1, n, &mut b).unwrap();
        assert!(same_stats(sa, sb));
        assert_eq!(&a[..sa[0] as usize], &b[..sb[0] as usize]);
    }

    /// A job whose first call is expected to draw SQUEEZE_AT_ONCE proposals gets its squeeze
    /// tables at once (final, so kept); a smaller first call leaves them for the next.
    #[test]
    fn squeeze_built_at_once_for_a_large_first_call() {
        let inf = f64::INFINITY;
        // jobs no other test uses (the cache is per thread)
        let buf = |k: f64| job_buf(1, (2.4171f64 * (1.0015 + k)).ln(), 0.0, &t2_target(), &[2.0, 0.0, 3.0], &[-inf], &[inf]);
        let m = 2.4171 * 1.0015;
        // rows * M proposals expected, capped by the budget, times the densities' cost
        let lin = Lin::from_program(&t2_target()).unwrap().lin_cost() + Lin::from_program(&[2.0, 0.0, 3.0]).unwrap().lin_cost();
        let proposals = SQUEEZE_AT_ONCE / lin;
        let big = Work { rows: proposals / m * 1.01, max_proposals: 1e12 };
        let job = decode_job_cached(&buf(0.0), big).unwrap();
        assert!(job.has_squeeze());
        assert!(Rc::ptr_eq(&job, &decode_job_cached(&buf(0.0), Work::default()).unwrap()), "final: reused");
        let capped = Work { rows: proposals, max_proposals: proposals * 0.5 };
        assert!(!decode_job_cached(&buf(1e-4), capped).unwrap().has_squeeze());
        let small = Work { rows: proposals / m * 0.99, max_proposals: 1e12 };
        assert!(!decode_job_cached(&buf(2e-4), small).unwrap().has_squeeze());
    }

    /// The cache keeps the last few jobs: a job that comes back after others keeps its
    /// squeeze (built on its own second decode), and one pushed out starts over.
    #[test]
    fn fast_cache_keeps_recent_jobs() {
        let inf = f64::INFINITY;
        // jobs no other test uses (the cache is per thread)
        let job = |k: usize| job_buf(1, (2.4171f64 * (1.003 + k as f64 * 1e-3)).ln(), 0.0, &t2_target(), &[2.0, 0.0, 3.0], &[-inf], &[inf]);
        let a = job(0);
        decode_job(&a).unwrap();
        assert!(decode_job(&a).unwrap().has_squeeze());
        for k in 1..FAST_CACHE_JOBS {
            assert!(!decode_job(&job(k)).unwrap().has_squeeze(), "job {k} is new");
            assert!(decode_job(&a).unwrap().has_squeeze(), "job a after job {k}");
        }
        for k in 1..=FAST_CACHE_JOBS {
            decode_job(&job(100 + k)).unwrap();
        }
        assert!(!decode_job(&a).unwrap().has_squeeze(), "job a was pushed out");
    }

    /// Decisions of the fast path on a chunk with hand-made special lanes (zeros, underflow,
    /// NaN, exact ties) equal the exact log-space test.
    #[test]
    fn lin_decide_flags_match_log_space() {
        let n = 4000;
        let mut r = Stream::new(9, 9, 0);
        let m = 1.7f64;
        let mut u = vec![0.0; n];
        Stream::new(9, 9, 1).fill_f64(&mut u);
        let mut p = vec![0.0; n];
        let mut q = vec![0.0; n];
        for i in 0..n {
            q[i] = 0.1 + r.next_f64();
            p[i] = m * q[i] * r.next_f64() * 1.2;
            match i % 50 {
                1 => p[i] = -0.0,
                2 => p[i] = 0.0,
                3 => p[i] = 1e-300,
                4 => p[i] = f64::NAN,
                5 => q[i] = 1e-300,
                6 => p[i] = u[i] * m * q[i], // tie: undecided
                7 => p[i] = m * (1.0 + VIOLATION_SLACK) * q[i], // violation tie: undecided
                _ => {}
            }
        }
        for level in Simd::available() {
            let mut flags = vec![9u8; n];
            let (v, _, nfb) = lin_decide(level, &u, &p, &q, m, &mut flags);
            assert_eq!(nfb, 1);
            let mut viol = 0;
            for i in 0..n {
                let (lp, lq) = (p[i].ln(), q[i].ln());
                match flags[i] {
                    2 => assert!(i % 50 >= 2 && i % 50 <= 7, "lane {i} undecided"),
                    f => {
                        let want = fastmath::ln_normal(u[i]) < lp - m.ln() - lq;
                        assert_eq!(f == 1, want, "lane {i}");
                        viol += (lp - lq > m.ln() + VIOLATION_SLACK) as u64;
                    }
                }
            }
            assert_eq!(v, viol);
        }
    }

    /// Thread CPU seconds (CLOCK_THREAD_CPUTIME_ID): excludes time the scheduler gives to other
    /// processes on a busy machine.
    pub(super) fn thread_cpu() -> f64 {
        #[repr(C)]
        struct Ts {
            s: i64,
            ns: i64,
        }
        extern "C" {
            fn clock_gettime(clk: i32, ts: *mut Ts) -> i32;
        }
        let mut ts = Ts { s: 0, ns: 0 };
        unsafe { clock_gettime(3, &mut ts) };
        ts.s as f64 + ts.ns as f64 * 1e-9
    }

    /// Best-of-5 throughput of one job on the widest path: `RSFT_BENCH=expr|dist`.
    #[test]
    #[ignore]
    fn bench_one() {
        let which = std::env::var("RSFT_BENCH").unwrap_or_else(|_| "expr".into());
        let inf = f64::INFINITY;
        let lam = (2.0 + 8f64.sqrt()) / 2.0;
        let buf = match which.as_str() {
            "dist" => beta_job(),
            // bench/tasks.js T2 and T3
            "t2" => job_buf(
                1,
                (2.4171f64 * 1.001).ln(),
                0.0,
                &[21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0],
                &[2.0, 0.0, 3.0],
                &[-inf],
                &[inf],
            ),
            "t3" => job_buf(
                1,
                (1.07107053797f64 * 1.0001).ln(),
                0.0,
                &[20.0, 2.0, inf, 2.0, 0.0, 1.0],
                &[20.0, 2.0, inf, 4.0, lam],
                &[-inf],
                &[inf],
            ),
            _ => beta_expr_job(),
        };
        let job = decode_job(&buf).unwrap();
        println!("{which}: fast path {}", job.has_fast_path());
        let n = 65536;
        let mut out = vec![0.0; n];
        let mut best = 0.0f64;
        let mut best_cpu = 0.0f64;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let c = thread_cpu();
            let mut acc = 0.0;
            for b in 0..200 {
                acc += try_sample_block(&job, 1, b, n, &mut out).unwrap()[0];
            }
            best = best.max(acc / t.elapsed().as_secs_f64() / 1e6);
            best_cpu = best_cpu.max(acc / (thread_cpu() - c) / 1e6);
        }
        println!("{which} {}: {best:.1} M accepted/s wall, {best_cpu:.1} per CPU second", simd_level());
    }

    #[test]
    #[ignore]
    fn bench_kernel() {
        let n = 65536;
        let mut out = vec![0.0; n];
        let mut xs = vec![0.0; n];
        let mut logq = vec![0.0; n];
        let mut logp = vec![0.0; n];
        let mut r = Stream::new(1, 1, 0);
        r.fill_f64(&mut xs);
        for i in 0..n {
            logp[i] = 30f64.ln() + xs[i].ln() + 4.0 * (-xs[i]).ln_1p();
        }
        let lm = 2.4576f64.ln();
        for level in Simd::available() {
            let reps = 300;
            let t = std::time::Instant::now();
            let mut acc = 0.0;
            for b in 0..reps {
                acc += accept_core(1, lm, Some((&[0.0], &[1.0])), 1, b, &xs, &logq, &logp, &mut out, CHUNK, level)
                    .unwrap()[0];
            }
            let dt = t.elapsed().as_secs_f64();
            println!(
                "{level:?} accept_core: {:.0} M proposals/s ({:.0} M accepted/s)",
                (reps * n as u64) as f64 / dt / 1e6,
                acc / dt / 1e6
            );
        }
        for (name, buf) in [("beta dist", beta_job()), ("beta expr", beta_expr_job())] {
            let job = match decode_job(&buf) {
                Ok(j) => j,
                Err(e) => {
                    println!("{name}: {e}");
                    continue;
                }
            };
            for level in Simd::available() {
                let reps = 300;
                let mut best = 0.0f64;
                for _ in 0..3 {
                    let t = std::time::Instant::now();
                    let mut acc = 0.0;
                    for b in 0..reps {
                        acc += try_sample_block_chunked(&job, 1, b, n, &mut out, CHUNK, level).unwrap()[0];
                    }
                    best = best.max(acc / t.elapsed().as_secs_f64() / 1e6);
                }
                println!("{level:?} {name} sample_block: {best:.0} M accepted/s");
            }
            let _ = &mut logq;
        }
    }
}

/// Ignored measurement helpers for the fast path and the squeeze (run by hand, wrapped in
/// `flock /tmp/rsft-bench.lock`): `cargo test --release -p rsft-native bench_t2_steps --
/// --ignored --nocapture` (RSFT_BENCH=t1|t2|t3) times each step of a block and the whole block
/// in the three modes; `prof_t2` (RSFT_PROF=build|block) is a loop to run under perf.
#[cfg(test)]
mod steps_bench {
    use super::tests::thread_cpu;
    use super::*;
    /// perf target: `RSFT_PROF=build|block` loops one thing for ~2 s.
    #[test]
    #[ignore]
    fn prof_t2() {
        let inf = f64::INFINITY;
        let t = [21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0];
        let q = [2.0, 0.0, 3.0];
        let mut buf = vec![1.0, 1.0, (2.4171f64 * 1.001).ln(), 0.0, t.len() as f64];
        buf.extend_from_slice(&t);
        buf.push(q.len() as f64);
        buf.extend_from_slice(&q);
        buf.extend_from_slice(&[-inf, inf]);
        let _ = decode_job(&buf).unwrap();
        let job = decode_job(&buf).unwrap(); // (the second decode builds the squeeze tables)
        let f = job.fast.clone().unwrap();
        let what = std::env::var("RSFT_PROF").unwrap_or_default();
        let n = 65536;
        let mut xs = vec![0.0; n];
        let t0 = std::time::Instant::now();
        let mut b = 0;
        while t0.elapsed().as_secs_f64() < 2.0 {
            if what == "build" {
                Squeeze::build(&f.p, &f.q, f.m, None, -13.0, 13.0, 4096, 4).unwrap();
            } else {
                try_sample_block(&job, 1, b, n, &mut xs).unwrap();
            }
            b += 1;
        }
        println!("{what}: {b} iterations");
    }

    #[test]
    #[ignore]
    fn bench_t2_steps() {
        let inf = f64::INFINITY;
        let lam = (2.0 + 8f64.sqrt()) / 2.0;
        let which = std::env::var("RSFT_BENCH").unwrap_or_else(|_| "t2".into());
        let (t, q, lm): (Vec<f64>, Vec<f64>, f64) = match which.as_str() {
            "t1" => (vec![6.0, 2.0, 5.0], vec![1.0, 0.0, 1.0], 2.4576f64.ln()),
            "t3" => (vec![20.0, 2.0, inf, 2.0, 0.0, 1.0], vec![20.0, 2.0, inf, 4.0, lam], (1.07107053797f64 * 1.0001).ln()),
            _ => (vec![21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0], vec![2.0, 0.0, 3.0], (2.4171f64 * 1.001).ln()),
        };
        println!("job {which}");
        let mut buf = vec![1.0, 1.0, lm, 0.0, t.len() as f64];
        buf.extend_from_slice(&t);
        buf.push(q.len() as f64);
        buf.extend_from_slice(&q);
        buf.extend_from_slice(&[-inf, inf]);
        let job = decode_job_opts(&buf, true).unwrap();
        println!("default decode: fast {} squeeze {}", decode_job(&buf).unwrap().has_fast_path(), decode_job(&buf).unwrap().has_squeeze());
        let f = job.fast.clone().unwrap();
        let n = 65536;
        let reps = 100;
        let mut xs = vec![0.0; n];
        let mut pv = vec![0.0; n];
        let mut qv = vec![0.0; n];
        let mut u = vec![0.0; n];
        let mut fl = vec![0u8; n];
        let level = simd();
        let time = |name: &str, f: &mut dyn FnMut(u64)| {
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                let c = thread_cpu();
                for b in 0..reps { f(b); }
                best = best.min(thread_cpu() - c);
            }
            println!("{name}: {:.2} ns/proposal", best / (reps as f64 * n as f64) * 1e9);
        };
        time("normal sample", &mut |b| job.proposal.sample(&mut Stream::new(1, b, 0), &mut xs));
        time("uniform fill", &mut |b| Stream::new(1, b, 1).fill_f64(&mut u));
        time("q pdf", &mut |_| f.q.pdf(level, &xs, &mut qv));
        time("p pdf", &mut |_| f.p.pdf(level, &xs, &mut pv));
        time("lin_decide", &mut |_| { lin_decide(level, &u, &pv, &qv, f.m, &mut fl); });
        println!("squeeze {} open cells {}", job.has_squeeze(), f.sq.as_ref().map(|s| s.open_cells()).unwrap_or(0));
        let tb = std::time::Instant::now();
        let _ = build_fast_uncached(job.log_m, &job.target, &t, &job.proposal, &q, false, (-inf, inf), &mut 4096, 0.0);
        println!("build_fast_uncached: {:.3} ms", tb.elapsed().as_secs_f64() * 1e3);
        if let Some(sq) = f.sq.as_ref() {
            let mut idx = Vec::new();
            job.proposal.sample(&mut Stream::new(1, 0, 0), &mut xs);
            sq.decide(level, &xs, &u, &mut fl, f64::INFINITY, &mut idx);
            println!("undecided fraction {:.4}", idx.len() as f64 / n as f64);
            time("squeeze decide", &mut |_| { sq.decide(level, &xs, &u, &mut fl, 0.9999, &mut idx); });
        }
        for mode in [Mode::Log, Mode::Linear, Mode::Squeeze] {
            time(&format!("whole block {mode:?}"), &mut |b| { try_sample_block_mode(&job, 1, b, n, &mut xs, CHUNK, level, mode).unwrap(); });
        }
    }
}
