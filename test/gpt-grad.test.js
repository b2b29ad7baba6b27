// GPT graph: gradients of the attention pieces and of the whole tiny GPT against
// central finite differences (float64, real onnxruntime-node sessions), causality,
// tied vs untied heads, inference model == train/eval forward, KV cache == full recompute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ops, compileTraining, softmaxCrossEntropy } from '../dist/graph/index.js';
import { gptForward, gptParams, gptKvModel, kvNames, MASK_VALUE } from '../dist/graph/gpt.js';
import { gpt, gptTrainingSpec, IGNORE_INDEX } from '../dist/train/gpt-model.js';
import { checkGrad, rng, randn, session, tensor, prod } from './helpers/graph-fd.js';

const CFG = { vocab: 12, context: 8, dModel: 8, nHeads: 2, nLayers: 2 };
const B = 2, T = 6;
const i64 = (name, shape, values) => ({ name, shape, dtype: 'int64', data: BigInt64Array.from(values.map(BigInt)) });
const TOKENS = [1, 5, 7, 3, 11, 0, 2, 2, 9, 4, 6, 10];

/** Random (not tiny) weights so every path carries signal in FD checks. */
function randomWeights(cfg, seed, scale = 0.5) {
  const r = rng(seed);
  const out = {};
  for (const p of gptParams(cfg, 'float64')) {
    const d = randn(r, prod(p.shape), scale);
    if (p.name.endsWith('ln_1.weight') || p.name.endsWith('ln_2.weight') || p.name.startsWith('ln_f.weight')) for (let i = 0; i < d.length; i++) d[i] += 1;
    out[p.name] = d;
  }
  return out;
}

function paramSpecs(cfg, weights) {
  return gptParams(cfg, 'float64').map((p) => ({ name: p.name, shape: p.shape, data: weights[p.name] }));
}

// ---- attention building blocks -------------------------------------------------------
test('grad: causal masked attention (Slice of fused qkv, 4-D Transpose, batched MatMul, Where mask broadcast, Softmax)', async () => {
  const H = 2, hd = 3, d = H * hd, t = 4;
  await checkGrad(assert, [{ name: 'qkv', shape: [B, t, 3 * d] }], (v, g) => {
    const part = (k) => ops.reshape(ops.slice(v.qkv, { starts: [k * d], ends: [(k + 1) * d], axes: [2] }), [0, 0, H, hd]);
    const q = ops.mul(ops.transpose(part(0), [0, 2, 1, 3]), 1 / Math.sqrt(hd));
    const k = ops.transpose(part(1), [0, 2, 1, 3]);
    const val = ops.transpose(part(2), [0, 2, 1, 3]);
    const mask = [];
    for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) mask.push(j > i ? 1 : 0);
    const future = ops.cast(g.constant('int64', [t, t], mask), 'bool');
    const s = ops.matmul(q, ops.transpose(k, [0, 1, 3, 2]));
    const att = ops.softmax(ops.where(future, MASK_VALUE, s), -1);
    return ops.reshape(ops.transpose(ops.matmul(att, val), [0, 2, 1, 3]), [0, 0, d]);
  });
});

test('grad: Gather of position ids from Range + broadcast Add onto token embeddings', async () => {
  await checkGrad(assert, [{ name: 'wte', shape: [5, 3] }, { name: 'wpe', shape: [6, 3] }, i64('tok', [2, 4], [0, 4, 4, 1, 2, 2, 3, 0])], (v, g) => {
    const pos = ops.range(g.scalar('int64', 0), ops.squeeze(ops.shapeOf(v.tok, 1, 2), [0]), g.scalar('int64', 1), 4);
    return ops.add(ops.gather(v.wte, v.tok), ops.gather(v.wpe, pos));
  });
});

// ---- whole GPT -----------------------------------------------------------------------
for (const tied of [true, false]) {
  test(`grad: whole tiny GPT (${tied ? 'tied' : 'untied'} head) logits vs finite differences`, async () => {
    const cfg = { ...CFG, tied };
    const w = randomWeights(cfg, tied ? 3 : 4);
    await checkGrad(assert, [i64('tokens', [B, T], TOKENS), ...paramSpecs(cfg, w)],
      (v) => gptForward(v.tokens, v, cfg).logits, { maxPerInput: 6, rtol: 1e-5, atol: 1e-7 });
  });
}

