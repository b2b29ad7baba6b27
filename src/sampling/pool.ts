/**
 * The worker pool: one Piscina per thread count, created on first use and kept for later calls
 * (workers load the native module once). A run with w workers uses the pool of w - 1 threads
 * (the calling thread is the w-th), each running one standing task (crew.ts). Idle workers are
 * unref'd by Piscina, so an idle pool does not keep the process alive; closePools() tears
 * them down explicitly.
 */
import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const pools = new Map<number, Piscina>();
const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url));

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

export function getPool(threads: number): Piscina {
  let p = pools.get(threads);
  if (!p) {
    p = new Piscina({
      // One task per worker at a time: each thread runs one standing task.
      filename: workerFile, minThreads: threads, maxThreads: threads, idleTimeout: 30_000, concurrentTasksPerWorker: 1,
      // Piscina loads the task module with require() first. On Node >= 20.19 that is require(esm),
      // which can abort the whole process (V8 fatal "IsGraphAsync must be used on an instantiated
      // module") when it races an import() in the same worker, as seen once in CI with a module
      // target. Without require(esm), Piscina falls back to import(), which is safe.
      execArgv: [...process.execArgv, '--no-experimental-require-module'],
    });
    // An 'error' event without a listener would crash the process; task failures still reach
    // their callers through run()'s promise.
    p.on('error', (e: unknown) => process.stderr.write(`rsft: worker pool error: ${e instanceof Error ? e.message : String(e)}\n`));
    pools.set(threads, p);
  }
  return p;
}

/** Tears the pools down (their standing tasks must have returned: see crew.ts closePools). */
export async function destroyPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.destroy()));
}
