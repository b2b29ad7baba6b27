/**
 * Distribution programs (native/PROTOCOL.md §2) for the TypeScript fallback kernel: decoding with
 * validation, sampling (same algorithms and uniform-consumption order as native/src/dist.rs),
 * normalized log densities, and for 1-D distributions cdf / sf / quantile / isf / mean /
 * variance.
 */

import { Stream } from './rng.js';
import {
  betainc,
  betaincC,
  betaincCInv,
  betaincInv,
  gammaincP,
  gammaincPInv,
  gammaincQ,
  gammaincQInv,
  lbeta,
  lgamma,
  lgamma1p,
  log1pmx,
  ndtri,
  ndtriSf,
  normCdf,
  normSf,
  solveMonotone,
  stirlingCorr,
  T_LARGE_DF,
  tHillInv,
  tHillZ,
} from './special.js';

export const TAG = {
  uniform: 1,
  normal: 2,
  lognormal: 3,
  exponential: 4,
  gamma: 5,
  beta: 6,
  studentT: 7,
  cauchy: 8,
  laplace: 9,
  logistic: 10,
  truncated: 20,
  mixture: 21,
  product: 22,
  mvnormalDiag: 23,
} as const;

/** A decoded distribution program. */
export interface JsDist {
  /** number of columns of a sample row */
  readonly dim: number;
  /** Fill `out` (rows of `dim`, row-major) with samples drawn from `rng`. */
  sample(rng: Stream, out: Float64Array): void;
  /** Normalized log density of each row of `xs` (-inf outside the support). */
  logpdf(xs: Float64Array, out: Float64Array): void;
  /** Draw one row into out[off .. off + dim). */
  sampleRow(rng: Stream, out: Float64Array, off: number): void;
  /** Log density of the row xs[off .. off + dim). */
  logpdfRow(xs: Float64Array, off: number): number;
}

/** A decoded one-dimensional distribution. */
export interface JsDist1 extends JsDist {
  readonly dim: 1;
  /** support bounds (closed; may be infinite) */
  readonly lower: number;
  readonly upper: number;
  /** mean (NaN when undefined, +inf when infinite) */
  readonly mean: number;
  /** variance (NaN when undefined, +inf when infinite) */
  readonly variance: number;
  /** one draw */
  draw(rng: Stream): number;
  /** log density at x */
  lpdf(x: number): number;
  cdf(x: number): number;
  /** survival function 1 - cdf(x), accurate in the upper tail */
  sf(x: number): number;
  /** inverse cdf */
  quantile(p: number): number;
  /** inverse survival function: x with sf(x) = q */
  isf(q: number): number;
}

const LN_SQRT_2PI = 0.91893853320467274178;
const LN_PI = 1.1447298858494002;
const EPS = 2.220446049250313e-16;

// ---------------------------------------------------------------------------------------------
// standard normal: 256-layer ziggurat (Marsaglia & Tsang 2000)

const ZIG_R = 3.6541528853610088;
const ZIG_V = 0.00492867323399;
/** layer right edges: ZX[0] = V / f(R) (base strip), ZX[1] = R, ..., ZX[256] = 0 */
const ZX = new Float64Array(257);
/** ZF[i] = exp(-ZX[i]^2 / 2) */
const ZF = new Float64Array(257);
{
  const f = (x: number): number => Math.exp(-0.5 * x * x);
  ZX[0] = ZIG_V / f(ZIG_R);
  ZX[1] = ZIG_R;
  for (let i = 1; i < 256; i++) {
    ZX[i + 1] = Math.sqrt(-2 * Math.log(ZIG_V / ZX[i] + f(ZX[i])));
  }
  ZX[256] = 0;
  for (let i = 0; i < 257; i++) ZF[i] = f(ZX[i]);
  ZF[256] = 1;
}

const TWO21 = 2097152;
const INV53 = 1 / 9007199254740992;

/** One standard normal draw. */
export function stdNormal(rng: Stream): number {
  for (;;) {
    rng.next();
    const lo = rng.lo;
    const i = lo & 255;
    const neg = (lo & 256) !== 0;
    const z = (rng.hi * TWO21 + (lo >>> 11)) * INV53 * ZX[i];
    if (z < ZX[i + 1]) return neg ? -z : z;
    if (i === 0) {
      // tail beyond R (Marsaglia 1964)
      let a: number, b: number;
      do {
        a = -Math.log(rng.nextF64()) / ZIG_R;
        b = -Math.log(rng.nextF64());
      } while (!(2 * b > a * a));
      return neg ? -(ZIG_R + a) : ZIG_R + a;
    }
    if (ZF[i] + (ZF[i + 1] - ZF[i]) * rng.nextF64() < Math.exp(-0.5 * z * z)) return neg ? -z : z;
  }
}

