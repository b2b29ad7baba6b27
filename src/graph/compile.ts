/**
 * compileTraining: from one model description, emit the three ONNX models a
 * trainer needs — the train step (forward + backward + optimizer update in one
 * graph), the eval step (loss and outputs, no update), and the inference model
 * (weights baked in as initializers) — plus a signature listing every input and
 * output name so the runtime side needs no naming conventions of its own.
 *
 * The model is described by two callbacks, called once per emitted graph on a fresh
 * Graph: `forward` (model inputs -> named outputs) and `loss` (outputs + targets ->
 * scalar). Inference runs forward only, so its model takes only `inputs`.
 */
import type { DType, FloatArray, FloatDType } from './dtype.js';
import { Graph, Value } from './graph.js';
import type { Shape } from './shape.js';
import { grad } from './autodiff.js';
import { type OptimizerConfig, prepareOptimizer, stateSlots, clipByGlobalNorm, globalNorm } from './optim.js';
import { serialize } from './serialize.js';
import * as op from './ops.js';

export interface TensorSpec {
  name: string;
  /** 'float' = the compile dtype (lets one description build in float32 and float64). */
  dtype: DType | 'float';
  shape: Shape;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  init: FloatArray;
  /** Frozen: an input of every graph, but no gradient, no update, no optimizer state. */
  frozen?: boolean;
  /** Weight decay applies (default true; set false for biases and norms). */
  decay?: boolean;
}

export interface ForwardContext {
  graph: Graph;
  inputs: Record<string, Value>;
  params: Record<string, Value>;
  /** True in the train-step graph (dropout active), false in eval and inference. */
  training: boolean;
  /** int64 scalar input 'seed' (declared on first call): per-step randomness such as dropout. */
  seed(): Value;
}

export interface LossContext extends ForwardContext {
  targets: Record<string, Value>;
  outputs: Record<string, Value>;
}

export interface TrainingSpec {
  dtype?: FloatDType;
  /** Model inputs (the inference model's inputs), e.g. [{ name: 'x', dtype: 'float', shape: ['B', 784] }]. */
  inputs: TensorSpec[];
  /** Loss-only inputs: labels, weights, masks. */
  targets?: TensorSpec[];
  params: ParamSpec[];
  forward(ctx: ForwardContext): Record<string, Value>;
  /** Scalar loss, or the loss plus extra scalar metrics reported by the eval model. */
  loss(ctx: LossContext): Value | { loss: Value; metrics?: Record<string, Value> };
  optimizer: OptimizerConfig;
  /** Clip gradients to this global L2 norm. The train model outputs 'grad_norm' either way. */
  clipGradNorm?: number;
  /** Also emit the two models of gradient accumulation (see CompiledTraining.accumulation). */
  accumulation?: boolean;
}

export interface ParamIO {
  name: string;
  shape: number[];
  trainable: boolean;
  /** Input name (same in train, eval, and as initializer name in inference). */
  input: string;
  /** Train-model output carrying the updated value (trainable params only). */
  output?: string;
}

export interface StateIO {
  /** Unique key, also the input name: `state/<slot>/<param>`. */
  name: string;
  param: string;
  slot: string;
  shape: number[];
  input: string;
  output: string;
}

export interface TrainingSignature {
  dtype: FloatDType;
  inputs: { name: string; dtype: DType; shape: Shape }[];
  targets: { name: string; dtype: DType; shape: Shape }[];
  /** Forward outputs (present in all three models). */
  outputs: string[];
  /** Extra scalar outputs of the eval model. */
  metrics: string[];
  loss: 'loss';
  lr: 'lr';
  step: 'step';
  /** 'seed' when the train graph takes one (dropout), else null. */
  seed: 'seed' | null;
  gradNorm: 'grad_norm';
  params: ParamIO[];
  state: StateIO[];
}

