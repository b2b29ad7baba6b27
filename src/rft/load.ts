/**
 * Loading datasets for the classifier pipeline: CSV with a header, .npy (features [n, d] and
 * labels [n] in a second file), JSONL (one object per line). Every problem is a one-line
 * UsageError naming the file (and the line and column for cell-level problems).
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { readNpy } from '../io/npy-read.js';
import type { Dataset } from './types.js';
import { fsReason } from '../io/atomic-file.js';

export interface DataFileSpec {
  path: string;
  /** CSV / JSONL: the label column. */
  label?: string;
  /** .npy: the labels file ([n] integers). */
  labels?: string;
}

export interface LoadOptions {
  /** Labels are required (source, test, targetLabeled) or not read (target). */
  labeled: boolean;
  /** Columns kept aside as `extra` (not features), e.g. a user weight column. Required when listed. */
  keep?: string[];
  /** Columns dropped if present (e.g. the source's label column in the unlabeled target file). */
  ignore?: string[];
}

export type Format = 'csv' | 'npy' | 'jsonl';

export function formatOf(path: string): Format {
  const p = path.toLowerCase();
  if (p.endsWith('.csv')) return 'csv';
  if (p.endsWith('.npy')) return 'npy';
  if (p.endsWith('.jsonl') || p.endsWith('.ndjson')) return 'jsonl';
  throw new UsageError(`${path}: unknown data format (expected .csv, .npy or .jsonl)`);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${fsReason(e)}`);
  }
}

function checkLabel(v: number, path: string, where: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new UsageError(`${path}: ${where}: label ${v} is not a non-negative integer`);
  return v;
}

/** Split one CSV line (RFC 4180 quotes supported, no embedded newlines). */
function splitCsv(line: string): string[] {
  if (!line.includes('"')) return line.split(',').map((s) => s.trim());
  const out: string[] = [];
  let cur = '', q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') { out.push(cur.trim()); cur = ''; }
    else cur += c;
  }
  out.push(cur.trim());
  return out;
}

function parseCell(cell: string, path: string, line: number, col: string): number {
  const v = cell === '' ? NaN : Number(cell);
  if (Number.isNaN(v)) {
    if (/^[+-]?nan$/i.test(cell)) throw new UsageError(`${path}: line ${line}, column '${col}': NaN value`);
    throw new UsageError(`${path}: line ${line}, column '${col}': ${cell === '' ? 'empty cell' : `'${cell.slice(0, 40)}' is not a number`}`);
  }
  if (!Number.isFinite(v)) throw new UsageError(`${path}: line ${line}, column '${col}': infinite value`);
  return v;
}

/** Split header columns into features, label, kept and ignored. */
function layout(path: string, cols: string[], spec: DataFileSpec, opts: LoadOptions) {
  const dup = cols.find((c, i) => cols.indexOf(c) !== i);
  if (dup !== undefined) throw new UsageError(`${path}: column '${dup}' appears twice in the header`);
  let labelIdx = -1;
  if (opts.labeled) {
    const label = spec.label ?? 'label';
    labelIdx = cols.indexOf(label);
    if (labelIdx < 0) throw new UsageError(`${path}: no label column '${label}' (columns: ${cols.slice(0, 8).join(', ')}${cols.length > 8 ? ', ...' : ''})`);
  }
  const keepIdx: number[] = [];
  for (const k of opts.keep ?? []) {
    const i = cols.indexOf(k);
    if (i < 0) throw new UsageError(`${path}: no column '${k}'`);
    keepIdx.push(i);
  }
  const skip = new Set<number>([labelIdx, ...keepIdx]);
  for (const c of opts.ignore ?? []) if (cols.includes(c)) skip.add(cols.indexOf(c));
  const featIdx = cols.map((_, i) => i).filter((i) => !skip.has(i));
  if (featIdx.length === 0) throw new UsageError(`${path}: no feature columns`);
  return { labelIdx, keepIdx, featIdx };
}

function loadCsv(spec: DataFileSpec, opts: LoadOptions): Dataset {
  const path = spec.path;
  const lines = readText(path).split(/\r?\n/);
  let h = 0;
  while (h < lines.length && lines[h].trim() === '') h++;
  if (h >= lines.length) throw new UsageError(`${path}: empty file (expected a header line)`);
  const cols = splitCsv(lines[h]);
  const { labelIdx, keepIdx, featIdx } = layout(path, cols, spec, opts);
  const d = featIdx.length;
  const rows: number[][] = [];
  const labels: number[] = [];
  const kept: number[][] = keepIdx.map(() => []);
  for (let i = h + 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const cells = splitCsv(line);
    if (cells.length !== cols.length) throw new UsageError(`${path}: line ${i + 1} has ${cells.length} cells, the header has ${cols.length}`);
    const row = new Array<number>(d);
    for (let j = 0; j < d; j++) row[j] = parseCell(cells[featIdx[j]], path, i + 1, cols[featIdx[j]]);
    rows.push(row);
    if (labelIdx >= 0) labels.push(checkLabel(parseCell(cells[labelIdx], path, i + 1, cols[labelIdx]), path, `line ${i + 1}`));
    keepIdx.forEach((k, j) => kept[j].push(parseCell(cells[k], path, i + 1, cols[k])));
  }
  return assemble(rows, d, featIdx.map((j) => cols[j]), labelIdx >= 0 ? labels : null, opts.keep ?? [], kept);
}

function loadJsonl(spec: DataFileSpec, opts: LoadOptions): Dataset {
  const path = spec.path;
  const lines = readText(path).split(/\r?\n/);
  let cols: string[] | null = null;
  let lay: ReturnType<typeof layout> | null = null;
  const rows: number[][] = [];
  const labels: number[] = [];
  const kept: number[][] = (opts.keep ?? []).map(() => []);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(lines[i]);
    } catch {
      throw new UsageError(`${path}: line ${i + 1} is not valid JSON`);
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new UsageError(`${path}: line ${i + 1} is not a JSON object`);
    const rec = obj as Record<string, unknown>;
    if (!cols) {
      cols = Object.keys(rec);
      lay = layout(path, cols, spec, opts);
    }
    const keys = Object.keys(rec);
    const missing = cols.find((c) => !(c in rec));
    if (missing !== undefined) throw new UsageError(`${path}: line ${i + 1}: field '${missing}' is missing`);
    const extra = keys.find((k) => !cols!.includes(k));
    if (extra !== undefined) throw new UsageError(`${path}: line ${i + 1}: field '${extra}' is not in the first line`);
    const num = (k: string): number => {
      const v = rec[k];
      if (typeof v === 'number') return v;
      if (v === null) throw new UsageError(`${path}: line ${i + 1}, field '${k}': null (NaN?) value`);
      return parseCell(String(v), path, i + 1, k);
    };
    const { labelIdx, keepIdx, featIdx } = lay!;
    rows.push(featIdx.map((j) => num(cols![j])));
    if (labelIdx >= 0) labels.push(checkLabel(num(cols[labelIdx]), path, `line ${i + 1}`));
    keepIdx.forEach((k, j) => kept[j].push(num(cols![k])));
  }
  if (!cols || !lay) return { x: new Float32Array(0), n: 0, d: 0, ...(opts.labeled ? { y: new Int32Array(0) } : {}) };
  return assemble(rows, lay.featIdx.length, lay.featIdx.map((j) => cols![j]), lay.labelIdx >= 0 ? labels : null, opts.keep ?? [], kept);
}

function assemble(rows: number[][], d: number, names: string[], labels: number[] | null, keep: string[], kept: number[][]): Dataset {
  const n = rows.length;
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) x.set(rows[i], i * d);
  const ds: Dataset = { x, n, d, names };
  if (labels) ds.y = Int32Array.from(labels);
  if (keep.length) ds.extra = Object.fromEntries(keep.map((k, j) => [k, Float64Array.from(kept[j])]));
  return ds;
}

function loadNpy(spec: DataFileSpec, opts: LoadOptions): Dataset {
  const path = spec.path;
  if (opts.keep?.length) throw new UsageError(`${path}: a weight column needs CSV or JSONL data (.npy has no named columns)`);
  const a = readNpyChecked(path);
  if (a.shape.length !== 2) throw new UsageError(`${path}: features must have shape [n, d], got [${a.shape.join(', ')}]`);
  const [n, d] = a.shape;
  if (d === 0) throw new UsageError(`${path}: no feature columns`);
  if (typeof a.data[0] === 'bigint' || a.dtype === 'bool') throw new UsageError(`${path}: features must be a float or small-integer array, got ${a.dtype}`);
  const x = Float32Array.from(a.data as ArrayLike<number>);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new UsageError(`${path}: row ${Math.floor(i / d)}, column ${i % d}: ${Number.isNaN(x[i]) ? 'NaN' : 'infinite'} value`);
  }
  const ds: Dataset = { x, n, d, names: Array.from({ length: d }, (_, j) => `x${j}`) };
  if (opts.labeled) {
    if (!spec.labels) throw new UsageError(`${path}: .npy data needs a labels file ('labels: y.npy')`);
    const l = readNpyChecked(spec.labels);
    if (l.shape.length !== 1 || l.shape[0] !== n) throw new UsageError(`${spec.labels}: labels must have shape [${n}], got [${l.shape.join(', ')}]`);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) y[i] = checkLabel(Number(l.data[i]), spec.labels, `row ${i}`);
    ds.y = y;
  }
  return ds;
}

function readNpyChecked(path: string) {
  try {
    return readNpy(path);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${path}: ${fsReason(e)}`);
  }
}

