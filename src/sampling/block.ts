/**
 * One block of a sampling job on the calling thread, the same in the scheduler's thread and
 * in pool workers: the kernel's sampleRows, or, for a JS log-density target, propose, evaluate
 * the target in JS, accept.
 */
import type { Kernel } from './kernel-types.js';
import type { LogDensityFn } from './resolve.js';
import { blockStart, budgetOf, rowsOf, type Layout } from './layout.js';
import { CTL, NO_LEASE, STATS, outRows, publishBlock, slotLeaseWord, slotRows, waitForLease, type RingView } from './ring.js';

/** Runs blocks of one run; each call returns the block's stats. */
export interface BlockRunner {
  /**
   * block `block` into `dest` (room for its rows); `plainStores`: dest is a slot read right
   * away, or new memory (kernel-types.ts sampleRows' readSoon)
   */
  into(block: number, dest: Float64Array, plainStores: boolean): Float64Array;
  /**
   * block `block` into the lent output `lease` (kernel-types.ts) from its number `at` on, or
   * null without running it when the lease has ended; the runner is null when it cannot write
   * through one
   */
  lent: ((block: number, lease: number, at: number) => Float64Array | null) | null;
}

/**
 * Proposals of a JS-density block beyond which it fails rather than allocate more: its
 * proposals are all held at once (the kernel's streams cannot resume from JS), 400 MB at d = 1.
 */
const EXTERNAL_MAX_PROPOSALS = 2 ** 24;

export function blockRunner(kernel: Kernel, job: Float64Array, seed: number, layout: Layout, d: number, fn: LogDensityFn | null): BlockRunner {
  if (fn) {
    return { into: (block, dest) => externalBlock(kernel, job, seed, d, fn, block, rowsOf(layout, block), budgetOf(layout, block), dest), lent: null };
  }
  const leases = kernel.leases;
  return {
    into: (block, dest, plainStores) => kernel.sampleRows(job, seed, block, rowsOf(layout, block), budgetOf(layout, block), dest, plainStores),
    lent: leases
      ? (block, lease, at) => leases.sampleRowsLent(job, seed, block, rowsOf(layout, block), budgetOf(layout, block), lease, at)
      : null,
  };
}

/**
 * A block of a JS log-density target: the first `rows` accepted rows of the block's stream, as
 * sampleRows defines them. The stream cannot resume from JS, so proposals are drawn from its
 * start for a doubling count until enough are accepted; only the new ones are evaluated in JS.
 */
function externalBlock(kernel: Kernel, job: Float64Array, seed: number, d: number, fn: LogDensityFn, block: number, rows: number, budget: number, dest: Float64Array): Float64Array {
  let n = Math.min(budget, Math.max(1024, 2 * rows));
  let logp = new Float64Array(0); // of the proposals evaluated so far, the first `done`
  let done = 0;
  for (;;) {
    if (n > EXTERNAL_MAX_PROPOSALS) {
      throw new Error(
        `block ${block} of a JS log-density target needs more than ${EXTERNAL_MAX_PROPOSALS} proposals for its ${rows} rows; ` +
          'use a smaller blockRows or a proposal closer to the target',
      );
    }
    const xs = new Float64Array(n * d); // all n proposals are drawn again
    const logq = new Float64Array(n);
    kernel.proposeBlock(job, seed, block, n, xs, logq);
    const grown = new Float64Array(n);
    grown.set(logp);
    fn(xs.subarray(done * d), grown.subarray(done), d);
    [logp, done] = [grown, n];
    const kept = new Float64Array(n * d);
    const stats = kernel.acceptBlock(job, seed, block, xs, logq, logp, kept);
    if (stats[0] >= rows || n >= budget) {
      dest.set(kept.subarray(0, Math.min(rows, stats[0]) * d));
      return stats;
    }
    n = Math.min(budget, 2 * n);
  }
}

/**
 * Runs claimed block b for the ring and publishes it: straight into the run's output when this
 * thread can write it (it is this thread's, or shared), else into the array of its own that
 * the slot's lease word names (a stream's), else through the output's lease while the calling
 * thread lends it (waiting for the next lease while it does not), else into the block's ring
 * slot. Returns false, the block unpublished, when the run stopped before it could be written.
 */
export function runRingBlock(v: RingView, run: BlockRunner, b: number): boolean {
  const s = b % v.slots;
  let stats: Float64Array | null = null;
  const own = v.out ? NO_LEASE : Atomics.load(v.ctl, slotLeaseWord(v.slots, s));
  if (v.out) stats = run.into(b, outRows(v, b), v.freshOut);
  else if (own > 0) {
    if (!run.lent) throw new Error('internal: a lent array, but a block runner that cannot write one');
    // (its lease ends before the block is published only when the run stops)
    stats = run.lent(b, own, 0);
    if (!stats) return false;
  } else {
    for (let lease = Atomics.load(v.ctl, CTL.LEASE); lease !== NO_LEASE; lease = Atomics.load(v.ctl, CTL.LEASE)) {
      if (lease > 0) {
        if (!run.lent) throw new Error('internal: a lent output, but a block runner that cannot write one');
        stats = run.lent(b, lease, blockStart(v.layout, v.d, b));
        if (stats) break;
      }
      if (!waitForLease(v.ctl, lease)) return false;
    }
  }
  const inOut = stats !== null;
  stats ??= run.into(b, slotRows(v, s), true);
  v.stats.set(stats, s * STATS);
  publishBlock(v, b, inOut);
  return true;
}
