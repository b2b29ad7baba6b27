/**
 * The block scheduler. A run is cut into fixed-size blocks; block b draws from stream b of the
 * seed, so what a block accepts is a pure function of (seed, job, b). With one worker every
 * block runs on the calling thread; with w workers the calling thread is one of them and w - 1
 * Piscina workers claim blocks beside it from a shared ring (ring.ts). Blocks finish in any
 * order and are yielded strictly in block order: output is identical whatever the number of
 * workers.
 */
import type { Kernel } from './kernel-types.js';
import type { Plan } from './resolve.js';
import { activeIn, dispatch, failureIn, type Crew } from './crew.js';
import { blockRunner, runRingBlock, type BlockRunner } from './block.js';
import { CTL, STATS, claimBlock, ctlBytes, ringView, setClaimLimit, stopClaims, slotRows, type RingBuffers } from './ring.js';
import { atLength, isPlacing, placeReady, placedRows } from './place.js';
import { waitAsync } from '../wait-async.js';
import type { ClaimTask } from './worker.js';

export interface BlockResult {
  block: number;
  /** accepted rows of this block, row-major; valid only until the next iteration */
  rows: Float64Array;
  /** [accepted, proposals, violations, maxLogRatio, nonFinite] */
  stats: Float64Array;
}

export interface ScheduleOptions {
  plan: Plan;
  kernel: Kernel;
  seed: number;
  blockSize: number;
  workers: number;
  /** blocks allowed in total (the proposal budget, in blocks) */
  maxBlocks: number;
  /** accepted rows still wanted after what has been yielded; Infinity for an endless stream */
  wanted: () => number;
  signal?: AbortSignal;
  /**
   * The caller's output and how many rows it holds so far: a block the calling thread runs
   * when every earlier block has been yielded is written straight into it while a whole block
   * fits (the kernel needs room for every proposal of the block), saving a copy.
   */
  direct?: { out: Float64Array; filledRows: () => number };
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

/** The calling thread's block runner for a run. */
function runnerOf(o: ScheduleOptions): BlockRunner {
  const ext = o.plan.external;
  if (ext && !ext.fn) throw new Error('internal: external target without a function');
  return blockRunner(o.kernel, o.plan.job, o.seed, o.blockSize, o.plan.d, ext?.fn ?? null);
}

/**
 * The caller's output at its fill point when a whole block fits there: where the calling
 * thread writes the block that is next in order, saving a copy.
 */
function directDest(o: ScheduleOptions): Float64Array | null {
  if (!o.direct) return null;
  const at = o.direct.filledRows() * o.plan.d;
  return o.direct.out.length - at >= o.blockSize * o.plan.d ? o.direct.out.subarray(at) : null;
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
  const d = o.plan.d;
  const slot = takeLocal(o.blockSize * d);
  const run = runnerOf(o);
  const pause = eventLoopYielder();
  try {
    for (let block = 0; block < o.maxBlocks && o.wanted() > 0; block++) {
      if (o.signal?.aborted) throw abortError(o.signal);
      const dest = directDest(o) ?? slot;
      const stats = run(block, dest);
      yield { block, rows: dest.subarray(0, stats[0] * d), stats };
      const p = pause();
      if (p) await p;
    }
  } finally {
    giveLocal(slot);
  }
}

/**
 * Ring slots per worker: how far the claims may run ahead of the blocks yielded. Wide rows
 * get fewer (a slot holds every proposal of a block: 52 MB at d = 100), down to workers + 2:
 * one block in flight per claiming thread, one held by the consumer, one to claim.
 */
const SLOTS_PER_WORKER = 4;
const RING_BYTES = 64 * 2 ** 20;

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
    at: new SharedArrayBuffer(atLength(slots) * 8),
  };
  const ctl = new Int32Array(ring.ctl);
  ctl.fill(0);
  ctl.fill(-1, CTL.TAGS);
  new Float64Array(ring.at).fill(0);
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
 * The limit also stops at the blocks expected to cover what is still wanted, so that little
 * work is wasted past the end; when the estimate falls short, the run is handed to the pool
 * threads again. Pool threads are reached through standing tasks (crew.ts): handing a run
 * over is a futex wake, not a Piscina task.
 */
