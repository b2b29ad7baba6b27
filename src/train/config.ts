/**
 * Trainer options: their types, validation (UsageError for every user mistake), the
 * normalized run configuration stored in checkpoints, and the TrainingSpec handed to
 * compileTraining.
 */
import type { FloatDType } from '../graph/dtype.js';
import type { TrainingSpec } from '../graph/compile.js';
import type { OptimizerConfig } from '../graph/optim.js';
import { softmaxCrossEntropy, meanSquaredError, binaryCrossEntropyWithLogits, accuracy } from '../graph/losses.js';
import type { Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';
import { UsageError } from '../errors.js';
import type { Model } from './models.js';
import { type GptModel, IGNORE_INDEX } from './gpt-model.js';

/** Any model the Trainer trains: an MLP-like classifier / regressor, or the GPT language model. */
export type AnyModel = Model | GptModel;
import { type Schedule, checkSchedule } from './schedule.js';

export type LossName = 'softmax_cross_entropy' | 'mse' | 'bce_with_logits';
export type Device = 'cpu' | 'cuda' | 'auto';

export type OptimizerOptions =
  | { type: 'adamw'; lr: number; weightDecay?: number; betas?: [number, number]; eps?: number }
  | { type: 'sgd'; lr: number; momentum?: number; nesterov?: boolean; weightDecay?: number };

export interface TrainerOptions {
  model: AnyModel;
  /**
   * Required for MLP models. GPT models train on masked token cross-entropy: loss may be
   * omitted or 'softmax_cross_entropy' (anything else is a UsageError).
   */
  loss?: LossName;
  optimizer: OptimizerOptions;
  /** Examples per optimizer step. */
  batchSize: number;
  /** ORT intra-op threads (default: os.availableParallelism()). */
  threads?: number;
  device?: Device;
  /** Default: the model's dtype. */
  dtype?: FloatDType;
  clipGradNorm?: number;
  /** Split each batch into this many micro-batches whose gradients are summed before one update (default 1). */
  accumulation?: number;
  schedule?: Schedule;
  /** Initial parameters by name and shape from a .safetensors file or an ONNX inference model (.onnx). */
  pretrained?: string;
  /**
   * Per-example loss weights (default false): the train graphs get an extra float input
   * 'w' [B], step / fit then need `w` (one non-negative weight per row) and the training
   * loss of a batch is the weighted mean sum_i w_i l_i / sum_i w_i (see README).
   */
  sampleWeights?: boolean;
}

/** Everything that decides the numbers of a run (stored in checkpoints). */
export interface RunConfig {
  loss: LossName;
  optimizer: Required<Pick<OptimizerOptions, 'type' | 'lr'>> & Record<string, unknown>;
  batchSize: number;
  dtype: FloatDType;
  clipGradNorm: number | null;
  accumulation: number;
  schedule: Schedule;
  /** Per-example loss weights (input 'w'); absent in checkpoints written before they existed (= false). */
  sampleWeights: boolean;
}

const LOSSES: LossName[] = ['softmax_cross_entropy', 'mse', 'bce_with_logits'];

const posNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
const nonNeg = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;

export function normalizeOptimizer(o: OptimizerOptions): RunConfig['optimizer'] {
  if (!o || typeof o !== 'object') throw new UsageError('optimizer must be { type: "adamw" | "sgd", lr, ... }');
  if (!nonNeg(o.lr)) throw new UsageError(`optimizer.lr must be a non-negative number, got ${String(o.lr)}`);
  if (o.weightDecay !== undefined && !nonNeg(o.weightDecay)) throw new UsageError(`optimizer.weightDecay must be >= 0, got ${o.weightDecay}`);
  if (o.type === 'adamw') {
    const betas = o.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
      throw new UsageError(`optimizer.betas must be two numbers in [0, 1), got ${JSON.stringify(o.betas)}`);
    }
    const eps = o.eps ?? 1e-8;
    if (!posNum(eps)) throw new UsageError(`optimizer.eps must be > 0, got ${eps}`);
    return { type: 'adamw', lr: o.lr, weightDecay: o.weightDecay ?? 0.01, betas: [betas[0], betas[1]], eps };
  }
  if (o.type === 'sgd') {
    const momentum = o.momentum ?? 0;
    if (!nonNeg(momentum) || momentum >= 1) throw new UsageError(`optimizer.momentum must be in [0, 1), got ${momentum}`);
    return { type: 'sgd', lr: o.lr, momentum, nesterov: o.nesterov ?? false, weightDecay: o.weightDecay ?? 0 };
  }
  throw new UsageError(`optimizer.type must be adamw or sgd, got '${String((o as { type?: unknown }).type)}'`);
}

