/**
 * Turns the user's sample() options into a Plan: a validated job buffer, the envelope constant,
 * and how the target's log density is computed (distribution program, compiled expression, or
 * a JS function). All user mistakes surface here as one-line UsageErrors, before any sampling.
 */
import { UsageError } from '../errors.js';
import { type Dist, dimOf, encodeDist, formatDist, isDist, supportOf } from './dist.js';
import { parseDist } from './spec.js';
import { compileExpr } from './expr.js';
import { encodeJob, TargetKind } from './job.js';
import type { Kernel } from './kernel-types.js';
import { componentsOf, decodeDist, type JsDist1 } from './js-dist.js';
import { bound1D, boundFromSample, gridProbabilities, type LogRatio, SAFETY_1D, SAFETY_MULTI, VIOLATION_SLACK } from './envelope.js';

/** A batch log-density: fill out[i] with log p of row i of xs (rows of d numbers). */
export type LogDensityFn = (xs: Float64Array, out: Float64Array, d: number) => void;

/** A custom target written as an expression over x (1-D) or x0..x{d-1}. */
export interface ExpressionTarget {
  logpdf: string;
  /** [a, b] for 1-D, or per-dimension boxes; defaults to the proposal's support. */
  support?: readonly [number, number] | { lo: readonly number[]; hi: readonly number[] };
}

/** A JS batch log-density that workers can load: `import(module)[exportName]`. */
export interface ModuleTarget {
  module: string;
  export?: string;
  support?: ExpressionTarget['support'];
}

/** A JS batch log-density given directly (runs on the calling thread). */
export interface FunctionTarget {
  logpdfBatch: LogDensityFn;
  support?: ExpressionTarget['support'];
}

export type TargetSpec = string | Dist | ExpressionTarget | ModuleTarget | FunctionTarget | LogDensityFn;
export type ProposalSpec = string | Dist;

export interface PlanInput {
  target: TargetSpec;
  proposal: ProposalSpec;
  M?: number | 'auto';
  onViolation?: 'error' | 'warn';
}

export interface ExternalTarget {
  /** Set when the density is a function on this thread. */
  fn: LogDensityFn | null;
  /** Set when workers can import it. */
  module: { url: string; exportName: string } | null;
}

export interface Plan {
  job: Float64Array;
  d: number;
  M: number;
  logM: number;
  /** 1/M when target and proposal are both normalized distributions; null otherwise. */
  expectedRate: number | null;
  targetLabel: string;
  proposalLabel: string;
  external: ExternalTarget | null;
  /** Warnings to print once (e.g. a user's M below the sup with onViolation 'warn'). */
  warnings: string[];
}

function asDist(spec: ProposalSpec, role: string): Dist {
  let d: Dist;
  if (typeof spec === 'string') d = parseDist(spec);
  else if (isDist(spec)) d = spec;
  else throw new UsageError(`${role} must be a distribution spec string or a dist.* object`);
  checkProgram(d, role);
  return d;
}

/**
 * Decoding the program catches what the spec layer cannot see cheaply, e.g. a truncation
 * interval with zero probability under its distribution: a user error, reported as one.
 */
function checkProgram(d: Dist, role: string): void {
  try {
    decodeDist(encodeDist(d));
  } catch (e) {
    const why = (e as Error).message.replace(/^distribution program: /, '');
    throw new UsageError(`${role} ${formatDist(d)}: ${why}`);
  }
}

function supportBox(
  s: ExpressionTarget['support'] | undefined,
  d: number,
  fallback: { lo: number[]; hi: number[] },
): { lo: number[]; hi: number[] } {
  if (s === undefined) return { lo: [...fallback.lo], hi: [...fallback.hi] };
  if (typeof s !== 'object' || s === null) throw new UsageError(`support must be [a, b] or { lo, hi }, got ${String(s)}`);
  let lo: number[];
  let hi: number[];
  if (Array.isArray(s)) {
    const pair = s as readonly number[];
    if (pair.length !== 2) throw new UsageError('support must be [a, b]');
    lo = new Array<number>(d).fill(pair[0]);
    hi = new Array<number>(d).fill(pair[1]);
  } else {
    const box = s as { lo: readonly number[]; hi: readonly number[] };
    if (!Array.isArray(box.lo) || !Array.isArray(box.hi) || box.lo.length !== d || box.hi.length !== d) {
      throw new UsageError(`support must give ${d} lower and ${d} upper bounds`);
    }
    lo = [...box.lo];
    hi = [...box.hi];
  }
  for (let k = 0; k < d; k++) {
    if (typeof lo[k] !== 'number' || typeof hi[k] !== 'number') {
      throw new UsageError(`support bounds must be numbers, got [${String(lo[k])}, ${String(hi[k])}]`);
    }
    if (Number.isNaN(lo[k]) || Number.isNaN(hi[k]) || !(lo[k] < hi[k])) {
      throw new UsageError(`support: need a < b, got [${lo[k]}, ${hi[k]}]`);
    }
  }
  return { lo, hi };
}

