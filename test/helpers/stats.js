// Small, dependency-free goodness-of-fit helpers for the sampler tests.
import { gammaincQ } from '../../dist/sampling/special.js';

/** Sorted copy of the samples as a Float64Array (numeric order). */
export function sorted(xs) {
  return Float64Array.from(xs).sort();
}

/** Kolmogorov distribution survival function: P(K > t) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 t^2). */
export function kolmogorovSf(t) {
  if (t <= 0) return 1;
  if (t < 0.2) return 1; // the alternating series converges slowly there; the value is 1 to 1e-20
  let s = 0;
  for (let k = 1; k < 200; k++) {
    const term = Math.exp(-2 * k * k * t * t);
    s += (k % 2 === 1 ? 1 : -1) * term;
    if (term < 1e-18) break;
  }
  return Math.min(1, Math.max(0, 2 * s));
}

/**
 * One-sample Kolmogorov-Smirnov test of samples against a continuous CDF.
 * Returns { d, p, n }: the statistic sup |F_n - F| and the asymptotic p-value with Stephens'
 * small-sample correction t = d (sqrt(n) + 0.12 + 0.11 / sqrt(n)) (accurate for n >= ~100).
 */
export function ksTest(samples, cdf) {
  const s = sorted(samples);
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]);
    if (!(f >= 0 && f <= 1)) throw new Error(`cdf(${s[i]}) = ${f} is not a probability`);
    const dp = (i + 1) / n - f;
    const dm = f - i / n;
    if (dp > d) d = dp;
    if (dm > d) d = dm;
  }
  const sn = Math.sqrt(n);
  return { d, p: kolmogorovSf(d * (sn + 0.12 + 0.11 / sn)), n };
}

/** Chi-square goodness of fit: observed counts vs expected counts; p = Q(df/2, stat/2). */
export function chiSquareTest(observed, expected, ddof = 0) {
  if (observed.length !== expected.length) throw new Error('observed and expected differ in length');
  let stat = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = expected[i];
    if (!(e > 0)) throw new Error(`expected count ${i} is ${e}`);
    stat += ((observed[i] - e) * (observed[i] - e)) / e;
  }
  const df = observed.length - 1 - ddof;
  return { stat, df, p: gammaincQ(df / 2, stat / 2) };
}

/** Chi-square test of samples binned at `edges` (k+1 ascending edges, outer ones may be ±inf). */
export function chiSquareBinned(samples, cdf, edges) {
  const k = edges.length - 1;
  const obs = new Array(k).fill(0);
  for (const x of samples) {
    let lo = 0, hi = k; // find the bin with edges[b] <= x < edges[b+1]
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (x >= edges[mid]) lo = mid;
      else hi = mid;
    }
    obs[lo]++;
  }
  const n = samples.length;
  const exp = [];
  for (let b = 0; b < k; b++) exp.push(n * (cdf(edges[b + 1]) - cdf(edges[b])));
  return chiSquareTest(obs, exp);
}