export function normalizeRun(opts: TrainerOptions): RunConfig {
  if (opts.model.kind === 'gpt') {
    if (opts.loss !== undefined && opts.loss !== 'softmax_cross_entropy') throw new UsageError(`GPT models train on masked token cross-entropy; loss must be omitted or 'softmax_cross_entropy', got '${String(opts.loss)}'`);
    if (opts.sampleWeights) throw new UsageError('sampleWeights is not supported for GPT models');
    opts = { ...opts, loss: 'softmax_cross_entropy' };
  }
  if (!LOSSES.includes(opts.loss as LossName)) throw new UsageError(`loss must be one of ${LOSSES.join(', ')}, got '${String(opts.loss)}'`);
  if (!posInt(opts.batchSize)) throw new UsageError(`batchSize must be a positive integer, got ${String(opts.batchSize)}`);
  const dtype = opts.dtype ?? opts.model.dtype;
  if (dtype !== 'float32' && dtype !== 'float64') throw new UsageError(`dtype must be float32 or float64, got '${String(dtype)}'`);
  if (opts.clipGradNorm !== undefined && !posNum(opts.clipGradNorm)) throw new UsageError(`clipGradNorm must be a positive number, got ${opts.clipGradNorm}`);
  const accumulation = opts.accumulation ?? 1;
  if (!posInt(accumulation)) throw new UsageError(`accumulation must be a positive integer, got ${String(opts.accumulation)}`);
  if (accumulation > opts.batchSize) throw new UsageError(`accumulation (${accumulation}) cannot exceed batchSize (${opts.batchSize})`);
  const sampleWeights = opts.sampleWeights ?? false;
  if (typeof sampleWeights !== 'boolean') throw new UsageError(`sampleWeights must be true or false, got ${String(opts.sampleWeights)}`);
  return {
    loss: opts.loss as LossName,
    optimizer: normalizeOptimizer(opts.optimizer),
    batchSize: opts.batchSize,
    dtype,
    clipGradNorm: opts.clipGradNorm ?? null,
    accumulation,
    schedule: checkSchedule(opts.schedule),
    sampleWeights,
  };
}

export function checkModel(model: AnyModel): void {
  if (!model || typeof model !== 'object' || !Array.isArray(model.params) || typeof model.forward !== 'function' || (model.kind !== 'mlp' && model.kind !== 'gpt')) {
    throw new UsageError('model must be a model object, e.g. models.mlp({ sizes: [100, 50, 10] }) or models.gpt({ vocab, context, dModel, nHeads, nLayers })');
  }
}

/** The graph layer's optimizer config for a normalized one. */
function graphOptimizer(o: RunConfig['optimizer']): OptimizerConfig {
  if (o.type === 'adamw') {
    const [beta1, beta2] = o.betas as [number, number];
    return { type: 'adamw', lr: o.lr, beta1, beta2, eps: o.eps as number, weightDecay: o.weightDecay as number };
  }
  return { type: 'sgd', lr: o.lr, momentum: o.momentum as number, nesterov: o.nesterov as boolean, weightDecay: o.weightDecay as number };
}

/**
 * Per-example losses [B] (mean over the outputs for mse / bce_with_logits), for the
 * weighted training loss.
 */
