import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Stream, uniforms } from '../dist/sampling/rng.js';

const require = createRequire(import.meta.url);
const NATIVE_PATH = process.env.RSFT_NATIVE_PATH ?? new URL('../native/rsft.linux-x64-gnu.node', import.meta.url).pathname;
function loadNative() {
  if (!existsSync(NATIVE_PATH)) return null;
  try { return require(NATIVE_PATH); } catch (e) { return { loadError: e }; }
}

// ---- independent BigInt reference of PROTOCOL.md section 1 ----
const M = (1n << 64n) - 1n;
const G = 0x9E3779B97F4A7C15n;
const mix = (z) => {
  z &= M;
  z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & M;
  return z ^ (z >> 31n);
};
const rotl = (x, k) => ((x << BigInt(k)) | (x >> BigInt(64 - k))) & M;
function refStream(seed, stream, sub) {
  const lanes = [];
  for (let l = 0; l < 8; l++) {
    let sm = mix(BigInt(seed) + G) ^ mix(BigInt(stream) * 16n + BigInt(sub) * 8n + BigInt(l) + 0xD1B54A32D192ED03n);
    const s = [];
    for (let i = 0; i < 4; i++) { sm = (sm + G) & M; s.push(mix(sm)); }
    if (s.every((w) => w === 0n)) s[0] = 1n;
    lanes.push(s);
  }
  let k = 0;
  return () => {
    const s = lanes[k++ % 8];
    const result = (rotl((s[0] + s[3]) & M, 23) + s[0]) & M;
    const t = (s[1] << 17n) & M;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
  };
}
const toF = (x) => (Number(x >> 12n) + 0.5) * 2 ** -52;

const CASES = [[0, 0, 0], [1, 0, 1], [42, 7, 0], [2 ** 53 - 1, 2 ** 53 - 1, 1], [123456789, 3, 1], [0, 2 ** 40 + 5, 0]];

test('u64 outputs match the BigInt reference', () => {
  for (const [seed, st, sub] of CASES) {
    const ref = refStream(seed, st, sub);
    const s = new Stream(seed, st, sub);
    for (let i = 0; i < 300; i++) assert.equal(s.nextU64BigInt(), ref(), `(${seed},${st},${sub}) #${i}`);
  }
});

test('known answers (first outputs of stream (0,0,0))', () => {
  const s = new Stream(0, 0, 0);
  const ref = refStream(0, 0, 0);
  const got = [s.nextU64BigInt(), s.nextU64BigInt()];
  assert.deepEqual(got, [ref(), ref()]);
});

test('fillF64 / uniforms / nextF64 give the same sequence, for odd lengths and mixed calls', () => {
  for (const [seed, st, sub] of CASES) {
    const ref = refStream(seed, st, sub);
    const want = Array.from({ length: 1000 }, () => toF(ref()));
    const a = new Float64Array(1000);
    uniforms(seed, st, sub, a);
    assert.deepEqual(Array.from(a), want);
    // mixed: nextF64, fill of odd lengths, next()
    const s = new Stream(seed, st, sub);
    const got = [];
    got.push(s.nextF64());
    for (const len of [3, 77, 1, 0, 130, 9]) {
      const b = new Float64Array(len);
      s.fillF64(b);
      got.push(...b);
      s.next();
      got.push((s.hi * 2 ** 20 + (s.lo >>> 12) + 0.5) * 2 ** -52);
      assert.equal(s.lastF53(), (s.hi * 2 ** 21 + (s.lo >>> 11)) * 2 ** -53);
    }
    assert.deepEqual(got, want.slice(0, got.length));
  }
});

test('uniforms lie in the open interval (0,1) and look uniform', () => {
  const a = new Float64Array(100000);
  uniforms(9, 9, 0, a);
  let sum = 0, min = 1, max = 0;
  for (const x of a) { sum += x; if (x < min) min = x; if (x > max) max = x; }
  assert.ok(min > 0 && max < 1);
  assert.ok(Math.abs(sum / a.length - 0.5) < 0.005);
});

test('argument validation', () => {
  assert.throws(() => new Stream(-1, 0, 0), RangeError);
  assert.throws(() => new Stream(0, 1.5, 0), RangeError);
  assert.throws(() => new Stream(2 ** 53, 0, 0), RangeError);
  assert.throws(() => new Stream(0, 0, NaN), RangeError);
});

test('TS and native uniforms agree bit for bit', (t) => {
  const native = loadNative();
  if (!native) { t.skip(`native module absent (${NATIVE_PATH})`); return; }
  if (native.loadError || typeof native.uniforms !== 'function') { t.skip(`native module unusable: ${native.loadError ?? 'no uniforms export'}`); return; }
  for (const [seed, st, sub] of CASES) {
    for (const len of [1, 7, 8, 9, 64, 1001, 4096]) {
      const a = new Float64Array(len), b = new Float64Array(len);
      uniforms(seed, st, sub, a);
      native.uniforms(seed, st, sub, b);
      assert.deepEqual(Array.from(b), Array.from(a), `(${seed},${st},${sub}) len ${len}`);
    }
  }
});

test('deriveSeed: a pure function of (seed, purpose), distinct per purpose, a valid seed', async () => {
  const { deriveSeed } = await import('../dist/sampling/rng.js');
  const seen = new Set();
  for (const seed of [0, 1, 2, 2 ** 53 - 1]) {
    for (const p of ['rsft-accept', 'rsft-baseline', 'rsft-ratio', 'demo-scenario']) {
      const v = deriveSeed(seed, p);
      assert.equal(v, deriveSeed(seed, p));
      assert.ok(Number.isSafeInteger(v) && v >= 0);
      seen.add(v);
    }
  }
  assert.equal(seen.size, 16);
  assert.throws(() => deriveSeed(-1, 'x'), RangeError);
});
