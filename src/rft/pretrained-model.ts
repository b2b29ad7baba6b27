/**
 * A user's pretrained classifier (.onnx inference model as exported by rsft, or
 * .safetensors with fc<k>.weight [in, out] / fc<k>.bias [out]): layer sizes, and from ONNX the
 * activation, read from the file and checked against the data (input features, classes) and
 * the config before any training.
 */
import { existsSync, readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { UsageError } from '../errors.js';
import { readSafetensors } from '../train/safetensors.js';
import { loadPretrained } from '../train/pretrained.js';
import type { Activation } from '../train/models.js';

function readOnnx(path: string): onnxProto.onnx.ModelProto {
  try {
    return onnxProto.onnx.ModelProto.decode(readFileSync(path));
  } catch (e) {
    throw new UsageError(`${path} is not a valid ONNX model (${(e as Error).message.split('\n')[0]})`);
  }
}

/** A pretrained file read once: its tensors' shapes, and from ONNX the graph's op types (null for safetensors). */
function readModelFile(path: string): { shapes: Map<string, number[]>; ops: Set<string> | null } {
  if (!existsSync(path)) throw new UsageError(`cannot read pretrained model ${path}: no such file`);
  const shapes = new Map<string, number[]>();
  if (path.toLowerCase().endsWith('.onnx')) {
    const model = readOnnx(path);
    for (const t of model.graph?.initializer ?? []) if (t.name) shapes.set(t.name, (t.dims ?? []).map(Number));
    return { shapes, ops: new Set((model.graph?.node ?? []).map((n) => n.opType ?? '')) };
  }
  if (path.toLowerCase().endsWith('.safetensors')) {
    for (const [name, t] of readSafetensors(path).tensors) shapes.set(name, t.shape);
    return { shapes, ops: null };
  }
  throw new UsageError(`pretrained model ${path}: expected a .onnx or .safetensors file`);
}

/**
 * A pretrained MLP stored with rsft's parameter names, from one read of its file: its layer
 * sizes [in, h1, ..., out], checked against the data, and its hidden activation when the file
 * says (activationOf); null for safetensors (weights only) and for a model without hidden
 * layers.
 */
export function pretrainedModel(path: string, inputs: number, classes: number): { sizes: number[]; activation: Activation | null } {
  const { shapes: s, ops } = readModelFile(path);
  const sizes: number[] = [];
  for (let k = 1; s.has(`fc${k}.weight`); k++) {
    const w = s.get(`fc${k}.weight`)!;
    if (w.length !== 2) throw new UsageError(`pretrained model ${path}: fc${k}.weight has shape [${w}], expected [in, out]`);
    if (k === 1) sizes.push(w[0]);
    else if (w[0] !== sizes[sizes.length - 1]) throw new UsageError(`pretrained model ${path}: fc${k}.weight has ${w[0]} inputs, fc${k - 1} has ${sizes[sizes.length - 1]} outputs`);
    sizes.push(w[1]);
  }
  if (sizes.length === 0) throw new UsageError(`pretrained model ${path}: no MLP weights (expected fc1.weight, fc1.bias, ...)`);
  if (sizes[0] !== inputs) throw new UsageError(`pretrained model ${path} takes ${sizes[0]} input features, the data has ${inputs}`);
  if (sizes[sizes.length - 1] < classes) throw new UsageError(`pretrained model ${path} has ${sizes[sizes.length - 1]} outputs, the data has ${classes} classes`);
  return { sizes, activation: ops ? activationOf(ops, path) : null };
}

export function pretrainedWeights(path: string, sizes: number[]): Record<string, Float32Array> {
  const expected: { name: string; shape: number[] }[] = [];
  for (let k = 1; k < sizes.length; k++) {
    expected.push({ name: `fc${k}.weight`, shape: [sizes[k - 1], sizes[k]] }, { name: `fc${k}.bias`, shape: [sizes[k]] });
  }
  return loadPretrained(path, expected, 'float32') as Record<string, Float32Array>;
}

/**
 * The hidden activation of an ONNX MLP, from its graph's ops, as rsft exports them: Relu; Tanh
 * on a layer's output (tanh); or Tanh inside the tanh approximation of GELU, made of Mul and
 * Add nodes around it (src/graph/nn.ts). null for a model without hidden layers. Other
 * activations are refused: the fine-tuned model could not compute what the pretrained one does.
 */
function activationOf(ops: Set<string>, path: string): Activation | null {
  const foreign = [...ops].filter((o) => FOREIGN_ACTIVATIONS.includes(o));
  if (foreign.length > 0) {
    throw new UsageError(`pretrained model ${path} uses ${foreign.join(', ')}: rsft fine-tunes MLPs with relu, gelu (tanh approximation) or tanh`);
  }
  if (ops.has('Relu')) return 'relu';
  if (ops.has('Tanh')) return ops.has('Mul') ? 'gelu' : 'tanh';
  return null;
}

/** ONNX activation ops (and GELU's exact, Erf-based form) that rsft's MLP does not compute. */
const FOREIGN_ACTIVATIONS = ['Sigmoid', 'LeakyRelu', 'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'HardSigmoid', 'HardSwish', 'Mish', 'PRelu', 'ThresholdedRelu', 'Gelu', 'Erf'];
