/**
 * Envelope constants: find sup log(p/q) so that p <= M q holds, refuse targets whose ratio is
 * unbounded, and check a user's M against the same bound.
 *
 * 1-D: the ratio is evaluated on a grid placed at quantiles of the proposal (and of the target
 * when it is a distribution), local maxima are refined by golden-section search, and each end
 * of the support is probed with a geometric sequence of points to detect a ratio that keeps
 * growing (e.g. gamma(0.5) from exponential near 0, or a heavy-tailed target from a light-tailed
 * proposal). Multi-D: the maximum over a large proposal sample, times a safety factor; the
 * sampler still counts every violation.
 */

/** Evaluates log p(x) - log q(x) for each row of xs. */
export type LogRatio = (xs: Float64Array) => Float64Array;

export interface Bound1D {
  /** sup of log p - log q seen (finite when bounded). */
  logSup: number;
  /** where it was found */
  argmax: number;
  /** null when bounded; otherwise which end the ratio grows toward */
  unboundedAt: number | null;
}

/** Relative safety margin applied to a found sup (M = sup * SAFETY_1D). */
export const SAFETY_1D = 1.001;
export const SAFETY_MULTI = 1.2;

const GOLDEN = (Math.sqrt(5) - 1) / 2;

function tailProbe(a: number, b: number, end: 'lo' | 'hi'): number[] {
  const pts: number[] = [];
  const e = end === 'lo' ? a : b;
  const other = end === 'lo' ? b : a;
  const dir = end === 'lo' ? 1 : -1;
  if (!Number.isFinite(e)) {
    // Toward -inf or +inf: |x| = 10^k.
    const sign = end === 'lo' ? -1 : 1;
    // Up to 1e150 so that squares of x stay finite in every log density.
    for (let k = 0; k <= 150; k += 2) {
      const x = sign * Math.pow(10, k);
      if ((end === 'lo' && x < other) || (end === 'hi' && x > other)) pts.push(x);
    }
    return pts;
  }
  // Toward a finite endpoint: offsets 10^-k scaled to the interval (or absolute at 0).
  const width = Number.isFinite(other) ? Math.abs(other - e) : Math.max(1, Math.abs(e));
  const maxK = e === 0 ? 300 : 15;
  for (let k = 1; k <= maxK; k++) {
    const x = e + dir * width * Math.pow(10, -k);
    if (x !== e) pts.push(x);
  }
  return pts;
}

/**
 * True when the ratio keeps rising along the probe toward the end: the last steps all increase
 * and the last one by a non-vanishing amount (a ratio approaching a finite limit has increments
 * that shrink geometrically).
 */
function growsToward(values: number[]): boolean {
  const finite = values.filter((v) => !Number.isNaN(v));
  if (finite.some((v) => v === Infinity)) return true;
  const n = finite.length;
  if (n < 4) return false;
  const d1 = finite[n - 1] - finite[n - 2];
  const d2 = finite[n - 2] - finite[n - 3];
  const d3 = finite[n - 3] - finite[n - 4];
  return d1 > 1e-3 && d2 > 0 && d3 > 0;
}

export function bound1D(ratio: LogRatio, support: [number, number], gridPoints: number[]): Bound1D {
  const [a, b] = support;
  const grid = gridPoints.filter((x) => x > a && x < b && Number.isFinite(x));
  grid.sort((p, q) => p - q);
  const uniq: number[] = [];
  for (const x of grid) if (uniq.length === 0 || x !== uniq[uniq.length - 1]) uniq.push(x);

  for (const end of ['lo', 'hi'] as const) {
    const probe = tailProbe(a, b, end);
    if (probe.length === 0) continue;
    const vals = Array.from(ratio(Float64Array.from(probe)));
    if (growsToward(vals)) {
      return { logSup: Infinity, argmax: end === 'lo' ? a : b, unboundedAt: end === 'lo' ? a : b };
    }
    uniq.push(...probe);
  }
  uniq.sort((p, q) => p - q);
  const xs = Float64Array.from(uniq);
  const r = ratio(xs);
  let best = -Infinity;
  let bestX = NaN;
  for (let i = 0; i < xs.length; i++) {
    if (r[i] === Infinity) return { logSup: Infinity, argmax: xs[i], unboundedAt: xs[i] };
    if (r[i] > best) {
      best = r[i];
      bestX = xs[i];
    }
  }
  // Refine around the best few local maxima.
  const peaks: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    const left = i > 0 ? r[i - 1] : -Infinity;
    const right = i < xs.length - 1 ? r[i + 1] : -Infinity;
    if (r[i] >= left && r[i] >= right && r[i] > -Infinity) peaks.push(i);
  }
  peaks.sort((i, j) => r[j] - r[i]);
  for (const i of peaks.slice(0, 8)) {
    let lo = i > 0 ? xs[i - 1] : xs[i];
    let hi = i < xs.length - 1 ? xs[i + 1] : xs[i];
    if (!(hi > lo)) continue;
    const f = (x: number): number => {
      const v = ratio(Float64Array.of(x))[0];
      return Number.isNaN(v) ? -Infinity : v;
    };
    let c = hi - GOLDEN * (hi - lo);
    let d = lo + GOLDEN * (hi - lo);
    let fc = f(c);
    let fd = f(d);
    for (let it = 0; it < 100 && hi - lo > 1e-15 * Math.max(1, Math.abs(lo)); it++) {
      if (fc > fd) {
        hi = d;
        d = c;
        fd = fc;
        c = hi - GOLDEN * (hi - lo);
        fc = f(c);
      } else {
        lo = c;
        c = d;
        fc = fd;
        d = lo + GOLDEN * (hi - lo);
        fd = f(d);
      }
    }
    for (const [x, v] of [[c, fc], [d, fd]] as const) {
      if (v > best) {
        best = v;
        bestX = x;
      }
    }
  }
  return { logSup: best, argmax: bestX, unboundedAt: null };
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
