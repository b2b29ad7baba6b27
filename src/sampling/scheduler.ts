/**
 * The block scheduler. A run is cut into blocks of a fixed number of accepted rows
 * (layout.ts): block b is the first rows of stream b of the seed, so what a block holds is a
 * pure function of (seed, job, blockRows, b), and where it goes in the output is known before
 * it runs. With one worker every block runs on the calling thread; with w workers the calling
 * thread is one of them and w - 1 Piscina workers claim blocks beside it from a shared ring
 * (ring.ts). Blocks finish in any order and are yielded strictly in block order: output is
 * identical whatever the number of workers.
 */
import type { Kernel, OutputLeases } from './kernel-types.js';
import type { Plan } from './resolve.js';
import { activeIn, dispatch, failureIn, type Crew } from './crew.js';
import { blockRunner, runRingBlock, type BlockRunner } from './block.js';
import { CTL, STATS, claimBlock, ctlBytes, isInOut, outRows, ringView, setClaimLimit, slotRows, stopClaims, type RingBuffers } from './ring.js';
import { blockCount, blockView, keptOf, type Layout } from './layout.js';
import { waitAsync } from '../wait-async.js';
import { UsageError } from '../errors.js';
import type { ClaimTask } from './worker.js';

export interface BlockResult {
  block: number;
  /** the block's kept rows, row-major: in the run's output, or valid only until the next iteration */
  rows: Float64Array;
  /** [accepted, proposals, violations, maxLogRatio, nonFinite]; accepted < rowsOf(block) when the budget ran out */
  stats: Float64Array;
}

export interface ScheduleOptions {
  plan: Plan;
  kernel: Kernel;
  seed: number;
  layout: Layout;
  workers: number;
  signal?: AbortSignal;
  /**
   * The run's output (layout.totalRows rows): every block the calling thread runs is written
   * straight into its place there, and every block the pool threads run too when it is shared
   * memory or, with `ownOut`, when the native kernel can lend it to them (kernel-types.ts
   * OutputLeases). Without it, blocks go through slots and are yielded from there.
   */
  out?: Float64Array;
  /**
   * `out` is the run's own: no code outside the run holds it before the run ends, so it cannot
   * be transferred mid-run and may be lent to pool threads. A caller's plain buffer is never
   * lent: a transfer moves its memory to a new owner that may free it while a pool thread
   * writes (a lease holds an address, not the memory), and the check between blocks would
   * come too late.
   */
  ownOut?: boolean;
}

/** Local slots are reused across calls: first touch of fresh pages is slow on these VMs. */
const freeLocal = new Map<number, Float64Array[]>();

function takeLocal(len: number): Float64Array {
  return freeLocal.get(len)?.pop() ?? new Float64Array(len);
}
function giveLocal(buf: Float64Array): void {
  const list = freeLocal.get(buf.length) ?? [];
  if (list.length < 4) list.push(buf);
  freeLocal.set(buf.length, list);
}

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error('sampling aborted');
}

/**
 * Fails the run when its output no longer holds its rows: the caller transferred or detached
 * it, or shrank its resizable buffer, from code that ran while the run waited (a timer, an
 * onProgress callback). Checked before every block.
 */
export function checkOut(o: Pick<ScheduleOptions, 'out' | 'layout' | 'plan'>): void {
  const { out } = o;
  if (out && out.length !== o.layout.totalRows * o.plan.d) {
    throw new UsageError('the output buffer was transferred, detached or resized during sampling');
  }
}

/** The calling thread's block runner for a run. */
function runnerOf(o: ScheduleOptions): BlockRunner {
  const ext = o.plan.external;
  if (ext && !ext.fn) throw new Error('internal: external target without a function');
  return blockRunner(o.kernel, o.plan.job, o.seed, o.layout, o.plan.d, ext?.fn ?? null);
}

/**
 * Lets timers, abort signals and progress output run between blocks at most every YIELD_MS
 * of blocking work: often enough to stay responsive, rarely enough that a short run is not
 * slowed (a turn of the event loop costs tens of microseconds, a block ~0.2 ms).
 */
const YIELD_MS = 5;

function eventLoopYielder(): () => Promise<void> | null {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < YIELD_MS) return null;
    last = now;
    return new Promise<void>((r) => setImmediate(r));
  };
}

/** One worker: every block on the calling thread. */
async function* inline(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const { layout, out } = o;
  const d = o.plan.d;
  const slot = out ? null : takeLocal(layout.blockRows * d);
  const run = runnerOf(o);
  const pause = eventLoopYielder();
  const blocks = blockCount(layout);
  try {
    for (let block = 0; block < blocks; block++) {
      if (o.signal?.aborted) throw abortError(o.signal);
      checkOut(o);
      const dest = out ? blockView(out, layout, d, block) : slot!;
      const stats = run.into(block, dest, !out);
      yield { block, rows: dest.subarray(0, keptOf(layout, block, stats) * d), stats };
      const p = pause();
      if (p) await p;
    }
  } finally {
    if (slot) giveLocal(slot);
  }
}

