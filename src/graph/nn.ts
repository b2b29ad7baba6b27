/**
 * Network building blocks made of the primitive ops: Gelu and LayerNormalization
 * (composites with their own, cheaper backward),
 * Dropout (deterministic mask from an int64 seed input), and a Linear layer.
 */
import type { Value } from './graph.js';
import * as op from './ops.js';
import { unbroadcast } from './gradients.js';
import { normAxis } from './shape.js';

/** y = x W + b, x [..., in], W [in, out], b [out]. */
export function linear(x: Value, w: Value, b?: Value): Value {
  const y = op.matmul(x, w);
  return b ? op.add(y, b) : y;
}

/**
 * Gelu, tanh approximation: y = x h, h = 0.5 (1 + t), t = tanh(k (x + c x^3)), k = sqrt(2/pi),
 * c = 0.044715. A composite with the closed-form derivative
 *   dy/dx = h + x (1 - t^2) (0.5 k + 1.5 k c x^2),
 * 8 elementwise nodes instead of the ~20 autodiff emits through the primitives (it dominated
 * the GPT's MLP backward).
 */
export function gelu(x: Value): Value {
  const k = Math.sqrt(2 / Math.PI), c = 0.044715;
  return x.graph.composite('Gelu', [x], () => {
    const x2 = op.mul(x, x);
    const t = op.tanh(op.mul(x, op.add(op.mul(x2, k * c), k)));
    const h = op.add(op.mul(t, 0.5), 0.5);
    const output = op.mul(x, h);
    const backward = (dy: Value, needs: boolean[]) => {
      if (!needs[0]) return [undefined];
      const slope = op.add(op.mul(x2, 1.5 * k * c), 0.5 * k);
      const dh = op.mul(op.mul(x, op.sub(1, op.mul(t, t))), slope);
      return [op.mul(dy, op.add(h, dh))];
    };
    return { output, backward };
  });
}

/**
 * LayerNormalization over axes [axis, rank): y = (x - mean) / sqrt(var + eps) * scale + bias.
 * Forward is decomposed into primitives; backward is the closed form
 *   dx = rstd (g - mean(g) - xhat mean(g xhat)),  g = dy scale,
 * which is shorter than differentiating through the primitives.
 */
export function layerNorm(x: Value, scale: Value, bias: Value | null, opts: { axis?: number; epsilon?: number } = {}): Value {
  const g = x.graph;
  const a0 = normAxis(opts.axis ?? -1, x.rank, 'LayerNorm axis');
  const axes = Array.from({ length: x.rank - a0 }, (_, i) => a0 + i);
  const eps = opts.epsilon ?? 1e-5;
  const inputs = bias ? [x, scale, bias] : [x, scale];
  return g.composite('LayerNormalization', inputs, () => {
    const mu = op.reduceMean(x, axes, true);
    const xc = op.sub(x, mu);
    const variance = op.reduceMean(op.mul(xc, xc), axes, true);
    const rstd = op.reciprocal(op.sqrt(op.add(variance, eps)));
    const xhat = op.mul(xc, rstd);
    const scaled = op.mul(xhat, scale);
    const output = bias ? op.add(scaled, bias) : scaled;
    const backward = (dy: Value, needs: boolean[]) => {
      let dx: Value | undefined;
      if (needs[0]) {
        const gh = op.mul(dy, scale);
        const m1 = op.reduceMean(gh, axes, true);
        const m2 = op.reduceMean(op.mul(gh, xhat), axes, true);
        dx = op.mul(rstd, op.sub(op.sub(gh, m1), op.mul(xhat, m2)));
      }
      const dscale = needs[1] ? unbroadcast(op.mul(dy, xhat), scale.shape) : undefined;
      const dbias = bias && needs[2] ? unbroadcast(dy, bias.shape) : undefined;
      return [dx, dscale, dbias];
    };
    return { output, backward };
  });
}

const P = 2147483647; // 2^31 - 1, prime: every product below stays < 2^62 (no int64 overflow)

/**
 * Uniforms in (0, 1) of x's shape from an int64 scalar `seed`, by integer hashing of
 * (element index, seed, salt) with int64 Mul/Add/Mod (opset 17 has no bitwise ops).
 * Why not RandomUniformLike: its seed is an attribute, so a fixed model would draw the
 * same mask every step, or an unseeded one would not be reproducible. Here the mask is
 * a pure function of (seed, salt, index): reproducible, and different every step when
 * the trainer feeds a different seed. Quality: good enough for dropout masks, not a
 * general-purpose RNG.
 */
export function hashUniform(x: Value, seed: Value, salt = 0): Value {
  const g = x.graph;
  if (seed.dtype !== 'int64') throw new Error('hashUniform: seed must be int64');
  const n = op.size(x);
  const idx = op.range(g.scalar('int64', 0), n, g.scalar('int64', 1), null);
  const s = op.mod(op.add(op.mod(seed, P), (salt * 7919 + 17) % P), P);
  let h = op.mod(op.add(idx, op.mul(s, 40503)), P);
  h = op.mod(op.add(op.mul(h, 48271), 11), P);
  h = op.mod(op.add(op.mul(h, h), 12345), P);
  h = op.mod(op.add(op.mul(h, 69621), s), P);
  h = op.mod(op.add(op.mul(h, h), 54321), P);
  h = op.mod(op.add(op.mul(h, 48271), 7), P);
  const u = op.div(op.add(op.cast(h, x.dtype), 0.5), P);
  return op.reshapeTo(u, op.shapeOf(x), [...x.shape]);
}

/**
 * Inverted dropout: in training, y = x * mask / (1 - rate) with mask = (u >= rate);
 * otherwise y = x. The mask is a constant for autodiff (its ops are integer or
 * comparisons), so the gradient is dy * mask / (1 - rate) through Mul.
 */
export function dropout(x: Value, rate: number, opts: { training: boolean; seed?: Value; salt?: number }): Value {
  if (!opts.training || rate === 0) return x;
  if (!(rate > 0 && rate < 1)) throw new Error(`dropout: rate must be in [0, 1), got ${rate}`);
  if (!opts.seed) throw new Error('dropout: training mode needs an int64 seed value');
  const u = hashUniform(x, opts.seed, opts.salt ?? 0);
  const keep = op.cast(op.greaterOrEqual(u, rate), x.dtype);
  return op.mul(x, op.mul(keep, 1 / (1 - rate)));
}
