/**
 * Forward ops: each emits one standard ONNX node and infers the output dtype and
 * shape (gradient rules rely on shapes to find broadcast axes). Numbers passed where
 * a Value is expected become scalar constants of the other operand's dtype.
 * Gradient rules for these ops live in gradients.ts, keyed by ONNX op type.
 */
import { type DType, isFloat } from './dtype.js';
import { attr, type Attr, type Graph, Value } from './graph.js';
import { type Shape, type Dim, broadcastShapes, normAxis, reshapeShape, fmtShape } from './shape.js';

export type Operand = Value | number;

function graphOf(...xs: Operand[]): Graph {
  for (const x of xs) if (x instanceof Value) return x.graph;
  throw new Error('op: at least one operand must be a Value');
}

function lift(g: Graph, x: Operand, like: Value): Value {
  return x instanceof Value ? x : g.scalar(like.dtype, x);
}

function one(g: Graph, op: string, inputs: (Value | null)[], dtype: DType, shape: Shape, attrs: Record<string, Attr> = {}): Value {
  return g.node(op, inputs, [{ dtype, shape }], attrs)[0];
}

function sameDtype(op: string, a: Value, b: Value): void {
  if (a.dtype !== b.dtype) throw new Error(`${op}: dtype mismatch ${a} vs ${b}`);
}

function binary(op: string, a: Operand, b: Operand, outDtype?: DType): Value {
  const g = graphOf(a, b);
  const av = a instanceof Value ? a : lift(g, a, b as Value);
  const bv = lift(g, b, av);
  sameDtype(op, av, bv);
  return one(g, op, [av, bv], outDtype ?? av.dtype, broadcastShapes(av.shape, bv.shape, op));
}

function unary(op: string, x: Value, attrs: Record<string, Attr> = {}): Value {
  return one(x.graph, op, [x], x.dtype, [...x.shape], attrs);
}

// ---- element-wise arithmetic -------------------------------------------------------
export const add = (a: Operand, b: Operand) => binary('Add', a, b);
export const sub = (a: Operand, b: Operand) => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand) => binary('Mul', a, b);
export const div = (a: Operand, b: Operand) => binary('Div', a, b);
export const pow = (a: Operand, b: Operand) => binary('Pow', a, b);
export const max = (a: Operand, b: Operand) => binary('Max', a, b);
export const min = (a: Operand, b: Operand) => binary('Min', a, b);
export const mod = (a: Operand, b: Operand) => binary('Mod', a, b);
export const neg = (x: Value) => unary('Neg', x);
export const sqrt = (x: Value) => unary('Sqrt', x);
export const exp = (x: Value) => unary('Exp', x);
export const log = (x: Value) => unary('Log', x);
export const abs = (x: Value) => unary('Abs', x);
export const sign = (x: Value) => unary('Sign', x);
export const relu = (x: Value) => unary('Relu', x);
export const tanh = (x: Value) => unary('Tanh', x);
export const sigmoid = (x: Value) => unary('Sigmoid', x);
export const identity = (x: Value) => unary('Identity', x);
export const reciprocal = (x: Value) => unary('Reciprocal', x);

// ---- comparisons and logic (no gradients) ------------------------------------------
export const greater = (a: Operand, b: Operand) => binary('Greater', a, b, 'bool');
export const less = (a: Operand, b: Operand) => binary('Less', a, b, 'bool');
export const equal = (a: Operand, b: Operand) => binary('Equal', a, b, 'bool');
export const greaterOrEqual = (a: Operand, b: Operand) => binary('GreaterOrEqual', a, b, 'bool');
export const and = (a: Value, b: Value) => binary('And', a, b, 'bool');
export const not = (x: Value) => one(x.graph, 'Not', [x], 'bool', [...x.shape]);

export function where(cond: Value, a: Operand, b: Operand): Value {
  const g = cond.graph;
  const like = a instanceof Value ? a : b instanceof Value ? b : null;
  if (!like) throw new Error('Where: one branch must be a Value');
  const av = lift(g, a, like);
  const bv = lift(g, b, like);
  sameDtype('Where', av, bv);
  if (cond.dtype !== 'bool') throw new Error(`Where: condition must be bool, got ${cond}`);
  const shape = broadcastShapes(broadcastShapes(cond.shape, av.shape, 'Where'), bv.shape, 'Where');
  return one(g, 'Where', [cond, av, bv], av.dtype, shape);
}

