/**
 * The kernel interface shared by the native module and the TypeScript fallback. Everything is
 * Float64Array so that jobs cross worker boundaries cheaply. See native/PROTOCOL.md.
 */

/** [accepted, proposals, violations, maxLogRatio, nonFinite] */
export type BlockStats = Float64Array;

export interface Kernel {
  readonly name: 'native' | 'js';
  uniforms(seed: number, stream: number, sub: number, out: Float64Array): void;
  sampleDist(program: Float64Array, seed: number, stream: number, out: Float64Array): void;
  logpdfDist(program: Float64Array, xs: Float64Array, out: Float64Array): void;
  evalExpr(code: Float64Array, xs: Float64Array, out: Float64Array): void;
  sampleBlock(job: Float64Array, seed: number, block: number, nProposals: number, out: Float64Array): BlockStats;
  /**
   * Block `block`'s first `rows` accepted rows into the front of `out` (room for `rows` rows,
   * nothing past them written), drawing at most `maxProposals` proposals; fewer rows were kept
   * exactly when stats[0] < rows. `readSoon`: the rows are read right away (a ring slot), so
   * the native kernel keeps them in cache rather than streaming a big block past it; set for
   * new memory too, whose pages plain stores touch faster (the page is zeroed in cache anyway).
   */
  sampleRows(job: Float64Array, seed: number, block: number, rows: number, maxProposals: number, out: Float64Array, readSoon?: boolean): BlockStats;
  proposeBlock(job: Float64Array, seed: number, block: number, nProposals: number, xsOut: Float64Array, logqOut: Float64Array): void;
  acceptBlock(job: Float64Array, seed: number, block: number, xs: Float64Array, logq: Float64Array, logp: Float64Array, out: Float64Array): BlockStats;
  /** src into the front of dst: how finished blocks' rows reach the caller's output */
  copyRows(src: Float64Array, dst: Float64Array): void;
  /** Native only: lending a plain output to pool threads. */
  readonly leases?: OutputLeases;
  /**
   * Native only (Linux): asks for huge pages over a new output before anything touches it;
   * returns the bytes advised. Advice only: no value changes (native/PROTOCOL.md).
   */
  readonly adviseHugePages?: (out: Float64Array) => number;
}

/**
 * Output leases (native/src/lease.rs): the calling thread lends its plain output to pool
 * threads, and they write their blocks into it by lease id, bounds-checked, as they do into a
 * shared output, instead of into ring slots the calling thread copies from. Only while no
 * other code can reach the output (scheduler.ts): a lease holds an address, and a buffer
 * transferred meanwhile could be freed under a write.
 */
export interface OutputLeases {
  /**
   * Lends `out` until endLease; the caller keeps it alive and attached until then. `fresh`:
   * nothing has written `out` yet (a new array): writes through the lease use plain stores,
   * which beat the streaming ones on pages touched for the first time.
   */
  lendOut(out: Float64Array, fresh?: boolean): number;
  /** Revokes a lease, once no thread writes through it any more. */
  endLease(lease: number): void;
  /** The numbers `out` holds now, as the engine sees it: 0 once its buffer was detached or shrunk below it. */
  viewLength(out: Float64Array): number;
  /** sampleRows into the lent output, from its number `at` on; null, with nothing drawn, once the lease has ended. */
  sampleRowsLent(job: Float64Array, seed: number, block: number, rows: number, maxProposals: number, lease: number, at: number): BlockStats | null;
}