/** Marsaglia & Tsang gamma(shape, 1) for shape >= 1. */
function gammaMT(rng: Stream, d: number, c: number): number {
  for (;;) {
    let x: number, v: number;
    do {
      x = stdNormal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.nextF64();
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * The draws of one gamma(shape, 1) variate for shape < 1 as [g, e], the variate being g e^e:
 * g = G(shape + 1), then e = ln(u) / shape (dist.rs `GammaGen::parts`).
 */
function gammaSmallParts(rng: Stream, shape: number): [number, number] {
  const d = shape + 1 - 1 / 3;
  const g = gammaMT(rng, d, 1 / Math.sqrt(9 * d));
  return [g, Math.log(rng.nextF64()) / shape];
}

/** ln of a gamma(shape, 1) draw; valid for any shape > 0 (shape < 1 in log space). */
function logGammaDraw(rng: Stream, shape: number): number {
  if (shape >= 1) {
    const d = shape - 1 / 3;
    return Math.log(gammaMT(rng, d, 1 / Math.sqrt(9 * d)));
  }
  const [g, e] = gammaSmallParts(rng, shape);
  return Math.log(g) + e;
}

/** gamma(shape, 1) for shape < 1: G(shape + 1) * u^(1/shape), the power taken as exp(ln(u) / shape). */
function gammaSmallDraw(rng: Stream, shape: number): number {
  const [g, e] = gammaSmallParts(rng, shape);
  return g * Math.exp(e);
}

/** A gamma(shape, 1) draw. */
function gammaDraw(rng: Stream, shape: number): number {
  if (shape >= 1) {
    const d = shape - 1 / 3;
    return gammaMT(rng, d, 1 / Math.sqrt(9 * d));
  }
  return gammaSmallDraw(rng, shape);
}

// ---------------------------------------------------------------------------------------------
// base classes

abstract class Base1 implements JsDist1 {
  readonly dim = 1 as const;
  abstract readonly lower: number;
  abstract readonly upper: number;
  abstract readonly mean: number;
  abstract readonly variance: number;
  abstract draw(rng: Stream): number;
  abstract lpdf(x: number): number;
  abstract cdf(x: number): number;
  abstract sf(x: number): number;
  abstract quantile(p: number): number;
  abstract isf(q: number): number;

  sample(rng: Stream, out: Float64Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.draw(rng);
  }
  logpdf(xs: Float64Array, out: Float64Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.lpdf(xs[i]);
  }
  sampleRow(rng: Stream, out: Float64Array, off: number): void {
    out[off] = this.draw(rng);
  }
  logpdfRow(xs: Float64Array, off: number): number {
    return this.lpdf(xs[off]);
  }
}

/**
 * A distribution whose mean and variance are computed when first asked for (`computeMoments`):
 * a truncation's come from a quadrature of its quantiles, a mixture's from its components', and
 * decoding 300 truncated components had cost 0.5 s when they were computed at construction.
 */
abstract class LazyMoments1 extends Base1 {
  private momentsCache: [number, number] | null = null;
  protected abstract computeMoments(): [number, number];
  get mean(): number {
    return this.moments()[0];
  }
  get variance(): number {
    return this.moments()[1];
  }
  private moments(): [number, number] {
    if (this.momentsCache === null) this.momentsCache = this.computeMoments();
    return this.momentsCache;
  }
}

function checkP(p: number): number {
  return Number.isNaN(p) || p < 0 || p > 1 ? NaN : p;
}

class Uniform extends Base1 {
  readonly lower: number;
  readonly upper: number;
  readonly mean: number;
  readonly variance: number;
  private readonly w: number;
  private readonly lw: number;
  constructor(readonly a: number, readonly b: number) {
    super();
    this.lower = a;
    this.upper = b;
    this.w = b - a;
    this.lw = Math.log(b - a);
    this.mean = 0.5 * (a + b);
    this.variance = (this.w * this.w) / 12;
  }
  draw(rng: Stream): number {
    return this.a + this.w * rng.nextF64();
  }
  lpdf(x: number): number {
    return x >= this.a && x <= this.b ? -this.lw : Number.isNaN(x) ? NaN : -Infinity;
  }
  cdf(x: number): number {
    return x <= this.a ? 0 : x >= this.b ? 1 : (x - this.a) / this.w;
  }
  sf(x: number): number {
    return x <= this.a ? 1 : x >= this.b ? 0 : (this.b - x) / this.w;
  }
  quantile(p: number): number {
    return this.a + this.w * checkP(p);
  }
  isf(q: number): number {
    return this.b - this.w * checkP(q);
  }
}

class Normal extends Base1 {
  readonly lower = -Infinity;
  readonly upper = Infinity;
  readonly mean: number;
  readonly variance: number;
  private readonly c: number;
  constructor(readonly mu: number, readonly sigma: number) {
    super();
    this.mean = mu;
    this.variance = sigma * sigma;
    this.c = -Math.log(sigma) - LN_SQRT_2PI;
  }
  draw(rng: Stream): number {
    return this.mu + this.sigma * stdNormal(rng);
  }
  override sample(rng: Stream, out: Float64Array): void {
    const mu = this.mu, s = this.sigma;
    for (let i = 0; i < out.length; i++) out[i] = mu + s * stdNormal(rng);
  }
  lpdf(x: number): number {
    const z = (x - this.mu) / this.sigma;
    return this.c - 0.5 * z * z;
  }
  cdf(x: number): number {
    return normCdf((x - this.mu) / this.sigma);
  }
  sf(x: number): number {
    return normSf((x - this.mu) / this.sigma);
  }
  quantile(p: number): number {
    return this.mu + this.sigma * ndtri(p);
  }
  isf(q: number): number {
    return this.mu + this.sigma * ndtriSf(q);
  }
}

class LogNormal extends Base1 {
  readonly lower = 0;
  readonly upper = Infinity;
  readonly mean: number;
  readonly variance: number;
  private readonly c: number;
  constructor(readonly mu: number, readonly sigma: number) {
    super();
    const s2 = sigma * sigma;
    this.mean = Math.exp(mu + 0.5 * s2);
    this.variance = Math.expm1(s2) * Math.exp(2 * mu + s2);
    this.c = -Math.log(sigma) - LN_SQRT_2PI;
  }
  draw(rng: Stream): number {
    return Math.exp(this.mu + this.sigma * stdNormal(rng));
  }
  lpdf(x: number): number {
    if (!(x > 0)) return Number.isNaN(x) ? NaN : -Infinity;
    const lx = Math.log(x);
    if (!Number.isFinite(lx)) return -Infinity;
    const z = (lx - this.mu) / this.sigma;
    return this.c - lx - 0.5 * z * z;
  }
  cdf(x: number): number {
    return x <= 0 ? 0 : normCdf((Math.log(x) - this.mu) / this.sigma);
  }
  sf(x: number): number {
    return x <= 0 ? 1 : normSf((Math.log(x) - this.mu) / this.sigma);
  }
  quantile(p: number): number {
    return Math.exp(this.mu + this.sigma * ndtri(p));
  }
  isf(q: number): number {
    return Math.exp(this.mu + this.sigma * ndtriSf(q));
  }
}

class Exponential extends Base1 {
  readonly lower = 0;
  readonly upper = Infinity;
  readonly mean: number;
  readonly variance: number;
  private readonly lr: number;
  /** -1 / rate (dist.rs multiplies by it: `ln(u) * (-1 / rate)`) */
  private readonly nir: number;
  constructor(readonly rate: number) {
    super();
    this.mean = 1 / rate;
    this.variance = 1 / (rate * rate);
    this.lr = Math.log(rate);
    this.nir = -1 / rate;
  }
  draw(rng: Stream): number {
    return Math.log(rng.nextF64()) * this.nir;
  }
  override sample(rng: Stream, out: Float64Array): void {
    const nir = this.nir;
    for (let i = 0; i < out.length; i++) out[i] = Math.log(rng.nextF64()) * nir;
  }
  lpdf(x: number): number {
    return x >= 0 ? this.lr - this.rate * x : Number.isNaN(x) ? NaN : -Infinity;
  }
  cdf(x: number): number {
    return x <= 0 ? 0 : -Math.expm1(-this.rate * x);
  }
  sf(x: number): number {
    return x <= 0 ? 1 : Math.exp(-this.rate * x);
  }
  quantile(p: number): number {
    return Math.log1p(-checkP(p)) * this.nir;
  }
  isf(q: number): number {
    return Math.log(checkP(q)) * this.nir;
  }
}

/**
 * Gamma and beta draws stay inside their open support (as dist.rs): a draw that rounds to 0 or
 * 1 moves to the nearest double inside, where the log density is finite (at the edge it is
 * infinite for shapes below 1, and p/q = inf - inf would reject it).
 */
const TINY_POS = Number.MIN_VALUE;
/** Below y = rate x = 1e-300, P(a, y) = y^a / Gamma(a + 1) (1 + O(y)) (dist.rs `GAMMA_TINY_Y`). */
const GAMMA_TINY_Y = 1e-300;
/** The smallest positive normal double, 2^-1022. */
const DBL_MIN = 2.2250738585072014e-308;
const BELOW_ONE = 1 - 2 ** -53;

/**
 * Shape from which gamma and beta log densities are taken about their mode (dist.rs
 * `ABOUT_MODE_SHAPE`): the plain form's terms of ~a ln a round to 2e-9 at a = 1e6.
 */
const ABOUT_MODE_SHAPE = 64;

/** ln(1 + t) - t, t = x / m - 1, given x, 1 / m and ln m (dist.rs `log1pmx_of`). */
function log1pmxOf(t: number, x: number, im: number, lnM: number): number {
  if (Math.abs(t) < 0.5) return log1pmx(t);
  if (t > 0) return t < Infinity ? Math.log1p(t) - t : -Infinity;
  const r = x * im;
  return (r >= DBL_MIN ? Math.log(r) : Math.log(x) - lnM) - t;
}

/** Gamma's log density about its mode for shape >= ABOUT_MODE_SHAPE (dist.rs `GammaAboutMode`). */
class GammaAboutMode {
  readonly k: number;
  readonly lp: number;
  readonly m: number;
  readonly im: number;
  readonly lnM: number;
  constructor(shape: number, rate: number, lnRate: number) {
    this.k = shape - 1;
    this.m = this.k / rate;
    this.im = 1 / this.m;
    this.lnM = Math.log(this.m);
    this.lp = lnRate - 0.5 * Math.log(this.k) - LN_SQRT_2PI - stirlingCorr(this.k);
  }
  static of(shape: number, rate: number, lnRate: number): GammaAboutMode | null {
    if (!(shape >= ABOUT_MODE_SHAPE)) return null;
    const g = new GammaAboutMode(shape, rate, lnRate);
    return Number.isFinite(g.m) && g.m > 0 ? g : null;
  }
  lpdf(x: number): number {
    const t = (x - this.m) * this.im;
    return this.lp + this.k * log1pmxOf(t, x, this.im, this.lnM);
  }
}

/** Beta's log density about its mode for min(a, b) >= ABOUT_MODE_SHAPE (dist.rs `BetaAboutMode`). */
class BetaAboutMode {
  readonly a1: number;
  readonly b1: number;
  readonly lp: number;
  readonly x0: number;
  readonly y0: number;
  readonly ix0: number;
  readonly iy0: number;
  readonly lnX0: number;
  readonly lnY0: number;
  constructor(a: number, b: number) {
    this.a1 = a - 1;
    this.b1 = b - 1;
    const n = this.a1 + this.b1;
    this.x0 = this.a1 / n;
    this.y0 = this.b1 / n;
    this.ix0 = 1 / this.x0;
    this.iy0 = 1 / this.y0;
    this.lnX0 = Math.log(this.x0);
    this.lnY0 = Math.log(this.b1 / n);
    this.lp = 0.5 * Math.log(n) + Math.log(n + 1) - 0.5 * (Math.log(this.a1) + Math.log(this.b1)) - LN_SQRT_2PI
      + stirlingCorr(n) - stirlingCorr(this.a1) - stirlingCorr(this.b1);
  }
  static of(a: number, b: number): BetaAboutMode | null {
    if (!(Math.min(a, b) >= ABOUT_MODE_SHAPE)) return null;
    const bm = new BetaAboutMode(a, b);
    return Number.isFinite(bm.a1 + bm.b1) && bm.x0 > 0 && bm.iy0 < Infinity ? bm : null;
  }
  lpdf(x: number): number {
    // x - x0 = y0 - y on the side of the mode nearer 0 (native: x0's rounding near 1 over a small y0)
    const d = this.x0 > 0.5 ? this.y0 - (1 - x) : x - this.x0;
    const u = d * this.ix0;
    const v = -d * this.iy0;
    return this.lp + this.a1 * log1pmxOf(u, x, this.ix0, this.lnX0) + this.b1 * log1pmxOf(v, 1 - x, this.iy0, this.lnY0);
  }
}

class Gamma extends Base1 {
  readonly lower = 0;
  readonly upper = Infinity;
  readonly mean: number;
  readonly variance: number;
  private readonly c: number;
  private readonly lnRate: number;
  private readonly aboutMode: GammaAboutMode | null;
  constructor(readonly shape: number, readonly rate: number) {
    super();
    this.mean = shape / rate;
    this.variance = shape / (rate * rate);
    this.lnRate = Math.log(rate);
    this.c = shape * this.lnRate - lgamma(shape);
    this.aboutMode = GammaAboutMode.of(shape, rate, this.lnRate);
  }
  draw(rng: Stream): number {
    const k = this.shape;
    if (k >= 1) return Math.max(gammaDraw(rng, k) / this.rate, TINY_POS);
    // dist.rs `sample_rate`: a unit variate below DBL_MIN is rescaled in log space
    const [g, e] = gammaSmallParts(rng, k);
    const x = g * Math.exp(e);
    const v = x >= DBL_MIN ? x / this.rate : Math.exp(Math.log(g) + e - this.lnRate);
    return Math.max(v, TINY_POS);
  }
  lpdf(x: number): number {
    if (Number.isNaN(x)) return NaN;
    if (x < 0 || x === Infinity) return -Infinity;
    const k = this.shape;
    if (x === 0) return k < 1 ? Infinity : k === 1 ? Math.log(this.rate) : -Infinity;
    if (this.aboutMode !== null) return this.aboutMode.lpdf(x);
    return this.c + (k - 1) * Math.log(x) - this.rate * x;
  }
  /** ln P below GAMMA_TINY_Y from its leading term (dist.rs `gamma_pq`), else null */
  private tinyLnP(x: number): number | null {
    if (!(x > 0 && this.rate * x < GAMMA_TINY_Y)) return null;
    return this.shape * (Math.log(x) + this.lnRate) - lgamma1p(this.shape);
  }
  /** dist.rs `gamma_inv_tiny` */
  private tinyInv(lnP: number): number | null {
    const lnY = (lnP + lgamma1p(this.shape)) / this.shape;
    return lnY < Math.log(GAMMA_TINY_Y) ? Math.exp(lnY - this.lnRate) : null;
  }
  cdf(x: number): number {
    if (x <= 0) return 0;
    const lnP = this.tinyLnP(x);
    return lnP !== null ? Math.exp(lnP) : gammaincP(this.shape, this.rate * x);
  }
  sf(x: number): number {
    if (x <= 0) return 1;
    const lnP = this.tinyLnP(x);
    // (-expm1(ln p) keeps the digits 1 - p rounds away when p is near 1)
    return lnP !== null ? -Math.expm1(lnP) : gammaincQ(this.shape, this.rate * x);
  }
  quantile(p: number): number {
    return this.tinyInv(Math.log(p)) ?? gammaincPInv(this.shape, p) / this.rate;
  }
  isf(q: number): number {
    return this.tinyInv(Math.log1p(-q)) ?? gammaincQInv(this.shape, q) / this.rate;
  }
}

class Beta extends Base1 {
  readonly lower = 0;
  readonly upper = 1;
  readonly mean: number;
  readonly variance: number;
  private readonly lb: number;
  private readonly aboutMode: BetaAboutMode | null;
  constructor(readonly alpha: number, readonly beta: number) {
    super();
    const s = alpha + beta;
    this.mean = alpha / s;
    this.variance = (alpha * beta) / (s * s * (s + 1));
    this.lb = lbeta(alpha, beta);
    this.aboutMode = BetaAboutMode.of(alpha, beta);
  }
  draw(rng: Stream): number {
    const a = this.alpha, b = this.beta;
    let x: number;
    if (a < 1 && b < 1) {
      const lx = logGammaDraw(rng, a);
      const ly = logGammaDraw(rng, b);
      // X / (X + Y) = 1 / (1 + exp(ly - lx))
      x = 1 / (1 + Math.exp(ly - lx));
    } else {
      const gx = gammaDraw(rng, a);
      const gy = gammaDraw(rng, b);
      x = gx / (gx + gy);
    }
    return Math.min(Math.max(x, TINY_POS), BELOW_ONE);
  }
  lpdf(x: number): number {
    if (Number.isNaN(x)) return NaN;
    if (x < 0 || x > 1) return -Infinity;
    const a = this.alpha, b = this.beta;
    if (x === 0) return a < 1 ? Infinity : a === 1 ? -this.lb : -Infinity;
    if (x === 1) return b < 1 ? Infinity : b === 1 ? -this.lb : -Infinity;
    if (this.aboutMode !== null) return this.aboutMode.lpdf(x);
    return (a - 1) * Math.log(x) + (b - 1) * Math.log1p(-x) - this.lb;
  }
  cdf(x: number): number {
    return x <= 0 ? 0 : x >= 1 ? 1 : betainc(this.alpha, this.beta, x);
  }
  sf(x: number): number {
    return x <= 0 ? 1 : x >= 1 ? 0 : betaincC(this.alpha, this.beta, x);
  }
  quantile(p: number): number {
    return betaincInv(this.alpha, this.beta, p);
  }
  isf(q: number): number {
    if (Number.isNaN(q) || q < 0 || q > 1) return NaN;
    return betaincCInv(this.alpha, this.beta, q);
  }
}

class StudentT extends Base1 {
  readonly lower = -Infinity;
  readonly upper = Infinity;
  readonly mean: number;
  readonly variance: number;
  private readonly c: number;
  private readonly lnDf: number;
  /** P(T <= -sqrt(df)), where lowerQ switches between x and 1 - x (computed at first use) */
  private pSwitch: number | undefined;
  constructor(readonly df: number, readonly loc: number, readonly scale: number) {
    super();
    this.lnDf = Math.log(df);
    this.mean = df > 1 ? loc : NaN;
    this.variance = df > 2 ? (scale * scale * df) / (df - 2) : df > 1 ? Infinity : NaN;
    // (dist.rs: 1 / (B(df / 2, 1/2) sqrt(df)), lbeta keeping the digits of large df)
    this.c = -lbeta(0.5 * df, 0.5) - 0.5 * this.lnDf - Math.log(scale);
  }
  draw(rng: Stream): number {
    const z = stdNormal(rng);
    if (this.df < 2) {
      // (as native: V = 2 G(df/2) underflows for small df, so sqrt(df / V) in log space)
      const lv = Math.LN2 + logGammaDraw(rng, 0.5 * this.df);
      return this.loc + this.scale * z * Math.exp(0.5 * (this.lnDf - lv));
    }
    const v = 2 * gammaDraw(rng, 0.5 * this.df);
    return this.loc + (this.scale * z) / Math.sqrt(v / this.df);
  }
  lpdf(x: number): number {
    const z = (x - this.loc) / this.scale;
    const zz = (z * z) / this.df;
    // (as native: past |z| = sqrt(DBL_MAX df) z^2 / df overflows; log1p of it is 2 ln|z| - ln df)
    return this.c - 0.5 * (this.df + 1) * (zz < Infinity ? Math.log1p(zz) : 2 * Math.log(Math.abs(z)) - this.lnDf);
  }
  /** P(T <= -|t|) for the standard t */
  private lowerTail(t: number): number {
    const t2 = t * t;
    const nu = this.df;
    if (Number.isNaN(t2)) return NaN;
    if (nu >= T_LARGE_DF) return normSf(tHillZ(Math.abs(t), nu));
    if (t2 > 1e300 * nu) {
      // (as native t_sf: x < 1e-300, or t^2 overflows: I_x(a, 1/2) = x^a / (a B(a, 1/2)) (1 + O(x)))
      const a = 0.5 * nu;
      const r = Math.sqrt(nu) / Math.abs(t);
      const lnX = r >= DBL_MIN ? 2 * Math.log(r) : Math.log(nu) - 2 * Math.log(Math.abs(t));
      return 0.5 * Math.exp(a * lnX - Math.log(a) - lbeta(a, 0.5));
    }
    // x = nu / (nu + t^2), 1 - x = t^2 / (nu + t^2); below t^2 = nu as 1 - I_{1 - x}(1/2, nu / 2)
    // (native t_sf): I_x(nu / 2, 1/2) lost ~1e-11 of the tails of t(1e6)
    if (t2 < nu) return 0.5 * betaincC(0.5, 0.5 * nu, t2 / (nu + t2), nu / (nu + t2));
    return 0.5 * betainc(0.5 * nu, 0.5, nu / (nu + t2), t2 / (nu + t2));
  }
  cdf(x: number): number {
    if (Number.isNaN(x)) return NaN;
    const t = (x - this.loc) / this.scale;
    return t < 0 ? this.lowerTail(t) : 1 - this.lowerTail(t);
  }
  sf(x: number): number {
    if (Number.isNaN(x)) return NaN;
    const t = (x - this.loc) / this.scale;
    return t > 0 ? this.lowerTail(t) : 1 - this.lowerTail(t);
  }
  /** standard t with lower-tail probability p <= 0.5: t <= 0 */
  private lowerQ(p: number): number {
    if (p === 0) return -Infinity;
    if (p === 0.5) return 0;
    const nu = this.df;
    if (nu >= T_LARGE_DF) return -tHillInv(ndtriSf(p), nu);
    // 2p = I_x(nu/2, 1/2), x = nu / (nu + t^2); solved for whichever of x and y = 1 - x is below
    // 1/2 (t^2 > nu or not), so that t is formed without 1 - (a number near 1): from x near 1,
    // t(1e8)'s quantiles near 1 kept 8 digits
    this.pSwitch ??= this.lowerTail(-Math.sqrt(nu));
    if (p < this.pSwitch) {
      // where x < 1e-300, 2p = x^a / (a B(a, 1/2)) (lowerTail's form), inverted in logs: x
      // itself would underflow for small nu (t(0.05) at p = 1e-12 gave -inf)
      const a = 0.5 * nu;
      const lnX = (Math.log(2 * p) + Math.log(a) + lbeta(a, 0.5)) / a;
      if (lnX < Math.log(1e-300)) return -Math.exp(0.5 * (Math.log(nu) - lnX));
      const x = betaincInv(0.5 * nu, 0.5, 2 * p);
      return -Math.sqrt((nu * (1 - x)) / x);
    }
    // 2p = 1 - I_y(1/2, nu/2), y = t^2 / (nu + t^2) <= 1/2
    const y = betaincCInv(0.5, 0.5 * nu, 2 * p);
    return -Math.sqrt((nu * y) / (1 - y));
  }
  quantile(p: number): number {
    p = checkP(p);
    if (Number.isNaN(p)) return NaN;
    const t = p <= 0.5 ? this.lowerQ(p) : -this.lowerQ(1 - p);
    return this.loc + this.scale * t;
  }
  isf(q: number): number {
    q = checkP(q);
    if (Number.isNaN(q)) return NaN;
    const t = q <= 0.5 ? -this.lowerQ(q) : this.lowerQ(1 - q);
    return this.loc + this.scale * t;
  }
}

class Cauchy extends Base1 {
  readonly lower = -Infinity;
  readonly upper = Infinity;
  readonly mean = NaN;
  readonly variance = NaN;
  private readonly c: number;
  constructor(readonly loc: number, readonly scale: number) {
    super();
    this.c = -LN_PI - Math.log(scale);
  }
  draw(rng: Stream): number {
    return this.loc + this.scale * Math.tan(Math.PI * (rng.nextF64() - 0.5));
  }
  lpdf(x: number): number {
    const z = (x - this.loc) / this.scale;
    const zz = z * z;
    // (as native: past |z| = 1.3e154 z^2 overflows; log1p of it is 2 ln|z|)
    return this.c - (zz < Infinity ? Math.log1p(zz) : 2 * Math.log(Math.abs(z)));
  }
  cdf(x: number): number {
    return Math.atan2(1, -(x - this.loc) / this.scale) / Math.PI;
  }
  sf(x: number): number {
    return Math.atan2(1, (x - this.loc) / this.scale) / Math.PI;
  }
  quantile(p: number): number {
    p = checkP(p);
    if (p === 0) return -Infinity;
    if (p === 1) return Infinity;
    return p < 0.5 ? this.loc - this.scale / Math.tan(Math.PI * p) : this.loc + this.scale / Math.tan(Math.PI * (1 - p));
  }
  isf(q: number): number {
    q = checkP(q);
    if (q === 0) return Infinity;
    if (q === 1) return -Infinity;
    return q < 0.5 ? this.loc + this.scale / Math.tan(Math.PI * q) : this.loc - this.scale / Math.tan(Math.PI * (1 - q));
  }
}

class Laplace extends Base1 {
  readonly lower = -Infinity;
  readonly upper = Infinity;
  readonly mean: number;
  readonly variance: number;
  private readonly c: number;
  constructor(readonly loc: number, readonly scale: number) {
    super();
    this.mean = loc;
    this.variance = 2 * scale * scale;
    this.c = -Math.LN2 - Math.log(scale);
  }
  draw(rng: Stream): number {
    const u = rng.nextF64();
    return u < 0.5 ? this.loc + this.scale * Math.log(2 * u) : this.loc - this.scale * Math.log(2 * (1 - u));
  }
  lpdf(x: number): number {
    return this.c - Math.abs(x - this.loc) / this.scale;
  }
  cdf(x: number): number {
    const z = (x - this.loc) / this.scale;
    return z < 0 ? 0.5 * Math.exp(z) : 1 - 0.5 * Math.exp(-z);
  }
  sf(x: number): number {
    const z = (x - this.loc) / this.scale;
    return z > 0 ? 0.5 * Math.exp(-z) : 1 - 0.5 * Math.exp(z);
  }
  quantile(p: number): number {
    p = checkP(p);
    return p < 0.5 ? this.loc + this.scale * Math.log(2 * p) : this.loc - this.scale * Math.log(2 * (1 - p));
  }
  isf(q: number): number {
    q = checkP(q);
    return q < 0.5 ? this.loc - this.scale * Math.log(2 * q) : this.loc + this.scale * Math.log(2 * (1 - q));
  }
}

class Logistic extends Base1 {
  readonly lower = -Infinity;
  readonly upper = Infinity;
  readonly mean: number;
  readonly variance: number;
  private readonly ls: number;
  constructor(readonly loc: number, readonly scale: number) {
    super();
    this.mean = loc;
    this.variance = (scale * scale * Math.PI * Math.PI) / 3;
    this.ls = Math.log(scale);
  }
  draw(rng: Stream): number {
    const u = rng.nextF64();
    return this.loc + this.scale * Math.log(u / (1 - u));
  }
  lpdf(x: number): number {
    const az = Math.abs((x - this.loc) / this.scale);
    return -az - 2 * Math.log1p(Math.exp(-az)) - this.ls;
  }
  cdf(x: number): number {
    return 1 / (1 + Math.exp(-(x - this.loc) / this.scale));
  }
  sf(x: number): number {
    return 1 / (1 + Math.exp((x - this.loc) / this.scale));
  }
  quantile(p: number): number {
    p = checkP(p);
    return this.loc + this.scale * (Math.log(p) - Math.log1p(-p));
  }
  isf(q: number): number {
    q = checkP(q);
    return this.loc + this.scale * (Math.log1p(-q) - Math.log(q));
  }
}

// ---------------------------------------------------------------------------------------------
// composite distributions

/** 16-point Gauss-Legendre nodes and weights on [-1, 1]. */
const GL_X = [
  -0.9894009349916499, -0.9445750230732326, -0.8656312023878318, -0.755404408355003, -0.6178762444026438,
  -0.45801677765722737, -0.2816035507792589, -0.09501250983763744, 0.09501250983763744, 0.2816035507792589,
  0.45801677765722737, 0.6178762444026438, 0.755404408355003, 0.8656312023878318, 0.9445750230732326,
  0.9894009349916499,
];
const GL_W = [
  0.027152459411754096, 0.062253523938647894, 0.09515851168249279, 0.12462897125553388, 0.14959598881657674,
  0.16915651939500254, 0.18260341504492358, 0.1894506104550685, 0.1894506104550685, 0.18260341504492358,
  0.16915651939500254, 0.14959598881657674, 0.12462897125553388, 0.09515851168249279, 0.062253523938647894,
  0.027152459411754096,
];

/**
 * E[X] and Var[X] from the quantile function: E[X^k] = ∫_0^1 Q(p)^k dp, Gauss-Legendre on dyadic
 * panels [2^-(j+1), 2^-j] that shrink toward both ends (plus [0, 2^-48] and its mirror).
 */
function momentsByQuantile(q: (p: number) => number, isf: (p: number) => number): [number, number] {
  // moments of X - median: m2 - m1^2 of X itself cancels for a narrow interval far from 0
  // ([30, 30 + 1e-9] gave a variance of 9e-13 for 8e-20)
  const med = q(0.5);
  let m1 = 0, m2 = 0;
  const panel = (a: number, b: number, upper: boolean): void => {
    const h = 0.5 * (b - a), c = 0.5 * (a + b);
    for (let j = 0; j < 16; j++) {
      const p = c + h * GL_X[j];
      const x = (upper ? isf(p) : q(p)) - med;
      m1 += GL_W[j] * h * x;
      m2 += GL_W[j] * h * x * x;
    }
  };
  let b = 0.5;
  for (let j = 1; j <= 48; j++) {
    const a = b / 2;
    panel(a, b, false);
    panel(a, b, true);
    b = a;
  }
  panel(0, b, false);
  panel(0, b, true);
  return [med + m1, Math.max(0, m2 - m1 * m1)];
}

/**
 * dist.rs `LATTICE_FRACTION`: inversion reaches fewer than 2^32 distinct values when the mass
 * is below this fraction of the probability it is added to; such intervals use `Flat`.
 */
const LATTICE_FRACTION = 2 ** -20;
/** ... or below 2^32 steps of the smallest subnormal (dist.rs `LATTICE_FLOOR`) */
const LATTICE_FLOOR = 2.0e-314;
/** a truncation's mass from a cdf difference estimated less accurate than this comes from quadrature (dist.rs `MASS_TOL`) */
const MASS_TOL = 1e-14;
/** what the quadrature's mass is checked against: a cdf value's absolute error, at worst (dist.rs) */
const CDF_ACCURACY = 2 ** -40;
/** relative rounding of a double (half an ulp) */
const HALF_ULP = 2 ** -53;
/** halvings of a quadrature piece at most (dist.rs `QUAD_DEPTH`) */
const QUAD_DEPTH = 8;
/** quadrature pieces at most (dist.rs `MAX_PIECES`) */
const MAX_PIECES = 129;
/** Gauss-Legendre, 8 points on [-1, 1]: the positive nodes and their weights (as dist.rs). */
const GL8_X = [0.1834346424956498, 0.525532409916329, 0.7966664774136267, 0.9602898564975363];
const GL8_W = [0.362683783378362, 0.31370664587788727, 0.22238103445337448, 0.10122853629037626];

/**
 * Where a 1-D base density takes its sup over an interval (dist.rs `peak`): a number when it is
 * nondecreasing below that point and nonincreasing above (an end or the point clamped in),
 * 'ends' when log-convex (beta with both shapes < 1), null when no such rule holds.
 */
function peakOf(d: JsDist1): number | 'ends' | null {
  if (d instanceof Uniform) return 0.5 * d.a + 0.5 * d.b;
  if (d instanceof Normal) return d.mu;
  if (d instanceof LogNormal) return Math.exp(d.mu - d.sigma * d.sigma);
  if (d instanceof Exponential) return 0;
  if (d instanceof Gamma) return d.shape >= 1 ? (d.shape - 1) / d.rate : 0;
  if (d instanceof Beta) {
    const a = d.alpha, b = d.beta;
    if (a >= 1 && b >= 1) return a + b > 2 ? (a - 1) / (a + b - 2) : 0.5;
    if (a < 1 && b < 1) return 'ends';
    return a < 1 ? 0 : 1;
  }
  if (d instanceof StudentT || d instanceof Cauchy || d instanceof Laplace || d instanceof Logistic) return d.loc;
  return null;
}

/**
 * An upper bound on ln p over [lo, hi] (dist.rs `ln_sup_on`): exact for base distributions, a
 * weighted sum of the components' sups for a mixture (an inner truncation's scaled by 1 / its
 * mass). Pushes onto `cuts` the points inside where p may have a kink or a jump. null where no
 * bound is known.
 */
function lnSupOn(d: JsDist1, lo: number, hi: number, cuts: number[]): number | null {
  const inside = (x: number): boolean => x > lo && x < hi;
  if (d instanceof Truncated) {
    const a = Math.max(lo, d.lo), b = Math.min(hi, d.hi);
    for (const e of [d.lo, d.hi]) if (inside(e)) cuts.push(e);
    if (!(a <= b)) return -Infinity;
    const s = lnSupOn(d.child, a, b, cuts);
    return s === null ? null : s - d.lnMass;
  }
  if (d instanceof Mixture1) {
    const terms: number[] = [];
    for (let i = 0; i < d.children.length; i++) {
      const lw = d.logWeights[i];
      if (!(lw > -Infinity)) continue;
      const s = lnSupOn(d.children[i], lo, hi, cuts);
      if (s === null) return null;
      terms.push(lw + s);
    }
    let top = -Infinity;
    for (const t of terms) top = Math.max(top, t);
    if (!Number.isFinite(top)) return top;
    let sum = 0;
    for (const t of terms) sum += Math.exp(t - top);
    // rounded up a little: a bound, not an estimate
    return top + Math.log(sum) + 1e-12;
  }
  const peak = peakOf(d);
  if (peak === null) return null;
  const x = peak === 'ends' ? lo : Math.min(Math.max(peak, lo), hi);
  // where the density is not smooth (dist.rs `ln_sup_on`): laplace's mode and the support's ends
  for (const e of [d instanceof Laplace ? x : NaN, d.lower, d.upper]) if (inside(e)) cuts.push(e);
  return Math.max(d.lpdf(lo), d.lpdf(hi), d.lpdf(x));
}

/**
 * A narrow truncation sampled by rejection from the uniform on [lo, hi] (dist.rs `Flat`, which
 * explains the choice): x = min(lo + w u1, hi), kept when ln u2 < ln p(x) - ln pmax. Masses
 * are integrals of p / pmax by 8-point Gauss-Legendre between the kinks and jumps.
 */
class Flat {
  private constructor(
    /** the interval proposed from (the truncation's, within the child's support) */
    readonly lo: number,
    readonly hi: number,
    readonly w: number,
    readonly lnPmax: number,
    /** lo, the kinks and jumps inside, hi: increasing */
    readonly pieces: number[],
    readonly child: JsDist1,
    /** the interval's mass divided by pmax */
    readonly relMass: number,
    /** relative error of p at a node rounded to a double (dist.rs `Flat::node_err`) */
    readonly nodeErr: number,
  ) {}

  static of(child: JsDist1, lo: number, hi: number): Flat | null {
    const w = hi - lo;
    if (!(w > 0 && Number.isFinite(w))) return null;
    const cuts = [lo, hi];
    const lnPmax = lnSupOn(child, lo, hi, cuts);
    if (lnPmax === null || !Number.isFinite(lnPmax)) return null;
    const pieces = [...new Set(cuts)].sort((x, y) => x - y);
    // (dist.rs MAX_PIECES: each piece costs a density of every component)
    if (pieces.length > MAX_PIECES) return null;
    // (secants between each piece's outermost nodes: inside the piece, off its jumps; a piece
    // an ulp or two wide has both nodes on one double, and no slope to speak of)
    let slope = 0;
    for (let i = 0; i + 1 < pieces.length; i++) {
      const h = 0.5 * (pieces[i + 1] - pieces[i]), c = pieces[i] + 0.5 * (pieces[i + 1] - pieces[i]);
      const a = c - h * GL8_X[3], b = c + h * GL8_X[3];
      if (!(b > a)) continue;
      const d = Math.abs(child.lpdf(b) - child.lpdf(a)) / (b - a);
      slope = Math.max(slope, Number.isNaN(d) ? Infinity : d);
    }
    const nodeErr = slope * Math.max(Math.max(Math.abs(lo), Math.abs(hi)) * HALF_ULP, Number.MIN_VALUE);
    const rel = new Flat(lo, hi, w, lnPmax, pieces, child, 0, nodeErr).integral(lo, hi);
    // expected acceptance = rel / w
    return rel >= 0.5 * w ? new Flat(lo, hi, w, lnPmax, pieces, child, rel, nodeErr) : null;
  }

  /**
   * whether the quadrature's mass agrees with a cdf difference `mass` of absolute error `absErr`
   * where that difference says anything (dist.rs `Flat::agrees`: a narrow mixture component can
   * fall between the nodes)
   */
  agrees(mass: number, absErr: number): boolean {
    if (!(mass > 0 && absErr < 0.5 * mass)) return true;
    const q = Math.exp(this.lnMass);
    return Math.abs(q - mass) <= absErr + q * (1e-12 + 4 * this.nodeErr);
  }

  /** ln of the interval's mass, by the quadrature */
  get lnMass(): number {
    return this.lnPmax + Math.log(this.relMass);
  }

  /** integral of p / pmax over [a, b] (a subinterval of [lo, hi]) */
  integral(a: number, b: number): number {
    let s = 0;
    for (let i = 0; i + 1 < this.pieces.length; i++) {
      const pa = Math.max(this.pieces[i], a), pb = Math.min(this.pieces[i + 1], b);
      s += this.refine(pa, pb, this.gl8(pa, pb), QUAD_DEPTH, Infinity);
    }
    return s;
  }

  /**
   * `whole` refined by halves until they agree with it to rounding or to `nodeErr`, or stop
   * converging (`prev`: the parent's disagreement; dist.rs `Flat::refine` says why)
   */
  private refine(a: number, b: number, whole: number, depth: number, prev: number): number {
    const m = a + 0.5 * (b - a);
    if (!(m > a && m < b)) return whole;
    const l = this.gl8(a, m), r = this.gl8(m, b);
    const err = Math.abs(l + r - whole);
    const tol = Math.max(4 * Number.EPSILON, 4 * this.nodeErr) * (l + r);
    // (the early stop only near tolerance: a half that first catches a narrow feature does not
    // shrink the error either)
    if (depth === 0 || !(err > tol) || (err < 1e5 * tol && !(err < prev / 8))) return l + r;
    return this.refine(a, m, l, depth - 1, err) + this.refine(m, b, r, depth - 1, err);
  }

  private gl8(a: number, b: number): number {
    if (!(b > a)) return 0;
    const h = 0.5 * (b - a), c = a + 0.5 * (b - a);
    let sum = 0;
    for (let i = 0; i < 4; i++) {
      sum += GL8_W[i] * (Math.exp(this.child.lpdf(c - h * GL8_X[i]) - this.lnPmax) + Math.exp(this.child.lpdf(c + h * GL8_X[i]) - this.lnPmax));
    }
    return sum * h;
  }

  draw(rng: Stream): number {
    for (;;) {
      const x = Math.min(this.lo + this.w * rng.nextF64(), this.hi);
      const u = rng.nextF64();
      if (Math.log(u) < this.child.lpdf(x) - this.lnPmax) return x;
    }
  }

  /**
   * x in [lo, hi] with integral(lo, x) = target (fromLo) or integral(x, hi) = target: Newton
   * from the uniform's answer (the density barely changes over the interval).
   */
  invert(target: number, fromLo: boolean): number {
    const lo = this.lo, hi = this.hi;
    let x = fromLo ? lo + (target / this.relMass) * this.w : hi - (target / this.relMass) * this.w;
    for (let i = 0; i < 8; i++) {
      x = Math.min(Math.max(x, lo), hi);
      const g = fromLo ? this.integral(lo, x) - target : target - this.integral(x, hi);
      const step = g / Math.exp(this.child.lpdf(x) - this.lnPmax);
      if (!Number.isFinite(step)) break;
      x -= step;
      if (Math.abs(step) <= 1e-15 * this.w) break;
    }
    return Math.min(Math.max(x, lo), hi);
  }
}

/**
 * A bound on the absolute error of a 1-D distribution's cdf that does not shrink with the cdf
 * (dist.rs `cdf_floor`): 0 for base distributions, ~ulp / mass for a truncation by inversion,
 * the weighted sum for a mixture.
 */
function cdfFloor(d: JsDist1): number {
  if (d instanceof Truncated) return d.isFlat ? 0 : (HALF_ULP + cdfFloor(d.child)) / d.mass;
  if (d instanceof Mixture1) {
    let s = 0;
    for (let i = 0; i < d.children.length; i++) if (d.logWeights[i] > -Infinity) s += Math.exp(d.logWeights[i]) * cdfFloor(d.children[i]);
    return s;
  }
  return 0;
}

class Truncated extends LazyMoments1 {
  readonly lower: number;
  readonly upper: number;
  /** probability mass of [lo, hi] under the child */
  readonly mass: number;
  /** invert through the survival function (lo above the child's median) */
  private readonly upperSide: boolean;
  private readonly rejection: boolean;
  /** set for an interval too narrow for inversion: sampling, cdf and mass come from it */
  private readonly flat: Flat | null;
  private readonly lmass: number;
  private readonly fLo: number;
  private readonly fHi: number;
  private readonly sLo: number;
  private readonly sHi: number;
  /** inversion results are clamped into [cLo, cHi] (dist.rs `Trunc::clo`, which says why) */
  private readonly cLo: number;
  private readonly cHi: number;
  constructor(readonly lo: number, readonly hi: number, readonly child: JsDist1) {
    super();
    this.lower = Math.max(lo, child.lower);
    this.upper = Math.min(hi, child.upper);
    this.cLo = this.lower === 0 && child.lower === 0 ? TINY_POS : this.lower;
    this.cHi = this.upper === 1 && child.upper === 1 ? BELOW_ONE : this.upper;
    this.fLo = lo === -Infinity ? 0 : child.cdf(lo);
    this.fHi = hi === Infinity ? 1 : child.cdf(hi);
    this.sLo = lo === -Infinity ? 1 : child.sf(lo);
    this.sHi = hi === Infinity ? 0 : child.sf(hi);
    // same rule as dist.rs: survival side when lo is above the median; the mass is formed from
    // the smaller tail quantities
    this.upperSide = this.sLo < 0.5;
    const mass = this.upperSide ? this.sLo - this.sHi : this.fHi <= 0.5 ? this.fHi - this.fLo : 1 - this.fLo - this.sHi;
    // the probability inversion would add u (Fhi - Flo) to or subtract u (Slo - Shi) from
    const base = this.upperSide ? this.sLo : this.fHi;
    // (dist.rs `Trunc::new`: a composite child's cdf has an absolute error floor, and the
    // uniform proposal covers the interval within the child's support)
    const floor = cdfFloor(child);
    const coarse = !(mass >= Math.max(base * LATTICE_FRACTION, LATTICE_FLOOR, floor * 2 ** 32));
    // (the cdf difference's error relative to it, and a generous bound on its absolute error
    // for Flat.agrees: dist.rs)
    const cdfErr = Math.max(base * HALF_ULP, Number.MIN_VALUE, floor) / mass;
    const cdfAbs = 4 * floor + Math.max(base * CDF_ACCURACY, 4 * Number.MIN_VALUE);
    const flat = coarse ? Flat.of(child, this.lower, this.upper) : null;
    this.flat = flat !== null && flat.agrees(mass, cdfAbs) ? flat : null;
    if (this.flat !== null) {
      // the quadrature's mass, unless the cdf difference is the more accurate (dist.rs)
      this.lmass = mass > 0 && cdfErr < this.flat.nodeErr ? Math.log(mass) : this.flat.lnMass;
      this.mass = Math.exp(this.lmass);
      this.rejection = false;
    } else {
      // (dist.rs: the quadrature's mass where the cdf difference is estimated off by more
      // than MASS_TOL and the quadrature is the more accurate; the draws keep their bytes)
      const m = Math.min(1, mass);
      const quad = cdfErr > MASS_TOL ? Flat.of(child, this.lower, this.upper) : null;
      this.lmass = quad !== null && quad.nodeErr < cdfErr && quad.agrees(m, cdfAbs) ? quad.lnMass : Math.log(m);
      this.mass = Math.exp(this.lmass);
      this.rejection = this.mass >= 0.25;
    }
  }
  /** sampled by rejection from the uniform on the interval (`Flat`) */
  get isFlat(): boolean {
    return this.flat !== null;
  }
  /** ln of the interval's probability under the child */
  get lnMass(): number {
    return this.lmass;
  }
  /** the interval has positive probability under the child */
  get hasMass(): boolean {
    return this.flat !== null || this.mass > 0;
  }
  protected computeMoments(): [number, number] {
    return Number.isFinite(this.lower) && Number.isFinite(this.upper) || Number.isFinite(this.child.variance)
      ? momentsByQuantile((p) => this.quantile(p), (p) => this.isf(p))
      : [NaN, NaN];
  }
  draw(rng: Stream): number {
    const lo = this.lo, hi = this.hi;
    if (this.flat !== null) return this.flat.draw(rng);
    if (this.rejection) {
      for (;;) {
        const x = this.child.draw(rng);
        if (x >= lo && x <= hi) return x;
      }
    }
    const u = rng.nextF64();
    let x: number;
    if (this.upperSide) x = this.child.isf(this.sLo - u * (this.sLo - this.sHi));
    else x = this.child.quantile(this.fLo + u * (this.fHi - this.fLo));
    // clamp (NaN from a failed inverse becomes cLo, as in dist.rs)
    return x >= this.cLo ? (x > this.cHi ? this.cHi : x) : this.cLo;
  }
  lpdf(x: number): number {
    if (Number.isNaN(x)) return NaN;
    if (x < this.lo || x > this.hi) return -Infinity;
    return this.child.lpdf(x) - this.lmass;
  }
  cdf(x: number): number {
    if (x <= this.lo) return 0;
    if (x >= this.hi) return 1;
    if (this.flat !== null) return Math.min(1, this.flat.integral(this.lo, x) / this.flat.relMass);
    const v = this.upperSide ? (this.sLo - this.child.sf(x)) / this.mass : (this.child.cdf(x) - this.fLo) / this.mass;
    return Math.min(1, Math.max(0, v));
  }
  sf(x: number): number {
    if (x <= this.lo) return 1;
    if (x >= this.hi) return 0;
    if (this.flat !== null) return Math.min(1, this.flat.integral(x, this.hi) / this.flat.relMass);
    const v = this.upperSide ? (this.child.sf(x) - this.sHi) / this.mass : (this.fHi - this.child.cdf(x)) / this.mass;
    return Math.min(1, Math.max(0, v));
  }
  private clamp(x: number): number {
    return x < this.lo ? this.lo : x > this.hi ? this.hi : x;
  }
  quantile(p: number): number {
    p = checkP(p);
    if (Number.isNaN(p)) return NaN;
    if (this.flat !== null) return this.flat.invert(p * this.flat.relMass, true);
    // through the child's cdf where the point lies in its lower half, else its survival
    // function from the upper end (1 - q mass rounded to 1 for a tail: an infinite mean)
    const f = this.fLo + p * this.mass;
    return this.clamp(f < 0.5 ? this.child.quantile(f) : this.child.isf(this.sHi + (1 - p) * this.mass));
  }
  isf(q: number): number {
    q = checkP(q);
    if (Number.isNaN(q)) return NaN;
    if (this.flat !== null) return this.flat.invert(q * this.flat.relMass, false);
    const s = this.sHi + q * this.mass;
    return this.clamp(s < 0.5 ? this.child.isf(s) : this.child.quantile(this.fLo + (1 - q) * this.mass));
  }
}

function logSumExp(v: Float64Array | number[]): number {
  let m = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i] > m) m = v[i];
  if (m === -Infinity || m === Infinity || Number.isNaN(m)) {
    for (let i = 0; i < v.length; i++) if (Number.isNaN(v[i])) return NaN;
    return m;
  }
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.exp(v[i] - m);
  return m + Math.log(s);
}

/**
 * Finite mixture. Weights are normalized (divided by their sum) at decode; `cum` holds their
 * running sums. A draw takes one u and the first component with u < cum[j], else the last
 * component with positive weight (dist.rs `Mix::pick`).
 */
class Mixture implements JsDist {
  readonly dim: number;
  readonly cum: Float64Array;
  readonly logw: Float64Array;
  /** index of the last component with positive weight */
  readonly last: number;
  private readonly tmp: Float64Array;
  constructor(readonly weights: Float64Array, readonly children: JsDist[]) {
    this.dim = children[0].dim;
    const k = weights.length;
    this.cum = new Float64Array(k);
    this.logw = new Float64Array(k);
    let c = 0;
    let last = k - 1;
    for (let i = 0; i < k; i++) {
      c += weights[i];
      this.cum[i] = c;
      this.logw[i] = Math.log(weights[i]);
    }
    while (last > 0 && !(weights[last] > 0)) last--;
    this.last = last;
    this.tmp = new Float64Array(k);
  }
  pickIndex(u: number): number {
    const cum = this.cum;
    for (let j = 0; j < cum.length; j++) if (u < cum[j]) return j;
    return this.last;
  }
  pick(rng: Stream): JsDist {
    return this.children[this.pickIndex(rng.nextF64())];
  }
  sampleRow(rng: Stream, out: Float64Array, off: number): void {
    this.pick(rng).sampleRow(rng, out, off);
  }
  sample(rng: Stream, out: Float64Array): void {
    for (let off = 0; off < out.length; off += this.dim) this.sampleRow(rng, out, off);
  }
  logpdfRow(xs: Float64Array, off: number): number {
    const t = this.tmp;
    for (let i = 0; i < t.length; i++) t[i] = this.weights[i] > 0 ? this.logw[i] + this.children[i].logpdfRow(xs, off) : -Infinity;
    return logSumExp(t);
  }
  logpdf(xs: Float64Array, out: Float64Array): void {
    for (let r = 0; r < out.length; r++) out[r] = this.logpdfRow(xs, r * this.dim);
  }
}

class Mixture1 extends LazyMoments1 {
  readonly lower: number;
  readonly upper: number;
  private readonly m: Mixture;
  /** lpdf's per-component terms (one array, not one per call) */
  private readonly tmp: Float64Array;
  constructor(readonly weights: Float64Array, readonly children: JsDist1[]) {
    super();
    this.m = new Mixture(weights, children);
    this.tmp = new Float64Array(children.length);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < children.length; i++) {
      if (weights[i] > 0) {
        lo = Math.min(lo, children[i].lower);
        hi = Math.max(hi, children[i].upper);
      }
    }
    this.lower = lo;
    this.upper = hi;
  }
  /** From the components' moments. */
  protected computeMoments(): [number, number] {
    let mean = 0, m2 = 0;
    for (let i = 0; i < this.children.length; i++) {
      const c = this.children[i];
      if (!(this.weights[i] > 0)) continue;
      mean += this.weights[i] * c.mean;
      m2 += this.weights[i] * (c.variance + c.mean * c.mean);
    }
    return [mean, Number.isFinite(m2) ? Math.max(0, m2 - mean * mean) : m2];
  }
  /** ln of the normalized weights */
  get logWeights(): Float64Array {
    return this.m.logw;
  }
  draw(rng: Stream): number {
    return (this.m.pick(rng) as JsDist1).draw(rng);
  }
  lpdf(x: number): number {
    const t = this.tmp;
    for (let i = 0; i < t.length; i++) t[i] = this.weights[i] > 0 ? this.m.logw[i] + this.children[i].lpdf(x) : -Infinity;
    return logSumExp(t);
  }
  cdf(x: number): number {
    let s = 0;
    for (let i = 0; i < this.children.length; i++) if (this.weights[i] > 0) s += this.weights[i] * this.children[i].cdf(x);
    return Math.min(1, s);
  }
  sf(x: number): number {
    let s = 0;
    for (let i = 0; i < this.children.length; i++) if (this.weights[i] > 0) s += this.weights[i] * this.children[i].sf(x);
    return Math.min(1, s);
  }
  private pdf(x: number): number {
    return Math.exp(this.lpdf(x));
  }
  /** solve through cdf (p <= 0.5) or sf, bracketed by the components' quantiles */
  private invert(t: number, upperTail: boolean): number {
    if (t === 0) return upperTail ? this.upper : this.lower;
    if (t === 1) return upperTail ? this.lower : this.upper;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < this.children.length; i++) {
      if (!(this.weights[i] > 0)) continue;
      const c = this.children[i];
      const x = upperTail ? c.isf(t) : c.quantile(t);
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    // the mixture's t-quantile lies between the components' t-quantiles
    const g = upperTail ? (x: number) => this.sf(x) : (x: number) => this.cdf(x);
    const dg = upperTail ? (x: number) => -this.pdf(x) : (x: number) => this.pdf(x);
    if (lo === hi) return lo;
    const x0 = 0.5 * (lo + hi);
    const bl = Number.isFinite(lo) ? lo - 1e-12 * Math.abs(lo) : lo;
    const bh = Number.isFinite(hi) ? hi + 1e-12 * Math.abs(hi) : hi;
    return solveGeneral(g, dg, t, Number.isFinite(x0) ? x0 : Number.isFinite(lo) ? lo : hi, bl, bh, !upperTail);
  }
  quantile(p: number): number {
    p = checkP(p);
    if (Number.isNaN(p)) return NaN;
    return p <= 0.5 ? this.invert(p, false) : this.invert(1 - p, true);
  }
  isf(q: number): number {
    q = checkP(q);
    if (Number.isNaN(q)) return NaN;
    return q <= 0.5 ? this.invert(q, true) : this.invert(1 - q, false);
  }
}

