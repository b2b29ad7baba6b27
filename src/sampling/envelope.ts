/**
 * Envelope constants: find sup log(p/q) so that p <= M q holds, refuse targets whose ratio is
 * unbounded, and check a user's M against the same bound.
 *
 * 1-D: the ratio is evaluated on a grid placed at quantiles of the proposal (and of the target
 * when it is a distribution), local maxima are refined by golden-section search, and each end
 * of the support is probed with a geometric sequence of points (doubling distances outward from
 * the grid toward an infinite end, halving distances toward a finite one) to detect a ratio that
 * keeps growing (e.g. gamma(0.5) from exponential near 0, or a heavy-tailed target from a
 * light-tailed proposal). Multi-D: the maximum over a large proposal sample, times a safety
 * factor; the sampler still counts every violation.
 *
 * Conditioning: far out in a tail log p and log q are both huge (x^2/2 = 5e17 at x = 1e9) and
 * their difference carries a rounding error of about ulp(max(|log p|, |log q|)), which can be
 * far larger than the ratio itself (an unnormalized offset of -700, or the 0.3 x of normal(0.3, 1)
 * from normal(0, 1), vanish entirely by x = 1e16). Every evaluated point therefore carries an
 * error bound from the magnitude of the terms subtracted (LogRatio's `scale`); only points whose
 * bound is below MAX_LOG_ERR count toward the sup or the tail trend, increments count as a rise
 * only when they exceed the two points' bounds, and a candidate for the sup is ranked by its
 * value minus its bound, so rounding noise never becomes the supremum.
 */

/**
 * Evaluates log p(x) - log q(x) for each row of xs. When `scale` is given it is filled with the
 * magnitude of the terms subtracted: max(|log p|, |log q|) over those that are finite (0 when
 * neither is), from which the rounding error of the difference is bounded.
 */
export type LogRatio = (xs: Float64Array, scale?: Float64Array) => Float64Array;

export interface Bound1D {
  /** sup of log p - log q seen (finite when bounded; NaN when it cannot be evaluated accurately anywhere p > 0). */
  logSup: number;
  /** where it was found */
  argmax: number;
  /** null when bounded; otherwise where it is +Infinity (`infinite`), or which end it grows toward */
  unboundedAt: number | null;
  /** log p - log q evaluated to +Infinity at unboundedAt, rather than growing toward it */
  infinite?: boolean;
}

/**
 * A proposal violates the envelope when log p - log q > log M + VIOLATION_SLACK: p/q above M by
 * more than a relative 1e-9, in the kernels' counts (native/src/kernel.rs has the same constant)
 * and in the check of a given M against the sup found. Where M is exactly sup p/q (a truncation
 * of the proposal with M = 1 / its mass), the rounding of log p - log q reaches past log M, and
 * counting that failed runs whose envelope holds; an excess this small is far below what any
 * sample could show.
 */
export const VIOLATION_SLACK = 1e-9;

/** Relative safety margin applied to a found sup (M = sup * SAFETY_1D). */
export const SAFETY_1D = 1.001;
export const SAFETY_MULTI = 1.2;

const GOLDEN = (Math.sqrt(5) - 1) / 2;

/**
 * Bound on the rounding error of a computed log p - log q, in units of eps times the magnitude
 * of the terms: a few roundings in each log density (squares, products, sums of terms of that
 * magnitude) and one in the subtraction, with a factor of ~4 to spare.
 */
const ROUNDING_ULPS = 16;
/**
 * Largest error bound (absolute, in log units) for a point to be used at all: well inside the
 * 1-D safety margin log(1.001) ~ 1e-3, so that rounding cannot eat the margin. For a normal
 * proposal this admits |x - mu| up to ~2.4e5 sigma.
 */
const MAX_LOG_ERR = 1e-4;
/** Tail probes go no farther out than this (squares of x stay finite in every log density). */
const TAIL_MAX = 1e150;
/** Number of consecutive probe steps the tail trend is judged on. */
const TREND_STEPS = 6;
/**
 * A rise over the last TREND_STEPS steps counts as unbounded growth unless the rise over its
 * second half is below this fraction of the rise over its first half. With distances doubling
 * (or halving) per step, log p/q growing like log|x| or like any power of |x| gives a fraction
 * of at least 1, and log p/q converging to its limit like |x|^-beta gives 2^(-3 beta) (1/8 for
 * beta = 1, 1/8 for a smooth ratio near a finite end, where the distance halves).
 */
const DECAY_MAX = 0.5;

/** A point of the ratio with its rounding-error bound. */
interface Pt {
  x: number;
  r: number;
  err: number;
}

