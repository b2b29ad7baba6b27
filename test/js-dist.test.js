import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { decodeDist, decodeDist1, cdfOfProgram, marginalOfProgram, sampleDist, logpdfDist } from '../dist/sampling/js-dist.js';
import { Stream } from '../dist/sampling/rng.js';
import { ksTest } from './helpers/stats.js';
import { STATS_REF } from './helpers/dist-ref.js';

const require = createRequire(import.meta.url);
const NATIVE_PATH = process.env.RSFT_NATIVE_PATH ?? new URL('../native/rsft.linux-x64-gnu.node', import.meta.url).pathname;
const INF = Infinity;
const P = (...xs) => Float64Array.from(xs.map((x) => (x === 'inf' ? INF : x === '-inf' ? -INF : x)));

// every 1-D program the samplers must reproduce (name, program)
const ONE_D = [
  ['uniform(-2,3)', P(1, -2, 3)],
  ['normal(1.5,2.5)', P(2, 1.5, 2.5)],
  ['normal(0,1e-3)', P(2, 0, 1e-3)],
  ['lognormal(0.2,0.7)', P(3, 0.2, 0.7)],
  ['exponential(2.5)', P(4, 2.5)],
  ['gamma(0.3,2)', P(5, 0.3, 2)],
  ['gamma(1,1)', P(5, 1, 1)],
  ['gamma(4.5,0.5)', P(5, 4.5, 0.5)],
  ['gamma(200,3)', P(5, 200, 3)],
  ['beta(2.5,0.7)', P(6, 2.5, 0.7)],
  ['beta(0.4,0.6)', P(6, 0.4, 0.6)],
  ['beta(30,12)', P(6, 30, 12)],
  ['t(3.5,1,2)', P(7, 3.5, 1, 2)],
  ['t(0.8,0,1)', P(7, 0.8, 0, 1)],
  ['t(40,-1,0.5)', P(7, 40, -1, 0.5)],
  ['cauchy(-1,0.5)', P(8, -1, 0.5)],
  ['laplace(0.5,1.5)', P(9, 0.5, 1.5)],
  ['logistic(0.5,1.5)', P(10, 0.5, 1.5)],
  // truncation: rejection (mass >= 0.25) and inversion (lower side and survival side)
  ['normal trunc [-1,2] (rejection)', P(20, -1, 2, 2, 0, 1)],
  ['normal trunc [8,inf) (far tail)', P(20, 8, INF, 2, 0, 1)],
  ['normal trunc (-inf,-6]', P(20, -INF, -6, 2, 0, 1)],
  ['normal trunc [1.5,1.6] (narrow)', P(20, 1.5, 1.6, 2, 0, 1)],
  ['gamma(2,1) trunc [15,20] (mass ~5e-6)', P(20, 15, 20, 5, 2, 1)],
  ['gamma(0.5,1) trunc [0,1e-4]', P(20, 0, 1e-4, 5, 0.5, 1)],
  ['t(3) trunc (-inf,-30]', P(20, -INF, -30, 7, 3, 0, 1)],
  ['beta trunc [0.9,1]', P(20, 0.9, 1, 6, 2, 5)],
  ['cauchy trunc [-1,1]', P(20, -1, 1, 8, 0, 1)],
  ['exponential trunc [3,inf)', P(20, 3, INF, 4, 1)],
  // intervals too narrow for inversion (rejection from the uniform on the interval)
  ['normal trunc [0,1e-12] (narrow)', P(20, 0, 1e-12, 2, 0, 1)],
  ['normal trunc [30,30+1e-9] (narrow, deep tail)', P(20, 30, 30 + 1e-9, 2, 0, 1)],
  ['laplace trunc [-1e-13,1e-13] (narrow, across the kink)', P(20, -1e-13, 1e-13, 9, 0, 1)],
  ['beta(0.5,0.5) trunc [0.3,0.3+1e-11] (narrow)', P(20, 0.3, 0.3 + 1e-11, 6, 0.5, 0.5)],
  ['mixture of laplace and truncated normal, trunc narrow', P(20, 1e-6, 1e-6 + 1e-12, 21, 2, 0.5, 0.5, 9, 1e-6 + 3e-13, 1, 20, 1e-6 + 6e-13, INF, 2, 0, 1)],
  ['mixture normal+gamma', P(21, 2, 0.3, 0.7, 2, -3, 1, 5, 3, 2)],
  ['mixture 3 incl. truncated', P(21, 3, 0.2, 0.5, 0.3, 8, 0, 1, 20, 0, 1, 2, 0, 1, 9, 2, 0.3)],
  ['truncated mixture (tail)', P(20, 4, INF, 21, 2, 0.5, 0.5, 2, 0, 1, 2, 1, 1)],
  ['truncated mixture (rejection)', P(20, -1, 1, 21, 2, 0.5, 0.5, 2, 0, 1, 10, 1, 1)],
];

const N = 20000;

function jsSamples(prog, n, seed = 12345, stream = 0) {
  const out = new Float64Array(n * decodeDist(prog).dim);
  sampleDist(prog, seed, stream, out);
  return out;
}

for (const [name, prog] of ONE_D) {
  test(`KS (JS sampler): ${name}`, () => {
    const xs = jsSamples(prog, N);
    const d = decodeDist1(prog);
    for (const x of xs) assert.ok(x >= d.lower && x <= d.upper, `${x} outside [${d.lower}, ${d.upper}]`);
    const r = ksTest(xs, cdfOfProgram(prog));
    assert.ok(r.p > 1e-3, `${name}: KS d=${r.d} p=${r.p}`);
  });
}

test('KS control: subtly wrong samples fail', () => {
  const n = 200000;
  const xs = jsSamples(P(2, 0, 1.03), n, 7);
  const r = ksTest(xs, cdfOfProgram(P(2, 0, 1)));
  assert.ok(r.p < 1e-4, `normal(0,1.03) vs normal(0,1): p=${r.p}`);
  const ok = ksTest(jsSamples(P(2, 0, 1), n, 7), cdfOfProgram(P(2, 0, 1)));
  assert.ok(ok.p > 1e-3, `normal(0,1) with the same n: p=${ok.p}`);
  // gamma with a slightly wrong shape
  const g = ksTest(jsSamples(P(5, 2.1, 1), 50000, 8), cdfOfProgram(P(5, 2, 1)));
  assert.ok(g.p < 1e-4, `gamma(2.1) vs gamma(2): p=${g.p}`);
});

