// Per-example loss weights (Trainer.create({ sampleWeights: true })): weighted mean
// sum_i w_i l_i / sum_i w_i of the batch, w permuted with the rows, evaluate unweighted.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { models, Trainer, permutation } from '../dist/train/index.js';
import { trainingSpec, normalizeRun } from '../dist/train/config.js';
import { compileTraining } from '../dist/graph/compile.js';
import { UsageError } from '../dist/errors.js';
import { mulberry32 as prng } from './helpers/prng.js';

const dir = mkdtempSync(join(tmpdir(), 'rsft-weights-'));
const open = [];
after(async () => { await Promise.all(open.map((t) => t.close())); });
async function make(opts) {
  const t = await Trainer.create({ threads: 1, batchSize: 64, optimizer: { type: 'sgd', lr: 0.1 }, ...opts });
  open.push(t);
  return t;
}
const mlp = (dtype = 'float64', sizes = [4, 8, 3]) => models.mlp({ sizes, activation: 'tanh', seed: 3, dtype });

function data(n, inputs, classes, seed) {
  const r = prng(seed);
  const x = new Float64Array(n * inputs), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = Math.floor(r() * classes);
    for (let d = 0; d < inputs; d++) x[i * inputs + d] = (r() - 0.5) * 2 + (d === y[i] ? 1.5 : 0);
  }
  return { x, y };
}
/** Rows `rows` of (x, y) (y of width yw). */
function take(d, rows, inputs, yw = 1) {
  const x = new Float64Array(rows.length * inputs), y = new d.y.constructor(rows.length * yw);
  rows.forEach((r, i) => {
    x.set(d.x.subarray(r * inputs, r * inputs + inputs), i * inputs);
    y.set(d.y.subarray(r * yw, r * yw + yw), i * yw);
  });
  return { x, y };
}
function assertSameParams(a, b) {
  const pa = a.parameters(), pb = b.parameters();
  for (const [k, v] of pa) {
    const u = pb.get(k);
    for (let i = 0; i < v.length; i++) assert.ok(v[i] === u[i], `${k}[${i}]: ${v[i]} !== ${u[i]}`);
  }
}
function assertCloseParams(a, b, tol = 1e-13) {
  const pa = a.parameters(), pb = b.parameters();
  let worst = 0;
  for (const [k, v] of pa) {
    const u = pb.get(k);
    for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i] - u[i]) / Math.max(1, Math.abs(u[i])));
  }
  assert.ok(worst <= tol, `max relative difference ${worst} > ${tol}`);
}
async function usage(p, re) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof UsageError, `expected UsageError, got ${e?.name}: ${e?.message}`);
    assert.match(e.message, re);
    return true;
  });
}

test('unweighted trainers compile exactly as before (no w input); weighted ones add w [B]', () => {
  const model = mlp();
  const plain = compileTraining(trainingSpec(model, normalizeRun({ model, loss: 'softmax_cross_entropy', optimizer: { type: 'sgd', lr: 0.1 }, batchSize: 4 })));
  assert.deepEqual(plain.signature.targets.map((t) => t.name), ['y']);
  const w = compileTraining(trainingSpec(model, normalizeRun({ model, loss: 'softmax_cross_entropy', optimizer: { type: 'sgd', lr: 0.1 }, batchSize: 4, sampleWeights: true })));
  assert.deepEqual(w.signature.targets, [{ name: 'y', dtype: 'int64', shape: ['B'] }, { name: 'w', dtype: 'float64', shape: ['B'] }]);
});

