// The machine's own two-thread ceiling for a task: the native kernel run on the calling thread
// alone, then on it and a worker thread at once (separate buffers, no scheduler, no copies),
// alternating in rounds. The pooled sampler cannot scale better than this; on the shared
// 2-vCPU VMs here it moves between ~1.5x and ~2x from minute to minute, so the scaling table
// prints it beside the sampler's.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { loadNative } from '../dist/sampling/native.js';
import { makePlan } from '../dist/sampling/resolve.js';
import { getKernel } from '../dist/sampling/kernel.js';
import { ratioSpread } from './stats.js';

const BLOCK = 65536;

function loop(kernel, job, blocks, buf) {
  const t0 = performance.now();
  for (let b = 0; b < blocks; b++) kernel.sampleBlock(job, 7, b, BLOCK, buf);
  return performance.now() - t0;
}

if (!isMainThread && workerData?.bareScaling) {
  const { job, blocks } = workerData;
  const kernel = loadNative();
  const buf = new Float64Array(BLOCK);
  parentPort.on('message', () => parentPort.postMessage(loop(kernel, job, blocks, buf)));
}

/** Median (and range) over rounds of 2 x (time alone) / (time of both at once), and the same of the fastest rounds. */
export async function bareScaling(task, { blocks = 40, rounds = 7 } = {}) {
  const kernel = loadNative();
  if (!kernel) return null;
  const plan = await makePlan({ target: task.target, proposal: task.proposal, M: task.M, onViolation: 'error' }, getKernel('native'));
  const w = new Worker(new URL(import.meta.url), { workerData: { bareScaling: true, job: plan.job, blocks } });
  const runWorker = () => new Promise((resolve) => { w.once('message', resolve); w.postMessage(0); });
  const buf = new Float64Array(BLOCK);
  try {
    await runWorker();
    loop(kernel, plan.job, blocks, buf);
    const ratios = [];
    let fastestAlone = Infinity, fastestBoth = Infinity;
    for (let r = 0; r < rounds; r++) {
      const alone = loop(kernel, plan.job, blocks, buf);
      const theirs = runWorker();
      const mine = loop(kernel, plan.job, blocks, buf);
      const both = Math.max(mine, await theirs);
      ratios.push((2 * alone) / both);
      fastestAlone = Math.min(fastestAlone, alone);
      fastestBoth = Math.min(fastestBoth, both);
    }
    return { ...ratioSpread(ratios), best: (2 * fastestAlone) / fastestBoth };
  } finally {
    await w.terminate();
  }
}