test('far-tail truncation stays in range and matches the tail shape', () => {
  const xs = jsSamples(P(20, 8, INF, 2, 0, 1), 5000);
  let mean = 0;
  for (const x of xs) { assert.ok(x >= 8); mean += x / xs.length; }
  // E[X | X > 8] = pdf(8) / sf(8) ~ 8.1211
  assert.ok(Math.abs(mean - 8.1211) < 0.01, `mean ${mean}`);
});

test('product and mvnormal marginals', () => {
  const prod = P(22, 4, 2, 1, 2, 5, 0.5, 1, 9, 0, 1, 20, 0, INF, 2, 0, 1);
  const d = decodeDist(prod);
  assert.equal(d.dim, 4);
  const xs = jsSamples(prod, N, 3);
  const mv = P(23, 2, -1, 4, 0.5, 3);
  const ys = jsSamples(mv, N, 4);
  for (const [p, s, dim] of [[prod, xs, 4], [mv, ys, 2]]) {
    for (let j = 0; j < dim; j++) {
      const col = new Float64Array(N);
      for (let i = 0; i < N; i++) col[i] = s[i * dim + j];
      const m = marginalOfProgram(p, j);
      const r = ksTest(col, (x) => m.cdf(x));
      assert.ok(r.p > 1e-3, `column ${j}: p=${r.p}`);
    }
  }
  // columns are independent: sample correlation of the mvnormal columns ~ 0
  let sx = 0, sy = 0, sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < N; i++) { const a = ys[2 * i], b = ys[2 * i + 1]; sx += a; sy += b; sxy += a * b; sxx += a * a; syy += b * b; }
  const cov = sxy / N - (sx / N) * (sy / N);
  const corr = cov / Math.sqrt((sxx / N - (sx / N) ** 2) * (syy / N - (sy / N) ** 2));
  assert.ok(Math.abs(corr) < 0.04, `corr ${corr}`);
  // logpdf of a row = sum of marginal logpdfs
  const lp = new Float64Array(2);
  logpdfDist(mv, P(0, 1, -2, 4), lp);
  const m0 = marginalOfProgram(mv, 0), m1 = marginalOfProgram(mv, 1);
  assert.ok(Math.abs(lp[0] - (m0.lpdf(0) + m1.lpdf(1))) < 1e-12);
  assert.ok(Math.abs(lp[1] - (m0.lpdf(-2) + m1.lpdf(4))) < 1e-12);
});

test('multivariate mixture samples and logpdf', () => {
  const prog = P(21, 2, 0.25, 0.75, 23, 2, 0, 0, 1, 1, 22, 2, 2, 5, 1, 2, -5, 1);
  const xs = jsSamples(prog, N, 11);
  const col = new Float64Array(N);
  for (let i = 0; i < N; i++) col[i] = xs[2 * i];
  // marginal of column 0: 0.25 N(0,1) + 0.75 N(5,1)
  const r = ksTest(col, cdfOfProgram(P(21, 2, 0.25, 0.75, 2, 0, 1, 2, 5, 1)));
  assert.ok(r.p > 1e-3, `p=${r.p}`);
  const out = new Float64Array(1);
  logpdfDist(prog, P(0.5, -4), out);
  const phi = (x, m) => Math.exp(-0.5 * (x - m) ** 2) / Math.sqrt(2 * Math.PI);
  const want = Math.log(0.25 * phi(0.5, 0) * phi(-4, 0) + 0.75 * phi(0.5, 5) * phi(-4, -5));
  assert.ok(Math.abs(out[0] - want) < 1e-12 * Math.abs(want));
});

// tanh-sinh quadrature of f over [a, b] (handles integrable endpoint singularities)
function tanhSinh(f, a, b) {
  const c = 0.5 * (a + b), h2 = 0.5 * (b - a);
  let s = 0;
  const h = 1 / 64;
  for (let k = -6 * 64; k <= 6 * 64; k++) {
    const t = k * h;
    const u = 0.5 * Math.PI * Math.sinh(t);
    const x = Math.tanh(u);
    const w = (0.5 * Math.PI * Math.cosh(t)) / (Math.cosh(u) ** 2);
    // distance to the endpoints computed without cancellation
    const e = 1 / (Math.exp(2 * u) + 1); // (1 - x) / 2
    const pt = x < 0 ? a + (h2 * 2) / (Math.exp(-2 * u) + 1) : b - h2 * 2 * e;
    if (pt <= a || pt >= b || w === 0) continue;
    s += w * f(pt);
  }
  return s * h * h2;
}

test('logpdf is normalized (quadrature over the central 1 - 2e-10 mass)', () => {
  for (const [name, prog] of ONE_D) {
    const d = decodeDist1(prog);
    // (not for intervals a few thousand doubles wide, where the nodes themselves round; the
    // narrow-truncation test checks those against closed forms)
    if (d.upper - d.lower < 1e-6 * Math.max(1, Math.abs(d.lower))) continue;
    const a = d.lower > -INF ? d.lower : d.quantile(1e-10);
    const b = d.upper < INF ? d.upper : d.isf(1e-10);
    const want = (d.upper < INF ? 1 : 1 - 1e-10) - (d.lower > -INF ? 0 : 1e-10);
    // split at the quartiles so narrow peaks are resolved
    // (and at -1, 0, 1, 2: kinks and jumps of the mixtures above)
    const inner = [-1, 0, 1, 2, ...[0.25, 0.5, 0.75].map((p) => d.quantile(p))].filter((x) => x > a && x < b).sort((x, y) => x - y);
    const cuts = [a, ...inner, b];
    let s = 0;
    for (let i = 0; i + 1 < cuts.length; i++) s += tanhSinh((x) => Math.exp(d.lpdf(x)), cuts[i], cuts[i + 1]);
    assert.ok(Math.abs(s - want) < 2e-7, `${name}: integral ${s}`);
  }
});

