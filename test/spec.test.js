// Distribution objects (dist.ts) and the spec language (spec.ts): parsing, canonical formatting
// round trips, encoding, supports, and every class of error message.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseDist } from '../dist/sampling/spec.js';
import { dist, dimOf, supportOf, encodeDist, formatDist, isDist } from '../dist/sampling/dist.js';
import { UsageError } from '../dist/errors.js';

/** Assert that fn throws a UsageError whose message matches re (a RegExp or exact string). */
function throwsUsage(fn, re) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${err && err.name}: ${err && err.message}`);
    if (typeof re === 'string') assert.equal(err.message, re);
    else assert.match(err.message, re);
    assert.ok(!err.message.includes('\n'), 'one-line message');
    return true;
  });
}

/** parse -> format -> parse gives the same object and the same text. */
function roundTrip(spec, expectedText) {
  const d = parseDist(spec);
  const text = formatDist(d);
  if (expectedText !== undefined) assert.equal(text, expectedText, spec);
  const again = parseDist(text);
  assert.deepEqual(again, d, `round trip of ${spec}`);
  assert.equal(formatDist(again), text);
  assert.deepEqual(Array.from(encodeDist(again)), Array.from(encodeDist(d)));
  assert.ok(isDist(d));
  return d;
}

test('every family parses positionally and formats canonically', () => {
  const cases = [
    ['uniform(0,1)', 'uniform(0, 1)'],
    ['normal(0,1)', 'normal(0, 1)'],
    ['lognormal(0.5, 2)', 'lognormal(0.5, 2)'],
    ['exponential(3)', 'exponential(3)'],
    ['gamma(2, 0.5)', 'gamma(2, 0.5)'],
    ['beta(2,5)', 'beta(2, 5)'],
    ['t(3)', 'student_t(3, 0, 1)'],
    ['student_t(3, 1, 2)', 'student_t(3, 1, 2)'],
    ['studentt(4.5, -1)', 'student_t(4.5, -1, 1)'],
    ['cauchy()', 'cauchy(0, 1)'],
    ['cauchy(1, 2)', 'cauchy(1, 2)'],
    ['laplace(0, 3)', 'laplace(0, 3)'],
    ['logistic(-1)', 'logistic(-1, 1)'],
    ['truncated(normal(0,1), 2, inf)', 'truncated(normal(0, 1), 2, inf)'],
    ['truncated(normal(0,1), -inf, 0)', 'truncated(normal(0, 1), -inf, 0)'],
    ['mixture(0.3*normal(-2,0.5), 0.7*normal(1.5,1))', 'mixture(0.3*normal(-2, 0.5), 0.7*normal(1.5, 1))'],
    ['product(normal(0,1), beta(2,5))', 'product(normal(0, 1), beta(2, 5))'],
    ['mvnormal([0, 1], [1, 2])', 'mvnormal([0, 1], [1, 2])'],
  ];
  for (const [spec, text] of cases) roundTrip(spec, text);
});

test('named parameters and aliases', () => {
  const same = [
    ['gamma(shape=2, scale=0.5)', 'gamma(2, 2)'],
    ['gamma(k=2, theta=0.5)', 'gamma(2, 2)'],
    ['gamma(alpha=2, beta=3)', 'gamma(2, 3)'],
    ['gamma(2, rate=3)', 'gamma(2, 3)'],
    ['normal(mu=0, sigma=1)', 'normal(0, 1)'],
    ['normal(mean=1, sd=2)', 'normal(1, 2)'],
    ['normal(loc=1, scale=2)', 'normal(1, 2)'],
    ['normal(sigma=2, mu=1)', 'normal(1, 2)'],
    ['uniform(low=-1, high=1)', 'uniform(-1, 1)'],
    ['uniform(a=-1, b=1)', 'uniform(-1, 1)'],
    ['uniform(lo=-1, hi=1)', 'uniform(-1, 1)'],
    ['exponential(rate=2)', 'exponential(2)'],
    ['exponential(scale=2)', 'exponential(0.5)'],
    ['beta(a=2, b=3)', 'beta(2, 3)'],
    ['beta(alpha=2, beta=3)', 'beta(2, 3)'],
    ['t(nu=3, scale=2)', 'student_t(3, 0, 2)'],
    ['student_t(df=3, loc=1)', 'student_t(3, 1, 1)'],
    ['lognormal(meanlog=1, sdlog=0.5)', 'lognormal(1, 0.5)'],
    ['cauchy(mu=1)', 'cauchy(1, 1)'],
    ['laplace(scale=2)', 'laplace(0, 2)'],
    ['logistic(loc=3, scale=2)', 'logistic(3, 2)'],
    ['truncated(normal(0,1), lo=0)', 'truncated(normal(0, 1), 0, inf)'],
    ['truncated(dist=normal(0,1), upper=1, lower=-1)', 'truncated(normal(0, 1), -1, 1)'],
    ['mvnormal(mu=[0,0], sigma=[1,2])', 'mvnormal([0, 0], [1, 2])'],
    ['mvnormal(sd=[1], mean=[3])', 'mvnormal([3], [1])'],
  ];
  for (const [spec, text] of same) roundTrip(spec, text);
});

test('whitespace, case and number syntax', () => {
  roundTrip('  NORMAL ( MU = 0 , Sigma=1 )  ', 'normal(0, 1)');
  roundTrip('Gamma(Shape=2,Scale=4)', 'gamma(2, 0.25)');
  roundTrip('uniform(-1e6, 2.5E+3)', 'uniform(-1000000, 2500)');
  roundTrip('uniform(-pi, PI)', `uniform(${-Math.PI}, ${Math.PI})`);
  roundTrip('normal(e, .5)', `normal(${Math.E}, 0.5)`);
  roundTrip('truncated(cauchy(), -Inf, +infinity)', 'truncated(cauchy(0, 1), -inf, inf)');
  roundTrip('normal(-0, 1)', 'normal(-0, 1)');
  roundTrip('normal(1e-300, 1e300)', 'normal(1e-300, 1e+300)');
  roundTrip('normal(0.1, 0.30000000000000004)', 'normal(0.1, 0.30000000000000004)');
});

test('nested structures round-trip', () => {
  roundTrip('mixture(0.5*truncated(normal(0,1), 0, inf), 0.5*mixture(0.25*beta(2,2), 0.75*uniform(0,1)))');
  roundTrip('product(mixture(0.5*normal(0,1), 0.5*normal(1,1)), truncated(cauchy(), -1, 1), mvnormal([0],[1]))');
  roundTrip('mixture(0.5*product(normal(0,1), normal(0,1)), 0.5*mvnormal([0,0],[3,3]))');
  roundTrip('truncated(mixture(0.2*gamma(2,1), 0.8*exponential(1)), 1, 10)');
});

test('mixture weights: normalized, equal when omitted, idempotent', () => {
  const d = roundTrip('mixture(1*normal(0,1), 3*normal(1,1))', 'mixture(0.25*normal(0, 1), 0.75*normal(1, 1))');
  assert.equal(d.components.length, 2);
  roundTrip('mixture(normal(0,1), normal(3,1), cauchy())');
  const thirds = parseDist('mixture(normal(0,1), normal(3,1), cauchy())');
  for (const c of thirds.components) assert.ok(Math.abs(c.weight - 1 / 3) < 1e-15);
  // Weights that already sum to 1 (to rounding) are kept as written.
  roundTrip('mixture(0.1*normal(0,1), 0.2*normal(0,1), 0.7*normal(0,1))',
    'mixture(0.1*normal(0, 1), 0.2*normal(0, 1), 0.7*normal(0, 1))');
  // Awkward ratios still re-parse to the same numbers.
  for (const ws of [[1, 1, 1, 1, 1, 1, 1], [3, 7, 11], [1e-3, 5, 0.7, 123.4]]) {
    const spec = `mixture(${ws.map((w, i) => `${w}*normal(${i}, 1)`).join(', ')})`;
    roundTrip(spec);
  }
  // Huge or tiny weights: their sum overflows or underflows, their ratios do not.
  const N = dist.normal(0, 1), N1 = dist.normal(1, 1);
  roundTrip(formatDist(dist.mixture([[1.5e308, N], [1.5e308, N1]])), 'mixture(0.5*normal(0, 1), 0.5*normal(1, 1))');
  assert.deepEqual(dist.mixture([[1e-300, N], [3e-300, N1]]).components.map((c) => c.weight), [0.25, 0.75]);
  // The program carries weights that sum to 1.
  const p = encodeDist(parseDist('mixture(2*normal(0,1), 5*normal(1,1), 3*beta(2,2))'));
  assert.equal(p[0], 21);
  assert.equal(p[1], 3);
  assert.ok(Math.abs(p[2] + p[3] + p[4] - 1) < 1e-15);
});

test('nested truncation folds to the intersection', () => {
  const d = parseDist('truncated(truncated(normal(0,1), 2, inf), -1, 5)');
  assert.equal(formatDist(d), 'truncated(normal(0, 1), 2, 5)');
  assert.equal(d.base.kind, 'normal');
  const d2 = dist.truncated(dist.truncated(dist.gamma(2, 1), 1, 9), 0, 4);
  assert.deepEqual([d2.lo, d2.hi, d2.base.kind], [1, 4, 'gamma']);
  // Bounds outside the support are clipped to it (kernels never see a CDF outside the support).
  assert.equal(formatDist(parseDist('truncated(gamma(2,1), -5, 3)')), 'truncated(gamma(2, 1), 0, 3)');
  assert.equal(formatDist(parseDist('truncated(uniform(0,1), -inf, 0.5)')), 'truncated(uniform(0, 1), 0, 0.5)');
  assert.equal(formatDist(parseDist('truncated(beta(2,2), 0.5, 7)')), 'truncated(beta(2, 2), 0.5, 1)');
});

test('encodeDist follows PROTOCOL §2', () => {
  const enc = (s) => Array.from(encodeDist(parseDist(s)));
  assert.deepEqual(enc('uniform(1, 2)'), [1, 1, 2]);
  assert.deepEqual(enc('normal(0, 1)'), [2, 0, 1]);
  assert.deepEqual(enc('lognormal(0, 1)'), [3, 0, 1]);
  assert.deepEqual(enc('exponential(2)'), [4, 2]);
  assert.deepEqual(enc('gamma(2, 0.5)'), [5, 2, 0.5]);
  assert.deepEqual(enc('beta(2, 5)'), [6, 2, 5]);
  assert.deepEqual(enc('t(3, 1, 2)'), [7, 3, 1, 2]);
  assert.deepEqual(enc('cauchy(1, 2)'), [8, 1, 2]);
  assert.deepEqual(enc('laplace(1, 2)'), [9, 1, 2]);
  assert.deepEqual(enc('logistic(1, 2)'), [10, 1, 2]);
  assert.deepEqual(enc('truncated(normal(0, 1), 2, inf)'), [20, 2, Infinity, 2, 0, 1]);
  assert.deepEqual(enc('mixture(0.3*normal(-2, 0.5), 0.7*exponential(1))'), [21, 2, 0.3, 0.7, 2, -2, 0.5, 4, 1]);
  assert.deepEqual(enc('product(normal(0, 1), beta(2, 5))'), [22, 2, 2, 0, 1, 6, 2, 5]);
  assert.deepEqual(enc('mvnormal([0, 1], [2, 3])'), [23, 2, 0, 1, 2, 3]);
  assert.ok(encodeDist(dist.normal(0, 1)) instanceof Float64Array);
});

test('dimOf and supportOf', () => {
  const sup = (s) => supportOf(parseDist(s));
  assert.deepEqual(sup('normal(0,1)'), { lo: [-Infinity], hi: [Infinity] });
  assert.deepEqual(sup('uniform(-1, 3)'), { lo: [-1], hi: [3] });
  assert.deepEqual(sup('beta(2,2)'), { lo: [0], hi: [1] });
  for (const s of ['gamma(2,1)', 'exponential(1)', 'lognormal(0,1)']) assert.deepEqual(sup(s), { lo: [0], hi: [Infinity] });
  for (const s of ['t(3)', 'cauchy()', 'laplace()', 'logistic()']) assert.deepEqual(sup(s), { lo: [-Infinity], hi: [Infinity] });
  assert.deepEqual(sup('truncated(normal(0,1), 2, inf)'), { lo: [2], hi: [Infinity] });
  assert.deepEqual(sup('truncated(gamma(2,1), -5, 3)'), { lo: [0], hi: [3] });
  assert.deepEqual(sup('truncated(beta(2,2), 0.5, 7)'), { lo: [0.5], hi: [1] });
  assert.deepEqual(sup('mixture(0.5*uniform(0,1), 0.5*uniform(2,3))'), { lo: [0], hi: [3] });
  assert.deepEqual(sup('truncated(mixture(0.5*uniform(0,1), 0.5*uniform(2,3)), 0.5, 2.5)'), { lo: [0.5], hi: [2.5] });
  assert.deepEqual(sup('product(beta(2,2), exponential(1), normal(0,1))'),
    { lo: [0, 0, -Infinity], hi: [1, Infinity, Infinity] });
  assert.deepEqual(sup('mvnormal([0,0],[1,1])'), { lo: [-Infinity, -Infinity], hi: [Infinity, Infinity] });
  assert.deepEqual(sup('mixture(0.5*product(uniform(0,1), beta(2,2)), 0.5*product(uniform(-1,0.5), uniform(2,3)))'),
    { lo: [-1, 0], hi: [1, 3] });
  assert.equal(dimOf(parseDist('normal(0,1)')), 1);
  assert.equal(dimOf(parseDist('product(normal(0,1), normal(0,1), beta(1,1))')), 3);
  assert.equal(dimOf(parseDist('mvnormal([0,0],[1,1])')), 2);
  assert.equal(dimOf(parseDist('mixture(0.5*mvnormal([0,0],[1,1]), 0.5*product(normal(0,1), normal(0,1)))')), 2);
  assert.equal(dimOf(parseDist('truncated(normal(0,1), 0, 1)')), 1);
});

test('constructors: positional, options form, frozen, equal to parsed', () => {
  assert.deepEqual(dist.gamma({ shape: 2, scale: 0.5 }), parseDist('gamma(2, 2)'));
  assert.deepEqual(dist.gamma({ shape: 2, rate: 3 }), dist.gamma(2, 3));
  assert.deepEqual(dist.normal({ mean: 1, sd: 2 }), dist.normal(1, 2));
  assert.deepEqual(dist.uniform({ low: 0, high: 2 }), dist.uniform(0, 2));
  assert.deepEqual(dist.exponential({ scale: 4 }), dist.exponential(0.25));
  assert.deepEqual(dist.beta({ a: 2, b: 3 }), dist.beta(2, 3));
  assert.deepEqual(dist.studentT(3), parseDist('t(3, 0, 1)'));
  assert.deepEqual(dist.studentT({ nu: 3, scale: 2 }), dist.studentT(3, 0, 2));
  assert.deepEqual(dist.cauchy(), dist.cauchy(0, 1));
  assert.deepEqual(dist.laplace({ loc: 1 }), dist.laplace(1, 1));
  assert.deepEqual(dist.logistic(2, 3), parseDist('logistic(2, 3)'));
  assert.deepEqual(dist.lognormal({ meanlog: 0, sdlog: 1 }), dist.lognormal(0, 1));
  assert.deepEqual(dist.truncated(dist.normal(0, 1), 2), parseDist('truncated(normal(0,1), 2, inf)'));
  assert.deepEqual(dist.mixture([[1, dist.normal(0, 1)], { weight: 3, dist: dist.beta(2, 2) }]),
    parseDist('mixture(0.25*normal(0,1), 0.75*beta(2,2))'));
  assert.deepEqual(dist.product([dist.normal(0, 1), dist.beta(2, 5)]), parseDist('product(normal(0,1), beta(2,5))'));
  assert.deepEqual(dist.mvnormal([0, 1], [1, 2]), parseDist('mvnormal([0,1],[1,2])'));
  assert.deepEqual(dist.mvnormal({ mean: [0, 1], sd: [1, 2] }), dist.mvnormal([0, 1], [1, 2]));
  const d = dist.normal(0, 1);
  assert.ok(Object.isFrozen(d));
  assert.throws(() => { 'use strict'; d.mu = 3; }, TypeError);
  assert.equal(isDist({ kind: 'normal', mu: 0, sigma: 1 }), true);
  assert.equal(isDist({ kind: 'normal', mu: '0', sigma: 1 }), false);
  assert.equal(isDist({ kind: 'gauss' }), false);
  assert.equal(isDist(null), false);
  assert.equal(isDist('normal(0,1)'), false);
});

test('constructed and parsed distributions print their canonical spec; their data is unchanged', () => {
  const specs = ['normal(0, 1)', 'gamma(2, 0.5)', 'mixture(0.3*normal(-2, 0.5), 0.7*truncated(normal(1.5, 1), 0, inf))',
    'product(normal(0, 1), beta(2, 5))', 'mvnormal([0, 1], [1, 2])'];
  for (const spec of specs) {
    const d = parseDist(spec);
    assert.equal(String(d), formatDist(d));
    assert.equal(`${d}`, spec);
    assert.deepEqual(Object.keys(d), Object.keys(JSON.parse(JSON.stringify(d))));
    assert.deepEqual(JSON.parse(JSON.stringify(d)), JSON.parse(JSON.stringify(structuredClone(d))));
  }
  assert.equal(String(dist.gamma({ shape: 2, scale: 0.5 })), 'gamma(2, 2)');
  assert.deepEqual(dist.normal(0, 1), { kind: 'normal', mu: 0, sigma: 1 });
});

test('mvnormal takes typed arrays as well as arrays', () => {
  assert.deepEqual(dist.mvnormal(new Float64Array([0, 1]), new Float32Array([1, 2])), dist.mvnormal([0, 1], [1, 2]));
  assert.deepEqual(dist.mvnormal({ mu: new Float64Array([0, 1]), sigma: [1, 2] }), dist.mvnormal([0, 1], [1, 2]));
});

test('constructor validation messages', () => {
  throwsUsage(() => dist.normal(0, -1), 'normal: sigma must be > 0, got -1');
  throwsUsage(() => dist.normal(NaN, 1), 'normal: mu must be a number, got NaN');
  throwsUsage(() => dist.normal(Infinity, 1), 'normal: mu must be finite, got inf');
  throwsUsage(() => dist.normal('0', 1), 'normal: mu must be a number, got "0"');
  throwsUsage(() => dist.normal(0), "normal: missing parameter 'sigma'");
  throwsUsage(() => dist.uniform(1, 0), 'uniform: a must be < b, got a=1, b=0');
  throwsUsage(() => dist.gamma(0, 1), 'gamma: shape must be > 0, got 0');
  throwsUsage(() => dist.gamma({ shape: 2, rate: 1, scale: 2 }), 'gamma: give either rate or scale, not both');
  throwsUsage(() => dist.gamma({ shape: 2, scale: -1 }), 'gamma: scale must be > 0, got -1');
  throwsUsage(() => dist.gamma({ shape: 2, sclae: 1 }), /^gamma: unknown parameter 'sclae'/);
  throwsUsage(() => dist.normal({ mu: 0, mean: 1, sigma: 1 }), /^normal: parameter 'mu' given twice/);
  throwsUsage(() => dist.normal({ mu: 0, sigma: 1 }, 2), /not both/);
  throwsUsage(() => dist.beta(2, Infinity), 'beta: beta must be finite, got inf');
  throwsUsage(() => dist.studentT(-1), 'student_t: df must be > 0, got -1');
  throwsUsage(() => dist.exponential(0), 'exponential: rate must be > 0, got 0');
  throwsUsage(() => dist.truncated(dist.normal(0, 1), 1, 1), 'truncated: lo must be < hi, got lo=1, hi=1');
  throwsUsage(() => dist.truncated(dist.normal(0, 1), NaN, 1), /truncated: lo must be a number/);
  throwsUsage(() => dist.truncated(dist.gamma(2, 1), -5, -1), /^truncated: interval \[-5, -1\] does not overlap the support of gamma\(2, 1\)$/);
  throwsUsage(() => dist.truncated(dist.beta(2, 2), 1, 2), /does not overlap/);
  throwsUsage(() => dist.truncated(dist.truncated(dist.normal(0, 1), 0, 1), 2, 3), /does not overlap/);
  throwsUsage(() => dist.truncated(dist.mvnormal([0, 0], [1, 1]), 0, 1), /^truncated: base must be 1-D, got a 2-D mvnormal/);
  throwsUsage(() => dist.truncated({ kind: 'nope' }, 0, 1), /^truncated: base must be a distribution/);
  throwsUsage(() => dist.mixture([]), /^mixture: needs a non-empty array/);
  throwsUsage(() => dist.mixture([[0, dist.normal(0, 1)]]), 'mixture: weight 1 must be > 0, got 0');
  throwsUsage(() => dist.mixture([[1, dist.normal(0, 1)], [1, dist.mvnormal([0, 0], [1, 1])]]), /share one dimension/);
  throwsUsage(() => dist.mixture([dist.normal(0, 1)]), /component 1 must be \[weight, dist\]/);
  throwsUsage(() => dist.product([]), /^product: needs a non-empty array/);
  throwsUsage(() => dist.product([dist.normal(0, 1), dist.mvnormal([0, 0], [1, 1])]), /^product: factor 2 must be 1-D/);
  throwsUsage(() => dist.mvnormal([0, 0], [1]), 'mvnormal: mu and sigma must have the same length, got 2 and 1');
  throwsUsage(() => dist.mvnormal([], []), 'mvnormal: mu must not be empty');
  throwsUsage(() => dist.mvnormal([0], [0]), 'mvnormal: sigma[0] must be > 0, got 0');
  throwsUsage(() => encodeDist({ kind: 'normal' }), /^encodeDist: not a distribution/);
});

test('spec errors: unknown names with suggestions and columns', () => {
  throwsUsage(() => parseDist('gama(2, 1)'), "unknown distribution 'gama' at column 1 (did you mean gamma?)");
  throwsUsage(() => parseDist('mixture(0.5*normall(0,1), 0.5*normal(1,1))'),
    "unknown distribution 'normall' at column 13 (did you mean normal?)");
  throwsUsage(() => parseDist('blorp(1)'), "unknown distribution 'blorp' at column 1");
  throwsUsage(() => parseDist('foo'), "unknown distribution 'foo' at column 1");
  throwsUsage(() => parseDist('normal'), "expected '(' after 'normal' at column 7");
  throwsUsage(() => parseDist('normal(0, sd2=1)'), "normal: unknown parameter 'sd2' at column 11 (did you mean sd?)");
  throwsUsage(() => parseDist('normal(0, width=1)'), "normal: unknown parameter 'width' at column 11 (expected mu, sigma)");
  throwsUsage(() => parseDist('normal(x, 1)'), "unknown name 'x' at column 8");
  throwsUsage(() => parseDist('truncated(normal, 0, 1)'), "expected '(' after 'normal' at column 17");
  throwsUsage(() => parseDist('mvnormal(mu=[0], sgma=[1])'), "mvnormal: unknown parameter 'sgma' at column 18 (did you mean sigma?)");
});

test('spec errors: argument counts and conflicts', () => {
  throwsUsage(() => parseDist('normal(0)'), "normal: missing parameter 'sigma' at column 1");
  throwsUsage(() => parseDist('normal(0, 1, 2)'), 'normal: too many arguments (expected at most 2: mu, sigma) at column 14');
  throwsUsage(() => parseDist('truncated(normal(0,1), 0, 1, 2)'), /^truncated: too many arguments .* at column 30$/);
  throwsUsage(() => parseDist('gamma(2, rate=1, scale=2)'), 'gamma: give either rate or scale, not both at column 18');
  throwsUsage(() => parseDist('exponential(rate=1, scale=2)'), 'exponential: give either rate or scale, not both at column 21');
  throwsUsage(() => parseDist('gamma(2, 0.5, rate=2)'), "gamma: parameter 'rate' given twice (as argument 2 and as rate=) at column 15");
  throwsUsage(() => parseDist('normal(mu=0, mean=1, sigma=1)'), "normal: parameter 'mu' given twice (as mu= and as mean=) at column 14");
  throwsUsage(() => parseDist('normal(mu=0, 1)'), 'normal: positional argument after a named one at column 14');
  throwsUsage(() => parseDist('truncated(lo=0)'), "truncated: missing parameter 'dist' at column 1");
  throwsUsage(() => parseDist('mvnormal([0])'), "mvnormal: missing parameter 'sigma' at column 1");
  throwsUsage(() => parseDist('mixture()'), 'mixture: needs at least one component at column 1');
  throwsUsage(() => parseDist('product()'), 'product: needs at least one factor at column 1');
});

test('spec errors: wrong kinds of values', () => {
  throwsUsage(() => parseDist('normal(normal(0,1), 1)'), 'normal: mu must be a number, got a distribution at column 8');
  throwsUsage(() => parseDist('normal([0], 1)'), 'normal: mu must be a number, got an array at column 8');
  throwsUsage(() => parseDist('truncated(1, 0, 1)'), 'truncated: dist must be a distribution, got a number at column 11');
  throwsUsage(() => parseDist('truncated(normal(0,1), normal(0,1), 1)'), 'truncated: lo must be a number, got a distribution at column 24');
  throwsUsage(() => parseDist('mixture(0.5*normal(0,1), normal(1,1))'), /^mixture: give a weight for every component or for none/);
  throwsUsage(() => parseDist('mixture(0.5, normal(1,1))'), 'mixture: component 1 must be w*DIST, got a number at column 9');
  throwsUsage(() => parseDist('mixture(0.5*2)'), "unexpected '2' at column 13 (expected a distribution after '*')");
  throwsUsage(() => parseDist('product(normal(0,1), mvnormal([0,0],[1,1]))'), 'product: factor 2 must be 1-D, got 2-D at column 22');
  throwsUsage(() => parseDist('mvnormal(0, 1)'), 'mvnormal: mu must be an array [..], got a number at column 10');
  throwsUsage(() => parseDist('0.5'), 'expected a distribution at column 1, got a number');
});

test('spec errors: parameter values point at the argument', () => {
  throwsUsage(() => parseDist('normal(0, -1)'), 'normal: sigma must be > 0, got -1 at column 11');
  throwsUsage(() => parseDist('normal(0, sigma=-1)'), 'normal: sigma must be > 0, got -1 at column 11');
  throwsUsage(() => parseDist('normal(0, 1e400)'), 'normal: sigma must be finite, got inf at column 11');
  throwsUsage(() => parseDist('normal(inf, 1)'), 'normal: mu must be finite, got inf at column 8');
  throwsUsage(() => parseDist('exponential(scale=0)'), 'exponential: scale must be > 0, got 0 at column 13');
  throwsUsage(() => parseDist('uniform(1, 0)'), 'uniform: a must be < b, got a=1, b=0 at column 1');
  throwsUsage(() => parseDist('mixture(-1*normal(0,1))'), 'mixture: weight 1 must be > 0, got -1 at column 9');
  throwsUsage(() => parseDist('mixture(0.5*normal(0,1), 0.5*mvnormal([0,0],[1,1]))'), /share one dimension.* at column 1$/);
  throwsUsage(() => parseDist('truncated(gamma(2,1), -5, -1)'),
    'truncated: interval [-5, -1] does not overlap the support of gamma(2, 1) at column 1');
  throwsUsage(() => parseDist('truncated(mixture(0.5*uniform(0,1), 0.5*uniform(2,3)), 1.2, 1.8)'), /does not overlap/);
  throwsUsage(() => parseDist('truncated(product(normal(0,1), normal(0,1)), 0, 1)'), /^truncated: base must be 1-D.* at column 1$/);
  throwsUsage(() => parseDist('mvnormal([0, 1], [1, -2])'), 'mvnormal: sigma[1] must be > 0, got -2 at column 1');
  throwsUsage(() => parseDist('beta(2, 5, 1)'), /^beta: too many arguments/);
});

test('spec errors: syntax', () => {
  throwsUsage(() => parseDist(''), 'empty distribution spec');
  throwsUsage(() => parseDist('   '), 'empty distribution spec');
  throwsUsage(() => parseDist('normal(0,1'), "unexpected end of input at column 11 (expected ')' to close 'normal(' at column 7)");
  throwsUsage(() => parseDist('normal(0,1))'), "unexpected ')' at column 12 (expected end of input)");
  throwsUsage(() => parseDist('normal(0,1) normal(0,1)'), "unexpected 'normal' at column 13 (expected end of input)");
  throwsUsage(() => parseDist('normal(0,1) @'), "unexpected character '@' at column 13");
  throwsUsage(() => parseDist('normal(0,,1)'), "unexpected ',' at column 10 (expected a number)");
  throwsUsage(() => parseDist('mvnormal([0, 1, [1])'), "unexpected '[' at column 17 (expected a number)");
  throwsUsage(() => parseDist('mvnormal([0, 1 [1])'), "unexpected '[' at column 16 (expected ']' to close the array opened at column 10)");
  throwsUsage(() => parseDist(42), 'distribution spec must be a string, got number');
});
