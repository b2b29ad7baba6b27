/**
 * Special functions for the TypeScript fallback kernel: log-gamma, error functions, the normal
 * distribution (cdf / sf / logcdf / inverse), regularized incomplete gamma and beta functions and
 * their inverses. Target accuracy is ~1e-13 relative (tails included) where feasible.
 */

const LN_SQRT_2PI = 0.91893853320467274178; // ln(sqrt(2 pi))
const SQRT_2PI = 2.5066282746310005024;
const INV_SQRT_PI = 0.56418958354775628695;
const TWO_OVER_SQRT_PI = 1.1283791670955125739;
const EPS = 2.220446049250313e-16;

// ---------------------------------------------------------------------------------------------
// log-gamma

// Lanczos approximation, g = 607/128, 15 terms (Godfrey's coefficients).
const LANCZOS_G = 607 / 128;
const LANCZOS = [
  0.99999999999999709182, 57.156235665862923517, -59.597960355475491248, 14.136097974741747174,
  -0.49191381609762019978, 0.33994649984811888699e-4, 0.46523628927048575665e-4,
  -0.98374475304879564677e-4, 0.15808870322491248884e-3, -0.21026444172410488319e-3,
  0.21743961811521264320e-3, -0.16431810653676389022e-3, 0.84418223983852743293e-4,
  -0.26190838401581408670e-4, 0.36899182659531622704e-5,
];

// (-1)^k zeta(k) / k for k = 2..40: lgamma(1 + z) = -gamma z + sum_k c_k z^k, |z| < 1.
const EULER_GAMMA = 0.57721566490153286061;
const LG1_COEF = [
  0.8224670334241132, -0.40068563438653143, 0.27058080842778454, -0.207385551028674,
  0.16955717699740822, -0.14404989676884614, 0.12550966952474304, -0.11133426586956469,
  0.10009945751278179, -0.09095401714582904, 0.083353840546109, -0.0769325164113522,
  0.07143294629536134, -0.06666870588242046, 0.06250095514121304, -0.05882397865868458,
  0.055555767627403614, -0.05263167937961666, 0.05000004769810169, -0.04761907033014223,
  0.04545455629320467, -0.04347826605304026, 0.04166666915034121, -0.04000000119214014,
  0.03846153903467519, -0.037037037312989324, 0.03571428584733336, -0.034482758684919304,
  0.03333333336437758, -0.03225806453115041, 0.03125000000727597, -0.030303030306558048,
  0.029411764707594344, -0.02857142857226011, 0.027777777778181998, -0.027027027027223673,
  0.02631578947377995, -0.025641025641072283, 0.025000000000022737,
];

function lgammaSeries1(z: number): number {
  // lgamma(1 + z) for |z| <= 0.25
  let s = 0;
  for (let k = LG1_COEF.length - 1; k >= 0; k--) s = s * z + LG1_COEF[k];
  return z * (-EULER_GAMMA + z * s);
}

/**
 * sin(pi x) with exact argument reduction (as native/src/special.rs sinpi): Math.sin(Math.PI * x)
 * loses the digits that matter near sin's zeros, where x is near an integer (lgamma's poles).
 */
function sinpi(x: number): number {
  const half = 0.5 * x;
  // (x - 2 round(x / 2), rounding half away from zero as Rust's f64::round: exact, in [-1, 1])
  let r = x - 2 * Math.sign(half) * Math.round(Math.abs(half));
  if (r > 0.5) r = 1 - r;
  else if (r < -0.5) r = -1 - r;
  return Math.sin(Math.PI * r);
}

