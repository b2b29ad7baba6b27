// Every gradient rule against central finite differences in float64, run through
// real onnxruntime-node sessions (forward + backward in one emitted model).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ops, gelu, layerNorm, dropout, softmaxCrossEntropy, meanSquaredError, binaryCrossEntropyWithLogits } from '../dist/graph/index.js';
import { checkGrad } from './helpers/graph-fd.js';

const F = (name, shape, extra = {}) => ({ name, shape, ...extra });
const i64 = (name, shape, values) => ({ name, shape, dtype: 'int64', data: BigInt64Array.from(values.map(BigInt)) });

const cases = [
  ['Add broadcast', [F('a', [3, 4]), F('b', [4])], (v) => ops.add(v.a, v.b)],
  ['Add broadcast both', [F('a', [2, 1, 4]), F('b', [3, 1])], (v) => ops.add(v.a, v.b)],
  ['Sub broadcast', [F('a', [3, 1]), F('b', [2, 3, 4])], (v) => ops.sub(v.a, v.b)],
  ['Mul broadcast', [F('a', [2, 3, 4]), F('b', [1, 3, 1])], (v) => ops.mul(v.a, v.b)],
  ['Div broadcast', [F('a', [3, 4]), F('b', [3, 1], { positive: true })], (v) => ops.div(v.a, v.b)],
  ['Div scalar', [F('a', [3, 4], { positive: true }), F('b', [])], (v) => ops.div(v.b, v.a)],
  ['Neg', [F('a', [5])], (v) => ops.neg(v.a)],
  ['Pow both', [F('a', [2, 3], { positive: true }), F('b', [3])], (v) => ops.pow(v.a, v.b)],
  ['Pow const exponent', [F('a', [4, 2], { positive: true })], (v) => ops.pow(v.a, 3)],
  ['Sqrt', [F('a', [3, 3], { positive: true })], (v) => ops.sqrt(v.a)],
  ['Exp', [F('a', [3, 3])], (v) => ops.exp(v.a)],
  ['Log', [F('a', [3, 3], { positive: true })], (v) => ops.log(v.a)],
  ['Abs', [F('a', [7])], (v) => ops.abs(v.a)],
  ['Reciprocal', [F('a', [4], { positive: true })], (v) => ops.reciprocal(v.a)],
  ['Relu', [F('a', [4, 5])], (v) => ops.relu(v.a)],
  ['Tanh', [F('a', [4, 5])], (v) => ops.tanh(v.a)],
  ['Sigmoid', [F('a', [4, 5])], (v) => ops.sigmoid(v.a)],
  ['Gelu (tanh form)', [F('a', [4, 5])], (v) => gelu(v.a)],
  ['Max/Min broadcast', [F('a', [3, 4]), F('b', [4])], (v) => ops.add(ops.max(v.a, v.b), ops.mul(ops.min(v.a, v.b), 2))],
  ['Softmax axis 1', [F('a', [2, 5, 3])], (v) => ops.softmax(v.a, 1)],
  ['Softmax last', [F('a', [3, 6])], (v) => ops.softmax(v.a)],
  ['LogSoftmax', [F('a', [3, 6])], (v) => ops.logSoftmax(v.a, -1)],
  ['ReduceSum axes keepdims', [F('a', [2, 3, 4])], (v) => ops.reduceSum(v.a, [0, 2], true)],
  ['ReduceSum no keepdims', [F('a', [2, 3, 4])], (v) => ops.reduceSum(v.a, [1])],
  ['ReduceSum all', [F('a', [2, 3])], (v) => ops.reduceSum(v.a)],
  ['ReduceMean', [F('a', [2, 3, 4])], (v) => ops.reduceMean(v.a, [-1])],
  ['ReduceMean keepdims', [F('a', [2, 3, 4])], (v) => ops.reduceMean(v.a, [0, 1], true)],
  ['Reshape', [F('a', [2, 3, 4])], (v) => ops.reshape(v.a, [0, -1])],
  ['Transpose', [F('a', [2, 3, 4])], (v) => ops.transpose(v.a, [2, 0, 1])],
  ['Unsqueeze', [F('a', [3, 4])], (v) => ops.mul(ops.unsqueeze(v.a, [0, 2]), ops.unsqueeze(v.a, [0, 2]))],
  ['Squeeze', [F('a', [3, 1, 4])], (v) => ops.squeeze(v.a, [1])],
  ['Concat', [F('a', [2, 3]), F('b', [2, 2]), F('c', [2, 1])], (v) => ops.concat([v.a, v.b, v.c, v.a], 1)],
  ['Slice', [F('a', [5, 6])], (v) => ops.slice(v.a, { starts: [1, -4], ends: [4, 100], axes: [0, 1] })],
  ['Slice neg end', [F('a', [2, 7])], (v) => ops.slice(v.a, { starts: [0], ends: [-2], axes: [-1] })],
  ['Slice steps 2 and -1', [F('a', [5, 6])], (v) => ops.slice(v.a, { starts: [0, -1], ends: [5, 0], axes: [0, 1], steps: [2, -1] })],
  ['MatMul 2D', [F('a', [3, 4]), F('b', [4, 5])], (v) => ops.matmul(v.a, v.b)],
  ['MatMul batched', [F('a', [2, 3, 4]), F('b', [2, 4, 5])], (v) => ops.matmul(v.a, v.b)],
  ['MatMul batch broadcast', [F('a', [2, 1, 3, 4]), F('b', [3, 4, 2])], (v) => ops.matmul(v.a, v.b)],
  ['MatMul rhs 2D', [F('a', [2, 3, 4]), F('b', [4, 5])], (v) => ops.matmul(v.a, v.b)],
  ['Gemm', [F('a', [3, 4]), F('b', [4, 5]), F('c', [5])], (v) => ops.gemm(v.a, v.b, v.c, { alpha: 0.7, beta: 1.3 })],
  ['Gemm transA transB', [F('a', [4, 3]), F('b', [5, 4]), F('c', [3, 1])], (v) => ops.gemm(v.a, v.b, v.c, { alpha: 1.5, transA: true, transB: true })],
  ['Gemm transA', [F('a', [4, 3]), F('b', [4, 5]), F('c', [3, 5])], (v) => ops.gemm(v.a, v.b, v.c, { transA: true })],
  ['Gemm transB', [F('a', [3, 4]), F('b', [5, 4])], (v) => ops.gemm(v.a, v.b, null, { transB: true })],
  ['Gather embedding (repeated ids)', [F('e', [5, 3]), i64('ids', [2, 3], [0, 4, 0, 2, 4, 4])], (v) => ops.gather(v.e, v.ids)],
  ['Gather negative ids', [F('e', [5, 3]), i64('ids', [3], [-1, 0, -1])], (v) => ops.gather(v.e, v.ids)],
  ['GatherElements', [F('a', [3, 4]), i64('ix', [3, 2], [0, 3, 1, 1, 2, 0])], (v) => ops.gatherElements(v.a, v.ix, 1)],
  ['Where broadcast', [F('a', [3, 4]), F('b', [4]), F('c', [3, 4], { wrt: false })], (v) => ops.where(ops.greater(v.c, 0), v.a, v.b)],
  ['Expand', [F('a', [3, 1])], (v) => ops.expand(v.a, v.a.graph.ints([2, 3, 4]), [2, 3, 4])],
  ['Identity', [F('a', [3])], (v) => ops.identity(v.a)],
  ['LayerNorm last axis', [F('x', [3, 5]), F('s', [5]), F('b', [5])], (v) => layerNorm(v.x, v.s, v.b)],
  ['LayerNorm 2 axes, batched', [F('x', [2, 3, 4]), F('s', [3, 4]), F('b', [4])], (v) => layerNorm(v.x, v.s, v.b, { axis: -2, epsilon: 1e-3 })],
  ['Dropout (fixed seed)', [F('a', [6, 7]), i64('seed', [], [12345])], (v) => dropout(v.a, 0.3, { training: true, seed: v.seed })],
  ['fan-out (x used twice)', [F('a', [3, 3])], (v) => ops.mul(ops.tanh(v.a), ops.exp(v.a))],
];

