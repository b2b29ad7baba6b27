// The emitted models pass onnx.checker (Debian's python3-onnx 1.12), including
// strict shape inference. Skips cleanly when /usr/bin/python3 has no onnx module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { session, tensor, randn, rng } from './helpers/graph-fd.js';
import { gptKvModel, gptDecodeModel } from '../dist/graph/gpt.js';
import { compileTraining, Graph, ops, serialize, linear, gelu, layerNorm, dropout, grad, softmaxCrossEntropy, binaryCrossEntropyWithLogits, meanSquaredError, accuracy } from '../dist/graph/index.js';

const PY = '/usr/bin/python3';
const probe = spawnSync(PY, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' });
const skip = probe.status !== 0 ? 'python3-onnx not installed' : false;

const CHECK = `
import sys, onnx
bad = 0
for f in sys.argv[1:]:
    m = onnx.load(f)
    try:
        onnx.checker.check_model(m, full_check=True)
        print('ok', f)
    except Exception as e:
        bad += 1
        print('FAIL', f, str(e).splitlines()[0] if str(e) else repr(e))
sys.exit(1 if bad else 0)
`;

function allOpsModel(dtype) {
  // One graph touching every op and gradient rule, so the checker sees them all.
  const g = new Graph('all_ops');
  const a = g.input('a', dtype, ['B', 4]);
  const b = g.input('b', dtype, [4, 3]);
  const e = g.input('e', dtype, [5, 4]);
  const ids = g.input('ids', 'int64', ['B']);
  const y = g.input('y', 'int64', ['B']);
  const seed = g.input('seed', 'int64', []);
  let h = ops.add(ops.matmul(a, ops.transpose(e)), 0.5); // [B,5]
  h = ops.sub(ops.mul(h, ops.sigmoid(h)), ops.div(ops.tanh(h), ops.add(ops.exp(h), 1)));
  h = ops.concat([h, ops.gather(e, ids)], 1); // [B,9]
  h = ops.slice(h, { starts: [1], ends: [9], axes: [1] }); // [B,8]
  h = ops.reshape(h, [0, 2, 4]); // [B,2,4]
  h = ops.squeeze(ops.unsqueeze(h, [1]), [1]);
  h = layerNorm(h, ops.sqrt(ops.add(ops.abs(ops.reduceMean(e, [0])), 1)), null);
  h = ops.where(ops.greater(h, 0), ops.relu(h), ops.neg(ops.pow(ops.log(ops.add(ops.abs(h), 1)), 2)));
  h = gelu(ops.reduceSum(h, [1])); // [B,4]
  h = dropout(h, 0.1, { training: true, seed });
  h = ops.cast(ops.cast(h, 'float32'), dtype);
  const z = ops.gemm(ops.softmax(h), b, null, { transB: false });
  const loss = ops.add(ops.add(softmaxCrossEntropy(ops.logSoftmax(z), y), meanSquaredError(z, ops.identity(z))), binaryCrossEntropyWithLogits(z, ops.sigmoid(z)));
  const gs = grad(loss, [a, b, e]);
  g.output('loss', loss);
  g.output('acc', accuracy(z, y));
  gs.forEach((gv, i) => g.output(`g${i}`, gv));
  return serialize(g);
}

test('emitted models pass onnx.checker (full_check)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsft-onnx-'));
  try {
    const files = [];
    const put = (name, bytes) => { const f = join(dir, name); writeFileSync(f, bytes); files.push(f); };
    for (const dtype of ['float32', 'float64']) {
      const r = dtype === 'float32' ? Float32Array : Float64Array;
      const c = compileTraining({
        dtype,
        inputs: [{ name: 'x', dtype: 'float', shape: ['B', 6] }],
        targets: [{ name: 'y', dtype: 'int64', shape: ['B'] }],
        params: [
          { name: 'w1', shape: [6, 5], init: new r(30).fill(0.1) },
          { name: 'b1', shape: [5], init: new r(5), decay: false },
          { name: 'w2', shape: [5, 3], init: new r(15).fill(-0.1), frozen: true },
        ],
        forward: (ctx) => ({ logits: linear(dropout(ops.relu(linear(ctx.inputs.x, ctx.params.w1, ctx.params.b1)), 0.2, { training: ctx.training, seed: ctx.training ? ctx.seed() : undefined }), ctx.params.w2) }),
        loss: (ctx) => softmaxCrossEntropy(ctx.outputs.logits, ctx.targets.y),
        optimizer: { type: 'adamw', weightDecay: 0.1 },
        clipGradNorm: 1,
        accumulation: true,
      });
      put(`train-${dtype}.onnx`, c.trainModel);
      put(`packed-train-${dtype}.onnx`, c.packedTrainModel());
      put(`eval-${dtype}.onnx`, c.evalModel);
      put(`infer-${dtype}.onnx`, c.inferenceModel());
      put(`grad-${dtype}.onnx`, c.accumulation.gradModel);
      put(`apply-${dtype}.onnx`, c.accumulation.applyModel);
      put(`allops-${dtype}.onnx`, allOpsModel(dtype));
      // the GPT's inference models: KV cache (padded, with left-padding mask) and fixed-cache decode
      const cfg = { vocab: 11, context: 12, dModel: 8, nHeads: 2, nLayers: 2, seed: 1 };
      put(`gpt-kv-${dtype}.onnx`, gptKvModel(cfg, {}, dtype, { padding: true }));
      put(`gpt-decode-${dtype}.onnx`, gptDecodeModel(cfg, {}, dtype));
    }
    const r = spawnSync(PY, ['-c', CHECK, ...files], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the all-ops model (forward + gradients) runs in onnxruntime-node with symbolic batch', async () => {
  for (const dtype of ['float32', 'float64']) {
    const s = await session(allOpsModel(dtype));
    const r = rng(2);
    const Arr = dtype === 'float32' ? Float32Array : Float64Array;
    const B = 3;
    const out = await s.run({
      a: tensor(dtype, Arr.from(randn(r, B * 4)), [B, 4]),
      b: tensor(dtype, Arr.from(randn(r, 12)), [4, 3]),
      e: tensor(dtype, Arr.from(randn(r, 20)), [5, 4]),
      ids: tensor('int64', BigInt64Array.from([0n, 4n, 4n]), [B]),
      y: tensor('int64', BigInt64Array.from([2n, 0n, 1n]), [B]),
      seed: tensor('int64', BigInt64Array.of(7n), []),
    });
    assert.ok(Number.isFinite(out.loss.data[0]));
    assert.deepEqual(out.g0.dims, [B, 4]);
    assert.deepEqual(out.g1.dims, [4, 3]);
    assert.deepEqual(out.g2.dims, [5, 4]);
    for (const k of ['g0', 'g1', 'g2']) assert.ok(out[k].data.every(Number.isFinite), k);
    await s.release();
  }
});