/** ln |Gamma(x)|. */
export function lgamma(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (!Number.isFinite(x)) return Infinity;
  if (x <= 0 && Math.floor(x) === x) return Infinity;
  // (exact zeros, +0 as native: the series below gives -0 at x = 1)
  if (x === 1 || x === 2) return 0;
  // Gamma(x) = 1/x - gamma + O(x): for tiny x of either sign, ln |Gamma(x)| = -ln |x| - gamma x
  if (Math.abs(x) < 1e-8) return -Math.log(Math.abs(x)) - EULER_GAMMA * x;
  if (x < 0.5) {
    // reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x)
    return Math.log(Math.PI / Math.abs(sinpi(x))) - lgamma(1 - x);
  }
  if (Math.abs(x - 1) <= 0.25) return lgammaSeries1(x - 1);
  if (Math.abs(x - 2) <= 0.25) return Math.log1p(x - 2) + lgammaSeries1(x - 2);
  const xm = x - 1;
  let a = LANCZOS[0];
  const t = xm + LANCZOS_G + 0.5;
  for (let i = 1; i < 15; i++) a += LANCZOS[i] / (xm + i);
  return LN_SQRT_2PI + (xm + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ln Gamma(1 + z) for z > -1, keeping the digits of z when it is small (native `lgamma1p`). */
export function lgamma1p(z: number): number {
  return Math.abs(z) <= 0.25 ? lgammaSeries1(z) : lgamma(1 + z);
}

/** The coefficients B_2k / (2k (2k - 1)) of `stirlingCorr`, k = 1..8. */
const STIRLING_COEF = [1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156, -3617 / 122400];

/**
 * Stirling's correction mu(z) = lgamma(z) - [(z - 1/2) ln z - z + ln sqrt(2 pi)] for z >= 10
 * (native `stirling_corr`): sum of B_2k / (2k (2k - 1) z^(2k - 1)), k = 1..8.
 */
export function stirlingCorr(z: number): number {
  const r = 1 / z;
  const r2 = r * r;
  let p = 0;
  for (let k = STIRLING_COEF.length - 1; k >= 0; k--) p = p * r2 + STIRLING_COEF[k];
  return r * p;
}

/** The last pair `lbeta` was asked for, and its value (native: per thread; here per isolate). */
let lbetaLastA = NaN, lbetaLastB = NaN, lbetaLastValue = NaN;

/**
 * ln B(a, b) (native `lbeta`), remembered for the last pair: inverses and truncations evaluate
 * the incomplete beta (and t's tails) at one pair of shapes many times per draw, each through
 * the prefactor.
 */
export function lbeta(a: number, b: number): number {
  // (keyed in order: t's quantiles ask for (df/2, 1/2) and their tails for (1/2, df/2))
  const p = Math.min(a, b), q = Math.max(a, b);
  if (!Object.is(p, lbetaLastA) || !Object.is(q, lbetaLastB)) {
    lbetaLastValue = lbetaOrdered(p, q);
    lbetaLastA = p;
    lbetaLastB = q;
  }
  return lbetaLastValue;
}

/**
 * ln B(p, q) for p <= q. Where an argument is >= 10 the lgammas' large terms cancel
 * analytically (Stirling): their difference lost ~1e-9 of ln B(5e5, 1/2), and all of it at 5e19.
 */
function lbetaOrdered(p: number, q: number): number {
  const n = p + q;
  if (p >= 10) {
    return (p - 0.5) * Math.log(p / n) + q * Math.log1p(-p / n) - 0.5 * Math.log(q) + LN_SQRT_2PI
      + stirlingCorr(p) + stirlingCorr(q) - stirlingCorr(n);
  }
  if (q >= 10) {
    // lgamma(q) - lgamma(n) = (q - 1/2) ln(q / n) - p ln n + p + mu(q) - mu(n)
    return lgamma(p) + (q - 0.5) * Math.log1p(-p / n) - p * Math.log(n) + p + stirlingCorr(q) - stirlingCorr(n);
  }
  return lgamma(p) + lgamma(q) - lgamma(n);
}

/** ln(1 + t) - t, accurate for small t. */
export function log1pmx(t: number): number {
  if (Math.abs(t) > 0.5) return Math.log1p(t) - t;
  const y = t / (2 + t);
  const y2 = y * y;
  let term = y * y2;
  let s = 0;
  for (let k = 3; k < 200; k += 2) {
    const d = term / k;
    s += d;
    if (Math.abs(d) <= 1e-17 * Math.abs(s)) break;
    term *= y2;
  }
  return (-2 * y2) / (1 - y) + 2 * s;
}

// ---------------------------------------------------------------------------------------------
// error functions and the normal distribution

/** exp(-x * x) without the rounding error of forming x * x. */
function expmx2(x: number): number {
  x = Math.abs(x);
  if (x > 27.3) return 0;
  const hi = Math.round(x * 67108864) / 67108864; // 26 fractional bits: hi * hi is exact
  const lo = x - hi;
  return Math.exp(-hi * hi) * Math.exp(-lo * (x + hi));
}

function erfSeries(x: number): number {
  // erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1 3 5 ... (2n+1)), all terms positive
  const ax = Math.abs(x);
  const x2 = 2 * ax * ax;
  let term = ax;
  let s = ax;
  for (let n = 1; n < 500; n++) {
    term *= x2 / (2 * n + 1);
    s += term;
    if (term <= 1e-17 * s) break;
  }
  const r = TWO_OVER_SQRT_PI * expmx2(ax) * s;
  return x < 0 ? -r : r;
}

/** erfc(x) * exp(x^2) * sqrt(pi) for x >= 1.5, by a continued fraction (modified Lentz). */
function erfcxCF(x: number): number {
  // erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 5000; n++) {
    const an = n / 2;
    d = x + an * d;
    if (d === 0) d = tiny;
    c = x + an / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) <= EPS) break;
  }
  return 1 / f;
}

/** Error function. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) return erfSeries(x);
  const r = ax > 6 ? 1 : 1 - expmx2(ax) * INV_SQRT_PI * erfcxCF(ax);
  return x < 0 ? -r : r;
}

/** Complementary error function, accurate in the upper tail. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 1.5) return 1 - erf(x);
  if (x > 27.3) return 0;
  return expmx2(x) * INV_SQRT_PI * erfcxCF(x);
}

/** Mills ratio sf(x) / pdf(x) of the standard normal, for x >= 5 (continued fraction). */
function millsRatio(x: number): number {
  // R(x) = 1/(x + 1/(x + 2/(x + 3/(x + ...))))
  const tiny = 1e-300;
  let f = x, c = x, d = 0;
  for (let n = 1; n < 5000; n++) {
    d = x + n * d;
    if (d === 0) d = tiny;
    c = x + n / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) <= EPS) break;
  }
  return 1 / f;
}

/** exp(-x^2 / 2) with x^2 formed exactly. */
function expmhalfx2(x: number): number {
  x = Math.abs(x);
  if (x > 38.7) return 0;
  const hi = Math.round(x * 67108864) / 67108864;
  const lo = x - hi;
  return Math.exp(-0.5 * hi * hi) * Math.exp(-0.5 * lo * (x + hi));
}

/** Standard normal density. */
export function normPdf(x: number): number {
  return expmhalfx2(x) / SQRT_2PI;
}