async function* pooled(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const { plan, kernel, seed, blockSize, workers } = o;
  const d = plan.d;
  const ext = plan.external;
  if (ext && !ext.module) throw new Error('internal: function targets run inline');
  const helpers = workers - 1;
  const slotBytes = blockSize * d * 8;
  const slots = Math.max(workers + 2, Math.min(SLOTS_PER_WORKER * workers, Math.floor(RING_BYTES / slotBytes)));
  const buffers = takeRing(slots, slotBytes);
  // A shared output (its rows from the current fill point on) is filled by whichever thread
  // finishes a block (place.ts); a plain one only by this thread.
  const sharedOut = o.direct && o.direct.out.buffer instanceof SharedArrayBuffer ? o.direct.out.subarray(o.direct.filledRows() * d) : null;
  const ring = ringView(buffers, blockSize, d, sharedOut, kernel.copyRows);
  const { ctl, stats } = ring;
  const run = runnerOf(o);
  const task: ClaimTask = {
    kernel: kernel.name, job: plan.job, seed, nProposals: blockSize, d, ring: buffers, sharedOut, external: ext ? ext.module : null,
  };

  // The standing tasks this run was handed to (crew.ts). They are never interrupted:
  // stopping sets STOP, and they leave the ring after their current block.
  const crew: Crew = new Map();
  let finished = false; // set on the normal ends of the run

  let emit = 0; // next block to yield
  const pause = eventLoopYielder();
  // Acceptance-rate estimate for the claim limit; before any block is seen, 1/M for
  // normalized targets, else 1 (optimistic: a short first limit rather than wasted blocks).
  let rate = plan.expectedRate ?? 1;
  let seenProposals = 0;
  let seenAccepted = 0;

  /** Moves LIMIT to the blocks expected to cover what is wanted, within the ring and budget. */
  const setLimit = () => {
    const wanted = o.wanted();
    const perBlock = Math.max(1, blockSize * rate);
    // No slack: a block past the end is wasted work, while a block short is just claimed by
    // the calling thread once the limit moves on.
    const need = Number.isFinite(wanted) ? Math.ceil(wanted / perBlock) : Infinity;
    setClaimLimit(ctl, Math.min(emit + slots, emit + need, o.maxBlocks));
  };

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

  /** Block `emit` when it can be yielded: finished, and with a shared output, placed. */
  const ready = (): BlockResult | null => {
    const s = emit % slots;
    if (Atomics.load(ctl, CTL.TAGS + s) !== emit) return null;
    const st = stats.subarray(s * STATS, s * STATS + STATS);
    if (!isPlacing(ring)) return { block: emit, rows: slotRows(ring, s).subarray(0, st[0] * d), stats: st };
    if (Atomics.load(ctl, CTL.PLACED) <= emit) placeReady(ring);
    return Atomics.load(ctl, CTL.PLACED) > emit ? { block: emit, rows: placedRows(ring, emit), stats: st } : null;
  };

  try {
    setLimit();
    startTasks();
    while (true) {
      if (o.signal?.aborted) throw abortError(o.signal);
      const failed = failureIn(crew);
      if (failed) throw failed.error;
      const bell = Atomics.load(ctl, CTL.DONE);
      let next = ready();
      if (!next) {
        // Block `emit` is not ready yet: run a block here rather than wait.
        const b = claimBlock(ctl);
        if (b < 0) {
          if (activeIn(crew) === 0) {
            // Nothing runs and block `emit` is not done: either the budget is spent, or the
            // claims stopped at the limit and must go on.
            if (Atomics.load(ctl, CTL.NEXT) >= o.maxBlocks) return void (finished = true);
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
        // With a plain output, the next block in order, with every earlier one yielded, can go
        // straight to the caller; with a shared one, runRingBlock places blocks itself.
        const direct = !isPlacing(ring) && b === emit ? directDest(o) : null;
        if (direct) {
          const st = run(b, direct);
          next = { block: emit, rows: direct.subarray(0, st[0] * d), stats: st };
        } else {
          runRingBlock(ring, run, b);
        }
        const p = pause();
        if (p) await p;
        if (!next) continue;
      }
      seenAccepted += next.stats[0];
      seenProposals += next.stats[1];
      if (seenAccepted > 0) rate = seenAccepted / seenProposals;
      yield next;
      emit++;
      if (o.wanted() <= 0) return void (finished = true);
      setLimit();
      startTasks();
    }
  } finally {
    // Stop the claims and release every wait on this run. Pool threads still in a block
    // finish it; the ring is reused only once they have all left it (takeRing).
    stopClaims(ctl);
    // A run that filled a shared output wrote all of it: a pool thread still in a block can
    // only place nothing more. After a failure or an abort it could still write into the
    // caller's memory, so the caller hears of the end only once every pool thread is out.
    while (isPlacing(ring) && !finished && activeIn(crew) > 0) {
      const w = waitAsync(ctl, CTL.DONE, Atomics.load(ctl, CTL.DONE));
      if (w.async && activeIn(crew) > 0) await w.value;
    }
    giveRing(buffers, crew);
  }
}

export function runBlocks(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const canPool = o.workers > 1 && !(o.plan.external && !o.plan.external.module);
  return canPool ? pooled(o) : inline(o);
}
