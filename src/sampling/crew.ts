/**
 * Standing tasks on the worker pool: each pool thread runs one long Piscina task that serves
 * pooled runs handed to it through a shared mailbox, and returns after STANDING_IDLE_MS
 * without work.
 *
 * Why: a Piscina task per run costs its message round trip on every call, ~0.25 ms before the
 * worker starts and ~0.25 ms after it finishes before the calling thread hears of it, a tenth
 * of a 10^6-sample run. A parked standing task starts on a futex wake, and says it is done
 * through shared memory.
 *
 * Mailbox (Int32Array over a SharedArrayBuffer, one per standing task):
 *   STATE  IDLE, BUSY (a run was handed over, or is running) or GONE (the task returned);
 *          the calling thread takes a task IDLE -> BUSY, the task itself goes BUSY -> IDLE
 *          after a run and IDLE -> GONE on idling out, so exactly one side wins a race;
 *   SEQ    number of runs handed over; the run's parameters (seed, layout) are written into
 *          the mailbox before SEQ moves;
 *   POSTED SEQ of the last run whose job, ring and output were posted on the task's port
 *          (read with receiveMessageOnPort): only when they differ from the task's last run,
 *          since a message costs the calling thread 10-40 us per call;
 *   ACK    SEQ of the last run the task finished with (it touches that run's ring no more);
 *   ERR    SEQ of the last run that failed; its error was posted back on the port first;
 *   SHUT   nonzero: return instead of serving (closePools).
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { detachPools, getPool } from './pool.js';
import { ringDoorbell } from './ring.js';
import { MAIL, MAIL_BYTES, PARAM, STATE, mailViews } from './crew-mail.js';
import type { ClaimTask, RunBase, StandingTask } from './worker.js';
import { UsageError } from '../errors.js';

/** A standing task as the calling thread sees it. */
interface Member {
  mail: Int32Array;
  /** the mailbox's run parameters (crew-mail.ts) */
  params: Float64Array;
  port: MessagePort;
  /** what was last posted to the task: a run with the same needs no message */
  base: RunBase | null;
  /** runs handed over so far (mirrors SEQ) */
  seq: number;
  /** the ring control words of the run handed over last: rung if the task dies */
  ctl: Int32Array | null;
  /** set when the Piscina task has settled; with the error when it failed */
  ended: { error: unknown } | null;
  settled: Promise<void>;
}

/** One run's hand-overs: which task, under which SEQ. */
export type Crew = Map<Member, number>;

const crews = new Map<number, Member[]>();

function startMember(threads: number): Member {
  const { port1, port2 } = new MessageChannel();
  const buf = new SharedArrayBuffer(MAIL_BYTES);
  const { mail, params } = mailViews(buf);
  const standing: StandingTask = { mail: buf, port: port2 };
  const m: Member = { mail, params, port: port1, base: null, seq: 0, ctl: null, ended: null, settled: Promise.resolve() };
  m.settled = getPool(threads)
    .run(standing, { transferList: [port2] })
    .then(
      () => ({ error: undefined }),
      (error: unknown) => ({ error }),
    )
    .then((ended) => {
      m.ended = ended;
      Atomics.store(mail, MAIL.STATE, STATE.GONE);
      port1.close();
      // A run handed over but never finished (the task died) is waiting on its doorbell.
      if (m.ctl && Atomics.load(mail, MAIL.ACK) < m.seq) ringDoorbell(m.ctl);
    });
  port1.unref();
  return m;
}

const sameView = (a: Float64Array | null, b: Float64Array | null) =>
  a === b || (a !== null && b !== null && a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length);

/** Whether a task that ran `a` can run `b` without a message: the same job, ring and output. */
function sameBase(a: RunBase, b: RunBase): boolean {
  return (
    a.kernel === b.kernel && a.job === b.job && a.d === b.d && a.ring === b.ring && sameView(a.sharedOut, b.sharedOut) &&
    a.external?.url === b.external?.url && a.external?.exportName === b.external?.exportName
  );
}

