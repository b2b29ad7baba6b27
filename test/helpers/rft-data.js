// Small generated classification data under covariate shift, for the rft tests.
import { writeFileSync } from 'node:fs';
import { Stream } from '../../dist/sampling/rng.js';

function gauss(s) {
  const u = s.nextF64() || 1e-12, v = s.nextF64();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** n rows, d = 4 features, 4 classes; `shift` moves feature 0 (covariate shift, same p(y|x)). */
export function makeData(n, shift, seed, sub) {
  const s = new Stream(seed, 100 + sub, 0); // one stream per data set (sub is 0 or 1 only)
  const d = 4;
  const x = new Float32Array(n * d), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const a = gauss(s) + shift, b = gauss(s);
    x[i * d] = a; x[i * d + 1] = b; x[i * d + 2] = gauss(s); x[i * d + 3] = a + 0.1 * gauss(s);
    y[i] = (Math.sin(2 * a) + b > 0 ? 1 : 0) + (a > 0.75 ? 2 : 0);
  }
  return { x, n, d, y };
}

export function toCsv(ds, { label = 'label', names, withLabel = true, extra } = {}) {
  const cols = names ?? Array.from({ length: ds.d }, (_, j) => `f${j}`);
  const head = [...cols, ...(withLabel ? [label] : []), ...(extra ? Object.keys(extra) : [])];
  const lines = [head.join(',')];
  for (let i = 0; i < ds.n; i++) {
    const row = Array.from(ds.x.subarray(i * ds.d, i * ds.d + ds.d), (v) => String(v));
    if (withLabel) row.push(String(ds.y[i]));
    if (extra) for (const v of Object.values(extra)) row.push(String(v[i]));
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

/** Write source/target/test CSVs into dir; returns the datasets. */
export function writeShiftCsvs(dir, { ns = 2000, nt = 800, ntest = 600, seed = 1 } = {}) {
  const source = makeData(ns, 0, seed, 0), target = makeData(nt, 1.5, seed, 1), test = makeData(ntest, 1.5, seed, 2);
  writeFileSync(`${dir}/source.csv`, toCsv(source));
  writeFileSync(`${dir}/target.csv`, toCsv(target, { withLabel: false }));
  writeFileSync(`${dir}/test.csv`, toCsv(test));
  return { source, target, test };
}
