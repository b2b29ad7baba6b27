/**
 * Distribution objects: plain, frozen, readonly data (a discriminated union on `kind`), built by
 * the validating constructors in the `dist` namespace. They are encoded for the kernels with
 * `encodeDist` (native/PROTOCOL.md §2) and printed canonically with `formatDist`, whose output
 * `parseDist` (spec.ts) reads back to an equal object.
 *
 * Every user mistake throws `UsageError` with a one-line message such as
 * `normal: sigma must be > 0, got -1`.
 */
import { UsageError } from '../errors.js';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

export interface Uniform { readonly kind: 'uniform'; readonly a: number; readonly b: number }
export interface Normal { readonly kind: 'normal'; readonly mu: number; readonly sigma: number }
export interface LogNormal { readonly kind: 'lognormal'; readonly mu: number; readonly sigma: number }
export interface Exponential { readonly kind: 'exponential'; readonly rate: number }
export interface Gamma { readonly kind: 'gamma'; readonly shape: number; readonly rate: number }
export interface Beta { readonly kind: 'beta'; readonly alpha: number; readonly beta: number }
export interface StudentT {
  readonly kind: 'studentT'; readonly df: number; readonly loc: number; readonly scale: number;
}
export interface Cauchy { readonly kind: 'cauchy'; readonly loc: number; readonly scale: number }
export interface Laplace { readonly kind: 'laplace'; readonly loc: number; readonly scale: number }
export interface Logistic { readonly kind: 'logistic'; readonly loc: number; readonly scale: number }
/**
 * `base` (1-D) restricted to [lo, hi]; lo may be -Infinity, hi +Infinity. Never nested, and
 * [lo, hi] lies within the hull of the base's support (the constructor clips it).
 */
export interface Truncated {
  readonly kind: 'truncated'; readonly base: Dist; readonly lo: number; readonly hi: number;
}
export interface MixtureComponent { readonly weight: number; readonly dist: Dist }
/** Weights are > 0 and sum to 1 (within 1e-12; `encodeDist` divides by the exact sum). */
export interface Mixture { readonly kind: 'mixture'; readonly components: readonly MixtureComponent[] }
/** Independent 1-D factors; column i comes from factor i. */
export interface Product { readonly kind: 'product'; readonly factors: readonly Dist[] }
/** Multivariate normal with diagonal covariance diag(sigma^2). */
export interface MvNormal {
  readonly kind: 'mvnormal'; readonly mu: readonly number[]; readonly sigma: readonly number[];
}

/** The 1-D parametric families (everything that is a leaf of a distribution tree). */
export type Univariate =
  | Uniform | Normal | LogNormal | Exponential | Gamma | Beta | StudentT | Cauchy | Laplace | Logistic;
export type Dist = Univariate | Truncated | Mixture | Product | MvNormal;
export type DistKind = Dist['kind'];

/** The support box of a distribution: per-column lower and upper bounds (±Infinity allowed). */
export interface Support { readonly lo: number[]; readonly hi: number[] }

// ---------------------------------------------------------------------------------------------
// Parameter tables: shared with spec.ts, so that named parameters and their aliases mean the
// same thing in spec strings and in the options form of the constructors.
// ---------------------------------------------------------------------------------------------

/** How a parameter is checked; `positive` implies finite. */
export type ParamCheck = 'finite' | 'positive';

export interface ParamInfo {
  /** Canonical name (a field of the distribution object). */
  readonly name: string;
  /** Other accepted names (spec strings and option objects). */
  readonly aliases: readonly string[];
  readonly check: ParamCheck;
  /** Used when the parameter is omitted; absent = required. */
  readonly default?: number;
  /**
   * An alternative parameter given as the reciprocal (scale for a rate): only accepted by name,
   * mutually exclusive with the parameter itself.
   */
  readonly reciprocal?: { readonly name: string; readonly aliases: readonly string[] };
}

export interface FamilyInfo {
  readonly kind: Univariate['kind'];
  /** Names accepted in spec strings (lower case); the first is the canonical printed name. */
  readonly names: readonly string[];
  /** In positional order. */
  readonly params: readonly ParamInfo[];
}