function handOver(m: Member, task: ClaimTask, ctl: Int32Array, crew: Crew): void {
  m.seq++;
  m.ctl = ctl;
  crew.set(m, m.seq);
  const { seed, layout, ...base } = task;
  m.params[PARAM.SEED] = seed;
  m.params[PARAM.BLOCK_ROWS] = layout.blockRows;
  m.params[PARAM.TOTAL_ROWS] = layout.totalRows;
  m.params[PARAM.MAX_PROPOSALS] = layout.maxProposals;
  if (!m.base || !sameBase(m.base, base)) {
    m.port.postMessage(base);
    m.base = base;
    Atomics.store(m.mail, MAIL.POSTED, m.seq);
  }
  // (the parameters and POSTED are written before SEQ, which publishes them)
  Atomics.store(m.mail, MAIL.SEQ, m.seq);
  Atomics.notify(m.mail, MAIL.SEQ);
}

/**
 * Hands a run to an idle standing task of the pool of `threads` threads, starting one when
 * fewer than `threads` are alive and `mayStart`. Returns false when every thread is busy
 * (with other runs) or none may be started. (Starting one makes a worker, ports and promises:
 * async resources, whose hooks would run the caller's code while its output is lent.)
 */
export function dispatch(threads: number, task: ClaimTask, ctl: Int32Array, crew: Crew, mayStart = true): boolean {
  let members = crews.get(threads) ?? [];
  for (const m of members) {
    if (Atomics.compareExchange(m.mail, MAIL.STATE, STATE.IDLE, STATE.BUSY) === STATE.IDLE) {
      handOver(m, task, ctl, crew);
      return true;
    }
  }
  members = members.filter((m) => Atomics.load(m.mail, MAIL.STATE) !== STATE.GONE);
  crews.set(threads, members);
  if (members.length >= threads || !mayStart) return false;
  const m = startMember(threads);
  Atomics.store(m.mail, MAIL.STATE, STATE.BUSY);
  members.push(m);
  handOver(m, task, ctl, crew);
  return true;
}

/**
 * Wakes the idle standing tasks of the pool of `threads` threads ahead of a run (a call's
 * setup takes ~0.2 ms, its pool thread's vCPU ~0.3 ms to wake from idle here): each spins
 * briefly for the hand-over instead of sleeping through the first blocks.
 */
export function prewake(threads: number): void {
  for (const m of crews.get(threads) ?? []) {
    if (Atomics.load(m.mail, MAIL.STATE) === STATE.IDLE) Atomics.notify(m.mail, MAIL.SEQ);
  }
}

/** Hand-overs of this run still running. */
export function activeIn(crew: Crew): number {
  let k = 0;
  for (const [m, seq] of crew) if (Atomics.load(m.mail, MAIL.ACK) < seq && !m.ended) k++;
  return k;
}

/** The first failure among this run's hand-overs, if any: an error thrown in a block, or a task that died. */
export function failureIn(crew: Crew): { error: unknown } | null {
  for (const [m, seq] of crew) {
    if (Atomics.load(m.mail, MAIL.ERR) === seq) {
      // The port may still hold the error of an earlier run that failed in a block nobody
      // needed in the end: take messages up to this run's.
      for (let msg = receiveMessageOnPort(m.port); msg; msg = receiveMessageOnPort(m.port)) {
        const { seq: from, error, usage } = msg.message as { seq: number; error: unknown; usage: boolean };
        if (from === seq) return { error: usage ? new UsageError((error as Error).message, { cause: error }) : error };
      }
      return { error: new Error('a pool worker failed') };
    }
    if (m.ended && Atomics.load(m.mail, MAIL.ACK) < seq) {
      return { error: m.ended.error ?? new Error('internal: a pool worker returned in the middle of a run') };
    }
  }
  return null;
}

/**
 * Asks every standing task to return once its current run is done, waits for them, and tears
 * their pools down. Calls in flight finish first. The tasks and pools are taken out of use at
 * once, before any wait: a call that hands a run over meanwhile (one that was still making its
 * plan) starts a new pool rather than a task on a pool about to be destroyed.
 */
export async function closePools(): Promise<void> {
  const all = [...crews.values()].flat();
  crews.clear();
  const pools = detachPools();
  for (const m of all) {
    Atomics.store(m.mail, MAIL.SHUT, 1);
    Atomics.notify(m.mail, MAIL.SEQ);
  }
  await Promise.all(all.map((m) => m.settled));
  await Promise.all(pools.map((p) => p.destroy()));
}