function intersect(a: { lo: number[]; hi: number[] }, b: { lo: number[]; hi: number[] }, tl: string, pl: string) {
  const lo: number[] = [];
  const hi: number[] = [];
  for (let k = 0; k < a.lo.length; k++) {
    lo.push(Math.max(a.lo[k], b.lo[k]));
    hi.push(Math.min(a.hi[k], b.hi[k]));
    if (!(lo[k] < hi[k])) {
      throw new UsageError(
        `target support [${a.lo[k]}, ${a.hi[k]}] does not overlap proposal ${pl} support [${b.lo[k]}, ${b.hi[k]}]` +
          (a.lo.length > 1 ? ` in dimension ${k}` : '') + ` (target ${tl})`,
      );
    }
  }
  return { lo, hi };
}

/** Rejection sampling can only produce points where q > 0: q's support must cover p's. */
function checkCovers(t: { lo: number[]; hi: number[] }, q: { lo: number[]; hi: number[] }, tl: string, pl: string): void {
  for (let k = 0; k < t.lo.length; k++) {
    if (t.lo[k] < q.lo[k] || t.hi[k] > q.hi[k]) {
      throw new UsageError(
        `proposal ${pl} (support [${q.lo[k]}, ${q.hi[k]}]) does not cover target ${tl} (support [${t.lo[k]}, ${t.hi[k]}])` +
          (t.lo.length > 1 ? ` in dimension ${k}` : '') + `: samples would come from a truncated target`,
      );
    }
  }
}

function fmt(x: number): string {
  return Number.isFinite(x) ? Number(x.toPrecision(6)).toString() : String(x);
}

function isFunctionTarget(t: TargetSpec): t is FunctionTarget {
  return typeof t === 'object' && t !== null && typeof (t as FunctionTarget).logpdfBatch === 'function';
}
function isModuleTarget(t: TargetSpec): t is ModuleTarget {
  return typeof t === 'object' && t !== null && typeof (t as ModuleTarget).module === 'string';
}
function isExpressionTarget(t: TargetSpec): t is ExpressionTarget {
  return typeof t === 'object' && t !== null && typeof (t as ExpressionTarget).logpdf === 'string';
}

/** Loads a module target's function (M estimation runs on the calling thread, blocks in workers too). */
export async function importLogDensity(url: string, exportName: string): Promise<LogDensityFn> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`cannot import target module ${url}: ${(e as Error).message.split('\n')[0]}`);
  }
  const fn = mod[exportName];
  if (typeof fn !== 'function') throw new UsageError(`target module ${url} has no function export '${exportName}'`);
  return guardDensity(fn as LogDensityFn, `${url}#${exportName}`);
}

/**
 * The caller's log-density, with what it throws reported as the caller's mistake: a
 * UsageError naming the target, the thrown value as its cause.
 */
function guardDensity(fn: LogDensityFn, label: string): LogDensityFn {
  return (xs, out, d) => {
    try {
      fn(xs, out, d);
    } catch (e) {
      const text = (e as { message?: unknown } | null)?.message;
      const why = typeof text === 'string' ? text : String(e);
      throw new UsageError(`target log-density ${label} threw: ${why.split('\n')[0]}`, { cause: e });
    }
  };
}

export function moduleUrl(path: string): string {
  if (/^[a-z]+:/i.test(path)) return path;
  return new URL(path, `file://${process.cwd()}/`).href;
}

/**
 * Plans are pure functions of (target, proposal, M, onViolation, kernel) for spec, dist and
 * expression targets: memoize them so repeated calls (benchmarks, many small sample() calls)
 * skip the envelope search. JS-function targets are never cached.
 */
const planCache = new Map<string, Plan>();
const PLAN_CACHE_SIZE = 64;

