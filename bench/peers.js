#!/usr/bin/env node
// npm run bench:peers: numpy (vectorized rejection) and scipy (UNU.RAN) on the same tasks, in
// the same run as rsft's native kernel on one worker; prints the ratios. Skips cleanly when no
// python3 with numpy is installed (Debian: python3-numpy python3-scipy).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { closePools, nativeInfo } from '../dist/index.js';
import { tasks } from './tasks.js';
import { acceptedPerSecond, fmtRate, workerScaling } from './measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const n = Number(process.env.BENCH_N ?? 1e6);

function runPython() {
  for (const py of ['python3', '/usr/bin/python3']) {
    const probe = spawnSync(py, ['-c', 'import numpy'], { encoding: 'utf8' });
    if (probe.status !== 0) continue;
    const r = spawnSync(py, [join(here, 'peers.py'), String(n), '7'], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`peers.py failed: ${r.stderr}`);
    return { py, ...JSON.parse(r.stdout) };
  }
  return null;
}

const peers = runPython();
if (!peers) {
  console.log('bench:peers: no python3 with numpy found (install python3-numpy python3-scipy); skipping the peer comparison');
  process.exit(0);
}
const native = nativeInfo();
const kernel = native ? 'native' : 'js';
console.log(`peers: ${peers.py} (Python ${peers.python}), numpy ${peers.numpy}, scipy ${peers.scipy ?? 'absent'}; rsft ${kernel}${native ? ` (${native.simd})` : ''}; n = ${n}, medians\n`);

const targets = { T1: { numpy: 4 }, T2: { numpy: 6, 'scipy:pinv:T2': 2 }, T3: { numpy: 2 }, custom: { numpy: 2 } };
console.log('| task | rsft, 1 worker | numpy | rsft / numpy | scipy | rsft / scipy | target |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
const cores = availableParallelism();
const scaling = [];
for (const task of tasks) {
  const ours = await acceptedPerSecond(task, { n, workers: 1, kernel });
  const np = peers.rates[`numpy:${task.name}`];
  const sp = Object.entries(peers.rates).filter(([k]) => k.startsWith('scipy:') && k.endsWith(`:${task.name}`));
  const best = sp.sort((a, b) => b[1] - a[1])[0];
  const t = targets[task.name];
  const want = Object.entries(t).map(([k, v]) => `${v}x ${k === 'numpy' ? 'numpy' : k.split(':')[1]}`).join(', ');
  console.log(`| ${task.name} | ${fmtRate(ours)} | ${fmtRate(np)} | ${(ours / np).toFixed(2)}x | ${best ? `${best[0].slice(6)} ${fmtRate(best[1])}` : '-'} | ${best ? `${(ours / best[1]).toFixed(2)}x` : '-'} | ${want} |`);
  if (cores > 1) scaling.push([task.name, await workerScaling(task, { n, workers: cores, kernel })]);
}
if (scaling.length) {
  console.log(`\nall cores (${cores}) vs one worker, median of alternating rounds (range): ${scaling.map(([k, s]) => `${k} ${s.ratio.toFixed(2)}x (${s.lo.toFixed(2)}-${s.hi.toFixed(2)})`).join(', ')} (target >= 1.8x)`);
}
await closePools();
