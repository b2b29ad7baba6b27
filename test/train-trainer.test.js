// The Trainer end to end: real ORT sessions in a real worker thread.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { models, Trainer, writeSafetensors } from '../dist/train/index.js';
import { mulberry32 as prng } from './helpers/prng.js';

const dir = mkdtempSync(join(tmpdir(), 'rsft-train-'));
const open = [];
after(async () => { await Promise.all(open.map((t) => t.close())); });
async function make(opts) {
  const t = await Trainer.create({ threads: 1, ...opts });
  open.push(t);
  return t;
}


/** Linearly separable classes: class c shifts features c, c+C, ... by +2. */
function blobs(n, inputs, classes, seed, Arr = Float32Array) {
  const r = prng(seed);
  const x = new Arr(n * inputs), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * classes);
    y[i] = c;
    for (let d = 0; d < inputs; d++) x[i * inputs + d] = (r() - 0.5) * 2 + (d % classes === c ? 2 : 0);
  }
  return { x, y };
}

const small = (extra = {}) => ({
  model: models.mlp({ sizes: [20, 16, 4], activation: 'relu', seed: 3, dtype: extra.dtype }),
  loss: 'softmax_cross_entropy',
  optimizer: { type: 'adamw', lr: 1e-2, weightDecay: 0.01 },
  batchSize: 32,
  ...extra,
});

test('fit on a separable problem: loss falls, accuracy rises, events report progress', async () => {
  const t = await make(small());
  const data = blobs(300, 20, 4, 1);
  const before = await t.evaluate(data);
  const steps = [], epochs = [];
  t.on('step', (s) => steps.push(s));
  t.on('epoch', (e) => epochs.push(e));
  const r = await t.fit({ ...data, epochs: 4 });
  const afterEval = await t.evaluate(data);
  assert.equal(r.steps, 4 * Math.ceil(300 / 32), 'last partial batch (300 = 9*32 + 12) is trained on');
  assert.equal(steps.length, r.steps);
  assert.deepEqual(steps.map((s) => s.step), Array.from({ length: r.steps }, (_, i) => i + 1));
  assert.ok(steps.every((s) => Number.isFinite(s.loss) && s.examplesPerSecond > 0 && s.lr === 1e-2));
  assert.deepEqual(epochs.map((e) => e.epoch), [1, 2, 3, 4]);
  assert.ok(epochs[3].loss < epochs[0].loss, 'epoch loss falls');
  assert.ok(afterEval.loss < before.loss * 0.3, `eval loss ${before.loss} -> ${afterEval.loss}`);
  assert.ok(afterEval.accuracy > 0.95 && before.accuracy < 0.6, `accuracy ${before.accuracy} -> ${afterEval.accuracy}`);
  assert.deepEqual(t.position, { step: r.steps, epoch: 4, batchInEpoch: 0, shuffleSeed: 0, datasetSize: 300 });
  // fit's epochs is the epoch count to stop at: a second identical call has nothing left to do.
  assert.equal((await t.fit({ ...data, epochs: 4 })).steps, 0);
  assert.equal((await t.fit({ ...data, epochs: 5 })).steps, 10);
});