function planKey(input: PlanInput, kernel: Kernel): string | null {
  const t = input.target;
  let tk: string | null;
  if (typeof t === 'string') tk = `s:${t}`;
  else if (typeof t === 'function' || isFunctionTarget(t) || isModuleTarget(t)) return null;
  else if (isDist(t)) tk = `d:${formatDist(t)}`;
  else if (isExpressionTarget(t)) tk = exactKey(t.support === undefined ? [t.logpdf] : [t.logpdf, t.support]);
  else return null;
  const p = input.proposal;
  const pk = typeof p === 'string' ? `s:${p}` : isDist(p) ? `d:${formatDist(p)}` : null;
  if (tk === null || pk === null) return null;
  return exactKey([tk, pk, input.M ?? 'auto', input.onViolation ?? 'error', kernel.name]);
}

/**
 * A key that tells apart every value a plan may depend on: strings by their length and text,
 * numbers spelled out (plain JSON writes Infinity, -Infinity and NaN all as null), so the
 * number 5 and the string '5' differ; null (no caching) for anything else. Called on every
 * sample(): string concatenation, not JSON.stringify, which cost ~2.5 us a call.
 */
function exactKey(v: unknown): string | null {
  if (typeof v === 'string') return `s${v.length}:${v}`; // (the length says where it ends)
  if (typeof v === 'number') return Object.is(v, -0) ? 'n-0' : `n${v}`;
  if (v === null) return 'null';
  if (!Array.isArray(v)) return null;
  let key = '[';
  for (let i = 0; i < v.length; i++) {
    const k = exactKey(v[i]);
    if (k === null) return null;
    key += i ? `,${k}` : k;
  }
  return `${key}]`;
}

/**
 * The plan input as plain data, every field of the caller's objects read once: the cache key
 * and the plan are both made from it (a getter that answered differently on a second read
 * would otherwise file one target's plan under another's key, for every later call).
 */
function snapshot(input: PlanInput): PlanInput {
  return { target: snapshotSpec(input.target, 'target') as TargetSpec, proposal: snapshotSpec(input.proposal, 'proposal') as ProposalSpec, M: input.M, onViolation: input.onViolation };
}

function snapshotSpec(spec: unknown, what: string): unknown {
  if (typeof spec !== 'object' || spec === null) return spec; // a string, a function
  const o = spec as Record<string, unknown>;
  const fn = o.logpdfBatch;
  // (a function cannot be cloned: the object's other field is)
  if (typeof fn === 'function') return { logpdfBatch: fn, support: plainData(o.support, `${what}.support`) };
  return plainData(spec, what);
}

/** A deep copy of plain data (numbers, strings, arrays, typed arrays, objects): each field read once. */
function plainData(v: unknown, what: string): unknown {
  if (v === undefined) return undefined;
  try {
    return structuredClone(v);
  } catch {
    throw new UsageError(`${what} must be plain data (numbers, strings, arrays, objects), not a proxy or an object holding functions`);
  }
}

export async function makePlan(given: PlanInput, kernel: Kernel): Promise<Plan> {
  const input = snapshot(given);
  const key = planKey(input, kernel);
  if (key !== null) {
    const hit = planCache.get(key);
    if (hit) return hit;
  }
  const plan = await buildPlan(input, kernel);
  if (key !== null) {
    if (planCache.size >= PLAN_CACHE_SIZE) planCache.delete(planCache.keys().next().value as string);
    planCache.set(key, plan);
  }
  return plan;
}

