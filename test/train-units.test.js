// Pure parts of the train layer: model init, safetensors, schedules, shuffling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { models, lrAt, permutation, encodeSafetensors, decodeSafetensors, readSafetensors, writeSafetensors } from '../dist/train/index.js';
import { UsageError } from '../dist/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rsft-train-units-'));

test('models.mlp: names, shapes, PyTorch-default uniform init, deterministic from the seed', () => {
  const m = models.mlp({ sizes: [100, 50, 10], activation: 'relu', seed: 0 });
  assert.equal(m.kind, 'mlp');
  assert.deepEqual(m.params.map((p) => [p.name, p.shape]), [['fc1.weight', [100, 50]], ['fc1.bias', [50]], ['fc2.weight', [50, 10]], ['fc2.bias', [10]]]);
  assert.deepEqual(JSON.parse(JSON.stringify(m.config)), { sizes: [100, 50, 10], activation: 'relu', seed: 0, dtype: 'float32' });
  assert.equal(m.inputSize, 100);
  assert.equal(m.outputSize, 10);
  for (const p of m.params) {
    const bound = 1 / Math.sqrt(p.name.startsWith('fc1') ? 100 : 50);
    let min = Infinity, max = -Infinity, sum = 0;
    for (const v of p.init) { min = Math.min(min, v); max = Math.max(max, v); sum += v; }
    assert.ok(min >= -bound && max <= bound, `${p.name} within ±${bound}`);
    if (p.init.length >= 500) {
      assert.ok(max > 0.9 * bound && min < -0.9 * bound, `${p.name} spans the range`);
      assert.ok(Math.abs(sum / p.init.length) < 0.1 * bound, `${p.name} mean near 0`);
    }
  }
  const again = models.mlp({ sizes: [100, 50, 10], activation: 'relu', seed: 0 });
  const other = models.mlp({ sizes: [100, 50, 10], activation: 'relu', seed: 1 });
  assert.deepEqual(again.params[0].init, m.params[0].init);
  assert.notDeepEqual(other.params[0].init, m.params[0].init);
  const m64 = models.mlp({ sizes: [100, 50, 10], seed: 0, dtype: 'float64' });
  assert.ok(m64.params[0].init instanceof Float64Array);
  assert.equal(Math.fround(m64.params[0].init[7]), m.params[0].init[7]);
  assert.throws(() => models.mlp({ sizes: [3] }), UsageError);
  assert.throws(() => models.mlp({ sizes: [3, 2], activation: 'softplus' }), UsageError);
});

test('lr schedules: constant, linear warm-up (+ decay), cosine', () => {
  const seq = (s, n) => Array.from({ length: n }, (_, i) => lrAt(s, 1, i + 1));
  assert.deepEqual(seq({ type: 'constant' }, 3), [1, 1, 1]);
  assert.deepEqual(seq({ type: 'linear_warmup', warmup: 4 }, 6), [0.25, 0.5, 0.75, 1, 1, 1]);
  assert.deepEqual(seq({ type: 'linear_warmup', warmup: 2, total: 6 }, 7), [0.5, 1, 0.75, 0.5, 0.25, 0, 0]);
  const cos = seq({ type: 'cosine', warmup: 2, total: 6 }, 7);
  const want = [0.5, 1, (1 + Math.cos(Math.PI / 4)) / 2, 0.5, (1 + Math.cos((3 * Math.PI) / 4)) / 2, 0, 0];
  cos.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-15, `cosine step ${i + 1}: ${v} vs ${want[i]}`));
});

test('permutation: a pure function of (seed, epoch, n), a true permutation', () => {
  const a = permutation(3, 0, 1000), b = permutation(3, 0, 1000), c = permutation(3, 1, 1000);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual([...a].sort((p, q) => p - q), Array.from({ length: 1000 }, (_, i) => i));
});

