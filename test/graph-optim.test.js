// Optimizer updates fused into the train-step model, checked against plain
// TypeScript (JS) reference implementations on the same numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTraining, ops, linear, meanSquaredError } from '../dist/graph/index.js';
import { rng, randn, session, tensor } from './helpers/graph-fd.js';

const N = 6, D = 4, K = 3;

/** Linear regression spec: pred = x W + b, loss = MSE. Gradients are easy to write by hand. */
function linSpec(dtype, optimizer, extra = {}) {
  const r = rng(7);
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  return {
    dtype,
    inputs: [{ name: 'x', dtype: 'float', shape: ['N', D] }],
    targets: [{ name: 't', dtype: 'float', shape: ['N', K] }],
    params: [
      { name: 'W', shape: [D, K], init: Arr.from(randn(r, D * K, 0.5)), frozen: extra.frozenW },
      { name: 'b', shape: [K], init: Arr.from(randn(r, K, 0.5)), decay: false },
    ],
    forward: ({ inputs, params }) => ({ pred: linear(inputs.x, params.W, params.b) }),
    loss: ({ outputs, targets }) => meanSquaredError(outputs.pred, targets.t),
    optimizer,
    clipGradNorm: extra.clip,
  };
}

/** Hand-written gradients of the MSE linear model. */
function refGrads(x, t, W, b) {
  const gW = new Float64Array(D * K), gb = new Float64Array(K);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      let p = b[k];
      for (let d = 0; d < D; d++) p += x[n * D + d] * W[d * K + k];
      const e = p - t[n * K + k];
      loss += e * e / (N * K);
      const dp = 2 * e / (N * K);
      gb[k] += dp;
      for (let d = 0; d < D; d++) gW[d * K + k] += x[n * D + d] * dp;
    }
  }
  return { loss, gW, gb };
}

function refAdamW(p, g, m, v, { lr, b1, b2, eps, wd, step, decay }) {
  const P = Float64Array.from(p), M = Float64Array.from(m), V = Float64Array.from(v);
  const bc1 = 1 - b1 ** step, bc2 = 1 - b2 ** step;
  for (let i = 0; i < P.length; i++) {
    if (decay) P[i] *= 1 - lr * wd;
    M[i] = b1 * M[i] + (1 - b1) * g[i];
    V[i] = b2 * V[i] + (1 - b2) * g[i] * g[i];
    const denom = Math.sqrt(V[i]) / Math.sqrt(bc2) + eps;
    P[i] -= (lr / bc1) * M[i] / denom;
  }
  return { P, M, V };
}

function feedsFor(c, data, params, state, lr, step) {
  const sig = c.signature;
  const dt = sig.dtype;
  const f = {
    x: tensor(dt, data.x, [N, D]), t: tensor(dt, data.t, [N, K]),
    lr: tensor(dt, dt === 'float32' ? Float32Array.of(lr) : Float64Array.of(lr), []),
    step: tensor('int64', BigInt64Array.of(BigInt(step)), []),
  };
  for (const p of sig.params) f[p.input] = tensor(dt, params[p.name], p.shape);
  for (const s of sig.state) f[s.input] = tensor(dt, state[s.name], s.shape);
  return f;
}

function close(actual, expected, tol, what) {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= tol * (1 + Math.abs(expected[i])))) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