export interface CompiledTraining {
  signature: TrainingSignature;
  /** ONNX bytes: inputs = inputs, targets, lr, step, [seed], params, state; outputs = loss, grad_norm, forward outputs, next params, next state. */
  trainModel: Uint8Array;
  /** ONNX bytes: inputs = inputs, targets, params; outputs = loss, forward outputs, metrics. */
  evalModel: Uint8Array;
  /**
   * Gradient accumulation (when spec.accumulation): run `gradModel` on each micro-batch
   * (inputs = inputs, targets, [seed], params, grads.input accumulators (zeros at first);
   * outputs = loss, forward outputs, grads.output = accumulator + gradient), then
   * `applyModel` once (inputs = trainable params, lr, step, state, accumulators,
   * grad_scale (e.g. 1/k for the mean); outputs = grad_norm, next params, next state,
   * with the same names as the train model). Null when not requested.
   */
  accumulation: {
    gradModel: Uint8Array;
    applyModel: Uint8Array;
    grads: { param: string; shape: number[]; input: string; output: string }[];
    gradScale: 'grad_scale';
  } | null;
  /**
   * Which trainable parameters `packedTrainModel` packs, and where they sit in its packed
   * vectors (the state slots use the same offsets).
   */
  packed: PackedLayout;
  /**
   * The train step with packed I/O: the same step as `trainModel`, element by element,
   * but the trainable params of at most PACK_MAX_ELEMENTS elements are one flat input
   * 'packed/params' [size] (in `packed.params` order, each flattened row-major) and their
   * state one flat input 'packed/state/<slot>' per slot; outputs 'next/packed/params' and
   * 'next/packed/state/<slot>'. Larger params keep their own inputs and outputs, named as
   * in `trainModel`, as do inputs, targets, lr, step, seed and frozen params. Outputs:
   * 'loss', 'grad_norm', the next params and state (no forward outputs). The packed
   * params get one optimizer update over the flat vector (weight decay by a per-element
   * mask). Without small params there are no packed inputs or outputs (size 0).
   * Why: onnxruntime-node spends a few microseconds of binding work per input and output
   * tensor per run, and every node has a fixed cost; for small models that is much of the
   * step (MLP 100-50-10: 30 tensors and 120 nodes -> 12 tensors and ~90 nodes, ~20% less
   * run time). Large params stay out because packing copies them (Split in, Concat of the
   * gradients), which costs more than it saves (MLP 784-1024-1024-10 with every param
   * packed: ~15% slower steps). Names under 'packed/' are reserved.
   * Built on first call.
   */
  packedTrainModel(): Uint8Array;
  /**
   * ONNX bytes with `weights` (default: the initial values) as initializers; inputs =
   * inputs, outputs = forward outputs. `opts.dtype` rebuilds the forward in another
   * float type (e.g. a float32 export of a float64-trained model; weights are converted).
   */
  inferenceModel(weights?: Record<string, FloatArray>, opts?: { dtype?: FloatDType }): Uint8Array;
  initialParams(): Record<string, FloatArray>;
  /** Zero-filled optimizer state, keyed by StateIO.name. */
  initialState(): Record<string, FloatArray>;
}

/**
 * Largest parameter (elements) the packed train step packs: packing saves a fixed ~20 us
 * per parameter (six tensors bound, ~14 optimizer nodes) and costs a few memory passes
 * over its elements, about 1 ns each while they are cache-resident.
 */
export const PACK_MAX_ELEMENTS = 16384;

export interface PackedLayout {
  /** Elements of each packed vector (0: nothing packed). */
  size: number;
  /** The packed params (trainable, at most PACK_MAX_ELEMENTS elements), in signature order. */
  params: { name: string; offset: number; size: number }[];
  input: 'packed/params';
  output: 'next/packed/params';
  /** One packed vector per optimizer state slot. */
  state: { slot: string; input: string; output: string }[];
}

const nextName = (name: string) => `next/${name}`;

function checkSpec(spec: TrainingSpec, dtype: FloatDType): void {
  const seen = new Set<string>();
  const claim = (n: string, what: string) => {
    if (seen.has(n)) throw new Error(`compileTraining: duplicate name '${n}' (${what})`);
    if (['loss', 'lr', 'step', 'seed', 'grad_norm', 'grad_scale'].includes(n) || /^(next|state|grad|packed)\//.test(n)) {
      throw new Error(`compileTraining: '${n}' (${what}) is a reserved name`);
    }
    seen.add(n);
  };
  for (const i of spec.inputs) claim(i.name, 'input');
  for (const t of spec.targets ?? []) claim(t.name, 'target');
  for (const p of spec.params) {
    claim(p.name, 'param');
    const n = p.shape.reduce((a, b) => a * b, 1);
    if (p.init.length !== n) throw new Error(`compileTraining: param '${p.name}' has ${p.init.length} values for shape [${p.shape}]`);
    if ((dtype === 'float32') !== p.init instanceof Float32Array) throw new Error(`compileTraining: param '${p.name}' init must be a ${dtype === 'float32' ? 'Float32Array' : 'Float64Array'}`);
  }
}

