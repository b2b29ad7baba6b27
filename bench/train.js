#!/usr/bin/env node
// npm run bench (training part): ms per training step (forward + backward + AdamW in one ONNX
// graph) at batch 256 for MLP 100-50-10 and 784-1024-1024-10, on 1 thread and on all cores, and
// examples/s of fit() over a whole dataset. Medians of repeated runs (tinybench); the machine is
// shared and noisy, so compare ratios measured in the same run, not absolute numbers.
//
// BENCH_TRAIN_QUICK=1 runs fewer iterations (a smoke test of the harness).
import { availableParallelism } from 'node:os';
import { Bench } from 'tinybench';
import { models, Trainer } from '../dist/train/index.js';

export const CONFIGS = [
  { name: '100-50-10', sizes: [100, 50, 10], stepIters: 1000, fitN: 65536 },
  { name: '784-1024-1024-10', sizes: [784, 1024, 1024, 10], stepIters: 20, fitN: 8192 },
];
export const BATCH = 256;
const quick = process.env.BENCH_TRAIN_QUICK === '1';

/** Deterministic inputs and labels (values do not matter for timing, only finiteness). */
export function randomBatch(n, inputs, classes, seed = 1) {
  let a = seed >>> 0;
  const x = new Float32Array(n * inputs);
  const y = new Int32Array(n);
  for (let i = 0; i < x.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    x[i] = a / 2 ** 32 - 0.5;
  }
  for (let i = 0; i < n; i++) y[i] = i % classes;
  return { x, y };
}

export async function makeTrainer(sizes, threads) {
  const model = models.mlp({ sizes, activation: 'relu', seed: 0 });
  return Trainer.create({ model, loss: 'softmax_cross_entropy', optimizer: { type: 'adamw', lr: 1e-3, weightDecay: 0.01 }, batchSize: BATCH, threads });
}

/** Median ms of one trainer.step at batch 256 (after warm-up). */
export async function stepMs(sizes, threads, iterations) {
  const trainer = await makeTrainer(sizes, threads);
  try {
    const batch = randomBatch(BATCH, sizes[0], sizes[sizes.length - 1]);
    const bench = new Bench({ time: 0, iterations: quick ? Math.min(iterations, 5) : iterations, warmupIterations: quick ? 1 : Math.max(3, iterations / 10), warmupTime: 0 });
    bench.add('step', async () => {
      await trainer.step(batch);
    });
    await bench.run();
    const r = bench.tasks[0].result;
    if (!r || r.error) throw r?.error ?? new Error('benchmark failed');
    return { p50: r.latency.p50, p25: r.latency.p25 ?? null, p75: r.latency.p75 ?? null };
  } finally {
    await trainer.close();
  }
}

/** Median examples/s of fit() over n examples for one epoch (staging of the data included). */
async function fitRate(sizes, threads, n, iterations) {
  const trainer = await makeTrainer(sizes, threads);
  try {
    const data = randomBatch(n, sizes[0], sizes[sizes.length - 1], 2);
    let epochs = 0;
    const bench = new Bench({ time: 0, iterations: quick ? 1 : iterations, warmupIterations: 1, warmupTime: 0 });
    bench.add('fit', async () => {
      epochs++;
      await trainer.fit({ x: data.x, y: data.y, epochs, shuffleSeed: 1 });
    });
    await bench.run();
    const r = bench.tasks[0].result;
    if (!r || r.error) throw r?.error ?? new Error('benchmark failed');
    return n / (r.latency.p50 / 1000);
  } finally {
    await trainer.close();
  }
}

const fmtMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const fmtRate = (r) => (r >= 1e6 ? `${(r / 1e6).toFixed(2)} M/s` : `${(r / 1e3).toFixed(1)} k/s`);

async function main() {
  const cores = availableParallelism();
  const threadSets = cores > 1 ? [1, cores] : [1];
  console.log(`\nrsft train bench: MLP step (forward + backward + AdamW, one ONNX graph) at batch ${BATCH}, ${cores} cores, medians${quick ? ' (quick)' : ''}\n`);
  const head = ['model', ...threadSets.map((t) => `ms/step, ${t} thread${t === 1 ? '' : 's'}`), ...threadSets.map((t) => `fit examples/s, ${t} thread${t === 1 ? '' : 's'}`)];
  console.log(`| ${head.join(' | ')} |`);
  console.log(`| ${head.map(() => '---').join(' | ')} |`);
  for (const c of CONFIGS) {
    const ms = [];
    for (const t of threadSets) ms.push((await stepMs(c.sizes, t, c.stepIters)).p50);
    const rates = [];
    for (const t of threadSets) rates.push(await fitRate(c.sizes, t, quick ? Math.min(c.fitN, 4096) : c.fitN, 3));
    console.log(`| ${c.name} | ${ms.map(fmtMs).join(' | ')} | ${rates.map(fmtRate).join(' | ')} |`);
  }
  console.log('\n(fit: one epoch over N random examples per timed run, 65536 for the small MLP, 8192 for the big one; includes staging the data)');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