/** Standard normal survival function 1 - Phi(x), accurate in the upper tail. */
export function normSf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 5) return normPdf(x) * millsRatio(x);
  if (x > -5) return 0.5 * erfc(x * Math.SQRT1_2);
  return 1 - normSf(-x);
}

/** Standard normal CDF Phi(x), accurate in the lower tail. */
export function normCdf(x: number): number {
  return normSf(-x);
}

/** ln Phi(x), accurate in the lower tail (x -> -inf). */
export function normLogCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x <= -5) {
    const ax = -x;
    return -0.5 * ax * ax - LN_SQRT_2PI + Math.log(millsRatio(ax));
  }
  if (x < 0) return Math.log(normCdf(x));
  return Math.log1p(-normSf(x));
}

/** ln(1 - Phi(x)), accurate in the upper tail. */
export function normLogSf(x: number): number {
  return normLogCdf(-x);
}

/** Inverse of the standard normal CDF; exact to a few ulps including the far tails. */
export function ndtri(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  if (p > 0.5) return -ndtriLower(1 - p);
  return ndtriLower(p);
}

/** Inverse of the standard normal survival function: x with sf(x) = q (tail-accurate). */
export function ndtriSf(q: number): number {
  if (Number.isNaN(q) || q < 0 || q > 1) return NaN;
  if (q === 0) return Infinity;
  if (q === 1) return -Infinity;
  if (q > 0.5) return ndtriLower(1 - q);
  return -ndtriLower(q);
}

/** x <= 0 with Phi(x) = p, for 0 < p <= 0.5. */
function ndtriLower(p: number): number {
  if (p === 0.5) return 0;
  // initial guess, Abramowitz & Stegun 26.2.23 (|error| < 4.5e-4), then Halley / Newton steps
  const t = Math.sqrt(-2 * Math.log(p));
  let x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1 + t * (1.432788 + t * (0.189269 + t * 0.001308))));
  if (p < 1e-10) {
    // Newton on ln Phi(x) - ln p; (ln Phi)' = pdf / Phi = 1 / Mills(-x)
    const lp = Math.log(p);
    for (let i = 0; i < 8; i++) {
      const f = normLogCdf(x) - lp;
      const step = f * millsRatio(-x);
      x -= step;
      if (Math.abs(step) <= 1e-15 * Math.abs(x)) break;
    }
    return x;
  }
  // Halley on Phi(x) - p
  for (let i = 0; i < 8; i++) {
    const e = normCdf(x) - p;
    const u = e / normPdf(x);
    const step = u / (1 + 0.5 * x * u);
    x -= step;
    if (Math.abs(step) <= 1e-15 * Math.max(1, Math.abs(x))) break;
  }
  return x;
}

// ---------------------------------------------------------------------------------------------
// regularized incomplete gamma

/** x^a e^-x / Gamma(a), computed stably for large a. */
let lgammaLastArg = NaN, lgammaLastValue = NaN;

/** lgamma(a), remembered for the last a (native `lgamma_pos_last`): the incomplete gamma's prefactor takes it at every evaluation. */
function lgammaLast(a: number): number {
  if (!Object.is(a, lgammaLastArg)) {
    lgammaLastValue = lgamma(a);
    lgammaLastArg = a;
  }
  return lgammaLastValue;
}

function gammaPrefactor(a: number, x: number): number {
  if (x === 0) return 0;
  if (a < 10) {
    return Math.exp(a * Math.log(x) - x - lgammaLast(a));
  }
  const t = (x - a) / a;
  // (native gamma_lnpre: the ratio form only far below a, where t has cancelled)
  const e = t >= -0.9 ? a * log1pmx(t) : a * Math.log(x / a) + (a - x);
  return Math.exp(e - stirlingCorr(a)) * Math.sqrt(a / (2 * Math.PI));
}

function gammaPSeries(a: number, x: number): number {
  // P(a, x) = x^a e^-x / Gamma(a + 1) * sum x^n / ((a+1)...(a+n))
  let term = 1;
  let s = 1;
  for (let n = 1; n < 100000; n++) {
    term *= x / (a + n);
    s += term;
    if (term < 1e-17 * s) break;
  }
  return (gammaPrefactor(a, x) / a) * s;
}

function gammaQCF(a: number, x: number): number {
  // Q(a, x) = x^a e^-x / Gamma(a) * 1/(x + 1 - a - 1(1-a)/(x + 3 - a - 2(2-a)/(x + 5 - a - ...)))
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) <= EPS) break;
  }
  return gammaPrefactor(a, x) * h;
}

/**
 * Q(a, x) for a < 1, x < a + 1, without the cancellation of 1 - P (Gautschi; native
 * `gammaincc_small_a`): Q = (1 - g) - g a sum_{n>=1} (-x)^n / (n! (a + n)), g = x^a / Gamma(1 + a).
 * For a = 1e-8 at x = 1, 1 - P kept 8 digits of Q ~ 2e-9.
 */
function gammaQSmallA(a: number, x: number): number {
  const e = a * Math.log(x) - lgamma1p(a);
  const g = Math.exp(e);
  let term = 1;
  let sum = 0;
  for (let n = 1; n < 200; n++) {
    term *= -x / n;
    const t = term / (a + n);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
  }
  return Math.min(Math.max(-Math.expm1(e) - g * a * sum, 0), 1);
}

