/**
 * Reverse-mode autodiff over the tape (micrograd's algorithm on a graph of tensors):
 * 1. forward sweep: which tape entries depend on a `wrt` value;
 * 2. backward sweep in reverse creation order from `loss`, calling each entry's rule
 *    only for inputs that lead back to `wrt`, summing gradients that fan in.
 * The gradient ops are appended to the same graph, so one model holds both passes.
 */
import type { Value, TapeEntry } from './graph.js';
import { RULES } from './gradients.js';
import * as op from './ops.js';
import { fmtShape } from './shape.js';

export interface GradOptions {
  /** Seed gradient dL/dloss (default: ones, so a scalar loss gets 1). */
  seed?: Value;
}

/**
 * Gradients of `loss` with respect to each of `wrt`. A value that `loss` does not
 * depend on gets zeros of its shape.
 */
export function grad(loss: Value, wrt: Value[], opts: GradOptions = {}): Value[] {
  const g = loss.graph;
  const tape = g.tape;
  // 1. Which values depend on a wrt value.
  const dependsOnWrt = new Set<Value>(wrt);
  for (const e of tape) {
    if (e.inputs.some((x) => x && dependsOnWrt.has(x))) dependsOnWrt.add(e.output);
  }
  // 2. Backward sweep.
  const grads = new Map<Value, Value>();
  let seed = opts.seed;
  if (!seed) {
    if (loss.shape.length !== 0 && !loss.shape.every((d) => d === 1)) {
      throw new Error(`grad: loss ${loss} is not a scalar; pass opts.seed`);
    }
    seed = g.constant(loss.dtype, loss.shape as number[], [1]);
  }
  grads.set(loss, seed);
  const entryOf = new Map<Value, TapeEntry>();
  for (const e of tape) entryOf.set(e.output, e);
  if (!entryOf.has(loss) && !wrt.includes(loss)) {
    throw new Error(`grad: ${loss} was not produced by a differentiable op of this graph`);
  }
  // The tape may grow while we append gradient nodes: walk only the forward part.
  const n = tape.length;
  for (let i = n - 1; i >= 0; i--) {
    const e = tape[i];
    const dy = grads.get(e.output);
    if (!dy || !dependsOnWrt.has(e.output)) continue;
    const needs = e.inputs.map((x) => !!x && dependsOnWrt.has(x) && op.isDifferentiable(x));
    if (!needs.some(Boolean)) continue;
    let gin: (Value | undefined)[];
    if (e.backward) gin = e.backward(dy, needs);
    else {
      const rule = RULES[e.op];
      if (!rule) throw new Error(`grad: no gradient rule for ${e.op} (output ${e.output})`);
      if (!e.node) throw new Error(`grad: tape entry for ${e.op} lacks its node`);
      gin = rule(e.node, dy, needs);
    }
    e.inputs.forEach((x, k) => {
      const gx = gin[k];
      if (!x || !needs[k] || !gx) return;
      checkGradShape(x, gx, e.op);
      const prev = grads.get(x);
      grads.set(x, prev ? op.add(prev, gx) : gx);
    });
  }
  return wrt.map((w) => grads.get(w) ?? op.zerosLike(w));
}

function checkGradShape(x: Value, gx: Value, opName: string): void {
  if (gx.dtype !== x.dtype) throw new Error(`grad: ${opName} rule gave dtype ${gx.dtype} for ${x}`);
  const ok = gx.rank === x.rank && gx.shape.every((d, i) => d === x.shape[i] || d === null || x.shape[i] === null || typeof d !== typeof x.shape[i]);
  if (!ok) throw new Error(`grad: ${opName} rule gave shape ${fmtShape(gx.shape)} for ${x}`);
}