/** Load one data file. */
export function loadDataset(spec: DataFileSpec, opts: LoadOptions): Dataset {
  const f = formatOf(spec.path);
  if (f === 'csv') return loadCsv(spec, opts);
  if (f === 'jsonl') return loadJsonl(spec, opts);
  return loadNpy(spec, opts);
}

/**
 * Cross-file checks: same feature count (and names, when both have names) as the source,
 * a non-empty source and target, labels of test / targetLabeled within the source classes.
 * Returns the number of classes (max source label + 1, at least 2).
 */
export function checkDatasets(data: Record<string, { ds: Dataset; path: string } | undefined>, sourceKey = 'source'): number {
  const src = data[sourceKey];
  if (!src) throw new UsageError('no source data');
  if (src.ds.n === 0) throw new UsageError(`${src.path}: the source set is empty`);
  let classes = 2;
  for (const v of src.ds.y ?? []) classes = Math.max(classes, v + 1);
  for (const [key, e] of Object.entries(data)) {
    if (!e || key === sourceKey) continue;
    if (e.ds.n === 0) throw new UsageError(`${e.path}: the ${key} set is empty`);
    if (e.ds.d !== src.ds.d) throw new UsageError(`${e.path}: ${e.ds.d} features, but the source ${src.path} has ${src.ds.d}`);
    const a = src.ds.names, b = e.ds.names;
    if (a && b && a.join('\u0000') !== b.join('\u0000') && !(isGenerated(a) || isGenerated(b))) {
      const j = a.findIndex((n, i) => n !== b[i]);
      throw new UsageError(`${e.path}: feature column ${j + 1} is '${b[j]}', but in the source ${src.path} it is '${a[j]}'`);
    }
    if (e.ds.y) {
      for (let i = 0; i < e.ds.n; i++) {
        if (e.ds.y[i] >= classes) throw new UsageError(`${e.path}: row ${i + 1} has label ${e.ds.y[i]}, but the source has classes 0..${classes - 1}`);
      }
    }
  }
  return classes;
}

function isGenerated(names: string[]): boolean {
  return names.every((n, i) => n === `x${i}`);
}