function errorBound(scale: number): number {
  return Number.isFinite(scale) ? ROUNDING_ULPS * Number.EPSILON * Math.max(1, scale) : Infinity;
}

function evaluate(ratio: LogRatio, xs: number[]): Pt[] {
  if (xs.length === 0) return [];
  const scale = new Float64Array(xs.length);
  const r = ratio(Float64Array.from(xs), scale);
  return xs.map((x, i) => ({ x, r: r[i], err: errorBound(scale[i]) }));
}

/**
 * Usable: the value is a number and its error bound is small (-Infinity, from p = 0 or an
 * infinite q, included: the ratio is then exactly 0).
 */
function usable(p: Pt): boolean {
  return !Number.isNaN(p.r) && p.err <= MAX_LOG_ERR;
}

/** Rank of a candidate for the sup: its value less its error bound. */
function score(p: Pt): number {
  return p.r - p.err;
}

/**
 * Points toward one end of (a, b), ordered toward that end. Toward an infinite end: from the
 * grid's median c outward, c +- w 2^k with w the grid's smallest spacing (well inside the bulk
 * of the narrower of proposal and target), up to |x| = TAIL_MAX; starting inside the bulk
 * matters because the grid's outer points (at 1e-15 quantiles of a heavy-tailed target, say)
 * can lie beyond where the ratio can be evaluated at all. Toward a finite end e:
 * e + (distance to the other end, or max(1, |e|)) * 2^-k until x reaches e.
 */
function tailProbe(a: number, b: number, end: 'lo' | 'hi', grid: number[]): number[] {
  const pts: number[] = [];
  const e = end === 'lo' ? a : b;
  const other = end === 'lo' ? b : a;
  const sign = end === 'lo' ? -1 : 1;
  const push = (x: number): void => {
    if (x > a && x < b && (pts.length === 0 || x !== pts[pts.length - 1])) pts.push(x);
  };
  if (!Number.isFinite(e)) {
    const c = grid.length > 0 ? grid[grid.length >> 1] : Number.isFinite(other) ? other : 0;
    let w = Infinity;
    for (let i = 1; i < grid.length; i++) w = Math.min(w, grid[i] - grid[i - 1]);
    w = Math.max(Number.isFinite(w) ? w : Math.max(1, Math.abs(c)) * 2 ** -30, Math.abs(c) * 2 ** -52, Number.MIN_VALUE);
    for (let k = 0; k < 2200; k++) {
      const x = c + sign * w * Math.pow(2, k);
      if (!(Math.abs(x) <= TAIL_MAX)) break;
      push(x);
    }
    return pts;
  }
  const width = Number.isFinite(other) ? Math.abs(other - e) : Math.max(1, Math.abs(e));
  for (let k = 1; k < 2200; k++) {
    const x = e - sign * width * Math.pow(2, -k);
    if (x === e) break;
    push(x);
  }
  return pts;
}

/**
 * The trend of the ratio over usable probe points ordered toward an end. `grows`: the last
 * TREND_STEPS increments all exceed their rounding bounds and do not die away (see DECAY_MAX),
 * so the ratio is unbounded toward that end. Otherwise the sup lies within the points, except
 * when they still rise but converge: `limit` then extrapolates the remaining rise as the
 * geometric series of the shrinking increments.
 */
function tailTrend(pts: Pt[]): { grows: boolean; limit: number | null } {
  const none = { grows: false, limit: null };
  let w = pts.slice(Math.max(0, pts.length - 1 - TREND_STEPS));
  let lastZero = -1;
  for (let i = 0; i < w.length; i++) if (w[i].r === -Infinity) lastZero = i;
  w = w.slice(lastZero + 1);
  const m = w.length - 1;
  if (m < 3) return none;
  for (let j = 0; j < m; j++) {
    if (!(w[j + 1].r - w[j].r > w[j].err + w[j + 1].err)) return none;
  }
  const half = Math.floor(m / 2);
  const early = w[half].r - w[0].r;
  const late = w[m].r - w[m - half].r;
  if (late >= DECAY_MAX * early) return { grows: true, limit: null };
  const rho = Math.pow(late / early, 1 / (m - half));
  const last = w[m].r - w[m - 1].r;
  return { grows: false, limit: w[m].r + (last * rho) / (1 - rho) };
}