test('grad: tiny GPT masked token cross-entropy (ignore index on prompt/padding)', async () => {
  const w = randomWeights(CFG, 5);
  const targets = [IGNORE_INDEX, IGNORE_INDEX, 3, 11, 2, IGNORE_INDEX, IGNORE_INDEX, 9, 4, 6, 2, IGNORE_INDEX];
  await checkGrad(assert, [i64('tokens', [B, T], TOKENS), i64('targets', [B, T], targets), ...paramSpecs(CFG, w)],
    (v) => softmaxCrossEntropy(gptForward(v.tokens, v, CFG).logits, v.targets, { ignoreIndex: IGNORE_INDEX }), { maxPerInput: 5, rtol: 1e-5, atol: 1e-8 });
});

// ---- forward properties ----------------------------------------------------------------
async function inferLogits(bytes, tokens, b, t) {
  const s = await session(bytes);
  const o = await s.run({ tokens: tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [b, t]) });
  await s.release();
  return o.logits.data;
}

test('causality: changing token t\' > t leaves logits at positions <= t unchanged', async () => {
  const m = gpt({ ...CFG, dtype: 'float64' });
  const c = compileTraining(gptTrainingSpec(m));
  const bytes = c.inferenceModel(randomWeights(CFG, 6));
  const base = await inferLogits(bytes, TOKENS, B, T);
  const V = CFG.vocab;
  for (const tp of [1, 3, 5]) {
    const changed = [...TOKENS];
    changed[tp] = (changed[tp] + 5) % V; // batch row 0
    changed[T + tp] = (changed[T + tp] + 3) % V; // batch row 1
    const out = await inferLogits(bytes, changed, B, T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        let diff = 0;
        for (let k = 0; k < V; k++) diff = Math.max(diff, Math.abs(out[(b * T + t) * V + k] - base[(b * T + t) * V + k]));
        if (t < tp) assert.equal(diff, 0, `row ${b} position ${t} changed after editing token ${tp}`);
        else assert.ok(diff > 1e-6, `row ${b} position ${t} should depend on token ${tp}`);
      }
    }
  }
});

test('tied vs untied: parameter lists, and untied with lm_head = wte equals tied', async () => {
  const tiedP = gptParams({ ...CFG, tied: true }, 'float64').map((p) => p.name);
  const untiedP = gptParams({ ...CFG, tied: false }, 'float64').map((p) => p.name);
  assert.ok(!tiedP.includes('lm_head.weight'));
  assert.deepEqual(untiedP, [...tiedP, 'lm_head.weight']);
  const w = randomWeights(CFG, 7);
  const a = await inferLogits(compileTraining(gptTrainingSpec(gpt({ ...CFG, dtype: 'float64' }))).inferenceModel(w), TOKENS, B, T);
  const wu = { ...w, 'lm_head.weight': Float64Array.from(w['wte.weight']) };
  const ucfg = { ...CFG, tied: false, dtype: 'float64' };
  const b = await inferLogits(compileTraining(gptTrainingSpec(gpt(ucfg))).inferenceModel(wu), TOKENS, B, T);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-12);
  wu['lm_head.weight'] = randn(rng(8), CFG.vocab * CFG.dModel);
  const c = await inferLogits(compileTraining(gptTrainingSpec(gpt(ucfg))).inferenceModel(wu), TOKENS, B, T);
  assert.ok(a.some((x, i) => Math.abs(x - c[i]) > 1e-6), 'a different lm_head changes the logits');
});

