/**
 * Sample files by extension: .npy (NumPy format 1.0, little-endian float64, shape (n,) or
 * (n, d)), .csv (header x or x0..x{d-1}, shortest round-trip decimals), .f64 (raw little-endian
 * float64, row-major). Written atomically.
 */
import { endianness } from 'node:os';
import { extname } from 'node:path';
import { UsageError } from '../errors.js';
import { AtomicFile } from './atomic-file.js';

export type SampleFormat = 'npy' | 'csv' | 'f64';

export function formatFromPath(path: string): SampleFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.npy') return 'npy';
  if (ext === '.csv') return 'csv';
  if (ext === '.f64' || ext === '.bin') return 'f64';
  throw new UsageError(`output ${path}: unknown format '${ext || '(none)'}'; use .npy, .csv or .f64`);
}

export function npyHeader(shape: readonly number[]): Uint8Array {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '<f8', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // magic(6) + version(2) + header length(2) + dict + '\n' must be a multiple of 64.
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const buf = new Uint8Array(total);
  buf.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  buf[8] = dict.length & 0xff;
  buf[9] = dict.length >> 8;
  for (let i = 0; i < dict.length; i++) buf[10 + i] = dict.charCodeAt(i);
  return buf;
}

function littleEndianBytes(data: Float64Array): Uint8Array {
  if (endianness() === 'LE') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat64(i * 8, data[i], true);
  return out;
}

/** A sample file being written: the destination was checked when it was opened. */
export interface SampleFile {
  format: SampleFormat;
  /** Writes the whole file without blocking the event loop (signals are seen between pieces) and renames it into place. */
  write(data: Float64Array, d: number): Promise<void>;
  /** The same, synchronously. */
  writeSync(data: Float64Array, d: number): void;
  abort(): void;
}

/**
 * Checks the destination now (an unwritable path fails fast, before any sampling); the
 * temporary file is created only when the write starts.
 */
export function openSampleFile(path: string): SampleFile {
  const format = formatFromPath(path);
  const file = AtomicFile.open(path);
  return {
    format,
    async write(data: Float64Array, d: number) {
      try {
        for (const piece of body(format, data, d)) await file.writeAsync(piece);
        file.commit();
      } catch (e) {
        file.abort();
        throw e;
      }
    },
    writeSync(data: Float64Array, d: number) {
      try {
        for (const piece of body(format, data, d)) file.write(piece);
        file.commit();
      } catch (e) {
        file.abort();
        throw e;
      }
    },
    abort: () => file.abort(),
  };
}

/** The file's bytes, in pieces of a few MiB at most. */
function* body(format: SampleFormat, data: Float64Array, d: number): Generator<Uint8Array | string> {
  const n = data.length / d;
  if (format === 'npy' || format === 'f64') {
    if (format === 'npy') yield npyHeader(d === 1 ? [n] : [n, d]);
    const bytes = littleEndianBytes(data);
    const piece = 8 << 20;
    for (let off = 0; off < bytes.length; off += piece) yield bytes.subarray(off, Math.min(bytes.length, off + piece));
    return;
  }
  yield (d === 1 ? 'x' : Array.from({ length: d }, (_, k) => `x${k}`).join(',')) + '\n';
  const rowsPerChunk = Math.max(1, Math.floor(65536 / d));
  for (let r0 = 0; r0 < n; r0 += rowsPerChunk) {
    const parts: string[] = [];
    const r1 = Math.min(n, r0 + rowsPerChunk);
    for (let r = r0; r < r1; r++) {
      if (d === 1) parts.push(String(data[r]));
      else {
        let line = String(data[r * d]);
        for (let k = 1; k < d; k++) line += ',' + String(data[r * d + k]);
        parts.push(line);
      }
    }
    yield parts.join('\n') + '\n';
  }
}

/** Write samples to path (format from the extension), atomically. */
export function writeSamples(path: string, data: Float64Array, d = 1): void {
  openSampleFile(path).writeSync(data, d);
}
