/**
 * The pure TypeScript kernel: the same contract as the native one (native/PROTOCOL.md), used
 * when the native module cannot be built or loaded. It draws the same uniforms from the same
 * streams, so its acceptance decisions match the native kernel's given the same densities.
 */
import type { BlockStats, Kernel } from './kernel-types.js';
import { Stream, uniforms as fillUniforms } from './rng.js';
import { decodeDist, type JsDist } from './js-dist.js';
import { JsExpr } from './js-expr.js';
import { decodeJob, TargetKind } from './job.js';
import { VIOLATION_SLACK } from './envelope.js';

/** Proposals per chunk of proposeBlock / acceptBlock: keeps the working set in L2 whatever the block size (sampleRows chunks as ChunkSchedule says). */
const CHUNK = 4096;

interface DecodedJob {
  d: number;
  logM: number;
  kind: TargetKind;
  targetDist: JsDist | null;
  targetExpr: JsExpr | null;
  proposal: JsDist;
  lo: number[];
  hi: number[];
}

const jobCache = new WeakMap<Float64Array, DecodedJob>();
const distCache = new WeakMap<Float64Array, JsDist>();
const exprCache = new WeakMap<Float64Array, JsExpr>();

function dist(program: Float64Array): JsDist {
  let d = distCache.get(program);
  if (!d) {
    d = decodeDist(program);
    distCache.set(program, d);
  }
  return d;
}

function expr(code: Float64Array): JsExpr {
  let e = exprCache.get(code);
  if (!e) {
    e = JsExpr.decode(code);
    exprCache.set(code, e);
  }
  return e;
}

function job(buf: Float64Array): DecodedJob {
  const cached = jobCache.get(buf);
  if (cached) return cached;
  const p = decodeJob(buf);
  const proposal = decodeDist(p.proposal);
  if (proposal.dim !== p.d) throw new Error(`malformed job: proposal has dimension ${proposal.dim}, job says ${p.d}`);
  let targetDist: JsDist | null = null;
  let targetExpr: JsExpr | null = null;
  if (p.targetKind === TargetKind.Dist) {
    targetDist = decodeDist(p.target);
    if (targetDist.dim !== p.d) throw new Error(`malformed job: target has dimension ${targetDist.dim}, job says ${p.d}`);
  } else if (p.targetKind === TargetKind.Expr) {
    targetExpr = JsExpr.decode(p.target);
    if (targetExpr.dim !== p.d) throw new Error(`malformed job: expression has dimension ${targetExpr.dim}, job says ${p.d}`);
  }
  const decoded: DecodedJob = { d: p.d, logM: p.logM, kind: p.targetKind, targetDist, targetExpr, proposal, lo: p.lo, hi: p.hi };
  jobCache.set(buf, decoded);
  return decoded;
}

function checkInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`${name} must be an integer in [0, 2^53), got ${v}`);
  }
}

/** Rows outside the target's support box get -inf. */
function applySupport(j: DecodedJob, xs: Float64Array, logp: Float64Array, rows: number): void {
  const { d, lo, hi } = j;
  for (let k = 0; k < d; k++) {
    const a = lo[k];
    const b = hi[k];
    if (a === -Infinity && b === Infinity) continue;
    for (let r = 0; r < rows; r++) {
      const x = xs[r * d + k];
      if (!(x >= a && x <= b)) logp[r] = -Infinity;
    }
  }
}

class Acceptor {
  readonly stats = new Float64Array([0, 0, 0, -Infinity, 0]);
  private written = 0;
  /** Accepted rows go to the front of `out`, which has room for `rows` of them (counted past that, not kept). */
  constructor(
    private readonly j: DecodedJob,
    private readonly ustream: Stream,
    private readonly out: Float64Array,
    readonly rows: number,
  ) {}

  get rowsLeft(): number {
    return this.rows - this.written;
  }