/**
 * Shape from which the incomplete gamma comes from Temme's uniform expansion (native
 * `GAMMA_TEMME_A`): the series and continued fraction stopped at 100 000 terms, ~10 sqrt(a)
 * short of converging for a = 1e10 (P came out 0.130 for 0.152).
 */
const GAMMA_TEMME_A = 1e6;

/**
 * [P(a, x), Q(a, x)] for a >= GAMMA_TEMME_A (native `gammainc_temme`; DLMF 8.12.3-4):
 * z = eta sqrt(a), Q = Phic(z) + R, P = Phi(z) - R, R = phi(z) / sqrt(a) (c0(eta) + c1(eta) / a).
 */
function gammaincTemme(a: number, x: number): [number, number] {
  const t = (x - a) / a;
  const eta = Math.sign(t) * Math.sqrt(Math.max(-2 * log1pmx(t), 0));
  if (Math.abs(eta) > 0.05) return eta > 0 ? [1, 0] : [0, 1];
  const z = eta * Math.sqrt(a);
  const c0 = -1 / 3 + eta * (1 / 12 + eta * (-2 / 135 + eta * (1 / 864 + eta * (1 / 2835 + eta * (-139 / 777600 + eta / 25515)))));
  const c1 = -1 / 540 + eta * (-1 / 288 + eta * (1 / 378 + eta * (-77 / 77760)));
  const r = (normPdf(z) / Math.sqrt(a)) * (c0 + c1 / a);
  return [normCdf(z) - r, normSf(z) + r];
}

/** Regularized incomplete gamma [P(a, x), Q(a, x)]; the smaller one is computed directly. */
function gammaincPQ(a: number, x: number): [number, number] {
  if (a >= GAMMA_TEMME_A) return gammaincTemme(a, x);
  if (x < a + 1) {
    const p = Math.min(gammaPSeries(a, x), 1);
    if (p > 0.5 && a < 1) {
      const q = gammaQSmallA(a, x);
      return [1 - q, q];
    }
    return [p, 1 - p];
  }
  const q = Math.min(gammaQCF(a, x), 1);
  return [1 - q, q];
}

/** Regularized lower incomplete gamma P(a, x). */
export function gammaincP(a: number, x: number): number {
  if (Number.isNaN(a) || Number.isNaN(x) || a <= 0) return NaN;
  if (x <= 0) return 0;
  if (x === Infinity) return 1;
  return gammaincPQ(a, x)[0];
}

/** Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x), accurate in the upper tail. */
export function gammaincQ(a: number, x: number): number {
  if (Number.isNaN(a) || Number.isNaN(x) || a <= 0) return NaN;
  if (x <= 0) return 1;
  if (x === Infinity) return 0;
  return gammaincPQ(a, x)[1];
}

/**
 * Safeguarded Newton / bisection for g(x) = target with g monotone on [lo, hi] (lo >= 0 for the
 * geometric bisection steps); dg is g's derivative. For targets below 1e-3 it iterates on
 * ln g(x) - ln target, which converges quickly in the tails.
 */
export function solveMonotone(
  g: (x: number) => number,
  dg: (x: number) => number,
  target: number,
  x0: number,
  lo: number,
  hi: number,
  increasing: boolean,
): number {
  // for small targets iterate on ln g(x) - ln target (Newton on the log converges in the tails)
  const useLog = target < 1e-3;
  const lt = Math.log(target);
  let x = Math.min(Math.max(x0, lo), hi);
  if (!(x > lo && x < hi)) x = Number.isFinite(hi) ? (Number.isFinite(lo) ? 0.5 * (lo + hi) : hi - 1) : lo + 1;
  for (let i = 0; i < 300; i++) {
    const gx = g(x);
    const f = useLog ? Math.log(gx) - lt : gx - target;
    if (f === 0) return x;
    const below = increasing ? f < 0 : f > 0;
    if (below) lo = x;
    else hi = x;
    const d = useLog ? dg(x) / gx : dg(x);
    let xn = x - f / d;
    // converged before the bracket test (native solve_increasing): a step below an ulp leaves
    // xn = x, the end of the bracket just set, which the test took for a step outside it
    if (Number.isFinite(d) && Math.abs(xn - x) <= 2 * EPS * Math.abs(x)) return xn > lo && xn < hi ? xn : x;
    // (a derivative that overflowed, as d ln g / dx ~ a / x below 1e-308, is no step at all)
    if (!(xn > lo && xn < hi) || !Number.isFinite(xn) || !Number.isFinite(d)) {
      // bisect (geometrically when the bracket is wide and positive; sqrt(lo hi) underflowed
      // for subnormal brackets)
      if (!Number.isFinite(hi)) xn = lo > 0 ? lo * 2 + 1 : 1;
      else if (lo === 0 && hi > 0) xn = hi * 2.3283064365386963e-10;
      else if (lo > 0 && hi / lo > 4) xn = Math.sqrt(lo) * Math.sqrt(hi);
      else xn = 0.5 * (lo + hi);
    }
    if (Math.abs(xn - x) <= 4 * EPS * Math.abs(xn) || (Number.isFinite(hi) && hi - lo <= 4 * EPS * Math.abs(hi))) return xn;
    x = xn;
  }
  return x;
}

function gammaDensity(a: number, x: number): number {
  // d/dx P(a, x) = x^(a-1) e^-x / Gamma(a)
  return x > 0 ? gammaPrefactor(a, x) / x : 0;
}

