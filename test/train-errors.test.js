// Every user mistake of the train layer is a UsageError with a one-line message.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { models, Trainer, readSafetensors, writeSafetensors } from '../dist/train/index.js';
import { UsageError } from '../dist/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rsft-train-err-'));
const open = [];
after(async () => { await Promise.all(open.map((t) => t.close())); });
const opts = (extra = {}) => ({
  model: models.mlp({ sizes: [6, 5, 3], seed: 1 }),
  loss: 'softmax_cross_entropy',
  optimizer: { type: 'adamw', lr: 1e-2 },
  batchSize: 4,
  threads: 1,
  ...extra,
});
async function make(extra) {
  const t = await Trainer.create(opts(extra));
  open.push(t);
  return t;
}
/** Asserts a one-line UsageError whose message matches every regexp. */
function usage(...res) {
  return (e) => {
    assert.ok(e instanceof UsageError, `expected UsageError, got ${e?.name}: ${e?.message}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    for (const re of res) assert.match(e.message, re);
    return true;
  };
}
const x = new Float32Array(8 * 6).map((_, i) => Math.sin(i));
const y = Int32Array.from({ length: 8 }, (_, i) => i % 3);

// First in this file: ORT prints its own line for the failed CUDA probe unless the probe
// creates the process's first session (see sessions.ts).
test("device 'cuda' without the CUDA libraries explains how to install them; 'auto' falls back once", async () => {
  await assert.rejects(Trainer.create(opts({ device: 'cuda' })), usage(/device 'cuda' is not available/, /ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/, /CUDA 12 and cuDNN 9/));
  const write = process.stderr.write;
  const lines = [];
  process.stderr.write = (s, ...rest) => { lines.push(String(s)); return true; };
  try {
    const a = await make({ device: 'auto' });
    const b = await make({ device: 'auto' });
    assert.equal(a.device, 'cpu');
    assert.equal(b.device, 'cpu');
    assert.equal((await a.step({ x, y })).step, 1);
  } finally {
    process.stderr.write = write;
  }
  const said = lines.filter((l) => l.includes('CUDA is not available'));
  assert.equal(said.length, 1, `said once: ${lines.join('')}`);
  assert.match(said[0], /training on CPU/);
});

test('bad data: shapes, labels, NaN, types', async () => {
  const t = await make();
  await assert.rejects(t.step({ x: x.subarray(0, 10), y }), usage(/x has 10 values, not a multiple of the model's 6 inputs/));
  await assert.rejects(t.step({ x, y: y.subarray(0, 7) }), usage(/y has 7 labels but x has 8 rows of 6/));
  await assert.rejects(t.step({ x, y: Int32Array.of(0, 1, 2, 3, 0, 1, 2, 0) }), usage(/label 3 at row 3 is out of range \[0, 3\)/));
  await assert.rejects(t.fit({ x, y: BigInt64Array.from(y, (v) => BigInt(v) - 1n), epochs: 1 }), usage(/label -1 at row 0 is out of range/));
  const xn = x.slice(); xn[13] = NaN;
  await assert.rejects(t.step({ x: xn, y }), usage(/x has NaN at row 2, column 1/));
  xn[13] = -Infinity;
  await assert.rejects(t.evaluate({ x: xn, y }), usage(/x has -Infinity at row 2, column 1/));
  await assert.rejects(t.step({ x: Array.from(x), y }), usage(/x must be a Float32Array or Float64Array, got Array/));
  await assert.rejects(t.step({ x, y: Float32Array.from(y) }), usage(/y must be an Int32Array or BigInt64Array of class labels/));
  await assert.rejects(t.step({ x: new Float32Array(0), y: new Int32Array(0) }), usage(/x is empty/));
  await assert.rejects(t.fit({ x, y, epochs: 1, evalData: { x: x.subarray(0, 12), y } }), usage(/evalData\.y has 8 labels but evalData\.x has 2 rows/));
  await assert.rejects(t.fit({ x, y, epochs: 1, evalEvery: 2 }), usage(/evalEvery and earlyStopping need evalData/));
  await assert.rejects(t.fit({ x, y, epochs: -1 }), usage(/epochs must be a non-negative integer/));
  await assert.rejects(t.fit({ x, y, epochs: 1, earlyStopping: { patience: 0 }, evalData: { x, y } }), usage(/patience/));
  // The trainer is still usable, and nothing ran.
  assert.equal(t.stepCount, 0);
  assert.equal((await t.step({ x, y })).step, 1);
});

test('bad options', async () => {
  const cases = [
    [{ loss: 'hinge' }, /loss must be one of softmax_cross_entropy, mse, bce_with_logits/],
    [{ batchSize: 0 }, /batchSize must be a positive integer/],
    [{ optimizer: { type: 'rmsprop', lr: 1 } }, /optimizer.type must be adamw or sgd/],
    [{ optimizer: { type: 'adamw', lr: -1 } }, /optimizer.lr must be a non-negative number/],
    [{ optimizer: { type: 'sgd', lr: 1, momentum: 1 } }, /momentum must be in \[0, 1\)/],
    [{ schedule: { type: 'cosine' } }, /cosine needs total/],
    [{ schedule: { type: 'step' } }, /schedule.type/],
    [{ threads: 0 }, /threads must be a positive integer/],
    [{ device: 'tpu' }, /device must be cpu, cuda or auto/],
    [{ accumulation: 5 }, /accumulation \(5\) cannot exceed batchSize \(4\)/],
    [{ model: {} }, /model must be a model object/],
  ];
  for (const [extra, re] of cases) await assert.rejects(Trainer.create(opts(extra)), usage(re), String(re));
});

test('checkpoints: corrupt, foreign, mismatched, unreadable', async () => {
  const t = await make();
  await t.step({ x, y });
  const ck = join(dir, 'ck.safetensors');
  await t.save(ck);
  const bytes = readFileSync(ck);
  const bad = (name, data) => { const p = join(dir, name); writeFileSync(p, data); return p; };
  const truncated = bad('trunc.safetensors', bytes.subarray(0, bytes.length - 10));
  await assert.rejects(Trainer.load(truncated), usage(/trunc\.safetensors is not a valid safetensors file: .*exceed the .* data bytes \(truncated\?\)/));
  await assert.rejects(t.resume(truncated), usage(/truncated/));
  const garbage = bad('garbage.safetensors', Buffer.from('\x10\x00\x00\x00\x00\x00\x00\x00{not json at all'));
  await assert.rejects(Trainer.load(garbage), usage(/header is not JSON/));
  await assert.rejects(Trainer.load(join(dir, 'nope.safetensors')), usage(/cannot read .*nope\.safetensors: no such file or directory/));
  await assert.rejects(t.resume(dir), usage(/cannot read .*: is a directory/));
  // A plain safetensors file is not a checkpoint.
  const plain = join(dir, 'plain.safetensors');
  writeSafetensors(plain, [['w', { dtype: 'F32', shape: [1], data: new Float32Array(1) }]]);
  await assert.rejects(Trainer.load(plain), usage(/is not an rsft checkpoint/));
  // Same metadata, a tensor missing and one of the wrong dtype.
  const f = readSafetensors(ck);
  const tensors = [...f.tensors].filter(([k]) => k !== 'fc2.bias').map(([k, v]) => (k === 'fc1.bias' ? [k, { dtype: 'F64', shape: v.shape, data: Float64Array.from(v.data) }] : [k, v]));
  const broken = join(dir, 'broken.safetensors');
  writeSafetensors(broken, tensors, f.metadata);
  await assert.rejects(Trainer.load(broken), usage(/does not match the model: 'fc1.bias' has dtype F64, expected F32; missing 'fc2.bias'/));
  const meta = join(dir, 'meta.safetensors');
  writeSafetensors(meta, [...f.tensors], { ...f.metadata, run: '{oops' });
  await assert.rejects(Trainer.load(meta), usage(/corrupt checkpoint metadata 'run'/));
  writeSafetensors(meta, [...f.tensors], { ...f.metadata, counters: '{"step":-1}' });
  await assert.rejects(Trainer.load(meta), usage(/meta\.safetensors: corrupt checkpoint metadata$/));
  writeSafetensors(meta, [...f.tensors], { ...f.metadata, model: '{"kind":"mlp","config":{"sizes":[6]}}' });
  await assert.rejects(Trainer.load(meta), usage(/meta\.safetensors: corrupt checkpoint configuration: mlp: sizes must be/));
  writeSafetensors(meta, [...f.tensors], { ...f.metadata, run: JSON.stringify({ ...JSON.parse(f.metadata.run), loss: 'hinge' }) });
  await assert.rejects(Trainer.load(meta), usage(/corrupt checkpoint configuration: loss must be one of/));
  // Another model / optimizer / dtype.
  const other = await make({ model: models.mlp({ sizes: [6, 7, 3], seed: 1 }), optimizer: { type: 'sgd', lr: 0.1 } });
  await assert.rejects(other.resume(ck), usage(/does not match this trainer: model mlp .*"sizes":\[6,5,3\].* this trainer has mlp .*\[6,7,3\].*; optimizer adamw, this trainer has sgd/));
  const f64 = await make({ dtype: 'float64' });
  await assert.rejects(f64.resume(ck), usage(/dtype float32, this trainer has float64/));
  // Unwritable destinations; nothing half-written.
  await assert.rejects(t.save(join(dir, 'no', 'such', 'dir', 'c.safetensors')), usage(/cannot write .*does not exist/));
  await assert.rejects(t.exportOnnx(join(dir, 'missing-dir', 'm.onnx')), usage(/cannot write/));
  assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
  assert.equal(t.stepCount, 1);
});

test('pretrained: every mismatch listed; unreadable and corrupt files', async () => {
  const path = join(dir, 'w.safetensors');
  writeSafetensors(path, [
    ['fc1.weight', { dtype: 'F32', shape: [5, 6], data: new Float32Array(30) }],
    ['fc1.bias', { dtype: 'I64', shape: [5], data: new BigInt64Array(5) }],
    ['fc2.weight', { dtype: 'F64', shape: [5, 3], data: new Float64Array(15) }],
  ]);
  await assert.rejects(Trainer.create(opts({ pretrained: path })), usage(
    /w\.safetensors does not fit the model: 'fc1.weight' has shape \[5,6\], expected \[6,5\]; 'fc1.bias' has dtype I64, expected F32 or F64; missing 'fc2.bias'$/,
  ));
  await assert.rejects(Trainer.create(opts({ pretrained: join(dir, 'none.onnx') })), usage(/cannot read .*none\.onnx: no such file or directory/));
  const junk = join(dir, 'junk.onnx');
  writeFileSync(junk, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
  await assert.rejects(Trainer.create(opts({ pretrained: junk })), usage(/junk\.onnx is not a valid ONNX model/));
  // An ONNX model of another shape.
  const t = await make({ model: models.mlp({ sizes: [6, 4, 3], seed: 1 }) });
  const onnx = join(dir, 'other.onnx');
  await t.exportOnnx(onnx);
  await assert.rejects(Trainer.create(opts({ pretrained: onnx })), usage(/'fc1.weight' has shape \[6,4\], expected \[6,5\]; 'fc1.bias' has shape \[4\], expected \[5\]; 'fc2.weight' has shape \[4,3\], expected \[5,3\]/));
});
