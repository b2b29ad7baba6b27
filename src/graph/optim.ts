/**
 * Optimizer updates as graph ops, fused into the train-step model. Each optimizer
 * names its per-parameter state slots; state tensors go in and come out of every
 * run (the caller double-buffers them). Semantics follow PyTorch (torch.optim.SGD,
 * torch.optim.AdamW) so results can be compared number for number.
 */
import type { Value } from './graph.js';
import * as op from './ops.js';

export interface AdamWConfig {
  type: 'adamw';
  /** Default learning rate (the graph takes lr as an input; this is what a trainer feeds by default). */
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay, applied to parameters whose `decay` is not false. */
  weightDecay?: number;
}

export interface SgdConfig {
  type: 'sgd';
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (PyTorch SGD's weight_decay), masked per parameter. */
  weightDecay?: number;
}

export type OptimizerConfig = AdamWConfig | SgdConfig;

/** Names of the state tensors each trainable parameter carries (all shaped like it, zero-initialised). */
export function stateSlots(cfg: OptimizerConfig): string[] {
  if (cfg.type === 'adamw') return ['m', 'v'];
  return (cfg.momentum ?? 0) > 0 ? ['momentum'] : [];
}

export interface Hyper {
  /** Learning rate, scalar of the parameter dtype. */
  lr: Value;
  /** 1-based index of the step being taken, int64 scalar (AdamW bias correction). */
  step: Value;
}

export interface UpdateResult {
  param: Value;
  state: Record<string, Value>;
}

/** Scalars shared by all parameters (computed once per graph). */
export interface Prepared {
  cfg: OptimizerConfig;
  /**
   * `decay`: whether weight decay applies, or a bool mask shaped like `param` saying it
   * per element (a packed vector of several parameters); masked-out elements get exactly
   * the no-decay arithmetic.
   */
  update(param: Value, grad: Value, state: Record<string, Value>, decay: boolean | Value): UpdateResult;
}

export function prepareOptimizer(cfg: OptimizerConfig, h: Hyper): Prepared {
  if (cfg.type === 'adamw') {
    const b1 = cfg.beta1 ?? 0.9, b2 = cfg.beta2 ?? 0.999, eps = cfg.eps ?? 1e-8, wd = cfg.weightDecay ?? 0.01;
    const lr = h.lr;
    const t = op.cast(h.step, lr.dtype);
    const g = lr.graph;
    // PyTorch: step_size = lr / (1 - b1^t); denom = sqrt(v) / sqrt(1 - b2^t) + eps
    const stepSize = op.div(lr, op.sub(1, op.pow(g.scalar(lr, b1), t)));
    const bc2sqrt = op.sqrt(op.sub(1, op.pow(g.scalar(lr, b2), t)));
    const shrink = wd !== 0 ? op.sub(1, op.mul(lr, wd)) : null;
    return {
      cfg,
      update(p, grad, s, decay) {
        // A mask multiplies by exactly 1 where it is off (p * 1 === p, bit for bit).
        const p1 = !shrink || decay === false ? p : decay === true ? op.mul(p, shrink) : op.mul(p, op.where(decay, shrink, 1));
        const m = op.add(op.mul(s.m, b1), op.mul(grad, 1 - b1));
        const v = op.add(op.mul(s.v, b2), op.mul(op.mul(grad, grad), 1 - b2));
        const denom = op.add(op.div(op.sqrt(v), bc2sqrt), eps);
        const param = op.sub(p1, op.mul(stepSize, op.div(m, denom)));
        return { param, state: { m, v } };
      },
    };
  }
  const mu = cfg.momentum ?? 0, wd = cfg.weightDecay ?? 0;
  return {
    cfg,
    update(p, grad, s, decay) {
      let d = wd === 0 || decay === false ? grad : decay === true ? op.add(grad, op.mul(p, wd)) : op.where(decay, op.add(grad, op.mul(p, wd)), grad);
      const state: Record<string, Value> = {};
      if (mu > 0) {
        // Zero-initialised buffer: step 1 gives buf = d, as PyTorch's first step.
        const buf = op.add(op.mul(s.momentum, mu), d);
        state.momentum = buf;
        d = cfg.nesterov ? op.add(d, op.mul(buf, mu)) : buf;
      }
      return { param: op.sub(p, op.mul(h.lr, d)), state };
    },
  };
}

/**
 * Clip gradients by their global L2 norm (torch.nn.utils.clip_grad_norm_):
 * g *= min(1, maxNorm / (norm + 1e-6)). Returns the clipped gradients and the norm
 * before clipping.
 */
export function clipByGlobalNorm(grads: Value[], maxNorm: number): { grads: Value[]; norm: Value } {
  const norm = globalNorm(grads);
  const coef = op.min(op.div(maxNorm, op.add(norm, 1e-6)), 1);
  return { grads: grads.map((gr) => op.mul(gr, coef)), norm };
}

export function globalNorm(grads: Value[]): Value {
  if (grads.length === 0) throw new Error('globalNorm: no gradients');
  let sq: Value | null = null;
  for (const gr of grads) {
    const s = op.reduceSum(op.mul(gr, gr));
    sq = sq ? op.add(sq, s) : s;
  }
  return op.sqrt(sq!);
}
