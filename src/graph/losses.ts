/**
 * Losses, each returning a scalar of the logits' dtype, built from primitives so
 * autodiff differentiates them like any other ops.
 */
import type { Value } from './graph.js';
import * as op from './ops.js';

export interface CrossEntropyOptions {
  /** Labels equal to this are ignored (no loss, not counted in the mean). Default -100. */
  ignoreIndex?: number;
  /** Optional per-example weights, shape = labels' shape, dtype = logits'. */
  weights?: Value;
}

/**
 * Softmax cross-entropy over integer labels: logits [..., C], labels [...] (int64 or
 * int32). loss = sum_i w_i * (-log softmax(logits_i)[y_i]) / sum_i w_i over examples
 * whose label is not ignoreIndex (w_i = 1 without weights, as PyTorch's mean).
 * When every label is ignored the loss is 0 (PyTorch gives NaN).
 */
export function softmaxCrossEntropy(logits: Value, labels: Value, opts: CrossEntropyOptions = {}): Value {
  if (labels.dtype !== 'int64' && labels.dtype !== 'int32') throw new Error(`softmaxCrossEntropy: labels must be int64/int32, got ${labels}`);
  const lab = labels.dtype === 'int64' ? labels : op.cast(labels, 'int64');
  const logp = op.logSoftmax(logits, -1);
  const valid = op.not(op.equal(lab, opts.ignoreIndex ?? -100));
  const safe = op.where(valid, lab, 0); // GatherElements must not see the ignore index
  const picked = op.squeeze(op.gatherElements(logp, op.unsqueeze(safe, [-1]), -1), [-1]);
  let w = op.cast(valid, logits.dtype);
  if (opts.weights) w = op.mul(w, opts.weights);
  const total = op.reduceSum(op.mul(picked, w));
  const denom = op.max(op.reduceSum(w), 1e-30);
  return op.neg(op.div(total, denom));
}

/** Mean squared error over all elements. */
export function meanSquaredError(pred: Value, target: Value): Value {
  const d = op.sub(pred, target);
  return op.reduceMean(op.mul(d, d));
}

/**
 * Binary cross-entropy with logits, mean over elements, in the stable form
 *   max(x, 0) - x z + log(1 + exp(-|x|)),
 * which never exponentiates a large positive number.
 */
export function binaryCrossEntropyWithLogits(logits: Value, targets: Value, opts: { weights?: Value } = {}): Value {
  const per = op.add(op.sub(op.relu(logits), op.mul(logits, targets)), op.log(op.add(op.exp(op.neg(op.abs(logits))), 1)));
  if (!opts.weights) return op.reduceMean(per);
  return op.reduceMean(op.mul(per, opts.weights));
}

/** Fraction of rows whose argmax equals the label (for eval graphs; no gradient). */
export function accuracy(logits: Value, labels: Value): Value {
  const lab = labels.dtype === 'int64' ? labels : op.cast(labels, 'int64');
  const g = logits.graph;
  const am = g.node('ArgMax', [logits], [{ dtype: 'int64', shape: logits.shape.slice(0, -1) }], { axis: { kind: 'int', v: logits.rank - 1 }, keepdims: { kind: 'int', v: 0 } })[0];
  return op.reduceMean(op.cast(op.equal(am, lab), logits.dtype));
}
