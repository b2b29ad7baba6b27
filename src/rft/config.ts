/**
 * The `rsft run` config file (YAML or JSON): schema validation and loading into a
 * PipelineInput. Every error is one line naming the file and the key; unknown keys are errors.
 * Relative paths (data files, pretrained model, out) are resolved against the config file's
 * folder.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import yaml from 'js-yaml';
import { UsageError } from '../errors.js';
import { checkDatasets, loadDataset, type DataFileSpec } from './load.js';
import type { Dataset, PipelineInput, RatioSpec } from './types.js';
import { fsReason } from '../io/atomic-file.js';

type Obj = Record<string, unknown>;

class Checker {
  constructor(readonly file: string) {}

  fail(key: string, msg: string): never {
    throw new UsageError(`${this.file}: '${key}' ${msg}`);
  }

  obj(v: unknown, key: string, known: string[], required: string[] = []): Obj {
    if (!v || typeof v !== 'object' || Array.isArray(v)) this.fail(key, `must be a mapping, got ${show(v)}`);
    const o = v as Obj;
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) throw new UsageError(`${this.file}: unknown key '${key ? `${key}.` : ''}${k}' (known: ${known.join(', ')})`);
    }
    for (const k of required) if (o[k] === undefined) throw new UsageError(`${this.file}: missing key '${key ? `${key}.` : ''}${k}'`);
    return o;
  }

  int(v: unknown, key: string, min: number): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.fail(key, `must be an integer >= ${min}, got ${show(v)}`);
    return v;
  }

  num(v: unknown, key: string, lo: number, hi: number, loOpen = true): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || (loOpen ? v <= lo : v < lo) || v > hi) this.fail(key, `must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${show(v)}`);
    return v;
  }

  str(v: unknown, key: string): string {
    if (typeof v !== 'string' || v === '') this.fail(key, `must be a non-empty string, got ${show(v)}`);
    return v;
  }

  oneOf<T extends string>(v: unknown, key: string, values: readonly T[]): T {
    if (typeof v !== 'string' || !values.includes(v as T)) this.fail(key, `must be one of ${values.join(', ')}, got ${show(v)}`);
    return v as T;
  }

  ints(v: unknown, key: string): number[] {
    if (!Array.isArray(v)) this.fail(key, `must be a list of positive integers, got ${show(v)}`);
    return v.map((x, i) => this.int(x, `${key}[${i}]`, 1));
  }
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

export interface RunConfigFile {
  seed: number;
  data: { source: DataFileSpec; target: DataFileSpec; test?: DataFileSpec; targetLabeled?: DataFileSpec };
  classes?: number;
  model: PipelineInput['model'];
  ratio: { method: 'classifier'; clip: number; epochs?: number; hidden?: number[] } | { method: 'column'; column: string; clip: number } | { method: 'expression'; expr: string; clip: number };
  finetune: PipelineInput['finetune'];
  pretrain?: PipelineInput['pretrain'];
  out: string;
  threads?: number;
}

/** Parse and validate the config text (YAML is a superset of JSON). Paths are resolved against `baseDir`. */
export function parseConfig(text: string, file: string, baseDir = dirname(file)): RunConfigFile {
  const c = new Checker(file);
  let raw: unknown;
  try {
    raw = yaml.load(text, { filename: file });
  } catch (e) {
    throw new UsageError(`${file}: not valid YAML/JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  const top = c.obj(raw, '', ['seed', 'data', 'classes', 'model', 'ratio', 'finetune', 'pretrain', 'out', 'threads'], ['data', 'out']);
  const p = (s: string) => resolve(baseDir, s);
  const dataObj = c.obj(top.data, 'data', ['source', 'target', 'test', 'targetLabeled'], ['source', 'target']);
  const fileSpec = (key: string, labeled: boolean): DataFileSpec | undefined => {
    const v = dataObj[key.split('.')[1]];
    if (v === undefined || v === null) return undefined;
    const o = c.obj(v, key, labeled ? ['path', 'label', 'labels'] : ['path'], ['path']);
    const spec: DataFileSpec = { path: p(c.str(o.path, `${key}.path`)) };
    if (o.label !== undefined) spec.label = c.str(o.label, `${key}.label`);
    if (o.labels !== undefined) spec.labels = p(c.str(o.labels, `${key}.labels`));
    return spec;
  };
  const data: RunConfigFile['data'] = { source: fileSpec('data.source', true)!, target: fileSpec('data.target', false)! };
  const test = fileSpec('data.test', true);
  if (test) data.test = test;
  const tl = fileSpec('data.targetLabeled', true);
  if (tl) data.targetLabeled = tl;

  const m = c.obj(top.model ?? {}, 'model', ['pretrained', 'hidden', 'activation']);
  const model: PipelineInput['model'] = {
    pretrained: m.pretrained === undefined || m.pretrained === null ? null : p(c.str(m.pretrained, 'model.pretrained')),
  };
  // (left out, they come from a pretrained model, or default to [50] and relu)
  if (m.hidden !== undefined) model.hidden = c.ints(m.hidden, 'model.hidden');
  if (m.activation !== undefined) model.activation = c.oneOf(m.activation, 'model.activation', ['relu', 'gelu', 'tanh'] as const);

  const r = c.obj(top.ratio ?? { method: 'classifier' }, 'ratio', ['method', 'clip', 'column', 'expr', 'epochs', 'hidden'], ['method']);
  const method = c.oneOf(r.method, 'ratio.method', ['classifier', 'column', 'expression'] as const);
  const clip = r.clip === undefined ? 0.99 : c.num(r.clip, 'ratio.clip', 0, 1);
  const only = (keys: string[]) => {
    for (const k of ['column', 'expr', 'epochs', 'hidden']) if (r[k] !== undefined && !keys.includes(k)) c.fail(`ratio.${k}`, `does not apply to method ${method}`);
  };
  let ratio: RunConfigFile['ratio'];
  if (method === 'classifier') {
    only(['epochs', 'hidden']);
    ratio = { method, clip };
    if (r.epochs !== undefined) ratio.epochs = c.int(r.epochs, 'ratio.epochs', 1);
    if (r.hidden !== undefined) ratio.hidden = c.ints(r.hidden, 'ratio.hidden');
  } else if (method === 'column') {
    only(['column']);
    if (r.column === undefined) throw new UsageError(`${file}: missing key 'ratio.column' (method column)`);
    ratio = { method, clip, column: c.str(r.column, 'ratio.column') };
  } else {
    only(['expr']);
    if (r.expr === undefined) throw new UsageError(`${file}: missing key 'ratio.expr' (method expression)`);
    ratio = { method, clip, expr: c.str(r.expr, 'ratio.expr') };
  }

  const f = c.obj(top.finetune ?? {}, 'finetune', ['samples', 'epochs', 'lr', 'batch', 'budget']);
  const finetune: PipelineInput['finetune'] = {
    samples: f.samples === undefined ? 20000 : c.int(f.samples, 'finetune.samples', 1),
    epochs: f.epochs === undefined ? 3 : c.int(f.epochs, 'finetune.epochs', 1),
    lr: f.lr === undefined ? 1e-3 : c.num(f.lr, 'finetune.lr', 0, 10),
    batch: f.batch === undefined ? 128 : c.int(f.batch, 'finetune.batch', 1),
  };
  if (f.budget !== undefined) finetune.budget = c.int(f.budget, 'finetune.budget', 1);

  const out: RunConfigFile = {
    seed: top.seed === undefined ? 0 : c.int(top.seed, 'seed', 0),
    data, model, ratio, finetune,
    out: p(c.str(top.out, 'out')),
  };
  if (top.classes !== undefined) out.classes = c.int(top.classes, 'classes', 2);
  if (top.threads !== undefined) out.threads = c.int(top.threads, 'threads', 1);
  if (top.pretrain !== undefined) {
    const q = c.obj(top.pretrain, 'pretrain', ['epochs', 'lr', 'batch']);
    out.pretrain = {
      epochs: q.epochs === undefined ? 5 : c.int(q.epochs, 'pretrain.epochs', 1),
      lr: q.lr === undefined ? 1e-3 : c.num(q.lr, 'pretrain.lr', 0, 10),
      batch: q.batch === undefined ? 128 : c.int(q.batch, 'pretrain.batch', 1),
    };
  }
  return out;
}

export function readConfig(path: string): RunConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read config ${path}: ${fsReason(e)}`);
  }
  return parseConfig(text, path);
}