test('safetensors: round trip with metadata, 8-byte aligned data, atomic write', () => {
  const tensors = [
    ['a', { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) }],
    ['b', { dtype: 'F64', shape: [1], data: Float64Array.of(Math.PI) }],
    ['c', { dtype: 'I64', shape: [2], data: BigInt64Array.of(-1n, 2n ** 40n) }],
    ['d', { dtype: 'I32', shape: [0], data: new Int32Array(0) }],
  ];
  const bytes = encodeSafetensors(tensors, { k: 'v' });
  const hlen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + hlen) % 8, 0, 'data starts 8-aligned');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  assert.deepEqual(header.a, { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
  assert.deepEqual(header.b.data_offsets, [24, 32]);
  assert.deepEqual(header.__metadata__, { k: 'v' });
  const path = join(dir, 'rt.safetensors');
  writeSafetensors(path, tensors, { k: 'v' });
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporaries left');
  const back = readSafetensors(path);
  assert.deepEqual(back.metadata, { k: 'v' });
  for (const [name, t] of tensors) assert.deepEqual(back.tensors.get(name), t);
  assert.deepEqual(readFileSync(path), Buffer.from(bytes));
});

test('safetensors: corrupt input gives one-line UsageErrors', () => {
  const good = encodeSafetensors([['w', { dtype: 'F32', shape: [4], data: new Float32Array(4) }]]);
  const withHeader = (h) => {
    const hb = new TextEncoder().encode(JSON.stringify(h));
    const out = new Uint8Array(8 + hb.length + 16);
    new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
    out.set(hb, 8);
    return out;
  };
  const cases = [
    [good.subarray(0, 5), /too short/],
    [good.subarray(0, 12), /header length \d+ exceeds/],
    [good.subarray(0, good.length - 4), /exceed the 12 data bytes/],
    [(() => { const b = good.slice(); b[9] = 0x7b; b[10] = 0x7b; return b; })(), /header is not JSON/],
    [withHeader({ w: { dtype: 'F16', shape: [4], data_offsets: [0, 8] } }), /dtype "F16"/],
    [withHeader({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 12] } }), /12 bytes for F32\[4\]/],
    [withHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), /invalid shape/],
    [withHeader({ w: { dtype: 'F32', shape: [4], data_offsets: [8, 4] } }), /invalid data_offsets/],
    [withHeader([1, 2]), /not a JSON object/],
    [withHeader({ __metadata__: { a: 1 } }), /__metadata__\.a is not a string/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => decodeSafetensors(bytes, 'f.safetensors'), (e) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n') && e.message.startsWith('f.safetensors'), String(re));
  }
  assert.throws(() => readSafetensors(join(dir, 'missing.safetensors')), (e) => e instanceof UsageError && /cannot read .*: no such file or directory/.test(e.message));
  writeFileSync(join(dir, 'bad.safetensors'), 'hello');
  assert.throws(() => readSafetensors(join(dir, 'bad.safetensors')), UsageError);
});

test('intraOpThreads: threads is a cap; one thread plus one per 0.5 GFLOP of step work', async () => {
  const { intraOpThreads, FLOP_PER_THREAD } = await import('../dist/train/sessions.js');
  assert.equal(FLOP_PER_THREAD, 5e8);
  const step = (params, rows) => 6 * params * rows;
  assert.equal(intraOpThreads(2, step(5560, 256)), 1); // MLP 100-50-10, batch 256: 8.5 MFLOP
  assert.equal(intraOpThreads(2, step(136_714, 256)), 1); // MLP 256-512-10: 0.21 GFLOP
  assert.equal(intraOpThreads(2, step(100_000, 64 * 14)), 2); // the rsft rft GPT: 0.54 GFLOP
  assert.equal(intraOpThreads(8, step(1_863_690, 256)), 6); // MLP 784-1024-1024-10: 2.9 GFLOP
  assert.equal(intraOpThreads(2, step(1_863_690, 256)), 2);
  assert.equal(intraOpThreads(1, 1e12), 1);
  assert.equal(intraOpThreads(4, 0), 1);
});
