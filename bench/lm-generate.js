// Generation throughput: KV-cache decoding vs recomputing the prefix every step, 64 rows per batch
// (16 prompts x K = 4), on a randomly initialized GPT. Both paths produce the same candidates
// (same seed), so tokens/s compare like for like. Then training throughput of the same GPT:
// tokens/s of Trainer.step (forward + backward + AdamW) at batch 64 x context positions.
// The PyTorch comparison of both is `npm run bench:peers` (bench/lm-peers.js).
//
//   node bench/lm-generate.js [--d 128] [--layers 4] [--heads 4] [--context 128] [--new 96] [--threads 1] [--reps 2]
import { parseArgs } from 'node:util';
import { gptParams } from '../dist/graph/gpt.js';
import { CharTokenizer } from '../dist/rft/lm/tokenizer.js';
import { createGenerator } from '../dist/rft/lm/generate.js';
import { models, Trainer } from '../dist/train/index.js';
import { IGNORE_INDEX } from '../dist/train/gpt-model.js';

const { values: a } = parseArgs({
  options: {
    d: { type: 'string', default: '128' }, layers: { type: 'string', default: '4' }, heads: { type: 'string', default: '4' },
    context: { type: 'string', default: '128' }, new: { type: 'string', default: '96' }, threads: { type: 'string', default: '1' },
    reps: { type: 'string', default: '2' }, full: { type: 'boolean', default: true },
  },
});
const tok = new CharTokenizer();
const cfg = { vocab: tok.vocabSize, context: +a.context, dModel: +a.d, nHeads: +a.heads, nLayers: +a.layers, seed: 1 };
const weights = Object.fromEntries(gptParams(cfg).map((p) => [p.name, p.init]));
const prompts = Array.from({ length: 16 }, (_, i) => `${i * 37 % 100}+${i * 11 % 50}=`.padEnd(8 + (i % 5), ' '));
const maxNewTokens = Math.min(+a.new, cfg.context - 14);
const gen = await createGenerator({ cfg, weights, tokenizer: tok, threads: +a.threads });
const opts = { prompts, k: 4, seed: 1, round: 0, maxNewTokens, temperature: 1, batchSize: 64 };
console.log(`GPT d=${cfg.dModel} layers=${cfg.nLayers} heads=${cfg.nHeads} vocab=${cfg.vocab}; 64 rows per batch (16 prompts x 4), maxNewTokens=${maxNewTokens}, threads=${a.threads}`);

async function best(fn) {
  let top = null;
  for (let r = 0; r < +a.reps; r++) {
    const res = await fn();
    if (!top || res.stats.tokensPerSecond > top.stats.tokensPerSecond) top = res;
  }
  return top;
}
await gen.generate({ ...opts, maxNewTokens: 4 }); // warm-up
const withCache = await best(() => gen.generate(opts));
const line = (name, r) => console.log(`${name.padEnd(16)} ${r.stats.tokens} tokens in ${r.stats.seconds.toFixed(3)} s = ${r.stats.tokensPerSecond.toFixed(0)} tokens/s (${r.stats.runs} ORT runs)`);
line('kv cache', withCache);
if (a.full) {
  const full = await best(() => gen.generateFull(opts));
  line('no cache', full);
  const same = withCache.candidates.flat().every((c, x) => c.tokens.join() === full.candidates.flat()[x].tokens.join());
  console.log(`speed-up ${(withCache.stats.tokensPerSecond / full.stats.tokensPerSecond).toFixed(2)}x; identical candidates: ${same}`);
}
await gen.release();


// training tokens/s: 64 rows x context positions per step (prompt positions included; the loss
// covers the positions after a 16-token prompt)
const B = 64, T = cfg.context;
const tokens = new BigInt64Array(B * T), targets = new BigInt64Array(B * T).fill(BigInt(IGNORE_INDEX));
for (let x = 0; x < B * T; x++) tokens[x] = BigInt(3 + ((x * 7919) % (cfg.vocab - 3)));
for (let b = 0; b < B; b++) for (let t = Math.min(15, T - 2); t < T - 1; t++) targets[b * T + t] = tokens[b * T + t + 1];
const trainer = await Trainer.create({ model: models.gpt(cfg), optimizer: { type: 'adamw', lr: 3e-3, weightDecay: 0.01 }, batchSize: B, threads: +a.threads });
try {
  for (let i = 0; i < 2; i++) await trainer.step({ tokens, targets });
  const ms = [];
  for (let i = 0; i < Math.max(3, 3 * +a.reps); i++) {
    const t0 = performance.now();
    await trainer.step({ tokens, targets });
    ms.push(performance.now() - t0);
  }
  ms.sort((x, y) => x - y);
  const med = ms[Math.floor(ms.length / 2)];
  console.log(`${'training'.padEnd(16)} batch ${B} x ${T} positions: ${med.toFixed(1)} ms/step (median of ${ms.length}) = ${((B * T) / (med / 1000)).toFixed(0)} tokens/s`);
} finally {
  await trainer.close();
}