const p = (name: string, aliases: string[], check: ParamCheck, extra: Partial<ParamInfo> = {}): ParamInfo =>
  ({ name, aliases, check, ...extra });
const LOC = p('loc', ['mu', 'location'], 'finite', { default: 0 });
const SCALE = p('scale', ['sigma', 's'], 'positive', { default: 1 });

export const FAMILIES: readonly FamilyInfo[] = [
  { kind: 'uniform', names: ['uniform', 'unif'],
    params: [p('a', ['low', 'lo', 'lower', 'min'], 'finite'), p('b', ['high', 'hi', 'upper', 'max'], 'finite')] },
  { kind: 'normal', names: ['normal', 'norm', 'gaussian'],
    params: [p('mu', ['mean', 'loc'], 'finite'), p('sigma', ['sd', 'scale', 'std'], 'positive')] },
  { kind: 'lognormal', names: ['lognormal', 'lognorm'],
    params: [p('mu', ['meanlog', 'loc'], 'finite'), p('sigma', ['sdlog', 'scale'], 'positive')] },
  { kind: 'exponential', names: ['exponential', 'expon', 'exp'],
    params: [p('rate', ['lambda'], 'positive', { reciprocal: { name: 'scale', aliases: ['theta', 'mean'] } })] },
  { kind: 'gamma', names: ['gamma'],
    params: [p('shape', ['k', 'alpha', 'a'], 'positive'),
      p('rate', ['beta'], 'positive', { reciprocal: { name: 'scale', aliases: ['theta'] } })] },
  { kind: 'beta', names: ['beta'],
    params: [p('alpha', ['a'], 'positive'), p('beta', ['b'], 'positive')] },
  { kind: 'studentT', names: ['student_t', 't', 'studentt', 'student'],
    params: [p('df', ['nu'], 'positive'), LOC, SCALE] },
  { kind: 'cauchy', names: ['cauchy'], params: [LOC, SCALE] },
  { kind: 'laplace', names: ['laplace'], params: [LOC, SCALE] },
  { kind: 'logistic', names: ['logistic'], params: [LOC, SCALE] },
];

export function familyOf(kind: Univariate['kind']): FamilyInfo {
  const f = FAMILIES.find((x) => x.kind === kind);
  if (!f) throw new Error(`internal: no family ${kind}`);
  return f;
}

/** Canonical printed name of a family (also used as the error-message prefix). */
const labelOf = (kind: Univariate['kind']): string => familyOf(kind).names[0];

// ---------------------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------------------

/** Shortest round-trip text of a number, `inf`/`-inf`, and `-0` kept (String(-0) is "0"). */
export function formatNumber(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Object.is(x, -0)) return '-0';
  return String(x);
}

/** Printable form of an arbitrary user value for error messages. */
function show(v: unknown): string {
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'an array';
  return v === null ? 'null' : typeof v;
}

/**
 * The error message for one parameter value, or null when it is fine. Exported so that the spec
 * parser can point at the offending argument's column.
 */
export function checkParam(label: string, name: string, check: ParamCheck, v: unknown): string | null {
  if (typeof v !== 'number') return `${label}: ${name} must be a number, got ${show(v)}`;
  if (Number.isNaN(v)) return `${label}: ${name} must be a number, got NaN`;
  if (check === 'positive') {
    if (!(v > 0)) return `${label}: ${name} must be > 0, got ${show(v)}`;
    if (v === Infinity) return `${label}: ${name} must be finite, got inf`;
  } else if (!Number.isFinite(v)) {
    return `${label}: ${name} must be finite, got ${show(v)}`;
  }
  return null;
}

function need(label: string, name: string, check: ParamCheck, v: unknown): number {
  const msg = checkParam(label, name, check, v);
  if (msg !== null) throw new UsageError(msg);
  return v as number;
}