for (const [dtype, tol] of [['float64', 1e-12], ['float32', 2e-6]]) {
  test(`AdamW step (${dtype}) equals the TS reference, bias correction at step 3, decay mask`, async () => {
    const cfg = { type: 'adamw', beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 };
    const c = compileTraining(linSpec(dtype, cfg));
    const Arr = dtype === 'float32' ? Float32Array : Float64Array;
    const r = rng(3);
    const data = { x: Arr.from(randn(r, N * D)), t: Arr.from(randn(r, N * K)) };
    const params = c.initialParams();
    // Non-zero incoming moments, as after two earlier steps.
    const state = c.initialState();
    for (const s of c.signature.state) {
      const v = randn(r, state[s.name].length, 0.1);
      state[s.name] = Arr.from(s.slot === 'v' ? v.map((q) => q * q) : v);
    }
    assert.deepEqual(c.signature.state.map((s) => s.name).sort(), ['state/m/W', 'state/m/b', 'state/v/W', 'state/v/b']);
    const sess = await session(c.trainModel);
    const lr = 0.05, step = 3;
    const out = await sess.run(feedsFor(c, data, params, state, lr, step));
    const ref = refGrads(data.x, data.t, params.W, params.b);
    close(out.loss.data, [ref.loss], tol, 'loss');
    const gn = Math.hypot(...ref.gW, ...ref.gb);
    close(out.grad_norm.data, [gn], tol, 'grad_norm');
    const h = { lr, b1: 0.8, b2: 0.95, eps: 1e-6, wd: 0.1, step };
    const rW = refAdamW(params.W, ref.gW, state['state/m/W'], state['state/v/W'], { ...h, decay: true });
    const rb = refAdamW(params.b, ref.gb, state['state/m/b'], state['state/v/b'], { ...h, decay: false });
    close(out['next/W'].data, rW.P, tol, 'W');
    close(out['next/b'].data, rb.P, tol, 'b');
    close(out['next/state/m/W'].data, rW.M, tol, 'm/W');
    close(out['next/state/v/W'].data, rW.V, tol, 'v/W');
    close(out['next/state/m/b'].data, rb.M, tol, 'm/b');
    close(out['next/state/v/b'].data, rb.V, tol, 'v/b');
    await sess.release();
  });
}

for (const nesterov of [false, true]) {
  test(`SGD momentum${nesterov ? ' (nesterov)' : ''} with coupled weight decay: two steps equal the TS reference`, async () => {
    const mu = 0.9, wd = 0.05, lr = 0.1;
    const c = compileTraining(linSpec('float64', { type: 'sgd', momentum: mu, nesterov, weightDecay: wd }));
    const r = rng(5);
    const data = { x: randn(r, N * D), t: randn(r, N * K) };
    let params = c.initialParams(), state = c.initialState();
    const sess = await session(c.trainModel);
    // Reference (PyTorch torch.optim.SGD semantics).
    let P = { W: Float64Array.from(params.W), b: Float64Array.from(params.b) };
    const buf = { W: new Float64Array(D * K), b: new Float64Array(K) };
    for (let step = 1; step <= 2; step++) {
      const out = await sess.run(feedsFor(c, data, params, state, lr, step));
      const g = refGrads(data.x, data.t, P.W, P.b);
      for (const [name, gr, decay] of [['W', g.gW, true], ['b', g.gb, false]]) {
        for (let i = 0; i < gr.length; i++) {
          const d = gr[i] + (decay ? wd * P[name][i] : 0);
          buf[name][i] = mu * buf[name][i] + d;
          P[name][i] -= lr * (nesterov ? d + mu * buf[name][i] : buf[name][i]);
        }
        close(out[`next/${name}`].data, P[name], 1e-12, `step ${step} ${name}`);
        close(out[`next/state/momentum/${name}`].data, buf[name], 1e-12, `step ${step} buf ${name}`);
      }
      // Double-buffer: fresh arrays from the outputs become the next inputs.
      params = { W: out['next/W'].data, b: out['next/b'].data };
      state = { 'state/momentum/W': out['next/state/momentum/W'].data, 'state/momentum/b': out['next/state/momentum/b'].data };
    }
    await sess.release();
  });
}

test('gradient clipping by global norm scales every gradient by maxNorm / norm', async () => {
  const maxNorm = 0.01, lr = 0.5;
  const c = compileTraining(linSpec('float64', { type: 'sgd' }, { clip: maxNorm }));
  assert.equal(c.signature.state.length, 0, 'plain SGD has no state');
  const r = rng(9);
  const data = { x: randn(r, N * D), t: randn(r, N * K, 3) };
  const params = c.initialParams();
  const sess = await session(c.trainModel);
  const out = await sess.run(feedsFor(c, data, params, {}, lr, 1));
  const g = refGrads(data.x, data.t, params.W, params.b);
  const norm = Math.hypot(...g.gW, ...g.gb);
  assert.ok(norm > maxNorm * 10, 'test needs a large gradient');
  close(out.grad_norm.data, [norm], 1e-12, 'grad_norm reports the unclipped norm');
  const coef = maxNorm / (norm + 1e-6);
  close(out['next/W'].data, params.W.map((p, i) => p - lr * coef * g.gW[i]), 1e-12, 'W');
  close(out['next/b'].data, params.b.map((p, i) => p - lr * coef * g.gb[i]), 1e-12, 'b');
  // Clipped update has exactly norm maxNorm * lr (up to the 1e-6 guard).
  let s = 0;
  out['next/W'].data.forEach((v, i) => (s += (v - params.W[i]) ** 2));
  out['next/b'].data.forEach((v, i) => (s += (v - params.b[i]) ** 2));
  assert.ok(Math.abs(Math.sqrt(s) - lr * maxNorm) < lr * maxNorm * 1e-5);
  await sess.release();
});