function gammaGuess(a: number, p: number, upper: boolean): number {
  // Wilson-Hilferty
  const z = upper ? ndtriSf(p) : ndtri(p);
  const c = 1 / (9 * a);
  const w = 1 - c + z * Math.sqrt(c);
  let x = a * w * w * w;
  if (upper && a < 1) {
    // the upper tail's leading term, Q ~ x^(a-1) e^-x / Gamma(a), by fixed point beyond 1 (native
    // gamma_guess: Wilson-Hilferty is meaningless at small shapes)
    const c = -Math.log(p) - lgamma(a);
    let y = Math.max(c, 1);
    for (let i = 0; i < 3; i++) y = Math.max(c + (a - 1) * Math.log(y), 1);
    if (y > 1) return y;
  }
  if (!(x > 0)) {
    // small-x approximation: P ~ x^a / Gamma(a + 1)
    const lp = upper ? Math.log1p(-p) : Math.log(p);
    x = Math.exp((lp + lgamma(a + 1)) / a);
  }
  return x;
}

/** x >= 0 with P(a, x) = p. */
export function gammaincPInv(a: number, p: number): number {
  if (!(a > 0) || Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return 0;
  if (p === 1) return Infinity;
  if (p > 0.9) return gammaincQInv(a, 1 - p);
  // far lower tail: P(a, x) ~ x^a / Gamma(a + 1) (1 - a x / (a + 1) + ...)
  const xs = Math.exp((Math.log(p) + lgamma(a + 1)) / a);
  if (xs < 1e-100 * Math.max(1, a)) return xs;
  const x0 = gammaGuess(a, p, false);
  return solveMonotone((x) => gammaincP(a, x), (x) => gammaDensity(a, x), p, x0, 0, Infinity, true);
}

/** x >= 0 with Q(a, x) = q (tail-accurate for small q). */
export function gammaincQInv(a: number, q: number): number {
  if (!(a > 0) || Number.isNaN(q) || q < 0 || q > 1) return NaN;
  if (q === 0) return Infinity;
  if (q === 1) return 0;
  if (q > 0.9) return gammaincPInv(a, 1 - q);
  const x0 = gammaGuess(a, q, true);
  return solveMonotone((x) => gammaincQ(a, x), (x) => -gammaDensity(a, x), q, x0, 0, Infinity, false);
}

// ---------------------------------------------------------------------------------------------
// Student t at large df

/**
 * Degrees of freedom from which t's tails come from Hill's transformation (native
 * `T_LARGE_DF`): within 2e-15 (1 + t^2) of mpmath from 1e4 on, where the incomplete beta's
 * continued fraction turns the rounding of 1 - w into ~df eps (1.5e-12 at df 5e4, t = 2).
 */
export const T_LARGE_DF = 1e4;

function tHillCorr(y: number, b: number): number {
  if (!(y < 1e6)) return 0; // (Q(z) is 0 long before; the polynomial would give inf / inf)
  return ((((-0.4 * y - 3.3) * y - 24) * y - 85.5) / (0.8 * y * y + 100 + b) + y + 3) / b;
}

/**
 * G. W. Hill's transformation (CACM Algorithm 395, native `t_hill_z`): P(T > t) = Q(z) for
 * t >= 0, z = sqrt(y) (1 + corr(y)), y = a ln(1 + t^2 / df), a = df - 1/2.
 */
export function tHillZ(t: number, df: number): number {
  const a = df - 0.5;
  const y = a * Math.log1p((t * t) / df);
  return Math.sqrt(y) * (1 + tHillCorr(y, 48 * a * a));
}

/** t >= 0 with tHillZ(t, df) = z (native `t_hill_inv`): y by fixed point, t = sqrt(df expm1(y / a)). */
export function tHillInv(z: number, df: number): number {
  const a = df - 0.5;
  const b = 48 * a * a;
  let y = z * z;
  for (let i = 0; i < 4; i++) {
    const r = z / (1 + tHillCorr(y, b));
    y = r * r;
  }
  return Math.sqrt(df * Math.expm1(y / a));
}

// ---------------------------------------------------------------------------------------------
// regularized incomplete beta

function betaCF(a: number, b: number, x: number, y: number): number {
  // continued fraction for I_x(a, b) (Numerical Recipes betacf), y = 1 - x
  const tiny = 1e-300;
  const qab = a + b, qap = a + 1, qam = a - 1;
  // (past ~1e154 a shape's products overflow: then the terms are products of ratios, native)
  const huge = Math.max(a, b) > 1e150;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < 100000; m++) {
    const m2 = 2 * m;
    let aa = huge ? ((m / (a + m2)) * ((b - m) * x)) / (qam + m2) : (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = huge ? -((a + m) / (a + m2)) * ((qab + m) / (qap + m2)) * x : (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) <= EPS) break;
  }
  void y;
  return h;
}

/**
 * ln(x^a y^b / B(a, b)), y = 1 - x (native `beta_lnpre`); for a, b >= 10 through Stirling about
 * x0 = a / (a + b): a l(u) + b l(v) + ln(ab / (a + b)) / 2 - ln sqrt(2 pi) - mu(a) - mu(b) + mu(a + b),
 * l = log1pmx, u = (x - x0) / x0, v = (x0 - x) / y0; far below u = 0 (v = 0) from the ratio.
 */