test('logpdf / cdf / sf / quantile / isf / moments agree with scipy.stats', () => {
  const rel = (g, w, tol, msg) => assert.ok(g === w || Math.abs(g - w) <= tol * Math.abs(w) + 1e-300, `${msg}: got ${g} want ${w}`);
  for (const c of STATS_REF) {
    const d = decodeDist1(P(...c.prog));
    c.xs.forEach((x, i) => {
      rel(d.lpdf(x), c.logpdf[i], 1e-12, `${c.name} logpdf(${x})`);
      rel(d.cdf(x), c.cdf[i], 1e-11, `${c.name} cdf(${x})`);
      rel(d.sf(x), c.sf[i], 1e-11, `${c.name} sf(${x})`);
    });
    c.ps.forEach((p, i) => {
      rel(d.quantile(p), c.ppf[i], 1e-10, `${c.name} quantile(${p})`);
      rel(d.isf(p), c.isf[i], 1e-10, `${c.name} isf(${p})`);
    });
    if (Number.isFinite(c.mean)) rel(d.mean, c.mean, 1e-9, `${c.name} mean`);
    else assert.ok(!Number.isFinite(d.mean), `${c.name} mean`);
    if (Number.isFinite(c.var)) rel(d.variance, c.var, 1e-8, `${c.name} variance`);
    else assert.ok(!Number.isFinite(d.variance), `${c.name} variance`);
  }
});

test('logpdf is -inf outside the support', () => {
  const cases = [[P(1, 0, 1), [-0.1, 1.1]], [P(5, 2, 1), [-1]], [P(6, 2, 2), [-0.1, 1.1]], [P(20, 0, 1, 2, 0, 1), [-0.01, 1.01]], [P(4, 1), [-1e-9]], [P(3, 0, 1), [0, -1]]];
  for (const [prog, xs] of cases) {
    const out = new Float64Array(xs.length);
    logpdfDist(prog, Float64Array.from(xs), out);
    for (const v of out) assert.equal(v, -INF);
  }
});

test('malformed programs are refused with clear errors', () => {
  const bad = [
    [P(2, 0, 0), /sigma/],
    [P(2, 0, -1), /sigma/],
    [P(1, 2, 1), /a < b/],
    [P(4, 0), /rate/],
    [P(5, 1), /truncated|missing/],
    [P(99, 1), /unknown tag/],
    [P(2, 0, 1, 5), /trailing/],
    [P(21, 2, 0.5, 0.6, 2, 0, 1, 2, 0, 1), /sum to 1/],
    [P(21, 2, 0.5, 0.5, 2, 0, 1, 23, 2, 0, 0, 1, 1), /dimension/],
    [P(20, 2, 1, 2, 0, 1), /lo < hi/],
    [P(20, 0, 1, 23, 2, 0, 0, 1, 1), /1-D/],
    [P(20, 50, 60, 2, 0, 1), /zero probability/],
    [P(22, 2, 2, 0, 1), /truncated|missing/],
    [P(7, 0, 0, 1), /df/],
    [P(2, NaN, 1), /mu/],
    [P(21, 1.5, 1, 2, 0, 1), /integer/],
    [P(), /missing tag/],
  ];
  for (const [prog, re] of bad) assert.throws(() => decodeDist(prog), (e) => e instanceof Error && re.test(e.message), `program ${Array.from(prog)}`);
  assert.throws(() => decodeDist([2, 0, 1]), TypeError);
});

test('sampling is deterministic per (seed, stream) and streams differ', () => {
  const prog = P(5, 0.7, 1);
  const a = jsSamples(prog, 100, 5, 1), b = jsSamples(prog, 100, 5, 1), c = jsSamples(prog, 100, 5, 2);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  // sample() on a shared Stream continues the sequence
  const d = decodeDist(prog);
  const s = new Stream(5, 1, 0);
  const x = new Float64Array(60), y = new Float64Array(40);
  d.sample(s, x); d.sample(s, y);
  assert.deepEqual(Float64Array.from([...x, ...y]), a);
});

// ---------------------------------------------------------------------------------------------
// native kernel comparison

function nativeDist(t) {
  if (!existsSync(NATIVE_PATH)) { t.skip(`native module absent (${NATIVE_PATH})`); return null; }
  let n;
  try { n = require(NATIVE_PATH); } catch (e) { t.skip(`native module failed to load: ${e.message}`); return null; }
  if (typeof n.sampleDist !== 'function' || typeof n.logpdfDist !== 'function') { t.skip('native module lacks sampleDist/logpdfDist'); return null; }
  try { n.sampleDist(P(2, 0, 1), 1, 0, new Float64Array(4)); } catch (e) { t.skip(`native sampleDist not usable yet: ${e.message}`); return null; }
  return n;
}

test('native samplers pass the same KS tests', (t) => {
  const n = nativeDist(t);
  if (!n) return;
  for (const [name, prog] of ONE_D) {
    const xs = new Float64Array(N);
    n.sampleDist(prog, 12345, 0, xs);
    const r = ksTest(xs, cdfOfProgram(prog));
    assert.ok(r.p > 1e-3, `native ${name}: KS d=${r.d} p=${r.p}`);
  }
});

test('native and JS samples agree up to rounding (same algorithms, same uniforms)', (t) => {
  const n = nativeDist(t);
  if (!n) return;
  const progs = [...ONE_D.map(([name, p]) => [name, p]), ['product', P(22, 2, 2, 1, 2, 5, 0.5, 1)], ['mvnormal', P(23, 2, -1, 4, 0.5, 3)]];
  const bad = [];
  for (const [name, prog] of progs) {
    const dim = decodeDist(prog).dim;
    const a = new Float64Array(2000 * dim), b = new Float64Array(2000 * dim);
    sampleDist(prog, 99, 3, a);
    n.sampleDist(prog, 99, 3, b);
    let worst = 0, at = -1;
    for (let i = 0; i < a.length; i++) {
      const e = Math.abs(a[i] - b[i]) / Math.max(1e-300, Math.abs(a[i]), Math.abs(b[i]));
      if (!(e <= worst)) { worst = e; at = i; }
    }
    if (!(worst < 1e-9)) bad.push(`${name}: worst rel diff ${worst} at ${at} (js ${a[at]}, native ${b[at]})`);
  }
  assert.deepEqual(bad, []);
});