/** A bound of a truncation interval: any number but NaN (±Infinity allowed). */
function needBound(label: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw new UsageError(`${label}: ${name} must be a number (inf allowed), got ${show(v)}`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Univariate constructors (positional and options forms)
// ---------------------------------------------------------------------------------------------

/** Options form: any canonical name or alias, e.g. `{ shape: 2, scale: 0.5 }`. */
export type ParamOptions<K extends string> = { readonly [P in K]?: number };

export type UniformOptions = ParamOptions<'a' | 'b' | 'low' | 'lo' | 'lower' | 'min' | 'high' | 'hi' | 'upper' | 'max'>;
export type NormalOptions = ParamOptions<'mu' | 'mean' | 'loc' | 'sigma' | 'sd' | 'scale' | 'std'>;
export type LogNormalOptions = ParamOptions<'mu' | 'meanlog' | 'loc' | 'sigma' | 'sdlog' | 'scale'>;
export type ExponentialOptions = ParamOptions<'rate' | 'lambda' | 'scale' | 'theta' | 'mean'>;
export type GammaOptions = ParamOptions<'shape' | 'k' | 'alpha' | 'a' | 'rate' | 'beta' | 'scale' | 'theta'>;
export type BetaOptions = ParamOptions<'alpha' | 'a' | 'beta' | 'b'>;
export type LocScaleOptions = ParamOptions<'loc' | 'mu' | 'location' | 'scale' | 'sigma' | 's'>;
export type StudentTOptions = ParamOptions<'df' | 'nu' | 'loc' | 'mu' | 'location' | 'scale' | 'sigma' | 's'>;

/** Which slot (and whether as reciprocal) a lower-cased parameter name refers to. */
export function lookupParam(fam: FamilyInfo, name: string): { index: number; reciprocal: boolean } | null {
  const n = name.toLowerCase();
  for (let i = 0; i < fam.params.length; i++) {
    const pi = fam.params[i];
    if (pi.name === n || pi.aliases.includes(n)) return { index: i, reciprocal: false };
    const r = pi.reciprocal;
    if (r && (r.name === n || r.aliases.includes(n))) return { index: i, reciprocal: true };
  }
  return null;
}

/** Every name a family accepts, for "did you mean" hints and listings. */
export function paramNames(fam: FamilyInfo): string[] {
  const out: string[] = [];
  for (const pi of fam.params) {
    out.push(pi.name, ...pi.aliases);
    if (pi.reciprocal) out.push(pi.reciprocal.name, ...pi.reciprocal.aliases);
  }
  return out;
}

/** A value given by name: where it goes, and the name the user used (for messages). */
export interface NamedValue { readonly index: number; readonly reciprocal: boolean; readonly given: string; readonly value: unknown }

/**
 * Resolve positional + named values into the family's parameters (with defaults, reciprocals
 * inverted) and check each. `fail(msg, what)` reports an error; `what` is the positional index
 * or named entry it concerns (-1 for the call as a whole) so the spec parser can add a column.
 */
export function resolveParams(
  fam: FamilyInfo, positional: readonly unknown[], named: readonly NamedValue[],
  fail: (msg: string, what: number | NamedValue) => never,
): number[] {
  const label = fam.names[0];
  const names = fam.params.map((x) => x.name);
  if (positional.length > fam.params.length) {
    fail(`${label}: too many arguments (expected at most ${fam.params.length}: ${names.join(', ')})`,
      fam.params.length);
  }
  const values: unknown[] = positional.slice();
  const by: (NamedValue | number | undefined)[] = positional.map((_, i) => i);
  for (const nv of named) {
    const prev = by[nv.index];
    if (prev !== undefined) {
      const pi = fam.params[nv.index];
      const prevName = typeof prev === 'number' ? `argument ${prev + 1}` : `${prev.given}=`;
      const prevRecip = typeof prev !== 'number' && prev.reciprocal;
      const msg = pi.reciprocal && prevRecip !== nv.reciprocal
        ? `${label}: give either ${pi.name} or ${pi.reciprocal.name}, not both`
        : `${label}: parameter '${pi.name}' given twice (as ${prevName} and as ${nv.given}=)`;
      fail(msg, nv);
    }
    by[nv.index] = nv;
    const checkName = nv.reciprocal ? fam.params[nv.index].reciprocal?.name ?? nv.given : fam.params[nv.index].name;
    const m = checkParam(label, checkName, fam.params[nv.index].check, nv.value);
    if (m !== null) fail(m, nv);
    values[nv.index] = nv.reciprocal ? 1 / (nv.value as number) : nv.value;
  }
  const out: number[] = [];
  for (let i = 0; i < fam.params.length; i++) {
    const pi = fam.params[i];
    if (by[i] === undefined) {
      if (pi.default === undefined) fail(`${label}: missing parameter '${pi.name}'`, -1);
      out.push(pi.default);
      continue;
    }
    const m = checkParam(label, pi.name, pi.check, values[i]);
    if (m !== null) fail(m, by[i] as number | NamedValue);
    out.push(values[i] as number);
  }
  return out;
}

/** Build a univariate distribution from checked values in positional order. */
export function buildUnivariate(kind: Univariate['kind'], v: readonly number[]): Univariate {
  switch (kind) {
    case 'uniform':
      if (!(v[0] < v[1])) throw new UsageError(`uniform: a must be < b, got a=${formatNumber(v[0])}, b=${formatNumber(v[1])}`);
      return frozenDist({ kind, a: v[0], b: v[1] });
    case 'normal': return frozenDist({ kind, mu: v[0], sigma: v[1] });
    case 'lognormal': return frozenDist({ kind, mu: v[0], sigma: v[1] });
    case 'exponential': return frozenDist({ kind, rate: v[0] });
    case 'gamma': return frozenDist({ kind, shape: v[0], rate: v[1] });
    case 'beta': return frozenDist({ kind, alpha: v[0], beta: v[1] });
    case 'studentT': return frozenDist({ kind, df: v[0], loc: v[1], scale: v[2] });
    case 'cauchy': return frozenDist({ kind, loc: v[0], scale: v[1] });
    case 'laplace': return frozenDist({ kind, loc: v[0], scale: v[1] });
    case 'logistic': return frozenDist({ kind, loc: v[0], scale: v[1] });
  }
}

/**
 * A constructed distribution: frozen plain data, plus a non-enumerable toString giving its
 * canonical spec (so `${d}` and String(d) print it; JSON, structured clones and deep
 * equality see only the data).
 */
function frozenDist<T extends Dist>(d: T): T {
  Object.defineProperty(d, 'toString', { value: distToString, enumerable: false });
  return Object.freeze(d);
}

function distToString(this: Dist): string {
  return formatDist(this);
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x);
}

/** Shared body of every univariate constructor: options object or positional numbers. */
function makeUnivariate(kind: Univariate['kind'], args: readonly unknown[]): Univariate {
  const fam = familyOf(kind);
  const fail = (msg: string): never => { throw new UsageError(msg); };
  if (isPlainObject(args[0])) {
    if (args.slice(1).some((a) => a !== undefined)) {
      throw new UsageError(`${fam.names[0]}: give either positional numbers or one options object, not both`);
    }
    const named: NamedValue[] = [];
    for (const [key, value] of Object.entries(args[0])) {
      if (value === undefined) continue;
      const hit = lookupParam(fam, key);
      if (!hit) {
        throw new UsageError(`${fam.names[0]}: unknown parameter '${key}' (expected ${paramNames(fam).join(', ')})`);
      }
      named.push({ ...hit, given: key, value });
    }
    return buildUnivariate(kind, resolveParams(fam, [], named, fail));
  }
  // Trailing undefined arguments mean "use the default" (e.g. studentT(3, undefined, 2) is not
  // allowed, but studentT(3) is).
  let n = args.length;
  while (n > 0 && args[n - 1] === undefined) n--;
  return buildUnivariate(kind, resolveParams(fam, args.slice(0, n), [], fail));
}

// ---------------------------------------------------------------------------------------------
// Structure: dimension and support
// ---------------------------------------------------------------------------------------------

/** Number of columns of a sample. */
export function dimOf(d: Dist): number {
  switch (d.kind) {
    case 'product': return d.factors.length;
    case 'mvnormal': return d.mu.length;
    case 'mixture': return dimOf(d.components[0].dist);
    default: return 1;
  }
}

/** 1-D support as a sorted list of disjoint intervals (mixtures of uniforms can have gaps). */
function intervals1D(d: Dist): [number, number][] {
  switch (d.kind) {
    case 'uniform': return [[d.a, d.b]];
    case 'beta': return [[0, 1]];
    case 'lognormal': case 'exponential': case 'gamma': return [[0, Infinity]];
    case 'truncated': {
      const out: [number, number][] = [];
      for (const [a, b] of intervals1D(d.base)) {
        const lo = Math.max(a, d.lo), hi = Math.min(b, d.hi);
        if (lo < hi) out.push([lo, hi]);
      }
      return out;
    }
    case 'mixture': {
      const all = d.components.flatMap((c) => intervals1D(c.dist)).sort((x, y) => x[0] - y[0]);
      const out: [number, number][] = [];
      for (const iv of all) {
        const last = out[out.length - 1];
        if (last && iv[0] <= last[1]) last[1] = Math.max(last[1], iv[1]);
        else out.push([iv[0], iv[1]]);
      }
      return out;
    }
    case 'product': case 'mvnormal': throw new Error('internal: intervals1D of a multivariate distribution');
    default: return [[-Infinity, Infinity]];
  }
}

/**
 * The support box: exact for the families (beta [0, 1], gamma/exponential/lognormal [0, inf),
 * uniform [a, b]); truncation intersects; a mixture gives the hull of its components.
 */
export function supportOf(d: Dist): Support {
  if (d.kind === 'product') {
    const parts = d.factors.map(supportOf);
    return { lo: parts.map((s) => s.lo[0]), hi: parts.map((s) => s.hi[0]) };
  }
  if (d.kind === 'mvnormal') {
    return { lo: d.mu.map(() => -Infinity), hi: d.mu.map(() => Infinity) };
  }
  if (d.kind === 'mixture' && dimOf(d) > 1) {
    const parts = d.components.map((c) => supportOf(c.dist));
    const n = dimOf(d);
    const lo: number[] = [], hi: number[] = [];
    for (let i = 0; i < n; i++) {
      lo.push(Math.min(...parts.map((s) => s.lo[i])));
      hi.push(Math.max(...parts.map((s) => s.hi[i])));
    }
    return { lo, hi };
  }
  const iv = intervals1D(d);
  return { lo: [iv[0][0]], hi: [iv[iv.length - 1][1]] };
}

// ---------------------------------------------------------------------------------------------
// Composite constructors
// ---------------------------------------------------------------------------------------------

function needDist(label: string, what: string, x: unknown): Dist {
  if (!isDist(x)) throw new UsageError(`${label}: ${what} must be a distribution (from dist.*), got ${show(x)}`);
  return x;
}

/**
 * A truncation's base and a 1-D mixture's components have cdf and quantiles, which the
 * multivariate kinds do not, even with one coordinate: product(normal(0,1)) or
 * mvnormal([0], [1]) there is refused (an internal error or a TypeError before).
 */
function oneDimensionalFamily(fn: string, what: string, d: Dist): void {
  if (d.kind === 'product' || d.kind === 'mvnormal') {
    throw new UsageError(`${fn}: ${what} must be a 1-D distribution, not a ${d.kind} (${formatDist(d)}): write its one coordinate's distribution itself`);
  }
}

function truncated(base: Dist, lo: number = -Infinity, hi: number = Infinity): Truncated {
  needDist('truncated', 'base', base);
  lo = needBound('truncated', 'lo', lo);
  hi = needBound('truncated', 'hi', hi);
  const dim = dimOf(base);
  if (dim !== 1) throw new UsageError(`truncated: base must be 1-D, got a ${dim}-D ${formatDist(base)}`);
  oneDimensionalFamily('truncated', 'base', base);
  if (!(lo < hi)) throw new UsageError(`truncated: lo must be < hi, got lo=${formatNumber(lo)}, hi=${formatNumber(hi)}`);
  // Fold nesting: truncating a truncation is one truncation to the intersection; the kernels
  // then never see a truncated child of a truncation.
  let inner = base;
  if (base.kind === 'truncated') {
    inner = base.base;
    lo = Math.max(lo, base.lo);
    hi = Math.min(hi, base.hi);
  }
  const ivs = intervals1D(inner);
  const overlaps = lo < hi && ivs.some(([a, b]) => Math.max(a, lo) < Math.min(b, hi));
  if (!overlaps) {
    throw new UsageError(
      `truncated: interval [${formatNumber(lo)}, ${formatNumber(hi)}] does not overlap the support of ${formatDist(base)}`);
  }
  // Clip to the support's hull, so kernels never evaluate a CDF outside the support (where, e.g.,
  // the uniform's (x - a)/(b - a) would go negative).
  lo = Math.max(lo, ivs[0][0]);
  hi = Math.min(hi, ivs[ivs.length - 1][1]);
  return frozenDist({ kind: 'truncated', base: inner, lo, hi });
}

/** Component input: `[weight, dist]` or `{ weight, dist }`. */
export type MixtureInput = readonly (readonly [number, Dist] | MixtureComponent)[];

/**
 * Weights are kept as given when they already sum to 1 (within 1e-12), so a printed mixture
 * re-parses to the same numbers; otherwise they are divided by their sum, with the largest one
 * nudged so the result sums to exactly 1 (making normalization idempotent).
 */
function normalizeWeights(w: number[]): number[] {
  const sum = (xs: number[]): number => xs.reduce((s, x) => s + x, 0);
  const s = sum(w);
  if (Math.abs(s - 1) <= 1e-12) return w;
  // (scaled by the largest first: a sum of huge weights overflows, one of tiny ones underflows)
  const top = Math.max(...w);
  const scaled = w.map((x) => x / top);
  const out = scaled.map((x) => x / sum(scaled));
  const s2 = sum(out);
  if (Math.abs(s2 - 1) > 1e-12 && out.length > 0) {
    // Only reachable for pathological spreads of magnitudes; keep the division result.
    return out;
  }
  if (s2 !== 1) {
    let j = 0;
    for (let i = 1; i < out.length; i++) if (out[i] > out[j]) j = i;
    out[j] += 1 - s2;
  }
  return out;
}

function mixture(components: MixtureInput): Mixture {
  if (!Array.isArray(components) || components.length === 0) {
    throw new UsageError('mixture: needs a non-empty array of [weight, dist] components');
  }
  const ws: number[] = [];
  const ds: Dist[] = [];
  components.forEach((c: unknown, i: number) => {
    let w: unknown, d: unknown;
    if (Array.isArray(c) && c.length === 2) [w, d] = c;
    else if (isPlainObject(c) && 'dist' in c) { w = c.weight; d = c.dist; }
    else throw new UsageError(`mixture: component ${i + 1} must be [weight, dist], got ${show(c)}`);
    ws.push(need('mixture', `weight ${i + 1}`, 'positive', w));
    ds.push(needDist('mixture', `component ${i + 1}`, d));
  });
  const dim = dimOf(ds[0]);
  ds.forEach((d, i) => {
    if (dimOf(d) !== dim) {
      throw new UsageError(`mixture: components must share one dimension, component 1 is ${dim}-D but component ${i + 1} is ${dimOf(d)}-D`);
    }
  });
  if (dim === 1) ds.forEach((d, i) => oneDimensionalFamily('mixture', `component ${i + 1}`, d));
  const nw = normalizeWeights(ws);
  return frozenDist({
    kind: 'mixture',
    components: Object.freeze(ds.map((d, i) => Object.freeze({ weight: nw[i], dist: d }))),
  });
}

function product(factors: readonly Dist[]): Product {
  if (!Array.isArray(factors) || factors.length === 0) {
    throw new UsageError('product: needs a non-empty array of 1-D distributions');
  }
  factors.forEach((f: unknown, i: number) => {
    const d = needDist('product', `factor ${i + 1}`, f);
    if (dimOf(d) !== 1) throw new UsageError(`product: factor ${i + 1} must be 1-D, got a ${dimOf(d)}-D ${formatDist(d)}`);
  });
  return frozenDist({ kind: 'product', factors: Object.freeze(factors.slice()) });
}

function numberArray(label: string, name: string, xs: unknown, check: ParamCheck): number[] {
  if (!Array.isArray(xs) && !(ArrayBuffer.isView(xs) && !(xs instanceof DataView))) {
    throw new UsageError(`${label}: ${name} must be an array of numbers, got ${show(xs)}`);
  }
  return Array.from(xs as ArrayLike<unknown>, (v, i) => need(label, `${name}[${i}]`, check, v));
}

export type MvNormalOptions = {
  readonly mu?: readonly number[]; readonly mean?: readonly number[]; readonly loc?: readonly number[];
  readonly sigma?: readonly number[]; readonly sd?: readonly number[]; readonly scale?: readonly number[];
};

function mvnormal(mu: readonly number[] | MvNormalOptions, sigma?: readonly number[]): MvNormal {
  if (isPlainObject(mu)) {
    const o = mu as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['mu', 'mean', 'loc', 'sigma', 'sd', 'scale'].includes(k)) {
        throw new UsageError(`mvnormal: unknown parameter '${k}' (expected mu, sigma)`);
      }
    }
    const pick = (keys: string[], name: string): unknown => {
      const given = keys.filter((k) => o[k] !== undefined);
      if (given.length > 1) throw new UsageError(`mvnormal: parameter ${name} given twice (${given.join(' and ')})`);
      if (given.length === 0) throw new UsageError(`mvnormal: missing parameter '${name}'`);
      return o[given[0]];
    };
    return mvnormal(pick(['mu', 'mean', 'loc'], 'mu') as number[], pick(['sigma', 'sd', 'scale'], 'sigma') as number[]);
  }
  const m = numberArray('mvnormal', 'mu', mu, 'finite');
  const s = numberArray('mvnormal', 'sigma', sigma, 'positive');
  if (m.length === 0) throw new UsageError('mvnormal: mu must not be empty');
  if (m.length !== s.length) {
    throw new UsageError(`mvnormal: mu and sigma must have the same length, got ${m.length} and ${s.length}`);
  }
  return frozenDist({ kind: 'mvnormal', mu: Object.freeze(m), sigma: Object.freeze(s) });
}

