// The Trainer on the GPT model: learning the addition format from a small pretraining
// set, token-weighted evaluate, exportOnnx (KV-cache model) agreeing with the trainer,
// bit-identical checkpoint resume, and UsageErrors for bad token data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { models, Trainer } from '../dist/train/index.js';
import { IGNORE_INDEX } from '../dist/train/gpt-model.js';
import { addition, encodeExamples } from '../dist/rft/lm/tasks.js';
import { CharTokenizer } from '../dist/rft/lm/tokenizer.js';
import { kvNames } from '../dist/graph/gpt.js';
import { UsageError } from '../dist/errors.js';

const tok = new CharTokenizer(addition.alphabet);
const CTX = 14;
const cfg = { vocab: tok.vocabSize, context: CTX, dModel: 32, nHeads: 2, nLayers: 2, seed: 3 };
const opts = (extra = {}) => ({ model: models.gpt(cfg), optimizer: { type: 'adamw', lr: 3e-3, weightDecay: 0.01 }, batchSize: 32, threads: 2, clipGradNorm: 1, ...extra });
const dir = mkdtempSync(join(tmpdir(), 'rsft-train-gpt-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('Trainer on a tiny GPT learns the addition format: loss falls clearly in 160 steps', async () => {
  const train = encodeExamples(tok, addition.pretrainData(1, 512, { noise: 0 }), CTX);
  const held = encodeExamples(tok, addition.makePrompts(1, 128, 'heldout').map((p) => ({ prompt: p, completion: addition.answer(p) })), CTX);
  const t = await Trainer.create(opts());
  try {
    const e0 = await t.evaluate(held);
    assert.ok(e0.loss > 2, `initial loss ${e0.loss}`);
    const losses = [];
    t.on('step', (e) => losses.push(e.loss));
    const r = await t.fit({ tokens: train.tokens, targets: train.targets, epochs: 10, shuffleSeed: 1 });
    assert.equal(r.steps, 160);
    assert.equal(t.stepCount, 160);
    const e1 = await t.evaluate(held);
    // The format (digits then EOS, right length) is learned; exact sums need more training.
    assert.ok(e1.loss < 0.7 * e0.loss, `held-out loss ${e0.loss} -> ${e1.loss}`);
    assert.ok(e1.accuracy > e0.accuracy + 0.2, `token accuracy ${e0.accuracy} -> ${e1.accuracy}`);
    const head = losses.slice(0, 10).reduce((a, b) => a + b) / 10, tail = losses.slice(-10).reduce((a, b) => a + b) / 10;
    assert.ok(tail < 0.7 * head, `training loss ${head} -> ${tail}`);
    assert.ok(Number.isFinite(r.loss));

    // EOS after the right number of digits: the argmax at the position after the answer.
    const logits = await t.predict(held.tokens);
    assert.equal(logits.length, held.n * CTX * tok.vocabSize);
    let eosRight = 0;
    for (let i = 0; i < held.n; i++) {
      for (let p = 0; p < CTX; p++) {
        if (held.targets[i * CTX + p] !== 2n) continue;
        const row = logits.subarray((i * CTX + p) * tok.vocabSize, (i * CTX + p + 1) * tok.vocabSize);
        if (row.indexOf(Math.max(...row)) === tok.eos) eosRight++;
      }
    }
    assert.ok(eosRight / held.n > 0.8, `EOS predicted at the end of ${eosRight}/${held.n} answers`);

    // exportOnnx: the KV-cache model, fed the whole sequence with empty pasts, gives the trainer's logits.
    const path = join(dir, 'gpt.onnx');
    await t.exportOnnx(path);
    const s = await ort.InferenceSession.create(path);
    const names = kvNames(cfg);
    const B = 4;
    const feeds = { tokens: new ort.Tensor('int64', held.tokens.slice(0, B * CTX), [B, CTX]) };
    for (const l of names.layers) {
      feeds[l.pastKey] = new ort.Tensor('float32', new Float32Array(0), [B, names.heads, 0, names.headDim]);
      feeds[l.pastValue] = new ort.Tensor('float32', new Float32Array(0), [B, names.heads, 0, names.headDim]);
    }
    const out = await s.run(feeds);
    const want = logits.subarray(0, B * CTX * tok.vocabSize);
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out.logits.data[i] - want[i]));
    assert.ok(maxDiff < 1e-4, `exported logits differ by ${maxDiff}`);
    assert.deepEqual(out[names.layers[0].presentKey].dims, [B, names.heads, CTX, names.headDim]);
    await s.release();
    await t.exportOnnx(join(dir, 'gpt-pad.onnx'), { padding: true });
    const sp = await ort.InferenceSession.create(join(dir, 'gpt-pad.onnx'));
    assert.ok(sp.inputNames.includes('positions') && sp.inputNames.includes('attention_mask'));
    await sp.release();

    // parameters(): GPT-2 names, current values.
    const ps = t.parameters();
    assert.deepEqual(ps.get('wte.weight').length, tok.vocabSize * 32);
    assert.ok(ps.has('h.1.mlp.c_proj.weight') && ps.has('ln_f.bias'));
  } finally {
    await t.close();
  }
});

