#!/usr/bin/env node
// npm run bench:peers: numpy (vectorized rejection) and scipy (UNU.RAN) on the same tasks,
// alternating with rsft's native kernel on one worker; prints the ratios. Skips cleanly when no
// python3 with numpy is installed (Debian: python3-numpy python3-scipy).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { closePools, nativeInfo } from '../dist/index.js';
import { tasks } from './tasks.js';
import { acceptedPerSecond, fmtRate, workerScaling } from './measure.js';
import { fmtSpread, median, ratioSpread } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));
const n = Number(process.env.BENCH_N ?? 1e6);
// The machine is shared and noisy: the peers and rsft alternate in ROUNDS rounds (each round
// runs peers.py once, then rsft on every task), each round's ratios are taken within the round,
// and the table shows medians over rounds with the range of the per-round ratios.
const ROUNDS = Number(process.env.BENCH_PEER_ROUNDS ?? 5);

function findPython() {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0) return py;
  }
  return null;
}

function runPython(py) {
  const r = spawnSync(py, [join(here, 'peers.py'), String(n), '5'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`peers.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const spread = (a) => fmtSpread(ratioSpread(a));

const py = findPython();
if (!py) {
  console.log('bench:peers: no python3 with numpy found (install python3-numpy python3-scipy); skipping the peer comparison');
  process.exit(0);
}
const native = nativeInfo();
const kernel = native ? 'native' : 'js';
const targets = { T1: { numpy: 4 }, T2: { numpy: 6, 'scipy:pinv:T2': 2 }, T3: { numpy: 2 }, custom: { numpy: 2 } };
/** per task: rsft rates, numpy rates, best scipy key and rates, ratios per round */
const rows = Object.fromEntries(tasks.map((t) => [t.name, { ours: [], np: [], sp: [], spKey: null, vsNp: [], vsSp: [] }]));
let info = null;
for (let r = 0; r < ROUNDS; r++) {
  const peers = runPython(py);
  info ??= peers;
  for (const task of tasks) {
    const row = rows[task.name];
    const ours = await acceptedPerSecond(task, { n, workers: 1, kernel, iterations: 5 });
    const np = peers.rates[`numpy:${task.name}`];
    const best = Object.entries(peers.rates).filter(([k]) => k.startsWith('scipy:') && k.endsWith(`:${task.name}`)).sort((x, y) => y[1] - x[1])[0];
    row.ours.push(ours);
    row.np.push(np);
    row.vsNp.push(ours / np);
    if (best) {
      row.spKey = best[0].slice(6, -(task.name.length + 1));
      row.sp.push(best[1]);
      row.vsSp.push(ours / best[1]);
    }
  }
}
console.log(`peers: ${py} (Python ${info.python}), numpy ${info.numpy}, scipy ${info.scipy ?? 'absent'}; rsft ${kernel}${native ? ` (${native.simd})` : ''}; n = ${n}; medians over ${ROUNDS} alternating round${ROUNDS === 1 ? '' : 's'} (range of the per-round ratios)\n`);
console.log('| task | rsft, 1 worker | numpy | rsft / numpy | scipy | rsft / scipy | target |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const task of tasks) {
  const r = rows[task.name];
  const want = Object.entries(targets[task.name]).map(([k, v]) => `${v}x ${k === 'numpy' ? 'numpy' : k.split(':')[1]}`).join(', ');
  const sp = r.sp.length ? [`${r.spKey} ${fmtRate(median(r.sp))}`, spread(r.vsSp)] : ['-', '-'];
  console.log(`| ${task.name} | ${fmtRate(median(r.ours))} | ${fmtRate(median(r.np))} | ${spread(r.vsNp)} | ${sp[0]} | ${sp[1]} | ${want} |`);
}
const cores = availableParallelism();
if (cores > 1) {
  for (const shared of [false, true]) {
    const scaling = [];
    for (const task of tasks) scaling.push([task.name, await workerScaling(task, { n, workers: cores, kernel, shared })]);
    console.log(`${shared ? '' : '\n'}all cores (${cores}) vs one worker, ${shared ? 'shared' : 'plain'} out, median of alternating rounds (range): ${scaling.map(([k, s]) => `${k} ${fmtSpread(s)}`).join(', ')} (target >= 1.8x)`);
  }
}
await closePools();