/** The public constructors. Each accepts positional numbers or one options object. */
export const dist = Object.freeze({
  uniform: (a: number | UniformOptions, b?: number): Uniform => makeUnivariate('uniform', [a, b]) as Uniform,
  normal: (mu: number | NormalOptions, sigma?: number): Normal => makeUnivariate('normal', [mu, sigma]) as Normal,
  lognormal: (mu: number | LogNormalOptions, sigma?: number): LogNormal =>
    makeUnivariate('lognormal', [mu, sigma]) as LogNormal,
  exponential: (rate: number | ExponentialOptions): Exponential => makeUnivariate('exponential', [rate]) as Exponential,
  gamma: (shape: number | GammaOptions, rate?: number): Gamma => makeUnivariate('gamma', [shape, rate]) as Gamma,
  beta: (alpha: number | BetaOptions, beta?: number): Beta => makeUnivariate('beta', [alpha, beta]) as Beta,
  studentT: (df: number | StudentTOptions, loc?: number, scale?: number): StudentT =>
    makeUnivariate('studentT', [df, loc, scale]) as StudentT,
  cauchy: (loc?: number | LocScaleOptions, scale?: number): Cauchy => makeUnivariate('cauchy', [loc, scale]) as Cauchy,
  laplace: (loc?: number | LocScaleOptions, scale?: number): Laplace => makeUnivariate('laplace', [loc, scale]) as Laplace,
  logistic: (loc?: number | LocScaleOptions, scale?: number): Logistic =>
    makeUnivariate('logistic', [loc, scale]) as Logistic,
  truncated,
  mixture,
  product,
  mvnormal,
});