function betaLnPre(a: number, b: number, x: number, y: number): number {
  if (a >= 10 && b >= 10) {
    const n = a + b;
    const x0 = a / n, y0 = b / n;
    // x - x0 = y0 - y on the side of the mean nearer 0 (native)
    const d = x0 > 0.5 ? y0 - y : x - x0;
    const u = d / x0;
    const v = -d / y0;
    const au = u >= -0.9 ? a * log1pmx(u) : a * Math.log((x * n) / a) + (a - n * x);
    const bv = v >= -0.9 ? b * log1pmx(v) : b * Math.log((y * n) / b) + (b - n * y);
    return au + bv + 0.5 * (Math.log(a) + Math.log(b) - Math.log(n)) - LN_SQRT_2PI - stirlingCorr(a) - stirlingCorr(b)
      + stirlingCorr(n);
  }
  // (ln of whichever of x, y is the smaller, log1p of minus it for the other: ln y of a y near 1
  // carries y's rounding, which b = 5e5 turned into 5e-11 of t(1e6)'s tails)
  const lx = x <= 0.5 ? Math.log(x) : Math.log1p(-y);
  const ly = x <= 0.5 ? Math.log1p(-x) : Math.log(y);
  return a * lx + b * ly - lbeta(a, b);
}

function betaFront(a: number, b: number, x: number, y: number): number {
  // x^a y^b / (a B(a, b))
  return Math.exp(betaLnPre(a, b, x, y)) / a;
}

/**
 * lnGamma(b + a) - lnGamma(b) with the digits of a small a (native `lgamma_shift`): b raised past
 * 10 by the recurrence, then Stirling's difference, mu(z + a) - mu(z) term by term.
 */
export function lgammaShift(b: number, a: number): number {
  let z = b;
  let s = 0;
  while (z < 10) {
    s -= Math.log1p(a / z);
    z += 1;
  }
  const l = Math.log1p(a / z);
  const r2 = 1 / (z * z);
  let zn = 1 / z; // z^-(2k+1)
  let dmu = 0; // mu(z + a) - mu(z), term by term
  for (let k = 0; k < STIRLING_COEF.length; k++) {
    dmu += STIRLING_COEF[k] * zn * Math.expm1(-(2 * k + 1) * l);
    zn *= r2;
  }
  return s + (z - 0.5) * l + a * Math.log(z + a) - a + dmu;
}

/**
 * 1 - I_x(a, b) for a < 1 where I_x is above 1/2, without the cancellation of 1 - I (native
 * `betaincc_small_a`): I_x(a, b) = x^a S / (a B(a, b)), S = 1 + a sum_{j>=1} (1 - b)_j x^j / (j! (a + j)).
 */
function betaCSmallA(a: number, b: number, x: number): number {
  let term = 1;
  let sum = 0;
  for (let j = 1; j < 100000; j++) {
    term *= ((j - b) * x) / j;
    const t = term / (a + j);
    sum += t;
    if (Math.abs(t) <= 1e-17 * Math.abs(sum) || term === 0) break;
  }
  const e = a * Math.log(x) - lgamma1p(a) + lgammaShift(b, a) + Math.log1p(a * sum);
  return Math.min(Math.max(-Math.expm1(e), 0), 1);
}

/**
 * [I_x(a, b), 1 - I_x(a, b)], y = 1 - x; the smaller one computed directly (native `betainc_pq`,
 * which says why each method): both shapes above 1, the continued fraction in
 * lambda = a - (a + b) x, or near the mean with both shapes above BASYM_MIN_SHAPE the expansion
 * for large shapes; one shape at most 1 and the other from BGRAT_MIN_SHAPE, the asymptotic
 * expansion where the small shape's tail is not small; otherwise Numerical Recipes' fraction.
 */
function betaincPQ(a: number, b: number, x: number, y: number): [number, number] {
  if (a > 1 && b > 1) {
    // lambda from whichever of x and y is the accurate one
    const lambda = x <= 0.5 ? a - (a + b) * x : (a + b) * y - b;
    // the tail below the mean: I_x(a, b), or 1 - I_x(a, b) = I_y(b, a)
    const lower = lambda >= 0;
    const lam = Math.abs(lambda);
    const tail = Math.min(
      Math.min(a, b) > BASYM_MIN_SHAPE && lam <= 0.03 * Math.min(a, b)
        ? (lower ? betaAsym(a, b, lam) : betaAsym(b, a, lam))
        : Math.exp(betaLnPre(a, b, x, y)) * (lower ? betaFrac(a, b, x, y, lam) : betaFrac(b, a, y, x, lam)),
      1,
    );
    return lower ? [tail, 1 - tail] : [1 - tail, tail];
  }
  if (Math.max(a, b) >= BGRAT_MIN_SHAPE) {
    // s the small shape and x0 its variable: I_x0(s, l) = 1 - I_(1-x0)(l, s)
    const small = a <= b;
    const s = small ? a : b, l = small ? b : a, x0 = small ? x : y;
    if (x0 < 0.3 && s * Math.log(x0 * l) > Math.log(0.7)) {
      const g = betaGrat(l, s, x0);
      if (g !== null) {
        const j = Math.min(Math.max(g, 0), 1);
        return small ? [1 - j, j] : [j, 1 - j];
      }
    }
  }
  if (x < (a + 1) / (a + b + 2)) {
    const i = Math.min(betaFront(a, b, x, y) * betaCF(a, b, x, y), 1);
    if (i > 0.5 && a < 1) {
      const q = betaCSmallA(a, b, x);
      return [1 - q, q];
    }
    return [i, 1 - i];
  }
  const j = Math.min(betaFront(b, a, y, x) * betaCF(b, a, y, x), 1);
  if (j > 0.5 && b < 1) {
    const p = betaCSmallA(b, a, y);
    return [p, 1 - p];
  }
  return [1 - j, j];
}

