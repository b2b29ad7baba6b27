/**
 * The GPT language model as a model description for compileTraining (shaped like
 * models.mlp): kind + JSON config, parameters with their initial values, forward
 * (tokens [B, T] int64 -> logits [B, T, vocab]) and the training objective, masked
 * token cross-entropy: targets [B, T] int64 with IGNORE_INDEX (-100) on prompt and
 * padding positions, so the loss is the mean over completion tokens only.
 */
import type { FloatDType } from '../graph/dtype.js';
import type { ForwardContext, LossContext, ParamSpec, TensorSpec, TrainingSpec } from '../graph/compile.js';
import type { OptimizerConfig } from '../graph/optim.js';
import type { Value } from '../graph/graph.js';
import { softmaxCrossEntropy } from '../graph/losses.js';
import { type GptConfig, checkGptConfig, gptForward, gptParams } from '../graph/gpt.js';
import { UsageError } from '../errors.js';

export const IGNORE_INDEX = -100;

export interface GptModelConfig extends GptConfig {
  dtype?: FloatDType;
}

export interface GptModel {
  kind: 'gpt';
  /** JSON-serializable; gpt(config) rebuilds the same model (same initial weights). */
  config: Required<GptModelConfig>;
  dtype: FloatDType;
  /** One int64 input 'tokens' of shape ['B', 'T']. */
  inputs: TensorSpec[];
  /** One int64 target 'targets' ['B', 'T'] (next tokens; IGNORE_INDEX = no loss). */
  targets: TensorSpec[];
  vocab: number;
  context: number;
  params: ParamSpec[];
  /** tokens -> { logits } (no softmax). */
  forward(ctx: ForwardContext): Record<string, Value>;
  /** Masked token cross-entropy: mean over target positions != IGNORE_INDEX. */
  loss(ctx: LossContext): Value;
}

/** Build the GPT model description (validates the config; UsageError on bad values). */
export function gpt(cfg: GptModelConfig): GptModel {
  const config: Required<GptModelConfig> = {
    vocab: cfg.vocab, context: cfg.context, dModel: cfg.dModel, nHeads: cfg.nHeads, nLayers: cfg.nLayers,
    tied: cfg.tied ?? true, dropout: cfg.dropout ?? 0, seed: cfg.seed ?? 0, lnEpsilon: cfg.lnEpsilon ?? 1e-5,
    dtype: cfg.dtype ?? 'float32',
  };
  try {
    checkGptConfig(config);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (config.dtype !== 'float32' && config.dtype !== 'float64') throw new UsageError(`gpt: dtype must be float32 or float64, got '${String(config.dtype)}'`);
  const dtype = config.dtype;
  const params: ParamSpec[] = gptParams(config, dtype).map((p) => ({ name: p.name, shape: p.shape, init: p.init, decay: p.decay }));
  return {
    kind: 'gpt',
    config,
    dtype,
    inputs: [{ name: 'tokens', dtype: 'int64', shape: ['B', 'T'] }],
    targets: [{ name: 'targets', dtype: 'int64', shape: ['B', 'T'] }],
    vocab: config.vocab,
    context: config.context,
    params,
    forward(ctx) {
      const seed = ctx.training && config.dropout > 0 ? ctx.seed() : undefined;
      return { logits: gptForward(ctx.inputs.tokens, ctx.params, config, { training: ctx.training, seed }).logits };
    },
    loss(ctx) {
      return softmaxCrossEntropy(ctx.outputs.logits, ctx.targets.targets, { ignoreIndex: IGNORE_INDEX });
    },
  };
}

/** TrainingSpec for compileTraining: the model plus an optimizer (AdamW by default). */
export function gptTrainingSpec(
  model: GptModel,
  opts: { optimizer?: OptimizerConfig; clipGradNorm?: number; accumulation?: boolean } = {},
): TrainingSpec {
  return {
    dtype: model.dtype,
    inputs: model.inputs,
    targets: model.targets,
    params: model.params,
    forward: (ctx) => model.forward(ctx),
    loss: (ctx) => model.loss(ctx),
    optimizer: opts.optimizer ?? { type: 'adamw', lr: 3e-3, weightDecay: 0.01 },
    clipGradNorm: opts.clipGradNorm,
    accumulation: opts.accumulation,
  };
}
