// Builder-level behaviour: shape inference (symbolic dims), naming, errors, serialization.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import onnxProto from 'onnx-proto';
import { Graph, ops, grad, serialize, reshapeShape, broadcastShapes, OPSET, IR_VERSION, compileTraining, linear, softmaxCrossEntropy } from '../dist/graph/index.js';
import { session, tensor } from './helpers/graph-fd.js';

test('shape inference with symbolic dims', () => {
  const g = new Graph();
  const x = g.input('x', 'float32', ['B', 28, 28]);
  const w = g.input('w', 'float32', [784, 10]);
  const flat = ops.reshape(x, [0, -1]);
  assert.deepEqual(flat.shape, ['B', 784]);
  const z = ops.matmul(flat, w);
  assert.deepEqual(z.shape, ['B', 10]);
  assert.deepEqual(ops.reduceSum(z, [1], true).shape, ['B', 1]);
  assert.deepEqual(ops.reduceMean(z, [0]).shape, [10]);
  assert.deepEqual(ops.transpose(z).shape, [10, 'B']);
  assert.deepEqual(ops.unsqueeze(z, [0, -1]).shape, [1, 'B', 10, 1]);
  assert.deepEqual(ops.concat([z, z], 1).shape, ['B', 20]);
  assert.deepEqual(ops.concat([z, z], 0).shape, [null, 10]);
  assert.deepEqual(ops.slice(w, { starts: [-5], ends: [1000], axes: [0] }).shape, [5, 10]);
  assert.deepEqual(ops.gather(w, g.input('ids', 'int64', ['B', 'T'])).shape, ['B', 'T', 10]);
  assert.deepEqual(reshapeShape(['B', 'T', 12], [0, 0, 3, -1]), ['B', 'T', 3, 4]);
  assert.deepEqual(reshapeShape(['B', 'T', 12], [-1, 12]), [null, 12]);
  assert.deepEqual(broadcastShapes(['B', 1, 4], [3, 1]), ['B', 3, 4]);
  assert.throws(() => broadcastShapes([2, 3], [4, 3]), /do not broadcast/);
  assert.throws(() => ops.matmul(w, w), /inner dims/);
  assert.throws(() => ops.add(x, g.input('i', 'int64', [1])), /dtype mismatch/);
});

test('names: duplicates and reserved prefixes are refused; outputs rename or copy', async () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [2]);
  assert.throws(() => g.input('x', 'float64', [2]), /duplicate/);
  assert.throws(() => g.input('_v3', 'float64', [2]), /reserved/);
  const y = ops.mul(x, 2);
  g.output('y', y);
  g.output('y2', y); // same value twice: Identity copy
  g.output('xcopy', x); // an input as output: Identity copy
  const s = await session(serialize(g));
  assert.deepEqual(s.outputNames, ['y', 'y2', 'xcopy']);
  const o = await s.run({ x: tensor('float64', Float64Array.of(1, 2), [2]) });
  assert.deepEqual(Array.from(o.y2.data), [2, 4]);
  assert.deepEqual(Array.from(o.xcopy.data), [1, 2]);
  await s.release();
});

test('ModelProto: opset 17, IR 8, symbolic dims as dim_param, dead gradient branches dropped', () => {
  const g = new Graph('m');
  const x = g.input('x', 'float32', ['B', 3]);
  const w = g.input('w', 'float32', [3, 2]);
  ops.exp(x); // dead: not on any output's path
  const loss = ops.reduceSum(ops.matmul(x, w));
  const [gw] = grad(loss, [w]);
  g.output('gw', gw);
  const m = onnxProto.onnx.ModelProto.decode(serialize(g));
  assert.equal(Number(m.irVersion), IR_VERSION);
  assert.equal(Number(m.opsetImport[0].version), OPSET);
  assert.equal(m.graph.input[0].type.tensorType.shape.dim[0].dimParam, 'B');
  assert.ok(!m.graph.node.some((n) => n.opType === 'Exp'), 'dead nodes are not emitted');
  assert.ok(m.graph.node.some((n) => n.opType === 'MatMul'));
});

test('grad errors: non-scalar loss, missing rule', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [2, 2]);
  assert.throws(() => grad(ops.mul(x, 2), [x]), /not a scalar/);
  const y = g.node('Erf', [x], [{ dtype: 'float64', shape: [2, 2] }])[0];
  assert.throws(() => grad(ops.reduceSum(y), [x]), /no gradient rule for Erf/);
  // A wrt value the loss does not depend on gets zeros.
  const z = g.input('z', 'float64', [3]);
  const [, gz] = grad(ops.reduceSum(x), [x, z]);
  assert.deepEqual(gz.shape, [3]);
});

test('compileTraining validates its spec', () => {
  const base = {
    inputs: [{ name: 'x', dtype: 'float', shape: ['B', 2] }],
    targets: [{ name: 'y', dtype: 'int64', shape: ['B'] }],
    params: [{ name: 'w', shape: [2, 2], init: new Float32Array(4) }],
    forward: (c) => ({ logits: linear(c.inputs.x, c.params.w) }),
    loss: (c) => softmaxCrossEntropy(c.outputs.logits, c.targets.y),
    optimizer: { type: 'adamw' },
  };
  assert.ok(compileTraining(base).trainModel.length > 0);
  assert.throws(() => compileTraining({ ...base, params: [{ name: 'w', shape: [2, 3], init: new Float32Array(4) }] }), /4 values for shape/);
  assert.throws(() => compileTraining({ ...base, dtype: 'float64' }), /Float64Array/);
  assert.throws(() => compileTraining({ ...base, params: [{ name: 'lr', shape: [1], init: new Float32Array(1) }] }), /reserved/);
  assert.throws(() => compileTraining({ ...base, params: [{ ...base.params[0], frozen: true }] }), /frozen/);
  assert.throws(() => compileTraining({ ...base, loss: (c) => c.outputs.logits }), /scalar/);
});
