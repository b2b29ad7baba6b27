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
import {
  CTL, LEASE_TAKEN_BACK, NO_LEASE, STATS, claimBlock, ctlBytes, isInOut, outRows, ringView, setClaimLimit, setLease, slotLeaseWord, slotRows, stopClaims,
  type RingBuffers, type RingView,
} from './ring.js';
import { blockCount, blockView, keptOf, rowsOf, type Layout } from './layout.js';
import { waitAsync } from '../wait-async.js';
import { float64Buffer, isSharedBuffer } from './typed-view.js';
import { follow, unfollow, type AbortFlag } from './abort-watch.js';
import { UsageError } from '../errors.js';
import type { ClaimTask } from './worker.js';

export interface BlockResult {
  block: number;
  /**
   * the block's kept rows, row-major: in the run's output; or, with `owned`, in an array of
   * their own that nothing else holds (a stream's, the consumer may keep it); else valid only
   * until the next iteration
   */
  rows: Float64Array;
  owned?: boolean;
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
   * memory or when the native kernel can lend it to them (kernel-types.ts OutputLeases;
   * PoolWrites below). Without it, blocks go through slots and are yielded from there.
   */
  out?: Float64Array;
  /**
   * `out` is the run's own: no code outside the run holds it before the run ends, so it cannot
   * be transferred mid-run and may be lent to pool threads for the whole run. A caller's plain
   * buffer is lent only while no caller code can run ('lentWhileRunning'): a transfer moves
   * its memory to a new owner that may free it while a pool thread writes (a lease holds an
   * address, not the memory), and the check between blocks would come too late.
   */
  ownOut?: boolean;
}

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error('sampling aborted');
}

/**
 * Fails the run when its output no longer holds its rows: the caller transferred or detached
 * it, or shrank its resizable buffer, from code that ran while the run waited (a timer, an
 * onProgress callback). Checked before every block. The native kernel measures the output
 * itself: optimized code of this V8 was seen to report a detached array's old length after
 * the same code had met arrays over resizable buffers.
 */
export function checkOut(o: Pick<ScheduleOptions, 'out' | 'layout' | 'plan' | 'kernel'>): void {
  const { out } = o;
  if (!out) return;
  const holds = o.kernel.leases ? o.kernel.leases.viewLength(out) : out.length;
  if (holds !== o.layout.totalRows * o.plan.d) throw new UsageError('the output buffer was transferred, detached or resized during sampling');
}

/**
 * How a pooled run's step ends the run with `error`: a Wait that rejects with it, made only
 * once the driver has taken the caller's output back. Nothing is thrown while the output is
 * lent: a debugger set to pause on every exception (as error monitors set one) runs the
 * caller's code at the throw itself, before any catch, and so would an Error.prepareStackTrace
 * of the caller's asked for the stack there.
 */
const failWith = (error: () => unknown): Wait => () => Promise.reject(error());

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

function eventLoopYielder(): { due(every?: number): boolean; left(every?: number): number } {
  let last = performance.now();
  return {
    /** whether a turn of the event loop is due (`every` ms after the last); if so, it counts as taken */
    due(every = YIELD_MS) {
      const now = performance.now();
      if (now - last < every) return false;
      last = now;
      return true;
    },
    /** milliseconds until the next turn is due */
    left: (every = YIELD_MS) => every - (performance.now() - last),
  };
}

/** A turn of the event loop. */
const turn = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

/**
 * What a pooled run's step asks its driver to await: a function that makes the promise, so
 * that the promise (an async resource: async_hooks and promise hooks of the caller's see it
 * made) is made only once the caller's output is no longer lent.
 */
type Wait = () => Promise<unknown>;

/**
 * With the caller's output lent ('lentWhileRunning'), the calling thread takes the lease back
 * before every turn of the event loop and waits for the block a pool thread is writing through
 * it, half a block on average: turns come at most every LENT_BLOCKS_PER_YIELD of the calling
 * thread's blocks, so that wait stays a small share (a custom expression's block takes ~1.5
 * ms; a cheap target's blocks are far shorter than YIELD_MS / LENT_BLOCKS_PER_YIELD).
 */
const LENT_BLOCKS_PER_YIELD = 8;

