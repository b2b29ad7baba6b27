/**
 * Envelope and rejection sampling over an empirical pool.
 *
 * Target: the pool reweighted by w (w = p_target / p_source). Proposal: a pool row drawn
 * uniformly. Accept row r with probability min(w_r, M) / M. With M >= max w this is exact:
 * accepted rows are distributed as w_r / sum w. M is instead a quantile of w (default 0.99):
 * rows above M are accepted with probability 1 instead of w_r / M, so their share is
 * under-represented (bias towards the source) — the price of an acceptance rate that is not
 * ruined by a few huge (often poorly estimated) weights. Those rows are counted and reported as
 * envelope violations.
 *
 * Randomness: block b (BLOCK proposals) draws row indices from Stream(seed, b, 0); the kernel's
 * acceptance uniforms come from Stream(seed, b, 1), so the accepted set is a pure function of
 * (seed, w, M, samples, budget).
 */
import { Stream } from '../sampling/rng.js';
import { getKernel } from '../sampling/kernel.js';
import { encodeJob, TargetKind } from '../sampling/job.js';
import { UsageError } from '../errors.js';
import type { Provenance } from './types.js';

export const BLOCK = 65536;

export interface Envelope {
  M: number;
  /** rows with w > M */
  clipped: number;
  /** mean of min(w, M) / M: the acceptance probability of one proposal */
  expectedRate: number;
}