type Mode = 'train' | 'eval' | 'infer';

interface Built {
  graph: Graph;
  inputs: Record<string, Value>;
  targets: Record<string, Value>;
  params: Record<string, Value>;
  outputs: Record<string, Value>;
  usedSeed: boolean;
}

function buildForward(spec: TrainingSpec, dtype: FloatDType, mode: Mode, weights?: Record<string, FloatArray>, packed?: PackedLayout): Built {
  const g = new Graph(`rsft_${mode}`);
  const resolve = (d: DType | 'float'): DType => (d === 'float' ? dtype : d);
  const inputs: Record<string, Value> = {};
  for (const i of spec.inputs) inputs[i.name] = g.input(i.name, resolve(i.dtype), i.shape);
  const targets: Record<string, Value> = {};
  if (mode !== 'infer') for (const t of spec.targets ?? []) targets[t.name] = g.input(t.name, resolve(t.dtype), t.shape);
  const params: Record<string, Value> = {};
  if (packed && packed.size > 0) {
    // Trainable params are pieces of one flat input (Split + Reshape; Reshape is free).
    const parts = op.split1d(g.input(packed.input, dtype, [packed.size]), packed.params.map((p) => p.size));
    const byName = new Map(spec.params.map((p) => [p.name, p]));
    packed.params.forEach((p, i) => (params[p.name] = op.reshape(parts[i], byName.get(p.name)!.shape)));
  }
  for (const p of spec.params) {
    if (params[p.name]) continue;
    params[p.name] = mode === 'infer'
      ? g.initializer(p.name, { dtype, shape: p.shape, data: weights?.[p.name] ?? p.init })
      : g.input(p.name, dtype, p.shape);
  }
  let seedValue: Value | null = null;
  const ctx: ForwardContext = {
    graph: g,
    inputs,
    params,
    training: mode === 'train',
    seed: () => (seedValue ??= g.input('seed', 'int64', [])),
  };
  const outputs = spec.forward(ctx);
  return { graph: g, inputs, targets, params, outputs, get usedSeed() { return seedValue !== null; } } as Built;
}

function lossOf(spec: TrainingSpec, b: Built, training: boolean): { loss: Value; metrics: Record<string, Value> } {
  const ctx: LossContext = {
    graph: b.graph, inputs: b.inputs, params: b.params, training,
    seed: () => { throw new Error('compileTraining: declare randomness in forward, not in loss'); },
    targets: b.targets, outputs: b.outputs,
  };
  const r = spec.loss(ctx);
  const out = r instanceof Value ? { loss: r, metrics: undefined } : r;
  if (out.loss.shape.length !== 0) throw new Error(`compileTraining: loss must be a scalar, got ${out.loss}`);
  return { loss: out.loss, metrics: out.metrics ?? {} };
}

const gradName = (name: string) => `grad/${name}`;

/**
 * Append clipping + optimizer update to `g`: declares lr, step and the state inputs,
 * outputs grad_norm, next params and next state. Shared by the fused train step, the
 * packed train step and the apply model of gradient accumulation, so all update
 * identically. With `packed`, the params it lists get one optimizer update over the
 * packed vectors (its inputs and outputs; weight decay by a per-element mask) instead of
 * one each; clipping and grad_norm still see the per-parameter gradients in the same
 * order. Returns the per-parameter state inputs and outputs.
 */
