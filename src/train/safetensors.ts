/**
 * The safetensors format (https://github.com/huggingface/safetensors):
 *
 *   u64 little-endian N | N bytes of JSON header | data
 *
 * header = { "<tensor name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] },
 *            ..., "__metadata__": { "<key>": "<string value>" } }
 * with offsets relative to the start of the data, tensors packed back to back without
 * holes. The writer pads the header with spaces so the data starts at a multiple of 8
 * (every element then sits at its natural alignment). Hosts are assumed little-endian
 * (x86, arm64), as the format's data is.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic, fsReason } from '../io/atomic-file.js';
import { UsageError } from '../errors.js';

export type SafeDType = 'F32' | 'F64' | 'I64' | 'I32';
export type SafeData = Float32Array | Float64Array | BigInt64Array | Int32Array;

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: SafeData;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<SafeDType, number> = { F32: 4, F64: 8, I64: 8, I32: 4 };
const ARRAY = { F32: Float32Array, F64: Float64Array, I64: BigInt64Array, I32: Int32Array } as const;

export function dtypeOf(data: SafeData): SafeDType {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int32Array) return 'I32';
  throw new Error('safetensors: unsupported array type');
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Serialize tensors (in the given order) and string metadata. */
export function encodeSafetensors(tensors: Iterable<[string, SafeTensor]>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const parts: SafeData[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new Error("safetensors: '__metadata__' is not a tensor name");
    if (dtypeOf(t.data) !== t.dtype) throw new Error(`safetensors: tensor '${name}' data is not ${t.dtype}`);
    if (numel(t.shape) !== t.data.length) throw new Error(`safetensors: tensor '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
    parts.push(t.data);
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hb = enc.encode(json);
  const pad = (8 - (hb.length % 8)) % 8;
  if (pad) hb = enc.encode(json + ' '.repeat(pad));
  const out = new Uint8Array(8 + hb.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let p = 8 + hb.length;
  for (const d of parts) {
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}

/** Write a safetensors file atomically (temporary file + rename). */
export function writeSafetensors(path: string, tensors: Iterable<[string, SafeTensor]>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, () => encodeSafetensors(tensors, metadata));
}

/** Parse safetensors bytes; `source` names the file in error messages. Errors are UsageErrors. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  const bad = (why: string) => new UsageError(`${source} is not a valid safetensors file: ${why}`);
  if (bytes.length < 8) throw bad(`${bytes.length} bytes, too short for the 8-byte header length (truncated?)`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) throw bad(`header length ${n} exceeds the ${bytes.length - 8} bytes after it (truncated?)`);
  const hlen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + hlen)));
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw bad('header is not a JSON object');
  const data = bytes.subarray(8 + hlen);
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafeTensor>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw bad(`__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== 'object') throw bad(`entry '${name}' is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in BYTES)) throw bad(`tensor '${name}' has dtype ${JSON.stringify(e.dtype)} (supported: F32, F64, I64, I32)`);
    const dtype = e.dtype as SafeDType;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`tensor '${name}' has an invalid shape ${JSON.stringify(e.shape)}`);
    const shape = e.shape as number[];
    const o = e.data_offsets;
    if (!Array.isArray(o) || o.length !== 2 || !o.every((d) => Number.isSafeInteger(d) && d >= 0) || o[0] > o[1]) {
      throw bad(`tensor '${name}' has invalid data_offsets ${JSON.stringify(o)}`);
    }
    const [begin, end] = o as [number, number];
    if (end > data.length) throw bad(`tensor '${name}' data_offsets [${begin}, ${end}] exceed the ${data.length} data bytes (truncated?)`);
    if (end - begin !== numel(shape) * BYTES[dtype]) throw bad(`tensor '${name}' has ${end - begin} bytes for ${dtype}[${shape}] (${numel(shape) * BYTES[dtype]} expected)`);
    // Copy into a fresh, aligned buffer: the file's data may sit at any offset.
    const buf = new ArrayBuffer(end - begin);
    new Uint8Array(buf).set(data.subarray(begin, end));
    tensors.set(name, { dtype, shape, data: new ARRAY[dtype](buf) });
  }
  return { tensors, metadata };
}

/** Read a safetensors file; unreadable or corrupt files give a one-line UsageError. */
export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${fsReason(e)}`);
  }
  return decodeSafetensors(bytes, path);
}
