// The demo scenario: deterministic by seed, the promised shapes, a real covariate shift
// (line A and line B inputs are separable) with one labeling rule p(y | x) on both lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manufacturingScenario, demoInput } from '../dist/rft/scenario.js';

const small = (seed) => manufacturingScenario({ seed, features: 100, classes: 10, poolSize: 4000, targetUnlabeled: 2000, testSize: 2000, targetLabeled: 500 });

test('shapes, labels and names', () => {
  const s = small(1);
  assert.equal(s.source.n, 4000);
  assert.equal(s.source.d, 100);
  assert.equal(s.source.x.length, 4000 * 100);
  assert.equal(s.source.y.length, 4000);
  assert.equal(s.target.n, 2000);
  assert.equal(s.target.y, undefined, 'the target set is unlabeled');
  assert.equal(s.test.n, 2000);
  assert.equal(s.test.y.length, 2000);
  assert.equal(s.targetLabeled.n, 500);
  assert.equal(s.source.names.length, 100);
  for (const ds of [s.source, s.test, s.targetLabeled]) {
    const counts = new Array(10).fill(0);
    for (const v of ds.y) counts[v]++;
    assert.ok(counts.every((c) => c > 0), `every class occurs: ${counts}`);
  }
  for (const v of s.source.x) assert.ok(Number.isFinite(v));
  assert.equal(manufacturingScenario({ seed: 1, poolSize: 10, targetUnlabeled: 10, testSize: 10 }).targetLabeled, undefined);
  assert.throws(() => manufacturingScenario({ seed: 1, poolSize: 0 }), RangeError);
  assert.throws(() => manufacturingScenario({ seed: -1 }), RangeError);
  assert.throws(() => manufacturingScenario({ seed: 1, features: 5, classes: 10 }), RangeError);
});

test('deterministic by seed; each set depends only on its own size', () => {
  const a = small(7), b = small(7), c = small(8);
  assert.deepEqual(a.source.x, b.source.x);
  assert.deepEqual(a.source.y, b.source.y);
  assert.deepEqual(a.target.x, b.target.x);
  assert.deepEqual(a.test.y, b.test.y);
  assert.notDeepEqual(a.source.x.subarray(0, 1000), c.source.x.subarray(0, 1000));
  const d = manufacturingScenario({ seed: 7, poolSize: 100, targetUnlabeled: 2000, testSize: 50 });
  assert.deepEqual(d.target.x, a.target.x, 'target rows do not depend on the pool size');
  assert.deepEqual(d.source.x, a.source.x.subarray(0, 100 * 100), 'a smaller pool is a prefix of a larger one');
});

/** Logistic regression by full-batch gradient descent on standardized features. */
function logistic(x, y, n, d, iters = 150, lr = 0.5) {
  const w = new Float64Array(d + 1);
  const g = new Float64Array(d + 1);
  for (let it = 0; it < iters; it++) {
    g.fill(0);
    for (let r = 0; r < n; r++) {
      let z = w[d];
      for (let i = 0; i < d; i++) z += w[i] * x[r * d + i];
      const e = 1 / (1 + Math.exp(-z)) - y[r];
      for (let i = 0; i < d; i++) g[i] += e * x[r * d + i];
      g[d] += e;
    }
    for (let i = 0; i <= d; i++) w[i] -= (lr * g[i]) / n;
  }
  return (row) => {
    let z = w[d];
    for (let i = 0; i < d; i++) z += w[i] * row[i];
    return z;
  };
}

