// Loading user data for the classifier pipeline: CSV (quotes, label column, extra columns),
// JSONL, .npy features + labels; every problem a one-line UsageError naming file, line, column.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset, checkDatasets } from '../dist/rft/load.js';
import { parseConfig } from '../dist/rft/config.js';
import { writeNpy } from '../dist/io/npy-read.js';
import { UsageError } from '../dist/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rsft-load-'));
const f = (name, text) => { const p = join(dir, name); writeFileSync(p, text); return p; };

test('CSV: features, label, kept column, quotes, blank lines', () => {
  const p = f('a.csv', '"f 0",f1,label,w\n1,2,0,0.5\n\n3,"4",2,1.5\n');
  const ds = loadDataset({ path: p, label: 'label' }, { labeled: true, keep: ['w'] });
  assert.equal(ds.n, 2); assert.equal(ds.d, 2);
  assert.deepEqual([...ds.x], [1, 2, 3, 4]);
  assert.deepEqual([...ds.y], [0, 2]);
  assert.deepEqual(ds.names, ['f 0', 'f1']);
  assert.deepEqual([...ds.extra.w], [0.5, 1.5]);
  const t = loadDataset({ path: p }, { labeled: false, ignore: ['label', 'w'] });
  assert.equal(t.d, 2); assert.equal(t.y, undefined);
});

