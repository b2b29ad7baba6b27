/**
 * Learning-rate schedules, as a pure function of the 1-based optimizer step. The
 * train graph takes lr as an input, so a schedule never rebuilds anything.
 *
 *  - constant:       lr
 *  - linear_warmup:  lr * step / warmup during warm-up, then lr; with `total`, decays
 *                    linearly from lr (at step warmup) to 0 (at step total)
 *  - cosine:         linear warm-up, then lr * (1 + cos(pi * t)) / 2 with
 *                    t = (step - warmup) / (total - warmup), clamped to [0, 1]
 */
import { UsageError } from '../errors.js';

export interface Schedule {
  type: 'constant' | 'linear_warmup' | 'cosine';
  /** Warm-up steps (default 0). */
  warmup?: number;
  /** Last step of the decay (cosine: required; linear_warmup: optional). */
  total?: number;
}

export function checkSchedule(s: Schedule | undefined): Schedule {
  if (s === undefined) return { type: 'constant' };
  if (!s || !['constant', 'linear_warmup', 'cosine'].includes(s.type)) {
    throw new UsageError(`schedule.type must be constant, linear_warmup or cosine, got '${String(s?.type)}'`);
  }
  const warmup = s.warmup ?? 0;
  if (!Number.isInteger(warmup) || warmup < 0) throw new UsageError(`schedule.warmup must be a non-negative integer, got ${warmup}`);
  if (s.type === 'cosine' && s.total === undefined) throw new UsageError('schedule: cosine needs total (the step where lr reaches 0)');
  if (s.total !== undefined && (!Number.isInteger(s.total) || s.total <= warmup)) {
    throw new UsageError(`schedule.total must be an integer greater than warmup (${warmup}), got ${s.total}`);
  }
  return s.total === undefined ? { type: s.type, warmup } : { type: s.type, warmup, total: s.total };
}

/** Learning rate for optimizer step `step` (1-based). */
export function lrAt(s: Schedule, lr: number, step: number): number {
  const warmup = s.warmup ?? 0;
  if (s.type === 'constant') return lr;
  if (step <= warmup) return (lr * step) / warmup;
  if (s.total === undefined) return lr;
  const t = Math.min(1, (step - warmup) / (s.total - warmup));
  if (s.type === 'linear_warmup') return lr * (1 - t);
  return (lr * (1 + Math.cos(Math.PI * t))) / 2;
}