for (const [name, specs, build] of cases) {
  test(`grad ${name} matches finite differences`, async () => {
    await checkGrad(assert, specs, build);
  });
}

test('grad Cast f32 path is exact enough in float32 too', async () => {
  // Sanity: a float32 model differentiates (checked loosely by FD in f64 above).
  await checkGrad(assert, [F('a', [4])], (v) => ops.cast(ops.tanh(ops.cast(v.a, 'float32')), 'float64'), { rtol: 1e-3, atol: 1e-3, h: 1e-3 });
});

test('losses: softmax cross-entropy with ignore index and weights', async () => {
  await checkGrad(assert, [F('z', [5, 4]), i64('y', [5], [1, -100, 3, 0, 3]), F('w', [5], { positive: true, wrt: false })],
    (v) => softmaxCrossEntropy(v.z, v.y, { weights: v.w }));
});
test('losses: softmax cross-entropy over [B, T, C] logits', async () => {
  await checkGrad(assert, [F('z', [2, 3, 4]), i64('y', [2, 3], [1, 2, 3, 0, -100, 2])], (v) => softmaxCrossEntropy(v.z, v.y));
});
test('losses: MSE', async () => {
  await checkGrad(assert, [F('p', [4, 3]), F('t', [4, 3])], (v) => meanSquaredError(v.p, v.t));
});
test('losses: BCE with logits', async () => {
  const z = Float64Array.from([-3, -0.5, 0.2, 4, 1.5, -2]);
  await checkGrad(assert, [F('z', [6], { data: z }), F('t', [6], { data: Float64Array.from([0, 1, 1, 1, 0, 0.3]) })],
    (v) => binaryCrossEntropyWithLogits(v.z, v.t));
});

test('composed MLP (Gemm, Relu, Gelu, LayerNorm, CE) gradients', async () => {
  await checkGrad(assert, [
    F('x', [4, 6], { wrt: false }), i64('y', [4], [0, 2, 1, 2]),
    F('w1', [6, 5]), F('b1', [5]), F('s', [5]), F('w2', [5, 3]), F('b2', [3]),
  ], (v) => {
    let h = ops.relu(ops.add(ops.matmul(v.x, v.w1), v.b1));
    h = gelu(layerNorm(h, v.s, null));
    const z = ops.gemm(h, v.w2, v.b2);
    return softmaxCrossEntropy(z, v.y);
  }, { maxPerInput: 12 });
});
