/**
 * Feature standardization with statistics of the source pool, and its folding into the first
 * linear layer so exported models take raw features: with z = (x - mean) / std,
 *   z W + b = x (W / std[:, None]) + (b - (mean / std) W).
 * Training runs on z; export folds; a pretrained raw-input model is unfolded on load.
 */
import type { Dataset } from './types.js';

export interface Stats {
  mean: Float64Array;
  std: Float64Array;
}

/** Column means and standard deviations (population); a constant column gets std 1. */
export function computeStats(ds: Dataset): Stats {
  const { n, d, x } = ds;
  const mean = new Float64Array(d), m2 = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) { const t = x[i * d + j] - mean[j]; m2[j] += t * t; }
  const std = new Float64Array(d);
  for (let j = 0; j < d; j++) { const s = Math.sqrt(m2[j] / n); std[j] = s > 1e-12 * (1 + Math.abs(mean[j])) ? s : 1; }
  return { mean, std };
}

export function standardize(x: Float32Array, d: number, s: Stats): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) { const j = i % d; out[i] = (x[i] - s.mean[j]) / s.std[j]; }
  return out;
}

type Params = Record<string, Float32Array | Float64Array>;

/** Weights for standardized inputs -> weights for raw inputs (first layer fc1, layout [in, out]). */
export function fold(params: Params, s: Stats): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(params)) out[k] = Float32Array.from(v);
  const W = params['fc1.weight'], b = params['fc1.bias'];
  const d = s.mean.length, h = b.length;
  const W2 = new Float32Array(d * h), b2 = new Float64Array(b);
  for (let i = 0; i < d; i++) {
    for (let o = 0; o < h; o++) {
      const w = W[i * h + o] / s.std[i];
      W2[i * h + o] = w;
      b2[o] -= s.mean[i] * w;
    }
  }
  out['fc1.weight'] = W2;
  out['fc1.bias'] = Float32Array.from(b2);
  return out;
}

/** Inverse of fold: raw-input weights -> weights for standardized inputs. */
export function unfold(params: Params, s: Stats): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(params)) out[k] = Float32Array.from(v);
  const W = params['fc1.weight'], b = params['fc1.bias'];
  const d = s.mean.length, h = b.length;
  const W2 = new Float32Array(d * h), b2 = new Float64Array(b);
  for (let i = 0; i < d; i++) {
    for (let o = 0; o < h; o++) {
      W2[i * h + o] = W[i * h + o] * s.std[i];
      b2[o] += s.mean[i] * W[i * h + o];
    }
  }
  out['fc1.weight'] = W2;
  out['fc1.bias'] = Float32Array.from(b2);
  return out;
}
