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
      let stats: Float64Array;
      if (ext && scratch) {
        kernel.proposeBlock(plan.job, seed, block, blockSize, scratch.xs, scratch.logq);
        if (ext.fn) ext.fn(scratch.xs, scratch.logp, d);
        stats = kernel.acceptBlock(plan.job, seed, block, scratch.xs, scratch.logq, scratch.logp, slot);
      } else {
        stats = kernel.sampleBlock(plan.job, seed, block, blockSize, slot);
      }
      yield { block, rows: slot.subarray(0, stats[0] * d), stats };
      // Let timers, abort signals and progress output run between blocks.
      if ((block & 7) === 7) await new Promise<void>((r) => setImmediate(r));
    }
  } finally {
    giveLocal(slot);
  }
}

/** Many workers: blocks in flight on the pool, results re-ordered by block index. */
async function* pooled(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const { plan, kernel, seed, blockSize, workers } = o;
  const d = plan.d;
  const bytes = blockSize * d * 8;
  const ext = plan.external;
  if (ext && !ext.module) throw new Error('internal: function targets run inline');
  const window = workers * 2;
  const pending = new Map<number, Promise<{ block: number; stats: Float64Array }>>();
  const slots = new Map<number, SharedArrayBuffer>();
  const done = new Map<number, Float64Array>();
  const controller = new AbortController();
  const onAbort = () => controller.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });

  let next = 0; // next block to dispatch
  let emit = 0; // next block to yield
  let acceptedAhead = 0; // accepted in finished-but-not-yielded blocks
  let rate = 1 / Math.max(plan.M, 1); // running acceptance-rate estimate for dispatch decisions
  let seenProposals = 0;
  let seenAccepted = 0;

  const dispatch = (block: number) => {
    const slot = takeShared(bytes);
    slots.set(block, slot);
    const p = runOnPool(
      workers,
      { kernel: kernel.name, job: plan.job, seed, block, nProposals: blockSize, d, slot, external: ext ? ext.module : null },
      controller.signal,
    ).then((stats) => ({ block, stats }));
    // Rejections are observed through Promise.race below; avoid unhandled-rejection noise.
    p.catch(() => undefined);
    pending.set(block, p);
  };

  try {
    while (true) {
      if (o.signal?.aborted) throw abortError(o.signal);
      const wanted = o.wanted() - acceptedAhead;
      // Keep the pool busy while the blocks in flight are not expected to cover what is wanted.
      while (
        pending.size < window &&
        next < o.maxBlocks &&
        (pending.size === 0 || wanted - pending.size * blockSize * rate * 0.8 > 0)
      ) {
        if (o.wanted() <= 0) break;
        dispatch(next++);
      }
      if (done.has(emit)) {
        const stats = done.get(emit)!;
        done.delete(emit);
        acceptedAhead -= stats[0];
        const slot = slots.get(emit)!;
        slots.delete(emit);
        try {
          yield { block: emit, rows: new Float64Array(slot, 0, stats[0] * d), stats };
        } finally {
          giveShared(slot);
        }
        emit++;
        if (o.wanted() <= 0) return;
        continue;
      }
      if (pending.size === 0) return; // budget exhausted
      const { block, stats } = await Promise.race(pending.values());
      pending.delete(block);
      done.set(block, stats);
      acceptedAhead += stats[0];
      seenProposals += stats[1];
      seenAccepted += stats[0];
      if (seenAccepted > 0) rate = seenAccepted / seenProposals;
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    // Blocks still in flight are not needed: cancel queued ones, wait for running ones, so no
    // worker writes into a slot after it is handed out again.
    controller.abort(new Error('superseded'));
    await Promise.allSettled(pending.values());
    for (const slot of slots.values()) giveShared(slot);
  }
}

export function runBlocks(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const canPool = o.workers > 1 && !(o.plan.external && !o.plan.external.module);
  return canPool ? pooled(o) : inline(o);
}