test('native and JS logpdf agree (relative 1e-12)', (t) => {
  const n = nativeDist(t);
  if (!n) return;
  const progs = [...ONE_D, ['product', P(22, 2, 2, 1, 2, 5, 0.5, 1)], ['mvnormal', P(23, 2, -1, 4, 0.5, 3)],
    ['mv mixture', P(21, 2, 0.25, 0.75, 23, 2, 0, 0, 1, 1, 22, 2, 2, 5, 1, 2, -5, 1)]];
  for (const [name, prog] of progs) {
    const dim = decodeDist(prog).dim;
    const xs = jsSamples(prog, 500, 21);
    // add points outside the support / in the tails
    const extra = Float64Array.from({ length: 4 * dim }, (_, i) => [-1e3, -0.5, 1e-300, 50][i % 4]);
    const all = Float64Array.from([...xs, ...extra]);
    const a = new Float64Array(all.length / dim), b = new Float64Array(all.length / dim);
    logpdfDist(prog, all, a);
    n.logpdfDist(prog, all, b);
    for (let i = 0; i < a.length; i++) {
      if (a[i] === b[i]) continue;
      const tol = 1e-12 * Math.max(1, Math.abs(a[i]));
      assert.ok(Math.abs(a[i] - b[i]) <= tol, `${name} row ${i}: js ${a[i]} native ${b[i]}`);
    }
  }
});

test('quantile / isf invert cdf / sf (tails relative)', () => {
  // accurate to 1e-8 relative, or exact up to the spacing of doubles near x
  const inverts = (g, x, p) => {
    if (Math.abs(g(x) - p) <= 1e-8 * p + 1e-13) return true;
    const dx = 8 * Number.EPSILON * Math.max(Math.abs(x), 1e-300);
    const a = g(x - dx), b = g(x + dx);
    return p >= Math.min(a, b) && p <= Math.max(a, b);
  };
  for (const [name, prog] of ONE_D) {
    const d = decodeDist1(prog);
    for (const p of [1e-8, 0.01, 0.3, 0.5, 0.9, 0.999]) {
      const x = d.quantile(p);
      assert.ok(x >= d.lower && x <= d.upper, `${name} quantile(${p}) = ${x}`);
      assert.ok(inverts((t) => d.cdf(t), x, p), `${name}: cdf(quantile(${p})) = ${d.cdf(x)}`);
      const y = d.isf(p);
      assert.ok(inverts((t) => d.sf(t), y, p), `${name}: sf(isf(${p})) = ${d.sf(y)}`);
    }
  }
});

test('gamma with a tiny shape and rate: draws the rate brings back into range are kept (both kernels)', (t) => {
  // gamma(0.01, 1e-100): P(X < x) ~ (rate x)^k / Gamma(k + 1) near 0. The unit variate
  // underflows below ~5e-324 for 5.9e-4 of draws, yet X = G / rate is representable there:
  // only P(X < 7.4e-324) = 5.9e-5 may round to the smallest double.
  const k = 0.01, rate = 1e-100, n = 1_000_000;
  const lnG1k = Math.log(0.994325851191506); // ln Gamma(1.01)
  const below = (x) => Math.exp(k * (Math.log(rate) + Math.log(x)) - lnG1k);
  const check = (label, xs) => {
    let atMin = 0, under = 0;
    for (const x of xs) { if (x === Number.MIN_VALUE) atMin++; if (x < 1e-300) under++; }
    const eMin = n * below(7.5e-324), eUnder = n * below(1e-300);
    assert.ok(atMin < eMin + 5 * Math.sqrt(eMin), `${label}: ${atMin} draws at 5e-324, expected ~${eMin.toFixed(0)}`);
    assert.ok(Math.abs(under - eUnder) < 5 * Math.sqrt(eUnder), `${label}: ${under} draws below 1e-300, expected ~${eUnder.toFixed(0)}`);
  };
  const prog = P(5, k, rate);
  check('js', jsSamples(prog, n, 11));
  const nat = nativeDist(t);
  if (!nat) return;
  const xs = new Float64Array(n);
  nat.sampleDist(prog, 11, 0, xs);
  check('native', xs);
});

test('narrow truncations are not lattices, and their mass is exact (both kernels)', (t) => {
  // truncated(normal(0,1), 0, 1e-12): inversion through F(0) + u (F(1e-12) - F(0)) gave 3594
  // distinct values in 2e6 draws and a mass off by ~1e-4. The density is constant to 1e-24
  // there, so x / 1e-12 is uniform and ln p = ln 1e12.
  const prog = P(20, 0, 1e-12, 2, 0, 1);
  const nat = nativeDist(t);
  const n = 100_000;
  const runs = [['js', jsSamples(prog, n, 5)]];
  if (nat) { const xs = new Float64Array(n); nat.sampleDist(prog, 5, 0, xs); runs.push(['native', xs]); }
  for (const [label, xs] of runs) {
    assert.ok(new Set(xs).size > n - 5, `${label}: ${new Set(xs).size} distinct of ${n}`);
    const r = ksTest(xs, (x) => Math.min(1, Math.max(0, x / 1e-12)));
    assert.ok(r.p > 1e-3, `${label}: KS against the uniform p=${r.p}`);
  }
  const lp = new Float64Array(1);
  logpdfDist(prog, P(5e-13), lp);
  assert.ok(Math.abs(lp[0] - Math.log(1e12)) < 1e-12, `js logpdf ${lp[0]}`);
  if (nat) { nat.logpdfDist(prog, P(5e-13), lp); assert.ok(Math.abs(lp[0] - Math.log(1e12)) < 1e-12, `native logpdf ${lp[0]}`); }
  // F(1e-17) - F(0) is 0 in doubles, yet the interval holds 4e-18 of the mass
  const tiny = P(20, 0, 1e-17, 2, 0, 1);
  const xs = jsSamples(tiny, 1000, 6);
  assert.ok(xs.every((x) => x >= 0 && x <= 1e-17));
  assert.ok(Math.abs(decodeDist1(tiny).cdf(2.5e-18) - 0.25) < 1e-12);
  if (nat) { const ys = new Float64Array(1000); nat.sampleDist(tiny, 6, 0, ys); assert.ok(ys.every((x) => x >= 0 && x <= 1e-17)); }
  // a narrow interval across a jump: 0.5 uniform(0,1) + 0.5 exponential(1) on [1 - 4e-13, 1 + 6e-13]
  const lo = 1 - 4e-13, hi = 1 + 6e-13;
  const jump = P(20, lo, hi, 21, 2, 0.5, 0.5, 1, 0, 1, 4, 1);
  const pl = 0.5 + 0.5 * Math.exp(-1), ph = 0.5 * Math.exp(-1);
  const mass = pl * (1 - lo) + ph * (hi - 1);
  const kernels = [['js', logpdfDist, (o) => sampleDist(jump, 1, 0, o)]];
  if (nat) kernels.push(['native', nat.logpdfDist, (o) => nat.sampleDist(jump, 1, 0, o)]);
  for (const [label, lpdf, draw] of kernels) {
    lpdf(jump, P(1 - 1e-13), lp);
    assert.ok(Math.abs(lp[0] - Math.log(pl / mass)) < 1e-9, `${label}: logpdf below the jump ${lp[0]}`);
    const ys = new Float64Array(40000);
    draw(ys);
    const below = ys.filter((x) => x < 1).length, want = (pl * (1 - lo) / mass) * ys.length;
    assert.ok(Math.abs(below - want) < 5 * Math.sqrt(want * (1 - want / ys.length)), `${label}: ${below} below the jump, expected ~${want.toFixed(0)}`);
  }
});

