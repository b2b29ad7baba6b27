/**
 * The shared block ring between the calling thread and the pool workers of one pooled run.
 *
 * Nobody gets blocks assigned: each pool worker runs one long task, and the calling thread
 * works between its other duties, claiming the next block number from a shared counter,
 * writing the block's accepted rows into ring slot b % slots and publishing b in that slot's
 * tag, ringing a doorbell the calling thread may be waiting on. The calling thread
 * consumes blocks strictly in block order and moves the claim limit forward as it frees
 * slots. So load balances itself to within one block, a run costs one message per worker
 * instead of one per task, and a slow consumer makes workers stop (their task returns)
 * instead of blocking a pool thread.
 *
 * Ring safety: a block b may be claimed only while b < LIMIT, and LIMIT never exceeds
 * consumed + slots; consumed only grows, so the slot a claim writes is never one the main
 * thread still reads. LIMIT may also shrink (fewer blocks needed than estimated); a claim that
 * read the larger value is still ring-safe by the argument above and only wastes work.
 */

/** Int32 indices of the control words. */
export const CTL = {
  /** next block number to claim */
  NEXT: 0,
  /** claims must stay below this block number */
  LIMIT: 1,
  /** completion doorbell: incremented and notified after every finished block */
  DONE: 2,
  /** nonzero: claim nothing more */
  STOP: 3,
  /** slot s's tag (the block whose rows it holds, -1 when empty) is at TAGS + s */
  TAGS: 4,
} as const;

/** Numbers of per-block stats: [accepted, proposals, violations, maxLogRatio, nonFinite]. */
export const STATS = 5;

export interface RingBuffers {
  slots: number;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  rows: SharedArrayBuffer;
}

export function ctlBytes(slots: number): number {
  return (CTL.TAGS + slots) * 4;
}

/** Claims the next block below LIMIT, or returns -1 when there is none (or STOP is set). */
export function claimBlock(ctl: Int32Array): number {
  for (;;) {
    if (Atomics.load(ctl, CTL.STOP) !== 0) return -1;
    const b = Atomics.load(ctl, CTL.NEXT);
    if (b >= Atomics.load(ctl, CTL.LIMIT)) return -1;
    if (Atomics.compareExchange(ctl, CTL.NEXT, b, b + 1) === b) return b;
  }
}

/** Publishes block b as finished in its slot and rings the doorbell. */
export function publishBlock(ctl: Int32Array, slots: number, b: number): void {
  Atomics.store(ctl, CTL.TAGS + (b % slots), b);
  Atomics.add(ctl, CTL.DONE, 1);
  Atomics.notify(ctl, CTL.DONE);
}
