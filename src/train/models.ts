/**
 * Model builders. A model is a plain description that compileTraining can turn into
 * train / eval / inference graphs: its kind and JSON config (stored in checkpoints so
 * Trainer.load can rebuild it), its parameters with their initial values, and a
 * forward function from the model inputs to logits (no softmax: that belongs to the loss).
 */
import type { FloatArray, FloatDType } from '../graph/dtype.js';
import type { ForwardContext, ParamSpec, TensorSpec } from '../graph/compile.js';
import type { Value } from '../graph/graph.js';
import * as op from '../graph/ops.js';
import { gelu, linear } from '../graph/nn.js';
import { Stream } from '../sampling/rng.js';
import { UsageError } from '../errors.js';
import { type GptModel, type GptModelConfig, gpt } from './gpt-model.js';

export type Activation = 'relu' | 'gelu' | 'tanh';

export interface MlpConfig {
  /** Layer widths, input first, classes (or regression outputs) last: [100, 50, 10]. */
  sizes: number[];
  activation?: Activation;
  /** Seed of the initial weights (rsft random streams). Default 0. */
  seed?: number;
  dtype?: FloatDType;
}

export interface Model {
  kind: 'mlp';
  /** JSON-serializable; `models.fromConfig(kind, config)` rebuilds the same model. */
  config: Required<MlpConfig>;
  dtype: FloatDType;
  /** Model inputs: one float input 'x' of shape ['B', inputSize]. */
  inputs: TensorSpec[];
  inputSize: number;
  /** Width of the 'logits' output. */
  outputSize: number;
  /** Parameters in a fixed order with initial values of `dtype`. */
  params: ParamSpec[];
  forward(ctx: ForwardContext): Record<string, Value>;
}

const ACTIVATIONS: Record<Activation, (x: Value) => Value> = { relu: op.relu, gelu, tanh: op.tanh };

/**
 * PyTorch nn.Linear's default init: W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 * Layer l draws W from stream 2l and b from stream 2l+1 of the seed, in row-major order
 * of W's [in, out] layout, so the weights depend only on (seed, sizes).
 */
function uniformInit(n: number, bound: number, seed: number, stream: number, dtype: FloatDType): FloatArray {
  const out = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  const s = new Stream(seed, stream, 0);
  for (let i = 0; i < n; i++) out[i] = (2 * s.nextF64() - 1) * bound;
  return out;
}

/**
 * Multi-layer perceptron: Linear -> act -> ... -> Linear, logits out. Parameters
 * `fc<k>.weight` [in, out] (transposed against PyTorch's [out, in]) and `fc<k>.bias` [out],
 * k = 1..layers. Biases are excluded from weight decay.
 */
export function mlp(cfg: MlpConfig): Model {
  const sizes = cfg.sizes;
  if (!Array.isArray(sizes) || sizes.length < 2 || !sizes.every((s) => Number.isInteger(s) && s > 0)) {
    throw new UsageError(`mlp: sizes must be at least two positive integers, got ${JSON.stringify(sizes)}`);
  }
  const activation = cfg.activation ?? 'relu';
  if (!(activation in ACTIVATIONS)) throw new UsageError(`mlp: activation must be relu, gelu or tanh, got '${String(activation)}'`);
  const seed = cfg.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`mlp: seed must be a non-negative integer, got ${seed}`);
  const dtype = cfg.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float64') throw new UsageError(`mlp: dtype must be float32 or float64, got '${String(dtype)}'`);
  const params: ParamSpec[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fanIn = sizes[l], fanOut = sizes[l + 1];
    const bound = 1 / Math.sqrt(fanIn);
    params.push({ name: `fc${l + 1}.weight`, shape: [fanIn, fanOut], init: uniformInit(fanIn * fanOut, bound, seed, 2 * l, dtype) });
    params.push({ name: `fc${l + 1}.bias`, shape: [fanOut], init: uniformInit(fanOut, bound, seed, 2 * l + 1, dtype), decay: false });
  }
  const act = ACTIVATIONS[activation];
  const layers = sizes.length - 1;
  return {
    kind: 'mlp',
    config: { sizes: [...sizes], activation, seed, dtype },
    dtype,
    inputs: [{ name: 'x', dtype: 'float', shape: ['B', sizes[0]] }],
    inputSize: sizes[0],
    outputSize: sizes[layers],
    params,
    forward(ctx) {
      let h = ctx.inputs.x;
      for (let l = 1; l <= layers; l++) {
        h = linear(h, ctx.params[`fc${l}.weight`], ctx.params[`fc${l}.bias`]);
        if (l < layers) h = act(h);
      }
      return { logits: h };
    },
  };
}

/** Rebuild a model from the (kind, config) stored in a checkpoint. */
export function fromConfig(kind: 'mlp', config: unknown): Model;
export function fromConfig(kind: 'gpt', config: unknown): GptModel;
export function fromConfig(kind: string, config: unknown): Model | GptModel;
export function fromConfig(kind: string, config: unknown): Model | GptModel {
  if (kind === 'mlp') return mlp(config as MlpConfig);
  if (kind === 'gpt') {
    if (!config || typeof config !== 'object') throw new UsageError('gpt: config must be an object');
    return gpt(config as GptModelConfig);
  }
  throw new UsageError(`unknown model kind '${kind}' (known: mlp, gpt)`);
}
