/**
 * The worker pool: one Piscina per thread count, created on first use and kept for later calls
 * (workers load the native module once). Idle workers are unref'd by Piscina, so an idle pool
 * does not keep the process alive; closePools() tears them down explicitly.
 */
import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { BlockTask } from './worker.js';

const pools = new Map<number, Piscina>();
const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url));

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

export function getPool(threads: number): Piscina {
  let p = pools.get(threads);
  if (!p) {
    p = new Piscina({ filename: workerFile, minThreads: threads, maxThreads: threads, idleTimeout: 30_000, concurrentTasksPerWorker: 2 });
    // An 'error' event without a listener would crash the process; task failures still reach
    // their callers through run()'s promise.
    p.on('error', (e: unknown) => process.stderr.write(`rsft: worker pool error: ${e instanceof Error ? e.message : String(e)}\n`));
    pools.set(threads, p);
  }
  return p;
}

export function runOnPool(threads: number, task: BlockTask): Promise<Float64Array> {
  return getPool(threads).run(task) as Promise<Float64Array>;
}

export async function closePools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.destroy()));
}
