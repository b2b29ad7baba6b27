// Helpers for the graph tests: seeded random numbers, running models in
// onnxruntime-node, and central finite-difference gradient checks in float64.
import * as ort from 'onnxruntime-node';
import { Graph, ops, grad, serialize } from '../../dist/graph/index.js';
import { mulberry32 as rng } from './prng.js';

export { rng };

export function randn(r, n, scale = 1) {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = r() || 1e-12, v = r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

export const prod = (s) => s.reduce((a, b) => a * b, 1);

export async function session(bytes) {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
}

export function tensor(dtype, data, dims) {
  return new ort.Tensor(dtype, data, dims);
}

/**
 * Check every gradient of a scalar function against central differences.
 * specs: { name, shape, data?: Float64Array, wrt?: boolean (default true), positive?: boolean, dtype?: 'int64', ... }
 * build(inputs: Record<string, Value>, g) -> Value (any shape; reduced to a scalar with random weights)
 * Returns the max abs error seen (asserts inside).
 */
export async function checkGrad(assert, specs, build, { seed = 1, h = 1e-6, rtol = 1e-6, atol = 1e-7, maxPerInput = 40 } = {}) {
  const r = rng(seed);
  const g = new Graph('fd');
  const vals = {};
  const feeds = {};
  for (const s of specs) {
    const dtype = s.dtype ?? 'float64';
    vals[s.name] = g.input(s.name, dtype, s.shape);
    if (dtype === 'float64') {
      let d = s.data ?? randn(r, prod(s.shape));
      if (s.positive) d = d.map((x) => Math.abs(x) + 0.5);
      feeds[s.name] = d;
    } else feeds[s.name] = s.data;
  }
  const out = build(vals, g);
  // Random weights make dL/dout a random tensor, exercising every output element.
  const shape = out.shape.map((d) => (typeof d === 'number' ? d : NaN));
  if (shape.some(Number.isNaN)) throw new Error('checkGrad: output shape must be static');
  const w = g.constant('float64', shape, randn(r, prod(shape)));
  const loss = out.shape.length === 0 ? ops.mul(out, w) : ops.reduceSum(ops.mul(out, w));
  const wrt = specs.filter((s) => (s.dtype ?? 'float64') === 'float64' && s.wrt !== false);
  const grads = grad(loss, wrt.map((s) => vals[s.name]));
  g.output('loss', loss);
  grads.forEach((gv, i) => g.output(`grad_${wrt[i].name}`, gv));
  const sess = await session(serialize(g));
  const mk = (f) => Object.fromEntries(specs.map((s) => [s.name, tensor(s.dtype ?? 'float64', f[s.name], s.shape)]));
  const res = await sess.run(mk(feeds));
  let worst = 0;
  for (const s of wrt) {
    const an = res[`grad_${s.name}`].data;
    assert.equal(an.length, prod(s.shape), `grad ${s.name} size`);
    const n = an.length;
    const idxs = n <= maxPerInput ? [...Array(n).keys()] : Array.from({ length: maxPerInput }, () => Math.floor(r() * n));
    for (const i of idxs) {
      const base = feeds[s.name];
      const plus = Float64Array.from(base); plus[i] += h;
      const minus = Float64Array.from(base); minus[i] -= h;
      const lp = (await sess.run(mk({ ...feeds, [s.name]: plus }))).loss.data[0];
      const lm = (await sess.run(mk({ ...feeds, [s.name]: minus }))).loss.data[0];
      const fd = (lp - lm) / (2 * h);
      const err = Math.abs(fd - an[i]);
      worst = Math.max(worst, err / (atol + rtol * Math.abs(fd)));
      if (!(err <= atol + rtol * Math.max(Math.abs(fd), Math.abs(an[i])))) {
        assert.fail(`d/d${s.name}[${i}]: analytic ${an[i]} vs finite difference ${fd} (err ${err})`);
      }
    }
  }
  await sess.release();
  return worst;
}