// ---------------------------------------------------------------------------------------------
// isDist, encoding, formatting
// ---------------------------------------------------------------------------------------------

const isNum = (x: unknown): boolean => typeof x === 'number';

/** Structural check (kinds, field types, nesting); parameter ranges are the constructors' job. */
export function isDist(x: unknown): x is Dist {
  if (!isPlainObject(x) || typeof x.kind !== 'string') return false;
  switch (x.kind) {
    case 'uniform': return isNum(x.a) && isNum(x.b);
    case 'normal': case 'lognormal': return isNum(x.mu) && isNum(x.sigma);
    case 'exponential': return isNum(x.rate);
    case 'gamma': return isNum(x.shape) && isNum(x.rate);
    case 'beta': return isNum(x.alpha) && isNum(x.beta);
    case 'studentT': return isNum(x.df) && isNum(x.loc) && isNum(x.scale);
    case 'cauchy': case 'laplace': case 'logistic': return isNum(x.loc) && isNum(x.scale);
    case 'truncated': return isDist(x.base) && isNum(x.lo) && isNum(x.hi);
    case 'mixture': return Array.isArray(x.components) && x.components.length > 0 &&
      x.components.every((c: unknown) => isPlainObject(c) && isNum(c.weight) && isDist(c.dist));
    case 'product': return Array.isArray(x.factors) && x.factors.length > 0 && x.factors.every(isDist);
    case 'mvnormal': return Array.isArray(x.mu) && Array.isArray(x.sigma) && x.mu.length > 0 &&
      x.mu.length === x.sigma.length && x.mu.every(isNum) && x.sigma.every(isNum);
    default: return false;
  }
}