test('weights [1, 0]: the second example is irrelevant', async () => {
  // Bit-identical comparisons need the same batch shape (ORT's kernels may round a
  // 1-row matmul differently from a 2-row one), so the references are the unweighted
  // batch (row 0, row 0) (mean of two equal losses) and a weighted batch whose second row
  // is another example; against a step on row 0 alone the match is to rounding.
  for (const optimizer of [{ type: 'sgd', lr: 0.1 }, { type: 'adamw', lr: 0.01 }]) {
    const d = data(3, 4, 3, 1);
    const wt = await make({ model: mlp(), loss: 'softmax_cross_entropy', optimizer, sampleWeights: true });
    const wt2 = await make({ model: mlp(), loss: 'softmax_cross_entropy', optimizer, sampleWeights: true });
    const wt5 = await make({ model: mlp(), loss: 'softmax_cross_entropy', optimizer, sampleWeights: true });
    const twice = await make({ model: mlp(), loss: 'softmax_cross_entropy', optimizer });
    const one = await make({ model: mlp(), loss: 'softmax_cross_entropy', optimizer });
    for (let k = 0; k < 3; k++) {
      const a = await wt.step({ ...take(d, [0, 1], 4), w: [1, 0] });
      const b = await wt2.step({ ...take(d, [0, 2], 4), w: new Float32Array([1, 0]) });
      await wt5.step({ ...take(d, [0, 1], 4), w: new Float64Array([5, 0]) }); // scale invariant
      const c = await twice.step(take(d, [0, 0], 4));
      const e = await one.step(take(d, [0], 4));
      assert.equal(a.loss, b.loss);
      assert.equal(a.loss, c.loss);
      assert.equal(a.gradNorm, c.gradNorm);
      assert.ok(Math.abs(a.loss - e.loss) <= 1e-15 * Math.abs(e.loss));
    }
    assertSameParams(wt, wt2);
    assertSameParams(wt, wt5);
    assertSameParams(wt, twice);
    assertCloseParams(wt, one, 1e-15);
  }
});

test('integer weights k equal duplicating the example k times (float64, SGD)', async () => {
  const cases = [
    { loss: 'softmax_cross_entropy', sizes: [4, 8, 3], yw: 1 },
    { loss: 'mse', sizes: [4, 8, 2], yw: 2 },
    { loss: 'bce_with_logits', sizes: [4, 8, 2], yw: 2 },
  ];
  for (const c of cases) {
    const n = 5, w = [2, 1, 3, 0, 1];
    let d = data(n, 4, 3, 7);
    if (c.yw > 1) {
      const r = prng(9), y = new Float64Array(n * c.yw);
      for (let i = 0; i < y.length; i++) y[i] = c.loss === 'mse' ? r() * 2 - 1 : r();
      d = { x: d.x, y };
    }
    const rows = w.flatMap((k, i) => Array(k).fill(i));
    const dup = take(d, rows, 4, c.yw);
    const wt = await make({ model: mlp('float64', c.sizes), loss: c.loss, sampleWeights: true });
    const plain = await make({ model: mlp('float64', c.sizes), loss: c.loss });
    for (let k = 0; k < 4; k++) {
      const a = await wt.step({ ...d, w });
      const b = await plain.step(dup);
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-14 * Math.abs(b.loss), `${c.loss}: loss ${a.loss} vs ${b.loss}`);
    }
    assertCloseParams(wt, plain);
    // evaluate is unweighted: the plain trainer on the original rows agrees.
    const ev = await wt.evaluate(d), ev2 = await plain.evaluate(d);
    assert.ok(Math.abs(ev.loss - ev2.loss) <= 1e-13 * Math.abs(ev2.loss), `${c.loss}: eval ${ev.loss} vs ${ev2.loss}`);
  }
});

test('evaluate is unweighted: identical to an unweighted trainer with the same parameters', async () => {
  const d = data(50, 4, 3, 2);
  const wt = await make({ model: mlp(), loss: 'softmax_cross_entropy', sampleWeights: true });
  const plain = await make({ model: mlp(), loss: 'softmax_cross_entropy' });
  assert.deepEqual(await wt.evaluate(d, { logits: true }), await plain.evaluate(d, { logits: true }));
  await wt.step({ ...data(8, 4, 3, 3), w: new Float64Array(8).fill(2) });
  await plain.step(data(8, 4, 3, 3));
  assertSameParams(wt, plain); // uniform weights over 8 rows: w = 1/8 exactly, the same arithmetic as the mean
  assert.deepEqual(await wt.evaluate(d), await plain.evaluate(d));
});

