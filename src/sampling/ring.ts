/**
 * The shared block ring between the calling thread and the pool workers of one pooled run.
 *
 * Nobody gets blocks assigned: each pool worker is handed the run once (crew.ts), and the
 * calling thread works between its other duties, claiming the next block number from a shared
 * counter, writing the block's rows where they go (straight into the run's output when the
 * thread can write it: its own, shared memory, or lent to it; else into ring slot b % slots),
 * its stats into the slot, and publishing b in that slot's tag, ringing a doorbell the calling
 * thread may be waiting on. The calling thread consumes blocks strictly in block order and
 * moves the claim limit forward as it frees slots. So load balances itself to within one
 * block, a run costs one hand-over per worker instead of one per block, and a slow consumer
 * makes workers wait for the limit a few milliseconds and then leave the run, instead of
 * blocking a pool thread.
 *
 * Ring safety: a block b may be claimed only while b < LIMIT, and LIMIT never exceeds
 * consumed + slots; consumed only grows, so the slot a claim writes is never one the main
 * thread still reads. Rows written into the output need no such care: block b's rows there
 * are its own (layout.ts). Nor do a stream's rows written into arrays of their own: the
 * calling thread lends slot s a new array for its next block before LIMIT lets anyone claim
 * that block (scheduler.ts PoolWrites 'fresh').
 */
import { blockView, type Layout } from './layout.js';

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
  /**
   * The run's plain output as pool threads may write it: NO_LEASE (0) when they write into
   * shared memory or ring slots, a lease id (> 0, kernel-types.ts OutputLeases) while the
   * calling thread lends its output to them, LEASE_TAKEN_BACK (-1) while it does not (it
   * yields to other code): pool threads then wait for the next lease.
   */
  LEASE: 4,
  /**
   * slot s's tag (the block whose stats it holds, -1 when empty) is at TAGS + s; at
   * TAGS + slots + s, the same block number when its rows went straight into the run's
   * output instead of the slot; at TAGS + 2 slots + s (`slotLeaseWord`), the lease of the
   * array of its own that the slot's next block is written into (a stream's batch), or
   * NO_LEASE
   */
  TAGS: 5,
} as const;

/** Int32 index of slot s's lease word (CTL.TAGS). */
export function slotLeaseWord(slots: number, s: number): number {
  return CTL.TAGS + 2 * slots + s;
}

export const NO_LEASE = 0;
export const LEASE_TAKEN_BACK = -1;

/** Numbers of per-block stats: [accepted, proposals, violations, maxLogRatio, nonFinite]. */
export const STATS = 5;

export interface RingBuffers {
  slots: number;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  /** slot rows: slots * blockRows * d numbers, or none when every block goes to a shared output */
  rows: SharedArrayBuffer;
}

/** One thread's typed views of a run's ring. */
export interface RingView {
  slots: number;
  ctl: Int32Array;
  stats: Float64Array;
  /** every slot's rows: slot s is rows[s * slotLen, (s + 1) * slotLen) */
  rows: Float64Array;
  /** numbers per slot: a whole block, blockRows * d */
  slotLen: number;
  layout: Layout;
  d: number;
  /**
   * the run's output, when this thread writes blocks straight into it (else they go through a
   * lease of it, CTL.LEASE, or a slot)
   */
  out: Float64Array | null;
  /** `out` is new memory, the run's own: plain stores (kernel-types.ts OutputLeases.lendOut) */
  freshOut: boolean;
}

export function ringView(b: RingBuffers, layout: Layout, d: number, out: Float64Array | null, freshOut = false): RingView {
  return {
    slots: b.slots,
    ctl: new Int32Array(b.ctl),
    stats: new Float64Array(b.stats),
    rows: new Float64Array(b.rows),
    slotLen: layout.blockRows * d,
    layout,
    d,
    out,
    freshOut,
  };
}

/** Slot s's room for a whole block. */
export function slotRows(v: RingView, s: number): Float64Array {
  return v.rows.subarray(s * v.slotLen, (s + 1) * v.slotLen);
}

/** Block b's rows in the run's output (layout.ts). */
export function outRows(v: RingView, b: number): Float64Array {
  if (!v.out) throw new Error('internal: this ring has no output');
  return blockView(v.out, v.layout, v.d, b);
}

export function ctlBytes(slots: number): number {
  return (CTL.TAGS + 3 * slots) * 4;
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

/**
 * Blocks a pool worker that holds a claimed block until CTL.LEASE is no longer `seen` (a lease
 * it found taken back): true when it changed, false when the run stopped first. No time limit:
 * the claimed block must be written, and the calling thread lends its output again as soon as
 * it resumes (or stops the run, which wakes this wait).
 */
export function waitForLease(ctl: Int32Array, seen: number): boolean {
  const until = performance.now() + LEASE_SPIN_MS;
  for (;;) {
    if (Atomics.load(ctl, CTL.STOP) !== 0) return false;
    if (Atomics.load(ctl, CTL.LEASE) !== seen) return true;
    if (performance.now() >= until) Atomics.wait(ctl, CTL.LEASE, seen, 100);
  }
}

/** How long waitForLease spins before it parks: a turn of the calling thread's event loop. */
const LEASE_SPIN_MS = 0.5;

/** Sets CTL.LEASE (a lease id, NO_LEASE or LEASE_TAKEN_BACK), waking pool workers waiting for it. */
export function setLease(ctl: Int32Array, lease: number): void {
  Atomics.store(ctl, CTL.LEASE, lease);
  Atomics.notify(ctl, CTL.LEASE);
}

/** Moves the claim limit, waking pool workers waiting in waitForClaims when it rises. */
export function setClaimLimit(ctl: Int32Array, limit: number): void {
  if (Atomics.exchange(ctl, CTL.LIMIT, limit) < limit) Atomics.notify(ctl, CTL.LIMIT);
}

/**
 * Rings the run's doorbell: the calling thread waits on DONE for anything that may let it go
 * on (a block finished, a pool thread leaving the run or dying in it, the run
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
  Atomics.notify(ctl, CTL.LEASE);
  ringDoorbell(ctl);
}

/**
 * Publishes block b as finished in its slot (its rows in the slot, or with `inOut` already in
 * the run's output, written directly or through a lease) and rings the doorbell.
 */
export function publishBlock(v: RingView, b: number, inOut: boolean): void {
  const s = b % v.slots;
  Atomics.store(v.ctl, CTL.TAGS + v.slots + s, inOut ? b : -1);
  Atomics.store(v.ctl, CTL.TAGS + s, b);
  ringDoorbell(v.ctl);
}

/** Whether finished block b (in its slot's tag) had its rows written straight into the output. */
export function isInOut(v: RingView, b: number): boolean {
  return Atomics.load(v.ctl, CTL.TAGS + v.slots + (b % v.slots)) === b;
}
