/**
 * A user's pretrained classifier (.onnx inference model as exported by rsft, or
 * .safetensors with fc<k>.weight [in, out] / fc<k>.bias [out]): layer sizes read from the file
 * and checked against the data (input features, classes) before any training.
 */
import { existsSync, readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { UsageError } from '../errors.js';
import { readSafetensors } from '../train/safetensors.js';
import { loadPretrained } from '../train/pretrained.js';

function shapes(path: string): Map<string, number[]> {
  if (!existsSync(path)) throw new UsageError(`cannot read pretrained model ${path}: no such file`);
  const out = new Map<string, number[]>();
  if (path.toLowerCase().endsWith('.onnx')) {
    let model: onnxProto.onnx.ModelProto;
    try {
      model = onnxProto.onnx.ModelProto.decode(readFileSync(path));
    } catch (e) {
      throw new UsageError(`${path} is not a valid ONNX model (${(e as Error).message.split('\n')[0]})`);
    }
    for (const t of model.graph?.initializer ?? []) if (t.name) out.set(t.name, (t.dims ?? []).map(Number));
  } else if (path.toLowerCase().endsWith('.safetensors')) {
    for (const [name, t] of readSafetensors(path).tensors) out.set(name, t.shape);
  } else {
    throw new UsageError(`pretrained model ${path}: expected a .onnx or .safetensors file`);
  }
  return out;
}

/** Layer sizes [in, h1, ..., out] of an MLP stored with rsft's parameter names. */
export function pretrainedSizes(path: string, inputs: number, classes: number): number[] {
  const s = shapes(path);
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
  return sizes;
}

export function pretrainedWeights(path: string, sizes: number[]): Record<string, Float32Array> {
  const expected: { name: string; shape: number[] }[] = [];
  for (let k = 1; k < sizes.length; k++) {
    expected.push({ name: `fc${k}.weight`, shape: [sizes[k - 1], sizes[k]] }, { name: `fc${k}.bias`, shape: [sizes[k]] });
  }
  return loadPretrained(path, expected, 'float32') as Record<string, Float32Array>;
}