/**
 * DiDonato and Morris's continued fraction (TOMS 708, BFRAC; native `beta_frac`) for a, b > 1 and
 * lambda = a - (a + b) x >= 0: I_x(a, b) = x^a y^b / B(a, b) r, r returned; convergents A_n / B_n
 * by their three-term recurrence, renormalized to B_n = 1 every step.
 */
function betaFrac(a: number, b: number, x: number, y: number, lambda: number): number {
  const c = 1 + lambda;
  const bOverA = b / a;
  const c1 = 1 + 1 / a;
  const yp1 = y + 1;
  let p = 1; // 1 + (n - 1) / a
  let s = a + 1; // a + 2n - 1
  let aPrev = 0, bPrev = 1, aCur = 1, bCur = c / c1;
  let r = c1 / c;
  for (let n = 1; n < 100000; n++) {
    const t = n / a;
    const w = n * (b - n) * x;
    const e = a / s;
    const alpha = p * (p + bOverA) * e * e * (w * x);
    const beta = n + w / s + ((1 + t) / (c1 + t + t)) * (c + n * yp1);
    p = 1 + t;
    s += 2;
    const aNext = alpha * aPrev + beta * aCur;
    const bNext = alpha * bPrev + beta * bCur;
    const rPrev = r;
    r = aNext / bNext;
    if (Math.abs(r - rPrev) <= EPS * r) break;
    aPrev = aCur / bNext;
    bPrev = bCur / bNext;
    aCur = r;
    bCur = 1;
  }
  return r;
}

/** Both shapes above which I_x near the mean comes from `betaAsym` (native `BASYM_MIN_SHAPE`, which says why). */
const BASYM_MIN_SHAPE = 1000;

/** e^(x^2) erfc(x) for x >= 0 (native `erfcx`). */
function erfcxPos(x: number): number {
  if (x >= 1.5) return x > 1e8 ? INV_SQRT_PI / x : erfcxCF(x) * INV_SQRT_PI;
  return Math.exp(x * x) * (1 - erfSeries(x));
}

/** Terms of `betaAsym`, and its coefficient arrays (scratch: every entry is written before it is read). */
const ASYM_TERMS = 20;
const ASYM_COEF = [0, 1, 2, 3].map(() => new Float64Array(ASYM_TERMS + 2));

/**
 * I_x(a, b) for a, b > BASYM_MIN_SHAPE and 0 <= lambda = a - (a + b) x: DiDonato and Morris's
 * asymptotic expansion for large shapes (TOMS 708, BASYM; native `beta_asym`, which gives the terms).
 */
function betaAsym(a: number, b: number, lambda: number): number {
  const NUM = ASYM_TERMS;
  const E0 = 1.1283791670955126; // 2/sqrt(pi)
  const E1 = 0.3535533905932738; // 2^(-3/2)
  const h = a >= b ? b / a : a / b;
  const r1 = a >= b ? (b - a) / a : (b - a) / b;
  const w0 = 1 / Math.sqrt((a >= b ? b : a) * (1 + h));
  const r0 = 1 / (1 + h);
  const f = -(a * log1pmx(-lambda / a) + b * log1pmx(lambda / b));
  const t = Math.exp(-f);
  if (t === 0) return 0;
  const z0 = Math.sqrt(f);
  const z2 = f + f;
  const [ca, cb, cc, cd] = ASYM_COEF;
  ca[1] = (2 / 3) * r1;
  cc[1] = -0.5 * ca[1];
  cd[1] = -cc[1];
  let j0 = (0.5 / E0) * erfcxPos(z0);
  let j1 = E1;
  let sum = j0 + cd[1] * w0 * j1;
  let s = 1, hn = 1, w = w0;
  const h2 = h * h;
  let znm1 = (0.5 * z0) / E1, zn = z2;
  for (let n = 2; n <= NUM; n += 2) {
    hn *= h2;
    ca[n] = (2 * r0 * (1 + h * hn)) / (n + 2);
    s += hn;
    ca[n + 1] = (2 * r1 * s) / (n + 3);
    for (let i = n; i <= n + 1; i++) {
      const r = -0.5 * (i + 1);
      cb[1] = r * ca[1];
      for (let m = 2; m <= i; m++) {
        let acc = 0;
        for (let j = 1; j < m; j++) acc += (j * r - (m - j)) * ca[j] * cb[m - j];
        cb[m] = r * ca[m] + acc / m;
      }
      cc[i] = cb[i] / (i + 1);
      let acc = 0;
      for (let j = 1; j < i; j++) acc += cd[i - j] * cc[j];
      cd[i] = -(acc + cc[i]);
    }
    j0 = E1 * znm1 + (n - 1) * j0;
    j1 = E1 * zn + n * j1;
    znm1 *= z2;
    zn *= z2;
    w *= w0;
    const t0 = cd[n] * w * j0;
    w *= w0;
    const t1 = cd[n + 1] * w * j1;
    sum += t0 + t1;
    if (Math.abs(t0) + Math.abs(t1) <= EPS * sum) break;
  }
  const corr = stirlingCorr(a) + stirlingCorr(b) - stirlingCorr(a + b);
  return E0 * t * Math.exp(-corr) * sum;
}

