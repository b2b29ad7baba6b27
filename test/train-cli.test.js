// `rsft train` as a user runs it: trains on generated .npy data, writes an ONNX model that a
// fresh onnxruntime-node session runs, --json, checkpoint + resume, and every bad input giving
// exit code 2, one stderr line and no output file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync, readFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeNpy, encodeNpy } from '../dist/io/npy-read.js';
import { mulberry32 } from './helpers/prng.js';
import { cli, runCli as run } from './helpers/cli.js';



/** Separable synthetic data: class = argmax of 3 fixed projections of 8 features. */
function makeData(n, seed = 1) {
  const r = mulberry32(seed);
  const x = new Float64Array(n * 8), y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, bv = -Infinity;
    for (let j = 0; j < 8; j++) x[i * 8 + j] = 2 * r() - 1;
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let j = 0; j < 8; j++) s += x[i * 8 + j] * Math.sin(1 + c * 8 + j);
      if (s > bv) (bv = s), (best = c);
    }
    y[i] = BigInt(best);
  }
  return { x, y };
}

const dir = mkdtempSync(join(tmpdir(), 'rsft-train-cli-'));
const { x, y } = makeData(512);
const X = join(dir, 'x.npy'), Y = join(dir, 'y.npy');
writeNpy(X, x, [512, 8]);
writeNpy(Y, y, [512]);
const base = ['train', '--model', 'mlp:8-32-3', '--x', X, '--y', Y, '--batch', '64', '--lr', '0.01', '--seed', '3', '--threads', '1'];

