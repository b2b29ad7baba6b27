// GPT training: a few hundred AdamW steps (compiled train-step model, run from JS with
// double-buffered params/state) on a tiny reverse task drive the masked completion loss
// down clearly, and greedy decoding of held-out prompts then mostly succeeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTraining } from '../dist/graph/index.js';
import { gpt, gptTrainingSpec, IGNORE_INDEX } from '../dist/train/gpt-model.js';
import { CharTokenizer } from '../dist/rft/lm/tokenizer.js';
import { rng, session, tensor } from './helpers/graph-fd.js';

// Sequence: BOS a b c d '=' d c b a EOS  (loss only on the completion "d c b a EOS").
const tok = new CharTokenizer('0123=');
const N = 4;
const T = 1 + N + 1 + N + 1 - 1; // inputs drop the last token

function example(r) {
  const digits = Array.from({ length: N }, () => String(Math.floor(r() * 4)));
  const prompt = digits.join('') + '=';
  const completion = [...digits].reverse().join('');
  return { prompt, completion };
}

function batch(r, size) {
  const tokens = new BigInt64Array(size * T), targets = new BigInt64Array(size * T);
  for (let b = 0; b < size; b++) {
    const { prompt, completion } = example(r);
    const p = tok.encode(prompt, { bos: true });
    const seq = [...p, ...tok.encode(completion, { eos: true })];
    for (let t = 0; t < T; t++) {
      tokens[b * T + t] = BigInt(seq[t]);
      targets[b * T + t] = BigInt(t + 1 >= p.length ? seq[t + 1] : IGNORE_INDEX);
    }
  }
  return { tokens, targets };
}

test('AdamW on a tiny reverse task: masked loss falls clearly; greedy completions become correct', async () => {
  const model = gpt({ vocab: tok.vocabSize, context: 16, dModel: 32, nHeads: 2, nLayers: 2, seed: 1, dtype: 'float32' });
  const c = compileTraining(gptTrainingSpec(model, { optimizer: { type: 'adamw', lr: 3e-3, weightDecay: 0.01 }, clipGradNorm: 1 }));
  const sig = c.signature;
  const train = await session(c.trainModel);
  const p0 = c.initialParams(), s0 = c.initialState();
  let ps = p0, ss = s0;
  const r = rng(11);
  const BATCH = 32, STEPS = 300;
  const losses = [];
  for (let step = 1; step <= STEPS; step++) {
    const { tokens, targets } = batch(r, BATCH);
    const feeds = {
      tokens: tensor('int64', tokens, [BATCH, T]), targets: tensor('int64', targets, [BATCH, T]),
      lr: tensor('float32', Float32Array.from([3e-3]), []), step: tensor('int64', BigInt64Array.from([BigInt(step)]), []),
    };
    for (const p of sig.params) feeds[p.input] = tensor('float32', ps[p.name], p.shape);
    for (const s of sig.state) feeds[s.input] = tensor('float32', ss[s.name], s.shape);
    const o = await train.run(feeds);
    losses.push(o.loss.data[0]);
    ps = Object.fromEntries(sig.params.map((p) => [p.name, o[p.output].data]));
    ss = Object.fromEntries(sig.state.map((s) => [s.name, o[s.output].data]));
  }
  await train.release();
  const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
  const first = mean(losses.slice(0, 10)), last = mean(losses.slice(-20));
  assert.ok(first > 1.2, `initial loss ${first} ~ ln(${tok.vocabSize})`);
  assert.ok(last < 0.1 * first, `loss should fall clearly: first ${first.toFixed(3)}, last ${last.toFixed(3)}`);

  // Greedy decoding with the inference model (full recompute) on held-out prompts.
  const inf = await session(c.inferenceModel(ps));
  const hr = rng(999);
  let correct = 0;
  const M = 20;
  for (let i = 0; i < M; i++) {
    const { prompt, completion } = example(hr);
    const ids = tok.encode(prompt, { bos: true });
    while (ids.length < T + 1 && ids[ids.length - 1] !== tok.eos) {
      const o = await inf.run({ tokens: tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) });
      const V = tok.vocabSize, off = (ids.length - 1) * V;
      let best = 0;
      for (let k = 1; k < V; k++) if (o.logits.data[off + k] > o.logits.data[off + best]) best = k;
      ids.push(best);
    }
    const out = tok.decode(ids.slice(N + 2));
    if (out === completion) correct++;
  }
  await inf.release();
  if (process.env.GPT_DEBUG) console.log({ first, last, correct });
  assert.ok(correct >= 0.9 * M, `greedy completions correct: ${correct}/${M} (loss ${first.toFixed(3)} -> ${last.toFixed(3)})`);
});
