// `rsft run` as a user runs it: the classifier RSFT pipeline end to end on small generated
// CSVs, the run folder (summary.json, ONNX models a fresh InferenceSession runs with the reported
// accuracy, accepted.jsonl provenance, report.html), the three ratio methods, a pretrained
// model, and every bad input of the issue (exit 2, one line, no files in the run folder).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeShiftCsvs, makeData, toCsv } from './helpers/rft-data.js';
import { cli, runCli as run } from './helpers/cli.js';



const dir = mkdtempSync(join(tmpdir(), 'rsft-run-'));
const data = writeShiftCsvs(dir);

function config(extra = {}) {
  const base = {
    seed: 1,
    data: { source: { path: 'source.csv', label: 'label' }, target: { path: 'target.csv' }, test: { path: 'test.csv', label: 'label' } },
    model: { pretrained: null, hidden: [16], activation: 'relu' },
    ratio: { method: 'classifier', clip: 0.99 },
    finetune: { samples: 800, epochs: 3, lr: 0.001, batch: 64 },
    pretrain: { epochs: 4, lr: 0.002, batch: 64 },
    threads: 1,
    out: 'runs/x',
  };
  return { ...base, ...extra };
}

let n = 0;
function writeConfig(cfg, ext = 'json') {
  const p = join(dir, `cfg${n++}.${ext}`);
  writeFileSync(p, ext === 'json' ? JSON.stringify(cfg) : cfg);
  return p;
}

async function accuracyOf(modelPath, ds) {
  const sess = await ort.InferenceSession.create(modelPath);
  const out = await sess.run({ x: new ort.Tensor('float32', ds.x, [ds.n, ds.d]) });
  const logits = out.logits.data, C = out.logits.dims[1];
  let ok = 0;
  for (let i = 0; i < ds.n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
    if (best === ds.y[i]) ok++;
  }
  return ok / ds.n;
}