/** safeguarded Newton/bisection on any real interval (solveMonotone handles positive ones). */
function solveGeneral(
  g: (x: number) => number,
  dg: (x: number) => number,
  target: number,
  x0: number,
  lo: number,
  hi: number,
  increasing: boolean,
): number {
  if (lo >= 0) return solveMonotone(g, dg, target, x0, lo, hi, increasing);
  // Newton in the bracket, bisecting where a step leaves it (native `solve_increasing`). No
  // shift to a positive variable: x = lo + y kept x to |lo| eps, so on [-1e-21, 1e-18] a root
  // near 3e-22 came out negative.
  // (for small targets on ln g - ln target, as solveMonotone: Newton converges in the tails)
  const useLog = target < 1e-3;
  const lt = Math.log(target);
  let x = x0 > lo && x0 < hi ? x0 : innerPoint(lo, hi);
  for (let i = 0; i < 2000; i++) {
    const gx = g(x);
    const f = useLog ? Math.log(gx) - lt : gx - target;
    if (f === 0) return x;
    if (increasing ? f < 0 : f > 0) lo = x;
    else hi = x;
    const d = useLog ? dg(x) / gx : dg(x);
    let xn = x - f / d;
    // (converged before the bracket test, as solveMonotone)
    if (Number.isFinite(d) && Math.abs(xn - x) <= 2 * EPS * Math.abs(x)) return xn > lo && xn < hi ? xn : x;
    if (!(xn > lo && xn < hi)) xn = innerPoint(lo, hi);
    if (Math.abs(xn - x) <= Math.max(2 * EPS * Math.abs(xn), 2e-323) || hi - lo <= 2 * EPS * Math.max(Math.abs(lo), Math.abs(hi))) {
      return xn;
    }
    x = xn;
  }
  return x;
}

