#!/usr/bin/env node
// npm run bench:peers (training part): PyTorch doing the identical training step — same MLP,
// torch.optim.AdamW (weight decay on weights, not biases), cross-entropy on logits, float32,
// batch 256, same thread count via torch.set_num_threads — in the same run as rsft's step,
// and the ratio. Skips with a message when no python3 with torch is installed (Debian:
// python3-torch; with the reference libblas3 its matmuls are ~10x slower, so install an
// optimized BLAS such as libopenblas0-pthread for a fair peer; the BLAS in use is printed).
// BENCH_TRAIN_ROUNDS (default 5) sets the number of alternating rounds per row.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { CONFIGS, BATCH, stepMs } from './train.js';
import { median, ratioSpread } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.env.BENCH_TRAIN_QUICK === '1';
// Targets from the training-engine issue: our step time <= this fraction of PyTorch's.
const TARGET = { '100-50-10': 0.8, '784-1024-1024-10': 0.5 };

function findTorch() {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return py;
  }
  return null;
}

function torchStep(py, sizes, threads, iters) {
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const r = spawnSync(py, [join(here, 'train_peers.py'), sizes.join('-'), String(BATCH), String(threads), String(iters)], { encoding: 'utf8', env, maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`train_peers.py failed: ${r.stderr || r.stdout}`);
  return JSON.parse(r.stdout);
}

const py = findTorch();
if (!py) {
  console.log('\nbench:peers (training): no python3 with torch found (install python3-torch); skipping the PyTorch comparison');
  process.exit(0);
}
const cores = availableParallelism();
const threadSets = cores > 1 ? [1, cores] : [1];
// The machine is shared and noisy: rsft and PyTorch alternate in ROUNDS short rounds per row
// (so both see the same load), each round's ratio is taken within the round, and the table
// shows medians over rounds with the range of the per-round ratios.
const ROUNDS = quick ? 1 : Number(process.env.BENCH_TRAIN_ROUNDS ?? 5);
const rows = [];
let info = null;
for (const c of CONFIGS) {
  for (const t of threadSets) {
    const iters = quick ? 5 : c.stepIters;
    const ours = [], theirs = [], ratios = [];
    for (let r = 0; r < ROUNDS; r++) {
      const o = (await stepMs(c.sizes, t, iters)).p50;
      const p = torchStep(py, c.sizes, t, quick ? 5 : Math.max(iters, 20));
      info ??= p;
      ours.push(o);
      theirs.push(p.ms);
      ratios.push(o / p.ms);
    }
    rows.push({ name: c.name, threads: t, ours: median(ours), torch: median(theirs), ...ratioSpread(ratios) });
  }
}
console.log(`\ntraining step vs PyTorch ${info.torch} (${py}, Python ${info.python}, BLAS ${info.blas}): MLP, AdamW, batch ${BATCH}; medians over ${ROUNDS} alternating round${ROUNDS === 1 ? '' : 's'} of both, same run\n`);
console.log('| model | threads | rsft ms/step | PyTorch ms/step | rsft / PyTorch (median, range over rounds) | target |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  const target = TARGET[r.name];
  const range = ROUNDS > 1 ? ` (${r.lo.toFixed(2)}-${r.hi.toFixed(2)})` : '';
  console.log(`| ${r.name} | ${r.threads} | ${r.ours.toFixed(2)} | ${r.torch.toFixed(2)} | ${r.ratio.toFixed(2)}x${range} | <= ${target}x ${r.ratio <= target ? '(met)' : '(not met)'} |`);
}
