/**
 * NumPy .npy files: read format versions 1.0, 2.0 and 3.0 (C order, little-endian or
 * byte-order-free numeric dtypes) into typed arrays, and write float32 / float64 / integer
 * arrays atomically. Anything else — Fortran order, big-endian data, object, string, structured
 * or float16 dtypes, truncated or padded files — is a UsageError naming the file and the problem.
 *
 * Format (numpy.lib.format): magic "\x93NUMPY", major, minor, header length (uint16 LE for 1.0,
 * uint32 LE for 2.0 / 3.0), then a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), } padded with spaces and a final
 * '\n' so that the data starts on a 64-byte boundary, then the raw elements.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from './atomic-file.js';

export type NpyDType =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  /** Elements in C (row-major) order. bool arrays are Uint8Array of 0 / 1. */
  data: NpyData;
}

interface DTypeInfo {
  dtype: NpyDType;
  size: number;
  make(buf: ArrayBuffer, offset: number, length: number): NpyData;
  alloc(length: number): NpyData;
}

const DTYPES: Record<string, DTypeInfo> = {
  f4: { dtype: 'float32', size: 4, make: (b, o, n) => new Float32Array(b, o, n), alloc: (n) => new Float32Array(n) },
  f8: { dtype: 'float64', size: 8, make: (b, o, n) => new Float64Array(b, o, n), alloc: (n) => new Float64Array(n) },
  i1: { dtype: 'int8', size: 1, make: (b, o, n) => new Int8Array(b, o, n), alloc: (n) => new Int8Array(n) },
  i2: { dtype: 'int16', size: 2, make: (b, o, n) => new Int16Array(b, o, n), alloc: (n) => new Int16Array(n) },
  i4: { dtype: 'int32', size: 4, make: (b, o, n) => new Int32Array(b, o, n), alloc: (n) => new Int32Array(n) },
  i8: { dtype: 'int64', size: 8, make: (b, o, n) => new BigInt64Array(b, o, n), alloc: (n) => new BigInt64Array(n) },
  u1: { dtype: 'uint8', size: 1, make: (b, o, n) => new Uint8Array(b, o, n), alloc: (n) => new Uint8Array(n) },
  u2: { dtype: 'uint16', size: 2, make: (b, o, n) => new Uint16Array(b, o, n), alloc: (n) => new Uint16Array(n) },
  u4: { dtype: 'uint32', size: 4, make: (b, o, n) => new Uint32Array(b, o, n), alloc: (n) => new Uint32Array(n) },
  u8: { dtype: 'uint64', size: 8, make: (b, o, n) => new BigUint64Array(b, o, n), alloc: (n) => new BigUint64Array(n) },
  b1: { dtype: 'bool', size: 1, make: (b, o, n) => new Uint8Array(b, o, n), alloc: (n) => new Uint8Array(n) },
};