/** Bit-for-bit equality of two parameter maps (compares the bytes). */
function paramsEqual(a, b, what) {
  const bytes = (v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  assert.deepEqual([...b.keys()], [...a.keys()]);
  for (const [k, v] of a) assert.ok(bytes(v).equals(bytes(b.get(k))), `${what}: ${k} differs`);
}

for (const dtype of ['float64', 'float32']) {
  test(`checkpoint save -> load -> continue equals uninterrupted training, bit for bit (${dtype})`, async () => {
    const Arr = dtype === 'float32' ? Float32Array : Float64Array;
    const data = blobs(150, 20, 4, 2, Arr); // 150 = 4*32 + 22: partial last batch
    const opts = small({ dtype, schedule: { type: 'cosine', warmup: 3, total: 40 }, clipGradNorm: 1 });
    // Uninterrupted: 3 epochs.
    const a = await make(opts);
    await a.fit({ ...data, epochs: 3, shuffleSeed: 7 });
    // Interrupted mid-epoch 2 (step 7 of 15), saved, loaded into a fresh trainer, finished.
    const b = await make(opts);
    await b.fit({ ...data, epochs: 3, shuffleSeed: 7, maxSteps: 7 });
    assert.deepEqual(b.position, { step: 7, epoch: 1, batchInEpoch: 2, shuffleSeed: 7, datasetSize: 150 });
    const ck = join(dir, `mid-${dtype}.safetensors`);
    await b.save(ck);
    const c = await Trainer.load(ck, { threads: 1 });
    open.push(c);
    assert.equal(c.run.dtype, dtype);
    assert.deepEqual(c.position, b.position);
    paramsEqual(b.parameters(), c.parameters(), 'loaded');
    await c.fit({ ...data, epochs: 3, shuffleSeed: 7 });
    assert.equal(c.stepCount, a.stepCount);
    paramsEqual(a.parameters(), c.parameters(), 'resumed via Trainer.load');
    // trainer.resume on an existing trainer does the same; and step() resumes too.
    const d = await make(opts);
    await d.resume(ck);
    await d.fit({ ...data, epochs: 3, shuffleSeed: 7 });
    paramsEqual(a.parameters(), d.parameters(), 'resumed via trainer.resume');
    const batch = { x: data.x.subarray(0, 40 * 20), y: data.y.subarray(0, 40) };
    for (let i = 0; i < 3; i++) { await a.step(batch); await d.step(batch); }
    paramsEqual(a.parameters(), d.parameters(), 'step() after resume');
    // A trained model differs from its initialisation (the comparison is not vacuous).
    assert.notDeepEqual(a.parameters().get('fc1.weight'), Arr.from(opts.model.params[0].init));
    // A fit with another shuffle seed cannot continue an interrupted epoch.
    const e = await Trainer.load(ck, { threads: 1 });
    open.push(e);
    await assert.rejects(e.fit({ ...data, epochs: 3, shuffleSeed: 8 }), /cannot continue the interrupted epoch 2: it was over 150 examples with shuffleSeed 7/);
    // Nor can a trainer with another batch size resume mid-epoch.
    const f = await make({ ...opts, batchSize: 16 });
    await assert.rejects(f.resume(ck), /batchSize 32 \(saved mid-epoch\), this trainer has 16/);
  });
}

test('fit without shuffling visits rows in order; startEpoch restarts an epoch', async () => {
  const data = blobs(64, 20, 4, 11);
  const a = await make(small()), b = await make(small());
  await a.fit({ ...data, epochs: 1, shuffle: false });
  for (let s = 0; s < 64; s += 32) await b.step({ x: data.x.subarray(s * 20, (s + 32) * 20), y: data.y.subarray(s, s + 32) });
  paramsEqual(a.parameters(), b.parameters(), 'fit(shuffle: false) = steps in order');
  const c = await make(small()), d = await make(small());
  await c.fit({ ...data, epochs: 2, shuffleSeed: 4 });
  await d.fit({ ...data, epochs: 1, shuffleSeed: 4, maxSteps: 1 });
  await d.fit({ ...data, epochs: 2, shuffleSeed: 4 }); // continue the position
  paramsEqual(c.parameters(), d.parameters(), 'maxSteps then continue');
  const e = await make(small());
  await e.fit({ ...data, epochs: 2, startEpoch: 1, shuffleSeed: 4 });
  assert.equal(e.stepCount, 2, 'startEpoch 1 of 2: one epoch of 2 batches');
  assert.deepEqual(e.position, { step: 2, epoch: 2, batchInEpoch: 0, shuffleSeed: 4, datasetSize: 64 });
});

test('exported ONNX model in a fresh InferenceSession gives the trainer\'s logits', async () => {
  const t = await make(small());
  const data = blobs(100, 20, 4, 3);
  await t.fit({ ...data, epochs: 2 });
  const { logits, loss } = await t.evaluate(data, { logits: true });
  const pred = await t.predict(data.x);
  assert.deepEqual(pred, logits);
  const path = join(dir, 'model.onnx');
  await t.exportOnnx(path);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  const s = await ort.InferenceSession.create(path);
  assert.deepEqual(s.inputNames, ['x']);
  assert.deepEqual(s.outputNames, ['logits']);
  const out = await s.run({ x: new ort.Tensor('float32', data.x, [100, 20]) });
  assert.deepEqual(out.logits.dims, [100, 4]);
  for (let i = 0; i < logits.length; i++) assert.ok(Math.abs(out.logits.data[i] - logits[i]) <= 1e-5 * (1 + Math.abs(logits[i])), `logit ${i}`);
  assert.ok(Number.isFinite(loss));
  await s.release();
});

test('pretrained weights load from safetensors and from an exported .onnx', async () => {
  const t = await make(small());
  await t.fit({ ...blobs(64, 20, 4, 4), epochs: 1 });
  const trained = t.parameters();
  const onnxPath = join(dir, 'pre.onnx'), stPath = join(dir, 'pre.safetensors'), ckPath = join(dir, 'pre-ck.safetensors');
  await t.exportOnnx(onnxPath);
  await t.save(ckPath);
  writeSafetensors(stPath, [...trained].map(([k, v]) => [k, { dtype: 'F32', shape: small().model.params.find((p) => p.name === k).shape, data: v }]));
  for (const path of [onnxPath, stPath, ckPath]) {
    const u = await make(small({ pretrained: path }));
    paramsEqual(trained, u.parameters(), path);
    assert.equal(u.stepCount, 0, 'pretrained weights start a new run');
  }
  // float64 trainer from float32 weights: converted.
  const w = await make(small({ dtype: 'float64', pretrained: onnxPath }));
  assert.equal(w.parameters().get('fc2.bias')[1], trained.get('fc2.bias')[1]);
});

test('gradient accumulation: two micro-batches of an SGD step equal one full-batch step (float64)', async () => {
  const base = { model: models.mlp({ sizes: [20, 16, 4], seed: 5, dtype: 'float64' }), loss: 'softmax_cross_entropy', optimizer: { type: 'sgd', lr: 0.1, momentum: 0.9 }, batchSize: 32 };
  const a = await make(base), b = await make({ ...base, accumulation: 2 });
  const data = blobs(32, 20, 4, 6, Float64Array);
  for (let i = 0; i < 3; i++) {
    const ra = await a.step(data), rb = await b.step(data);
    assert.ok(Math.abs(ra.loss - rb.loss) < 1e-12);
    assert.ok(Math.abs(ra.gradNorm - rb.gradNorm) < 1e-12);
  }
  for (const [k, v] of a.parameters()) {
    const u = b.parameters().get(k);
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(v[i] - u[i]) < 1e-12, `${k}[${i}]`);
  }
});