const TAG: Record<Univariate['kind'], number> = {
  uniform: 1, normal: 2, lognormal: 3, exponential: 4, gamma: 5, beta: 6,
  studentT: 7, cauchy: 8, laplace: 9, logistic: 10,
};

/** Parameter values of a univariate distribution in positional (program) order. */
export function univariateParams(d: Univariate): number[] {
  switch (d.kind) {
    case 'uniform': return [d.a, d.b];
    case 'normal': case 'lognormal': return [d.mu, d.sigma];
    case 'exponential': return [d.rate];
    case 'gamma': return [d.shape, d.rate];
    case 'beta': return [d.alpha, d.beta];
    case 'studentT': return [d.df, d.loc, d.scale];
    case 'cauchy': case 'laplace': case 'logistic': return [d.loc, d.scale];
  }
}

function encodeInto(d: Dist, out: number[]): void {
  switch (d.kind) {
    case 'truncated':
      out.push(20, d.lo, d.hi);
      encodeInto(d.base, out);
      return;
    case 'mixture': {
      // Divide by the exact sum: stored weights may be off from 1 by up to 1e-12.
      const s = d.components.reduce((acc, c) => acc + c.weight, 0);
      out.push(21, d.components.length, ...d.components.map((c) => c.weight / s));
      for (const c of d.components) encodeInto(c.dist, out);
      return;
    }
    case 'product':
      out.push(22, d.factors.length);
      for (const f of d.factors) encodeInto(f, out);
      return;
    case 'mvnormal':
      out.push(23, d.mu.length, ...d.mu, ...d.sigma);
      return;
    default:
      out.push(TAG[d.kind], ...univariateParams(d));
  }
}