export function bound1D(ratio: LogRatio, support: [number, number], gridPoints: number[]): Bound1D {
  const [a, b] = support;
  const grid = gridPoints.filter((x) => x > a && x < b && Number.isFinite(x));
  grid.sort((p, q) => p - q);
  const uniq: number[] = [];
  for (const x of grid) if (uniq.length === 0 || x !== uniq[uniq.length - 1]) uniq.push(x);

  const infiniteIn = (pts: Pt[]): Bound1D | null => {
    const p = pts.find((q) => q.r === Infinity);
    return p ? { logSup: Infinity, argmax: p.x, unboundedAt: p.x, infinite: true } : null;
  };
  const all = evaluate(ratio, uniq);
  const hit = infiniteIn(all);
  if (hit) return hit;
  // extrapolated limits of ratios still rising (but converging) at the end of a usable tail
  const limits: Pt[] = [];
  for (const end of ['lo', 'hi'] as const) {
    const probe = evaluate(ratio, tailProbe(a, b, end, uniq));
    const at = end === 'lo' ? a : b;
    // (where it is: a probe toward a finite end starts at the middle of the support)
    const probeHit = infiniteIn(probe);
    if (probeHit) return probeHit;
    const trend = tailTrend(probe.filter(usable));
    if (trend.grows) return { logSup: Infinity, argmax: at, unboundedAt: at };
    if (trend.limit !== null) {
      const u = probe.filter(usable);
      const lastPt = u[u.length - 1];
      limits.push({ x: lastPt.x, r: trend.limit, err: lastPt.err });
    }
    all.push(...probe);
  }
  all.sort((p, q) => p.x - q.x);
  const pts = all.filter(usable);
  // p > 0 somewhere, but nowhere with log p - log q accurate (log densities of magnitude beyond
  // ~3e10 at every such point): no sup can be given.
  if (!pts.some((p) => p.r > -Infinity) && all.some((p) => p.r > -Infinity)) {
    return { logSup: NaN, argmax: NaN, unboundedAt: null };
  }

  let best: Pt | null = null;
  const consider = (p: Pt): void => {
    if (p.r > -Infinity && (best === null || score(p) > score(best))) best = p;
  };
  for (const p of pts) consider(p);
  for (const p of limits) consider(p);
  // Refine around the best few local maxima.
  const peaks: number[] = [];
  for (let i = 0; i < pts.length; i++) {
    const left = i > 0 ? pts[i - 1].r : -Infinity;
    const right = i < pts.length - 1 ? pts[i + 1].r : -Infinity;
    if (pts[i].r >= left && pts[i].r >= right && pts[i].r > -Infinity) peaks.push(i);
  }
  peaks.sort((i, j) => score(pts[j]) - score(pts[i]));
  const f = (x: number): Pt => {
    const p = evaluate(ratio, [x])[0];
    return usable(p) ? p : { x, r: -Infinity, err: 0 };
  };
  for (const i of peaks.slice(0, 8)) {
    // Golden-section search on the bracket [pts[i-1], pts[i+1]] around the grid's peak, which
    // stays the interior point until a better one is found: a peak narrower than the bracket
    // is only ever seen near that point (two fresh interior points missed a spike of width 1e-6
    // next to the grid point, giving 136 for a sup of 1001).
    let lo = i > 0 ? pts[i - 1].x : pts[i].x;
    let hi = i < pts.length - 1 ? pts[i + 1].x : pts[i].x;
    let x = pts[i];
    for (let it = 0; it < 200 && hi - lo > 1e-15 * Math.max(1, Math.abs(x.x)); it++) {
      // the next point, in the larger of the two sides, at the golden ratio from x
      const right = hi - x.x > x.x - lo;
      const u = f(right ? x.x + (1 - GOLDEN) * (hi - x.x) : x.x - (1 - GOLDEN) * (x.x - lo));
      if (u.x === x.x) break;
      if (u.r > x.r) {
        if (right) lo = x.x;
        else hi = x.x;
        x = u;
      } else if (right) hi = u.x;
      else lo = u.x;
    }
    consider(x);
  }
  const top = best as Pt | null;
  return top === null ? { logSup: -Infinity, argmax: NaN, unboundedAt: null } : { logSup: top.r, argmax: top.x, unboundedAt: null };
}

/** Grid probabilities for quantile placement: dense in the middle, geometric in both tails. */
export function gridProbabilities(n = 512): number[] {
  const ps: number[] = [];
  for (let i = 0; i < n; i++) ps.push((i + 0.5) / n);
  for (let k = 4; k <= 15; k++) {
    ps.push(Math.pow(10, -k), 1 - Math.pow(10, -k) * 10);
  }
  return ps;
}

/** Max of log p - log q over a proposal sample (multi-D). */
export function boundFromSample(ratio: LogRatio, xs: Float64Array): { logSup: number; nonFinite: number } {
  const r = ratio(xs);
  let best = -Infinity;
  let nonFinite = 0;
  for (let i = 0; i < r.length; i++) {
    if (Number.isNaN(r[i])) nonFinite++;
    else if (r[i] > best) best = r[i];
  }
  return { logSup: best, nonFinite };
}