function perExampleLoss(loss: LossName, logits: Value, y: Value): Value {
  if (loss === 'softmax_cross_entropy') {
    const logp = op.logSoftmax(logits, -1);
    return op.neg(op.squeeze(op.gatherElements(logp, op.unsqueeze(y, [-1]), -1), [-1]));
  }
  if (loss === 'mse') {
    const d = op.sub(logits, y);
    return op.reduceMean(op.mul(d, d), [-1]);
  }
  // Same stable form as binaryCrossEntropyWithLogits: max(x, 0) - x z + log(1 + exp(-|x|)).
  const per = op.add(op.sub(op.relu(logits), op.mul(logits, y)), op.log(op.add(op.exp(op.neg(op.abs(logits))), 1)));
  return op.reduceMean(per, [-1]);
}

/** Fraction of target positions (!= IGNORE_INDEX) whose argmax logit is the target (0 when there are none). */
function tokenAccuracy(logits: Value, targets: Value): Value {
  const valid = op.not(op.equal(targets, IGNORE_INDEX));
  const am = logits.graph.node('ArgMax', [logits], [{ dtype: 'int64', shape: logits.shape.slice(0, -1) }], { axis: { kind: 'int', v: logits.rank - 1 }, keepdims: { kind: 'int', v: 0 } })[0];
  const hit = op.and(valid, op.equal(am, targets));
  const w = op.cast(valid, logits.dtype);
  return op.div(op.reduceSum(op.cast(hit, logits.dtype)), op.max(op.reduceSum(w), 1e-30));
}

/** The compileTraining description of (model, loss, optimizer) in the run's dtype. */
export function trainingSpec(model: AnyModel, run: RunConfig): TrainingSpec {
  const Arr = run.dtype === 'float32' ? Float32Array : Float64Array;
  if (model.kind === 'gpt') {
    return {
      dtype: run.dtype,
      inputs: model.inputs,
      targets: model.targets,
      params: model.params.map((p) => ({ ...p, init: p.init instanceof Arr ? p.init : Arr.from(p.init) })),
      forward: (ctx) => model.forward(ctx),
      loss: (ctx) => ({ loss: model.loss(ctx), metrics: { accuracy: tokenAccuracy(ctx.outputs.logits, ctx.targets.targets) } }),
      optimizer: graphOptimizer(run.optimizer),
      clipGradNorm: run.clipGradNorm ?? undefined,
      accumulation: run.accumulation > 1,
    };
  }
  const classification = run.loss === 'softmax_cross_entropy';
  return {
    dtype: run.dtype,
    inputs: model.inputs,
    targets: [
      classification ? { name: 'y', dtype: 'int64', shape: ['B'] } : { name: 'y', dtype: 'float', shape: ['B', model.outputSize] },
      ...(run.sampleWeights ? [{ name: 'w', dtype: 'float' as const, shape: ['B'] }] : []),
    ],
    params: model.params.map((p) => ({ ...p, init: p.init instanceof Arr ? p.init : Arr.from(p.init) })),
    forward: (ctx) => model.forward(ctx),
    loss: ({ outputs, targets, training }) => {
      const logits = outputs.logits, y = targets.y;
      // Weighted training loss: the worker feeds w already divided by the batch's sum of
      // weights, so sum_i w_i l_i is the weighted mean and micro-batch gradients add up
      // exactly under accumulation. The eval graph stays unweighted ('w' fed as zeros).
      if (run.sampleWeights && training) {
        const loss = op.reduceSum(op.mul(perExampleLoss(run.loss, logits, y), targets.w));
        return classification ? { loss, metrics: { accuracy: accuracy(logits, y) } } : loss;
      }
      if (run.loss === 'softmax_cross_entropy') return { loss: softmaxCrossEntropy(logits, y), metrics: { accuracy: accuracy(logits, y) } };
      if (run.loss === 'mse') return meanSquaredError(logits, y);
      return binaryCrossEntropyWithLogits(logits, y);
    },
    optimizer: graphOptimizer(run.optimizer),
    clipGradNorm: run.clipGradNorm ?? undefined,
    accumulation: run.accumulation > 1,
  };
}
