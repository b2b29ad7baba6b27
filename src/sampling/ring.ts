/**
 * The shared block ring between the calling thread and the pool workers of one pooled run.
 *
 * Nobody gets blocks assigned: each pool worker is handed the run once (crew.ts), and the
 * calling thread works between its other duties, claiming the next block number from a shared
 * counter, writing the block's accepted rows into ring slot b % slots and publishing b in that
 * slot's tag, ringing a doorbell the calling thread may be waiting on. The calling thread
 * consumes blocks strictly in block order and moves the claim limit forward as it frees
 * slots. So load balances itself to within one block, a run costs one hand-over per worker
 * instead of one per block, and a slow consumer makes workers wait for the limit a few
 * milliseconds and then leave the run, instead of blocking a pool thread.
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
  /** placement into a shared output (place.ts): the next block to place */
  PLACED: 4,
  /** placement lock: 1 while a thread places blocks */
  PLACE_LOCK: 5,
  /**
   * slot s's tag (the block whose rows it holds, -1 when empty) is at TAGS + s; at
   * TAGS + slots + s, the block last written straight into the shared output from slot s's
   * claim (place.ts)
   */
  TAGS: 6,
} as const;

/** Numbers of per-block stats: [accepted, proposals, violations, maxLogRatio, nonFinite]. */
export const STATS = 5;

export interface RingBuffers {
  slots: number;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  rows: SharedArrayBuffer;
  /** placement offsets (place.ts): 1 + slots numbers */
  at: SharedArrayBuffer;
}

/** One thread's typed views of a run's ring. */
export interface RingView {
  slots: number;
  ctl: Int32Array;
  stats: Float64Array;
  /** every slot's rows: slot s is rows[s * slotLen, (s + 1) * slotLen) */
  rows: Float64Array;
  /** numbers per slot: a whole block of proposals, blockSize * d */
  slotLen: number;
  d: number;
  /** set when the run's output is shared: blocks are placed into it by whoever finishes them */
  place: { out: Float64Array; at: Float64Array; copy: (src: Float64Array, dst: Float64Array) => void } | null;
}

export function ringView(
  b: RingBuffers,
  blockSize: number,
  d: number,
  sharedOut: Float64Array | null,
  copy: (src: Float64Array, dst: Float64Array) => void,
): RingView {
  return {
    slots: b.slots,
    ctl: new Int32Array(b.ctl),
    stats: new Float64Array(b.stats),
    rows: new Float64Array(b.rows),
    slotLen: blockSize * d,
    d,
    place: sharedOut ? { out: sharedOut, at: new Float64Array(b.at), copy } : null,
  };
}

/** Slot s's room for a whole block. */
export function slotRows(v: RingView, s: number): Float64Array {
  return v.rows.subarray(s * v.slotLen, (s + 1) * v.slotLen);
}

export function ctlBytes(slots: number): number {
  return (CTL.TAGS + 2 * slots) * 4;
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

/**
 * Blocks a pool worker until the claim limit moves (or the run stops), for at most `ms`:
 * true when claims may go on. A worker that ran into the limit waits here rather than return,
 * since a returned task costs a message round trip (~0.3 ms) to restart; the bound keeps a
 * consumer that stopped pulling from holding a pool thread. Whoever raises LIMIT or sets STOP
 * also changes LIMIT's value and notifies it, so a wait that starts late returns at once.
 */
export function waitForClaims(ctl: Int32Array, ms: number): boolean {
  const limit = Atomics.load(ctl, CTL.LIMIT);
  if (Atomics.load(ctl, CTL.STOP) !== 0) return false;
  if (Atomics.load(ctl, CTL.NEXT) < limit) return true;
  // Spin first: the limit usually moves (or the run ends) within the calling thread's current
  // block, and a vCPU that parks takes ~0.3 ms to wake on these VMs.
  const until = performance.now() + CLAIM_SPIN_MS;
  while (performance.now() < until) {
    if (Atomics.load(ctl, CTL.LIMIT) !== limit) return Atomics.load(ctl, CTL.STOP) === 0;
  }
  return Atomics.wait(ctl, CTL.LIMIT, limit, ms) !== 'timed-out' && Atomics.load(ctl, CTL.STOP) === 0;
}

/** How long waitForClaims spins before it parks (a few blocks of a cheap target). */
const CLAIM_SPIN_MS = 1;

/** Moves the claim limit, waking pool workers waiting in waitForClaims when it rises. */
export function setClaimLimit(ctl: Int32Array, limit: number): void {
  if (Atomics.exchange(ctl, CTL.LIMIT, limit) < limit) Atomics.notify(ctl, CTL.LIMIT);
}

/**
 * Rings the run's doorbell: the calling thread waits on DONE for anything that may let it go
 * on (a block finished or placed, a pool thread leaving the run or dying in it, the run
 * stopping).
 */
export function ringDoorbell(ctl: Int32Array): void {
  Atomics.add(ctl, CTL.DONE, 1);
  Atomics.notify(ctl, CTL.DONE);
}

/** Stops a run's claims and wakes every waiting pool worker and doorbell waiter. */
export function stopClaims(ctl: Int32Array): void {
  Atomics.store(ctl, CTL.STOP, 1);
  Atomics.store(ctl, CTL.LIMIT, -1);
  Atomics.notify(ctl, CTL.LIMIT);
  ringDoorbell(ctl);
}

/** Publishes block b as finished in its slot and rings the doorbell. */
export function publishBlock(ctl: Int32Array, slots: number, b: number): void {
  Atomics.store(ctl, CTL.TAGS + (b % slots), b);
  ringDoorbell(ctl);
}
