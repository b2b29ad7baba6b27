/**
 * 8-lane xoshiro256++ random streams (native/PROTOCOL.md §1), bit-identical to the Rust kernel.
 *
 * 64-bit arithmetic is done on pairs of 32-bit halves (hi, lo) in int32 locals with branch-free
 * carries, also while seeding. Measured ~80-125M uniforms/s from fillF64 and
 * ~70M/s from nextF64 (Node 20, one core).
 */

const TWO53 = 9007199254740992;
const INV53 = 1 / TWO53;
const TWO32 = 4294967296;
const TWO20 = 1048576;
const TWO21 = 2097152;
const INV52 = 1 / 4503599627370496;

/*
 * Seeding arithmetic on u64 values held as (hi, lo) uint32 pairs. Seeding happens once per
 * stream and some callers open a stream per decision (rsft select: one per prompt), so it must
 * be cheap: BigInt took ~12 us per stream, this takes well under one.
 */

// Results of the helpers below go to (rh, rl): no tuple allocations in the seeding loop.
let rh = 0;
let rl = 0;

/** (a * b) mod 2^64 -> (rh, rl). The 32 x 32 low product goes through 16-bit pieces. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const hi = p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  rl = ((mid << 16) | (p00 & 0xffff)) >>> 0;
  rh = (hi + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** (a + b) mod 2^64 -> (rh, rl). */
function add64(ah: number, al: number, bh: number, bl: number): void {
  const l = al + bl;
  rh = (ah + bh + (l >= TWO32 ? 1 : 0)) >>> 0;
  rl = l >>> 0;
}

/** The SplitMix64 finalizer (PROTOCOL.md §1) of (h, l) -> (rh, rl). */
function mix64(h: number, l: number): void {
  // z ^= z >> 30
  l = (l ^ ((l >>> 30) | (h << 2))) >>> 0;
  h = (h ^ (h >>> 30)) >>> 0;
  mul64(h, l, 0xbf58476d, 0x1ce4e5b9);
  // z ^= z >> 27
  l = (rl ^ ((rl >>> 27) | (rh << 5))) >>> 0;
  h = (rh ^ (rh >>> 27)) >>> 0;
  mul64(h, l, 0x94d049bb, 0x133111eb);
  // z ^= z >> 31
  l = (rl ^ ((rl >>> 31) | (rh << 1))) >>> 0;
  h = (rh ^ (rh >>> 31)) >>> 0;
  rh = h;
  rl = l;
}

const GOLDEN_H = 0x9e3779b9, GOLDEN_L = 0x7f4a7c15;
const LANE_H = 0xd1b54a32, LANE_L = 0xd192ed03;

function checkIndex(name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= TWO53) {
    throw new RangeError(`${name} must be an integer in [0, 2^53), got ${String(v)}`);
  }
}

/**
 * The 32 u64 words of the eight lane states (lane l word i at 4l + i), as 64 uint32 halves:
 * hi at index 2(4l + i), lo at 2(4l + i) + 1.
 */
export function seedLanes(seed: number, stream: number, sub: number): Uint32Array {
  checkIndex('seed', seed);
  checkIndex('stream', stream);
  // Lane keys are stream * 16 + sub * 8 + lane: a sub of 2 would be sub 0 of the next stream.
  if (sub !== 0 && sub !== 1) throw new RangeError(`sub must be 0 or 1, got ${String(sub)}`);
  const st = new Uint32Array(64);
  add64(Math.floor(seed / TWO32) >>> 0, seed >>> 0, GOLDEN_H, GOLDEN_L);
  mix64(rh, rl);
  const bh = rh, bl = rl;
  // stream * 16 + sub * 8 + l (wrapping u64): stream < 2^53, so stream * 16 < 2^57.
  const th = Math.floor(stream / TWO32) >>> 0, tl = stream >>> 0;
  const s16h = ((th << 4) | (tl >>> 28)) >>> 0;
  const s16l = (tl << 4) >>> 0;
  for (let l = 0; l < 8; l++) {
    add64(s16h, s16l, 0, sub * 8 + l);
    add64(rh, rl, LANE_H, LANE_L);
    mix64(rh, rl);
    let smh = (bh ^ rh) >>> 0;
    let sml = (bl ^ rl) >>> 0;
    let zero = true;
    for (let i = 0; i < 4; i++) {
      add64(smh, sml, GOLDEN_H, GOLDEN_L);
      smh = rh;
      sml = rl;
      mix64(smh, sml);
      st[2 * (4 * l + i)] = rh;
      st[2 * (4 * l + i) + 1] = rl;
      if (rh !== 0 || rl !== 0) zero = false;
    }
    if (zero) st[2 * (4 * l) + 1] = 1;
  }
  return st;
}

