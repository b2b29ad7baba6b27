// End-to-end: compile an MLP classifier, train it from JS by running the train-step
// model repeatedly with double-buffered parameters and state, and check that the
// eval and inference models agree with the train graph's forward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTraining, ops, linear, gelu, layerNorm, dropout, softmaxCrossEntropy, accuracy } from '../dist/graph/index.js';
import { rng, randn, session, tensor } from './helpers/graph-fd.js';

const DIM = 8, HID = 16, CLS = 3;

function mlpSpec(dtype, { dropoutRate = 0, optimizer = { type: 'adamw', lr: 1e-2, weightDecay: 0.01 } } = {}) {
  const r = rng(42);
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const glorot = (i, o) => Arr.from(randn(r, i * o, Math.sqrt(2 / (i + o))));
  return {
    dtype,
    inputs: [{ name: 'x', dtype: 'float', shape: ['B', DIM] }],
    targets: [{ name: 'y', dtype: 'int64', shape: ['B'] }],
    params: [
      { name: 'fc1.weight', shape: [DIM, HID], init: glorot(DIM, HID) },
      { name: 'fc1.bias', shape: [HID], init: new Arr(HID), decay: false },
      { name: 'ln.scale', shape: [HID], init: new Arr(HID).fill(1), decay: false },
      { name: 'fc2.weight', shape: [HID, CLS], init: glorot(HID, CLS) },
      { name: 'fc2.bias', shape: [CLS], init: new Arr(CLS), decay: false },
    ],
    forward: (ctx) => {
      const p = ctx.params;
      let h = ops.relu(linear(ctx.inputs.x, p['fc1.weight'], p['fc1.bias']));
      h = gelu(layerNorm(h, p['ln.scale'], null));
      if (dropoutRate > 0) h = dropout(h, dropoutRate, { training: ctx.training, seed: ctx.training ? ctx.seed() : undefined });
      return { logits: linear(h, p['fc2.weight'], p['fc2.bias']) };
    },
    loss: ({ outputs, targets }) => ({
      loss: softmaxCrossEntropy(outputs.logits, targets.y),
      metrics: { accuracy: accuracy(outputs.logits, targets.y) },
    }),
    optimizer,
  };
}

/** Three Gaussian blobs, linearly separable. */
function blobs(n, seed, Arr) {
  const r = rng(seed);
  const centers = [randn(r, DIM, 3), randn(r, DIM, 3), randn(r, DIM, 3)];
  const x = new Arr(n * DIM), y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % CLS;
    y[i] = BigInt(c);
    const noise = randn(r, DIM, 0.5);
    for (let d = 0; d < DIM; d++) x[i * DIM + d] = centers[c][d] + noise[d];
  }
  return { x, y };
}

test('train step run repeatedly from JS (double-buffered): loss falls, accuracy rises', async () => {
  const c = compileTraining(mlpSpec('float32', { dropoutRate: 0.1 }));
  const sig = c.signature;
  assert.equal(sig.seed, 'seed', 'dropout in training declares the seed input');
  const B = 48;
  const { x, y } = blobs(B, 1, Float32Array);
  const train = await session(c.trainModel);
  const evalS = await session(c.evalModel);
  // Two buffer sets; step k reads set k%2 and writes set (k+1)%2 via pre-allocated outputs.
  const p0 = c.initialParams(), s0 = c.initialState();
  const sets = [0, 1].map((k) => {
    const ps = {}, ss = {};
    for (const p of sig.params) ps[p.name] = k === 0 ? p0[p.name] : new Float32Array(p0[p.name].length);
    for (const s of sig.state) ss[s.name] = k === 0 ? s0[s.name] : new Float32Array(s0[s.name].length);
    return { ps, ss };
  });
  const evaluate = async (ps) => {
    const feeds = { x: tensor('float32', x, [B, DIM]), y: tensor('int64', y, [B]) };
    for (const p of sig.params) feeds[p.input] = tensor('float32', ps[p.name], p.shape);
    const o = await evalS.run(feeds);
    return { loss: o.loss.data[0], acc: o.accuracy.data[0] };
  };
  const before = await evaluate(sets[0].ps);
  const losses = [];
  for (let step = 1; step <= 60; step++) {
    const src = sets[(step - 1) % 2], dst = sets[step % 2];
    const feeds = {
      x: tensor('float32', x, [B, DIM]), y: tensor('int64', y, [B]),
      lr: tensor('float32', Float32Array.of(0.02), []),
      step: tensor('int64', BigInt64Array.of(BigInt(step)), []),
      seed: tensor('int64', BigInt64Array.of(BigInt(1000 + step)), []),
    };
    const fetches = {
      loss: tensor('float32', new Float32Array(1), []),
    };
    for (const p of sig.params) {
      assert.notEqual(src.ps[p.name], dst.ps[p.name]);
      feeds[p.input] = tensor('float32', src.ps[p.name], p.shape);
      fetches[p.output] = tensor('float32', dst.ps[p.name], p.shape);
    }
    for (const s of sig.state) {
      feeds[s.input] = tensor('float32', src.ss[s.name], s.shape);
      fetches[s.output] = tensor('float32', dst.ss[s.name], s.shape);
    }
    const out = await train.run(feeds, fetches);
    losses.push(out.loss.data[0]);
  }
  const after = await evaluate(sets[60 % 2].ps);
  assert.ok(Number.isFinite(losses.at(-1)));
  assert.ok(losses.at(-1) < losses[0] * 0.2, `loss ${losses[0]} -> ${losses.at(-1)}`);
  assert.ok(after.loss < before.loss * 0.2, `eval loss ${before.loss} -> ${after.loss}`);
  assert.equal(after.acc, 1, `accuracy ${before.acc} -> ${after.acc}`);
  // The inference model with the trained weights classifies the same way.
  const inf = await session(c.inferenceModel(sets[0].ps));
  assert.deepEqual(inf.inputNames, ['x']);
  assert.deepEqual(inf.outputNames, ['logits']);
  await Promise.all([train.release(), evalS.release(), inf.release()]);
});

