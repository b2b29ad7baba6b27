/**
 * The block scheduler. A run is cut into fixed-size blocks; block b draws from stream b of the
 * seed, so what a block accepts is a pure function of (seed, job, b). Blocks run on the calling
 * thread (one worker) or on the Piscina pool, finish in any order, and are yielded strictly in
 * block order: output is identical whatever the number of workers.
 */
import type { Kernel } from './kernel-types.js';
import type { Plan } from './resolve.js';
import { runOnPool } from './pool.js';

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
   * The caller's output and how many rows it holds so far: one worker then lets the kernel
   * write straight into it while a whole block fits (the kernel needs room for every proposal
   * of the block), saving a copy per block.
   */
  direct?: { out: Float64Array; filledRows: () => number };
}

/** Slots are reused across blocks and calls: first touch of fresh pages is slow on these VMs. */
const freeShared = new Map<number, SharedArrayBuffer[]>();
const freeLocal = new Map<number, Float64Array[]>();

function takeShared(bytes: number): SharedArrayBuffer {
  return freeShared.get(bytes)?.pop() ?? new SharedArrayBuffer(bytes);
}
function giveShared(buf: SharedArrayBuffer): void {
  const list = freeShared.get(buf.byteLength) ?? [];
  if (list.length < 16) list.push(buf);
  freeShared.set(buf.byteLength, list);
}
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

/** One worker: every block on the calling thread, yielding to the event loop between blocks. */
async function* inline(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const { plan, kernel, seed, blockSize } = o;
  const d = plan.d;
  const slot = takeLocal(blockSize * d);
  const ext = plan.external;
  const scratch = ext ? { xs: new Float64Array(blockSize * d), logq: new Float64Array(blockSize), logp: new Float64Array(blockSize) } : null;
  try {
    for (let block = 0; block < o.maxBlocks && o.wanted() > 0; block++) {
      if (o.signal?.aborted) throw abortError(o.signal);
      const at = o.direct ? o.direct.filledRows() * d : 0;
      const dest = o.direct && o.direct.out.length - at >= blockSize * d ? o.direct.out.subarray(at) : slot;
      let stats: Float64Array;
      if (ext && scratch) {
        kernel.proposeBlock(plan.job, seed, block, blockSize, scratch.xs, scratch.logq);
        if (ext.fn) ext.fn(scratch.xs, scratch.logp, d);
        stats = kernel.acceptBlock(plan.job, seed, block, scratch.xs, scratch.logq, scratch.logp, dest);
      } else {
        stats = kernel.sampleBlock(plan.job, seed, block, blockSize, dest);
      }
      yield { block, rows: dest.subarray(0, stats[0] * d), stats };
      // Let timers, abort signals and progress output run between blocks.
      if ((block & 7) === 7) await new Promise<void>((r) => setImmediate(r));
    }
  } finally {
    giveLocal(slot);
  }
}

/** Most blocks one pool task runs: amortizes the ~0.1 ms message round trip per task. */
const MAX_BLOCKS_PER_TASK = 16;

/** A task's shared output: `count` regions of blockSize * d numbers, freed with its last block. */
interface TaskSlot {
  buf: SharedArrayBuffer;
  unyielded: number;
}

/**
 * Many workers: tasks of consecutive blocks in flight on the pool, results re-ordered by block
 * index. A task runs several blocks (more early on, one at a time near the end) so that message
 * overhead stays small without coarsening the blocks themselves, which are the unit of
 * reproducibility.
 */