test('rsft run: end to end on CSVs, run folder, exported models, provenance', async () => {
  const cfgPath = writeConfig(
    `# yaml config\nseed: 1\ndata:\n  source: { path: source.csv, label: label }\n  target: { path: target.csv }\n  test: { path: test.csv, label: label }\n` +
      `model: { pretrained: null, hidden: [16], activation: relu }\nratio: { method: classifier, clip: 0.99 }\n` +
      `finetune: { samples: 800, epochs: 3, lr: 0.001, batch: 64 }\npretrain: { epochs: 4, lr: 0.002, batch: 64 }\nthreads: 1\nout: runs/e2e\n`,
    'yaml',
  );
  const r = await run(['run', cfgPath, '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /rsft run: sample: accepted/);
  const s = JSON.parse(r.stdout);
  const out = join(dir, 'runs/e2e');
  assert.deepEqual(readdirSync(out).sort(), ['accepted.jsonl', 'model.onnx', 'pretrained.onnx', 'report.html', 'summary.json']);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')), s);
  for (const k of ['pretrained', 'rsft']) assert.ok(s[k].accuracy > 0.25 && s[k].accuracy <= 1, `${k} ${s[k].accuracy}`);
  for (const k of ['uniform', 'weighted']) assert.ok(Number.isFinite(s.baselines[k].accuracy));
  // The weighted baseline fine-tunes on the whole pool with the weights in the loss, as many steps as RSFT (800 rows / 64, 3 epochs).
  assert.ok(s.notes.some((n) => /^weighted baseline: importance-weighted fine-tuning on the whole pool .*in the loss.* 39 optimizer steps of batch 64/.test(n)), s.notes.join(' | '));
  const a = s.acceptance;
  assert.equal(a.accepted, 800);
  assert.ok(a.M > 0 && a.clipped > 0 && a.proposals >= a.accepted);
  assert.ok(Math.abs(a.rate - a.accepted / a.proposals) < 1e-12);
  assert.equal(s.config.ratio.method, 'classifier');
  assert.ok(s.timings.pretrain > 0 && s.timings.total > 0);
  // The shift is real: RSFT (reweighted towards the target) beats the pretrained model here.
  assert.ok(s.rsft.accuracy > s.pretrained.accuracy, `rsft ${s.rsft.accuracy} vs pretrained ${s.pretrained.accuracy}`);
  // Exported inference models take raw features and give the reported accuracy.
  const accRsft = await accuracyOf(join(out, 'model.onnx'), data.test);
  const accPre = await accuracyOf(join(out, 'pretrained.onnx'), data.test);
  assert.ok(Math.abs(accRsft - s.rsft.accuracy) <= 2 / data.test.n, `onnx ${accRsft} vs summary ${s.rsft.accuracy}`);
  assert.ok(Math.abs(accPre - s.pretrained.accuracy) <= 2 / data.test.n, `onnx ${accPre} vs summary ${s.pretrained.accuracy}`);
  // Provenance: one line per accepted example, consistent with M.
  const prov = readFileSync(join(out, 'accepted.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(prov.length, a.accepted);
  for (const p of prov) {
    assert.ok(Number.isInteger(p.row) && p.row >= 0 && p.row < data.source.n);
    assert.ok(p.u >= 0 && p.u < 1 && p.u * a.M < Math.min(p.w, a.M));
    assert.ok(Number.isInteger(p.block) && p.block >= 0);
  }
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /<html|<!doctype/i);
  assert.doesNotMatch(html, /<script[^>]+src=|https?:\/\/(?!www\.w3\.org)/);

  // Same config again: reproducible acceptance; a pretrained model loaded from pretrained.onnx
  // (raw-input model) evaluates to the same pretrained accuracy.
  const r2 = await run(['run', writeConfig(config({ model: { pretrained: 'runs/e2e/pretrained.onnx', hidden: [16], activation: 'relu' }, out: 'runs/pre' })), '--json']);
  assert.equal(r2.status, 0, r2.stderr);
  const s2 = JSON.parse(r2.stdout);
  assert.ok(Math.abs(s2.pretrained.accuracy - s.pretrained.accuracy) <= 2 / data.test.n, `${s2.pretrained.accuracy} vs ${s.pretrained.accuracy}`);
  const prov2 = readFileSync(join(dir, 'runs/pre/accepted.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(prov2.length, 800);
});

test('rsft run: column and expression ratios, labeled target set, table output', async () => {
  // weights column: the true ratio of N(1.5, 1) to N(0, 1) in feature 0
  const src = data.source;
  const wcol = Float64Array.from({ length: src.n }, (_, i) => Math.exp(1.5 * src.x[i * src.d] - 1.125));
  writeFileSync(join(dir, 'source-w.csv'), toCsv(src, { extra: { w: wcol } }));
  const few = makeData(100, 1.5, 1, 3);
  writeFileSync(join(dir, 'few.csv'), toCsv(few));
  const col = run(['run', writeConfig(config({
    data: { source: { path: 'source-w.csv' }, target: { path: 'target.csv' }, test: { path: 'test.csv' }, targetLabeled: { path: 'few.csv' } },
    ratio: { method: 'column', column: 'w', clip: 0.95 }, out: 'runs/col',
  }))]);
  const ex = run(['run', writeConfig(config({ ratio: { method: 'expression', expr: '1.5*x0 - 1.125', clip: 1 }, out: 'runs/expr' })), '--json']);
  const [c, e] = await Promise.all([col, ex]);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /RSFT/);
  assert.match(c.stdout, /labeled target only/);
  const sc = JSON.parse(readFileSync(join(dir, 'runs/col/summary.json'), 'utf8'));
  assert.ok(Number.isFinite(sc.baselines.targetOnly.accuracy));
  // every fine-tuning baseline gets as many optimizer steps as RSFT (3 epochs over the accepted
  // rows plus the 100 labeled target rows), the target-only one too, over its 100 rows
  const steps = 3 * Math.ceil((sc.acceptance.accepted + 100) / 64);
  assert.ok(sc.notes.some((n) => n.startsWith('weighted baseline') && n.includes(`${steps} optimizer steps`)), sc.notes.join('\n'));
  assert.ok(sc.notes.some((n) => n.startsWith('targetOnly baseline: fine-tuning on the 100 labeled target rows alone') && n.includes(`${steps} optimizer steps`)), sc.notes.join('\n'));
  assert.equal(e.status, 0, e.stderr);
  const se = JSON.parse(e.stdout);
  assert.equal(se.acceptance.clipped, 0); // clip 1: M = max w, exact rejection sampling
  assert.ok(se.rsft.accuracy > se.pretrained.accuracy, `${se.rsft.accuracy} vs ${se.pretrained.accuracy}`);
});

test('rsft run: a pretrained ONNX model keeps its activation; model.hidden or model.activation that disagree are refused', async () => {
  const small = { finetune: { samples: 200, epochs: 1, lr: 0.001, batch: 64 } };
  // (no model.hidden: the default, [50])
  const first = await run(['run', writeConfig(config({ ...small, model: { pretrained: null, activation: 'tanh' }, out: 'runs/tanh' })), '--json']);
  assert.equal(first.status, 0, first.stderr);
  const s1 = JSON.parse(first.stdout);
  // Loaded without an activation in the config: tanh, from the file. (Before, it was run and
  // re-exported with relu: another function of the same weights.)
  const pre = 'runs/tanh/pretrained.onnx';
  const second = await run(['run', writeConfig(config({ ...small, model: { pretrained: pre }, out: 'runs/tanh-pre' })), '--json']);
  assert.equal(second.status, 0, second.stderr);
  const s2 = JSON.parse(second.stdout);
  assert.ok(Math.abs(s2.pretrained.accuracy - s1.pretrained.accuracy) <= 2 / data.test.n, `${s2.pretrained.accuracy} vs ${s1.pretrained.accuracy}`);
  assert.deepEqual(s1.model, { sizes: [4, 50, 4], activation: 'tanh', pretrained: null });
  assert.deepEqual({ ...s2.model, pretrained: s2.model.pretrained.endsWith(pre) }, { sizes: [4, 50, 4], activation: 'tanh', pretrained: true });
  const onnx = (await import('onnx-proto')).default.onnx;
  for (const f of ['pretrained.onnx', 'model.onnx']) {
    const ops = onnx.ModelProto.decode(readFileSync(join(dir, 'runs/tanh-pre', f))).graph.node.map((n) => n.opType);
    assert.ok(ops.includes('Tanh') && !ops.includes('Relu'), `${f}: ${ops}`);
  }
  const cases = [
    [{ pretrained: pre, activation: 'relu' }, /model\.activation relu disagrees with pretrained model .*pretrained\.onnx, which uses tanh/],
    [{ pretrained: pre, hidden: [8] }, /model\.hidden \[8\] disagrees with pretrained model .*, whose hidden layers are \[50\]/],
  ];
  for (const [model, re] of cases) {
    const r = await run(['run', writeConfig(config({ ...small, model, out: 'runs/tanh-bad' }))]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.ok(!existsSync(join(dir, 'runs/tanh-bad')));
  }
});

test('rsft run: every bad input exits 2 with one line and leaves no run folder', async () => {
  const bad = join(dir, 'bad');
  mkdirSync(bad);
  const d = data.source;
  writeFileSync(join(bad, 'nan.csv'), toCsv(d).replace(/\n([^,\n]+),/, '\nNaN,'));
  writeFileSync(join(bad, 'text.csv'), toCsv(d).replace(/\n([^,\n]+),/, '\nhello,'));
  writeFileSync(join(bad, 'three.csv'), 'f0,f1,f2\n1,2,3\n4,5,6\n');
  writeFileSync(join(bad, 'empty-target.csv'), 'f0,f1,f2,f3\n');
  // a pretrained model with 3 inputs
  const small = makeData(200, 0, 2, 0);
  const s3 = { x: Float32Array.from({ length: 600 }, (_, i) => small.x[Math.floor(i / 3) * 4 + (i % 3)]), n: 200, d: 3, y: small.y };
  writeFileSync(join(bad, 's3.csv'), toCsv(s3));
  writeFileSync(join(bad, 't3.csv'), toCsv(s3, { withLabel: false }));
  const pre = await run(['run', writeConfig(config({ data: { source: { path: 'bad/s3.csv' }, target: { path: 'bad/t3.csv' } }, finetune: { samples: 50, epochs: 1, lr: 0.001, batch: 32 }, out: 'runs/pre3' }))]);
  assert.equal(pre.status, 0, pre.stderr);

  const cases = [
    ['missing file', { data: { source: { path: 'nope.csv' }, target: { path: 'target.csv' } } }, /nope\.csv.*no such file/],
    ['wrong label column', { data: { source: { path: 'source.csv', label: 'class' }, target: { path: 'target.csv' } } }, /source\.csv: no label column 'class'/],
    ['mismatched feature counts', { data: { source: { path: 'source.csv' }, target: { path: 'bad/three.csv' } } }, /three\.csv: 3 features, but the source .* has 4/],
    ['NaN', { data: { source: { path: 'bad/nan.csv' }, target: { path: 'target.csv' } } }, /nan\.csv: line 2, column 'f0': NaN value/],
    ['non-numeric cell', { data: { source: { path: 'bad/text.csv' }, target: { path: 'target.csv' } } }, /text\.csv: line 2, column 'f0': 'hello' is not a number/],
    ['pretrained input size', { model: { pretrained: 'runs/pre3/model.onnx', hidden: [16], activation: 'relu' } }, /takes 3 input features, the data has 4/],
    ['empty target', { data: { source: { path: 'source.csv' }, target: { path: 'bad/empty-target.csv' } } }, /empty-target\.csv: the target set is empty/],
    ['unknown key', { finetune: { samples: 10, epoch: 3 } }, /cfg\d+\.json: unknown key 'finetune\.epoch'/],
    ['samples beyond memory', { finetune: { samples: 1e12, epochs: 1, lr: 0.001, batch: 64 } }, /finetune\.samples = 1000000000000 does not fit in memory/],
    ['unknown top key', { lr: 1 }, /unknown key 'lr'/],
    ['bad value', { ratio: { method: 'magic' } }, /cfg\d+\.json: 'ratio\.method' must be one of classifier, column, expression/],
    ['bad expression', { ratio: { method: 'expression', expr: 'x0 +' } }, /ratio\.expr/],
  ];
  const results = await Promise.all(cases.map(([name, extra], i) => run(['run', writeConfig(config({ ...extra, out: `runs/bad${i}` }))]).then((r) => [name, r, i])));
  for (const [name, r, i] of results) {
    const re = cases[i][2];
    assert.equal(r.status, 2, `${name}: status ${r.status} ${r.stderr}`);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('rsft run: '));
    assert.equal(lines.length, 1, `${name}: ${r.stderr}`);
    assert.match(lines[0], /^rsft: error: /, name);
    assert.match(lines[0], re, name);
    const out = join(dir, `runs/bad${i}`);
    assert.ok(!existsSync(out), `${name}: ${out} left behind${existsSync(out) ? `, holding ${readdirSync(out)}` : ''}`);
  }
  const missingCfg = await run(['run', join(dir, 'nope.yaml')]);
  assert.equal(missingCfg.status, 2);
  assert.match(missingCfg.stderr, /cannot read config .*nope\.yaml: no such file/);
});

test('rsft run: an interrupted run leaves no run folder', async () => {
  const cfg = writeConfig(config({ finetune: { samples: 800, epochs: 200, lr: 0.001, batch: 16 }, out: 'runs/int' }));
  const p = spawn(process.execPath, [cli, 'run', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const closed = new Promise((resolve) => p.on('close', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve) => {
    p.stderr.on('data', (d) => {
      stderr += d;
      if (/finetune: RSFT on/.test(stderr)) resolve();
    });
    p.on('close', resolve);
  });
  p.kill('SIGINT');
  const r = await closed;
  assert.ok(r.signal === 'SIGINT' || r.code !== 0, `exit ${JSON.stringify(r)} ${stderr}`);
  const out = join(dir, 'runs/int');
  assert.ok(!existsSync(out), `${out} left behind${existsSync(out) ? `, holding ${readdirSync(out)}` : ''}`);
});