test('narrow truncations where the cdf underflows, is subnormal, or where quadrature is hard (both kernels)', (t) => {
  // references: ln p(x) - ln(mass of [lo, hi]) from mpmath at 50 digits
  const cases = [
    // F and S are 0 or subnormal: refused as "zero probability", or 5 distinct values
    ['normal on [39, 39+1e-9]', P(20, 39, 39.000000001, 2, 0, 1), 39, 20.723269326425672, 1e-12],
    ['normal on [38.4, 38.41]', P(20, 38.4, 38.41, 2, 0, 1), 38.405, 4.5990363090017033, 1e-12],
    ['exponential on [735, 735.1]', P(20, 735, 735.1, 4, 1), 735.05, 2.3021684610439201, 1e-12],
    ['t(0.05) on [1e300, 1.000000001e300]', P(20, 1e300, 1.000000001e300, 7, 0.05, 0, 1), 1e300, -670.05226204657887, 1e-12],
    // past |z| = 1.3e154, z^2 overflowed: cauchy's density was 0 there, t's tail beyond 0
    ['cauchy on [1e300, 1.000000001e300]', P(20, 1e300, 1.000000001e300, 8, 0, 1), 1e300, -670.0522620461039, 1e-12],
    ['t(0.05) on [1e155, inf)', P(20, 1e155, INF, 7, 0.05, 0, 1), 2e155, -360.62422622721901, 1e-12],
    // a 1/x-shaped density across a factor 3.5: one 8-point panel was off by 7.5e-9
    ['lognormal(0, 1.1e6) on [1, 3.5]', P(20, 1, 3.5, 3, 0, 1.1e6), 2.25, -1.0362817030423458, 1e-12],
    // two laplace kinks an ulp apart (the quadrature's slope estimate was NaN there, and the
    // cdf difference's mass 0.56 off in ln)
    ['laplace kinks an ulp apart', P(20, 0.2999999999999998, 0.3000000000000002, 21, 2, 0.5, 0.5, 9, 0.3, 1, 9, 0.3000000000000001, 1), 0.3, 35.484037601181733, 1e-12],
    // gamma(1e-8, 1e-300) above 0.1: its sf, 6.9e-6, was 1 - P with P near 1 (3e-12 off)
    ['gamma(1e-8, 1e-300) on [0.1, inf)', P(20, 0.1, INF, 5, 1e-8, 1e-300), 0.2, -4.930875076991503, 1e-14],
    // nine doubles wide on a steep density: the cdf difference is the better mass (~5e-10)
    ['beta(3, 0.5) on nine doubles below 1', P(20, 0.999999999, 0.999999999000001, 6, 3, 0.5), 0.9999999990000005, 34.539575964585261, 3e-9],
  ];
  const nat = nativeDist(t);
  // (5000: the gamma(1e-8) case inverts numerically, ~90 us a draw natively)
  const n = 5000;
  for (const [name, prog, x, want, tol] of cases) {
    const kernels = [['js', logpdfDist, (o) => sampleDist(prog, 2, 0, o)]];
    if (nat) kernels.push(['native', nat.logpdfDist, (o) => nat.sampleDist(prog, 2, 0, o)]);
    const lo = prog[1], hi = prog[2];
    for (const [label, lpdf, draw] of kernels) {
      const lp = new Float64Array(1);
      lpdf(prog, P(x), lp);
      assert.ok(Math.abs(lp[0] - want) <= tol * Math.max(1, Math.abs(want)), `${label} ${name}: logpdf ${lp[0]}, want ${want}`);
      const xs = new Float64Array(n);
      draw(xs);
      assert.ok(xs.every((v) => v >= lo && v <= hi && Number.isFinite(v)), `${label} ${name}: a draw outside [lo, hi] or infinite`);
      if (hi === INF) continue;
      // distinct values: as many as n draws of the doubles in [lo, hi] give, uniformly
      const doubles = (hi - lo) / 2 ** (Math.floor(Math.log2(Math.abs(hi))) - 52);
      const expected = doubles * -Math.expm1(-n / doubles);
      assert.ok(new Set(xs).size > 0.97 * expected, `${label} ${name}: ${new Set(xs).size} distinct, expected ~${expected.toFixed(0)}`);
    }
  }
});

