// Median-of-repeats timing with tinybench: the machine is shared and noisy, so we quote
// medians and ratios measured in the same run, never absolute thresholds.
import { Bench } from 'tinybench';
import { sample } from '../dist/index.js';
import { median, ratioSpread } from './stats.js';

/** Median accepted samples per second of sample() for one configuration. */
export async function acceptedPerSecond(task, { n, workers, kernel, iterations = 7 }) {
  const out = new Float64Array(n);
  const bench = new Bench({ time: 0, iterations, warmupIterations: 2, warmupTime: 0 });
  bench.add('run', async () => {
    await sample({ target: task.target, proposal: task.proposal, M: task.M, n, seed: 7, workers, kernel, out });
  });
  await bench.run();
  const t = bench.tasks[0].result;
  if (!t || t.error) throw t?.error ?? new Error('benchmark failed');
  const p50ms = t.latency.p50;
  return n / (p50ms / 1000);
}

export function fmtRate(r) {
  return `${(r / 1e6).toFixed(1)} M/s`;
}

/**
 * One worker against `workers` workers on the same task, alternating in `rounds` rounds (each
 * round: three calls of each, in alternating order) so both see the same machine load. Returns
 * the median rates, the median and range of the per-round speed-ups, and `best`, the fastest
 * one-worker call over the fastest many-worker call: what the pool gets when the VM does not
 * take a vCPU away mid-call (on these shared VMs the medians move with the neighbours' load).
 * `shared`: the output is backed by a SharedArrayBuffer, which pool workers fill themselves
 * (one worker writes it exactly as it writes a plain one).
 */
const WARM_UP_MS = 500;

export async function workerScaling(task, { n, workers, kernel, rounds = 7, shared = false }) {
  const out = shared ? new Float64Array(new SharedArrayBuffer(n * 8)) : new Float64Array(n);
  const once = async (w) => {
    const t0 = performance.now();
    await sample({ target: task.target, proposal: task.proposal, M: task.M, n, seed: 7, workers: w, kernel, out });
    return performance.now() - t0;
  };
  // Warm-up: the pool's start, first touch of the output, and then the JIT of the pool
  // thread's code: the first pooled cell of a process had rounds at half speed for ~0.2 s
  // after the pool started (worst rounds 0.4-0.9x against 1.5-1.8x in later cells).
  const warmUntil = performance.now() + WARM_UP_MS;
  for (let i = 0; i < 2 || performance.now() < warmUntil; i++) await once(1), await once(workers);
  const one = [], many = [], ratios = [];
  let fastestOne = Infinity, fastestMany = Infinity;
  for (let r = 0; r < rounds; r++) {
    const a = [], b = [];
    for (let k = 0; k < 3; k++) {
      if ((r + k) % 2) a.push(await once(1)), b.push(await once(workers));
      else b.push(await once(workers)), a.push(await once(1));
    }
    one.push(median(a));
    many.push(median(b));
    ratios.push(median(a) / median(b));
    fastestOne = Math.min(fastestOne, ...a);
    fastestMany = Math.min(fastestMany, ...b);
  }
  return { one: n / (median(one) / 1000), many: n / (median(many) / 1000), ...ratioSpread(ratios), best: fastestOne / fastestMany };
}
