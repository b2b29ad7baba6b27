// Classifier RSFT building blocks: the density-ratio estimators against a known analytic ratio,
// the acceptance statistics of pool rejection sampling (chi-square over weight bins), provenance
// consistency and reproducibility, the envelope, and standardization folding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stream } from '../dist/sampling/rng.js';
import { classifierRatio, expressionRatio, columnRatio } from '../dist/rft/ratio.js';
import { envelope, quantile, rejectionSample, provenanceOf, BLOCK, uniformRows } from '../dist/rft/accept.js';
import { computeStats, standardize, fold, unfold } from '../dist/rft/standardize.js';
import { chiSquareTest } from './helpers/stats.js';

function gauss(s) {
  const u = s.nextF64() || 1e-12, v = s.nextF64();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

test('domain-classifier ratio recovers the analytic ratio of two Gaussians (with class-size correction)', async () => {
  // source N(0, 1), target N(1, 1) in one dimension: w(x) = exp(x - 1/2). Unequal set sizes
  // (n_s = 4000, n_t = 1500) make the class-size correction matter (log(4000/1500) = 0.98).
  const s = new Stream(11, 0, 0);
  const ns = 4000, nt = 1500;
  const xs = Float32Array.from({ length: ns }, () => gauss(s));
  const xt = Float32Array.from({ length: nt }, () => gauss(s) + 1);
  const w = await classifierRatio(xs, ns, xt, nt, 1, { seed: 3, hidden: [], epochs: 20, lr: 0.02, batch: 128, threads: 1 });
  let err = 0, cnt = 0;
  for (let i = 0; i < ns; i++) {
    if (Math.abs(xs[i]) > 2) continue;
    err += Math.abs(Math.log(w[i]) - (xs[i] - 0.5));
    cnt++;
  }
  const mae = err / cnt;
  assert.ok(mae < 0.15, `mean |log w_hat - log w| = ${mae}`);
  // mean of w over the source estimates E_source[w] = 1
  const mean = w.reduce((a, b) => a + b, 0) / ns;
  assert.ok(Math.abs(mean - 1) < 0.15, `mean w over the pool = ${mean}`);
});

test('expression ratio gives exp(expr) over raw features; column ratio is validated', () => {
  const pool = { x: Float32Array.from([-1, 0, 0.5, 2, 1, 1]), n: 3, d: 2 };
  const w = expressionRatio('x0 - 0.5*x1', pool);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(w[i] - Math.exp(pool.x[2 * i] - 0.5 * pool.x[2 * i + 1])) < 1e-5);
  // Weights past exp(69) keep their ratios: all are scaled by one factor (acceptance sees w / M
  // only); before, each was capped at exp(69), so rows above it got the same weight.
  const big = expressionRatio('100*x0', pool); // log w = -100, 50, 100
  assert.ok(Math.abs(Math.log(big[2]) - 69) < 1e-9, `largest weight ${big[2]}`);
  assert.ok(Math.abs(Math.log(big[2] / big[1]) - 50) < 1e-9 && Math.abs(Math.log(big[2] / big[0]) - 200) < 1e-9);
  assert.throws(() => expressionRatio('x0 + 1/0', pool), /log w is \+Infinity at pool row 1/);
  assert.throws(() => expressionRatio('x0 +', pool), /ratio\.expr/);
  assert.throws(() => expressionRatio('x5', pool), /ratio\.expr/);
  assert.throws(() => columnRatio(Float64Array.from([1, -1, 2]), 3), /row 2/);
  assert.throws(() => columnRatio(Float64Array.from([1, 2]), 3), /pool has 3/);
});

test('envelope: M is the clip quantile, weights above are counted', () => {
  const w = Float64Array.from({ length: 101 }, (_, i) => i);
  const env = envelope(w, 0.9);
  assert.equal(env.M, 90);
  assert.equal(env.clipped, 10);
  assert.equal(quantile(w, 1), 100);
  let s = 0;
  for (const v of w) s += Math.min(v, 90);
  assert.ok(Math.abs(env.expectedRate - s / 101 / 90) < 1e-12);
  assert.throws(() => envelope(new Float64Array(10), 0.99), /no pool row could be accepted/);
  assert.throws(() => envelope(Float64Array.from([1, NaN]), 0.99), /row 1/);
});