test('the shift is real: a domain classifier tells line A from line B', () => {
  const s = small(2);
  const d = 100, half = 1500;
  // training rows: the first `half` of each set; held-out: the next 500
  const mean = new Float64Array(d), sd = new Float64Array(d);
  for (let r = 0; r < s.source.n; r++) for (let i = 0; i < d; i++) mean[i] += s.source.x[r * d + i] / s.source.n;
  for (let r = 0; r < s.source.n; r++) for (let i = 0; i < d; i++) sd[i] += (s.source.x[r * d + i] - mean[i]) ** 2 / s.source.n;
  const z = (ds, r) => Float64Array.from({ length: d }, (_, i) => (ds.x[r * d + i] - mean[i]) / Math.sqrt(sd[i]));
  const x = new Float64Array(2 * half * d), y = new Float64Array(2 * half);
  for (let r = 0; r < half; r++) {
    x.set(z(s.source, r), r * d);
    x.set(z(s.target, r), (half + r) * d);
    y[half + r] = 1;
  }
  const f = logistic(x, y, 2 * half, d);
  let correct = 0;
  for (let r = half; r < half + 500; r++) {
    if (f(z(s.source, r)) < 0) correct++;
    if (f(z(s.target, r)) > 0) correct++;
  }
  const acc = correct / 1000;
  if (process.env.RSFT_TEST_VERBOSE) console.log({ domainAccuracy: acc });
  // 10% vs 90% high load: a perfect domain classifier is right about 90% of the time
  assert.ok(acc > 0.8, `domain accuracy ${acc}`);
});

test('one labeling rule on both lines: labels follow labelProbs(x) on A and on B', () => {
  const s = small(3);
  const K = 10;
  for (const [name, ds] of [['line A pool', s.source], ['line B test', s.test], ['line B labeled', s.targetLabeled]]) {
    const p = s.meta.labelProbs(ds.x, ds.n);
    let obs = 0, expected = 0, bayes = 0;
    for (let r = 0; r < ds.n; r++) {
      let sum = 0, best = 0;
      for (let k = 0; k < K; k++) {
        const v = p[r * K + k];
        sum += v;
        expected += v * v;
        if (v > p[r * K + best]) best = k;
      }
      assert.ok(Math.abs(sum - 1) < 1e-9);
      obs += p[r * K + ds.y[r]];
      if (best === ds.y[r]) bayes++;
    }
    // if y ~ p(y | x), E[p(y | x)] = E[sum_k p_k^2]; the standard error here is ~0.01
    obs /= ds.n;
    expected /= ds.n;
    assert.ok(Math.abs(obs - expected) < 0.04, `${name}: mean p(y|x) of the labels ${obs} vs ${expected}`);
    assert.ok(bayes / ds.n > 0.85, `${name}: the rule is sharp (Bayes accuracy ${bayes / ds.n})`);
  }
});

test('the shift matters for the label rule: line A\'s best mapping is wrong on line B', () => {
  // A nearest-class-mean classifier fit to line A (a linear model of line A's dominant,
  // low-load mapping from sensor patterns to defects) works on A and fails on B, where most
  // parts run at high load and the patterns mean other defects.
  const s = small(4);
  const K = 10, d = 100;
  const means = Array.from({ length: K }, () => new Float64Array(d));
  const counts = new Array(K).fill(0);
  for (let r = 0; r < s.source.n; r++) {
    const c = s.source.y[r];
    counts[c]++;
    for (let i = 0; i < d; i++) means[c][i] += s.source.x[r * d + i];
  }
  for (let c = 0; c < K; c++) for (let i = 0; i < d; i++) means[c][i] /= counts[c];
  const ncm = (ds) => {
    let ok = 0;
    for (let r = 0; r < ds.n; r++) {
      let best = 0, bd = Infinity;
      for (let c = 0; c < K; c++) {
        let dist = 0;
        for (let i = 0; i < d; i++) dist += (ds.x[r * d + i] - means[c][i]) ** 2;
        if (dist < bd) {
          bd = dist;
          best = c;
        }
      }
      if (best === ds.y[r]) ok++;
    }
    return ok / ds.n;
  };
  const accA = ncm({ ...s.source, n: 2000 }), accB = ncm(s.test);
  assert.ok(accA > 0.6, `a line-A classifier works on line A (${accA})`);
  assert.ok(accB < accA - 0.3, `and loses on line B (${accB} vs ${accA})`);
  if (process.env.RSFT_TEST_VERBOSE) console.log({ accA, accB });
});

test('demoInput: the demo pipeline input', () => {
  const input = demoInput({ seed: 3, out: '/tmp/x', small: true });
  assert.equal(input.seed, 3);
  assert.equal(input.classes, 10);
  assert.equal(input.data.source.d, 100);
  assert.ok(input.data.test && input.data.test.y);
  assert.deepEqual(input.model.hidden, [8]);
  assert.equal(input.ratio.method, 'classifier');
  assert.equal(input.out, '/tmp/x');
  assert.equal(input.config.seed, 3);
});