/** Shape from which one at most 1 takes the asymptotic expansion `betaGrat` (native `BGRAT_MIN_SHAPE`). */
const BGRAT_MIN_SHAPE = 100;

/** `betaGrat`'s coefficient arrays (scratch: every entry is written before it is read). */
const GRAT_COEF = [new Float64Array(31), new Float64Array(31)];

/**
 * I_(1-x0)(l, s) for l >= BGRAT_MIN_SHAPE, s <= 1: DiDonato and Morris's asymptotic expansion
 * (TOMS 708, BGRAT; native `beta_grat`, which gives the terms); null where it breaks down.
 */
function betaGrat(l: number, s: number, x0: number): number | null {
  const lnX = Math.log1p(-x0);
  const nu = l + 0.5 * (s - 1);
  const z = -nu * lnX;
  // (a subnormal z carries ~1 / (2 nu) of rounding: native)
  if (!(z >= 2.2250738585072014e-308)) return null;
  const ratio = Math.exp(lgammaShift(l, s) - s * Math.log(nu)); // Gamma(l + s) / (Gamma(l) nu^s)
  const u = ratio * Math.exp(s * Math.log(z) - z - lgamma(s));
  const v = 0.25 / (nu * nu);
  const t2 = 0.25 * lnX * lnX;
  let k = ratio * gammaincPQ(s, z)[1];
  let sum = k;
  let t = u; // U (ln^2 X / 4)^(n-1)
  let cn = 1;
  const [c, d] = GRAT_COEF;
  for (let n = 1; n <= 30; n++) {
    const sp2n = s + 2 * (n - 1);
    k = (sp2n * (sp2n + 1) * k + (z + sp2n + 1) * t) * v;
    t *= t2;
    cn /= 2 * n * (2 * n + 1);
    c[n] = cn;
    let acc = 0;
    for (let i = 1; i < n; i++) acc += (i * s - n) * c[i] * d[n - i];
    d[n] = (s - 1) * cn + acc / n;
    const term = d[n] * k;
    sum += term;
    if (!(sum > 0)) return null;
    if (Math.abs(term) <= EPS * sum) break;
  }
  return sum;
}

/**
 * Regularized incomplete beta I_x(a, b). Pass y = 1 - x when it is known more accurately than
 * by subtraction (e.g. for Student t tails).
 */
export function betainc(a: number, b: number, x: number, y: number = 1 - x): number {
  // (a + b finite too, as native: beta(9e307, 9e307) is beyond every method here)
  if (Number.isNaN(x) || !(a > 0) || !(b > 0) || !Number.isFinite(a + b)) return NaN;
  if (x <= 0) return 0;
  if (y <= 0 || x >= 1) return 1;
  return betaincPQ(a, b, x, y)[0];
}

/** 1 - I_x(a, b), accurate when it is small. */
export function betaincC(a: number, b: number, x: number, y: number = 1 - x): number {
  if (Number.isNaN(x) || !(a > 0) || !(b > 0) || !Number.isFinite(a + b)) return NaN;
  if (x <= 0) return 1;
  if (y <= 0 || x >= 1) return 0;
  return betaincPQ(a, b, x, y)[1];
}

function betaDensity(a: number, b: number, x: number): number {
  if (x <= 0 || x >= 1) return 0;
  // (through betaLnPre, whose large terms cancel analytically: native betaincinv's derivative)
  return Math.exp(betaLnPre(a, b, x, 1 - x) - Math.log(x) - Math.log1p(-x));
}

/** x in [0, 1] with I_x(a, b) = p. */
export function betaincInv(a: number, b: number, p: number): number {
  if (!(a > 0) || !(b > 0) || Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return 0;
  if (p === 1) return 1;
  // (solved for x itself, as native: 1 - betaincInv(b, a, 1 - p) kept x to 1e-16 absolute)
  if (p > 0.5) return betaincCInv(a, b, 1 - p);
  // guess: small-x power law, clipped into (0, 1); the solver brackets anyway
  let x0 = Math.exp((Math.log(p) + Math.log(a) + lbeta(a, b)) / a);
  // (native: the leading term itself where its relative error, ~(1 - b) x, is below 1e-100;
  // Newton's derivative, ~a / x, overflows on subnormal roots)
  if (x0 * (1 + b) < 1e-100) return x0;
  if (!(x0 > 0 && x0 < 1)) x0 = a / (a + b);
  return solveMonotone((x) => betainc(a, b, x), (x) => betaDensity(a, b, x), p, x0, 0, 1, true);
}

/** x in [0, 1] with 1 - I_x(a, b) = q (accurate for small q; native `betainccinv`). */
export function betaincCInv(a: number, b: number, q: number): number {
  if (!(a > 0) || !(b > 0) || Number.isNaN(q) || q < 0 || q > 1) return NaN;
  if (q === 0) return 1;
  if (q === 1) return 0;
  if (q > 0.5) return betaincInv(a, b, 1 - q);
  // start from the upper tail's leading term, 1 - I_x = (1 - x)^b / (b B(a, b)) (1 + O(1 - x))
  let x0 = 1 - Math.exp((Math.log(q) + Math.log(b) + lbeta(a, b)) / b);
  x0 = Math.max(x0, a / (a + b));
  return solveMonotone((x) => betaincC(a, b, x), (x) => -betaDensity(a, b, x), q, x0, 0, 1, false);
}
