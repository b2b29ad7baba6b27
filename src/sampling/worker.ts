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
  block: number;
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

export default async function runBlock(task: BlockTask): Promise<Float64Array> {
  const kernel = kernelByName(task.kernel);
  const out = new Float64Array(task.slot, 0, task.nProposals * task.d);
  if (!task.external) {
    return kernel.sampleBlock(task.job, task.seed, task.block, task.nProposals, out);
  }
  const key = `${task.external.url}#${task.external.exportName}`;
  let fn = fns.get(key);
  if (!fn) {
    fn = await importLogDensity(task.external.url, task.external.exportName);
    fns.set(key, fn);
  }
  const { xs, logq, logp } = buffers(task.nProposals, task.d);
  kernel.proposeBlock(task.job, task.seed, task.block, task.nProposals, xs, logq);
  fn(xs, logp, task.d);
  return kernel.acceptBlock(task.job, task.seed, task.block, xs, logq, logp, out);
}
