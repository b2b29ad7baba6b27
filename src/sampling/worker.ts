/**
 * Piscina worker. Each pool thread runs one standing task (crew.ts): it parks on its mailbox,
 * and for every pooled run handed to it claims blocks from the run's shared ring (ring.ts)
 * until the run stops or the claim limit stands still for IDLE_WAIT_MS, writing each block's
 * rows straight into the run's output when it is shared memory or lent to the pool (a plain
 * output, kernel-types.ts OutputLeases; ring.ts CTL.LEASE), else into the block's ring slot,
 * and its stats into the slot. After STANDING_IDLE_MS without a run it returns, so an idle pool lets the process
 * exit.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { kernelByName } from './kernel.js';
import { importLogDensity, type LogDensityFn } from './resolve.js';
import { claimBlock, ringDoorbell, ringView, waitForClaims, type RingBuffers } from './ring.js';
import { blockRunner, runRingBlock } from './block.js';
import { MAIL, PARAM, STATE, mailViews } from './crew-mail.js';
import { UsageError } from '../errors.js';
import type { Layout } from './layout.js';

/** One pooled run, as handed to a standing task. */
export interface ClaimTask {
  kernel: 'native' | 'js';
  job: Float64Array;
  seed: number;
  layout: Layout;
  d: number;
  ring: RingBuffers;
  /** the run's output when it is shared memory: blocks are written straight into it here too */
  sharedOut: Float64Array | null;
  external: { url: string; exportName: string } | null;
}

/** What a run posts to a standing task when it differs from the task's last run (crew.ts). */
export type RunBase = Omit<ClaimTask, 'seed' | 'layout'>;

/** What Piscina runs on each pool thread. */
export interface StandingTask {
  mail: SharedArrayBuffer;
  port: MessagePort;
}

/**
 * How long a run's claims wait for the claim limit to move before the task goes back to its
 * mailbox: far longer than the calling thread takes to yield a block (so the task does not
 * leave whenever it gets a ring ahead), short enough that a consumer that stopped pulling
 * frees the thread soon.
 */
const IDLE_WAIT_MS = 5;

/**
 * How long a standing task waits for a run before it returns: long enough to serve calls in
 * a loop without a restart, short enough not to hold up the exit of a process that forgot
 * closePools() (a running task keeps it alive).
 */
const STANDING_IDLE_MS = 100;

/** How long a prewoken task spins for the run that woke it before parking again. */
const PREWAKE_SPIN_MS = 2;

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

async function claimBlocks(task: ClaimTask): Promise<void> {
  const fn = task.external ? await externalFn(task.external) : null;
  const kernel = kernelByName(task.kernel);
  const run = blockRunner(kernel, task.job, task.seed, task.layout, task.d, fn);
  const ring = ringView(task.ring, task.layout, task.d, task.sharedOut);
  for (;;) {
    const b = claimBlock(ring.ctl);
    if (b >= 0) {
      if (!runRingBlock(ring, run, b)) return;
    } else if (!waitForClaims(ring.ctl, IDLE_WAIT_MS)) return;
  }
}

export default async function serve(standing: StandingTask): Promise<void> {
  const { mail, params } = mailViews(standing.mail);
  const { port } = standing;
  port.unref();
  let seq = 0;
  let base: RunBase | null = null;
  for (;;) {
    if (Atomics.load(mail, MAIL.SEQ) === seq) {
      // Nothing handed over: leave if asked to (a run handed over is served first).
      if (Atomics.load(mail, MAIL.SHUT) !== 0) return;
      const r = Atomics.wait(mail, MAIL.SEQ, seq, STANDING_IDLE_MS);
      if (r === 'timed-out' && Atomics.compareExchange(mail, MAIL.STATE, STATE.IDLE, STATE.GONE) === STATE.IDLE) return;
      if (r === 'ok' && Atomics.load(mail, MAIL.SEQ) === seq && Atomics.load(mail, MAIL.SHUT) === 0) {
        // Woken with nothing handed over: a run is about to come (crew.ts prewake). Stay
        // awake for it: a vCPU that goes idle takes ~0.3 ms to wake on these VMs.
        const until = performance.now() + PREWAKE_SPIN_MS;
        while (Atomics.load(mail, MAIL.SEQ) === seq && performance.now() < until);
      }
      continue; // a run, a shutdown, or a hand-over that won the race with the time-out
    }
    seq = Atomics.load(mail, MAIL.SEQ);
    if (Atomics.load(mail, MAIL.POSTED) === seq) {
      const msg = receiveMessageOnPort(port);
      if (!msg) throw new Error('internal: a run was handed over without its message');
      base = msg.message as RunBase;
    }
    if (!base) throw new Error('internal: a first run was handed over without a message');
    const layout = { blockRows: params[PARAM.BLOCK_ROWS], totalRows: params[PARAM.TOTAL_ROWS], maxProposals: params[PARAM.MAX_PROPOSALS] };
    const task: ClaimTask = { ...base, seed: params[PARAM.SEED], layout };
    const ctl = new Int32Array(task.ring.ctl);
    try {
      await claimBlocks(task);
    } catch (error) {
      // (a clone of an Error subclass arrives as a plain Error: say whether it was the caller's mistake)
      const usage = error instanceof UsageError;
      try {
        port.postMessage({ seq, error, usage });
      } catch {
        // (a thrown value holding something that cannot cross threads: send its message)
        const text = (error as { message?: unknown } | null)?.message;
        port.postMessage({ seq, error: new Error(typeof text === 'string' ? text : String(error)), usage });
      }
      Atomics.store(mail, MAIL.ERR, seq);
    } finally {
      // Done with the ring: the calling thread may reuse it, and this task may get a new run.
      Atomics.store(mail, MAIL.ACK, seq);
      Atomics.store(mail, MAIL.STATE, STATE.IDLE);
      ringDoorbell(ctl);
    }
  }
}
