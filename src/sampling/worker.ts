/**
 * Piscina worker: one task per worker per pooled run. It claims blocks from the run's shared
 * ring (ring.ts) until the run stops or the claim limit stands still for IDLE_WAIT_MS, writing each block's accepted rows
 * and stats into the block's ring slot, or with a shared output, placing them there
 * (place.ts). Returns how many blocks it ran.
 */
import { kernelByName } from './kernel.js';
import { importLogDensity, type LogDensityFn } from './resolve.js';
import { claimBlock, ringView, waitForClaims, type RingBuffers } from './ring.js';
import { blockRunner, runRingBlock } from './block.js';

export interface ClaimTask {
  kernel: 'native' | 'js';
  job: Float64Array;
  seed: number;
  nProposals: number;
  d: number;
  ring: RingBuffers;
  /** the run's output when it is shared memory: finished blocks are placed into it here too */
  sharedOut: Float64Array | null;
  external: { url: string; exportName: string } | null;
}

/**
 * How long a task waits for the claim limit to move before it returns: far longer than the
 * calling thread takes to yield a block (so a run's task does not end and restart whenever it
 * gets a ring ahead), short enough that a consumer that stopped pulling frees the thread soon.
 */
const IDLE_WAIT_MS = 5;

const fns = new Map<string, LogDensityFn>();

async function externalFn(ext: NonNullable<ClaimTask['external']>): Promise<LogDensityFn> {
  const key = `${ext.url}#${ext.exportName}`;
  let fn = fns.get(key);
  if (!fn) {
    fn = await importLogDensity(ext.url, ext.exportName);
    fns.set(key, fn);
  }
  return fn;
}

export default async function claimBlocks(task: ClaimTask): Promise<number> {
  const fn = task.external ? await externalFn(task.external) : null;
  const kernel = kernelByName(task.kernel);
  const run = blockRunner(kernel, task.job, task.seed, task.nProposals, task.d, fn);
  const ring = ringView(task.ring, task.nProposals, task.d, task.sharedOut, kernel.copyRows);
  let ran = 0;
  for (;;) {
    const b = claimBlock(ring.ctl);
    if (b >= 0) {
      runRingBlock(ring, run, b);
      ran++;
    } else if (!waitForClaims(ring.ctl, IDLE_WAIT_MS)) {
      return ran;
    }
  }
}
