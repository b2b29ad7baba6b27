/**
 * One block of a sampling job on the calling thread, the same in the scheduler's thread and
 * in pool workers: the kernel's whole-block path, or, for a JS log-density target, propose,
 * evaluate the target in JS, accept.
 */
import type { Kernel } from './kernel-types.js';
import type { LogDensityFn } from './resolve.js';
import { STATS, publishBlock, slotRows, type RingView } from './ring.js';
import { inSituDest, isPlacing, markInSitu, placeReady } from './place.js';

/** Runs block `block` into `dest` (room for every proposal) and returns its stats. */
export type BlockRunner = (block: number, dest: Float64Array) => Float64Array;

export function blockRunner(kernel: Kernel, job: Float64Array, seed: number, nProposals: number, d: number, fn: LogDensityFn | null): BlockRunner {
  if (!fn) return (block, dest) => kernel.sampleBlock(job, seed, block, nProposals, dest);
  const xs = new Float64Array(nProposals * d), logq = new Float64Array(nProposals), logp = new Float64Array(nProposals);
  return (block, dest) => {
    kernel.proposeBlock(job, seed, block, nProposals, xs, logq);
    fn(xs, logp, d);
    return kernel.acceptBlock(job, seed, block, xs, logq, logp, dest);
  };
}

/**
 * Runs claimed block b for the ring: into its slot, or straight into a shared output when it
 * is the next block to place there; then publishes it and, with a shared output, places every
 * block that has become placeable.
 */
export function runRingBlock(v: RingView, run: BlockRunner, b: number): void {
  const s = b % v.slots;
  const inSitu = isPlacing(v) ? inSituDest(v, b) : null;
  v.stats.set(run(b, inSitu ?? slotRows(v, s)), s * STATS);
  if (isPlacing(v)) {
    if (inSitu) markInSitu(v, b);
    publishBlock(v.ctl, v.slots, b);
    placeReady(v);
  } else {
    publishBlock(v.ctl, v.slots, b);
  }
}