async function* pooled(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const { plan, kernel, seed, blockSize, workers } = o;
  const d = plan.d;
  const blockNumbers = blockSize * d;
  const ext = plan.external;
  if (ext && !ext.module) throw new Error('internal: function targets run inline');
  const window = workers * 2;
  const pending = new Set<Promise<void>>();
  /** finished blocks not yet yielded */
  const done = new Map<number, { stats: Float64Array; slot: TaskSlot; offset: number }>();
  const live = new Set<TaskSlot>();
  // In-flight tasks are never cancelled: Piscina terminates a worker whose running task is
  // aborted (and the native module then reloads in a fresh thread). At most 2 tasks per worker
  // are in flight, so waiting for them when the caller stops is cheap.

  let next = 0; // next block to dispatch
  let emit = 0; // next block to yield
  let acceptedAhead = 0; // accepted in finished-but-not-yielded blocks
  let inFlightBlocks = 0;
  // Running acceptance-rate estimate for dispatch decisions; before any block returns, 1/M for
  // normalized targets, else 1 (optimistic: small first tasks rather than wasted blocks).
  let rate = plan.expectedRate ?? 1;
  let seenProposals = 0;
  let seenAccepted = 0;
  // Set by a failed task (a closure, so kept in an object the compiler does not narrow).
  const failed: { error?: unknown; happened: boolean } = { happened: false };

  const dispatch = (count: number) => {
    const first = next;
    next += count;
    inFlightBlocks += count;
    // Every slot has room for the largest task, so slots of any task size are reused.
    const slot: TaskSlot = { buf: takeShared(MAX_BLOCKS_PER_TASK * blockNumbers * 8), unyielded: count };
    live.add(slot);
    const p = runOnPool(workers, {
      kernel: kernel.name,
      job: plan.job,
      seed,
      block: first,
      count,
      nProposals: blockSize,
      d,
      slot: slot.buf,
      external: ext ? ext.module : null,
    }).then(
      (stats) => {
        inFlightBlocks -= count;
        for (let i = 0; i < count; i++) {
          const st = stats.subarray(5 * i, 5 * i + 5);
          done.set(first + i, { stats: st, slot, offset: i * blockNumbers });
          acceptedAhead += st[0];
          seenAccepted += st[0];
          seenProposals += st[1];
        }
        if (seenAccepted > 0) rate = seenAccepted / seenProposals;
      },
      (error: unknown) => {
        inFlightBlocks -= count;
        if (!failed.happened) Object.assign(failed, { error, happened: true });
      },
    );
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };

  const release = (slot: TaskSlot) => {
    if (--slot.unyielded === 0) {
      live.delete(slot);
      giveShared(slot.buf);
    }
  };

  try {
    while (true) {
      if (o.signal?.aborted) throw abortError(o.signal);
      if (failed.happened) throw failed.error;
      // Keep the pool busy while the blocks in flight are not expected to cover what is wanted.
      while (pending.size < window && next < o.maxBlocks && o.wanted() > 0) {
        const perBlock = Math.max(1, blockSize * rate);
        const missing = o.wanted() - acceptedAhead - inFlightBlocks * perBlock * 0.8;
        if (missing <= 0 && pending.size > 0) break;
        const blocksNeeded = Math.max(1, Math.ceil(missing / perBlock));
        const count = Math.min(MAX_BLOCKS_PER_TASK, o.maxBlocks - next, Math.max(1, Math.floor(blocksNeeded / (2 * workers))));
        dispatch(count);
      }
      const ready = done.get(emit);
      if (ready) {
        done.delete(emit);
        acceptedAhead -= ready.stats[0];
        try {
          yield { block: emit, rows: new Float64Array(ready.slot.buf, ready.offset * 8, ready.stats[0] * d), stats: ready.stats };
        } finally {
          release(ready.slot);
        }
        emit++;
        if (o.wanted() <= 0) return;
        continue;
      }
      if (pending.size === 0) return; // budget exhausted
      await Promise.race(pending);
    }
  } finally {
    // Blocks still in flight are not needed; wait for them so that no worker writes into a
    // slot after it is handed out again.
    await Promise.allSettled([...pending]);
    for (const slot of live) giveShared(slot.buf);
  }
}

export function runBlocks(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const canPool = o.workers > 1 && !(o.plan.external && !o.plan.external.module);
  return canPool ? pooled(o) : inline(o);
}
