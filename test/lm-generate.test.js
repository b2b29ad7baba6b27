// LM generation (src/rft/lm/generate.ts): batched KV-cache sampling on a tiny randomly initialized
// GPT. Reproducibility across batch sizes, greedy determinism, cache == full recomputation,
// temperature / top-k / top-p semantics and log-probabilities recomputed with the full model,
// the documented uniform address, EOS / length limits, UsageErrors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { gptParams, gptKvModel, kvNames } from '../dist/graph/gpt.js';
import { CharTokenizer } from '../dist/rft/lm/tokenizer.js';
import { createGenerator, samplingDistribution, GEN_OFFSET } from '../dist/rft/lm/generate.js';
import { Stream } from '../dist/sampling/rng.js';
import { UsageError } from '../dist/errors.js';

const tok = new CharTokenizer('ab01+= ');
const CFG = { vocab: tok.vocabSize, context: 32, dModel: 32, nHeads: 2, nLayers: 2, seed: 7 };
/** Random init scaled up so distributions are far from uniform (no training needed). */
function weights(cfg, scale = 12) {
  const w = {};
  for (const p of gptParams(cfg)) {
    const a = Float32Array.from(p.init);
    if (p.decay) for (let i = 0; i < a.length; i++) a[i] *= scale;
    w[p.name] = a;
  }
  return w;
}
const W = weights(CFG);
const PROMPTS = ['', 'a', 'ab+1=', '0101 b', 'b=', '+'];
const gen = await createGenerator({ cfg: CFG, weights: W, tokenizer: tok });
after(() => gen.release());

const flat = (r) => r.candidates.flat();

test('same candidates whatever the batch size (1, 3, all); cache and full recomputation agree', async () => {
  const o = { prompts: PROMPTS, k: 3, seed: 11, round: 2, maxNewTokens: 12, temperature: 0.9 };
  const all = await gen.generate({ ...o, batchSize: 1000 });
  assert.equal(all.stats.batches, 1);
  // some rows finish early, so the batched run also exercises dropping finished rows from the cache
  assert.ok(flat(all).some((c) => c.finished) && flat(all).some((c) => !c.finished));
  assert.equal(all.candidates.length, PROMPTS.length);
  for (const bs of [1, 3]) {
    const r = await gen.generate({ ...o, batchSize: bs });
    assert.equal(r.stats.batches, Math.ceil(PROMPTS.length * 3 / bs));
    flat(r).forEach((c, x) => {
      const e = flat(all)[x];
      assert.deepEqual(c.tokens, e.tokens, `batch ${bs} candidate ${x}`);
      // float32 logits: relative 1e-6 (the batch shape changes rounding in the last bits)
      assert.ok(Math.abs(c.logprob - e.logprob) <= 1e-6 * Math.max(1, Math.abs(e.logprob)), `batch ${bs} candidate ${x}: ${c.logprob} vs ${e.logprob}`);
      assert.equal(c.text, e.text);
      assert.equal(c.finished, e.finished);
    });
  }
  const full = await gen.generateFull({ ...o, batchSize: 4 });
  flat(full).forEach((c, x) => {
    assert.deepEqual(c.tokens, flat(all)[x].tokens, `full candidate ${x}`);
    assert.ok(Math.abs(c.logprob - flat(all)[x].logprob) < 1e-5);
  });
  // candidates differ across j and rounds / seeds (it really samples)
  const texts = new Set(flat(all).map((c) => c.tokens.join(',')));
  assert.ok(texts.size > PROMPTS.length, `only ${texts.size} distinct candidates`);
  const other = await gen.generate({ ...o, round: 3 });
  assert.notDeepEqual(flat(other).map((c) => c.tokens), flat(all).map((c) => c.tokens));
  assert.ok(all.stats.tokens > 0 && all.stats.tokensPerSecond > 0 && all.stats.cache === true && full.stats.cache === false);
});

test('float64 model: batch sizes 1, 3, all give identical tokens and logprobs within 1e-9 (absolute)', async () => {
  const g64 = await createGenerator({ cfg: CFG, weights: W, tokenizer: tok, dtype: 'float64' });
  try {
    const o = { prompts: PROMPTS, k: 3, seed: 11, round: 2, maxNewTokens: 12, temperature: 0.9, topP: 0.95 };
    const all = await g64.generate({ ...o, batchSize: 1000 });
    for (const bs of [1, 3]) {
      const r = await g64.generate({ ...o, batchSize: bs });
      flat(r).forEach((c, x) => {
        assert.deepEqual(c.tokens, flat(all)[x].tokens);
        assert.ok(Math.abs(c.logprob - flat(all)[x].logprob) < 1e-9, `batch ${bs} candidate ${x}`);
      });
    }
  } finally {
    await g64.release();
  }
});