  /** Accept/compact one chunk of rows. */
  chunk(xs: Float64Array, logq: Float64Array, logp: Float64Array, rows: number, u: Float64Array): void {
    const { d, logM } = this.j;
    const logMv = logM + VIOLATION_SLACK;
    const s = this.stats;
    const out = this.out;
    const cap = this.rows;
    this.ustream.fillF64(u.subarray(0, rows));
    let w = this.written;
    let accepted = 0;
    let violations = 0;
    let nonFinite = 0;
    let maxRatio = s[3];
    for (let r = 0; r < rows; r++) {
      const ratio = logp[r] - logq[r];
      if (ratio !== ratio) {
        // (counted as native counts, and PROTOCOL.md §4 says: NaN log densities; a NaN ratio of
        // two -Infinity ones is a rejection, not a non-finite density)
        if (Number.isNaN(logp[r]) || Number.isNaN(logq[r])) nonFinite++;
        continue;
      }
      if (ratio > maxRatio) maxRatio = ratio;
      if (ratio > logMv) violations++;
      if (Math.log(u[r]) < ratio - logM) {
        accepted++;
        if (w === cap) continue;
        const src = r * d;
        const dst = w * d;
        for (let k = 0; k < d; k++) out[dst + k] = xs[src + k];
        w++;
      }
    }
    s[0] += accepted;
    s[1] += rows;
    s[2] += violations;
    s[3] = maxRatio;
    s[4] += nonFinite;
    this.written = w;
  }
}

/** Proposals in the next chunk: the same rule as the native kernel's next_chunk (kernel.rs). */
function nextChunk(chunk: number, stats: Float64Array, rowsLeft: number, propsLeft: number, perRow: number): number {
  let m = chunk;
  if (stats[0] > 0) m = Math.min(m, Math.ceil((Math.floor(rowsLeft * (stats[1] / stats[0]) * 1.05) + 32) / 8) * 8);
  else if (stats[1] === 0) m = Math.min(m, Math.floor(rowsLeft * perRow) + 64);
  return Math.min(m, propsLeft);
}

/** 2^(j/16), j = 0..15: the native kernel's SIXTEENTH_POWERS, the same literals. */
const SIXTEENTH_POWERS = [
  1.0,
  1.0442737824274138,
  1.0905077326652577,
  1.1387886347566916,
  1.189207115002721,
  1.241857812073484,
  1.2968395546510096,
  1.3542555469368927,
  Math.SQRT2, // (std::f64::consts::SQRT_2 there: the same bits)
  1.4768261459394993,
  1.5422108254079407,
  1.6104903319492543,
  1.681792830507429,
  1.7562521603732995,
  1.8340080864093424,
  1.9152065613971474,
];

/**
 * Proposals a row takes before a block has seen any: the native kernel's prior_per_row. A
 * distribution target is normalized, so M (rounded up to the next 2^(j/16), at least 1); an
 * expression's normalizer is unknown, so 2. No Math.exp: the number must match native's bits.
 */
function priorPerRow(j: DecodedJob): number {
  if (!j.targetDist) return 2;
  const k = Math.min(256, Math.max(0, Math.ceil((j.logM / Math.LN2) * 16))) || 0;
  return (1 << (k >> 4)) * SIXTEENTH_POWERS[k & 15];
}

/** The native kernel's chunk and batch sizes for sampleRows (kernel.rs FAST_CHUNK, FAST_BATCH). */
const ROWS_CHUNK = 1024;
const ROWS_BATCH = 32768;

/**
 * Which proposals a block decides, chunk by chunk: the native kernel's ChunkSchedule
 * (kernel.rs), so that a block's stats (proposals and accepted count the last chunk's lanes
 * past the last row kept) are the same on both kernels, not only its rows. Proposals come in
 * batches of up to ROWS_BATCH, decided in chunks of up to ROWS_CHUNK that never cross a batch.
 */
class ChunkSchedule {
  private drawn = 0;
  private at = 0;

  constructor(private readonly perRow: number) {}

  next(stats: Float64Array, rowsLeft: number, propsLeft: number): number {
    if (this.at === this.drawn) {
      this.drawn = nextChunk(ROWS_BATCH, stats, rowsLeft, propsLeft, this.perRow);
      this.at = 0;
    }
    const m = nextChunk(ROWS_CHUNK, stats, rowsLeft, this.drawn - this.at, this.perRow);
    this.at += m;
    return m;
  }
}

function checkOut(name: string, out: Float64Array, need: number): void {
  if (!(out instanceof Float64Array)) throw new TypeError(`${name}: out must be a Float64Array`);
  if (out.length < need) throw new Error(`${name}: out holds ${out.length} numbers, needs ${need}`);
}