/**
 * One worker: every block on the calling thread, one at a time: into its place in `out`, or,
 * for a stream, into a new array of its own that the consumer keeps (no slot to copy from).
 */
class InlineRun {
  private block = 0;
  private readonly blocks: number;
  private readonly run: BlockRunner;
  private readonly yielder = eventLoopYielder();

  constructor(private readonly o: ScheduleOptions) {
    this.blocks = blockCount(o.layout);
    this.run = runnerOf(o);
  }

  /** The next block, run; null after the last. Throws on an abort or a lost output. */
  next(): BlockResult | null {
    const { o, block } = this;
    if (block >= this.blocks) return null;
    if (o.signal?.aborted) throw abortError(o.signal);
    checkOut(o);
    const d = o.plan.d;
    const dest = o.out ? blockView(o.out, o.layout, d, block) : new Float64Array(rowsOf(o.layout, block) * d);
    // (an array of the run's own is new memory: plain stores, see OutputLeases.lendOut)
    const stats = this.run.into(block, dest, !o.out || o.ownOut === true);
    this.block++;
    return { block, rows: dest.subarray(0, keptOf(o.layout, block, stats) * d), stats, owned: !o.out };
  }

  /** Whether a turn of the event loop is due before the next block. */
  turnDue(): boolean {
    return this.yielder.due();
  }
}

/** One worker, for a consumer that may await between blocks (a stream). */
async function* inline(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const run = new InlineRun(o);
  for (let r = run.next(); r; r = run.next()) {
    yield r;
    if (run.turnDue()) await turn();
  }
}