test('the choice is addressed by (seed, round, i, j, t): independent of later prompts and of k', async () => {
  const o = { seed: 5, round: 1, maxNewTokens: 10, temperature: 1 };
  const big = await gen.generate({ ...o, prompts: PROMPTS, k: 4 });
  const small = await gen.generate({ ...o, prompts: PROMPTS.slice(0, 2), k: 2 });
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) assert.deepEqual(small.candidates[i][j].tokens, big.candidates[i][j].tokens);
});

test('greedy (temperature 0): deterministic, identical across candidates, cache == full recomputation, logprob 0', async () => {
  const o = { prompts: PROMPTS, k: 2, seed: 1, maxNewTokens: 20, temperature: 0 };
  const a = await gen.generate(o);
  const b = await gen.generate({ ...o, seed: 999, batchSize: 5 });
  const f = await gen.generateFull(o);
  assert.deepEqual(flat(a).map((c) => c.tokens), flat(b).map((c) => c.tokens));
  assert.deepEqual(flat(a).map((c) => c.tokens), flat(f).map((c) => c.tokens));
  for (const cs of a.candidates) assert.deepEqual(cs[0].tokens, cs[1].tokens);
  for (const c of flat(a)) assert.equal(c.logprob, 0);
  // top-k = 1 is greedy (at any temperature); its distribution is a point mass too
  const k1 = await gen.generate({ ...o, temperature: 1.5, topK: 1 });
  assert.deepEqual(flat(k1).map((c) => c.tokens), flat(a).map((c) => c.tokens));
  for (const c of flat(k1)) assert.ok(Math.abs(c.logprob) < 1e-12);
});

/** Full-model logits (no padding, empty past) of one sequence: Float32Array [len, V]. */
const fullSession = await ort.InferenceSession.create(gptKvModel(CFG, W, 'float32'));
after(() => fullSession.release());
async function fullLogits(seq) {
  const n = kvNames(CFG);
  const feeds = { tokens: new ort.Tensor('int64', BigInt64Array.from(seq.map(BigInt)), [1, seq.length]) };
  for (const l of n.layers) {
    feeds[l.pastKey] = new ort.Tensor('float32', new Float32Array(0), [1, n.heads, 0, n.headDim]);
    feeds[l.pastValue] = new ort.Tensor('float32', new Float32Array(0), [1, n.heads, 0, n.headDim]);
  }
  return (await fullSession.run(feeds)).logits.data;
}

for (const s of [{ temperature: 1 }, { temperature: 0.7 }, { temperature: 1.3, topK: 3 }, { temperature: 1, topP: 0.8 }, { temperature: 0.8, topK: 5, topP: 0.6 }]) {
  test(`logprob = sum of log renormalized probabilities, token = inversion of the documented uniform (${JSON.stringify(s)})`, async () => {
    const o = { prompts: PROMPTS.slice(0, 4), k: 3, seed: 3, round: 4, maxNewTokens: 9, ...s };
    const r = await gen.generate(o);
    const V = CFG.vocab;
    for (let i = 0; i < o.prompts.length; i++) {
      const prompt = tok.encode(o.prompts[i], { bos: true });
      const st = new Stream(o.seed, o.round * 2 ** 32 + i, 0);
      const u = new Float64Array(GEN_OFFSET + o.k * o.maxNewTokens);
      st.fillF64(u);
      for (let j = 0; j < o.k; j++) {
        const c = r.candidates[i][j];
        const lg = await fullLogits(prompt.concat(c.tokens));
        let lp = 0;
        c.tokens.forEach((t, x) => {
          const p = samplingDistribution(lg, s, (prompt.length - 1 + x) * V, V);
          assert.ok(p[t] > 0, `token ${t} outside the kept set`);
          if (s.topK) assert.ok(p.filter((q) => q > 0).length <= s.topK);
          if (s.topP) {
            // the kept set is the smallest prefix reaching topP: dropping its least likely token falls short
            const kept = Array.from(p).filter((q) => q > 0).sort((a, b) => b - a);
            const raw = samplingDistribution(lg, { ...s, topP: 1 }, (prompt.length - 1 + x) * V, V);
            const rawKept = kept.map((_, y) => Array.from(raw).sort((a, b) => b - a)[y]);
            const mass = rawKept.reduce((a, b) => a + b, 0);
            assert.ok(mass >= s.topP - 1e-9 && mass - rawKept[rawKept.length - 1] < s.topP + 1e-9);
          }
          lp += Math.log(p[t]);
          // inversion in increasing id order with u(i, j, t)
          const uu = u[GEN_OFFSET + j * o.maxNewTokens + x];
          let cum = 0, pick = -1;
          for (let v = 0; v < V; v++) { cum += p[v]; if (p[v] > 0 && uu < cum) { pick = v; break; } }
          assert.equal(pick, t, `prompt ${i} cand ${j} step ${x}`);
        });
        assert.ok(Math.abs(lp - c.logprob) < 1e-4, `logprob ${c.logprob} vs recomputed ${lp}`);
      }
    }
  });
}

