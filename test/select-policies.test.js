// Statistics and exact behaviour of the LM acceptance policies (src/rft/lm/policies.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decidePrompt, selectAll, streamId, candidateUniforms, visitOrder, topAlphaCount, dpoPairs } from '../dist/rft/lm/policies.js';
import { chiSquareTest } from './helpers/stats.js';

const cands = (rewards, keys) => rewards.map((reward, j) => ({ reward, key: keys ? keys[j] : `c${j}` }));

/** Two-cell (accept / reject) chi-square summed over independent binomials: df = number of binomials. */
function binomialChi(counts, trials, probs) {
  const obs = [], exp = [];
  for (let j = 0; j < counts.length; j++) {
    obs.push(counts[j], trials - counts[j]);
    exp.push(trials * probs[j], trials * (1 - probs[j]));
  }
  return chiSquareTest(obs, exp, counts.length - 1);
}

test('streamId: k * 2^32 + i, injective and range-checked', () => {
  assert.equal(streamId(0, 5), 5);
  assert.equal(streamId(3, 7), 3 * 2 ** 32 + 7);
  assert.notEqual(streamId(1, 0), streamId(0, 2 ** 32 - 1));
  assert.throws(() => streamId(2 ** 21, 0), /round/);
  assert.throws(() => streamId(0, 2 ** 32), /prompt index/);
  // u_j is the j-th value of (seed, stream(k, i), sub 1): a prefix is stable in n
  const a = candidateUniforms(9, 2, 4, 3), b = candidateUniforms(9, 2, 4, 10);
  assert.deepEqual([...a], [...b.slice(0, 3)]);
  assert.notDeepEqual([...candidateUniforms(9, 2, 5, 3)], [...a]);
  assert.notDeepEqual([...candidateUniforms(9, 3, 4, 3)], [...a]);
  const perm = [...visitOrder(1, 0, 0, 10)].sort((x, y) => x - y);
  assert.deepEqual(perm, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

const R = [0.3, 0, -0.2, -0.5, -1.0];
const BETA = 0.5;
const S = 20000;

test('rso: first-pass acceptance frequencies match exp((r - r_max)/beta) (chi-square), beta off by 10% fails', () => {
  // perPrompt = n: every candidate is visited in pass 0 and decided independently.
  const counts = new Array(R.length).fill(0);
  for (let s = 0; s < S; s++) {
    const d = decidePrompt(cands(R), 0, { policy: 'rso', beta: BETA, seed: s, perPrompt: R.length });
    for (let j = 0; j < R.length; j++) {
      if (d.prov[j].status === 'accepted' && d.prov[j].pass === 0) counts[j]++;
      assert.ok(d.prov[j].u > 0 && d.prov[j].u < 1);
    }
    assert.equal(d.accepted.length, R.length); // later passes accept the rest
  }
  const rmax = Math.max(...R);
  assert.equal(counts[0], S); // the r_max candidate is accepted surely (u < 1 = exp(0))
  const rest = counts.slice(1);
  const p = R.slice(1).map((r) => Math.exp((r - rmax) / BETA));
  const good = binomialChi(rest, S, p);
  assert.ok(good.p > 1e-3, `correct rule rejected: ${JSON.stringify(good)}`);
  const wrong = binomialChi(rest, S, R.slice(1).map((r) => Math.exp((r - rmax) / (BETA * 1.1))));
  assert.ok(wrong.p < 1e-6, `beta * 1.1 not detected: ${JSON.stringify(wrong)}`);
});

function permutations(n) {
  if (n === 1) return [[0]];
  const out = [];
  for (const p of permutations(n - 1)) for (let k = 0; k <= p.length; k++) out.push([...p.slice(0, k), n - 1, ...p.slice(k)]);
  return out;
}

test('rso perPrompt = 1: which candidate is accepted matches Algorithm 1 exactly (random order, stop at first)', () => {
  const r = [-0.8, -0.4, 0, 0.2];
  const rmax = Math.max(...r);
  const p = r.map((x) => Math.exp((x - rmax) / BETA));
  // exact: average over visiting orders of P(all before j rejected) * p_j (the max is accepted surely)
  const perms = permutations(r.length);
  const expectP = new Array(r.length).fill(0);
  for (const perm of perms) {
    let surv = 1;
    for (const j of perm) { expectP[j] += (surv * p[j]) / perms.length; surv *= 1 - p[j]; }
  }
  const obs = new Array(r.length).fill(0);
  for (let s = 0; s < S; s++) {
    const d = decidePrompt(cands(r), s, { policy: 'rso', beta: BETA, seed: 7, perPrompt: 1 });
    assert.equal(d.accepted.length, 1);
    assert.equal(d.prov[d.accepted[0]].pass, 0);
    obs[d.accepted[0]]++;
  }
  const good = chiSquareTest(obs, expectP.map((q) => q * S));
  assert.ok(good.p > 1e-3, JSON.stringify({ good, obs, expectP }));
  // beta off by 10% must fail
  const p11 = r.map((x) => Math.exp((x - rmax) / (BETA * 1.1)));
  const wrongP = new Array(r.length).fill(0);
  for (const perm of perms) {
    let sv = 1;
    for (const j of perm) { wrongP[j] += (sv * p11[j]) / perms.length; sv *= 1 - p11[j]; }
  }
  assert.ok(chiSquareTest(obs, wrongP.map((q) => q * S)).p < 1e-4, JSON.stringify(chiSquareTest(obs, wrongP.map((q) => q * S))));
  // the same data against "accept with probability p_j in input order" (no shuffle) must fail
  const inOrder = []; let surv = 1;
  for (const q of p) { inOrder.push(surv * q); surv *= 1 - q; }
  assert.ok(chiSquareTest(obs, inOrder.map((q) => q * S)).p < 1e-6);
});

test('rso: repeated passes until perPrompt accepted or none remain; keyed by index; cap', () => {
  const r = [1, 0, -3, -3, -6];
  for (let s = 0; s < 200; s++) {
    const d = decidePrompt(cands(r, ['a', 'a', 'b', 'c', 'd']), 0, { policy: 'rso', beta: 0.1, seed: s, perPrompt: 3, dedup: false });
    assert.equal(d.accepted.length, 3);
    assert.equal(new Set(d.accepted).size, 3);
    // pass 0 r_max = 1 candidate is always accepted; a candidate accepted in pass p >= 1 had the max reward of what remained
    assert.ok(d.accepted.includes(0));
  }
  const all = decidePrompt(cands(r), 0, { policy: 'rso', beta: 0.1, seed: 1, perPrompt: Infinity });
  assert.equal(all.accepted.length, 5);
  const capped = decidePrompt(cands(r), 0, { policy: 'rso', beta: 100, seed: 1, perPrompt: 5, cap: 2 });
  assert.equal(capped.accepted.length, 2);
  // dedup on: identical completions collapse to the first copy
  const dd = decidePrompt(cands([0, 0, 0], ['x', 'x', 'y']), 0, { policy: 'rso', beta: 1, seed: 1, perPrompt: 3 });
  assert.deepEqual(dd.prov.map((p) => p.status), ['accepted', 'duplicate', 'accepted']);
  assert.throws(() => decidePrompt(cands(r), 0, { policy: 'rso', beta: 0, seed: 1 }), /beta/);
  assert.throws(() => decidePrompt(cands([Infinity, 0]), 0, { policy: 'rso', beta: 1, seed: 1 }), /finite/);
});

test('best-of-n: picks the max; ties broken uniformly (chi-square over winners)', () => {
  const r = [1, 0.5, 1, 1, 0];
  const wins = [0, 0, 0, 0, 0];
  for (let i = 0; i < 9000; i++) {
    const d = decidePrompt(cands(r), i, { policy: 'best-of-n', seed: 3 });
    assert.equal(d.accepted.length, 1);
    assert.equal(r[d.accepted[0]], 1);
    assert.ok(d.prov[d.accepted[0]].u !== undefined, 'u recorded where it decided');
    wins[d.accepted[0]]++;
  }
  const res = chiSquareTest([wins[0], wins[2], wins[3]], [3000, 3000, 3000]);
  assert.ok(res.p > 1e-3, JSON.stringify({ res, wins }));
  // a unique max uses no uniform
  const d = decidePrompt(cands([0.1, 0.9, 0.3]), 0, { policy: 'best-of-n', seed: 1 });
  assert.deepEqual(d.accepted, [1]);
  assert.equal(d.prov[1].u, undefined);
  // perPrompt = 2: top two
  assert.deepEqual(decidePrompt(cands([0.1, 0.9, 0.3, 0.2]), 0, { policy: 'best-of-n', seed: 1, perPrompt: 2 }).accepted, [1, 2]);
});

test('threshold: exact counts, per-prompt limit, dedup and cap', () => {
  const r = [0.1, 0.5, 0.7, 0.49, 0.5, 1];
  const all = decidePrompt(cands(r), 0, { policy: 'threshold', threshold: 0.5, seed: 1, perPrompt: Infinity });
  assert.deepEqual(all.accepted.slice().sort(), [1, 2, 4, 5]);
  const one = decidePrompt(cands(r), 0, { policy: 'threshold', threshold: 0.5, seed: 1 });
  assert.deepEqual(one.accepted, [5]);
  const capped = decidePrompt(cands(r), 0, { policy: 'threshold', threshold: 0.5, seed: 1, perPrompt: Infinity, cap: 2 });
  assert.deepEqual(capped.accepted, [5, 2]);
  const keys = ['a', 'b', 'b', 'c', 'b', 'a'];
  const dd = decidePrompt(cands(r, keys), 0, { policy: 'threshold', threshold: 0.5, seed: 1, perPrompt: Infinity });
  assert.deepEqual(dd.accepted.slice().sort(), [1]);
  assert.deepEqual(dd.prov.map((p) => p.status), ['rejected', 'accepted', 'duplicate', 'rejected', 'duplicate', 'duplicate']);
  const nd = decidePrompt(cands(r, keys), 0, { policy: 'threshold', threshold: 0.5, seed: 1, perPrompt: Infinity, dedup: false });
  assert.equal(nd.accepted.length, 4);
  assert.throws(() => decidePrompt(cands(r), 0, { policy: 'threshold', seed: 1 }), /threshold/);
});

test('top-alpha: global top ceil(alpha N), exact', () => {
  const prompts = [];
  let k = 0;
  for (let i = 0; i < 50; i++) prompts.push(cands(Array.from({ length: 7 }, () => ((k++ * 7919) % 1000) / 1000)));
  const flat = prompts.flat().map((c) => c.reward).sort((a, b) => b - a);
  for (const alpha of [0.01, 0.1, 0.25, 1]) {
    const m = topAlphaCount(alpha, 350);
    assert.equal(m, Math.ceil(alpha * 350));
    const d = selectAll(prompts, { policy: 'top-alpha', alpha, seed: 2, perPrompt: Infinity });
    const acc = d.flatMap((x, i) => x.accepted.map((j) => prompts[i][j].reward)).sort((a, b) => b - a);
    assert.equal(acc.length, m);
    assert.deepEqual(acc, flat.slice(0, m));
  }
  // perPrompt = 1: at most one per prompt, still the global best of those
  const d1 = selectAll(prompts, { policy: 'top-alpha', alpha: 0.1, seed: 2 });
  assert.equal(d1.reduce((s, x) => s + x.accepted.length, 0), 35);
  assert.ok(d1.every((x) => x.accepted.length <= 1));
});

test('reproducibility: same seed same decisions; a prompt does not depend on other prompts', () => {
  const A = cands([0.1, 0.4, 0.4, 0.9]), B = cands([0.5, 0.2, 0.3, 0.5, 0.1]), A2 = cands([5, 4]);
  for (const o of [{ policy: 'rso', beta: 0.3, perPrompt: 2 }, { policy: 'best-of-n' }, { policy: 'threshold', threshold: 0.3, perPrompt: 2 }]) {
    const x = selectAll([A, B], { ...o, seed: 11 });
    const y = selectAll([A, B], { ...o, seed: 11 });
    const z = selectAll([A2, B], { ...o, seed: 11 });
    assert.deepEqual(x, y);
    assert.deepEqual(x[1], z[1]);
    assert.deepEqual(decidePrompt(B, 1, { ...o, seed: 11 }), x[1]);
  }
  const r1 = selectAll([B, B, B, B], { policy: 'rso', beta: 0.3, perPrompt: 1, seed: 1 }).map((d) => d.prov.map((p) => p.u));
  assert.notDeepEqual(r1[0], r1[1]); // different prompts use different streams
});

test('ineligible candidates: never accepted, not duplicates, not in r_max or top-alpha counts; their reward need not be finite', () => {
  const c = [{ reward: NaN, key: 'x', eligible: false }, { reward: 0, key: 'x' }, { reward: 1, key: 'y' }, { reward: 5, key: 'z', eligible: false }];
  for (const policy of ['threshold', 'best-of-n', 'rso', 'top-alpha']) {
    const d = decidePrompt(c, 0, { policy, seed: 1, perPrompt: 4, threshold: 0, beta: 0.5, alpha: 1 });
    assert.deepEqual(d.prov.map((p) => p.status === 'ineligible'), [true, false, false, true], policy);
    assert.ok(!d.accepted.includes(0) && !d.accepted.includes(3), policy);
    assert.notEqual(d.prov[1].status, 'duplicate', `${policy}: the ineligible 'x' does not make the eligible 'x' a duplicate`);
  }
  // rso with perPrompt 1: r_max is 1 (the ineligible 5 is ignored), so candidate 2 (r = r_max) is accepted whenever visited first
  let acc2 = 0;
  for (let seed = 0; seed < 200; seed++) if (decidePrompt(c, 0, { policy: 'rso', seed, beta: 0.05 }).accepted[0] === 2) acc2++;
  assert.ok(acc2 > 190, `candidate 2 accepted ${acc2}/200`);
  // top-alpha counts eligible candidates only: N = 2, ceil(0.5 * 2) = 1 kept
  const [ta] = selectAll([c], { policy: 'top-alpha', seed: 1, alpha: 0.5, perPrompt: 4 });
  assert.deepEqual(ta.accepted, [2]);
  assert.throws(() => decidePrompt([{ reward: NaN }], 0, { policy: 'best-of-n', seed: 1 }), /reward is not a finite number/);
});

test('dpoPairs: rejected is the lowest-reward rejected candidate (lowest index on ties); only strictly better accepted ones pair', () => {
  const prov = (s) => s.split('').map((ch) => ({ status: { a: 'accepted', r: 'rejected', d: 'duplicate', i: 'ineligible' }[ch] }));
  assert.deepEqual(dpoPairs([3, 1, 1, 0, NaN], [0, 1], prov('arrdi')), [[0, 1]]); // 2 ties with 1 (lower index wins); 3 is a duplicate; 1 is not > itself
  assert.deepEqual(dpoPairs([3, 2], [0, 1], prov('aa')), []);
  assert.deepEqual(dpoPairs([3, 2, 2], [0], prov('ari')), [[0, 1]]);
});