export function cast(x: Value, to: DType): Value {
  return one(x.graph, 'Cast', [x], to, [...x.shape], { to: attr.int(DTYPE_CODE[to]) });
}
const DTYPE_CODE: Record<DType, number> = { float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 };

// ---- matrix products ---------------------------------------------------------------
/** MatMul of rank >= 2 operands; leading (batch) dims broadcast. */
export function matmul(a: Value, b: Value): Value {
  sameDtype('MatMul', a, b);
  if (a.rank < 2 || b.rank < 2) throw new Error(`MatMul: operands must have rank >= 2 (${a}, ${b})`);
  const [m, k1] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) throw new Error(`MatMul: inner dims differ (${a}, ${b})`);
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'MatMul');
  return one(a.graph, 'MatMul', [a, b], a.dtype, [...batch, m, n]);
}

export interface GemmOptions { alpha?: number; beta?: number; transA?: boolean; transB?: boolean }
/** Y = alpha * op(A) op(B) + beta * C, with 2-D A, B and C broadcast to [M, N]. */
export function gemm(a: Value, b: Value, c: Value | null, o: GemmOptions = {}): Value {
  sameDtype('Gemm', a, b);
  if (a.rank !== 2 || b.rank !== 2) throw new Error('Gemm: A and B must be 2-D');
  const m = o.transA ? a.shape[1] : a.shape[0];
  const n = o.transB ? b.shape[0] : b.shape[1];
  const attrs: Record<string, Attr> = {
    alpha: attr.float(o.alpha ?? 1), beta: attr.float(o.beta ?? 1),
    transA: attr.int(o.transA ? 1 : 0), transB: attr.int(o.transB ? 1 : 0),
  };
  if (c) broadcastShapes([m, n], c.shape, 'Gemm C');
  return one(a.graph, 'Gemm', c ? [a, b, c] : [a, b], a.dtype, [m, n], attrs);
}

// ---- softmax family ----------------------------------------------------------------
export const softmax = (x: Value, axis = -1) => unary('Softmax', x, { axis: attr.int(normAxis(axis, x.rank)) });
export const logSoftmax = (x: Value, axis = -1) => unary('LogSoftmax', x, { axis: attr.int(normAxis(axis, x.rank)) });

// ---- reductions --------------------------------------------------------------------
function reducedShape(x: Value, axes: number[], keepdims: boolean): Shape {
  return keepdims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
}
function resolveAxes(x: Value, axes: number[] | undefined, op: string): number[] {
  const r = axes === undefined ? x.shape.map((_, i) => i) : axes.map((a) => normAxis(a, x.rank, `${op} axis`));
  return [...new Set(r)].sort((p, q) => p - q);
}

/** opset 13+: ReduceSum takes axes as an input. Axes default to all. */
export function reduceSum(x: Value, axes?: number[], keepdims = false): Value {
  const ax = resolveAxes(x, axes, 'ReduceSum');
  return one(x.graph, 'ReduceSum', [x, x.graph.ints(ax)], x.dtype, reducedShape(x, ax, keepdims), { keepdims: attr.int(keepdims ? 1 : 0) });
}
/** opset 17: ReduceMean still takes axes as an attribute (input only from opset 18). */
export function reduceMean(x: Value, axes?: number[], keepdims = false): Value {
  const ax = resolveAxes(x, axes, 'ReduceMean');
  return one(x.graph, 'ReduceMean', [x], x.dtype, reducedShape(x, ax, keepdims), { axes: attr.ints(ax), keepdims: attr.int(keepdims ? 1 : 0) });
}
export function reduceMax(x: Value, axes?: number[], keepdims = false): Value {
  const ax = resolveAxes(x, axes, 'ReduceMax');
  return one(x.graph, 'ReduceMax', [x], x.dtype, reducedShape(x, ax, keepdims), { axes: attr.ints(ax), keepdims: attr.int(keepdims ? 1 : 0) });
}