test('accepted rows follow min(w, M)/M: chi-square over weight bins, rate matches', () => {
  const n = 2000;
  const s = new Stream(5, 0, 0);
  const w = Float64Array.from({ length: n }, () => Math.exp(1.5 * gauss(s)));
  const env = envelope(w, 0.95);
  const r = rejectionSample(w, env.M, 42, 40000, 10_000_000);
  assert.equal(r.rows.length, 40000);
  // bins by weight quantiles; expected share of bin k = sum_{rows in k} min(w, M) / sum_all min(w, M)
  const K = 10;
  const edges = Array.from({ length: K + 1 }, (_, k) => quantile(w, k / K));
  const bin = (v) => Math.min(K - 1, edges.findIndex((e, k) => k > 0 && v <= e) - 1);
  const mass = new Array(K).fill(0);
  let total = 0;
  for (let i = 0; i < n; i++) { const m = Math.min(w[i], env.M); mass[bin(w[i])] += m; total += m; }
  const obs = new Array(K).fill(0);
  for (const row of r.rows) obs[bin(w[row])]++;
  const exp = mass.map((m) => (m / total) * r.rows.length);
  const { p } = chiSquareTest(obs, exp);
  assert.ok(p > 1e-3, `chi-square p = ${p}, observed ${obs}, expected ${exp.map((e) => e.toFixed(0))}`);
  const rate = r.rows.length / r.proposals;
  const sd = Math.sqrt(env.expectedRate * (1 - env.expectedRate) / r.proposals);
  assert.ok(Math.abs(rate - env.expectedRate) < 5 * sd, `rate ${rate} vs expected ${env.expectedRate}`);
});

test('provenance: every accepted example replays from its (seed, block) streams; runs are reproducible', () => {
  const n = 300;
  const w = Float64Array.from({ length: n }, (_, i) => 0.1 + (i % 17) / 4);
  const env = envelope(w, 0.99);
  const seed = 9, samples = 70000; // more than one block of proposals
  const a = rejectionSample(w, env.M, seed, samples, 10_000_000);
  const b = rejectionSample(w, env.M, seed, samples, 10_000_000);
  assert.deepEqual(a.rows, b.rows);
  assert.equal(a.proposals, b.proposals);
  const provenance = Array.from(a.rows, (_, i) => provenanceOf(a, i));
  assert.ok(provenance.at(-1).block >= 1, 'spans several blocks');
  // replay: block by block, recompute every decision
  const replay = [];
  let proposals = 0;
  for (let blk = 0; replay.length < samples; blk++) {
    const iv = new Float64Array(BLOCK), uv = new Float64Array(BLOCK);
    new Stream(seed, blk, 0).fillF64(iv);
    new Stream(seed, blk, 1).fillF64(uv);
    for (let j = 0; j < BLOCK && replay.length < samples; j++) {
      proposals++;
      const row = Math.floor(iv[j] * n);
      if (uv[j] * env.M < Math.min(w[row], env.M)) replay.push({ row, w: w[row], u: uv[j], block: blk });
    }
  }
  assert.deepEqual(provenance, replay);
  assert.equal(a.proposals, proposals);
  for (const p of provenance) {
    assert.equal(p.w, w[p.row]);
    assert.ok(p.u * env.M < Math.min(p.w, env.M));
  }
  // a budget stops early
  const c = rejectionSample(w, env.M, seed, samples, 1000);
  assert.equal(c.proposals, 1000);
  assert.ok(c.rows.length < samples);
  // a different seed gives a different set
  assert.notDeepEqual(rejectionSample(w, env.M, seed + 1, 100, 1e6).rows, a.rows.subarray(0, 100));
  // more samples than memory holds: a UsageError at once, not a heap exhausted one example at a time
  assert.throws(() => rejectionSample(w, env.M, seed, 1e12, 1e14), (e) => e.name === 'UsageError' && /finetune\.samples = 1000000000000 does not fit in memory/.test(e.message));
});

test('uniform baseline rows are uniform', () => {
  const u = uniformRows(4, 40000, 3);
  const ou = [0, 0, 0, 0];
  for (const r of u) ou[r]++;
  assert.ok(chiSquareTest(ou, [10000, 10000, 10000, 10000]).p > 1e-3, `${ou}`);
});