function emitUpdate(spec: TrainingSpec, g: Graph, dtype: FloatDType, trainable: ParamSpec[], params: Record<string, Value>, grads: Value[], slots: string[], packed?: PackedLayout): StateIO[] {
  const lr = g.input('lr', dtype, []);
  const step = g.input('step', 'int64', []);
  const packedAt = new Map((packed?.params ?? []).map((p, i) => [p.name, i]));
  const stateIO: StateIO[] = [];
  const stateIn: Record<string, Record<string, Value>> = {};
  for (const p of trainable) {
    if (packedAt.has(p.name)) continue;
    stateIn[p.name] = {};
    for (const s of slots) {
      const name = `state/${s}/${p.name}`;
      stateIn[p.name][s] = g.input(name, dtype, p.shape);
      stateIO.push({ name, param: p.name, slot: s, shape: p.shape, input: name, output: nextName(name) });
    }
  }
  let norm: Value;
  if (spec.clipGradNorm !== undefined) ({ grads, norm } = clipByGlobalNorm(grads, spec.clipGradNorm));
  else norm = globalNorm(grads);
  g.output('grad_norm', norm);
  const opt = prepareOptimizer(spec.optimizer, { lr, step });
  const packedGrads: Value[] = [];
  trainable.forEach((p, i) => {
    const k = packedAt.get(p.name);
    if (k !== undefined) {
      packedGrads[k] = op.reshape(grads[i], [packed!.params[k].size]);
      return;
    }
    const r = opt.update(params[p.name], grads[i], stateIn[p.name], p.decay !== false);
    g.output(nextName(p.name), r.param);
    for (const s of slots) g.output(nextName(`state/${s}/${p.name}`), r.state[s]);
  });
  if (packed && packed.size > 0) {
    const state: Record<string, Value> = {};
    for (const s of packed.state) state[s.slot] = g.input(s.input, dtype, [packed.size]);
    const flatGrad = packedGrads.length === 1 ? packedGrads[0] : op.concat(packedGrads, 0);
    const flatParams = g.inputs.find((v) => v.name === packed.input)!;
    const byName = new Map(trainable.map((p) => [p.name, p.decay !== false]));
    const decays = packed.params.map((p) => byName.get(p.name)!);
    let decay: boolean | Value = decays[0];
    if (decays.some((d) => d !== decays[0])) {
      const mask = new Uint8Array(packed.size);
      packed.params.forEach((p, i) => mask.fill(decays[i] ? 1 : 0, p.offset, p.offset + p.size));
      decay = g.constant('bool', [packed.size], mask);
    }
    const r = opt.update(flatParams, flatGrad, state, decay);
    g.output(packed.output, r.param);
    for (const s of packed.state) g.output(s.output, r.state[s.slot]);
  }
  return stateIO;
}

/**
 * The packed train step (CompiledTraining.packedTrainModel): the train model's forward and
 * gradients, with the packed params split out of one flat input, and emitUpdate over the
 * packed layout.
 */
function buildPackedTrain(spec: TrainingSpec, dtype: FloatDType, trainable: ParamSpec[], slots: string[], layout: PackedLayout): Uint8Array {
  const b = buildForward(spec, dtype, 'train', undefined, layout);
  const { loss } = lossOf(spec, b, true);
  const grads = grad(loss, trainable.map((p) => b.params[p.name]));
  b.graph.output('loss', loss);
  emitUpdate(spec, b.graph, dtype, trainable, b.params, grads, slots, layout);
  return serialize(b.graph, { docString: 'rsft train step (packed parameters and state)' });
}

