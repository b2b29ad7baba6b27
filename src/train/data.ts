/**
 * Validation and staging of user data. Every check here is a user mistake, so it
 * throws a one-line UsageError naming the row. Data is copied once, converted to the
 * trainer's dtype, into SharedArrayBuffers the worker reads without another copy
 * (ORT tensors cannot wrap shared memory, so the worker gathers batches into its own
 * buffers).
 */
import type { FloatArray, FloatDType } from '../graph/dtype.js';
import { UsageError } from '../errors.js';
import type { LossName } from './config.js';

export interface Dataset {
  /** [n * inputs], trainer dtype, shared memory; GPT models: token ids [n * context] (int64). */
  x: FloatArray | BigInt64Array;
  /** Class labels (int64) for softmax_cross_entropy, else [n * outputs] floats; GPT: targets [n * context] (int64); shared memory. */
  y: BigInt64Array | FloatArray;
  n: number;
  /** Per-example loss weights [n] (trainers with sampleWeights), float64, shared memory. */
  w?: Float64Array;
}

export interface DataShape {
  inputs: number;
  outputs: number;
  loss: LossName;
  dtype: FloatDType;
}

function shared<T>(Ctor: { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, n: number): T {
  return new Ctor(new SharedArrayBuffer(Math.max(1, n) * Ctor.BYTES_PER_ELEMENT));
}

/** NaN/Infinity anywhere in a[0, n) is an error naming its row and column. */
function checkFinite(a: FloatArray, n: number, width: number, name: string): void {
  // One branch-free pass (v * 0 is NaN exactly for NaN and ±Infinity), then locate. Four
  // accumulators: one would chain every add on the previous one's latency (this check is
  // on the per-step path: 25600 values per step of a 100-input MLP at batch 256).
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += a[i] * 0;
    a1 += a[i + 1] * 0;
    a2 += a[i + 2] * 0;
    a3 += a[i + 3] * 0;
  }
  for (; i < n; i++) a0 += a[i] * 0;
  if (a0 + a1 + a2 + a3 === 0) return;
  for (i = 0; i < n; i++) {
    const v = a[i];
    if (v - v !== 0) throw new UsageError(`${name} has ${v} at row ${Math.floor(i / width)}, column ${i % width}`);
  }
}

const kind = (v: unknown) => (v && typeof v === 'object' ? v.constructor.name : typeof v);

/**
 * Check x (and y unless `y === null`, for prediction) and copy them into shared memory:
 * into `reuse`'s buffers when they are large enough (the per-step path), else fresh ones.
 */
export function stageData(x: unknown, y: unknown, s: DataShape, label = '', reuse: Dataset | null = null): Dataset {
  const nx = `${label}x`, ny = `${label}y`;
  if (!(x instanceof Float32Array || x instanceof Float64Array)) throw new UsageError(`${nx} must be a Float32Array or Float64Array, got ${kind(x)}`);
  if (x.length === 0) throw new UsageError(`${nx} is empty`);
  if (x.length % s.inputs !== 0) throw new UsageError(`${nx} has ${x.length} values, not a multiple of the model's ${s.inputs} inputs`);
  const n = x.length / s.inputs;
  const X = reuse && !(reuse.x instanceof BigInt64Array) && reuse.x.length >= x.length ? reuse.x : s.dtype === 'float32' ? shared(Float32Array, x.length) : shared(Float64Array, x.length);
  X.set(x);
  checkFinite(X, x.length, s.inputs, nx);
  if (y === null) return { x: X, y: new BigInt64Array(0), n };
  if (s.loss === 'softmax_cross_entropy') {
    if (!(y instanceof Int32Array || y instanceof BigInt64Array)) throw new UsageError(`${ny} must be an Int32Array or BigInt64Array of class labels, got ${kind(y)}`);
    if (y.length !== n) throw new UsageError(`${ny} has ${y.length} labels but ${nx} has ${n} rows of ${s.inputs}`);
    const Y = reuse && reuse.y.length >= n ? (reuse.y as BigInt64Array) : shared(BigInt64Array, n);
    for (let i = 0; i < n; i++) {
      const v = y[i];
      if (v < 0 || v >= s.outputs) throw new UsageError(`${ny} label ${v} at row ${i} is out of range [0, ${s.outputs})`);
      Y[i] = BigInt(v);
    }
    return { x: X, y: Y, n };
  }
  if (!(y instanceof Float32Array || y instanceof Float64Array)) throw new UsageError(`${ny} must be a Float32Array or Float64Array of targets for ${s.loss}, got ${kind(y)}`);
  if (y.length !== n * s.outputs) throw new UsageError(`${ny} has ${y.length} values; ${nx} has ${n} rows and the model ${s.outputs} outputs, so ${n * s.outputs} expected`);
  const Y = reuse && reuse.y.length >= y.length ? (reuse.y as FloatArray) : s.dtype === 'float32' ? shared(Float32Array, y.length) : shared(Float64Array, y.length);
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (v - v !== 0) throw new UsageError(`${ny} has ${v} at row ${Math.floor(i / s.outputs)}, column ${i % s.outputs}`);
    if (s.loss === 'bce_with_logits' && (v < 0 || v > 1)) throw new UsageError(`${ny} target ${v} at row ${Math.floor(i / s.outputs)} is outside [0, 1] (bce_with_logits)`);
    Y[i] = v;
  }
  return { x: X, y: Y, n };
}