test('GPT checkpoints: Trainer.load rebuilds the model from its config; resume is bit-identical', async () => {
  const train = encodeExamples(tok, addition.pretrainData(2, 100, { noise: 0.25 }), CTX);
  const data = { tokens: train.tokens, targets: train.targets };
  const a = await Trainer.create(opts({ model: models.gpt({ ...cfg, dropout: 0.1 }) }));
  const b = await Trainer.create(opts({ model: models.gpt({ ...cfg, dropout: 0.1 }) }));
  const ck = join(dir, 'gpt.safetensors');
  try {
    await a.fit({ ...data, epochs: 3, shuffleSeed: 4, maxSteps: 5 }); // stops mid-epoch 2
    await a.save(ck);
    const c = await Trainer.load(ck, { threads: 2 });
    try {
      assert.equal(c.model.kind, 'gpt');
      assert.deepEqual(c.model.config, a.model.config);
      await b.resume(ck);
      for (const tr of [a, b, c]) await tr.fit({ ...data, epochs: 3, shuffleSeed: 4 });
      for (const tr of [a, b, c]) await tr.step(data);
      const pa = a.parameters(), pb = b.parameters(), pc = c.parameters();
      for (const [k, v] of pa) {
        assert.deepEqual(pb.get(k), v, k);
        assert.deepEqual(pc.get(k), v, k);
      }
      assert.equal(c.stepCount, a.stepCount);
      assert.equal(c.position.epoch, 3);
      const ea = await a.evaluate(data), ec = await c.evaluate(data);
      assert.equal(ec.loss, ea.loss);
      // Another GPT shape does not resume from it; neither does an MLP.
      const other = await Trainer.create(opts({ model: models.gpt({ ...cfg, dModel: 16 }) }));
      await assert.rejects(other.resume(ck), /does not match this trainer/);
      await other.close();
    } finally {
      await c.close();
    }
  } finally {
    await a.close();
    await b.close();
  }
  assert.equal(models.fromConfig('gpt', cfg).kind, 'gpt');
  assert.throws(() => models.fromConfig('gpt', { ...cfg, nHeads: 3 }), UsageError);
});

test('GPT token batches: bad ids, targets, shapes and options are UsageErrors', async () => {
  assert.throws(() => models.gpt({ ...cfg, dModel: 30, nHeads: 4 }), UsageError);
  await assert.rejects(Trainer.create(opts({ loss: 'mse' })), UsageError);
  await assert.rejects(Trainer.create(opts({ sampleWeights: true })), UsageError);
  const t = await Trainer.create(opts());
  try {
    const { tokens, targets } = encodeExamples(tok, addition.pretrainData(3, 8), CTX);
    const bad = (mut) => { const c = tokens.slice(); mut(c); return c; };
    await assert.rejects(t.step({ tokens: bad((c) => { c[5] = BigInt(tok.vocabSize); }), targets }), (e) => e instanceof UsageError && /token id 15 at row 0, position 5/.test(e.message));
    await assert.rejects(t.step({ tokens: bad((c) => { c[3] = -1n; }), targets }), UsageError);
    const tb = targets.slice();
    tb[20] = BigInt(tok.vocabSize + 2);
    await assert.rejects(t.step({ tokens, targets: tb }), /targets has 17 at row 1, position 6/);
    tb[20] = -5n;
    await assert.rejects(t.step({ tokens, targets: tb }), UsageError);
    await assert.rejects(t.step({ tokens: tokens.slice(0, 20), targets: targets.slice(0, 20) }), /not a multiple of the model's context 14/);
    await assert.rejects(t.step({ tokens, targets: targets.slice(0, CTX) }), /targets has 14 values/);
    await assert.rejects(t.step({ tokens: new Float32Array(CTX), targets: new BigInt64Array(CTX) }), /BigInt64Array or Int32Array/);
    await assert.rejects(t.step({ x: new Float32Array(CTX), y: new Int32Array(1) }), /GPT model must be \{ tokens, targets \}/);
    await assert.rejects(t.fit({ tokens, epochs: 1 }), /targets must be/);
    await assert.rejects(t.evaluate({ tokens: new BigInt64Array(0), targets: new BigInt64Array(0) }), /tokens is empty/);
    // Int32Array data works, and a batch without any target position has loss 0.
    const r = await t.step({ tokens: Int32Array.from(tokens, Number), targets: Int32Array.from(targets, Number) });
    assert.ok(Number.isFinite(r.loss) && r.loss > 0);
    const none = await t.evaluate({ tokens, targets: new BigInt64Array(targets.length).fill(BigInt(IGNORE_INDEX)) });
    assert.equal(none.loss, 0);
    assert.ok(Number.isNaN(none.accuracy));
  } finally {
    await t.close();
  }
  // An MLP trainer refuses token batches.
  const m = await Trainer.create({ model: models.mlp({ sizes: [4, 3] }), loss: 'softmax_cross_entropy', optimizer: { type: 'sgd', lr: 0.1 }, batchSize: 2, threads: 1 });
  await assert.rejects(m.step({ tokens: new BigInt64Array(4), targets: new BigInt64Array(4) }), /tokens, targets \} is for GPT models/);
  await m.close();
});