/**
 * A seed for one purpose of a run, derived from the run's seed: stages that each address
 * streams from 0 up (data generation, rejection blocks, baselines...) must not share uniforms.
 * SplitMix64 of the seed mixed with a 32-bit FNV-1a hash of the purpose, cut to 53 bits.
 */
export function deriveSeed(seed: number, purpose: string): number {
  checkIndex('seed', seed);
  let f = 0x811c9dc5;
  for (let i = 0; i < purpose.length; i++) f = Math.imul(f ^ purpose.charCodeAt(i), 0x01000193) >>> 0;
  add64(Math.floor(seed / TWO32) >>> 0, seed >>> 0, f, GOLDEN_L);
  mix64((rh ^ GOLDEN_H) >>> 0, rl);
  return (rh & 0x1fffff) * TWO32 + rl;
}

/** Outputs buffered per refill: 8 rounds of the 8 lanes. */
const BUF = 64;

/**
 * One random stream (seed, stream, sub). Outputs interleave the eight lanes round-robin.
 * After `next()`, the 64-bit output is available as `hi` / `lo` (uint32 halves).
 *
 * Implementation: signed int32 arithmetic on (hi, lo) pairs with branch-free carries
 * (carry of a + b = ((a & b) | ((a | b) & ~sum)) >>> 31), lane by lane so that each lane's
 * state lives in locals.
 */
export class Stream {
  /** lane states, see seedLanes (stored as int32 bit patterns) */
  private readonly st: Int32Array;
  /** buffered outputs: output j has hi at 2j, lo at 2j + 1 */
  private readonly buf: Int32Array;
  /** next buffered output to hand out (BUF = buffer empty) */
  private pos: number;
  /** high 32 bits of the last output of next() (uint32) */
  hi = 0;
  /** low 32 bits of the last output of next() (uint32) */
  lo = 0;

  constructor(seed: number, stream: number, sub: number) {
    this.st = new Int32Array(seedLanes(seed, stream, sub).buffer);
    this.buf = new Int32Array(2 * BUF);
    this.pos = BUF;
  }

  /** Step every lane BUF/8 times, filling the buffer in stream order. */
  private refill(): void {
    const st = this.st;
    const buf = this.buf;
    for (let l = 0; l < 8; l++) {
      const b = 8 * l;
      let s0h = st[b], s0l = st[b + 1], s1h = st[b + 2], s1l = st[b + 3];
      let s2h = st[b + 4], s2l = st[b + 5], s3h = st[b + 6], s3l = st[b + 7];
      for (let o = 2 * l; o < 2 * BUF; o += 16) {
        let al = (s0l + s3l) | 0;
        let ah = (s0h + s3h + (((s0l & s3l) | ((s0l | s3l) & ~al)) >>> 31)) | 0;
        const rh = (ah << 23) | (al >>> 9);
        const rl = (al << 23) | (ah >>> 9);
        al = (rl + s0l) | 0;
        ah = (rh + s0h + (((rl & s0l) | ((rl | s0l) & ~al)) >>> 31)) | 0;
        buf[o] = ah;
        buf[o + 1] = al;
        const th = (s1h << 17) | (s1l >>> 15);
        const tl = s1l << 17;
        s2h ^= s0h; s2l ^= s0l;
        s3h ^= s1h; s3l ^= s1l;
        s1h ^= s2h; s1l ^= s2l;
        s0h ^= s3h; s0l ^= s3l;
        s2h ^= th; s2l ^= tl;
        const nh = (s3l << 13) | (s3h >>> 19);
        s3l = (s3h << 13) | (s3l >>> 19);
        s3h = nh;
      }
      st[b] = s0h; st[b + 1] = s0l; st[b + 2] = s1h; st[b + 3] = s1l;
      st[b + 4] = s2h; st[b + 5] = s2l; st[b + 6] = s3h; st[b + 7] = s3l;
    }
    this.pos = 0;
  }