/** A point strictly inside (lo, hi), geometric where the bracket spans scales (native `inner_point`). */
function innerPoint(lo: number, hi: number): number {
  if (Number.isFinite(lo) && Number.isFinite(hi)) {
    if (lo > 0 && hi > 4 * lo) return Math.sqrt(lo) * Math.sqrt(hi);
    if (hi < 0 && lo < 4 * hi) return -(Math.sqrt(-lo) * Math.sqrt(-hi));
    if (lo === 0 && hi > 1) return Math.min(1, 0.5 * hi);
    if (hi === 0 && lo < -1) return Math.max(-1, 0.5 * lo);
    return 0.5 * lo + 0.5 * hi;
  }
  if (Number.isFinite(lo)) return lo + 4 * Math.max(Math.abs(lo), 1);
  if (Number.isFinite(hi)) return hi - 4 * Math.max(Math.abs(hi), 1);
  return 0;
}

/**
 * The distributions inside a 1-D one whose own quantiles an envelope grid should cover: a
 * mixture's components with weight > 0 and a truncation's child, recursively. A component of
 * weight 0.001 and width 1e-5 sits between two quantiles of the mixture (its mass is far less
 * than a grid step), so only its own quantiles find the spike it puts in p/q.
 */
export function componentsOf(d: JsDist1): JsDist1[] {
  if (d instanceof Mixture1) return d.children.filter((_, i) => d.weights[i] > 0).flatMap((c) => [c, ...componentsOf(c)]);
  if (d instanceof Truncated) return [d.child, ...componentsOf(d.child)];
  return [];
}