test("t with a small df: tail probabilities and quantiles past where x = df / (df + t^2) underflows", () => {
  // mpmath: sf of t(0.05) at 1e155 and 1e300; its 1e-12 quantile (the JS kernel gave -inf)
  const d = decodeDist1(P(7, 0.05, 0, 1));
  for (const [t, want] of [[1e155, 7.9767053338026065e-9], [1e300, 4.4856310480634794e-16]]) {
    assert.ok(Math.abs(d.sf(t) - want) < 1e-12 * want, `sf(${t}) = ${d.sf(t)}`);
    assert.ok(Math.abs(d.cdf(-t) - want) < 1e-12 * want, `cdf(${-t}) = ${d.cdf(-t)}`);
  }
  const q = 1.0876044676001629e233;
  assert.ok(Math.abs(d.quantile(1e-12) + q) < 1e-11 * q, `quantile(1e-12) = ${d.quantile(1e-12)}`);
  assert.ok(Math.abs(d.isf(1e-12) - q) < 1e-11 * q, `isf(1e-12) = ${d.isf(1e-12)}`);
});

test('gamma with a tiny rate: cdf, quantile and truncations where rate * x underflows (both kernels)', (t) => {
  // gamma(0.01, 1e-100) holds 1.0057e-4 of its mass below 1e-300 (mpmath), where rate * x
  // is 0: the cdf was 0 there, and truncated(gamma(0.01, 1e-100), 0, 1e-300) was refused
  const g = decodeDist1(P(5, 0.01, 1e-100));
  const F = 1.0057065285003851e-4;
  assert.ok(Math.abs(g.cdf(1e-300) - F) < 1e-12 * F, `cdf ${g.cdf(1e-300)}`);
  assert.ok(Math.abs(g.quantile(F) - 1e-300) < 1e-11 * 1e-300, `quantile ${g.quantile(F)}`);
  assert.ok(Math.abs(g.isf(1 - F) / 1e-300 - 1) < 1e-9, `isf ${g.isf(1 - F)}`);
  const nat = nativeDist(t);
  const trunc = P(20, 0, 1e-300, 5, 0.01, 1e-100);
  const lp = new Float64Array(1);
  for (const [label, f] of [['js', logpdfDist], ...(nat ? [['native', nat.logpdfDist]] : [])]) {
    f(trunc, P(5e-301), lp);
    assert.ok(Math.abs(lp[0] - 686.85657342097996) < 1e-12 * 687, `${label} logpdf ${lp[0]}`);
  }
  // On [0, 1e-200] the truncated cdf is (x / 1e-200)^0.01 to 1e-200: u = that is uniform above
  // the draws that round to the smallest double (5.9%); inversion drew exactly 0 for those,
  // where the density is infinite.
  const prog = P(20, 0, 1e-200, 5, 0.01, 1e-100);
  const n = 100_000;
  for (const [label, draw] of [['js', (o) => sampleDist(prog, 7, 0, o)], ...(nat ? [['native', (o) => nat.sampleDist(prog, 7, 0, o)]] : [])]) {
    const xs = new Float64Array(n);
    draw(xs);
    assert.ok(xs.every((x) => x > 0 && x <= 1e-200), `${label}: a draw of 0 or above 1e-200`);
    const atom = Math.exp(0.01 * (Math.log(1e-323) - Math.log(1e-200)));
    const us = Array.from(xs, (x) => Math.exp(0.01 * (Math.log(x) - Math.log(1e-200)))).filter((u) => u > atom);
    const r = ksTest(Float64Array.from(us), (u) => (u - atom) / (1 - atom));
    assert.ok(r.p > 1e-3, `${label}: KS p=${r.p}`);
  }
});

test('moments of a narrow truncation far from 0 keep their digits', () => {
  // normal(0,1) on [30, 30 + w]: the density falls by exp(-30 t), so (scipy-free closed form)
  // the mean is 30 + 1/30 - w / expm1(30 w) and the variance 1/900 - w^2 e^(30w) / expm1(30 w)^2.
  // E[X^2] - E[X]^2 of X itself gave 9.1e-13 for 8.3e-20.
  const w = (30 + 1e-9) - 30, k = 30;
  const d = decodeDist1(P(20, 30, 30 + 1e-9, 2, 0, 1));
  // (series of the closed forms, which cancel in doubles at k w = 3e-8)
  const mean = 30 + w / 2 - (k * w * w) / 12, variance = (w * w) / 12 - (k * k * w ** 4) / 720;
  assert.ok(Math.abs(d.mean - mean) < 1e-15 * 30, `mean ${d.mean} vs ${mean}`);
  // (the quantiles round to doubles 3.6e-15 apart, 3.6e-6 of w)
  assert.ok(Math.abs(d.variance - variance) < 1e-5 * variance, `variance ${d.variance} vs ${variance}`);
});

test('one-ulp truncations: the mass is the density times the ulp (both kernels)', (t) => {
  // an interval one ulp wide put both quadrature nodes of its piece on one double: the slope
  // estimate was NaN, and the mass fell back to a cdf difference, up to 1.4 off in ln
  const nat = nativeDist(t);
  const up = (x) => { const b = new Float64Array([x]); const i = new BigInt64Array(b.buffer); i[0] += x >= 0 ? 1n : -1n; return b[0]; };
  const lp = new Float64Array(1);
  for (let k = 0; k < 60; k++) {
    const lo = -3 + k * 0.1 + 1e-7 * k, hi = up(lo);
    const prog = P(20, lo, hi, 2, 0, 1);
    for (const [label, f] of [['js', logpdfDist], ...(nat ? [['native', nat.logpdfDist]] : [])]) {
      f(prog, P(lo), lp);
      assert.ok(Math.abs(lp[0] + Math.log(hi - lo)) < 1e-12 * Math.abs(lp[0]), `${label} [${lo}, ${hi}]: logpdf ${lp[0]}, want ${-Math.log(hi - lo)}`);
    }
  }
});

test('quantiles of a truncation come from the side where they keep their digits', () => {
  // truncated(t(3), 0, inf): isf(q) went through 1 - q mass, 1 for small q, so the quantile
  // was +inf there and the mean Infinity (mpmath: 1.1026577908435842)
  const d = decodeDist1(P(20, 0, INF, 7, 3, 0, 1));
  assert.ok(Math.abs(d.mean - 1.1026577908435842) < 1e-9, `mean ${d.mean}`);
  const want = 6041668.820268779; // scipy t(3).isf(0.5e-20)
  assert.ok(Math.abs(d.isf(1e-20) - want) < 1e-12 * want, `isf(1e-20) ${d.isf(1e-20)}`);
  assert.ok(Math.abs(d.quantile(1 - 1e-12) - d.isf(1e-12)) < 1e-3 * d.isf(1e-12));
});