test('trains, exports an ONNX model a fresh session runs, prints a summary', async () => {
  const out = join(dir, 'model.onnx');
  const r = await run([...base, '--epochs', '8', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /accuracy\s+\d/);
  const acc = Number(/accuracy\s+([\d.]+)%/.exec(r.stdout)[1]);
  assert.ok(acc > 80, `accuracy ${acc}% on a separable problem`);
  const session = await ort.InferenceSession.create(readFileSync(out));
  assert.deepEqual(session.inputNames, ['x']);
  const xs = Float32Array.from(x.subarray(0, 5 * 8));
  const res = await session.run({ x: new ort.Tensor('float32', xs, [5, 8]) });
  const logits = res[session.outputNames[0]];
  assert.deepEqual(logits.dims, [5, 3]);
  assert.equal(logits.type, 'float32');
  assert.ok(Array.from(logits.data).every(Number.isFinite));
});

test('--json summary; checkpoint + resume equals the uninterrupted run', async () => {
  const [full, first] = await Promise.all([
    run([...base, '--epochs', '2', '--out', join(dir, 'full.onnx'), '--checkpoint', join(dir, 'full.safetensors'), '--json']),
    run([...base, '--epochs', '1', '--out', join(dir, 'half.onnx'), '--checkpoint', join(dir, 'half.safetensors'), '--json']),
  ]);
  assert.equal(full.status, 0, full.stderr);
  assert.equal(first.status, 0, first.stderr);
  const s = JSON.parse(full.stdout);
  assert.equal(s.steps, 16);
  for (const k of ['loss', 'accuracy', 'examplesPerSecond', 'seconds']) assert.equal(typeof s[k], 'number', k);
  assert.ok(s.accuracy >= 0 && s.accuracy <= 1);
  assert.equal(JSON.parse(first.stdout).steps, 8);

  const resumed = await run([...base, '--epochs', '2', '--resume', join(dir, 'half.safetensors'), '--out', join(dir, 'resumed.onnx'), '--json']);
  assert.equal(resumed.status, 0, resumed.stderr);
  const t = JSON.parse(resumed.stdout);
  assert.equal(t.steps, 16);
  assert.equal(t.loss, s.loss, 'resumed run ends with the same loss');
  assert.equal(t.accuracy, s.accuracy);
  assert.deepEqual(readFileSync(join(dir, 'resumed.onnx')), readFileSync(join(dir, 'full.onnx')), 'same exported model');
});

test('--help documents every flag', async () => {
  const r = await run(['train', '--help']);
  assert.equal(r.status, 0);
  for (const f of ['--model', '--activation', '--x', '--y', '--epochs', '--batch', '--lr', '--weight-decay', '--optimizer', '--seed', '--out', '--checkpoint', '--resume', '--threads', '--device', '--json']) {
    assert.ok(r.stdout.includes(f), f);
  }
  const top = await run(['help']);
  assert.match(top.stdout, /train\s+train a classifier/);
});

test('every bad input: exit 2, one stderr line, no output file left', async () => {
  const bad = mkdtempSync(join(tmpdir(), 'rsft-train-bad-'));
  const f = (name) => join(bad, name);
  const put = (name, data, shape) => writeNpy(f(name), data, shape);
  put('x7.npy', new Float32Array(512 * 7), [512, 7]);
  put('x1d.npy', new Float32Array(512), [512]);
  const xn = Float32Array.from(x); xn[8 * 17 + 2] = NaN;
  put('xnan.npy', xn, [512, 8]);
  const xi = Float64Array.from(x); xi[5] = Infinity;
  put('xinf.npy', xi, [512, 8]);
  const xbig = Float64Array.from(x); xbig[9] = 1e300;
  put('xbig.npy', xbig, [512, 8]);
  put('y3.npy', BigInt64Array.from(y, (v, i) => (i === 40 ? 3n : v)), [512]);
  put('yneg.npy', Int32Array.from(y, (v, i) => (i === 7 ? -1 : Number(v))), [512]);
  put('yfloat.npy', Float64Array.from(y, Number), [512]);
  put('yshort.npy', y.subarray(0, 500), [500]);
  put('x500.npy', Float32Array.from(x.subarray(0, 500 * 8)), [500, 8]);
  put('y2d.npy', new BigInt64Array(1024), [512, 2]);
  writeFileSync(f('trunc.npy'), encodeNpy(Float32Array.from(x), [512, 8]).subarray(0, 1000));
  writeFileSync(f('garbage.safetensors'), 'not a checkpoint at all');
  copyFileSync(X, f('x-copy.npy'));
  // a real checkpoint of a different model, and a truncated copy of it
  const other = await run(['train', '--model', 'mlp:8-16-3', '--x', X, '--y', Y, '--batch', '64', '--epochs', '2', '--threads', '1', '--checkpoint', f('other.safetensors')]);
  assert.equal(other.status, 0, other.stderr);
  const good = readFileSync(f('other.safetensors'));
  writeFileSync(f('cut.safetensors'), good.subarray(0, good.length - 100));

  const O = f('m.onnx'), C = f('c.safetensors');
  const std = (over = {}) => {
    const o = { '--model': 'mlp:8-32-3', '--x': X, '--y': Y, '--epochs': '1', '--batch': '64', '--out': O, ...over };
    return ['train', ...Object.entries(o).filter(([, v]) => v !== null).flat()];
  };
  const cases = [
    [std({ '--model': 'mlp:8-32-3x' }), /--model: expected 'mlp:IN-H1-...-CLASSES'/],
    [std({ '--model': 'resnet:8-3' }), /--model/],
    [std({ '--model': 'mlp:8-1' }), /at least 2 classes/],
    [std({ '--model': 'mlp:7-32-3' }), /x\.npy: x has 8 features per row .* the model takes 7/],
    [std({ '--model': 'mlp:8-32-2' }), /label y\[\d+\] = 2 is out of range for 2 classes/],
    [std({ '--x': f('x7.npy') }), /x7\.npy: x has 7 features per row/],
    [std({ '--x': f('x1d.npy') }), /x1d\.npy: x must have shape \[N, 8\]/],
    [std({ '--x': f('xnan.npy') }), /xnan\.npy: x\[17, 2\] is NaN/],
    [std({ '--x': f('xinf.npy') }), /xinf\.npy: x\[0, 5\] is Infinity/],
    [std({ '--x': f('xbig.npy') }), /xbig\.npy: x\[1, 1\] is 1e\+300 \(overflows float32\)/],
    [std({ '--y': f('y3.npy') }), /y3\.npy: label y\[40\] = 3 is out of range for 3 classes/],
    [std({ '--y': f('yneg.npy') }), /yneg\.npy: label y\[7\] = -1 is out of range/],
    [std({ '--y': f('yfloat.npy') }), /yfloat\.npy: labels must have an integer dtype/],
    [std({ '--y': f('yshort.npy') }), /yshort\.npy: 500 labels for 512 rows of x/],
    [std({ '--y': f('y2d.npy') }), /y2d\.npy: labels must have shape \[N\]/],
    [std({ '--x': f('trunc.npy') }), /trunc\.npy: truncated \.npy file/],
    [std({ '--x': f('missing.npy') }), /cannot read .*missing\.npy: no such file/],
    [std({ '--y': X }), /labels must have an integer dtype/],
    [std({ '--x': null }), /--x is required/],
    [std({ '--out': null }), /--out \(and\/or --checkpoint\) is required/],
    [std({ '--out': f('m.txt') }), /--out: the model file must end in \.onnx/],
    [std({ '--out': f('nodir/m.onnx') }), /directory .* does not exist/],
    [std({ '--checkpoint': f('nodir/c.safetensors') }), /cannot write .*nodir\/c\.safetensors: directory .* does not exist/],
    [std({ '--epochs': '0' }), /--epochs: must be a positive integer/],
    [std({ '--epochs': 'two' }), /--epochs: 'two' is not a number/],
    [std({ '--batch': '-3' }), /--batch: must be a positive integer/],
    [std({ '--lr': '0' }), /--lr: must be a positive number/],
    [std({ '--lr': 'nan' }), /--lr: 'nan' is not a number/],
    [std({ '--weight-decay': '-1' }), /--weight-decay: must be a non-negative number/],
    [std({ '--optimizer': 'adam' }), /--optimizer: must be adamw or sgd/],
    [std({ '--momentum': '0.9' }), /--momentum applies to --optimizer sgd only/],
    [std({ '--optimizer': 'sgd', '--momentum': '1.5' }), /--momentum: must be in \[0, 1\)/],
    [std({ '--activation': 'softmax' }), /--activation: must be relu, gelu, tanh/],
    [std({ '--threads': '0' }), /--threads: must be a positive integer/],
    [std({ '--device': 'tpu' }), /--device: must be cpu, cuda or auto/],
    [std({ '--seed': '-1' }), /--seed: must be a non-negative integer/],
    [std({ '--checkpoint': O }), /--out and --checkpoint must be different files/],
    [std({ '--checkpoint': `${bad}/./m.onnx` }), /--out and --checkpoint must be different files/],
    [std({ '--threads': '1000000' }), /--threads: 1000000 is more than 4x the \d+ available cores/],
    // the last update overflows: its loss (taken before the update) is finite, its weights not
    [std({ '--lr': '1e308', '--batch': '512' }), /training diverged: weight \S+ is not finite after step \d+ \(try a smaller --lr\)/],
    // sizes too big to allocate: the user's to change, one line, not a stack
    [std({ '--batch': '3e9' }), /out of memory: Invalid typed array length: \d+; choose smaller sizes/],
    [[...std(), '--bogus'], /train: Unknown option '--bogus'/],
    [[...std(), 'extra'], /unexpected argument 'extra'/],
    [std({ '--resume': f('garbage.safetensors'), '--checkpoint': C }), /garbage\.safetensors is not a valid safetensors file/],
    [std({ '--resume': f('cut.safetensors'), '--checkpoint': C }), /cut\.safetensors is not a valid safetensors file: .*truncated/],
    [std({ '--resume': f('other.safetensors'), '--checkpoint': C }), /checkpoint .*other\.safetensors does not match this trainer: model mlp/],
    [std({ '--resume': f('other.safetensors'), '--model': 'mlp:8-16-3', '--optimizer': 'sgd', '--epochs': '3' }), /other\.safetensors does not match this trainer: optimizer adamw/],
    [std({ '--resume': f('x-copy.npy'), '--checkpoint': C }), /x-copy\.npy/],
    [std({ '--resume': f('none.safetensors') }), /none\.safetensors/],
    [std({ '--resume': f('other.safetensors'), '--model': 'mlp:8-16-3', '--epochs': '1' }), /other\.safetensors: already 2 epochs in, more than --epochs 1/],
    // an exact continuation needs the checkpoint's data, batch and shuffle seed
    [std({ '--resume': f('other.safetensors'), '--model': 'mlp:8-16-3', '--epochs': '3', '--x': f('x500.npy'), '--y': f('yshort.npy') }), /other\.safetensors was trained with 512 training rows, --x has 500: resume with the same data, --batch and --seed/],
    [std({ '--resume': f('other.safetensors'), '--model': 'mlp:8-16-3', '--epochs': '3', '--batch': '32' }), /was trained with --batch 64, this run has 32:/],
    [std({ '--resume': f('other.safetensors'), '--model': 'mlp:8-16-3', '--epochs': '3', '--seed': '5' }), /was trained with --seed 0, this run has 5:/],
  ];
  const results = [];
  for (let i = 0; i < cases.length; i += 8) results.push(...(await Promise.all(cases.slice(i, i + 8).map(([args]) => run(args)))));
  const wrong = [];
  for (const [k, [args, re]] of cases.entries()) {
    const r = results[k];
    const ok = r.status === 2 && r.stdout === '' && /^rsft: error: [^\n]+\n$/.test(r.stderr) && re.test(r.stderr);
    if (!ok) wrong.push(`${args.slice(1).join(' ')}\n  -> exit ${r.status}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)} (want ${re})`);
  }
  assert.deepEqual(wrong, [], wrong.join('\n'));
  const left = readdirSync(bad).filter((n) => !/^(x7|x1d|xnan|xinf|xbig|y3|yneg|yfloat|yshort|y2d|trunc|x-copy|x500)\.npy$|^(garbage|other|cut)\.safetensors$/.test(n));
  assert.deepEqual(left, [], 'no output or temporary file left behind');
});

test('an interrupted run (SIGINT) leaves no model, checkpoint or temporary file', async () => {
  const d = mkdtempSync(join(tmpdir(), 'rsft-train-int-'));
  const p = spawn(process.execPath, [cli, ...base, '--model', 'mlp:8-512-512-3', '--epochs', '1000', '--out', join(d, 'm.onnx'), '--checkpoint', join(d, 'c.safetensors')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = new Promise((resolve) => p.on('close', (code, signal) => resolve({ code, signal })));
  const t0 = Date.now();
  // wait until the outputs' temporaries exist (training has started), then interrupt
  while (readdirSync(d).filter((n) => n.endsWith('.tmp')).length < 2 && Date.now() - t0 < 20000) await new Promise((r) => setTimeout(r, 50));
  p.kill('SIGINT');
  const timer = setTimeout(() => p.kill('SIGKILL'), 20000);
  const { code, signal } = await closed;
  clearTimeout(timer);
  assert.notEqual(code, 0, `interrupted run must not succeed (code ${code}, signal ${signal})`);
  // a checkpoint of a finished epoch may exist (it is complete); nothing else may
  const left = readdirSync(d).filter((n) => n !== 'c.safetensors');
  assert.deepEqual(left, [], 'no model file or temporary left behind');
});
