/**
 * The public sampling API: sample() for a fixed number of draws and RejectionSampler for
 * callers that consume batches as they come. Both resolve options into a Plan, then drive the
 * block scheduler; the only difference is where accepted rows go.
 */
import { UsageError } from '../errors.js';
import { getKernel, type KernelChoice } from './kernel.js';
import { makePlan, type Plan, type ProposalSpec, type TargetSpec } from './resolve.js';
import { checkOut, fillBlocks, runBlocks, type BlockResult } from './scheduler.js';
import { float64Buffer, float64Length, isFloat64Array, isResizable, ownView } from './typed-view.js';
import { isAbortSignal } from './abort-watch.js';
import { defaultWorkers } from './pool.js';
import { prewake } from './crew.js';
import type { Kernel } from './kernel-types.js';
import { DEFAULT_BLOCK_NUMBERS, blockCount, defaultBlockRows, rowsOf, type Layout } from './layout.js';

export interface SamplerOptions {
  /** a spec string ('beta(2,5)'), a dist.* object, { logpdf: 'EXPR', support }, a JS batch log-density, or { module, export } */
  target: TargetSpec;
  /** a spec string or a dist.* object */
  proposal: ProposalSpec;
  /** envelope constant with p <= M q, or 'auto' (default) */
  M?: number | 'auto';
  seed?: number;
  /** a number or 'auto' (all cores); default 1 */
  workers?: number | 'auto';
  /**
   * Proposals allowed before giving up; default max(1e8, 1000 n). Split over the blocks by
   * their rows: a block that draws its share without filling its rows fails the run. An endless
   * stream given one ends after the block that reaches it.
   */
  maxProposals?: number;
  /** what to do when p/(M q) > 1 is seen: 'error' (default) or 'warn' */
  onViolation?: 'error' | 'warn';
  /** 'auto' (native when available) | 'native' | 'js' */
  kernel?: KernelChoice;
  /**
   * Accepted rows per block; part of the reproducibility address: (seed, blockRows) fixes the
   * output. Default 32768 / d (4096 / d for JS log-density targets), at least 64.
   */
  blockRows?: number;
  signal?: AbortSignal;
  /** called after each block with the running counts */
  onProgress?: (p: { accepted: number; proposals: number; wanted: number }) => void;
}

export interface SampleOptions extends SamplerOptions {
  n: number;
  /**
   * Fill this Float64Array(n*d) instead of allocating. The calling thread writes its blocks
   * into it in place, and so do pool threads when it is backed by a SharedArrayBuffer. A plain
   * one the native kernel lends to pool threads only while the calling thread runs without
   * yielding (a plain buffer can be transferred meanwhile, and pool threads must not write
   * memory that may be gone; scheduler.ts PoolWrites), and not at all with onProgress: then
   * their blocks go through ring slots the calling thread copies from. Without it, the run
   * allocates an ordinary array of its own, which the native kernel lends to pool threads for
   * the whole run (native/PROTOCOL.md). Transferring, detaching or shrinking `out` during the
   * call fails it with a UsageError.
   */
  out?: Float64Array;
}

export interface SampleStats {
  /** proposals drawn in the blocks that produced the output */
  proposals: number;
  /** accepted among them (>= the samples returned: each block's last chunk may accept more than it keeps) */
  accepted: number;
  acceptanceRate: number;
  /** 1/M when target and proposal are normalized distributions; null for custom targets */
  expectedRate: number | null;
  M: number;
  envelopeViolations: number;
  /** largest p/q seen (exp of the largest log ratio) */
  maxRatioSeen: number;
  /** proposals whose log density was NaN (rejected) */
  nonFinite: number;
  seconds: number;
  kernel: 'native' | 'js';
  workers: number;
  blocks: number;
  blockRows: number;
  dim: number;
  seed: number;
  target: string;
  proposal: string;
}

export interface SampleResult {
  samples: Float64Array;
  stats: SampleStats;
}