test('fit permutes the weights with the rows; accumulation is exact for weighted batches', async () => {
  const n = 23, B = 5, seed = 4, d = data(n, 4, 3, 5);
  const r = prng(6), w = new Float64Array(n).map(() => Math.floor(r() * 4));
  w[0] = 1;
  const fitT = await make({ model: mlp(), loss: 'softmax_cross_entropy', batchSize: B, sampleWeights: true });
  const losses = [];
  fitT.on('epoch', (e) => losses.push(e.loss));
  await fitT.fit({ ...d, w, epochs: 2, shuffleSeed: seed });
  const manual = await make({ model: mlp(), loss: 'softmax_cross_entropy', batchSize: B, sampleWeights: true });
  const acc = await make({ model: mlp(), loss: 'softmax_cross_entropy', batchSize: B, accumulation: 2, sampleWeights: true });
  for (let e = 0; e < 2; e++) {
    const perm = permutation(seed, e, n);
    let sum = 0, wsum = 0;
    for (let s = 0; s < n; s += B) {
      const rows = [...perm.subarray(s, Math.min(n, s + B))];
      const b = { ...take(d, rows, 4), w: rows.map((i) => w[i]) };
      const bw = b.w.reduce((a, v) => a + v, 0);
      const st = await manual.step(b);
      sum += st.loss * bw;
      wsum += bw;
      await acc.step(b);
    }
    assert.equal(losses[e], sum / wsum, 'epoch loss is the weighted mean');
  }
  assertSameParams(fitT, manual);
  assertCloseParams(acc, manual, 1e-13);
});

test('resume of a weighted trainer is bit-identical (checkpoint records sampleWeights)', async () => {
  const n = 40, d = data(n, 4, 3, 8);
  const w = new Float64Array(n).map((_, i) => (i % 3) * 0.5 + 0.25);
  const opts = { model: mlp(), loss: 'softmax_cross_entropy', batchSize: 6, optimizer: { type: 'adamw', lr: 0.01 }, sampleWeights: true };
  const full = await make(opts);
  await full.fit({ ...d, w, epochs: 3, shuffleSeed: 2 });
  const part = await make(opts);
  await part.fit({ ...d, w, epochs: 3, shuffleSeed: 2, maxSteps: 10 });
  const path = join(dir, 'w.safetensors');
  await part.save(path);
  const again = await Trainer.load(path, { threads: 1 });
  open.push(again);
  assert.equal(again.run.sampleWeights, true);
  await usage(again.step(data(2, 4, 3, 1)), /sampleWeights: true.*need w/);
  await again.fit({ ...d, w, epochs: 3, shuffleSeed: 2 });
  assertSameParams(again, full);
});

test('bad weights are UsageErrors', async () => {
  const d = data(3, 4, 3, 1);
  const wt = await make({ model: mlp(), loss: 'softmax_cross_entropy', sampleWeights: true });
  const plain = await make({ model: mlp(), loss: 'softmax_cross_entropy' });
  await usage(wt.step(d), /need w/);
  await usage(wt.fit({ ...d, epochs: 1 }), /need w/);
  await usage(plain.step({ ...d, w: [1, 1, 1] }), /sampleWeights: true/);
  await usage(wt.step({ ...d, w: [1, 1] }), /w has 2 weights but x has 3 rows/);
  await usage(wt.step({ ...d, w: [1, NaN, 1] }), /w has NaN at row 1/);
  await usage(wt.step({ ...d, w: [1, 1, Infinity] }), /w has Infinity at row 2/);
  await usage(wt.fit({ ...d, w: new Float32Array([1, -1, 1]), epochs: 1 }), /w has -1 at row 1/);
  await usage(wt.step({ ...d, w: [0, 0, 0] }), /all zero/);
  await usage(wt.step({ ...d, w: 'abc' }), /w must be/);
  await usage(wt.step({ ...d, w: [1, '1', 1] }), /row 1/);
  await usage(Trainer.create({ model: mlp(), loss: 'mse', optimizer: { type: 'sgd', lr: 1 }, batchSize: 1, sampleWeights: 'yes' }), /sampleWeights must be true or false/);
  // The trainer still works after the errors.
  assert.equal((await wt.step({ ...d, w: [1, 2, 3] })).step, 1);
});
