/**
 * Epoch permutations from rsft's random streams: epoch e of a fit with shuffle seed s
 * visits the rows in the order of a Fisher-Yates shuffle driven by Stream(s, e, 1).
 * A pure function of (seed, epoch, n), so a resumed run recomputes the same order.
 */
import { Stream } from '../sampling/rng.js';

export function permutation(seed: number, epoch: number, n: number, out = new Uint32Array(n)): Uint32Array {
  for (let i = 0; i < n; i++) out[i] = i;
  const s = new Stream(seed, epoch, 1);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(s.nextF64() * (i + 1));
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