async function buildPlan(input: PlanInput, kernel: Kernel): Promise<Plan> {
  const proposal = asDist(input.proposal, 'proposal');
  const d = dimOf(proposal);
  const proposalProgram = encodeDist(proposal);
  const proposalLabel = formatDist(proposal);
  const qSupport = supportOf(proposal);
  const warnings: string[] = [];

  let targetKind: TargetKind;
  let targetProgram: Float64Array = new Float64Array(0);
  let targetLabel: string;
  let tSupport: { lo: number[]; hi: number[] };
  let external: ExternalTarget | null = null;
  let normalized = false;
  let targetDist: Dist | null = null;
  const t = input.target;

  if (typeof t === 'string' || isDist(t)) {
    targetDist = asDist(t, 'target');
    if (dimOf(targetDist) !== d) {
      throw new UsageError(`target has dimension ${dimOf(targetDist)} but proposal has dimension ${d}`);
    }
    targetKind = TargetKind.Dist;
    targetProgram = encodeDist(targetDist);
    targetLabel = formatDist(targetDist);
    tSupport = supportOf(targetDist);
    normalized = true;
  } else if (typeof t === 'function' || isFunctionTarget(t) || isModuleTarget(t)) {
    targetKind = TargetKind.External;
    if (typeof t === 'function') {
      targetLabel = `js:${t.name || 'anonymous'}`;
      external = { fn: guardDensity(t, targetLabel), module: null };
      tSupport = supportBox(undefined, d, qSupport);
    } else if (isFunctionTarget(t)) {
      targetLabel = `js:${t.logpdfBatch.name || 'anonymous'}`;
      external = { fn: guardDensity(t.logpdfBatch, targetLabel), module: null };
      tSupport = supportBox(t.support, d, qSupport);
    } else {
      const url = moduleUrl(t.module);
      const exportName = t.export ?? 'default';
      external = { fn: await importLogDensity(url, exportName), module: { url, exportName } };
      tSupport = supportBox(t.support, d, qSupport);
      targetLabel = `${t.module}#${exportName}`;
    }
  } else if (isExpressionTarget(t)) {
    const compiled = compileExpr(t.logpdf, { dim: d });
    targetKind = TargetKind.Expr;
    targetProgram = compiled.code;
    targetLabel = `logpdf: ${t.logpdf}`;
    tSupport = supportBox(t.support, d, qSupport);
  } else {
    throw new UsageError('target must be a spec string, a dist.* object, { logpdf: EXPR }, { module, export } or a function');
  }

  intersect(tSupport, qSupport, targetLabel, proposalLabel);
  checkCovers(tSupport, qSupport, targetLabel, proposalLabel);

  // Evaluates log p - log q on this thread, for envelope search (with the magnitude of the
  // terms subtracted, which bounds the difference's rounding error, when scale is given).
  const ratio: LogRatio = (xs, scale) => {
    const n = xs.length / d;
    const lq = new Float64Array(n);
    const lp = new Float64Array(n);
    kernel.logpdfDist(proposalProgram, xs, lq);
    if (targetKind === TargetKind.Dist) kernel.logpdfDist(targetProgram, xs, lp);
    else if (targetKind === TargetKind.Expr) kernel.evalExpr(targetProgram, xs, lp);
    else external!.fn!(xs, lp, d);
    for (let i = 0; i < n; i++) {
      let inside = true;
      for (let k = 0; k < d; k++) {
        const x = xs[i * d + k];
        if (!(x >= tSupport.lo[k] && x <= tSupport.hi[k])) inside = false;
      }
      if (scale) {
        const mp = inside && Number.isFinite(lp[i]) ? Math.abs(lp[i]) : 0;
        scale[i] = Math.max(mp, Number.isFinite(lq[i]) ? Math.abs(lq[i]) : 0);
      }
      lp[i] = inside ? lp[i] - lq[i] : -Infinity;
    }
    return lp;
  };

  const onViolation = input.onViolation ?? 'error';
  let logM: number;
  const Min = input.M ?? 'auto';
  if (Min !== 'auto' && (typeof Min !== 'number' || !Number.isFinite(Min) || !(Min > 0))) {
    throw new UsageError(`M must be a positive finite number or 'auto', got ${String(Min)}`);
  }

  if (d === 1) {
    const grid = quantileGrid(proposalProgram, targetDist ? targetProgram : null);
    const b = bound1D(ratio, [tSupport.lo[0], tSupport.hi[0]], grid);
    if (b.unboundedAt !== null && b.infinite) {
      throw new UsageError(
        `log p - log q of target ${targetLabel} to proposal ${proposalLabel} is +Infinity at x = ${fmt(b.unboundedAt)} ` +
          `(an infinite target log density, or a proposal with no density where the target has some): no finite M exists`,
      );
    }
    if (b.unboundedAt !== null) {
      throw new UsageError(
        `the density ratio p/q of target ${targetLabel} to proposal ${proposalLabel} is unbounded near x = ${fmt(b.unboundedAt)}: ` +
          `no finite M exists; use a proposal with heavier tails or a matching singularity`,
      );
    }
    if (Number.isNaN(b.logSup)) {
      throw new UsageError(
        `log p - log q of target ${targetLabel} to proposal ${proposalLabel} cannot be evaluated accurately anywhere the target ` +
          `has density (log densities beyond ~3e10 in magnitude): no M can be found (an unnormalized log density can be shifted by a constant)`,
      );
    }
    if (!(b.logSup > -Infinity)) {
      throw new UsageError(`target ${targetLabel} has zero density everywhere the proposal ${proposalLabel} puts mass`);
    }
    if (Min === 'auto') {
      if (normalized) missedSup(b.logSup, targetLabel, proposalLabel);
      logM = b.logSup + Math.log(SAFETY_1D);
    } else {
      logM = Math.log(Min);
      if (b.logSup > logM + VIOLATION_SLACK) {
        const msg =
          `M = ${fmt(Min)} is below sup p/q = ${fmt(Math.exp(b.logSup))} (at x = ${fmt(b.argmax)}): ` +
          `the envelope is violated; use M >= ${fmt(Math.exp(b.logSup) * SAFETY_1D)} or M: 'auto'`;
        if (onViolation === 'error') throw new UsageError(msg);
        warnings.push(msg);
      }
    }
  } else if (Min === 'auto') {
    const n = 1 << 17;
    const xs = new Float64Array(n * d);
    // A stream far from the block streams (blocks use 0, 1, 2, ...).
    kernel.sampleDist(proposalProgram, 0x5eed, 2 ** 50, xs);
    const b = boundFromSample(ratio, xs);
    if (!(b.logSup > -Infinity)) {
      throw new UsageError(`target ${targetLabel} has zero density everywhere the proposal ${proposalLabel} puts mass`);
    }
    if (b.logSup === Infinity) throw new UsageError(`the density ratio p/q is infinite at some proposal points: no finite M exists`);
    if (normalized) missedSup(b.logSup, targetLabel, proposalLabel);
    logM = b.logSup + Math.log(SAFETY_MULTI);
  } else {
    logM = Math.log(Min);
  }

  // (a given M is reported as given: exp(log 3) is 2.9999999999999996)
  const M = Min === 'auto' ? Math.exp(logM) : Min;
  if (!(M > 0 && M < Infinity)) {
    // Sampling runs in log space, but M itself must be a usable number (stats, expectedRate).
    throw new UsageError(
      `the envelope constant M = exp(${fmt(logM)}) for target ${targetLabel} and proposal ${proposalLabel} ` +
        `${logM > 0 ? 'overflows' : 'underflows'}: no finite positive M (an unnormalized log density can be shifted by a constant)`,
    );
  }
  const job = encodeJob({ d, logM, targetKind, target: targetProgram, proposal: proposalProgram, lo: tSupport.lo, hi: tSupport.hi });
  return {
    job,
    d,
    M,
    logM,
    expectedRate: normalized ? 1 / M : null,
    targetLabel,
    proposalLabel,
    external,
    warnings,
  };
}