test('EOS stops a candidate; the length limit stops the others', async () => {
  const o = { prompts: PROMPTS, k: 8, seed: 2, maxNewTokens: 15, temperature: 1.2 };
  const r = await gen.generate(o);
  let fin = 0, unfin = 0;
  for (const c of flat(r)) {
    assert.ok(c.tokens.length >= 1 && c.tokens.length <= 15);
    const eosAt = c.tokens.indexOf(tok.eos);
    if (c.finished) {
      fin++;
      assert.equal(eosAt, c.tokens.length - 1, 'EOS is the last token');
      assert.equal(c.text, tok.decode(c.tokens.slice(0, -1)));
    } else {
      unfin++;
      assert.equal(eosAt, -1);
      assert.equal(c.tokens.length, 15);
      assert.equal(c.text, tok.decode(c.tokens));
    }
  }
  assert.ok(fin > 0 && unfin > 0, `finished ${fin}, unfinished ${unfin}`);
  assert.equal(r.stats.tokens, flat(r).reduce((a, c) => a + c.tokens.length, 0));
  // maxNewTokens = 1: one token each
  const one = await gen.generate({ ...o, maxNewTokens: 1 });
  for (const c of flat(one)) assert.equal(c.tokens.length, 1);
  // the longest allowed prompt: BOS + prompt + maxNewTokens - 1 = context
  const long = 'ab'.repeat(10);
  const lim = await gen.generate({ prompts: [long], k: 2, seed: 0, maxNewTokens: 32 - 21 + 1 });
  assert.ok(lim.candidates[0].every((c) => c.tokens.length <= 12));
});

test('bad options -> UsageError with one-line messages', async () => {
  const base = { prompts: ['a'], k: 2, seed: 0, maxNewTokens: 4 };
  const bad = [
    [{ k: 0 }, /k must be/], [{ k: 1.5 }, /k must be/], [{ k: GEN_OFFSET + 1 }, /k must be/],
    [{ seed: -1 }, /seed/], [{ seed: 2 ** 53 }, /seed/], [{ round: 2 ** 21 }, /round/],
    [{ maxNewTokens: 0 }, /maxNewTokens/], [{ temperature: -1 }, /temperature/], [{ temperature: NaN }, /temperature/],
    [{ topK: 0 }, /topK/], [{ topP: 0 }, /topP/], [{ topP: 1.5 }, /topP/], [{ batchSize: 0 }, /batchSize/],
    [{ prompts: 'a' }, /prompts/], [{ prompts: [3] }, /prompt 0/], [{ prompts: ['a', 'xyz'] }, /prompt 1.*"x"/],
    [{ prompts: ['a'.repeat(30)] }, /exceeds the context/],
  ];
  for (const [o, re] of bad) {
    await assert.rejects(gen.generate({ ...base, ...o }), (e) => {
      assert.ok(e instanceof UsageError, `${JSON.stringify(o)}: ${e}`);
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  }
  await assert.rejects(createGenerator({ cfg: { ...CFG, vocab: 5 }, weights: {}, tokenizer: tok }), UsageError);
  await assert.rejects(createGenerator({ cfg: CFG, weights: W, tokenizer: tok, threads: 0 }), UsageError);
  const empty = await gen.generate({ ...base, prompts: [] });
  assert.deepEqual(empty.candidates, []);
});