test('standardization folds into the first layer exactly', () => {
  const s = new Stream(2, 0, 0);
  const n = 50, d = 3, h = 4;
  const x = Float32Array.from({ length: n * d }, () => 3 * gauss(s) + 5);
  const st = computeStats({ x, n, d });
  const z = standardize(x, d, st);
  const W = Float32Array.from({ length: d * h }, () => gauss(s)), b = Float32Array.from({ length: h }, () => gauss(s));
  const f = fold({ 'fc1.weight': W, 'fc1.bias': b }, st);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < h; o++) {
      let a = b[o], c = f['fc1.bias'][o];
      for (let j = 0; j < d; j++) { a += z[i * d + j] * W[j * h + o]; c += x[i * d + j] * f['fc1.weight'][j * h + o]; }
      assert.ok(Math.abs(a - c) < 1e-3 * (1 + Math.abs(a)), `${a} vs ${c}`);
    }
  }
  const u = unfold(f, st);
  for (let k = 0; k < W.length; k++) assert.ok(Math.abs(u['fc1.weight'][k] - W[k]) < 1e-4);
  for (let k = 0; k < h; k++) assert.ok(Math.abs(u['fc1.bias'][k] - b[k]) < 1e-3);
});

test('pretrainedModel reads the activation of an exported MLP: relu, gelu, tanh; none without hidden layers or from safetensors; foreign ones refused', async () => {
  const { models } = await import('../dist/train/index.js');
  const { normalizeRun, trainingSpec } = await import('../dist/train/config.js');
  const { compileTraining } = await import('../dist/graph/compile.js');
  const { pretrainedModel } = await import('../dist/rft/pretrained-model.js');
  const { writeSafetensors } = await import('../dist/train/safetensors.js');
  const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const onnx = (await import('onnx-proto')).default.onnx;
  const dir = mkdtempSync(join(tmpdir(), 'rsft-act-'));
  const exported = (sizes, activation) => {
    const model = models.mlp({ sizes, activation, seed: 1 });
    const run = normalizeRun({ model, loss: 'softmax_cross_entropy', optimizer: { type: 'adamw', lr: 1e-3 }, batchSize: 1 });
    const params = Object.fromEntries(model.params.map((p) => [p.name, Float32Array.from(p.init)]));
    const path = join(dir, `${activation}-${sizes.length}.onnx`);
    writeFileSync(path, compileTraining(trainingSpec(model, run)).inferenceModel(params, { dtype: 'float32' }));
    return path;
  };
  for (const act of ['relu', 'gelu', 'tanh']) assert.deepEqual(pretrainedModel(exported([4, 8, 6, 3], act), 4, 3), { sizes: [4, 8, 6, 3], activation: act });
  assert.deepEqual(pretrainedModel(exported([4, 3], 'tanh'), 4, 3), { sizes: [4, 3], activation: null }); // logistic regression: no activation
  // weights only: the file does not say
  const st = join(dir, 'w.safetensors');
  writeSafetensors(st, [['fc1.weight', { dtype: 'F32', shape: [4, 8], data: new Float32Array(32) }], ['fc1.bias', { dtype: 'F32', shape: [8], data: new Float32Array(8) }],
    ['fc2.weight', { dtype: 'F32', shape: [8, 3], data: new Float32Array(24) }], ['fc2.bias', { dtype: 'F32', shape: [3], data: new Float32Array(3) }]]);
  assert.deepEqual(pretrainedModel(st, 4, 3), { sizes: [4, 8, 3], activation: null });
  // A model with another activation: its Relu nodes retyped as Sigmoid.
  const m = onnx.ModelProto.decode(readFileSync(exported([4, 8, 3], 'relu')));
  for (const n of m.graph.node) if (n.opType === 'Relu') n.opType = 'Sigmoid';
  const sig = join(dir, 'sigmoid.onnx');
  writeFileSync(sig, onnx.ModelProto.encode(m).finish());
  assert.throws(() => pretrainedModel(sig, 4, 3), (e) => e.name === 'UsageError' && /uses Sigmoid: rsft fine-tunes MLPs with relu, gelu/.test(e.message));
});
