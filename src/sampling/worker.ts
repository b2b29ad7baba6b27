/**
 * Piscina worker: one task per worker per pooled run. It claims blocks from the run's shared
 * ring (ring.ts) until none is left below the claim limit, writing each block's accepted rows
 * and stats into the block's ring slot. Returns how many blocks it ran.
 */
import { kernelByName } from './kernel.js';
import { importLogDensity, type LogDensityFn } from './resolve.js';
import { claimBlock, publishBlock, STATS } from './ring.js';
import { blockRunner } from './block.js';

export interface ClaimTask {
  kernel: 'native' | 'js';
  job: Float64Array;
  seed: number;
  nProposals: number;
  d: number;
  slots: number;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  rows: SharedArrayBuffer;
  external: { url: string; exportName: string } | null;
}

const fns = new Map<string, LogDensityFn>();

async function externalFn(ext: NonNullable<ClaimTask['external']>): Promise<LogDensityFn> {
  const key = `${ext.url}#${ext.exportName}`;
  let fn = fns.get(key);
  if (!fn) {
    fn = await importLogDensity(ext.url, ext.exportName);
    fns.set(key, fn);
  }
  return fn;
}

export default async function claimBlocks(task: ClaimTask): Promise<number> {
  const fn = task.external ? await externalFn(task.external) : null;
  const run = blockRunner(kernelByName(task.kernel), task.job, task.seed, task.nProposals, task.d, fn);
  const ctl = new Int32Array(task.ctl);
  const stats = new Float64Array(task.stats);
  const per = task.nProposals * task.d;
  let ran = 0;
  for (let b = claimBlock(ctl); b >= 0; b = claimBlock(ctl), ran++) {
    const s = b % task.slots;
    stats.set(run(b, new Float64Array(task.rows, s * per * 8, per)), s * STATS);
    publishBlock(ctl, task.slots, b);
  }
  return ran;
}