/** The kernel program of a distribution (native/PROTOCOL.md §2). */
export function encodeDist(d: Dist): Float64Array<ArrayBuffer> {
  if (!isDist(d)) throw new UsageError(`encodeDist: not a distribution: ${show(d)}`);
  const out: number[] = [];
  encodeInto(d, out);
  return Float64Array.from(out);
}

/**
 * Canonical text, read back exactly by parseDist: canonical family names, every parameter
 * positional (defaults included), shortest round-trip numbers, `inf`/`-inf`, e.g.
 * `mixture(0.3*normal(-2, 0.5), 0.7*normal(1.5, 1))`, `truncated(normal(0, 1), 2, inf)`.
 */
export function formatDist(d: Dist): string {
  const nums = (xs: readonly number[]): string => xs.map(formatNumber).join(', ');
  switch (d.kind) {
    case 'truncated': return `truncated(${formatDist(d.base)}, ${formatNumber(d.lo)}, ${formatNumber(d.hi)})`;
    case 'mixture':
      return `mixture(${d.components.map((c) => `${formatNumber(c.weight)}*${formatDist(c.dist)}`).join(', ')})`;
    case 'product': return `product(${d.factors.map(formatDist).join(', ')})`;
    case 'mvnormal': return `mvnormal([${nums(d.mu)}], [${nums(d.sigma)}])`;
    default: return `${labelOf(d.kind)}(${nums(univariateParams(d))})`;
  }
}