class Product implements JsDist {
  readonly dim: number;
  constructor(readonly children: JsDist1[]) {
    this.dim = children.length;
  }
  sampleRow(rng: Stream, out: Float64Array, off: number): void {
    const c = this.children;
    for (let j = 0; j < c.length; j++) out[off + j] = c[j].draw(rng);
  }
  sample(rng: Stream, out: Float64Array): void {
    for (let off = 0; off < out.length; off += this.dim) this.sampleRow(rng, out, off);
  }
  logpdfRow(xs: Float64Array, off: number): number {
    let s = 0;
    const c = this.children;
    for (let j = 0; j < c.length; j++) s += c[j].lpdf(xs[off + j]);
    return s;
  }
  logpdf(xs: Float64Array, out: Float64Array): void {
    for (let r = 0; r < out.length; r++) out[r] = this.logpdfRow(xs, r * this.dim);
  }
}

class MvNormalDiag implements JsDist {
  readonly dim: number;
  private readonly c: number;
  constructor(readonly mu: Float64Array, readonly sigma: Float64Array) {
    this.dim = mu.length;
    let c = 0;
    for (let j = 0; j < sigma.length; j++) c -= Math.log(sigma[j]) + LN_SQRT_2PI;
    this.c = c;
  }
  sampleRow(rng: Stream, out: Float64Array, off: number): void {
    for (let j = 0; j < this.dim; j++) out[off + j] = this.mu[j] + this.sigma[j] * stdNormal(rng);
  }
  sample(rng: Stream, out: Float64Array): void {
    for (let off = 0; off < out.length; off += this.dim) this.sampleRow(rng, out, off);
  }
  logpdfRow(xs: Float64Array, off: number): number {
    let s = 0;
    for (let j = 0; j < this.dim; j++) {
      const z = (xs[off + j] - this.mu[j]) / this.sigma[j];
      s += z * z;
    }
    return this.c - 0.5 * s;
  }
  logpdf(xs: Float64Array, out: Float64Array): void {
    for (let r = 0; r < out.length; r++) out[r] = this.logpdfRow(xs, r * this.dim);
  }
  /** marginal j as a 1-D normal */
  marginal(j: number): JsDist1 {
    return new Normal(this.mu[j], this.sigma[j]);
  }
}

