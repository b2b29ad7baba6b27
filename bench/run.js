#!/usr/bin/env node
// npm run bench: accepted samples per second for T1, T2, T3 and a custom expression, on one
// worker (native and js kernels), then all cores against one worker for two call sizes and
// both kinds of output. Medians of repeated runs; one worker and all cores alternate in rounds,
// and the scaling is the median of the per-round ratios, beside the ratio of the fastest calls.
import { availableParallelism } from 'node:os';
import { closePools, nativeInfo } from '../dist/index.js';
import { tasks } from './tasks.js';
import { acceptedPerSecond, fmtRate, workerScaling } from './measure.js';
import { fmtSpread } from './stats.js';
import { bareScaling } from './bare-scaling.js';

const cores = availableParallelism();
const native = nativeInfo();
const nNative = Number(process.env.BENCH_N ?? 1e6);
const nJs = Math.round(nNative / 5);
console.log(`rsft bench: ${cores} cores, native kernel ${native ? `(${native.simd})` : 'unavailable'}, n = ${nNative} (js: ${nJs}), median of 7\n`);

const rows = [];
for (const task of tasks) {
  const row = { task: task.name };
  if (native) row.native1 = await acceptedPerSecond(task, { n: nNative, workers: 1, kernel: 'native' });
  row.js1 = await acceptedPerSecond(task, { n: nJs, workers: 1, kernel: 'js', iterations: 5 });
  rows.push(row);
}

console.log('| task | native, 1 worker | js, 1 worker | native / js |');
console.log('| --- | --- | --- | --- |');
for (const r of rows) {
  const vsJs = r.native1 ? `${(r.native1 / r.js1).toFixed(1)}x` : '-';
  console.log(`| ${r.task} | ${r.native1 ? fmtRate(r.native1) : '-'} | ${fmtRate(r.js1)} | ${vsJs} |`);
}

// All cores against one worker, per call size and kind of output: the pool's fixed cost per
// call (a futex wake, the last block's tail) weighs more on short calls; a plain output is
// lent to the pool threads between the calling thread's awaits (native/src/lease.rs,
// src/sampling/scheduler.ts), a shared one they write directly. The first column is the
// machine's own ceiling at that moment: the bare kernel on two threads (bare-scaling.js).
/**
 * Rounds for short calls: seven rounds of 2 ms calls last ~0.15 s, within one of this VM's
 * slow phases (a neighbour's burst); more rounds spread a cell over several.
 */
const SHORT_ROUNDS = 21;

if (native && cores > 1) {
  const sizes = (process.env.BENCH_SCALING_N ?? `${nNative},${nNative * 10}`).split(',').map(Number);
  console.log(`\nall cores (${cores}) vs one worker, native: median of the per-round ratios over alternating rounds (range; ${SHORT_ROUNDS} rounds for calls up to 10^6 rows, 7 above), and the ratio of the fastest calls\n`);
  console.log(`| task | bare kernel, 2 threads | ${sizes.flatMap((n) => [`n = ${n.toExponential(0)}, plain out`, `n = ${n.toExponential(0)}, shared out`]).join(' | ')} |`);
  console.log(`| --- | --- | ${sizes.flatMap(() => ['---', '---']).join(' | ')} |`);
  for (const task of tasks) {
    const bare = await bareScaling(task);
    const cells = [bare ? fmtSpread(bare) : '-'];
    for (const n of sizes) {
      for (const shared of [false, true]) {
        const s = await workerScaling(task, { n, workers: cores, kernel: 'native', shared, rounds: n <= 1e6 ? SHORT_ROUNDS : 7 });
        cells.push(`${fmtSpread(s)}, ${fmtRate(s.many)}`);
      }
    }
    console.log(`| ${task.name} | ${cells.join(' | ')} |`);
  }
}
await closePools();