/** Quantile (linear interpolation between order statistics, numpy's default). */
export function quantile(w: Float64Array, q: number): number {
  const s = Float64Array.from(w).sort();
  if (s.length === 0) return NaN;
  const pos = Math.min(1, Math.max(0, q)) * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export function envelope(w: Float64Array, clip: number): Envelope {
  for (let i = 0; i < w.length; i++) {
    if (!(w[i] >= 0) || !Number.isFinite(w[i])) throw new UsageError(`density-ratio weight of pool row ${i} is ${w[i]} (weights must be finite and >= 0)`);
  }
  const M = quantile(w, clip);
  if (!(M > 0)) throw new UsageError(`the ${clip} quantile of the density-ratio weights is 0: no pool row could be accepted (raise ratio.clip or check the weights)`);
  let clipped = 0, s = 0;
  for (let i = 0; i < w.length; i++) {
    if (w[i] > M) clipped++;
    s += Math.min(w[i], M);
  }
  return { M, clipped, expectedRate: s / w.length / M };
}

/**
 * The accepted examples, in order, as columns (typed arrays outside the JS heap: a large
 * finetune.samples fails at allocation with a clear error, not by exhausting the heap with one
 * object per example). Example i is pool row rows[i], of weight w[i], accepted by uniform u[i]
 * of its block block[i]: provenanceOf(r, i).
 */
export interface SampleResult {
  rows: Int32Array;
  w: Float64Array;
  u: Float64Array;
  block: Float64Array;
  proposals: number;
}

/** Example i's provenance (one line of accepted.jsonl). */
export function provenanceOf(r: SampleResult, i: number): Provenance {
  return { row: r.rows[i], w: r.w[i], u: r.u[i], block: r.block[i] };
}

/** Bytes of one accepted example's columns: rows (4), w, u and block (8 each). */
const EXAMPLE_BYTES = 28;

/**
 * The error for `samples` accepted examples that do not fit (`space`: what this machine has,
 * when known), or null when their columns alone fit in `space` bytes.
 */
export function samplesTooMany(samples: number, space?: number): UsageError | null {
  if (space !== undefined && samples * EXAMPLE_BYTES <= space) return null;
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  return new UsageError(
    `finetune.samples = ${samples} does not fit in memory (${gib(samples * EXAMPLE_BYTES)} GiB for the accepted examples alone` +
      `${space !== undefined ? `, ${gib(space)} GiB here` : ''}): choose fewer samples`,
  );
}

/** Room for `count` accepted examples' columns. */
function columns(count: number): Omit<SampleResult, 'proposals'> {
  try {
    return { rows: new Int32Array(count), w: new Float64Array(count), u: new Float64Array(count), block: new Float64Array(count) };
  } catch {
    throw samplesTooMany(count)!;
  }
}

/**
 * The accept decisions go through the sampling engine's kernel (acceptBlock, the same
 * `ln u < log p - log M - log q` test and acceptance streams as sample()): rows are proposed
 * here (uniform over the pool, so log q is a constant 0) with log p = log min(w, M), and each
 * proposal carries its position in the block so the provenance can name its uniform.
 */
const POOL_JOB_PROPOSAL = Float64Array.of(22, 2, 1, 0, 1, 1, 0, 1); // product(uniform, uniform): unused by acceptBlock

/** Rejection sampling from the pool until `samples` accepted or `budget` proposals. */
export function rejectionSample(w: Float64Array, M: number, seed: number, samples: number, budget: number): SampleResult {
  const n = w.length;
  const kernel = getKernel();
  const job = encodeJob({ d: 2, logM: Math.log(M), targetKind: TargetKind.External, target: new Float64Array(0), proposal: POOL_JOB_PROPOSAL, lo: [-Infinity, -Infinity], hi: [Infinity, Infinity] });
  // (at most `budget` proposals can be accepted)
  const cols = columns(Math.min(samples, budget));
  let k = 0; // accepted so far
  const iv = new Float64Array(BLOCK), uv = new Float64Array(BLOCK);
  const xs = new Float64Array(2 * BLOCK), out = new Float64Array(2 * BLOCK);
  const logq = new Float64Array(BLOCK), logp = new Float64Array(BLOCK);
  let proposals = 0;
  for (let b = 0; k < samples && proposals < budget; b++) {
    const m = Math.min(BLOCK, budget - proposals);
    new Stream(seed, b, 0).fillF64(iv.subarray(0, m));
    new Stream(seed, b, 1).fillF64(uv.subarray(0, m)); // the kernel's acceptance uniforms, for provenance
    for (let j = 0; j < m; j++) {
      const row = Math.min(n - 1, Math.floor(iv[j] * n));
      xs[2 * j] = row;
      xs[2 * j + 1] = j;
      logp[j] = Math.log(Math.min(w[row], M));
    }
    const stats = kernel.acceptBlock(job, seed, b, xs.subarray(0, 2 * m), logq.subarray(0, m), logp.subarray(0, m), out.subarray(0, 2 * m));
    const accepted = stats[0];
    let used = m;
    for (let a = 0; a < accepted; a++) {
      const row = out[2 * a], j = out[2 * a + 1];
      cols.rows[k] = row;
      cols.w[k] = w[row];
      cols.u[k] = uv[j];
      cols.block[k] = b;
      if (++k >= samples) {
        used = j + 1; // proposals up to the one that completed the sample
        break;
      }
    }
    proposals += used;
  }
  return { rows: cols.rows.subarray(0, k), w: cols.w.subarray(0, k), u: cols.u.subarray(0, k), block: cols.block.subarray(0, k), proposals };
}

/**
 * The stream of the uniform baseline's draws: far above the rejection blocks' streams
 * (0, 1, 2, ...), so the baseline never shares uniforms with the RSFT sample. (A stream's sub
 * is 0 or 1 only: sub 2 of stream s would be sub 0 of stream s + 1.)
 */
const UNIFORM_ROWS_STREAM = 2 ** 52;

/** `k` rows drawn uniformly with replacement (Stream(seed, 2^52, 0)). */
export function uniformRows(n: number, k: number, seed: number): Int32Array {
  const u = new Float64Array(k);
  new Stream(seed, UNIFORM_ROWS_STREAM, 0).fillF64(u);
  return Int32Array.from(u, (v) => Math.min(n - 1, Math.floor(v * n)));
}