test('init: deterministic from the seed, GPT-2 scales', () => {
  const cfg = { vocab: 20, context: 16, dModel: 32, nHeads: 4, nLayers: 3 };
  const a = gptParams({ ...cfg, seed: 1 }, 'float64'), b = gptParams({ ...cfg, seed: 1 }, 'float64'), c = gptParams({ ...cfg, seed: 2 }, 'float64');
  a.forEach((p, i) => assert.deepEqual(p.init, b[i].init));
  assert.notDeepEqual(a[0].init, c[0].init);
  const std = (x) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  const by = Object.fromEntries(a.map((p) => [p.name, p]));
  assert.ok(Math.abs(std(by['wte.weight'].init) - 0.02) < 0.003);
  assert.ok(Math.abs(std(by['h.0.mlp.c_fc.weight'].init) - 0.02) < 0.002);
  assert.ok(Math.abs(std(by['h.1.mlp.c_proj.weight'].init) - 0.02 / Math.sqrt(6)) < 0.001);
  assert.ok(by['h.2.ln_2.weight'].init.every((x) => x === 1));
  assert.ok(by['ln_f.bias'].init.every((x) => x === 0));
  assert.ok(by['h.0.attn.c_attn.bias'].init.every((x) => x === 0));
  assert.equal(by['h.0.attn.c_attn.bias'].decay, false);
  assert.equal(by['wte.weight'].decay, true);
  assert.throws(() => gpt({ ...cfg, nHeads: 5 }), /divisible/);
});

test('inference model equals the train and eval graphs\' forward (float64 and float32)', async () => {
  for (const dtype of ['float64', 'float32']) {
    const m = gpt({ ...CFG, dtype, seed: 3 });
    const c = compileTraining(gptTrainingSpec(m));
    const Arr = dtype === 'float32' ? Float32Array : Float64Array;
    const w = Object.fromEntries(Object.entries(randomWeights(CFG, 9)).map(([k, v]) => [k, Arr.from(v)]));
    const inf = await inferLogits(c.inferenceModel(w), TOKENS, B, T);
    const targets = BigInt64Array.from([IGNORE_INDEX, 3, 11, 2, 0, IGNORE_INDEX, IGNORE_INDEX, 9, 4, 6, 2, 1].map(BigInt));
    const feeds = { tokens: tensor('int64', BigInt64Array.from(TOKENS.map(BigInt)), [B, T]), targets: tensor('int64', targets, [B, T]) };
    for (const p of c.signature.params) feeds[p.input] = tensor(dtype, w[p.name], p.shape);
    const ev = await (await session(c.evalModel)).run(feeds);
    const trainFeeds = { ...feeds, lr: tensor(dtype, new Arr([1e-3]), []), step: tensor('int64', BigInt64Array.from([1n]), []) };
    const st = c.initialState();
    for (const s of c.signature.state) trainFeeds[s.input] = tensor(dtype, st[s.name], s.shape);
    const tr = await (await session(c.trainModel)).run(trainFeeds);
    const tol = dtype === 'float32' ? 1e-5 : 1e-12;
    for (let i = 0; i < inf.length; i++) {
      assert.ok(Math.abs(inf[i] - ev.logits.data[i]) <= tol * (1 + Math.abs(inf[i])), `${dtype} eval logits[${i}]`);
      assert.ok(Math.abs(inf[i] - tr.logits.data[i]) <= tol * (1 + Math.abs(inf[i])), `${dtype} train logits[${i}]`);
    }
    // The eval loss is the masked CE computed from these logits.
    const V = CFG.vocab;
    let sum = 0, n = 0;
    for (let i = 0; i < B * T; i++) {
      const y = Number(targets[i]);
      if (y === IGNORE_INDEX) continue;
      const row = Array.from(inf.slice(i * V, (i + 1) * V));
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0));
      sum += lse - row[y];
      n++;
    }
    assert.ok(Math.abs(ev.loss.data[0] - sum / n) <= tol * 10 * (1 + sum / n), `${dtype} eval loss`);
    assert.ok(Math.abs(tr.loss.data[0] - sum / n) <= tol * 10 * (1 + sum / n), `${dtype} train loss`);
  }
});