for (const dtype of ['float64', 'float32']) {
  test(`inference and eval models give the train graph's forward logits (${dtype})`, async () => {
    const c = compileTraining(mlpSpec(dtype));
    const sig = c.signature;
    assert.equal(sig.seed, null);
    const Arr = dtype === 'float32' ? Float32Array : Float64Array;
    const B = 5;
    const { x, y } = blobs(B, 2, Arr);
    // Perturb the weights so the check is not just the initial values.
    const r = rng(1);
    const w = c.initialParams();
    for (const k of Object.keys(w)) w[k] = Arr.from(w[k], (v) => v + randn(r, 1, 0.1)[0]);
    const feeds = { x: tensor(dtype, x, [B, DIM]) };
    const train = await session(c.trainModel);
    const tf = { ...feeds, y: tensor('int64', y, [B]), lr: tensor(dtype, Arr.of(0.1), []), step: tensor('int64', BigInt64Array.of(1n), []) };
    for (const p of sig.params) tf[p.input] = tensor(dtype, w[p.name], p.shape);
    const st = c.initialState();
    for (const s of sig.state) tf[s.input] = tensor(dtype, st[s.name], s.shape);
    const tOut = await train.run(tf);
    const inf = await session(c.inferenceModel(w));
    const iOut = await inf.run(feeds);
    const ev = await session(c.evalModel);
    const ef = { ...feeds, y: tf.y };
    for (const p of sig.params) ef[p.input] = tf[p.input];
    const eOut = await ev.run(ef);
    assert.equal(iOut.logits.dims.join(), `${B},${CLS}`);
    const tol = dtype === 'float64' ? 1e-13 : 1e-6;
    for (let i = 0; i < B * CLS; i++) {
      assert.ok(Math.abs(iOut.logits.data[i] - tOut.logits.data[i]) <= tol, `inference vs train logits[${i}]`);
      assert.ok(Math.abs(eOut.logits.data[i] - tOut.logits.data[i]) <= tol, `eval vs train logits[${i}]`);
    }
    assert.ok(Math.abs(eOut.loss.data[0] - tOut.loss.data[0]) <= tol, 'eval loss equals train loss');
    // A float32 export of the same weights (what `rsft train --out` ships) agrees to float32 precision.
    const inf32 = await session(c.inferenceModel(w, { dtype: 'float32' }));
    const o32 = await inf32.run({ x: tensor('float32', Float32Array.from(x), [B, DIM]) });
    assert.ok(o32.logits.data instanceof Float32Array);
    for (let i = 0; i < B * CLS; i++) assert.ok(Math.abs(o32.logits.data[i] - tOut.logits.data[i]) <= 1e-4 * (1 + Math.abs(tOut.logits.data[i])), `f32 export logits[${i}]`);
    await inf32.release();
    await Promise.all([train.release(), inf.release(), ev.release()]);
  });
}

test('dropout mask: deterministic per seed, different across seeds, keeps ~(1-rate)', async () => {
  const { Graph, serialize } = await import('../dist/graph/index.js');
  const g = new Graph();
  const xv = g.input('x', 'float32', [64, 64]);
  const seed = g.input('seed', 'int64', []);
  g.output('y', dropout(xv, 0.25, { training: true, seed, salt: 3 }));
  const s = await session(serialize(g));
  const ones = tensor('float32', new Float32Array(4096).fill(1), [64, 64]);
  const run = async (k) => (await s.run({ x: ones, seed: tensor('int64', BigInt64Array.of(BigInt(k)), []) })).y.data;
  const a = await run(1), a2 = await run(1), b = await run(2);
  assert.deepEqual(a, a2);
  let same = 0, kept = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== 0) { kept++; assert.ok(Math.abs(a[i] - 1 / 0.75) < 1e-6); }
    if ((a[i] === 0) === (b[i] === 0)) same++;
  }
  assert.ok(Math.abs(kept / a.length - 0.75) < 0.03, `kept fraction ${kept / a.length}`);
  assert.ok(same / a.length < 0.8, 'masks for different seeds differ');
  // Eval mode: identity.
  assert.equal(dropout(xv, 0.25, { training: false }), xv);
  await s.release();
});
