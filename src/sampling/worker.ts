/**
 * Piscina worker: runs one block of a sampling job and writes the accepted rows into the shared
 * slot the main thread handed over (slots are reused across blocks and calls, so no fresh pages
 * are touched per block). Returns the block's stats.
 */
import { kernelByName } from './kernel.js';
import { importLogDensity, type LogDensityFn } from './resolve.js';

export interface BlockTask {
  kernel: 'native' | 'js';
  job: Float64Array;
  seed: number;
  /** first block; the task runs blocks block .. block + count - 1 */
  block: number;
  count: number;
  nProposals: number;
  d: number;
  slot: SharedArrayBuffer;
  external: { url: string; exportName: string } | null;
}

const fns = new Map<string, LogDensityFn>();
let scratch: { xs: Float64Array; logq: Float64Array; logp: Float64Array } | null = null;

function buffers(n: number, d: number) {
  if (!scratch || scratch.logq.length !== n || scratch.xs.length !== n * d) {
    scratch = { xs: new Float64Array(n * d), logq: new Float64Array(n), logp: new Float64Array(n) };
  }
  return scratch;
}

/** Runs the task's blocks in order; block i's rows go to region i of the slot. */
export default async function runBlocks(task: BlockTask): Promise<Float64Array> {
  const kernel = kernelByName(task.kernel);
  const per = task.nProposals * task.d;
  const stats = new Float64Array(5 * task.count);
  let fn: LogDensityFn | null = null;
  if (task.external) {
    const key = `${task.external.url}#${task.external.exportName}`;
    fn = fns.get(key) ?? null;
    if (!fn) {
      fn = await importLogDensity(task.external.url, task.external.exportName);
      fns.set(key, fn);
    }
  }
  for (let i = 0; i < task.count; i++) {
    const block = task.block + i;
    const out = new Float64Array(task.slot, i * per * 8, per);
    let st: Float64Array;
    if (!fn) {
      st = kernel.sampleBlock(task.job, task.seed, block, task.nProposals, out);
    } else {
      const { xs, logq, logp } = buffers(task.nProposals, task.d);
      kernel.proposeBlock(task.job, task.seed, block, task.nProposals, xs, logq);
      fn(xs, logp, task.d);
      st = kernel.acceptBlock(task.job, task.seed, block, xs, logq, logp, out);
    }
    stats.set(st, 5 * i);
  }
  return stats;
}