test('frozen parameters: an input, but no gradient, no update output, no state', async () => {
  const c = compileTraining(linSpec('float64', { type: 'adamw', weightDecay: 0.1 }, { frozenW: true }));
  const sig = c.signature;
  assert.deepEqual(sig.params.map((p) => [p.name, p.trainable, p.output]), [['W', false, undefined], ['b', true, 'next/b']]);
  assert.deepEqual(sig.state.map((s) => s.name), ['state/m/b', 'state/v/b']);
  const sess = await session(c.trainModel);
  assert.ok(sess.inputNames.includes('W'));
  assert.ok(!sess.outputNames.includes('next/W'));
  assert.ok(!sess.inputNames.some((n) => n.endsWith('/W') && n.startsWith('state/')));
  const r = rng(11);
  const data = { x: randn(r, N * D), t: randn(r, N * K) };
  const params = c.initialParams();
  const out = await sess.run(feedsFor(c, data, params, c.initialState(), 1e-2, 1));
  const g = refGrads(data.x, data.t, params.W, params.b);
  const rb = refAdamW(params.b, g.gb, new Float64Array(K), new Float64Array(K), { lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.1, step: 1, decay: false });
  close(out['next/b'].data, rb.P, 1e-12, 'b');
  // The reported norm covers trainable parameters only.
  close(out.grad_norm.data, [Math.hypot(...g.gb)], 1e-12, 'grad_norm');
  await sess.release();
});

test('gradient accumulation: two micro-batches + apply equal one train step on the whole batch', async () => {
  const cfg = { type: 'adamw', weightDecay: 0.1 };
  const c = compileTraining({ ...linSpec('float64', cfg, { clip: 0.5 }), accumulation: true });
  const acc = c.accumulation;
  assert.ok(acc);
  const r = rng(21);
  const x = randn(r, 2 * N * D), t = randn(r, 2 * N * K);
  const params = c.initialParams(), state = c.initialState();
  const f64 = (d, s) => tensor('float64', d, s);
  // Reference: the fused train step on all 2N rows.
  const train = await session(c.trainModel);
  const feeds = { x: f64(x, [2 * N, D]), t: f64(t, [2 * N, K]), lr: f64(Float64Array.of(0.01), []), step: tensor('int64', BigInt64Array.of(1n), []) };
  for (const p of c.signature.params) feeds[p.input] = f64(params[p.name], p.shape);
  for (const s of c.signature.state) feeds[s.input] = f64(state[s.name], s.shape);
  const ref = await train.run(feeds);
  // Accumulate.
  const gm = await session(acc.gradModel), am = await session(acc.applyModel);
  let sums = Object.fromEntries(acc.grads.map((g) => [g.input, new Float64Array(g.shape.reduce((a, b) => a * b, 1))]));
  for (let k = 0; k < 2; k++) {
    const f = { x: f64(x.slice(k * N * D, (k + 1) * N * D), [N, D]), t: f64(t.slice(k * N * K, (k + 1) * N * K), [N, K]) };
    for (const p of c.signature.params) f[p.input] = f64(params[p.name], p.shape);
    for (const g of acc.grads) f[g.input] = f64(sums[g.input], g.shape);
    const o = await gm.run(f);
    sums = Object.fromEntries(acc.grads.map((g) => [g.input, o[g.output].data]));
  }
  const af = { lr: feeds.lr, step: feeds.step, grad_scale: f64(Float64Array.of(0.5), []) };
  for (const p of c.signature.params) af[p.input] = feeds[p.input];
  for (const s of c.signature.state) af[s.input] = feeds[s.input];
  for (const g of acc.grads) af[g.input] = f64(sums[g.input], g.shape);
  const o = await am.run(af);
  close(o.grad_norm.data, ref.grad_norm.data, 1e-12, 'grad_norm');
  for (const p of c.signature.params) close(o[p.output].data, ref[p.output].data, 1e-12, p.name);
  for (const s of c.signature.state) close(o[s.output].data, ref[s.output].data, 1e-12, s.name);
  await Promise.all([train.release(), gm.release(), am.release()]);
});