// ---------------------------------------------------------------------------------------------
// decoding

const MAX_DEPTH = 64;

class Reader {
  pos = 0;
  constructor(readonly prog: Float64Array) {}
  num(what: string): number {
    if (this.pos >= this.prog.length) throw new Error(`distribution program truncated: missing ${what} at index ${this.pos}`);
    return this.prog[this.pos++];
  }
  count(what: string, min: number, max: number): number {
    const at = this.pos;
    const v = this.num(what);
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new Error(`distribution program: ${what} must be an integer in [${min}, ${max}], got ${v} at index ${at}`);
    }
    return v;
  }
}

function finite(name: string, v: number): number {
  if (!Number.isFinite(v)) throw new Error(`distribution program: ${name} must be finite, got ${v}`);
  return v;
}
function positive(name: string, v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) throw new Error(`distribution program: ${name} must be finite and > 0, got ${v}`);
  return v;
}

function decodeNode(r: Reader, depth: number): JsDist {
  if (depth > MAX_DEPTH) throw new Error(`distribution program nested deeper than ${MAX_DEPTH}`);
  const at = r.pos;
  const tag = r.num('tag');
  switch (tag) {
    case TAG.uniform: {
      const a = finite('uniform a', r.num('uniform a'));
      const b = finite('uniform b', r.num('uniform b'));
      if (!(a < b)) throw new Error(`distribution program: uniform needs a < b, got a = ${a}, b = ${b}`);
      if (!Number.isFinite(b - a)) throw new Error('distribution program: uniform b - a overflows');
      return new Uniform(a, b);
    }
    case TAG.normal:
    case TAG.lognormal: {
      const name = tag === TAG.normal ? 'normal' : 'lognormal';
      const mu = finite(`${name} mu`, r.num(`${name} mu`));
      const sigma = positive(`${name} sigma`, r.num(`${name} sigma`));
      return tag === TAG.normal ? new Normal(mu, sigma) : new LogNormal(mu, sigma);
    }
    case TAG.exponential:
      return new Exponential(positive('exponential rate', r.num('exponential rate')));
    case TAG.gamma: {
      const shape = positive('gamma shape', r.num('gamma shape'));
      const rate = positive('gamma rate', r.num('gamma rate'));
      return new Gamma(shape, rate);
    }
    case TAG.beta: {
      const a = positive('beta alpha', r.num('beta alpha'));
      const b = positive('beta beta', r.num('beta beta'));
      return new Beta(a, b);
    }
    case TAG.studentT: {
      const df = positive('student_t df', r.num('student_t df'));
      const loc = finite('student_t loc', r.num('student_t loc'));
      const scale = positive('student_t scale', r.num('student_t scale'));
      return new StudentT(df, loc, scale);
    }
    case TAG.cauchy:
    case TAG.laplace:
    case TAG.logistic: {
      const name = tag === TAG.cauchy ? 'cauchy' : tag === TAG.laplace ? 'laplace' : 'logistic';
      const loc = finite(`${name} loc`, r.num(`${name} loc`));
      const scale = positive(`${name} scale`, r.num(`${name} scale`));
      return tag === TAG.cauchy ? new Cauchy(loc, scale) : tag === TAG.laplace ? new Laplace(loc, scale) : new Logistic(loc, scale);
    }
    case TAG.truncated: {
      const lo = r.num('truncated lo');
      const hi = r.num('truncated hi');
      if (Number.isNaN(lo) || Number.isNaN(hi) || lo === Infinity || hi === -Infinity || !(lo < hi)) {
        throw new Error(`distribution program: truncation needs lo < hi (lo may be -inf, hi +inf), got [${lo}, ${hi}]`);
      }
      const child = decodeNode(r, depth + 1);
      if (child.dim !== 1) throw new Error(`distribution program: truncated child must be 1-D, got dimension ${child.dim}`);
      const t = new Truncated(lo, hi, child as JsDist1);
      if (!t.hasMass) {
        throw new Error(`distribution program: truncation interval [${lo}, ${hi}] has zero probability under its distribution`);
      }
      return t;
    }
    case TAG.mixture: {
      const k = r.count('mixture component count', 1, 1 << 20);
      const w = new Float64Array(k);
      let sum = 0;
      for (let i = 0; i < k; i++) {
        const v = r.num('mixture weight');
        if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`distribution program: mixture weight ${i + 1} must be finite and >= 0, got ${v}`);
        w[i] = v;
        sum += v;
      }
      if (!(Math.abs(sum - 1) <= 1e-6)) throw new Error(`distribution program: mixture weights must sum to 1, got ${sum}`);
      for (let i = 0; i < k; i++) w[i] /= sum;
      const children: JsDist[] = [];
      for (let i = 0; i < k; i++) children.push(decodeNode(r, depth + 1));
      const d = children[0].dim;
      for (let i = 1; i < k; i++) {
        if (children[i].dim !== d) {
          throw new Error(`distribution program: mixture components must share one dimension, got ${d} and ${children[i].dim}`);
        }
      }
      return d === 1 ? new Mixture1(w, children as JsDist1[]) : new Mixture(w, children);
    }
    case TAG.product: {
      const d = r.count('product dimension', 1, 1 << 20);
      const children: JsDist1[] = [];
      for (let i = 0; i < d; i++) {
        const c = decodeNode(r, depth + 1);
        if (c.dim !== 1) throw new Error(`distribution program: product factor ${i + 1} must be 1-D, got dimension ${c.dim}`);
        children.push(c as JsDist1);
      }
      return new Product(children);
    }
    case TAG.mvnormalDiag: {
      const d = r.count('mvnormal dimension', 1, 1 << 20);
      const mu = new Float64Array(d);
      const sigma = new Float64Array(d);
      for (let i = 0; i < d; i++) mu[i] = finite(`mvnormal mu_${i + 1}`, r.num('mvnormal mu'));
      for (let i = 0; i < d; i++) sigma[i] = positive(`mvnormal sigma_${i + 1}`, r.num('mvnormal sigma'));
      return new MvNormalDiag(mu, sigma);
    }
    default:
      throw new Error(`distribution program: unknown tag ${tag} at index ${at}`);
  }
}