test('CSV errors name file, line and column', () => {
  const bad = (text, re, opts = { labeled: true }) => {
    const p = f('b.csv', text);
    assert.throws(() => loadDataset({ path: p, label: 'label' }, opts), (e) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'));
  };
  bad('f0,label\n1,0\nx,1\n', /b\.csv: line 3, column 'f0': 'x' is not a number/);
  bad('f0,label\n1,0\nnan,1\n', /line 3, column 'f0': NaN value/);
  bad('f0,label\n1,0\n,1\n', /line 3, column 'f0': empty cell/);
  bad('f0,label\n1,0\n1,2,3\n', /line 3 has 3 cells, the header has 2/);
  bad('f0,label\n1,0.5\n', /label 0.5 is not a non-negative integer/);
  bad('f0,label\n1,-1\n', /label -1/);
  bad('f0,y\n1,0\n', /no label column 'label'/);
  bad('', /empty file/);
  bad('f0,f0,label\n1,2,0\n', /column 'f0' appears twice/);
  assert.throws(() => loadDataset({ path: join(dir, 'none.csv') }, { labeled: false }), /none\.csv: no such file/);
  assert.throws(() => loadDataset({ path: join(dir, 'x.parquet') }, { labeled: false }), /unknown data format/);
});

test('JSONL: objects with feature fields and a label field', () => {
  const p = f('a.jsonl', '{"a":1,"b":2,"label":1}\n{"a":3,"b":4,"label":0}\n');
  const ds = loadDataset({ path: p, label: 'label' }, { labeled: true });
  assert.deepEqual([...ds.x], [1, 2, 3, 4]); assert.deepEqual([...ds.y], [1, 0]); assert.deepEqual(ds.names, ['a', 'b']);
  const q = f('b.jsonl', '{"a":1,"b":2,"label":1}\n{"a":3,"label":0}\n');
  assert.throws(() => loadDataset({ path: q }, { labeled: true }), /b\.jsonl: line 2: field 'b' is missing/);
  const r = f('c.jsonl', '{"a":1,"label":1}\n{"a":"zz","label":0}\n');
  assert.throws(() => loadDataset({ path: r }, { labeled: true }), /c\.jsonl: line 2, column 'a': 'zz' is not a number/);
  const s = f('d.jsonl', '{"a":1,"label":1}\nnot json\n');
  assert.throws(() => loadDataset({ path: s }, { labeled: true }), /d\.jsonl: line 2 is not valid JSON/);
});

test('.npy: features [n, d] and a labels file', () => {
  const x = join(dir, 'x.npy'), y = join(dir, 'y.npy'), y3 = join(dir, 'y3.npy'), x1 = join(dir, 'x1.npy'), xn = join(dir, 'xn.npy');
  writeNpy(x, Float64Array.from([1, 2, 3, 4]), [2, 2]);
  writeNpy(y, Int32Array.from([1, 0]), [2]);
  writeNpy(y3, Int32Array.from([1, 0, 1]), [3]);
  writeNpy(x1, Float32Array.from([1, 2]), [2]);
  writeNpy(xn, Float32Array.from([1, NaN]), [1, 2]);
  const ds = loadDataset({ path: x, labels: y }, { labeled: true });
  assert.deepEqual([...ds.x], [1, 2, 3, 4]); assert.deepEqual([...ds.y], [1, 0]);
  assert.throws(() => loadDataset({ path: x }, { labeled: true }), /needs a labels file/);
  assert.throws(() => loadDataset({ path: x, labels: y3 }, { labeled: true }), /y3\.npy: labels must have shape \[2\]/);
  assert.throws(() => loadDataset({ path: x1 }, { labeled: false }), /shape \[n, d\]/);
  assert.throws(() => loadDataset({ path: xn }, { labeled: false }), /xn\.npy: row 0, column 1: NaN/);
});

test('cross-file checks: feature counts, names, empty sets, label range', () => {
  const mk = (d, n, names, y) => ({ x: new Float32Array(n * d), n, d, names, y });
  const src = { ds: mk(2, 3, ['a', 'b'], Int32Array.from([0, 1, 2])), path: 's.csv' };
  assert.equal(checkDatasets({ source: src, target: { ds: mk(2, 1, ['a', 'b']), path: 't.csv' } }), 3);
  assert.throws(() => checkDatasets({ source: src, target: { ds: mk(3, 1, ['a', 'b', 'c']), path: 't.csv' } }), /t\.csv: 3 features, but the source s\.csv has 2/);
  assert.throws(() => checkDatasets({ source: src, target: { ds: mk(2, 1, ['a', 'c']), path: 't.csv' } }), /feature column 2 is 'c'/);
  assert.throws(() => checkDatasets({ source: src, target: { ds: mk(2, 0, ['a', 'b']), path: 't.csv' } }), /t\.csv: the target set is empty/);
  assert.throws(() => checkDatasets({ source: src, target: { ds: mk(2, 1, ['a', 'b']), path: 't.csv' }, test: { ds: mk(2, 1, ['a', 'b'], Int32Array.from([5])), path: 'e.csv' } }), /e\.csv: row 1 has label 5/);
});

test('config schema: defaults, relative paths, unknown keys, wrong types', () => {
  const c = parseConfig('data: { source: { path: s.csv }, target: { path: t.csv } }\nout: runs/a\n', '/cfg/c.yaml');
  assert.equal(c.data.source.path, '/cfg/s.csv'); assert.equal(c.out, '/cfg/runs/a');
  assert.deepEqual(c.ratio, { method: 'classifier', clip: 0.99 });
  assert.equal(c.finetune.samples, 20000); assert.equal(c.model.hidden, undefined); // (default [50], or the pretrained model's: pipeline.ts)
  const bad = (text, re) => assert.throws(() => parseConfig(text, 'c.yaml'), (e) => e instanceof UsageError && re.test(e.message));
  const base = 'data: { source: { path: s.csv }, target: { path: t.csv } }\nout: o\n';
  bad(base + 'sed: 1\n', /c\.yaml: unknown key 'sed'/);
  bad('data: { source: { path: s.csv, lable: y }, target: { path: t.csv } }\nout: o\n', /unknown key 'data\.source\.lable'/);
  bad('data: { source: { path: s.csv }, target: { path: t.csv, label: y } }\nout: o\n', /unknown key 'data\.target\.label'/);
  bad(base + 'finetune: { samples: -1 }\n', /'finetune\.samples' must be an integer >= 1/);
  bad(base + 'ratio: { method: classifier, clip: 1.5 }\n', /'ratio\.clip' must be a number in \(0, 1\]/);
  bad(base + 'ratio: { method: column }\n', /missing key 'ratio\.column'/);
  bad(base + 'ratio: { method: classifier, expr: x }\n', /'ratio\.expr' does not apply to method classifier/);
  bad(base + 'model: { hidden: [0] }\n', /'model\.hidden\[0\]'/);
  bad(base + 'model: { activation: sigmoid }\n', /'model\.activation' must be one of relu, gelu, tanh/);
  bad('data: { source: { path: s.csv } }\nout: o\n', /missing key 'data\.target'/);
  bad('data: [1\n', /not valid YAML/);
  bad('[1, 2]', /must be a mapping/);
});
