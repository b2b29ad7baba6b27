/**
 * How a run is cut into blocks. Block b is the first rowsOf(b) accepted rows of stream b
 * (native/PROTOCOL.md §4, sampleRows), and it fills rows [b K, b K + rowsOf(b)) of the output,
 * K = blockRows. So every block's place in the output is known before it runs: any thread can
 * write its block straight into a shared output, and the output does not depend on how many
 * threads there are or in which order blocks finish. Plain numbers only: a layout is sent to
 * pool threads with the run.
 */
export interface Layout {
  /** accepted rows per block (the last block of a finite run may hold fewer) */
  blockRows: number;
  /** rows of the whole run; Infinity for an endless stream */
  totalRows: number;
  /** the run's proposal budget; Infinity when none was given for an endless stream */
  maxProposals: number;
}

/** Rows per block by default: 2^15 numbers (256 KiB), small enough to balance two threads on 10^6 rows. */
export const DEFAULT_BLOCK_NUMBERS = 32768;

/** Rows per block by default for JS log-density targets, whose blocks hold every proposal (block.ts). */
export const DEFAULT_EXTERNAL_BLOCK_NUMBERS = 4096;

export function defaultBlockRows(d: number, external: boolean): number {
  return Math.max(64, Math.floor((external ? DEFAULT_EXTERNAL_BLOCK_NUMBERS : DEFAULT_BLOCK_NUMBERS) / d));
}

/**
 * Per-block proposal budget of an endless stream with no budget given: the same 1000
 * proposals per row, at least 10^8, as sample()'s default budget; it keeps a target that is
 * (almost) never accepted from holding a thread in one kernel call forever.
 */
const ENDLESS_BLOCK_BUDGET = (rows: number) => Math.max(1e8, 1000 * rows);

export function blockCount(l: Layout): number {
  return Number.isFinite(l.totalRows) ? Math.ceil(l.totalRows / l.blockRows) : Infinity;
}

/** Rows of block b. */
export function rowsOf(l: Layout, b: number): number {
  return Math.min(l.blockRows, l.totalRows - b * l.blockRows);
}

/** Where block b's rows start in a run's row-major output of d numbers a row (in numbers). */
export function blockStart(l: Layout, d: number, b: number): number {
  return b * l.blockRows * d;
}

/** Block b's rows in a run's row-major output of d numbers a row. */
export function blockView(out: Float64Array, l: Layout, d: number, b: number): Float64Array {
  const at = blockStart(l, d, b);
  return out.subarray(at, at + rowsOf(l, b) * d);
}

/** Rows block b kept, from its stats: all of them, or fewer when its budget ran out. */
export function keptOf(l: Layout, b: number, stats: Float64Array): number {
  return Math.min(stats[0], rowsOf(l, b));
}

/**
 * Proposals block b may draw: its share of the run's budget, by rows. A block that runs out
 * keeps fewer rows than rowsOf(b), and the run fails with the budget error. The share depends
 * only on b, so whether a run fails does not depend on the number of threads.
 */
export function budgetOf(l: Layout, b: number): number {
  const rows = rowsOf(l, b);
  if (!Number.isFinite(l.maxProposals)) return ENDLESS_BLOCK_BUDGET(rows);
  const share = Number.isFinite(l.totalRows) ? Math.ceil((l.maxProposals * rows) / l.totalRows) : l.maxProposals;
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(1, share));
}