/** Decode and validate a distribution program; throws Error with a message if malformed. */
export function decodeDist(program: Float64Array): JsDist {
  if (!(program instanceof Float64Array)) throw new TypeError('distribution program must be a Float64Array');
  const r = new Reader(program);
  const d = decodeNode(r, 0);
  if (r.pos !== program.length) {
    throw new Error(`distribution program has ${program.length - r.pos} trailing number(s) after index ${r.pos - 1}`);
  }
  return d;
}

/** Decode a program that must be one-dimensional. */
export function decodeDist1(program: Float64Array): JsDist1 {
  const d = decodeDist(program);
  if (d.dim !== 1) throw new Error(`expected a 1-D distribution program, got dimension ${d.dim}`);
  return d as JsDist1;
}

/** The CDF of a 1-D program (tests). */
export function cdfOfProgram(program: Float64Array): (x: number) => number {
  const d = decodeDist1(program);
  return (x: number) => d.cdf(x);
}

/**
 * Marginal j of a product or diagonal multivariate normal program, as a 1-D distribution
 * (tests; throws for other programs).
 */
export function marginalOfProgram(program: Float64Array, j: number): JsDist1 {
  const d = decodeDist(program);
  if (d instanceof Product) return d.children[j];
  if (d instanceof MvNormalDiag) return d.marginal(j);
  if (d.dim === 1 && j === 0) return d as JsDist1;
  throw new Error('marginalOfProgram: not a product / mvnormal program');
}

/** Kernel entry point: `out.length / d` samples of `program` from stream (seed, stream, 0). */
export function sampleDist(program: Float64Array, seed: number, stream: number, out: Float64Array): void {
  const d = decodeDist(program);
  if (!(out instanceof Float64Array)) throw new TypeError('out must be a Float64Array');
  if (out.length % d.dim !== 0) throw new Error(`out.length ${out.length} is not a multiple of the dimension ${d.dim}`);
  d.sample(new Stream(seed, stream, 0), out);
}

/** Kernel entry point: log density of each row of `xs`. */
export function logpdfDist(program: Float64Array, xs: Float64Array, out: Float64Array): void {
  const d = decodeDist(program);
  if (!(xs instanceof Float64Array) || !(out instanceof Float64Array)) throw new TypeError('xs and out must be Float64Arrays');
  if (xs.length !== out.length * d.dim) {
    throw new Error(`xs.length ${xs.length} must equal out.length ${out.length} times the dimension ${d.dim}`);
  }
  d.logpdf(xs, out);
}