// ---- shape ops ---------------------------------------------------------------------
/** Reshape with a constant target (ONNX conventions: 0 copies, -1 infers). */
export function reshape(x: Value, target: number[]): Value {
  return one(x.graph, 'Reshape', [x, x.graph.ints(target)], x.dtype, reshapeShape(x.shape, target));
}
/** Reshape to a runtime shape (int64 1-D value), e.g. Shape(y). */
export function reshapeTo(x: Value, shape: Value, staticShape: Shape): Value {
  return one(x.graph, 'Reshape', [x, shape], x.dtype, staticShape);
}

export function transpose(x: Value, perm?: number[]): Value {
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank || [...p].sort((a, b) => a - b).some((v, i) => v !== i)) throw new Error(`Transpose: bad perm [${p}] for ${x}`);
  return one(x.graph, 'Transpose', [x], x.dtype, p.map((i) => x.shape[i]), { perm: attr.ints(p) });
}

/** Swap the last two axes (matrix transpose of a batch). */
export function transposeLast2(x: Value): Value {
  const p = x.shape.map((_, i) => i);
  [p[x.rank - 2], p[x.rank - 1]] = [p[x.rank - 1], p[x.rank - 2]];
  return transpose(x, p);
}

export function unsqueeze(x: Value, axes: number[]): Value {
  const r = x.rank + axes.length;
  const ax = axes.map((a) => normAxis(a, r, 'Unsqueeze axis')).sort((a, b) => a - b);
  const shape: Shape = [];
  let j = 0;
  for (let i = 0; i < r; i++) shape.push(ax.includes(i) ? 1 : x.shape[j++]);
  return one(x.graph, 'Unsqueeze', [x, x.graph.ints(ax)], x.dtype, shape);
}

/** Squeeze with explicit axes (opset 13+: axes input). Default: all dims known to be 1. */
export function squeeze(x: Value, axes?: number[]): Value {
  const ax = axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : axes.map((a) => normAxis(a, x.rank, 'Squeeze axis'));
  for (const a of ax) if (typeof x.shape[a] === 'number' && x.shape[a] !== 1) throw new Error(`Squeeze: axis ${a} of ${x} is not 1`);
  return one(x.graph, 'Squeeze', [x, x.graph.ints(ax)], x.dtype, x.shape.filter((_, i) => !ax.includes(i)));
}

export function concat(xs: Value[], axis: number): Value {
  if (xs.length === 0) throw new Error('Concat: no inputs');
  const a = normAxis(axis, xs[0].rank, 'Concat axis');
  for (const x of xs) {
    sameDtype('Concat', xs[0], x);
    if (x.rank !== xs[0].rank) throw new Error('Concat: ranks differ');
  }
  const shape = [...xs[0].shape];
  let total: Dim = 0;
  for (const x of xs) total = typeof total === 'number' && typeof x.shape[a] === 'number' ? total + (x.shape[a] as number) : null;
  shape[a] = total;
  return one(xs[0].graph, 'Concat', xs, xs[0].dtype, shape, { axis: attr.int(a) });
}

/**
 * Split a 1-D tensor of static length into consecutive pieces of `sizes` (one node with
 * several outputs: not taped, so gradients do not flow through it).
 */
export function split1d(x: Value, sizes: number[]): Value[] {
  if (x.rank !== 1 || x.shape[0] !== sizes.reduce((a, b) => a + b, 0)) throw new Error(`Split: sizes [${sizes}] do not add up to ${x}`);
  if (sizes.length === 1) return [x];
  return x.graph.node('Split', [x, x.graph.ints(sizes)], sizes.map((n) => ({ dtype: x.dtype, shape: [n] })), { axis: attr.int(0) });
}