test('schedule: the trainer feeds the expected lr sequence', async () => {
  const t = await make(small({ schedule: { type: 'linear_warmup', warmup: 2, total: 4 } }));
  const data = blobs(32, 20, 4, 7);
  const lrs = [];
  for (let i = 0; i < 5; i++) lrs.push((await t.step(data)).lr);
  assert.deepEqual(lrs, [0.005, 0.01, 0.005, 0, 0]);
  const before = t.parameters();
  const r = await t.step(data);
  assert.equal(r.lr, 0);
  // AdamW with lr 0 leaves the weights unchanged.
  paramsEqual(before, t.parameters(), 'lr 0');
});

test('early stopping stops when the eval loss stops improving', async () => {
  const t = await make(small());
  const data = blobs(320, 20, 4, 8);
  const evals = [];
  t.on('eval', (e) => evals.push(e));
  const r = await t.fit({ ...data, epochs: 5, evalEvery: 1, evalData: data, earlyStopping: { patience: 2, minDelta: 1e9 } });
  assert.equal(r.stoppedEarly, true);
  assert.equal(r.steps, 3, 'first eval sets the best; two evals without a 1e9 improvement stop');
  assert.equal(evals.length, 3);
  assert.ok(evals.every((e) => Number.isFinite(e.loss) && e.accuracy >= 0));
  // Without early stopping, evalData alone is evaluated at the end of every epoch.
  const u = await make(small());
  const ev = [];
  u.on('eval', (e) => ev.push(e));
  const r2 = await u.fit({ ...data, epochs: 2, evalData: data, earlyStopping: { patience: 5 } });
  assert.equal(r2.stoppedEarly, false);
  assert.deepEqual(ev.map((e) => e.epoch), [1, 2]);
  assert.ok(r2.lastEval.accuracy > 0.8);
});

test('mse and bce_with_logits losses train', async () => {
  for (const loss of ['mse', 'bce_with_logits']) {
    const t = await make({ model: models.mlp({ sizes: [4, 8, 2], activation: 'tanh', seed: 1 }), loss, optimizer: { type: 'adamw', lr: 3e-2 }, batchSize: 16 });
    const r = prng(9), n = 64;
    const x = new Float32Array(n * 4), y = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < 4; d++) x[i * 4 + d] = r() * 2 - 1;
      y[i * 2] = x[i * 4] > 0 ? 1 : 0;
      y[i * 2 + 1] = x[i * 4 + 1] > 0 ? 1 : 0;
    }
    const before = await t.evaluate({ x, y });
    assert.ok(Number.isNaN(before.accuracy));
    await t.fit({ x, y, epochs: 30 });
    const afterEval = await t.evaluate({ x, y });
    assert.ok(afterEval.loss < before.loss * 0.6, `${loss}: ${before.loss} -> ${afterEval.loss}`);
  }
});

test('gelu MLP trains with SGD; close() is idempotent and later calls reject', async () => {
  const t = await Trainer.create({ ...small(), model: models.mlp({ sizes: [20, 16, 4], activation: 'gelu', seed: 2 }), optimizer: { type: 'sgd', lr: 0.1, momentum: 0.9 }, threads: 1 });
  const data = blobs(128, 20, 4, 10);
  const b = await t.evaluate(data);
  await t.fit({ ...data, epochs: 3 });
  assert.ok((await t.evaluate(data)).loss < b.loss);
  await t.close();
  await t.close();
  await assert.rejects(t.step(data), /closed/);
});
