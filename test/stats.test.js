import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ksTest, chiSquareTest, chiSquareBinned, kolmogorovSf, sorted } from './helpers/stats.js';
import { uniforms } from '../dist/sampling/rng.js';

const unifCdf = (x) => (x <= 0 ? 0 : x >= 1 ? 1 : x);

test('kolmogorovSf known values', () => {
  // scipy.special.kolmogorov(1.0) = 0.26999967167735456; kolmogorov(1.36) ~ 0.0494
  assert.ok(Math.abs(kolmogorovSf(1.0) - 0.26999967167735456) < 1e-12);
  assert.ok(Math.abs(kolmogorovSf(1.36) - 0.04946) < 1e-4);
  assert.equal(kolmogorovSf(0), 1);
});

test('sorted sorts numerically', () => {
  assert.deepEqual(Array.from(sorted([3, -1, 10, 2])), [-1, 2, 3, 10]);
});

test('KS: uniform samples pass, shifted samples fail', () => {
  const u = new Float64Array(20000);
  uniforms(1, 0, 0, u);
  assert.ok(ksTest(u, unifCdf).p > 1e-3);
  const shifted = u.map((x) => Math.min(1, x * 1.03));
  assert.ok(ksTest(shifted, unifCdf).p < 1e-6);
  const v = u.map((x) => x * x); // clearly not uniform
  assert.ok(ksTest(v, unifCdf).p < 1e-12);
});

test('KS p-values are roughly uniform under the null', () => {
  const ps = [];
  for (let s = 0; s < 60; s++) {
    const u = new Float64Array(1000);
    uniforms(77, s, 0, u);
    ps.push(ksTest(u, unifCdf).p);
  }
  const frac = ps.filter((p) => p < 0.5).length / ps.length;
  assert.ok(frac > 0.25 && frac < 0.75, `fraction ${frac}`);
});

test('chi-square: counts and binned samples', () => {
  assert.ok(Math.abs(chiSquareTest([10, 10, 10], [10, 10, 10]).p - 1) < 1e-12);
  // stat 8 with df 2: p = exp(-4)
  const r = chiSquareTest([14, 6, 10], [10, 10, 10]);
  assert.equal(r.df, 2);
  assert.ok(Math.abs(r.stat - 3.2) < 1e-12 && Math.abs(r.p - Math.exp(-1.6)) < 1e-12);
  const u = new Float64Array(20000);
  uniforms(2, 0, 0, u);
  const edges = Array.from({ length: 21 }, (_, i) => i / 20);
  assert.ok(chiSquareBinned(u, unifCdf, edges).p > 1e-3);
  assert.ok(chiSquareBinned(u.map((x) => x ** 1.05), unifCdf, edges).p < 1e-6);
});
