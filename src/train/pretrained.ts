/**
 * Pretrained weights: parameters matched by name and shape from a safetensors file
 * (including rsft checkpoints) or from the initializers of an ONNX model (.onnx, e.g.
 * one written by exportOnnx). Float32 and float64 are converted to the trainer's dtype;
 * any other element type, a missing name or a wrong shape is a mismatch, and all
 * mismatches are listed in one UsageError.
 */
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import type { FloatArray, FloatDType } from '../graph/dtype.js';
import { UsageError } from '../errors.js';
import { readSafetensors } from './safetensors.js';
import { fsReason } from '../io/atomic-file.js';

export interface Found {
  /** 'F32' | 'F64' or any other type name (a mismatch). */
  dtype: string;
  shape: number[];
  data: ArrayLike<number> | null;
}

const ONNX_TYPES: Record<number, string> = { 1: 'F32', 2: 'U8', 3: 'I8', 5: 'I16', 6: 'I32', 7: 'I64', 9: 'BOOL', 10: 'F16', 11: 'F64', 16: 'BF16' };

function readOnnx(path: string): Map<string, Found> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${fsReason(e)}`);
  }
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnxProto.onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new UsageError(`${path} is not a valid ONNX model (${(e as Error).message.split('\n')[0]})`);
  }
  const out = new Map<string, Found>();
  for (const t of model.graph?.initializer ?? []) {
    const dtype = ONNX_TYPES[t.dataType ?? 0] ?? `onnx type ${t.dataType}`;
    const shape = (t.dims ?? []).map((d) => Number(d));
    let data: ArrayLike<number> | null = null;
    // A copy: decoded bytes are views into the file buffer (and Buffer.slice does not copy).
    const raw = t.rawData && t.rawData.length > 0 ? new Uint8Array(t.rawData) : null;
    if (dtype === 'F32') data = raw ? new Float32Array(raw.buffer, 0, raw.length >> 2) : (t.floatData ?? null);
    else if (dtype === 'F64') data = raw ? new Float64Array(raw.buffer, 0, raw.length >> 3) : (t.doubleData ?? null);
    if (t.name) out.set(t.name, { dtype, shape, data });
  }
  return out;
}

function readSafe(path: string): Map<string, Found> {
  const out = new Map<string, Found>();
  for (const [name, t] of readSafetensors(path).tensors) {
    out.set(name, { dtype: t.dtype, shape: t.shape, data: t.dtype === 'F32' || t.dtype === 'F64' ? (t.data as FloatArray) : null });
  }
  return out;
}

/** Load every expected parameter from `path`, or throw one UsageError listing all mismatches. */
export function loadPretrained(path: string, expected: { name: string; shape: number[] }[], dtype: FloatDType): Record<string, FloatArray> {
  const found = path.toLowerCase().endsWith('.onnx') ? readOnnx(path) : readSafe(path);
  return matchWeights(found, expected, dtype, path);
}

export function matchWeights(found: Map<string, Found>, expected: { name: string; shape: number[] }[], dtype: FloatDType, source: string): Record<string, FloatArray> {
  const problems: string[] = [];
  const out: Record<string, FloatArray> = {};
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  for (const p of expected) {
    const f = found.get(p.name);
    if (!f) {
      problems.push(`missing '${p.name}'`);
      continue;
    }
    const shapeOk = f.shape.length === p.shape.length && f.shape.every((d, i) => d === p.shape[i]);
    if (!shapeOk) problems.push(`'${p.name}' has shape [${f.shape}], expected [${p.shape}]`);
    if (f.dtype !== 'F32' && f.dtype !== 'F64') problems.push(`'${p.name}' has dtype ${f.dtype}, expected F32 or F64`);
    else if (shapeOk) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (!f.data || f.data.length !== n) problems.push(`'${p.name}' has ${f.data?.length ?? 0} values, expected ${n}`);
      else out[p.name] = Arr.from(f.data);
    }
  }
  if (problems.length) throw new UsageError(`${source} does not fit the model: ${problems.join('; ')}`);
  return out;
}
