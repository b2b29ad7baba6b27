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

/**
 * The flags pool threads start with: this process's own (loaders, conditions and the like
 * matter to module targets), without the per-process ones a Worker refuses (Node throws
 * ERR_WORKER_INVALID_EXEC_ARGV naming them, e.g. --single-threaded-gc); plus
 * --no-experimental-require-module: Piscina loads the task module with require() first, and on
 * Node >= 20.19 that is require(esm), which can abort the whole process (V8 fatal
 * "IsGraphAsync must be used on an instantiated module") when it races an import() in the same
 * worker, as seen once in CI with a module target; without it Piscina falls back to import().
 */
let execArgv = [...process.execArgv, '--no-experimental-require-module'];

function newPool(threads: number): Piscina {
  for (;;) {
    try {
      return new Piscina({
        // One task per worker at a time: each thread runs one standing task.
        filename: workerFile, minThreads: threads, maxThreads: threads, idleTimeout: 30_000, concurrentTasksPerWorker: 1,
        execArgv,
      });
    } catch (e) {
      const refused = (e as { code?: string }).code === 'ERR_WORKER_INVALID_EXEC_ARGV' ? /flags: (.*)$/.exec((e as Error).message)?.[1].split(', ') : undefined;
      const kept = refused ? execArgv.filter((a) => !refused.includes(a)) : execArgv;
      if (kept.length === execArgv.length) throw e;
      execArgv = kept;
    }
  }
}

export function getPool(threads: number): Piscina {
  let p = pools.get(threads);
  if (!p) {
    p = newPool(threads);
    // An 'error' event without a listener would crash the process; task failures still reach
    // their callers through run()'s promise.
    p.on('error', (e: unknown) => process.stderr.write(`rsft: worker pool error: ${e instanceof Error ? e.message : String(e)}\n`));
    pools.set(threads, p);
  }
  return p;
}

/**
 * Takes every pool out of use: later runs start new ones. The caller destroys them once their
 * standing tasks have returned (crew.ts closePools).
 */
export function detachPools(): Piscina[] {
  const all = [...pools.values()];
  pools.clear();
  return all;
}