const DESCR_OF: Record<NpyDType, string> = {
  float32: '<f4',
  float64: '<f8',
  int8: '|i1',
  int16: '<i2',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  uint16: '<u2',
  uint32: '<u4',
  uint64: '<u8',
  bool: '|b1',
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

// ---------------------------------------------------------------------------------------------
// A tiny parser for the Python literals numpy writes in the header: dicts, tuples, lists,
// strings, ints, True / False / None. Anything else is a malformed header.

type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

class HeaderParser {
  private i = 0;
  constructor(private readonly s: string) {}

  parseAll(): PyValue {
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) throw new Error(`unexpected '${this.s[this.i]}' at offset ${this.i}`);
    return v;
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }

  private value(): PyValue {
    this.ws();
    const c = this.s[this.i];
    if (c === undefined) throw new Error('unexpected end');
    if (c === '{') return this.dict();
    if (c === '(' || c === '[') return this.seq(c === '(' ? ')' : ']');
    if (c === "'" || c === '"') return this.str();
    const m = /^(-?\d+)L?|^(True|False|None)\b/.exec(this.s.slice(this.i));
    if (!m) throw new Error(`unexpected '${c}' at offset ${this.i}`);
    this.i += m[0].length;
    if (m[1] !== undefined) return Number(m[1]);
    return m[2] === 'True' ? true : m[2] === 'False' ? false : null;
  }

  private str(): string {
    const q = this.s[this.i++];
    let out = '';
    while (this.i < this.s.length && this.s[this.i] !== q) {
      if (this.s[this.i] === '\\') this.i++;
      out += this.s[this.i++];
    }
    if (this.i >= this.s.length) throw new Error('unterminated string');
    this.i++;
    return out;
  }

  private seq(close: string): PyValue[] {
    this.i++;
    const out: PyValue[] = [];
    for (;;) {
      this.ws();
      if (this.s[this.i] === close) {
        this.i++;
        return out;
      }
      out.push(this.value());
      this.ws();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== close) throw new Error(`expected ',' or '${close}' at offset ${this.i}`);
    }
  }

  private dict(): { [k: string]: PyValue } {
    this.i++;
    const out: { [k: string]: PyValue } = {};
    for (;;) {
      this.ws();
      if (this.s[this.i] === '}') {
        this.i++;
        return out;
      }
      const k = this.value();
      if (typeof k !== 'string') throw new Error('dict keys must be strings');
      this.ws();
      if (this.s[this.i++] !== ':') throw new Error(`expected ':' at offset ${this.i - 1}`);
      out[k] = this.value();
      this.ws();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== '}') throw new Error(`expected ',' or '}' at offset ${this.i}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

function describeDescr(descr: string): string {
  const kind = descr.replace(/^[<>|=]/, '');
  if (kind === 'O') return 'object arrays (pickled Python objects) are not supported';
  if (/^[US]\d*$/.test(kind)) return `string dtype '${descr}' is not supported`;
  if (/^f2$/.test(kind)) return "float16 ('<f2') is not supported; save with .astype(np.float32)";
  if (/^c\d+$/.test(kind)) return `complex dtype '${descr}' is not supported`;
  if (/^[mM]8/.test(kind)) return `datetime dtype '${descr}' is not supported`;
  return `unsupported dtype '${descr}'`;
}

/** Parse an .npy file held in memory. `name` is used in error messages. */
export function parseNpy(bytes: Uint8Array, name = '<buffer>'): NpyArray {
  const fail = (msg: string): never => {
    throw new UsageError(`${name}: ${msg}`);
  };
  if (bytes.length < 10 || !MAGIC.every((b, k) => bytes[k] === b)) {
    if (bytes.length < 10 && MAGIC.slice(0, bytes.length).every((b, k) => bytes[k] === b) && bytes.length > 0) fail('truncated .npy file (incomplete header)');
    fail('not a .npy file (missing \\x93NUMPY magic)');
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) fail(`unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let hlen: number;
  let hstart: number;
  if (major === 1) {
    hlen = view.getUint16(8, true);
    hstart = 10;
  } else {
    if (bytes.length < 12) fail('truncated .npy file (incomplete header)');
    hlen = view.getUint32(8, true);
    hstart = 12;
  }
  const dataStart = hstart + hlen;
  if (dataStart > bytes.length) fail(`truncated .npy file (header says ${hlen} bytes, file has ${bytes.length - hstart} after the preamble)`);
  const headerBytes = bytes.subarray(hstart, dataStart);
  const headerText = major === 3 ? new TextDecoder('utf-8').decode(headerBytes) : Buffer.from(headerBytes).toString('latin1');

  let header: PyValue;
  try {
    header = new HeaderParser(headerText).parseAll();
  } catch (e) {
    return fail(`malformed .npy header (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) return fail('malformed .npy header (not a dict)');
  const { descr, fortran_order: fortran, shape } = header;
  if (descr === undefined || fortran === undefined || shape === undefined) fail("malformed .npy header (needs 'descr', 'fortran_order' and 'shape')");
  if (typeof descr !== 'string') return fail('structured (record) dtypes are not supported');
  if (typeof fortran !== 'boolean') fail("malformed .npy header ('fortran_order' is not True/False)");
  if (fortran) fail('Fortran-order arrays are not supported; save with np.save(path, np.ascontiguousarray(a))');
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    return fail("malformed .npy header ('shape' is not a tuple of non-negative integers)");
  }
  const dims = shape as number[];

  const order = descr[0];
  const kind = /^[<>|=]/.test(descr) ? descr.slice(1) : descr;
  const info = DTYPES[kind];
  if (!info) return fail(describeDescr(descr));
  if (order === '>' && info.size > 1) fail(`big-endian dtype '${descr}' is not supported; save with .astype('${'<' + kind}')`);
  if (order === '=' && info.size > 1 && endianness() !== 'LE') fail(`native-order dtype '${descr}' on a big-endian host is not supported`);
  if (order === '|' && info.size > 1) fail(`malformed dtype '${descr}' (multi-byte type without byte order)`);

  let count = 1;
  for (const d of dims) count *= d;
  if (!Number.isSafeInteger(count)) fail(`shape (${dims.join(', ')}) is too large`);
  const want = count * info.size;
  const have = bytes.length - dataStart;
  if (have < want) fail(`truncated .npy file (shape (${dims.join(', ')}) needs ${want} data bytes, found ${have})`);
  if (have > want) fail(`corrupt .npy file (${have - want} unexpected bytes after the data of shape (${dims.join(', ')}))`);

  const abs = bytes.byteOffset + dataStart;
  let data: NpyData;
  if (info.size > 1 && endianness() !== 'LE') {
    // Big-endian host: decode element by element.
    data = info.alloc(count);
    const dv = new DataView(bytes.buffer, abs, want);
    for (let k = 0; k < count; k++) {
      const o = k * info.size;
      switch (info.dtype) {
        case 'float32': (data as Float32Array)[k] = dv.getFloat32(o, true); break;
        case 'float64': (data as Float64Array)[k] = dv.getFloat64(o, true); break;
        case 'int16': (data as Int16Array)[k] = dv.getInt16(o, true); break;
        case 'int32': (data as Int32Array)[k] = dv.getInt32(o, true); break;
        case 'int64': (data as BigInt64Array)[k] = dv.getBigInt64(o, true); break;
        case 'uint16': (data as Uint16Array)[k] = dv.getUint16(o, true); break;
        case 'uint32': (data as Uint32Array)[k] = dv.getUint32(o, true); break;
        case 'uint64': (data as BigUint64Array)[k] = dv.getBigUint64(o, true); break;
        default: break;
      }
    }
  } else if (abs % info.size === 0) {
    data = info.make(bytes.buffer as ArrayBuffer, abs, count);
  } else {
    // Misaligned (old writers padded to 16 bytes, or a sliced buffer): copy.
    const copy = new Uint8Array(want);
    copy.set(bytes.subarray(dataStart, dataStart + want));
    data = info.make(copy.buffer, 0, count);
  }
  if (info.dtype === 'bool') {
    const u = data as Uint8Array;
    for (let k = 0; k < u.length; k++) if (u[k] > 1) fail(`corrupt bool array (byte ${u[k]} at element ${k})`);
  }
  return { dtype: info.dtype, shape: dims, data };
}

/** Read an .npy file. Errors (unreadable, malformed, unsupported) are one-line UsageErrors. */
export function readNpy(path: string): NpyArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : (err.code ?? err.message);
    throw new UsageError(`cannot read ${path}: ${why}`);
  }
  return parseNpy(bytes, path);
}

// ---------------------------------------------------------------------------------------------

function dtypeOfArray(data: NpyData): NpyDType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigUint64Array) return 'uint64';
  throw new TypeError('writeNpy: unsupported array type');
}

/** The .npy (format 1.0, or 2.0 when the header needs it) header for a C-order array. */
export function npyHeaderFor(dtype: NpyDType, shape: readonly number[]): Uint8Array {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${DESCR_OF[dtype]}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const v1 = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10 <= 65535;
  const pre = v1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  const text = dict.padEnd(total - pre - 1, ' ') + '\n';
  const buf = new Uint8Array(total);
  buf.set([...MAGIC, v1 ? 1 : 2, 0]);
  const dv = new DataView(buf.buffer);
  if (v1) dv.setUint16(8, text.length, true);
  else dv.setUint32(8, text.length, true);
  for (let k = 0; k < text.length; k++) buf[pre + k] = text.charCodeAt(k);
  return buf;
}

export interface WriteNpyOptions {
  /** Write a numpy bool array ('|b1') from a Uint8Array of 0 / 1. */
  bool?: boolean;
}

/** Serialize a typed array of the given shape (C order) as .npy bytes. */
export function encodeNpy(data: NpyData, shape: readonly number[], opts: WriteNpyOptions = {}): Uint8Array {
  const dtype = opts.bool ? 'bool' : dtypeOfArray(data);
  if (opts.bool && !(data instanceof Uint8Array)) throw new TypeError('writeNpy: bool arrays must be Uint8Array');
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`writeNpy: shape (${shape.join(', ')}) holds ${count} elements, array has ${data.length}`);
  const header = npyHeaderFor(dtype, shape);
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header);
  if (endianness() === 'LE' || data.BYTES_PER_ELEMENT === 1) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), header.length);
  } else {
    const dv = new DataView(out.buffer, header.length);
    const sz = data.BYTES_PER_ELEMENT;
    for (let k = 0; k < data.length; k++) {
      const v = data[k];
      if (data instanceof Float32Array) dv.setFloat32(k * sz, v as number, true);
      else if (data instanceof Float64Array) dv.setFloat64(k * sz, v as number, true);
      else if (data instanceof BigInt64Array) dv.setBigInt64(k * sz, v as bigint, true);
      else if (data instanceof BigUint64Array) dv.setBigUint64(k * sz, v as bigint, true);
      else if (data instanceof Int16Array) dv.setInt16(k * sz, v as number, true);
      else if (data instanceof Uint16Array) dv.setUint16(k * sz, v as number, true);
      else if (data instanceof Int32Array) dv.setInt32(k * sz, v as number, true);
      else dv.setUint32(k * sz, v as number, true);
    }
  }
  return out;
}

/** Write an .npy file atomically (temporary file renamed into place when complete). */
export function writeNpy(path: string, data: NpyData, shape: readonly number[], opts: WriteNpyOptions = {}): void {
  writeFileAtomic(path, () => encodeNpy(data, shape, opts));
}
