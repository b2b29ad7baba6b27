// report.html: well-formed, self-contained (no network, no script), with the run's numbers and
// every chart; written atomically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderReport, writeReport, weightHistogram } from '../dist/rft/report.js';

function data({ weights, targetOnly = false } = {}) {
  const summary = {
    pretrained: { accuracy: 0.5240, loss: 1.282 },
    rsft: { accuracy: 0.8336, loss: 0.6888 },
    baselines: { uniform: { accuracy: 0.5822, loss: 1.184 }, weighted: { accuracy: 0.8314, loss: 0.6936 } },
    acceptance: { rate: 0.0724, expectedRate: 0.0723, M: 13.75, clipped: 400, proposals: 276420, accepted: 20000 },
    timings: { standardize: 0.08, pretrain: 1.21, ratio: 0.44, sample: 0.05, finetune: 0.44, baselines: 1.12, total: 3.38 },
    notes: ['weighted baseline: <emulated> by resampling & co'],
    config: { seed: 1, out: 'runs/demo' },
  };
  if (targetOnly) summary.baselines.targetOnly = { accuracy: 0.7012, loss: 0.9 };
  const w = weights ?? Float64Array.from({ length: 4000 }, (_, i) => Math.exp(-6 + (12 * i) / 4000));
  const curve = (name, n, l0) => ({ name, points: Array.from({ length: n }, (_, i) => ({ step: i + 1, loss: l0 * Math.exp(-i / 200) + 0.3 })) });
  return { summary, weights: w, M: 13.75, curves: [curve('pretrain', 3000, 2), curve('domain classifier', 500, 0.5), curve('rsft', 800, 1.2), curve('uniform', 800, 0.6), curve('weighted', 800, 1.2)] };
}

const VOID = new Set(['meta', 'br', 'hr', 'img', 'input', 'link', 'col', 'area', 'base', 'wbr', 'source', 'track', 'embed', 'param']);
/** Tags balance (HTML void elements and self-closing SVG elements aside). */
function checkBalanced(html) {
  const stack = [];
  const body = html.replace(/<!doctype[^>]*>/i, '').replace(/<style>[\s\S]*?<\/style>/, '');
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*?)(\/?)>/g)) {
    const [, close, tag, , self] = m;
    const t = tag.toLowerCase();
    if (self === '/' || (!close && VOID.has(t))) continue;
    if (close) {
      assert.equal(stack.pop(), t, `</${t}> closes the wrong element`);
    } else stack.push(t);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
}

test('self-contained, well-formed page with every part', () => {
  const html = renderReport(data({ targetOnly: true }));
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<\/html>\s*$/);
  checkBalanced(html);
  assert.doesNotMatch(html, /https?:/i, 'no URLs');
  assert.doesNotMatch(html, /<script|<link|<iframe|<img|\bsrc=|@import|url\(/i, 'nothing loaded from elsewhere');
  const svgs = html.match(/<svg[\s>]/g) ?? [];
  assert.equal(svgs.length, 5, 'accuracy bars, weight histogram, fine-tuning curves, pretrain curve, domain-classifier curve');
  assert.match(html, /Acceptance/);
  // numbers from the summary
  for (const s of ['52.40%', '83.36%', '58.22%', '83.14%', '70.12%', '7.24%', '7.23%', '13.75', '276420', '20000', '400 of 4000', '+30.96 pts']) {
    assert.ok(html.includes(s), `report shows ${s}`);
  }
  assert.match(html, /M = 13\.75/, 'M is marked on the histogram');
  assert.match(html, /log scale/, 'weights spanning decades get a log axis');
  for (const name of ['pretrained', 'rsft', 'uniform', 'weighted', 'targetOnly', 'pretrain', 'domain classifier']) assert.ok(html.includes(`>${name}<`), `labels ${name}`);
  assert.ok(html.includes('&lt;emulated&gt; by resampling &amp; co'), 'notes are escaped');
  for (const t of ['pretrain', 'baselines', 'total']) assert.ok(html.includes(`<th>${t}</th>`), `timing ${t}`);
});

test('weight histogram: linear axis for a narrow range, log for decades; counts add up', () => {
  const narrow = weightHistogram(Float64Array.from({ length: 1000 }, (_, i) => 0.5 + i / 1000));
  assert.equal(narrow.log, false);
  assert.equal(narrow.counts.reduce((a, b) => a + b, 0), 1000);
  const wide = weightHistogram(Float64Array.from({ length: 1000 }, (_, i) => 10 ** (-3 + (6 * i) / 999)));
  assert.equal(wide.log, true);
  assert.equal(wide.counts.reduce((a, b) => a + b, 0), 1000);
  assert.ok(Math.abs(wide.edges[0] - 1e-3) < 1e-12 && Math.abs(wide.edges.at(-1) - 1e3) < 1e-6);
  const withZeros = weightHistogram(Float64Array.from([0, 0, 1e-3, 1, 100]));
  assert.equal(withZeros.log, true);
  assert.equal(withZeros.zeros, 2);
  const constant = weightHistogram(new Float64Array(50).fill(2));
  assert.equal(constant.counts.reduce((a, b) => a + b, 0), 50);
  const html = renderReport(data({ weights: Float64Array.from({ length: 1000 }, (_, i) => 0.5 + i / 1000) }));
  assert.doesNotMatch(html, /log scale/);
  checkBalanced(html);
});

test('no test set: accuracies n/a, the page still renders', () => {
  const d = data();
  d.summary.pretrained.accuracy = NaN;
  d.summary.rsft.accuracy = NaN;
  d.summary.baselines.uniform.accuracy = NaN;
  d.summary.baselines.weighted.accuracy = NaN;
  d.curves = [];
  const html = renderReport(d);
  checkBalanced(html);
  assert.match(html, /No labeled test set/);
  assert.match(html, /n\/a/);
});

test('writeReport writes report.html atomically', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsft-report-'));
  writeReport(dir, data());
  assert.deepEqual(readdirSync(dir), ['report.html']);
  assert.equal(readFileSync(join(dir, 'report.html'), 'utf8'), renderReport(data()));
  assert.throws(() => writeReport(join(dir, 'missing'), data()), /does not exist/);
  assert.deepEqual(readdirSync(dir), ['report.html'], 'no temporary files left');
});