function checkInteger(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > Number.MAX_SAFE_INTEGER) {
    throw new UsageError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/**
 * Most workers a call may ask for: each is a thread with its own heap (~8 MB), and a count far
 * above the cores only adds threads that wait (a typo like 100000 would exhaust memory).
 */
const MAX_WORKERS = 256;

/**
 * Most numbers in one block: a block is the unit of work and of buffering (ring slots hold
 * whole blocks), and beyond this size it only costs memory (the default is 32768).
 */
const MAX_BLOCK_NUMBERS = 2 ** 24;

const KERNELS: readonly KernelChoice[] = ['auto', 'native', 'js'];

/**
 * Bytes of a new output above which sample() asks for huge pages: glibc gives allocations of
 * more than 32 MiB (its largest mmap threshold) a mapping of their own. A smaller one may lie
 * in the malloc heap, where the advice would outlive the array and reach later allocations.
 */
const HUGE_PAGES_ABOVE = 32 * 2 ** 20;

interface Prepared {
  plan: Plan;
  kernel: Kernel;
  seed: number;
  workers: number;
  layout: Layout;
  onViolation: 'error' | 'warn';
  /** M was estimated (M: 'auto'), not given */
  autoM: boolean;
  /** the options' signal and onProgress, each read once (a getter of the caller's is not asked twice) */
  signal: AbortSignal | undefined;
  onProgress: SamplerOptions['onProgress'];
}

async function prepare(o: SamplerOptions, n: number): Promise<Prepared> {
  if (typeof o !== 'object' || o === null) throw new UsageError('sample: options object required');
  // Every option read once: a getter of the caller's that answered differently on a second
  // read would have one value checked and another used.
  const { target, proposal, M, kernel: kernelOpt, workers: workersOpt, signal, onProgress } = o;
  const seed = checkInteger('seed', o.seed ?? 0, 0);
  const workers = workersOpt === 'auto' ? Math.min(MAX_WORKERS, defaultWorkers()) : checkInteger('workers', workersOpt ?? 1, 1);
  if (workers > MAX_WORKERS) throw new UsageError(`workers must be at most ${MAX_WORKERS}, got ${workers} (this machine has ${defaultWorkers()} cores)`);
  if ((o as { blockSize?: unknown }).blockSize !== undefined) throw new UsageError('blockSize (proposals per block) was replaced by blockRows (accepted rows per block)');
  const blockRowsOpt = o.blockRows; // (read once: validated and used as the same value)
  if (blockRowsOpt !== undefined) checkInteger('blockRows', blockRowsOpt, 1);
  if (kernelOpt !== undefined && !KERNELS.includes(kernelOpt)) throw new UsageError(`kernel must be one of ${KERNELS.join(', ')}, got ${String(kernelOpt)}`);
  if (signal !== undefined && !isAbortSignal(signal)) throw new UsageError('signal must be an AbortSignal');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new UsageError('onProgress must be a function');
  // The pool threads wake while the plan is made when the run surely has more than one block
  // (default blocks hold at most DEFAULT_BLOCK_NUMBERS rows), else once the plan says so.
  const wokeEarly = workers > 1 && n > (blockRowsOpt ?? DEFAULT_BLOCK_NUMBERS);
  if (wokeEarly) prewake(workers - 1);
  const onViolation = o.onViolation ?? 'error';
  if (onViolation !== 'error' && onViolation !== 'warn') throw new UsageError(`onViolation must be 'error' or 'warn'`);
  const maxProposals = o.maxProposals ?? (Number.isFinite(n) ? Math.max(1e8, 1000 * n) : Infinity);
  if (typeof maxProposals !== 'number' || !(maxProposals >= 1)) throw new UsageError(`maxProposals must be >= 1, got ${maxProposals}`);
  const kernel = getKernel(kernelOpt ?? 'auto');
  const plan = await makePlan({ target, proposal, M, onViolation }, kernel);
  for (const w of plan.warnings) process.emitWarning(w, 'RsftEnvelopeWarning');
  const blockRows = blockRowsOpt ?? defaultBlockRows(plan.d, plan.external !== null);
  if (blockRows * plan.d > MAX_BLOCK_NUMBERS) {
    throw new UsageError(`blockRows must be at most ${Math.floor(MAX_BLOCK_NUMBERS / plan.d)} for a ${plan.d}-D target (${MAX_BLOCK_NUMBERS} numbers per block), got ${blockRows}`);
  }
  // A JS function cannot be sent to workers: it runs on this thread (give { module, export }
  // to use the pool), and the stats say so.
  const usable = plan.external && !plan.external.module ? 1 : workers;
  // Blocks longer than the run are the run (one block, same stream, same budget): sized to
  // it, so a big blockRows does not size buffers for rows that never come.
  const layout: Layout = { blockRows: Math.min(blockRows, n), totalRows: n, maxProposals };
  if (usable > 1 && !wokeEarly && blockCount(layout) > 1) prewake(usable - 1);
  return { plan, kernel, seed, workers: usable, layout, onViolation, autoM: M === undefined || M === 'auto', signal, onProgress };
}

/** Two numbers to 6 significant digits, or to as many more as it takes to tell them apart. */
function distinctDigits(a: number, b: number): [string, string] {
  for (let p = 6; ; p++) {
    const x = Number(a.toPrecision(p)).toString();
    const y = Number(b.toPrecision(p)).toString();
    if (x !== y || p === 17) return [x, y];
  }
}

class StatsAccumulator {
  proposals = 0;
  accepted = 0;
  violations = 0;
  maxLog = -Infinity;
  nonFinite = 0;
  blocks = 0;
  private warned = false;
  /** a warning held back until flushWarning() (`defer`) */
  private held: string | null = null;
  /**
   * `defer`: hold the envelope warning until flushWarning(). sample() emits it once its run
   * is over: process.emitWarning is a function a caller may wrap, and wrappers must not run
   * while the caller's output is lent to pool threads (scheduler.ts PoolWrites).
   */
  constructor(
    private readonly p: Prepared,
    private readonly defer = false,
  ) {}

  flushWarning(): void {
    if (this.held !== null) process.emitWarning(this.held, 'RsftEnvelopeWarning');
    this.held = null;
  }

  /** Adds a block's stats; returns the violation error to end the run with (onViolation 'error'), else null. */
  add(stats: Float64Array): UsageError | null {
    this.accepted += stats[0];
    this.proposals += stats[1];
    this.violations += stats[2];
    if (stats[3] > this.maxLog) this.maxLog = stats[3];
    this.nonFinite += stats[4];
    this.blocks++;
    if (stats[2] > 0) {
      const [seen, M] = distinctDigits(Math.exp(this.maxLog), this.p.plan.M);
      const msg =
        `envelope violated: p/q reached ${seen} > M = ${M} ` +
        `(${this.violations} proposals so far); ` +
        (this.p.autoM ? `M: 'auto' underestimated sup p/q here: pass a larger M (or onViolation: 'warn')` : `raise M or use M: 'auto'`);
      if (this.p.onViolation === 'error') return new UsageError(msg);
      if (!this.warned) {
        this.warned = true;
        if (this.defer) this.held = msg;
        else process.emitWarning(msg, 'RsftEnvelopeWarning');
      }
    }
    return null;
  }

  result(seconds: number): SampleStats {
    const { plan, kernel, workers, layout, seed } = this.p;
    return {
      proposals: this.proposals,
      accepted: this.accepted,
      acceptanceRate: this.proposals > 0 ? this.accepted / this.proposals : 0,
      expectedRate: plan.expectedRate,
      M: plan.M,
      envelopeViolations: this.violations,
      maxRatioSeen: Math.exp(this.maxLog),
      nonFinite: this.nonFinite,
      seconds,
      kernel: kernel.name,
      workers,
      blocks: this.blocks,
      blockRows: layout.blockRows,
      dim: plan.d,
      seed,
      target: plan.targetLabel,
      proposal: plan.proposalLabel,
    };
  }
}

function budgetError(p: Prepared, block: number, stats: Float64Array): UsageError {
  const rows = rowsOf(p.layout, block);
  return new UsageError(
    `proposal budget of ${p.layout.maxProposals} exhausted: block ${block} drew its share, ${stats[1]} proposals, ` +
      `for ${stats[0]} of its ${rows} rows (acceptance rate ${(stats[0] / Math.max(1, stats[1])).toPrecision(3)}); ` +
      `raise maxProposals (--max-proposals) or use a proposal closer to the target`,
  );
}

/**
 * Adds a block's stats to acc; returns the error to end the run with (an envelope violation
 * under onViolation 'error', a block that ran out of its share of the proposal budget), else
 * null. Returned, not thrown: a lent run raises it once the lease is back (scheduler.ts OnBlock).
 */
function tally(p: Prepared, acc: StatsAccumulator, r: BlockResult): UsageError | null {
  const violation = acc.add(r.stats);
  if (violation) return violation;
  return r.stats[0] < rowsOf(p.layout, r.block) ? budgetError(p, r.block, r.stats) : null;
}

/**
 * The accepted rows of a stream in block order, each an array of its own, with every block's
 * stats added to acc. Throws when a block ran out of its share of the proposal budget; an
 * endless stream given a budget ends after the block that reaches it.
 */
async function* acceptedRows(p: Prepared, acc: StatsAccumulator, signal: AbortSignal | undefined, onProgress: SamplerOptions['onProgress']): AsyncGenerator<Float64Array> {
  const d = p.plan.d;
  const n = p.layout.totalRows;
  let filled = 0;
  const blocks = runBlocks({ plan: p.plan, kernel: p.kernel, seed: p.seed, layout: p.layout, workers: p.workers, signal });
  for await (const r of blocks) {
    const failure = tally(p, acc, r);
    if (failure) throw failure;
    filled += r.rows.length / d;
    onProgress?.({ accepted: filled, proposals: acc.proposals, wanted: n });
    // (rows written into an array of their own are handed over as they are: no copy)
    yield r.owned ? r.rows : r.rows.slice();
    // An endless stream with a budget ends once the blocks so far have drawn it.
    if (!Number.isFinite(n) && acc.proposals >= p.layout.maxProposals) return;
  }
}

/** Draw n exact samples from target by rejection from proposal. */
export async function sample(o: SampleOptions): Promise<SampleResult> {
  const t0 = performance.now();
  const n = checkInteger('n', o?.n, 1);
  const p = await prepare(o, n);
  const d = p.plan.d;
  const given = o.out; // (read once: a getter could answer differently the next time)
  let out: Float64Array;
  let samples: Float64Array;
  if (given !== undefined) {
    if (!isFloat64Array(given)) throw new UsageError('out must be a Float64Array');
    const holds = float64Length(given);
    if (holds < n * d) throw new UsageError(`out holds ${holds} numbers; n*d = ${n * d} needed`);
    // The run writes through a view of its own of exactly n*d numbers: no property of the
    // caller's array is read again (an own getter of it could run while pool threads write
    // into it: scheduler.ts PoolWrites), a length-tracking view over a resizable or growable
    // buffer would grow with it, and a fixed one shows a shrink as length 0 (checkOut). The
    // caller gets its own array back when that holds exactly the samples.
    out = ownView(given, n * d);
    const exact = holds === n * d && !isResizable(float64Buffer(given)) && Object.getPrototypeOf(given) === Float64Array.prototype;
    samples = exact ? given : out;
  } else {
    try {
      // Ordinary memory whatever the workers (transferable, like any Float64Array): the
      // native kernel lends it to pool threads, which write their blocks in place.
      out = new Float64Array(n * d);
    } catch {
      throw new UsageError(`cannot allocate ${n} x ${d} samples (${((n * d * 8) / 2 ** 30).toFixed(1)} GiB); sample in batches with RejectionSampler`);
    }
    // Huge pages for a big new output: the first touch of each 4 KiB page costs more than
    // sampling its rows here (native/PROTOCOL.md adviseHugePages).
    if (out.byteLength > HUGE_PAGES_ABOVE) p.kernel.adviseHugePages?.(out);
    samples = out;
  }
  const acc = new StatsAccumulator(p, true);
  let filled = 0;
  const { onProgress } = p;
  const onBlock = (r: BlockResult): UsageError | undefined => {
    const failure = tally(p, acc, r);
    if (failure) return failure;
    const { rows } = r;
    const at = filled;
    filled += rows.length / d;
    onProgress?.({ accepted: filled, proposals: acc.proposals, wanted: n });
    // Rows written straight into place need no copy; rows that went through a ring slot do
    // (into an output that onProgress may have transferred).
    if (rows.buffer !== out.buffer || rows.byteOffset !== out.byteOffset + at * d * 8) {
      // (rows through slots: the output is not lent, a throw here runs no code of the caller's in between)
      checkOut({ out, layout: p.layout, plan: p.plan, kernel: p.kernel });
      p.kernel.copyRows(rows, out.subarray(at * d));
    }
    return undefined;
  };
  const run = { plan: p.plan, kernel: p.kernel, seed: p.seed, layout: p.layout, workers: p.workers, signal: p.signal, out, ownOut: given === undefined };
  try {
    await fillBlocks(run, onBlock, onProgress !== undefined);
  } finally {
    acc.flushWarning();
  }
  return { samples, stats: acc.result((performance.now() - t0) / 1000) };
}

/**
 * Streams accepted samples block by block: `for await (const batch of sampler.batches())`.
 * Each batch is a fresh Float64Array of whole rows; the concatenation of all batches equals
 * sample()'s output for the same options. Without n the stream is endless (stop with break or
 * the AbortSignal).
 */
export class RejectionSampler {
  private prepared: Promise<Prepared> | null = null;
  private acc: StatsAccumulator | null = null;
  private t0 = 0;

  constructor(private readonly options: SamplerOptions & { n?: number }) {
    if (typeof options !== 'object' || options === null) throw new UsageError('RejectionSampler: options object required');
  }

  private prepare(): Promise<Prepared> {
    const n = this.options.n;
    if (n !== undefined) checkInteger('n', n, 1);
    this.prepared ??= prepare(this.options, n ?? Infinity);
    return this.prepared;
  }

  /** The plan's envelope constant (after M: 'auto' is resolved). */
  async envelope(): Promise<{ M: number; expectedRate: number | null }> {
    const p = await this.prepare();
    return { M: p.plan.M, expectedRate: p.plan.expectedRate };
  }

  async *batches(opts: { signal?: AbortSignal } = {}): AsyncGenerator<Float64Array> {
    const p = await this.prepare();
    const n = this.options.n ?? Infinity;
    const given = opts?.signal; // (read once)
    if (given !== undefined && !isAbortSignal(given)) throw new UsageError('batches: signal must be an AbortSignal');
    const signal = given ?? p.signal;
    this.acc = new StatsAccumulator(p);
    this.t0 = performance.now();
    yield* acceptedRows(p, this.acc, signal, p.onProgress);
  }

  /** Stats of the blocks consumed so far. */
  get stats(): SampleStats | null {
    return this.acc ? this.acc.result((performance.now() - this.t0) / 1000) : null;
  }
}