export function compileTraining(spec: TrainingSpec): CompiledTraining {
  const dtype = spec.dtype ?? 'float32';
  checkSpec(spec, dtype);
  const slots = stateSlots(spec.optimizer);
  const trainable = spec.params.filter((p) => !p.frozen);
  if (trainable.length === 0) throw new Error('compileTraining: every parameter is frozen');

  // ---- train-step graph ------------------------------------------------------------
  const tb = buildForward(spec, dtype, 'train');
  const tg = tb.graph;
  const { loss } = lossOf(spec, tb, true);
  const grads = grad(loss, trainable.map((p) => tb.params[p.name]));
  tg.output('loss', loss);
  for (const [k, v] of Object.entries(tb.outputs)) tg.output(k, v);
  const stateIO = emitUpdate(spec, tg, dtype, trainable, tb.params, grads, slots);
  const trainModel = serialize(tg, { docString: 'rsft train step' });

  // ---- gradient accumulation: grad model + apply model ------------------------------
  let accumulation: CompiledTraining['accumulation'] = null;
  if (spec.accumulation) {
    const ab = buildForward(spec, dtype, 'train');
    const ag = ab.graph;
    const al = lossOf(spec, ab, true).loss;
    const ggrads = grad(al, trainable.map((p) => ab.params[p.name]));
    ag.output('loss', al);
    for (const [k, v] of Object.entries(ab.outputs)) ag.output(k, v);
    trainable.forEach((p, i) => ag.output(nextName(gradName(p.name)), op.add(ag.input(gradName(p.name), dtype, p.shape), ggrads[i])));
    const pg = new Graph('rsft_apply');
    const params: Record<string, Value> = {};
    for (const p of trainable) params[p.name] = pg.input(p.name, dtype, p.shape);
    const scale = pg.input('grad_scale', dtype, []);
    const acc = trainable.map((p) => op.mul(pg.input(gradName(p.name), dtype, p.shape), scale));
    emitUpdate(spec, pg, dtype, trainable, params, acc, slots);
    accumulation = {
      gradModel: serialize(ag, { docString: 'rsft gradient accumulation step' }),
      applyModel: serialize(pg, { docString: 'rsft optimizer step from accumulated gradients' }),
      grads: trainable.map((p) => ({ param: p.name, shape: p.shape, input: gradName(p.name), output: nextName(gradName(p.name)) })),
      gradScale: 'grad_scale',
    };
  }

  // ---- eval graph --------------------------------------------------------------------
  const eb = buildForward(spec, dtype, 'eval');
  const ev = lossOf(spec, eb, false);
  eb.graph.output('loss', ev.loss);
  for (const [k, v] of Object.entries(eb.outputs)) eb.graph.output(k, v);
  for (const [k, v] of Object.entries(ev.metrics)) eb.graph.output(k, v);
  const evalModel = serialize(eb.graph, { docString: 'rsft eval step' });

  const resolve = (d: DType | 'float'): DType => (d === 'float' ? dtype : d);
  const signature: TrainingSignature = {
    dtype,
    inputs: spec.inputs.map((i) => ({ name: i.name, dtype: resolve(i.dtype), shape: i.shape })),
    targets: (spec.targets ?? []).map((i) => ({ name: i.name, dtype: resolve(i.dtype), shape: i.shape })),
    outputs: Object.keys(tb.outputs),
    metrics: Object.keys(ev.metrics),
    loss: 'loss', lr: 'lr', step: 'step', gradNorm: 'grad_norm',
    seed: tb.usedSeed ? 'seed' : null,
    params: spec.params.map((p) => ({ name: p.name, shape: p.shape, trainable: !p.frozen, input: p.name, output: p.frozen ? undefined : nextName(p.name) })),
    state: stateIO,
  };
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  let offset = 0;
  const packed: PackedLayout = {
    size: 0,
    params: trainable.flatMap((p) => {
      const size = p.shape.reduce((a, b) => a * b, 1);
      if (size > PACK_MAX_ELEMENTS) return [];
      offset += size;
      return [{ name: p.name, offset: offset - size, size }];
    }),
    input: 'packed/params',
    output: 'next/packed/params',
    state: slots.map((slot) => ({ slot, input: `packed/state/${slot}`, output: nextName(`packed/state/${slot}`) })),
  };
  packed.size = offset;
  let packedModel: Uint8Array | null = null;
  return {
    signature,
    trainModel,
    evalModel,
    accumulation,
    packed,
    packedTrainModel: () => (packedModel ??= buildPackedTrain(spec, dtype, trainable, slots, packed)),
    inferenceModel(weights, opts = {}) {
      const dt = opts.dtype ?? dtype;
      const Out = dt === 'float32' ? Float32Array : Float64Array;
      const ws: Record<string, FloatArray> = {};
      for (const p of spec.params) {
        const w = weights?.[p.name] ?? p.init;
        if (w.length !== p.init.length) throw new Error(`inferenceModel: weight '${p.name}' has ${w.length} values, expected ${p.init.length}`);
        ws[p.name] = w instanceof Out ? w : Out.from(w);
      }
      const ib = buildForward(spec, dt, 'infer', ws);
      for (const [k, v] of Object.entries(ib.outputs)) ib.graph.output(k, v);
      return serialize(ib.graph, { docString: 'rsft inference model' });
    },
    initialParams: () => Object.fromEntries(spec.params.map((p) => [p.name, new Arr(p.init)])),
    initialState: () => Object.fromEntries(stateIO.map((s) => [s.name, new Arr(s.shape.reduce((a, b) => a * b, 1))])),
  };
}
