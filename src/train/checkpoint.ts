/**
 * Checkpoints: one safetensors file holding the parameters (under their own names, so
 * a checkpoint also serves as pretrained weights), the optimizer state
 * (`state/<slot>/<param>`), and in the metadata the model (kind + config), the run
 * configuration (loss, optimizer, dtype, batch size, schedule, ...) and the counters
 * (step, epoch, batch within the epoch, shuffle seed, dataset size) that make a
 * resumed run bit-identical to an uninterrupted one.
 */
import type { FloatArray, FloatDType } from '../graph/dtype.js';
import { UsageError } from '../errors.js';
import type { RunConfig } from './config.js';
import type { Counters } from './protocol.js';
import { type SafeTensor, readSafetensors, writeSafetensors } from './safetensors.js';

export const FORMAT = 'rsft-checkpoint';
export const VERSION = '1';

export interface Checkpoint {
  model: { kind: string; config: unknown };
  run: RunConfig;
  counters: Counters;
  tensors: Map<string, SafeTensor>;
}

const sdt = (d: FloatDType) => (d === 'float32' ? 'F32' : 'F64');

export function writeCheckpoint(
  path: string,
  model: { kind: string; config: unknown },
  run: RunConfig,
  counters: Counters,
  params: { name: string; shape: number[]; data: FloatArray }[],
  state: { name: string; shape: number[]; data: FloatArray }[],
): void {
  const tensors: [string, SafeTensor][] = [...params, ...state].map((t) => [t.name, { dtype: sdt(run.dtype), shape: t.shape, data: t.data }]);
  writeSafetensors(path, tensors, {
    format: FORMAT,
    version: VERSION,
    model: JSON.stringify({ kind: model.kind, config: model.config }),
    run: JSON.stringify(run),
    counters: JSON.stringify(counters),
  });
}

export function readCheckpoint(path: string): Checkpoint {
  const f = readSafetensors(path);
  const md = f.metadata;
  if (md.format !== FORMAT) throw new UsageError(`${path} is not an rsft checkpoint (no '${FORMAT}' metadata); to load weights only, pass it as pretrained`);
  if (md.version !== VERSION) throw new UsageError(`${path}: unsupported checkpoint version '${md.version}' (this rsft reads version ${VERSION})`);
  const parse = (k: string) => {
    try {
      return JSON.parse(md[k] ?? '');
    } catch {
      throw new UsageError(`${path}: corrupt checkpoint metadata '${k}'`);
    }
  };
  const model = parse('model'), run = parse('run') as RunConfig, counters = parse('counters') as Counters;
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const countOrNull = (v: unknown) => v === null || count(v);
  if (
    !model || typeof model.kind !== 'string' || !run || typeof run !== 'object' || !counters ||
    !count(counters.step) || !count(counters.epoch) || !count(counters.batchInEpoch) ||
    !countOrNull(counters.shuffleSeed) || !countOrNull(counters.datasetSize)
  ) {
    throw new UsageError(`${path}: corrupt checkpoint metadata`);
  }
  return { model, run, counters, tensors: f.tensors };
}
