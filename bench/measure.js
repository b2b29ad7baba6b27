// Median-of-repeats timing with tinybench: the machine is shared and noisy, so we quote
// medians and ratios measured in the same run, never absolute thresholds.
import { Bench } from 'tinybench';
import { sample } from '../dist/index.js';

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