export interface SliceSpec { starts: number[]; ends: number[]; axes?: number[]; steps?: number[] }
/** Slice with constant starts/ends/axes/steps (Python slice semantics, clamped). */
export function slice(x: Value, s: SliceSpec): Value {
  const axes = (s.axes ?? s.starts.map((_, i) => i)).map((a) => normAxis(a, x.rank, 'Slice axis'));
  const steps = s.steps ?? axes.map(() => 1);
  const shape = [...x.shape];
  axes.forEach((a, i) => {
    const d = x.shape[a];
    if (steps[i] === 0) throw new Error('Slice: step 0');
    if (typeof d !== 'number') {
      shape[a] = null;
      return;
    }
    const st = steps[i];
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let b = s.starts[i] < 0 ? s.starts[i] + d : s.starts[i];
    let e = s.ends[i] < 0 ? s.ends[i] + d : s.ends[i];
    if (st > 0) { b = clamp(b, 0, d); e = clamp(e, 0, d); shape[a] = Math.max(0, Math.ceil((e - b) / st)); }
    else { b = clamp(b, -1, d - 1); e = clamp(e, -1, d - 1); shape[a] = Math.max(0, Math.ceil((e - b) / st)); }
  });
  const g = x.graph;
  return one(g, 'Slice', [x, g.ints(s.starts), g.ints(s.ends), g.ints(axes), g.ints(steps)], x.dtype, shape);
}

/** Gather along `axis`: out shape = data[:axis] + indices + data[axis+1:]. */
export function gather(data: Value, indices: Value, axis = 0): Value {
  const a = normAxis(axis, data.rank, 'Gather axis');
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32') throw new Error('Gather: indices must be int64/int32');
  const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  return one(data.graph, 'Gather', [data, indices], data.dtype, shape, { axis: attr.int(a) });
}

export function gatherElements(data: Value, indices: Value, axis: number): Value {
  const a = normAxis(axis, data.rank, 'GatherElements axis');
  return one(data.graph, 'GatherElements', [data, indices], data.dtype, [...indices.shape], { axis: attr.int(a) });
}

// ---- runtime-shape helpers (no gradients) ------------------------------------------
/** Shape(x)[start:end] as an int64 1-D tensor (opset 15+ start/end attributes). */
export function shapeOf(x: Value, start?: number, end?: number): Value {
  const attrs: Record<string, Attr> = {};
  if (start !== undefined) attrs.start = attr.int(start);
  if (end !== undefined) attrs.end = attr.int(end);
  const len = (end ?? x.rank) - (start ?? 0);
  return one(x.graph, 'Shape', [x], 'int64', [len], attrs);
}
export const size = (x: Value) => one(x.graph, 'Size', [x], 'int64', []);

export function expand(x: Value, shape: Value, staticShape: Shape): Value {
  return one(x.graph, 'Expand', [x, shape], x.dtype, staticShape);
}

/** Zeros with x's (runtime) shape and dtype. Does not read x's data (no NaN leaks). */
export function zerosLike(x: Value): Value {
  const g = x.graph;
  const value = { dtype: x.dtype, shape: [1], data: new (x.dtype === 'float32' ? Float32Array : x.dtype === 'float64' ? Float64Array : x.dtype === 'int32' ? Int32Array : x.dtype === 'int64' ? BigInt64Array : Uint8Array)(1) };
  return one(g, 'ConstantOfShape', [shapeOf(x)], x.dtype, [...x.shape], { value: attr.tensor(value) });
}

export function scatterND(data: Value, indices: Value, updates: Value, reduction: 'none' | 'add' = 'none'): Value {
  return one(data.graph, 'ScatterND', [data, indices, updates], data.dtype, [...data.shape], { reduction: attr.string(reduction) });
}
export function scatterElements(data: Value, indices: Value, updates: Value, axis: number, reduction: 'none' | 'add' = 'none'): Value {
  return one(data.graph, 'ScatterElements', [data, indices, updates], data.dtype, [...data.shape], { axis: attr.int(normAxis(axis, data.rank)), reduction: attr.string(reduction) });
}
export function pad(x: Value, pads: Value, staticShape: Shape): Value {
  return one(x.graph, 'Pad', [x, pads], x.dtype, staticShape, { mode: attr.string('constant') });
}
export function range(start: Value, limit: Value, delta: Value, len: Dim): Value {
  return one(start.graph, 'Range', [start, limit, delta], start.dtype, [len]);
}

export function isDifferentiable(v: Value): boolean {
  return isFloat(v.dtype);
}

export { fmtShape };