/**
 * How far the claims may run ahead of the blocks yielded: the ring's slots. The bound is for
 * memory: a slot holds a block's stats, and its rows when they cannot go in place.
 * - A stream's consumer (no `out`) may be slow: SLOTS_PER_WORKER blocks per worker, fewer for
 *   big blocks (a ring holds at most RING_BYTES of rows), down to workers + 2 (one block in
 *   flight per claiming thread, one held by the consumer, one to claim).
 * - Into an `out` the calling thread consumes the blocks itself, so any bound is a coupling:
 *   when the VM stalls its vCPU for milliseconds in a block, pool threads that ran the bound
 *   ahead wait for it (seen here: two-worker calls of T3 at 10^7 slower than one-worker ones,
 *   the pool thread idle half the call). So the ring covers the whole run, up to
 *   MAX_RUN_SLOTS blocks of stats when rows go in place, and OUT_RING_BYTES of rows when they
 *   go through slots: 16 blocks of 256 KiB. (Two-worker T1 into a plain out, 31 alternating
 *   pairs: 0.77-0.79x the time of 8 slots at 10^6 rows, 1.01x at 10^7; 31-64 slots were
 *   1.03-1.08x, their rows no longer in cache when a slot comes round again.)
 */
const SLOTS_PER_WORKER = 4;
const RING_BYTES = 64 * 2 ** 20;
const OUT_RING_BYTES = 4 * 2 ** 20;
const MAX_RUN_SLOTS = 4096;

function slotCount(workers: number, blocks: number, slotBytes: number, intoOut: boolean): number {
  const ahead = intoOut ? Math.min(blocks, MAX_RUN_SLOTS) : SLOTS_PER_WORKER * workers;
  const byBytes = slotBytes > 0 ? Math.floor((intoOut ? OUT_RING_BYTES : RING_BYTES) / slotBytes) : MAX_RUN_SLOTS;
  return Math.max(workers + 2, Math.min(ahead, byBytes));
}

/**
 * Rings are reused across calls, keyed by their shape (fresh pages are slow to touch here).
 * A ring given back while pool threads may still be in its last run's final block waits in
 * `leaving` until they are out.
 */
const freeRings = new Map<string, RingBuffers[]>();
const leaving: { ring: RingBuffers; crew: Crew }[] = [];

const shapeKey = (slots: number, rowsBytes: number) => `${slots}x${rowsBytes}`;

function takeRing(slots: number, slotBytes: number): RingBuffers {
  for (let i = leaving.length - 1; i >= 0; i--) {
    const l = leaving[i];
    if (activeIn(l.crew) === 0) {
      leaving.splice(i, 1);
      giveRing(l.ring, l.crew);
    }
  }
  const ring = freeRings.get(shapeKey(slots, slots * slotBytes))?.pop() ?? {
    slots,
    ctl: new SharedArrayBuffer(ctlBytes(slots)),
    stats: new SharedArrayBuffer(slots * STATS * 8),
    rows: new SharedArrayBuffer(slots * slotBytes),
  };
  const ctl = new Int32Array(ring.ctl);
  ctl.fill(0);
  ctl.fill(-1, CTL.TAGS);
  return ring;
}

function giveRing(ring: RingBuffers, crew: Crew): void {
  if (activeIn(crew) > 0) {
    if (leaving.length < 8) leaving.push({ ring, crew });
    return;
  }
  const key = shapeKey(ring.slots, ring.rows.byteLength);
  const list = freeRings.get(key) ?? [];
  if (list.length < 2) list.push(ring);
  freeRings.set(key, list);
}

/**
 * Many workers: the calling thread and workers - 1 pool workers claim blocks from a shared
 * ring (ring.ts). Between its own blocks the calling thread yields finished blocks in block
 * order and moves the claim limit forward. Working rather than waiting on the calling thread
 * matters on small machines: a thread that only waits for workers and copies their rows is
 * one more thread than there are cores, and the OS may not run it for a millisecond or more.
 * Pool threads are reached through standing tasks (crew.ts): handing a run over is a futex
 * wake, not a Piscina task.
 */