test('KV cache: prefill + incremental decoding equals full recomputation', async () => {
  for (const tied of [true, false]) {
    const cfg = { ...CFG, tied };
    const w = randomWeights(cfg, 10);
    const full = await inferLogits(compileTraining(gptTrainingSpec(gpt({ ...cfg, dtype: 'float64' }))).inferenceModel(w), TOKENS, B, T);
    const names = kvNames(cfg);
    const s = await session(gptKvModel(cfg, w, 'float64'));
    const V = cfg.vocab, H = names.heads, hd = names.headDim;
    const P0 = 2; // prefill the first 2 tokens, then decode one at a time
    const tok = (from, to) => {
      const out = [];
      for (let b = 0; b < B; b++) for (let t = from; t < to; t++) out.push(BigInt(TOKENS[b * T + t]));
      return tensor('int64', BigInt64Array.from(out), [B, to - from]);
    };
    const feeds = { tokens: tok(0, P0) };
    for (const n of names.layers) {
      feeds[n.pastKey] = tensor('float64', new Float64Array(0), [B, H, 0, hd]);
      feeds[n.pastValue] = tensor('float64', new Float64Array(0), [B, H, 0, hd]);
    }
    let o = await s.run(feeds);
    const check = (logits, from, to) => {
      const n = to - from;
      for (let b = 0; b < B; b++) for (let t = 0; t < n; t++) for (let k = 0; k < V; k++) {
        const got = logits[(b * n + t) * V + k], want = full[(b * T + from + t) * V + k];
        assert.ok(Math.abs(got - want) < 1e-10, `tied=${tied} b=${b} t=${from + t} k=${k}: ${got} vs ${want}`);
      }
    };
    check(o.logits.data, 0, P0);
    for (let t = P0; t < T; t++) {
      const f = { tokens: tok(t, t + 1) };
      for (const n of names.layers) {
        assert.deepEqual(o[n.presentKey].dims, [B, H, t, hd]);
        f[n.pastKey] = o[n.presentKey];
        f[n.pastValue] = o[n.presentValue];
      }
      o = await s.run(f);
      check(o.logits.data, t, t + 1);
    }
    await s.release();
  }
});

test('dropout: train graph takes a seed (same seed = same loss, new seed = new loss); eval/inference unaffected', async () => {
  const m = gpt({ ...CFG, dtype: 'float64', dropout: 0.2, seed: 4 });
  const c = compileTraining(gptTrainingSpec(m));
  assert.equal(c.signature.seed, 'seed');
  const targets = BigInt64Array.from([1, 3, 11, 2, 0, 4, 5, 9, 4, 6, 2, 1].map(BigInt));
  const w = randomWeights(CFG, 12);
  const base = { tokens: tensor('int64', BigInt64Array.from(TOKENS.map(BigInt)), [B, T]), targets: tensor('int64', targets, [B, T]) };
  for (const p of c.signature.params) base[p.input] = tensor('float64', w[p.name], p.shape);
  const st = c.initialState();
  const tf = { ...base, lr: tensor('float64', new Float64Array([1e-3]), []), step: tensor('int64', BigInt64Array.from([1n]), []) };
  for (const s of c.signature.state) tf[s.input] = tensor('float64', st[s.name], s.shape);
  const tr = await session(c.trainModel);
  const run = async (seed) => (await tr.run({ ...tf, seed: tensor('int64', BigInt64Array.from([BigInt(seed)]), []) })).loss.data[0];
  const a = await run(1), b = await run(1), d = await run(2);
  assert.equal(a, b);
  assert.notEqual(a, d);
  const ev = await (await session(c.evalModel)).run(base);
  const nod = compileTraining(gptTrainingSpec(gpt({ ...CFG, dtype: 'float64', seed: 4 })));
  const ev0 = await (await session(nod.evalModel)).run(base);
  assert.equal(ev.loss.data[0], ev0.loss.data[0]);
  assert.notEqual(a, ev.loss.data[0]);
});

