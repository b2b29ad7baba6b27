/**
 * Density ratio w(x) = p_target(x) / p_source(x) over the source pool, three ways:
 * - classifier: a domain classifier (MLP, softmax over {source, target}) trained with the
 *   Trainer on standardized features; with p = P(target | x) from a classifier trained on
 *   n_s source and n_t target rows, w = (n_s / n_t) * p / (1 - p) (class-size correction),
 *   computed from the logits as (n_s / n_t) * exp(l_target - l_source);
 * - column: weights given by the user, one per pool row;
 * - expression: an expression over the raw features x0..x{d-1} giving log w, compiled by the
 *   sampling engine's expression compiler and evaluated by its kernel.
 */
import { UsageError } from '../errors.js';
import { compileExpr } from '../sampling/expr.js';
import { getKernel } from '../sampling/kernel.js';
import { models, Trainer } from '../train/index.js';
import type { Dataset } from './types.js';

export interface ClassifierRatioOptions {
  hidden?: number[];
  epochs?: number;
  lr?: number;
  batch?: number;
  seed: number;
  threads?: number;
  /** per-step losses, for the report */
  onStep?: (step: number, loss: number) => void;
}

/** Largest log w kept as it is: exp stays far from overflow (w up to ~1e30). */
const MAX_LOG_W = 69;

/**
 * exp of log weights, exact up to one common factor: when the largest exceeds MAX_LOG_W, every
 * one is shifted down by the excess. Acceptance only sees w / M, so a common factor changes
 * nothing (M scales with it); capping each weight at exp(69) instead, as before, flattened every
 * row above the cap to the same weight, and the sample was wrong with nothing said.
 */
function expWeights(logw: Float64Array): Float64Array {
  let top = -Infinity;
  for (const v of logw) if (v > top) top = v;
  const shift = top > MAX_LOG_W ? top - MAX_LOG_W : 0;
  return logw.map((v) => Math.exp(v - shift));
}

/** xs and xt are standardized features [n, d]. */
export async function classifierRatio(xs: Float32Array, ns: number, xt: Float32Array, nt: number, d: number, opts: ClassifierRatioOptions): Promise<Float64Array> {
  const x = new Float32Array((ns + nt) * d);
  x.set(xs, 0);
  x.set(xt, ns * d);
  const y = new Int32Array(ns + nt);
  y.fill(1, ns);
  const model = models.mlp({ sizes: [d, ...(opts.hidden ?? [32]), 2], activation: 'relu', seed: opts.seed });
  const trainer = await Trainer.create({
    model, loss: 'softmax_cross_entropy', optimizer: { type: 'adamw', lr: opts.lr ?? 3e-3, weightDecay: 0.01 },
    batchSize: opts.batch ?? 256, threads: opts.threads,
  });
  try {
    if (opts.onStep) trainer.on('step', (e: { step: number; loss: number }) => opts.onStep!(e.step, e.loss));
    await trainer.fit({ x, y, epochs: opts.epochs ?? 5, shuffleSeed: opts.seed });
    const logits = await trainer.predict(xs);
    const logw = new Float64Array(ns);
    const logC = Math.log(ns / nt);
    for (let i = 0; i < ns; i++) logw[i] = logC + logits[2 * i + 1] - logits[2 * i];
    return expWeights(logw);
  } finally {
    await trainer.close();
  }
}

export function columnRatio(weights: Float64Array, n: number, what = 'weight column'): Float64Array {
  if (weights.length !== n) throw new UsageError(`${what} has ${weights.length} values, the pool has ${n} rows`);
  for (let i = 0; i < n; i++) {
    if (!(weights[i] >= 0) || !Number.isFinite(weights[i])) throw new UsageError(`${what}: row ${i + 1} has weight ${weights[i]} (weights must be finite and >= 0)`);
  }
  return Float64Array.from(weights);
}

/** expr gives log w over raw features x0..x{d-1} (x for one feature). */
export function expressionRatio(expr: string, pool: Dataset): Float64Array {
  let c;
  try {
    c = compileExpr(expr, { dim: pool.d });
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`ratio.expr: ${e.message}`);
    throw e;
  }
  const xs = Float64Array.from(pool.x);
  const out = new Float64Array(pool.n);
  getKernel().evalExpr(c.code, xs, out);
  for (let i = 0; i < pool.n; i++) {
    const v = out[i];
    if (Number.isNaN(v)) throw new UsageError(`ratio.expr: log w is NaN at pool row ${i + 1}`);
    if (v === Infinity) throw new UsageError(`ratio.expr: log w is +Infinity at pool row ${i + 1}`);
  }
  return expWeights(out);
}
