/**
 * Gradient rules: for each ONNX op type, the vector-Jacobian product written with
 * standard ONNX ops. A rule gets the forward node (inputs, output, attributes), the
 * incoming gradient dY (same shape as the output) and which inputs need a gradient,
 * and returns one gradient per input (undefined = none / not needed).
 *
 * Broadcasting: an input that was broadcast gets its gradient summed back to its own
 * shape (`unbroadcast`): ReduceSum (keepdims=1) over the broadcast axes, then Squeeze
 * of the leading axes the input did not have. Axes are found from static shapes.
 */
import type { Node, Value } from './graph.js';
import * as op from './ops.js';
import { type Shape, fmtShape } from './shape.js';

export type Rule = (node: Node, dY: Value, needs: boolean[]) => (Value | undefined)[];

/** Sum `dy` (shape = broadcast result) back to `shape`. */
export function unbroadcast(dy: Value, shape: Shape): Value {
  const lead = dy.rank - shape.length;
  if (lead < 0) throw new Error(`unbroadcast: gradient ${dy} has lower rank than ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < dy.rank; i++) {
    if (i < lead) { axes.push(i); continue; }
    const want = shape[i - lead];
    const have = dy.shape[i];
    if (want === 1 && have !== 1) axes.push(i);
    else if (want !== have && want !== null && have !== null && typeof want === typeof have) {
      throw new Error(`unbroadcast: cannot reduce ${dy} to ${fmtShape(shape)}`);
    } else if (want !== have && (want === null || have === null)) {
      throw new Error(`unbroadcast: unknown dims, cannot tell broadcast axes of ${dy} -> ${fmtShape(shape)}`);
    }
    // A symbol against a number (e.g. 'B' vs 4) is assumed equal: no reduction.
  }
  if (axes.length === 0) return dy;
  let r = op.reduceSum(dy, axes, true);
  if (lead > 0) r = op.squeeze(r, Array.from({ length: lead }, (_, i) => i));
  return r;
}

const inShape = (n: Node, i: number) => (n.inputs[i] as Value).shape;
const X = (n: Node, i = 0) => n.inputs[i] as Value;
const Y = (n: Node) => n.outputs[0];
const attrInt = (n: Node, k: string, dflt: number) => { const a = n.attrs[k]; return a && a.kind === 'int' ? a.v : dflt; };
const attrFloat = (n: Node, k: string, dflt: number) => { const a = n.attrs[k]; return a && a.kind === 'float' ? a.v : dflt; };
const attrInts = (n: Node, k: string) => { const a = n.attrs[k]; return a && a.kind === 'ints' ? a.v : undefined; };
/** Constant int64 input as numbers (axes etc.), read from the initializer. */
function constInts(v: Value | null): number[] {
  if (!v) throw new Error('gradient: missing constant input');
  const init = v.graph.initializers.find((i) => i.value === v);
  if (!init) throw new Error(`gradient: ${v} must be a constant`);
  return Array.from(init.tensor.data as BigInt64Array, (b) => Number(b));
}

/** Expand a keepdims-reduced gradient back to x's shape. */
function expandTo(dyKeep: Value, x: Value): Value {
  return op.expand(dyKeep, op.shapeOf(x), [...x.shape]);
}

export const RULES: Record<string, Rule> = {
  Identity: (_n, dy) => [dy],
  Add: (n, dy, need) => [need[0] ? unbroadcast(dy, inShape(n, 0)) : undefined, need[1] ? unbroadcast(dy, inShape(n, 1)) : undefined],
  Sub: (n, dy, need) => [need[0] ? unbroadcast(dy, inShape(n, 0)) : undefined, need[1] ? unbroadcast(op.neg(dy), inShape(n, 1)) : undefined],
  Mul: (n, dy, need) => [
    need[0] ? unbroadcast(op.mul(dy, X(n, 1)), inShape(n, 0)) : undefined,
    need[1] ? unbroadcast(op.mul(dy, X(n, 0)), inShape(n, 1)) : undefined,
  ],
  // d(a/b)/da = 1/b ; d(a/b)/db = -y/b
  Div: (n, dy, need) => {
    const gb = need[1] ? unbroadcast(op.neg(op.div(op.mul(dy, Y(n)), X(n, 1))), inShape(n, 1)) : undefined;
    return [need[0] ? unbroadcast(op.div(dy, X(n, 1)), inShape(n, 0)) : undefined, gb];
  },
  Neg: (_n, dy) => [op.neg(dy)],
  // d(a^b)/da = b a^(b-1) ; d(a^b)/db = y log(a) (a > 0 where it matters)
  Pow: (n, dy, need) => [
    need[0] ? unbroadcast(op.mul(dy, op.mul(X(n, 1), op.pow(X(n, 0), op.sub(X(n, 1), 1)))), inShape(n, 0)) : undefined,
    need[1] ? unbroadcast(op.mul(dy, op.mul(Y(n), op.log(X(n, 0)))), inShape(n, 1)) : undefined,
  ],
  Sqrt: (n, dy) => [op.div(op.mul(dy, 0.5), Y(n))],
  Exp: (n, dy) => [op.mul(dy, Y(n))],
  Log: (n, dy) => [op.div(dy, X(n))],
  Reciprocal: (n, dy) => [op.neg(op.mul(dy, op.mul(Y(n), Y(n))))],
  Abs: (n, dy) => [op.mul(dy, op.sign(X(n)))],
  Relu: (n, dy) => [op.where(op.greater(X(n), 0), dy, 0)],
  Tanh: (n, dy) => [op.mul(dy, op.sub(1, op.mul(Y(n), Y(n))))],
  Sigmoid: (n, dy) => [op.mul(dy, op.mul(Y(n), op.sub(1, Y(n))))],
  // Max/Min: the gradient goes to the selected operand (ties: to the first).
  Max: (n, dy, need) => {
    const pick = op.greaterOrEqual(X(n, 0), X(n, 1));
    return [need[0] ? unbroadcast(op.where(pick, dy, 0), inShape(n, 0)) : undefined, need[1] ? unbroadcast(op.where(pick, 0, dy), inShape(n, 1)) : undefined];
  },
  Min: (n, dy, need) => {
    const pick = op.less(X(n, 1), X(n, 0));
    return [need[0] ? unbroadcast(op.where(pick, 0, dy), inShape(n, 0)) : undefined, need[1] ? unbroadcast(op.where(pick, dy, 0), inShape(n, 1)) : undefined];
  },
  Where: (n, dy, need) => [
    undefined,
    need[1] ? unbroadcast(op.where(X(n, 0), dy, 0), inShape(n, 1)) : undefined,
    need[2] ? unbroadcast(op.where(X(n, 0), 0, dy), inShape(n, 2)) : undefined,
  ],
  Cast: (n, dy) => [op.cast(dy, X(n).dtype)],
  Expand: (n, dy) => [unbroadcast(dy, inShape(n, 0)), undefined],

  // MatMul: dA = dY B^T, dB = A^T dY, each summed over broadcast batch dims.
  MatMul: (n, dy, need) => [
    need[0] ? unbroadcast(op.matmul(dy, op.transposeLast2(X(n, 1))), inShape(n, 0)) : undefined,
    need[1] ? unbroadcast(op.matmul(op.transposeLast2(X(n, 0)), dy), inShape(n, 1)) : undefined,
  ],
  // Gemm: express each gradient as another Gemm so transposes stay free.
  Gemm: (n, dy, need) => {
    const alpha = attrFloat(n, 'alpha', 1), beta = attrFloat(n, 'beta', 1);
    const tA = attrInt(n, 'transA', 0) === 1, tB = attrInt(n, 'transB', 0) === 1;
    const A = X(n, 0), B = X(n, 1);
    const gA = !need[0] ? undefined
      : !tA ? op.gemm(dy, B, null, { alpha, transB: !tB }) // alpha dY op(B)^T
      : op.gemm(B, dy, null, { alpha, transA: tB, transB: true }); // alpha op(B) dY^T
    const gB = !need[1] ? undefined
      : !tB ? op.gemm(A, dy, null, { alpha, transA: !tA }) // alpha op(A)^T dY
      : op.gemm(dy, A, null, { alpha, transA: true, transB: tA }); // alpha dY^T op(A)
    const gC = need[2] ? unbroadcast(beta === 1 ? dy : op.mul(dy, beta), inShape(n, 2)) : undefined;
    return [gA, gB, gC];
  },

  // Softmax: dX = y (dY - sum(dY y))
  Softmax: (n, dy) => {
    const axis = attrInt(n, 'axis', -1);
    const y = Y(n);
    return [op.mul(y, op.sub(dy, op.reduceSum(op.mul(dy, y), [axis], true)))];
  },
  // LogSoftmax: dX = dY - softmax * sum(dY)
  LogSoftmax: (n, dy) => {
    const axis = attrInt(n, 'axis', -1);
    return [op.sub(dy, op.mul(op.exp(Y(n)), op.reduceSum(dy, [axis], true)))];
  },

  ReduceSum: (n, dy) => {
    const x = X(n);
    const axes = constInts(n.inputs[1]);
    const keep = attrInt(n, 'keepdims', 1) === 1;
    return [expandTo(keep ? dy : op.unsqueeze(dy, axes), x)];
  },
  ReduceMean: (n, dy) => {
    const x = X(n);
    const axes = attrInts(n, 'axes') ?? x.shape.map((_, i) => i);
    const keep = attrInt(n, 'keepdims', 1) === 1;
    // 1/count = size(y)/size(x), computed at run time so symbolic dims work.
    const scale = op.div(op.cast(op.size(Y(n)), x.dtype), op.cast(op.size(x), x.dtype));
    return [op.mul(expandTo(keep ? dy : op.unsqueeze(dy, axes), x), scale)];
  },

  Reshape: (n, dy) => [op.reshapeTo(dy, op.shapeOf(X(n)), [...X(n).shape])],
  Transpose: (n, dy) => {
    const perm = attrInts(n, 'perm') ?? X(n).shape.map((_, i) => X(n).rank - 1 - i);
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [op.transpose(dy, inv)];
  },
  Unsqueeze: (n, dy) => [op.squeeze(dy, constInts(n.inputs[1]))],
  Squeeze: (n, dy) => [op.unsqueeze(dy, constInts(n.inputs[1]))],

  // Concat: slice dY back into pieces; sizes along the axis read at run time.
  Concat: (n, dy, need) => {
    const axis = attrInt(n, 'axis', 0);
    const g = dy.graph;
    let start: Value = g.ints([0]);
    return n.inputs.map((xi, i) => {
      const x = xi as Value;
      const end = op.add(start, op.shapeOf(x, axis, axis + 1));
      const out = need[i] ? sliceDyn(dy, start, end, axis, x.shape) : undefined;
      start = end;
      return out;
    });
  },

  // Slice (positive steps = 1): the gradient is dY zero-padded back into x's shape.
  Slice: (n, dy) => {
    const x = X(n);
    const g = dy.graph;
    const starts = constInts(n.inputs[1]), ends = constInts(n.inputs[2]);
    const axes = n.inputs[3] ? constInts(n.inputs[3]) : starts.map((_, i) => i);
    const steps = n.inputs[4] ? constInts(n.inputs[4]) : axes.map(() => 1);
    if (steps.some((s) => s !== 1)) return [sliceGradByIndex(n, dy)];
    const before: Value[] = [], after: Value[] = [];
    for (let a = 0; a < x.rank; a++) {
      const k = axes.indexOf(a);
      if (k < 0) { before.push(g.ints([0])); after.push(g.ints([0])); continue; }
      const dim = op.shapeOf(x, a, a + 1);
      // Resolve negative indices and clamp to [0, dim], as Slice does.
      const norm = (v: number) => (v < 0 ? op.add(dim, g.ints([Math.max(v, -9e15)])) : g.ints([Math.min(v, 9e15)]));
      const clamp = (v: Value) => op.min(op.max(v, g.ints([0])), dim);
      const s = clamp(norm(starts[k]));
      const e = op.max(clamp(norm(ends[k])), s);
      before.push(s);
      after.push(op.sub(dim, e));
    }
    return [op.pad(dy, op.concat([...before, ...after], 0), [...x.shape])];
  },

  // Gather axis 0 (embedding lookup): repeated indices accumulate via ScatterND add.
  Gather: (n, dy) => {
    if (attrInt(n, 'axis', 0) !== 0) throw new Error('gradient of Gather: only axis 0 is supported');
    const data = X(n, 0);
    let idx = X(n, 1);
    if (idx.dtype !== 'int64') idx = op.cast(idx, 'int64');
    // Negative indices count from the end, as in Gather.
    idx = op.where(op.less(idx, 0), op.add(idx, op.cast(op.shapeOf(data, 0, 1), 'int64')), idx);
    return [op.scatterND(op.zerosLike(data), op.unsqueeze(idx, [-1]), dy, 'add'), undefined];
  },
  GatherElements: (n, dy) => {
    const axis = attrInt(n, 'axis', 0);
    const data = X(n, 0);
    let idx = X(n, 1);
    if (idx.dtype !== 'int64') idx = op.cast(idx, 'int64');
    return [op.scatterElements(op.zerosLike(data), idx, dy, axis, 'add'), undefined];
  },
};

/**
 * Slice gradient for any steps (negative too): slice a tensor of flat positions
 * 0..numel(x)-1 exactly as x was sliced, then scatter dY to those positions.
 * Slower than Pad (index tensors), so only used when a step is not 1.
 */
function sliceGradByIndex(n: Node, dy: Value): Value {
  const x = X(n);
  const g = dy.graph;
  const numel = op.size(x);
  const flat = op.range(g.scalar('int64', 0), numel, g.scalar('int64', 1), null);
  const pos = op.reshapeTo(flat, op.shapeOf(x), x.shape.map(() => null));
  const picked = g.node('Slice', [pos, ...n.inputs.slice(1)], [{ dtype: 'int64', shape: [...dy.shape] }])[0];
  const zeros = op.zerosLike(op.reshape(x, [-1]));
  const scattered = op.scatterElements(zeros, op.reshape(picked, [-1]), op.reshape(dy, [-1]), 0, 'add');
  return op.reshapeTo(scattered, op.shapeOf(x), [...x.shape]);
}

/** Slice [start, end) along one axis with runtime bounds. */
function sliceDyn(x: Value, start: Value, end: Value, axis: number, shape: Shape): Value {
  const g = x.graph;
  const outShape = x.shape.map((d, i) => (i === axis ? shape[axis] : d));
  return g.node('Slice', [x, start, end, g.ints([axis])], [{ dtype: x.dtype, shape: outShape }])[0];
}