/**
 * For two normalized densities sup p/q >= 1 (p <= c q with c < 1 would leave p a mass below 1).
 * A sup found below 1 means the search missed where p/q is largest, a feature narrower than its
 * grid (or than its sample's reach in several dimensions): refused, not sampled wrongly.
 */
function missedSup(logSup: number, targetLabel: string, proposalLabel: string): void {
  if (logSup >= -1e-6) return;
  throw new UsageError(
    `M: 'auto' found sup p/q = ${logSup > -700 ? fmt(Math.exp(logSup)) : `exp(${fmt(logSup)})`} for target ${targetLabel} and proposal ${proposalLabel}, ` +
      `below 1, which two normalized densities cannot have: the search missed where p/q is largest; give M`,
  );
}

/**
 * Grid points at quantiles of the proposal and (when a distribution) of the target, and at
 * COMPONENT_GRID quantiles of each of their components (js-dist.ts componentsOf: a narrow
 * mixture component falls between the mixture's own quantiles).
 */
function quantileGrid(proposal: Float64Array, target: Float64Array | null): number[] {
  const out: number[] = [];
  const add = (d: JsDist1, ps: number[]): void => {
    for (const p of ps) {
      const x = d.quantile(p);
      if (Number.isFinite(x)) out.push(x);
    }
  };
  for (const prog of [proposal, target]) {
    if (!prog) continue;
    const dd = decodeDist(prog);
    if (dd.dim !== 1) continue;
    const d1 = dd as JsDist1;
    const components = componentsOf(d1);
    // A mixture's own quantiles are the grid's coarse layer, its components' the fine one.
    // Past OWN_GRID_COMPONENTS components the fine layer covers the mass many times over,
    // while each own quantile inverts a cdf through every component: 1000 narrow normals spent
    // 0.9 s of makePlan's 1.5 on 536 of them. Their number then shrinks as the components grow.
    const own = components.length <= OWN_GRID_COMPONENTS ? 512 : Math.max(32, Math.floor((512 * OWN_GRID_COMPONENTS) / components.length));
    add(d1, gridProbabilities(own));
    for (const c of components) add(c, gridProbabilities(COMPONENT_GRID));
  }
  return out;
}

/** Components up to which a distribution's own quantile grid keeps all 512 central points. */
const OWN_GRID_COMPONENTS = 64;

/** Central quantiles per component (besides its tail quantiles): golden-section search refines from there. */
const COMPONENT_GRID = 64;