/** Load every data file of a validated config and build the pipeline input. */
export function loadRunInput(cfg: RunConfigFile, raw: unknown): PipelineInput {
  const srcLabel = cfg.data.source.label ?? 'label';
  const keep = cfg.ratio.method === 'column' ? [cfg.ratio.column] : [];
  const source = loadDataset(cfg.data.source, { labeled: true, keep });
  const target = loadDataset(cfg.data.target, { labeled: false, ignore: [srcLabel, ...keep] });
  const test = cfg.data.test ? loadDataset(cfg.data.test, { labeled: true, ignore: keep }) : undefined;
  const targetLabeled = cfg.data.targetLabeled ? loadDataset(cfg.data.targetLabeled, { labeled: true, ignore: keep }) : undefined;
  const entry = (ds: Dataset | undefined, spec: DataFileSpec | undefined) => (ds && spec ? { ds, path: spec.path } : undefined);
  let classes = checkDatasets({
    source: entry(source, cfg.data.source), target: entry(target, cfg.data.target),
    test: entry(test, cfg.data.test), targetLabeled: entry(targetLabeled, cfg.data.targetLabeled),
  });
  if (cfg.classes !== undefined) {
    if (cfg.classes < classes) throw new UsageError(`config 'classes' is ${cfg.classes}, but ${cfg.data.source.path} has label ${classes - 1}`);
    classes = cfg.classes;
  }
  let ratio: RatioSpec;
  if (cfg.ratio.method === 'column') ratio = { method: 'column', clip: cfg.ratio.clip, weights: source.extra![cfg.ratio.column] };
  else if (cfg.ratio.method === 'expression') ratio = { method: 'expression', clip: cfg.ratio.clip, expr: cfg.ratio.expr };
  else ratio = { ...cfg.ratio };
  const data: PipelineInput['data'] = { source, target };
  if (test) data.test = test;
  if (targetLabeled) data.targetLabeled = targetLabeled;
  const input: PipelineInput = { seed: cfg.seed, data, classes, model: cfg.model, ratio, finetune: cfg.finetune, out: cfg.out, config: raw };
  if (cfg.pretrain) input.pretrain = cfg.pretrain;
  if (cfg.threads) input.threads = cfg.threads;
  return input;
}