/**
 * Check per-example weights (finite, >= 0, one per row, not all zero) and copy them
 * into shared memory (float64: the worker normalizes each batch by its sum).
 */
export function stageWeights(w: unknown, n: number, label = '', reuse: Float64Array | undefined = undefined): Float64Array {
  const nw = `${label}w`;
  if (!(w instanceof Float32Array || w instanceof Float64Array || Array.isArray(w))) throw new UsageError(`${nw} must be a Float32Array, Float64Array or array of per-example weights, got ${kind(w)}`);
  if (w.length !== n) throw new UsageError(`${nw} has ${w.length} weights but x has ${n} rows`);
  const W = reuse && reuse.length >= n ? reuse : shared(Float64Array, n);
  let any = false;
  for (let i = 0; i < n; i++) {
    const v = w[i];
    if (typeof v !== 'number' || v - v !== 0 || v < 0) throw new UsageError(`${nw} has ${String(v)} at row ${i}; weights must be finite numbers >= 0`);
    if (v > 0) any = true;
    W[i] = v;
  }
  if (!any) throw new UsageError(`${nw} is all zero; at least one weight must be positive`);
  return W;
}

/**
 * GPT data: tokens and targets [n * context] (BigInt64Array or Int32Array, row-major,
 * rows of exactly `context` positions); token ids in [0, vocab), targets in [0, vocab)
 * or IGNORE_INDEX. Copied as int64 into shared memory (reusing `reuse`'s buffers).
 * `targets === null`: prediction (tokens only).
 */
export function stageTokens(
  tokens: unknown, targets: unknown, s: { context: number; vocab: number; ignoreIndex: number }, label = '', reuse: Dataset | null = null,
): Dataset {
  const nt = `${label}tokens`, ny = `${label}targets`, T = s.context;
  const ints = (a: unknown) => a instanceof BigInt64Array || a instanceof Int32Array;
  if (!ints(tokens)) throw new UsageError(`${nt} must be a BigInt64Array or Int32Array of token ids [n * ${T}], got ${kind(tokens)}`);
  const tk = tokens as BigInt64Array | Int32Array;
  if (tk.length === 0) throw new UsageError(`${nt} is empty`);
  if (tk.length % T !== 0) throw new UsageError(`${nt} has ${tk.length} values, not a multiple of the model's context ${T} (rows must be padded to the context)`);
  const n = tk.length / T;
  const X = reuse && reuse.x instanceof BigInt64Array && reuse.x.length >= tk.length ? reuse.x : shared(BigInt64Array, tk.length);
  for (let i = 0; i < tk.length; i++) {
    const v = Number(tk[i]);
    if (!(v >= 0 && v < s.vocab)) throw new UsageError(`${nt} has token id ${String(tk[i])} at row ${Math.floor(i / T)}, position ${i % T}, outside the vocabulary [0, ${s.vocab})`);
    X[i] = BigInt(v);
  }
  if (targets === null) return { x: X, y: new BigInt64Array(0), n };
  if (!ints(targets)) throw new UsageError(`${ny} must be a BigInt64Array or Int32Array of next-token ids [n * ${T}] (${s.ignoreIndex} = no loss), got ${kind(targets)}`);
  const tg = targets as BigInt64Array | Int32Array;
  if (tg.length !== tk.length) throw new UsageError(`${ny} has ${tg.length} values but ${nt} has ${tk.length} (${n} rows of ${T})`);
  const Y = reuse && reuse.y instanceof BigInt64Array && reuse.y.length >= tg.length ? reuse.y : shared(BigInt64Array, tg.length);
  for (let i = 0; i < tg.length; i++) {
    const v = Number(tg[i]);
    if (v !== s.ignoreIndex && !(v >= 0 && v < s.vocab)) {
      throw new UsageError(`${ny} has ${String(tg[i])} at row ${Math.floor(i / T)}, position ${i % T}; targets must be token ids in [0, ${s.vocab}) or ${s.ignoreIndex}`);
    }
    Y[i] = BigInt(v);
  }
  return { x: X, y: Y, n };
}
