// Generation throughput: KV-cache decoding vs recomputing the prefix every step, 64 rows per batch
// (16 prompts x K = 4), on a randomly initialized GPT. Both paths produce the same candidates
// (same seed), so tokens/s compare like for like.
//
//   node bench/lm-generate.js [--d 128] [--layers 4] [--heads 4] [--context 128] [--new 96] [--threads 1] [--reps 2]
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { gptParams } from '../dist/graph/gpt.js';
import { CharTokenizer } from '../dist/rft/lm/tokenizer.js';
import { createGenerator } from '../dist/rft/lm/generate.js';

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

const py = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
if (py.status !== 0) console.log('PyTorch eager: skipped (python3 torch not installed)');
else console.log('PyTorch eager: torch is installed, but no PyTorch generation baseline is implemented yet');
