// End-to-end: compile an MLP classifier, train it from JS by running the train-step
// model repeatedly with double-buffered parameters and state, and check that the
// eval and inference models agree with the train graph's forward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTraining, PACK_MAX_ELEMENTS, ops, linear, gelu, layerNorm, dropout, softmaxCrossEntropy, accuracy } from '../dist/graph/index.js';
import { rng, randn, session, tensor } from './helpers/graph-fd.js';

const DIM = 8, HID = 16, CLS = 3;

function mlpSpec(dtype, { dropoutRate = 0, optimizer = { type: 'adamw', lr: 1e-2, weightDecay: 0.01 }, hid = HID } = {}) {
  const r = rng(42);
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const glorot = (i, o) => Arr.from(randn(r, i * o, Math.sqrt(2 / (i + o))));
  return {
    dtype,
    inputs: [{ name: 'x', dtype: 'float', shape: ['B', DIM] }],
    targets: [{ name: 'y', dtype: 'int64', shape: ['B'] }],
    params: [
      { name: 'fc1.weight', shape: [DIM, hid], init: glorot(DIM, hid) },
      { name: 'fc1.bias', shape: [hid], init: new Arr(hid), decay: false },
      { name: 'ln.scale', shape: [hid], init: new Arr(hid).fill(1), decay: false },
      { name: 'fc2.weight', shape: [hid, CLS], init: glorot(hid, CLS) },
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

test('packed train model: same loss, grad_norm, params and state as the train model, bit for bit', async () => {
  const bits = (a) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  const optimizers = [
    { type: 'adamw', lr: 1e-2, weightDecay: 0.01 },
    { type: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 },
  ];
  // hid 16: every param packed; hid 2100: fc1.weight (8 x 2100) is above PACK_MAX_ELEMENTS and stays separate.
  for (const [dtype, hid] of [['float32', HID], ['float64', HID], ['float32', 2100]]) {
    for (const optimizer of optimizers) {
      const spec = { ...mlpSpec(dtype, { dropoutRate: 0.1, optimizer, hid }), clipGradNorm: 0.5 };
      spec.params[2] = { ...spec.params[2], frozen: true }; // a frozen param stays a separate input
      const c = compileTraining(spec);
      const L = c.packed, sig = c.signature, Arr = dtype === 'float32' ? Float32Array : Float64Array;
      const packedNames = new Set(L.params.map((p) => p.name));
      assert.equal(packedNames.has('fc1.weight'), hid * DIM <= PACK_MAX_ELEMENTS);
      assert.equal(L.size, L.params.reduce((a, p) => a + p.size, 0));
      const plain = await session(c.trainModel), packed = await session(c.packedTrainModel());
      const r = rng(5), B = 6;
      const x = tensor(dtype, Arr.from(randn(r, B * DIM)), [B, DIM]);
      const y = tensor('int64', BigInt64Array.from({ length: B }, (_, i) => BigInt(i % CLS)), [B]);
      let params = c.initialParams(), state = c.initialState();
      let flatParams = new Arr(L.size);
      for (const p of L.params) flatParams.set(params[p.name], p.offset);
      let flatState = Object.fromEntries(L.state.map((s) => [s.slot, new Arr(L.size)]));
      for (let step = 1; step <= 3; step++) {
        const common = { x, y, lr: tensor(dtype, Arr.of(optimizer.lr), []), step: tensor('int64', BigInt64Array.of(BigInt(step)), []), seed: tensor('int64', BigInt64Array.of(BigInt(step)), []) };
        const a = await plain.run({
          ...common,
          ...Object.fromEntries(sig.params.map((p) => [p.name, tensor(dtype, params[p.name], p.shape)])),
          ...Object.fromEntries(sig.state.map((s) => [s.name, tensor(dtype, state[s.name], s.shape)])),
        });
        const b = await packed.run({
          ...common,
          ...(L.size > 0 ? { [L.input]: tensor(dtype, flatParams, [L.size]) } : {}),
          ...Object.fromEntries(L.state.map((s) => [s.input, tensor(dtype, flatState[s.slot], [L.size])])),
          ...Object.fromEntries(sig.params.filter((p) => !packedNames.has(p.name)).map((p) => [p.name, tensor(dtype, params[p.name], p.shape)])),
          ...Object.fromEntries(sig.state.filter((s) => !packedNames.has(s.param)).map((s) => [s.name, tensor(dtype, state[s.name], s.shape)])),
        });
        const what = `${dtype} hid ${hid} ${optimizer.type} step ${step}`;
        assert.deepEqual(bits(b.loss.data), bits(a.loss.data), `${what} loss`);
        assert.deepEqual(bits(b.grad_norm.data), bits(a.grad_norm.data), `${what} grad_norm`);
        const at = (name) => L.params.find((q) => q.name === name);
        for (const p of sig.params.filter((q) => q.trainable)) {
          const q = at(p.name), got = q ? b[L.output].data.subarray(q.offset, q.offset + q.size) : b[p.output].data;
          assert.deepEqual(bits(got), bits(a[p.output].data), `${what} ${p.name}`);
        }
        for (const s of sig.state) {
          const q = at(s.param), got = q ? b[L.state.find((t) => t.slot === s.slot).output].data.subarray(q.offset, q.offset + q.size) : b[s.output].data;
          assert.deepEqual(bits(got), bits(a[s.output].data), `${what} ${s.name}`);
        }
        params = { ...params, ...Object.fromEntries(sig.params.filter((p) => p.trainable).map((p) => [p.name, a[p.output].data])) };
        state = Object.fromEntries(sig.state.map((s) => [s.name, a[s.output].data]));
        if (L.size > 0) flatParams = b[L.output].data;
        flatState = Object.fromEntries(L.state.map((s) => [s.slot, b[s.output].data]));
      }
      await plain.release();
      await packed.release();
    }
  }
});
