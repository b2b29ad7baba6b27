/**
 * Following callers' AbortSignals from a run without running the caller's code, and without a
 * listener per run. A signal's own properties are the caller's to override, so the methods and
 * the getter used here are the engine's, taken at load (as typed-view.ts does for arrays). One
 * listener per signal serves every run that follows it: a signal many concurrent streams share
 * (a server's shutdown signal) gets no MaxListenersExceededWarning, and the listener holds
 * flags, not runs, so a stream dropped mid-run can still be collected.
 */
import { getter } from './typed-view.js';

const addListener = EventTarget.prototype.addEventListener;
const removeListener = EventTarget.prototype.removeEventListener;
const abortedOf = getter<boolean>(AbortSignal.prototype, 'aborted');

/** Whether x is an AbortSignal, as the engine sees it (its getter throws on anything else). */
export function isAbortSignal(x: unknown): x is AbortSignal {
  try {
    abortedOf(x);
    return true;
  } catch {
    return false;
  }
}

/** What a run reads instead of the signal: set when the signal aborts. */
export interface AbortFlag {
  seen: boolean;
}

interface Watch {
  flags: Set<AbortFlag>;
  listener: () => void;
}

const watches = new WeakMap<AbortSignal, Watch>();

/** Sets flag.seen now if the signal has aborted, and when it does. */
export function follow(signal: AbortSignal, flag: AbortFlag): void {
  flag.seen = abortedOf(signal);
  let w = watches.get(signal);
  if (!w) {
    const flags = new Set<AbortFlag>();
    const listener = (): void => {
      for (const f of flags) f.seen = true;
    };
    Reflect.apply(addListener, signal, ['abort', listener]);
    w = { flags, listener };
    watches.set(signal, w);
  }
  w.flags.add(flag);
}

/** Stops following for this flag; the signal's listener goes with its last flag. Never throws. */
export function unfollow(signal: AbortSignal, flag: AbortFlag): void {
  const w = watches.get(signal);
  if (!w || !w.flags.delete(flag) || w.flags.size > 0) return;
  watches.delete(signal);
  try {
    Reflect.apply(removeListener, signal, ['abort', w.listener]);
  } catch {
    // (the engine's own method on a signal checked by isAbortSignal: nothing to throw)
  }
}