async function* pooled(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const { plan, kernel, seed, layout, workers, out } = o;
  const d = plan.d;
  const ext = plan.external;
  if (ext && !ext.module) throw new Error('internal: function targets run inline');
  const helpers = workers - 1;
  const blocks = blockCount(layout);
  // A shared output is written by every thread. A plain one is lent to the pool threads when
  // the kernel can lend it; else their rows go through the ring's slots.
  const sharedOut = out && out.buffer instanceof SharedArrayBuffer ? out : null;
  const lender = out && !sharedOut && o.ownOut ? lenderFor(kernel, plan) : null;
  const slotBytes = sharedOut || lender ? 0 : layout.blockRows * d * 8;
  const slots = slotCount(workers, blocks, slotBytes, out !== undefined);
  const buffers = takeRing(slots, slotBytes);
  const ring = ringView(buffers, layout, d, out ?? null);
  const { ctl, stats } = ring;
  const run = runnerOf(o);
  // (lent last: the finally below ends the lease)
  const lease = lender ? lender.lendOut(out!) : null;
  const task: ClaimTask = {
    kernel: kernel.name, job: plan.job, seed, layout, d, ring: buffers, sharedOut, lease, external: ext ? ext.module : null,
  };

  // The standing tasks this run was handed to (crew.ts). They are never interrupted:
  // stopping sets STOP, and they leave the ring after their current block.
  const crew: Crew = new Map();
  let finished = false; // set on the normal end of the run

  let emit = 0; // next block to yield
  const pause = eventLoopYielder();

  /** Moves LIMIT to what the ring allows: at most `slots` blocks past the next to yield. */
  const setLimit = () => setClaimLimit(ctl, Math.min(emit + slots, blocks));

  /**
   * Hands the run to pool threads until every one works on it or the claimable blocks are
   * covered (the calling thread takes one of them itself: a one-block run uses no thread).
   * Threads busy with other runs are skipped; this is tried again after every block yielded.
   */
  const startTasks = () => {
    const claimable = Atomics.load(ctl, CTL.LIMIT) - Atomics.load(ctl, CTL.NEXT);
    for (let k = activeIn(crew); k < Math.min(helpers, claimable - 1); k++) {
      if (!dispatch(helpers, task, ctl, crew)) return;
    }
  };

  /** Block `emit` when it has finished. */
  const ready = (): BlockResult | null => {
    const s = emit % slots;
    if (Atomics.load(ctl, CTL.TAGS + s) !== emit) return null;
    const st = stats.subarray(s * STATS, s * STATS + STATS);
    const rows = isInOut(ring, emit) ? outRows(ring, emit) : slotRows(ring, s);
    return { block: emit, rows: rows.subarray(0, keptOf(layout, emit, st) * d), stats: st };
  };

  try {
    setLimit();
    startTasks();
    while (emit < blocks) {
      if (o.signal?.aborted) throw abortError(o.signal);
      checkOut(o);
      const bell = Atomics.load(ctl, CTL.DONE);
      // Whether pool threads work on the run, read before their failures and block `emit`: a
      // task publishes its blocks (or its error) before it leaves the run, so when none is
      // active here, whatever they did is seen below. (Read after, a task could publish
      // block `emit` and leave in between, and the run would look stalled.)
      const active = activeIn(crew);
      const failed = failureIn(crew);
      if (failed) throw failed.error;
      const next = ready();
      if (!next) {
        // Block `emit` is not ready yet: run a block here rather than wait.
        const b = claimBlock(ctl);
        if (b >= 0) {
          runRingBlock(ring, run, b);
          const p = pause();
          if (p) await p;
          continue;
        }
        if (active === 0) {
          // Nothing runs, nothing is claimable, and block `emit` is not done: the pool
          // threads left the run (their wait for the limit timed out) and must come back.
          setLimit();
          startTasks();
          if (Atomics.load(ctl, CTL.NEXT) >= Atomics.load(ctl, CTL.LIMIT)) throw new Error('internal: pooled sampling stalled');
          continue;
        }
        // Pool threads ring the doorbell after every block, when they leave the run, and
        // (crew.ts) when one dies in it.
        const w = waitAsync(ctl, CTL.DONE, bell);
        if (w.async) await w.value;
        continue;
      }
      yield next;
      emit++;
      setLimit();
      startTasks();
    }
    finished = true;
  } finally {
    // Stop the claims and release every wait on this run. Pool threads still in a block
    // finish it; the ring is reused only once they have all left it (takeRing).
    stopClaims(ctl);
    // After a failure, an abort or a consumer that stopped early, a pool thread still in a
    // block could write into the caller's output: the caller hears of the end only once
    // every pool thread is out. (A run that finished has every block published: no pool
    // thread is in one.)
    while ((sharedOut || lease !== null) && !finished && activeIn(crew) > 0) {
      const w = waitAsync(ctl, CTL.DONE, Atomics.load(ctl, CTL.DONE));
      if (w.async && activeIn(crew) > 0) await w.value;
    }
    if (lease !== null) lender?.endLease(lease);
    giveRing(buffers, crew);
  }
}

/**
 * Who lends the run's own plain output to pool threads, when they can write it through a
 * lease: the native kernel (the JS one cannot reach another thread's memory), for a target the
 * kernel evaluates itself (a JS log-density block is assembled in JS). (Only an output no other
 * code holds is lent, `ownOut`, so it cannot be transferred or resized mid-run either.)
 */
function lenderFor(kernel: Kernel, plan: Plan): OutputLeases | null {
  return kernel.leases && !plan.external ? kernel.leases : null;
}

export function runBlocks(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const canPool = o.workers > 1 && !(o.plan.external && !o.plan.external.module);
  return canPool ? pooled(o) : inline(o);
}