/** (frozen, as the native one: a caller's wrapper of a method would run inside a run) */
export const jsKernel: Kernel = Object.freeze<Kernel>({
  name: 'js',

  uniforms(seed, stream, sub, out) {
    fillUniforms(seed, stream, sub, out);
  },

  sampleDist(program, seed, stream, out) {
    checkInt('seed', seed);
    checkInt('stream', stream);
    const dd = dist(program);
    if (out.length % dd.dim !== 0) throw new Error(`sampleDist: out length ${out.length} is not a multiple of ${dd.dim}`);
    dd.sample(new Stream(seed, stream, 0), out);
  },

  logpdfDist(program, xs, out) {
    const dd = dist(program);
    if (xs.length !== out.length * dd.dim) throw new Error(`logpdfDist: ${xs.length} numbers is not ${out.length} rows of ${dd.dim}`);
    dd.logpdf(xs, out);
  },

  copyRows(src, dst) {
    if (dst.length < src.length) throw new Error(`copyRows: dst holds ${dst.length} numbers, needs ${src.length}`);
    dst.set(src);
  },

  evalExpr(code, xs, out) {
    const e = expr(code);
    if (xs.length !== out.length * e.dim) throw new Error(`evalExpr: ${xs.length} numbers is not ${out.length} rows of ${e.dim}`);
    // (out may overlap xs: a row's result must not overwrite a later row's inputs; native copies its inputs too)
    e.eval(xs.buffer === out.buffer ? xs.slice() : xs, out);
  },

  sampleBlock(jobBuf, seed, block, nProposals, out): BlockStats {
    checkOut('sampleBlock', out, nProposals * job(jobBuf).d);
    return jsKernel.sampleRows(jobBuf, seed, block, nProposals, nProposals, out);
  },

  // (readSoon is a cache hint for the native kernel's stores; plain JS stores have no choice)
  sampleRows(jobBuf, seed, block, rows, maxProposals, out): BlockStats {
    checkInt('seed', seed);
    checkInt('block', block);
    checkInt('rows', rows);
    checkInt('maxProposals', maxProposals);
    const j = job(jobBuf);
    if (j.kind === TargetKind.External) throw new Error('sampleRows: external targets go through proposeBlock/acceptBlock');
    checkOut('sampleRows', out, rows * j.d);
    const pstream = new Stream(seed, block, 0);
    const acc = new Acceptor(j, new Stream(seed, block, 1), out, rows);
    const xs = new Float64Array(ROWS_CHUNK * j.d);
    const logq = new Float64Array(ROWS_CHUNK);
    const logp = new Float64Array(ROWS_CHUNK);
    const u = new Float64Array(ROWS_CHUNK);
    const chunks = new ChunkSchedule(priorPerRow(j));
    while (acc.rowsLeft > 0 && acc.stats[1] < maxProposals) {
      const m = chunks.next(acc.stats, acc.rowsLeft, maxProposals - acc.stats[1]);
      const cx = xs.subarray(0, m * j.d);
      const cq = logq.subarray(0, m);
      const cp = logp.subarray(0, m);
      j.proposal.sample(pstream, cx);
      j.proposal.logpdf(cx, cq);
      if (j.targetDist) j.targetDist.logpdf(cx, cp);
      else if (j.targetExpr) j.targetExpr.eval(cx, cp);
      applySupport(j, cx, cp, m);
      acc.chunk(cx, cq, cp, m, u);
    }
    return acc.stats;
  },

  proposeBlock(jobBuf, seed, block, nProposals, xsOut, logqOut) {
    checkInt('seed', seed);
    checkInt('block', block);
    const j = job(jobBuf);
    checkOut('proposeBlock', xsOut, nProposals * j.d);
    checkOut('proposeBlock', logqOut, nProposals);
    const pstream = new Stream(seed, block, 0);
    // Chunked like sampleBlock so both consume the proposal stream identically.
    for (let start = 0; start < nProposals; start += CHUNK) {
      const rows = Math.min(CHUNK, nProposals - start);
      const cx = xsOut.subarray(start * j.d, (start + rows) * j.d);
      j.proposal.sample(pstream, cx);
      j.proposal.logpdf(cx, logqOut.subarray(start, start + rows));
    }
  },

  acceptBlock(jobBuf, seed, block, xs, logq, logp, out): BlockStats {
    checkInt('seed', seed);
    checkInt('block', block);
    const j = job(jobBuf);
    const n = logq.length;
    if (logp.length !== n || xs.length !== n * j.d) throw new Error('acceptBlock: xs, logq and logp disagree in length');
    checkOut('acceptBlock', out, n * j.d);
    const lp = Float64Array.from(logp);
    applySupport(j, xs, lp, n);
    const acc = new Acceptor(j, new Stream(seed, block, 1), out, n);
    const u = new Float64Array(CHUNK);
    for (let start = 0; start < n; start += CHUNK) {
      const rows = Math.min(CHUNK, n - start);
      acc.chunk(xs.subarray(start * j.d, (start + rows) * j.d), logq.subarray(start, start + rows), lp.subarray(start, start + rows), rows, u);
    }
    return acc.stats;
  },
});