test('truncations of truncations and of mixtures of truncations: the mass near an inner end (both kernels)', (t) => {
  // The inner truncation's cdf is a difference of its child's values over its mass, so it
  // carries an absolute error that does not shrink near the inner ends; an outer mass formed
  // from two such values was 44% high in the first case. References: mpmath, ln of the outer
  // interval's mass under the child (= logpdf(child) - logpdf(program) inside).
  const m = -0.29999985000003976;
  const cases = [
    ['at an inner lower end', [20, -1e-6, -9.999999998e-7, 20, -1e-6, 1e-6, 2, 0, 1], -23.025851243950701],
    ['at an inner upper end', [20, 9.999999998e-7, 1e-6, 20, -1e-6, 1e-6, 2, 0, 1], -23.025851243950701],
    ['mixture of truncations', [20, -1e-6, -9.999999998e-7, 21, 2, 0.5, 0.5, 20, -1e-6, 1e-6, 2, 0, 1, 20, -1e-6, 1e-6, 10, 0, 1], -23.025851243950618],
    ['at a median and an end', [20, m, -0.29999985000003876, 21, 2, 0.001, 0.999, 20, -0.301, -0.299, 2, 0, 1, 20, m, -0.2999988500000398, 2, 0, 1], -20.725065584182649],
    // straddling the inner end: the uniform proposal covers only the part inside
    ['across an inner end', [20, 1e-4 - 1e-14, 1e-4 + 9e-14, 20, -1e-4, 1e-4, 2, 0, 1], -23.718997792568938],
  ];
  const nat = nativeDist(t);
  for (const [name, prog, want] of cases) {
    const p = P(...prog), child = P(...prog.slice(3));
    const x = P(Math.min(prog[1] + (prog[2] - prog[1]) / 2, 1e-4 - 5e-15));
    for (const [label, lpdf, draw] of [['js', logpdfDist, (o) => sampleDist(p, 1, 0, o)], ...(nat ? [['native', nat.logpdfDist, (o) => nat.sampleDist(p, 1, 0, o)]] : [])]) {
      const a = new Float64Array(1), b = new Float64Array(1);
      lpdf(child, x, a);
      lpdf(p, x, b);
      assert.ok(Math.abs(a[0] - b[0] - want) < 1e-12 * Math.abs(want), `${label} ${name}: ln mass ${a[0] - b[0]}, want ${want}`);
      const xs = new Float64Array(2000);
      draw(xs);
      assert.ok(xs.every((v) => v >= prog[1] && v <= Math.min(prog[2], 1e-4)), `${label} ${name}: a draw outside the interval's support`);
    }
  }
  // an inner truncation inverted (not narrow) still has its mass to ~1e-16, not 2^-32
  const lp = new Float64Array(1);
  logpdfDist(P(20, -1e-6, 1e-6, 2, 0, 1), P(0), lp);
  const wantInner = 13.122363377404496; // mpmath: -ln(Phi(1e-6) - Phi(-1e-6)) + ln phi(0)
  assert.ok(Math.abs(lp[0] - wantInner) < 1e-14 * wantInner, `inner logpdf ${lp[0]}`);
});

test('a narrow mixture component between the quadrature nodes is not lost (both kernels)', (t) => {
  // mixture(0.9999999 normal(0,1), 1e-7 narrow spike at 0.5) on [0.499, 0.501]: the quadrature
  // mass dropped the spike (1.4e-4 of the mass) while the cdf difference sees it; the two are
  // now checked against each other. References: mpmath.
  const cases = [
    [[20, 0.499, 0.501, 21, 2, 0.9999999, 1e-7, 2, 0, 1, 2, 0.5, 3e-7], -7.2584048475810804, 1e-13],
    [[20, 0.499, 0.501, 21, 2, 0.9999999, 1e-7, 2, 0, 1, 7, 1, 0.50037, 3e-7], -7.258404879002472, 1e-13],
    // on the narrow path (its cdf difference is good to ~1e-9 here)
    [[20, 0.4999999, 0.5000001, 21, 2, 0.9999999999, 1e-10, 2, 0, 1, 2, 0.5000000371, 3e-10], -16.467467820492853, 1e-10],
  ];
  const nat = nativeDist(t);
  for (const [prog, want, tol] of cases) {
    for (const [label, lpdf] of [['js', logpdfDist], ...(nat ? [['native', nat.logpdfDist]] : [])]) {
      const a = new Float64Array(1), b = new Float64Array(1);
      lpdf(P(...prog.slice(3)), P(0.5), a);
      lpdf(P(...prog), P(0.5), b);
      assert.ok(Math.abs(a[0] - b[0] - want) < tol * Math.abs(want), `${label} ${JSON.stringify(prog)}: ln mass ${a[0] - b[0]}, want ${want}`);
    }
  }
});