  /** Advance by one u64 output; read it from `hi` / `lo` (uint32 halves). */
  next(): void {
    if (this.pos === BUF) this.refill();
    const p = 2 * this.pos++;
    this.hi = this.buf[p] >>> 0;
    this.lo = this.buf[p + 1] >>> 0;
  }

  /** Next output as [hi, lo] (convenience; `next()` + fields is allocation-free). */
  nextU64(): [number, number] {
    this.next();
    return [this.hi, this.lo];
  }

  /** Next output as a BigInt (tests / debugging only). */
  nextU64BigInt(): bigint {
    this.next();
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /** Uniform in the open interval (0, 1): ((x >> 12) + 0.5) * 2^-52 (exact; max 1 - 2^-53). */
  nextF64(): number {
    if (this.pos === BUF) this.refill();
    const p = 2 * this.pos++;
    return ((this.buf[p] >>> 0) * TWO20 + (this.buf[p + 1] >>> 12) + 0.5) * INV52;
  }

  /** (x >> 11) * 2^-53 of the last `next()` output, in [0, 1) (the ziggurat's f). */
  lastF53(): number {
    return (this.hi * TWO21 + (this.lo >>> 11)) * INV53;
  }

  /** Fill `out` with uniforms; same sequence as repeated nextF64() calls. */
  fillF64(out: Float64Array): void {
    const n = out.length;
    let i = 0;
    while (i < n && this.pos < BUF) out[i++] = this.nextF64();
    if (i === n) return;
    // whole rounds of 8 straight from the lanes (each lane's state stays in locals)
    const rounds = ((n - i) / 8) | 0;
    if (rounds > 0) {
      const st = this.st;
      const end = i + rounds * 8;
      for (let l = 0; l < 8; l++) {
        const b = 8 * l;
        let s0h = st[b], s0l = st[b + 1], s1h = st[b + 2], s1l = st[b + 3];
        let s2h = st[b + 4], s2l = st[b + 5], s3h = st[b + 6], s3l = st[b + 7];
        for (let o = i + l; o < end; o += 8) {
          let al = (s0l + s3l) | 0;
          let ah = (s0h + s3h + (((s0l & s3l) | ((s0l | s3l) & ~al)) >>> 31)) | 0;
          const rh = (ah << 23) | (al >>> 9);
          const rl = (al << 23) | (ah >>> 9);
          al = (rl + s0l) | 0;
          ah = (rh + s0h + (((rl & s0l) | ((rl | s0l) & ~al)) >>> 31)) | 0;
          out[o] = ((ah >>> 0) * TWO20 + (al >>> 12) + 0.5) * INV52;
          const th = (s1h << 17) | (s1l >>> 15);
          const tl = s1l << 17;
          s2h ^= s0h; s2l ^= s0l;
          s3h ^= s1h; s3l ^= s1l;
          s1h ^= s2h; s1l ^= s2l;
          s0h ^= s3h; s0l ^= s3l;
          s2h ^= th; s2l ^= tl;
          const nh = (s3l << 13) | (s3h >>> 19);
          s3l = (s3h << 13) | (s3l >>> 19);
          s3h = nh;
        }
        st[b] = s0h; st[b + 1] = s0l; st[b + 2] = s1h; st[b + 3] = s1l;
        st[b + 4] = s2h; st[b + 5] = s2l; st[b + 6] = s3h; st[b + 7] = s3l;
      }
      i = end;
    }
    while (i < n) out[i++] = this.nextF64();
  }
}

/** Fill `out` with the uniforms of stream (seed, stream, sub), from its start. */
export function uniforms(seed: number, stream: number, sub: number, out: Float64Array): void {
  new Stream(seed, stream, sub).fillF64(out);
}