test('KV cache with left padding (positions + attention_mask) equals unpadded recomputation per row', async () => {
  const cfg = CFG;
  const w = randomWeights(cfg, 13);
  const fullS = await session(compileTraining(gptTrainingSpec(gpt({ ...cfg, dtype: 'float64' }))).inferenceModel(w));
  const names = kvNames(cfg);
  const s = await session(gptKvModel(cfg, w, 'float64', { padding: true }));
  const V = cfg.vocab, H = names.heads, hd = names.headDim;
  const seqs = [[1, 5, 7, 3, 9, 4, 6], [1, 8, 10, 2, 5, 11]]; // prompts: first 4 and first 2 tokens
  const plen = [4, 2], P = 4, steps = 3;
  const i64t = (a, dims) => tensor('int64', BigInt64Array.from(a.map(BigInt)), dims);
  // Prefill: left-pad to P.
  const toks = [], pos = [], mask = [];
  for (let b = 0; b < 2; b++) {
    const pad = P - plen[b];
    for (let t = 0; t < P; t++) {
      toks.push(t < pad ? 0 : seqs[b][t - pad]);
      pos.push(Math.max(0, t - pad));
      mask.push(t < pad ? 0 : 1);
    }
  }
  const feeds = { tokens: i64t(toks, [2, P]), positions: i64t(pos, [2, P]), attention_mask: i64t(mask, [2, P]) };
  for (const n of names.layers) {
    feeds[n.pastKey] = tensor('float64', new Float64Array(0), [2, H, 0, hd]);
    feeds[n.pastValue] = tensor('float64', new Float64Array(0), [2, H, 0, hd]);
  }
  let o = await s.run(feeds);
  const rowLast = (logits, b, n) => Array.from(logits.slice((b * n + n - 1) * V, (b * n + n) * V));
  const ref = async (b, len) => {
    const r = await fullS.run({ tokens: i64t(seqs[b].slice(0, len), [1, len]) });
    return Array.from(r.logits.data.slice((len - 1) * V, len * V));
  };
  const close = (a, e, what) => a.forEach((x, k) => assert.ok(Math.abs(x - e[k]) < 1e-10, `${what} k=${k}: ${x} vs ${e[k]}`));
  for (let b = 0; b < 2; b++) close(rowLast(o.logits.data, b, P), await ref(b, plen[b]), `prefill row ${b}`);
  const m = [...mask];
  for (let st = 0; st < steps; st++) {
    const next = [seqs[0][plen[0] + st], seqs[1][plen[1] + st]];
    const cur = [plen[0] + st, plen[1] + st]; // position id of the new token
    const S = P + st + 1;
    const fullMask = [];
    for (let b = 0; b < 2; b++) { for (let j = 0; j < S - 1; j++) fullMask.push(j < P ? m[b * P + j] : 1); fullMask.push(1); }
    const f = { tokens: i64t(next, [2, 1]), positions: i64t(cur, [2, 1]), attention_mask: i64t(fullMask, [2, S]) };
    for (const n of names.layers) { f[n.pastKey] = o[n.presentKey]; f[n.pastValue] = o[n.presentValue]; }
    o = await s.run(f);
    for (let b = 0; b < 2; b++) close(rowLast(o.logits.data, b, 1), await ref(b, plen[b] + st + 1), `step ${st} row ${b}`);
  }
  await s.release();
  await fullS.release();
});

test('GPT train / eval / inference / KV models pass onnx.checker (full_check) when python3-onnx is present', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const PY = '/usr/bin/python3';
  if (spawnSync(PY, ['-c', 'import onnx'], { encoding: 'utf8' }).status !== 0) { t.skip('python3-onnx not installed'); return; }
  const c = compileTraining(gptTrainingSpec(gpt({ ...CFG, tied: false, dropout: 0.1 })));
  const dir = mkdtempSync(join(tmpdir(), 'rsft-gpt-check-'));
  try {
    const files = [['train', c.trainModel], ['eval', c.evalModel], ['infer', c.inferenceModel()], ['kv', gptKvModel(CFG, {}, 'float32', { padding: true })]].map(([n, bytes]) => {
      const f = join(dir, `${n}.onnx`);
      writeFileSync(f, bytes);
      return f;
    });
    const py = 'import sys, onnx\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\nprint("ok")';
    const r = spawnSync(PY, ['-c', py, ...files], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr || r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
