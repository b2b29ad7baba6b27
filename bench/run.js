#!/usr/bin/env node
// npm run bench: accepted samples per second for T1, T2, T3 and a custom expression, on one
// worker and on all cores, native and js kernels. Medians of repeated runs; one worker and all
// cores alternate in rounds, and the scaling is the median of the per-round ratios.
import { availableParallelism } from 'node:os';
import { closePools, nativeInfo } from '../dist/index.js';
import { tasks } from './tasks.js';
import { acceptedPerSecond, fmtRate, workerScaling } from './measure.js';

const cores = availableParallelism();
const native = nativeInfo();
const nNative = Number(process.env.BENCH_N ?? 1e6);
const nJs = Math.round(nNative / 5);
console.log(`rsft bench: ${cores} cores, native kernel ${native ? `(${native.simd})` : 'unavailable'}, n = ${nNative} (js: ${nJs}), median of 7\n`);

const rows = [];
for (const task of tasks) {
  const row = { task: task.name };
  if (native) {
    if (cores > 1) {
      const s = await workerScaling(task, { n: nNative, workers: cores, kernel: 'native' });
      Object.assign(row, { native1: s.one, nativeAll: s.many, scale: `${s.ratio.toFixed(2)}x (${s.lo.toFixed(2)}-${s.hi.toFixed(2)})` });
    } else {
      row.native1 = await acceptedPerSecond(task, { n: nNative, workers: 1, kernel: 'native' });
    }
  }
  row.js1 = await acceptedPerSecond(task, { n: nJs, workers: 1, kernel: 'js', iterations: 5 });
  rows.push(row);
}
await closePools();

console.log(`| task | native, 1 worker | native, ${cores} workers | scaling (median, range over rounds) | js, 1 worker | native / js |`);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  const scale = r.scale ?? '-';
  const vsJs = r.native1 ? `${(r.native1 / r.js1).toFixed(1)}x` : '-';
  console.log(`| ${r.task} | ${r.native1 ? fmtRate(r.native1) : '-'} | ${r.nativeAll ? fmtRate(r.nativeAll) : '-'} | ${scale} | ${fmtRate(r.js1)} | ${vsJs} |`);
}