/** One worker, for a synchronous consumer: no generator between the blocks and onBlock (~1 us a call). */
async function inlineFill(o: ScheduleOptions, onBlock: OnBlock): Promise<void> {
  const run = new InlineRun(o);
  for (let r = run.next(); r; r = run.next()) {
    const failure = onBlock(r);
    if (failure !== undefined) throw failure;
    if (run.turnDue()) await turn();
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
  ctl.fill(-1, CTL.TAGS, slotLeaseWord(slots, 0));
  ctl.fill(NO_LEASE, slotLeaseWord(slots, 0));
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
 * How a pooled run's pool threads write its blocks:
 * - 'shared': straight into the run's output, shared memory;
 * - 'lent': into the run's own plain output (ownOut), lent to them for the whole run;
 * - 'lentWhileRunning': into the caller's plain output, lent to them only while the calling
 *   thread runs without yielding to other code (fillBlocks, when no caller code runs between
 *   blocks). Before every await the calling thread takes the lease back, which waits for a
 *   block being written through it, and lends the output again once it has resumed and checked
 *   it; meanwhile pool threads wait for the next lease. So no caller code ever runs while a
 *   pool thread writes into the caller's buffer, and a transfer is seen before the next lease.
 *   This saves copying the pool's blocks on the calling thread: 4-10% of a two-worker call
 *   of the cheap tasks (T1 at 10^6 rows: 3.15 against 2.88 ms with a shared output);
 * - 'fresh': a stream's blocks (no `out`), native kernel: each into a new array of its own,
 *   which the consumer gets as its batch. The calling thread lends slot s the array for the
 *   slot's next block before the claim limit lets anyone claim that block, and ends the lease
 *   before it yields the block: no code outside the run can reach a lent array, and pool
 *   threads write the rows, and touch the new pages, in parallel rather than the calling
 *   thread copying every block out of a slot (two workers, 10^7 rows: T1 0.76x the time).
 *   The lent arrays are held (FreshSlots) until their leases end, also when the consumer drops
 *   the stream without ending it: a lease holds an address, not the memory;
 * - 'slots': into ring slots, from which the calling thread reads (or copies) them.
 */
type PoolWrites = 'shared' | 'lent' | 'lentWhileRunning' | 'fresh' | 'slots';

/**
 * A 'fresh' run's lent arrays, per slot, with their lease ids (0: none). Kept apart from the
 * run so that the run can be collected while they are lent: a stream dropped mid-run is never
 * ended, and its arrays must outlive the pool threads' writes (droppedRuns).
 */
interface FreshSlots {
  ctl: Int32Array;
  leases: OutputLeases;
  ids: number[];
  arrays: (Float64Array | null)[];
}

/** Ends every lease of a 'fresh' run's slots (each waits for a write through it) and lets go of their arrays. */
function endFreshSlots(f: FreshSlots): void {
  for (let s = 0; s < f.ids.length; s++) {
    if (f.ids[s] > 0) f.leases.endLease(f.ids[s]);
    f.ids[s] = NO_LEASE;
    f.arrays[s] = null;
  }
}

/** Resolves once no pool thread works on the run any more (each rings DONE as it leaves). */
async function crewLeft(ctl: Int32Array, crew: Crew): Promise<void> {
  while (activeIn(crew) > 0) {
    const w = waitAsync(ctl, CTL.DONE, Atomics.load(ctl, CTL.DONE));
    if (w.async && activeIn(crew) > 0) await w.value;
  }
}

/** What a run leaves to clean up if its stream is dropped, held apart from the run (droppedRuns). */
interface Leftovers {
  ctl: Int32Array;
  crew: Crew;
  fresh: FreshSlots | null;
  signal: AbortSignal | undefined;
  abort: AbortFlag;
}

/**
 * A stream dropped without being ended (its iterator let go mid-run, never returned): once
 * its run is collected, stop its claims, stop following its signal and, once its pool threads
 * have left (not at once: one may be in a block), end the leases of its lent arrays. Nothing
 * here may throw: a finalizer's error would end the process at some later collection.
 */
const droppedRuns = new FinalizationRegistry<Leftovers>((l) => {
  stopClaims(l.ctl);
  if (l.signal) unfollow(l.signal, l.abort);
  const fresh = l.fresh;
  if (fresh) {
    crewLeft(l.ctl, l.crew)
      .then(() => endFreshSlots(fresh))
      .catch(() => {});
  }
});

/**
 * Many workers: the calling thread and workers - 1 pool workers claim blocks from a shared
 * ring (ring.ts). Between its own blocks the calling thread yields finished blocks in block
 * order and moves the claim limit forward. Working rather than waiting on the calling thread
 * matters on small machines: a thread that only waits for workers and copies their rows is
 * one more thread than there are cores, and the OS may not run it for a millisecond or more.
 * Pool threads are reached through standing tasks (crew.ts): handing a run over is a futex
 * wake, not a Piscina task.
 *
 * The calling thread's side of one run, driven step by step by pooledStream (a consumer that
 * may await between blocks) or pooledFill (a synchronous one).
 */
class PooledRun {
  readonly blocks: number;
  private readonly d: number;
  private readonly helpers: number;
  private readonly writes: PoolWrites;
  private readonly leases: OutputLeases | null;
  private readonly slots: number;
  private readonly buffers: RingBuffers;
  private readonly ring: RingView;
  private readonly ctl: Int32Array;
  private readonly run: BlockRunner;
  private readonly task: ClaimTask;
  /** the standing tasks this run was handed to (crew.ts); never interrupted: they leave after their current block */
  private readonly crew: Crew = new Map();
  private readonly yielder = eventLoopYielder();
  /** the lease of the output pool threads write through (CTL.LEASE) */
  private lease: number = NO_LEASE;
  /** 'fresh': the arrays lent to the slots */
  private fresh: FreshSlots | null = null;
  /** how long the calling thread's last block took, ms */
  private blockMs = 0;
  /** set by the signal's abort event: step() reads this, not the signal (a caller's object) */
  private readonly abort: AbortFlag = { seen: false };
  /** next block to yield */
  emit = 0;

  constructor(
    private readonly o: ScheduleOptions,
    lendWhileRunning: boolean,
  ) {
    const { plan, kernel, seed, layout, workers, out } = o;
    const ext = plan.external;
    if (ext && !ext.module) throw new Error('internal: function targets run inline');
    this.d = plan.d;
    this.helpers = workers - 1;
    this.blocks = blockCount(layout);
    // (the engine's own brand check: a plain buffer given SharedArrayBuffer's prototype is not one)
    const sharedOut = out && isSharedBuffer(float64Buffer(out)) ? out : null;
    // Leases: the native kernel (the JS one cannot reach another thread's memory), for a
    // target it evaluates itself (a JS log-density block is assembled in JS).
    const leases = !sharedOut && kernel.leases && !ext ? kernel.leases : null;
    this.writes = sharedOut ? 'shared' : !leases ? 'slots' : !out ? 'fresh' : o.ownOut ? 'lent' : lendWhileRunning ? 'lentWhileRunning' : 'slots';
    this.leases = this.writes === 'slots' ? null : leases;
    const blockBytes = layout.blockRows * this.d * 8;
    // (a stream's ring is bounded by the rows it holds, in slots or in lent arrays)
    this.slots = slotCount(workers, this.blocks, this.writes === 'slots' || this.writes === 'fresh' ? blockBytes : 0, out !== undefined);
    this.buffers = takeRing(this.slots, this.writes === 'slots' ? blockBytes : 0);
    this.ring = ringView(this.buffers, layout, this.d, out ?? null, o.ownOut === true);
    this.ctl = this.ring.ctl;
    this.run = runnerOf(o);
    this.task = { kernel: kernel.name, job: plan.job, seed, layout, d: this.d, ring: this.buffers, sharedOut, external: ext ? ext.module : null };
    if (this.writes === 'fresh') {
      this.fresh = { ctl: this.ctl, leases: this.leases!, ids: new Array<number>(this.slots).fill(NO_LEASE), arrays: new Array<Float64Array | null>(this.slots).fill(null) };
    }
  }

  /** 'fresh': lends slot s a new array for block b (before LIMIT lets anyone claim b). */
  private lendSlot(b: number): void {
    const f = this.fresh!;
    const s = b % this.slots;
    const rows = new Float64Array(rowsOf(this.o.layout, b) * this.d);
    f.arrays[s] = rows;
    f.ids[s] = f.leases.lendOut(rows, true);
    Atomics.store(this.ctl, slotLeaseWord(this.slots, s), f.ids[s]);
  }

  /** 'fresh': block `emit`'s array, its lease ended (no thread writes it any more), handed over. */
  private takeSlot(s: number): Float64Array {
    const f = this.fresh!;
    const rows = f.arrays[s];
    if (!rows) throw new Error('internal: a fresh slot without its array');
    f.leases.endLease(f.ids[s]);
    // (the ended id stays in the word until the slot's next block: a stray write through it finds nothing)
    f.ids[s] = NO_LEASE;
    f.arrays[s] = null;
    return rows;
  }

  /** Lends the output when pool threads write through a lease, and hands the run out. */
  start(): void {
    const { signal } = this.o;
    droppedRuns.register(this, { ctl: this.ctl, crew: this.crew, fresh: this.fresh, signal, abort: this.abort }, this);
    if (signal) follow(signal, this.abort);
    // Pool threads are started before the output is lent (starting one makes async resources,
    // whose hooks run the caller's code); those that start first wait for the lease.
    const lendsOut = this.leases !== null && this.writes !== 'fresh';
    if (lendsOut) setLease(this.ctl, LEASE_TAKEN_BACK);
    if (this.writes === 'fresh') for (let b = 0; b < Math.min(this.slots, this.blocks); b++) this.lendSlot(b);
    this.setLimit();
    this.startTasks(true);
    if (lendsOut) this.lend();
  }

  get done(): boolean {
    return this.emit >= this.blocks;
  }

  /** Moves LIMIT to what the ring allows: at most `slots` blocks past the next to yield. */
  private setLimit(): void {
    setClaimLimit(this.ctl, Math.min(this.emit + this.slots, this.blocks));
  }

  /**
   * Hands the run to pool threads until every one works on it or the claimable blocks are
   * covered (the calling thread takes one of them itself: a one-block run uses no thread).
   * Threads busy with other runs are skipped; this is tried again after every block yielded.
   */
  private startTasks(mayStart = this.writes !== 'lentWhileRunning'): void {
    const claimable = Atomics.load(this.ctl, CTL.LIMIT) - Atomics.load(this.ctl, CTL.NEXT);
    for (let k = activeIn(this.crew); k < Math.min(this.helpers, claimable - 1); k++) {
      if (!dispatch(this.helpers, this.task, this.ctl, this.crew, mayStart)) return;
    }
  }

  /** Block `emit` when it has finished. */
  private ready(): BlockResult | null {
    const { ring, emit, slots } = this;
    const s = emit % slots;
    if (Atomics.load(this.ctl, CTL.TAGS + s) !== emit) return null;
    const st = ring.stats.subarray(s * STATS, s * STATS + STATS);
    const fresh = this.writes === 'fresh';
    const rows = fresh ? this.takeSlot(s) : isInOut(ring, emit) ? outRows(ring, emit) : slotRows(ring, s);
    return { block: emit, rows: rows.subarray(0, keptOf(this.o.layout, emit, st) * this.d), stats: st, owned: fresh };
  }

  /**
   * One step: block `emit` when it is ready (the driver uses it, then calls consumed());
   * else null after running a block here or handing the run out again, or what to await
   * before the next step (the doorbell, or a turn of the event loop).
   */
  step(): BlockResult | Wait | null {
    const { o, ctl } = this;
    // (the reason is read once the lease is back: a getter or Proxy of the caller's may read it)
    if (this.abort.seen) return failWith(() => abortError(this.o.signal!));
    // (while the caller's output is lent no code of the caller's runs: it cannot have changed)
    if (this.writes !== 'lentWhileRunning') checkOut(o);
    const bell = Atomics.load(ctl, CTL.DONE);
    // Whether pool threads work on the run, read before their failures and block `emit`: a
    // task publishes its blocks (or its error) before it leaves the run, so when none is
    // active here, whatever they did is seen below. (Read after, a task could publish
    // block `emit` and leave in between, and the run would look stalled.)
    const active = activeIn(this.crew);
    const failed = failureIn(this.crew);
    if (failed) return failWith(() => failed.error);
    const next = this.ready();
    if (next) return next;
    // Block `emit` is not ready yet: run a block here rather than wait.
    const b = claimBlock(ctl);
    if (b >= 0) {
      const t0 = performance.now();
      runRingBlock(this.ring, this.run, b);
      this.blockMs = performance.now() - t0;
      return this.yielder.due(this.yieldEvery()) ? turn : null;
    }
    if (active === 0) {
      // Nothing runs, nothing is claimable, and block `emit` is not done: the pool threads
      // left the run (their wait for the limit timed out) and must come back.
      this.setLimit();
      this.startTasks();
      if (Atomics.load(ctl, CTL.NEXT) >= Atomics.load(ctl, CTL.LIMIT)) return failWith(() => new Error('internal: pooled sampling stalled'));
      return null;
    }
    // Pool threads ring the doorbell after every block, when they leave the run, and
    // (crew.ts) when one dies in it.
    if (this.writes === 'lentWhileRunning') {
      // Wait here, the lease out, until a turn of the event loop is due: awaiting would take
      // the lease back (and the pool threads would wait for it) for a block that is near.
      const left = this.yielder.left(this.yieldEvery());
      if (left > 0) Atomics.wait(ctl, CTL.DONE, bell, left);
      return this.yielder.due(this.yieldEvery()) ? turn : null;
    }
    return () => {
      const w = waitAsync(ctl, CTL.DONE, bell);
      return w.async ? w.value : Promise.resolve();
    };
  }

  /** Milliseconds between turns of the event loop. */
  private yieldEvery(): number {
    return this.writes === 'lentWhileRunning' ? Math.max(YIELD_MS, LENT_BLOCKS_PER_YIELD * this.blockMs) : YIELD_MS;
  }

  /** The driver is done with block `emit`: the next one, and the ring moves on. */
  consumed(): void {
    this.emit++;
    if (this.writes === 'fresh' && this.emit - 1 + this.slots < this.blocks) this.lendSlot(this.emit - 1 + this.slots);
    this.setLimit();
    this.startTasks();
  }

  private lend(): void {
    checkOut(this.o); // (the engine's own length: the lease is over what it sees)
    this.lease = this.leases!.lendOut(this.o.out!, this.writes === 'lent');
    setLease(this.ctl, this.lease);
  }

  /**
   * Before the calling thread awaits ('lentWhileRunning'): takes the lease of the caller's
   * output back, and returns once no pool thread writes through it.
   */
  takeBack(): void {
    if (this.writes !== 'lentWhileRunning' || this.lease <= 0) return;
    setLease(this.ctl, LEASE_TAKEN_BACK);
    this.leases!.endLease(this.lease);
    this.lease = LEASE_TAKEN_BACK;
  }

  /** After the calling thread resumed ('lentWhileRunning'): lends the output again, if it still holds its rows. */
  lendAgain(): void {
    if (this.writes !== 'lentWhileRunning') return;
    this.lend();
  }


  /**
   * Stops the claims and releases every wait on this run. Pool threads still in a block
   * finish it; the ring is reused only once they have all left it (takeRing).
   * `finished`: the run ended normally, every block published.
   */
  async end(finished: boolean): Promise<void> {
    const { ctl, crew } = this;
    // (first: nothing may be awaited while the caller's output is lent; and nothing of the
    // caller's runs before the run is stopped and its leases end)
    this.takeBack();
    stopClaims(ctl);
    droppedRuns.unregister(this);
    // After a failure, an abort or a consumer that stopped early, a pool thread still in a
    // block could write into the run's output: the caller hears of the end only once every
    // pool thread is out. (A run that finished has every block published: no pool thread is
    // in one.)
    if ((this.writes === 'shared' || this.writes === 'lent' || this.writes === 'fresh') && !finished) await crewLeft(ctl, crew);
    if (this.writes === 'lent' && this.lease > 0) this.leases!.endLease(this.lease);
    if (this.fresh) endFreshSlots(this.fresh);
    if (this.o.signal) unfollow(this.o.signal, this.abort);
    giveRing(this.buffers, crew);
  }
}

/** Many workers, for a consumer that may await between blocks (a stream). */
async function* pooledStream(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  const run = new PooledRun(o, false);
  let finished = false;
  try {
    run.start();
    while (!run.done) {
      const s = run.step();
      if (typeof s === 'function') await s();
      else if (s) {
        yield s;
        run.consumed();
      }
    }
    finished = true;
  } finally {
    await run.end(finished);
  }
}

/** Many workers, for a synchronous consumer (fillBlocks). */
async function pooledFill(o: ScheduleOptions, onBlock: OnBlock, lendWhileRunning: boolean): Promise<void> {
  const run = new PooledRun(o, lendWhileRunning);
  let finished = false;
  try {
    run.start();
    while (!run.done) {
      const s = run.step();
      if (typeof s === 'function') {
        run.takeBack();
        await s();
        run.lendAgain();
      } else if (s) {
        const failure = onBlock(s);
        if (failure !== undefined) {
          run.takeBack(); // (before the throw: see failWith)
          throw failure;
        }
        run.consumed();
      }
    }
    finished = true;
  } finally {
    // (and before end(): calling an async function makes a promise, which promise hooks see)
    run.takeBack();
    await run.end(finished);
  }
}

function pools(o: ScheduleOptions): boolean {
  return o.workers > 1 && !(o.plan.external && !o.plan.external.module);
}

/**
 * The run's blocks in block order, for a consumer that may await between them: a block's rows
 * are in `out` or valid until the next iteration.
 */
export function runBlocks(o: ScheduleOptions): AsyncGenerator<BlockResult> {
  return pools(o) ? pooledStream(o) : inline(o);
}

/**
 * A synchronous consumer of a run's blocks: it returns the error to end the run with rather
 * than throw it (the driver throws it once the caller's output is no longer lent: failWith),
 * undefined to go on.
 */
export type OnBlock = (r: BlockResult) => unknown;

/**
 * Runs a run into its output `out`, calling onBlock with every block in block order: its rows
 * are in place in `out`, or in a slot that onBlock copies them from (they are valid until it
 * returns). `onBlockRunsCallerCode` false: onBlock runs none of the caller's code (no
 * callback), so a caller's plain `out` may be lent to pool threads while the calling thread
 * runs without yielding (PoolWrites 'lentWhileRunning').
 */
export async function fillBlocks(o: ScheduleOptions & { out: Float64Array }, onBlock: OnBlock, onBlockRunsCallerCode: boolean): Promise<void> {
  return pools(o) ? pooledFill(o, onBlock, !onBlockRunsCallerCode) : inlineFill(o, onBlock);
}