test('extreme shapes: log densities and tail masses against mpmath (both kernels)', (t) => {
  const nat = nativeDist(t);
  // [program, x, ln p(x) from mpmath at 50 digits]
  const cases = [
    // gamma's upper tail for a shape of 1e-8 (1 - P kept 8 digits in JS)
    [P(20, 1, Infinity, 5, 1e-8, 1), 1.3457443636841102, -0.12575969638866941711],
    [P(20, 1, Infinity, 5, 1e-8, 1), 5, -5.0925059417975827709],
    // t's normalizer for large df (a difference of two lgammas: 22.7 off at 1e20)
    [P(7, 1e20, 0, 1), 0, -0.91893853320467274178],
    [P(7, 1e8, 0, 1), 1, -1.4189385382046727334],
    // large shapes about the mode (the plain form rounded to 4e-3 at 1e12)
    [P(5, 1e12, 1), 1e12, -14.734449091169030179],
    [P(5, 1e12, 1), 1000001000000, -15.234449757835446846],
    [P(5, 1e6, 1), 1001000, -8.3273603123200598509],
    [P(6, 1e12, 1e12), 0.5, 13.936292795599394326],
    [P(6, 1e12, 1e12), 0.5000005, 12.936292795764427602],
    [P(6, 1e6, 20), 0.99998, 11.394549564587916507],
    // ... below the mode, where x / m is subnormal or 0 (it was -inf or off by 2)
    [P(5, 64, 1), 5e-324, -47100.733847446301052],
    [P(5, 100, 1e-10), 1e-310, -73328.055802350883424],
    [P(5, 1e20, 1), 1e-300, -7.3582722975809461885e22],
    [P(6, 100, 64), 5e-324, -73588.963034373689219],
    // ... and where x / m overflows (NaN), or at +inf on the plain form (native NaN)
    [P(5, 64, 1e300), 1e300, -Infinity],
    [P(5, 63.999, 1), Infinity, -Infinity],
    // beta's upper tail for a tiny alpha (1 - I lost 8 digits in both kernels)
    [P(20, 0.3, 1, 6, 1e-8, 1), 0.5, 0.50752042078597184489],
    [P(20, 0.1, 1, 6, 1e-4, 0.5), 0.5, -0.25139126413375061625],
    // beta's incomplete function with a large shape (Numerical Recipes' fraction lost ~(a+b) eps
    // near the mean: 2e-8 and 3e-11 here), and beta(1e8, 100)'s density just below its mode
    // near 1 (x0's rounding over a small y0: 5e-9)
    [P(20, 1.9379999437980013e-8, 1, 6, 0.9, 1e8), 2e-8, 18.392132875961032794],
    [P(20, 0, 0.4998232233488975, 6, 1e6, 1e6), 0.4998, 8.0444491042884278396],
    [P(6, 1e8, 100), 0.9999996000000969, -15.514431062728684323],
    // t's tails at large df (the continued fraction put 3e-8 into t(1e8)'s)
    [P(20, 3, 3.0001, 7, 1e8, 0, 1), 3.00005, 9.2103403686406152516],
    [P(20, 1, Infinity, 7, 1e6, 0, 1), 2, -1.0779159007692325654],
  ];
  const out = new Float64Array(1);
  for (const [label, f] of [['js', logpdfDist], ...(nat ? [['native', nat.logpdfDist]] : [])]) {
    for (const [prog, x, want] of cases) {
      f(prog, P(x), out);
      // (the conditioning of ln p at x, |d ln p / d ln x| eps, is far below this for these x)
      assert.ok(out[0] === want || Math.abs(out[0] - want) <= 2e-13 * Math.max(1, Math.abs(want)), `${label} [${prog}] at ${x}: ${out[0]}, want ${want}`);
    }
  }
});

test('extreme shapes: quantiles keep their digits, and the kernels draw alike (both kernels)', (t) => {
  // beta(0.01, 0.5) holds 0.637 of its mass below 1e-19: its quantiles were 1 - (a number
  // near 1) in JS, so truncations to [1e-20, 1e-18] drew 1e-18
  const b = decodeDist1(P(6, 0.01, 0.5));
  const x = b.quantile(0.63686856140936554849);
  assert.ok(Math.abs(x / 1e-19 - 1) < 1e-12, `beta quantile ${x}`);
  assert.ok(Math.abs(b.isf(1 - 0.63686856140936554849) / 1e-19 - 1) < 1e-10, `beta isf ${b.isf(1 - 0.63686856140936554849)}`);
  // t at large df: quantiles from Hill's transformation, and below it from y = 1 - x
  for (const [df, q, want] of [[1e8, 1e-3, 3.0902323876691056458], [1e8, 0.4, 0.25334710380982011186], [3e4, 1e-3, 3.0905039990168570998]]) {
    const d = decodeDist1(P(7, df, 0, 1));
    assert.ok(Math.abs(d.isf(q) / want - 1) < 1e-13, `t(${df}) isf(${q}) = ${d.isf(q)}`);
    assert.ok(Math.abs(d.quantile(q) / -want - 1) < 1e-13, `t(${df}) quantile(${q}) = ${d.quantile(q)}`);
  }
  assert.ok(Math.abs(decodeDist1(P(7, 1e8, 0, 1)).sf(5) / 2.8665205506336430084e-7 - 1) < 1e-13);
  const nat = nativeDist(t);
  if (!nat) return;
  const agree = [
    P(20, 1, 1.5, 7, 1e8, 0, 1),
    P(20, 1e-20, 1e-18, 6, 0.01, 0.5),
    P(20, 1e-200, 1e-100, 6, 0.001, 1e6),
    P(20, 1e-6, 1e-5, 6, 0.05, 2),
    // a root in the subnormals: Newton's derivative overflowed, and the JS bisection
    // underflowed to 0 (78% of draws at 5e-324 against 59%)
    P(20, 0, 1e-300, 6, 0.01, 0.5),
    // a mixture's bracket across 0: solving for x - lo kept x to |lo| eps, so half the JS
    // draws came out negative where the mass below 0 is 1e-13
    P(20, -9.474782783822634e-22, 9.990525217216178e-19, 21, 2, 0.3, 0.7, 2, 0, 1, 5, 0.5, 2),
    // the incomplete beta's three methods for a large shape, by inversion: the asymptotic
    // expansion for a small shape (and for t from df 200), the continued fraction in lambda,
    // and the expansion for two large shapes near the mean
    P(20, 1e-8, 4e-8, 6, 0.9, 1e8),
    P(20, 2.5, 4, 7, 300, 0, 1),
    P(20, 2e-6, 5e-6, 6, 2, 1e6),
    P(20, 0.4995, 0.5003, 6, 1e6, 1e6),
  ];
  for (const prog of agree) {
    const a = new Float64Array(2000), c = new Float64Array(2000);
    sampleDist(prog, 12345, 7, a);
    nat.sampleDist(prog, 12345, 7, c);
    // (the mixture's cdf near 0 sits on 0.15, so its draws agree to its conditioning, 1e-4)
    const tol = prog[0] === 20 && prog[3] === 21 ? 1e-4 : 1e-10;
    let worst = 0;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === c[i]) continue;
      worst = Math.max(worst, Math.abs(a[i] - c[i]) / Math.max(Math.abs(a[i]), Math.abs(c[i])));
    }
    assert.ok(worst <= tol, `[${prog}]: worst relative difference ${worst}`);
    assert.ok(a.every((v) => v >= prog[1] && v <= prog[2]), `[${prog}]: a JS draw outside the interval`);
  }
});
