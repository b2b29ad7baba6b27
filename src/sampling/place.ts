/**
 * Placement of finished ring blocks into a shared output (an `out` backed by a
 * SharedArrayBuffer), so that pool workers, not only the calling thread, write the caller's
 * rows.
 *
 * Why: a block's place in the output is the sum of the accepted counts of every earlier block,
 * known only once those are done. With a plain output only the calling thread can write it,
 * so it copies every pool worker's rows: on cheap targets that copy is a fifth of the kernel's
 * time and caps two threads well below 2x one. With a shared output, whichever thread finishes
 * a block places every block that has become placeable, in block order, under a lock; and a
 * thread that claims the very next block to place, with a whole block's room left, has the
 * kernel write it straight into the output (no copy at all).
 *
 * Shared state: ctl[PLACED] (the next block to place, written under the lock), ctl[PLACE_LOCK],
 * the in-situ marks at ctl[TAGS + slots + s], and `at`: at[0] the rows placed so far, at[1 + s]
 * the row where the block in slot s was placed. `at` is written only under the lock, before
 * the atomic store of PLACED that publishes it, and read after an atomic read of PLACED that
 * saw that store, so the plain accesses are ordered by the atomics around them.
 */
import { CTL, STATS, ringDoorbell, slotRows, type RingView } from './ring.js';

type Placing = RingView & { place: NonNullable<RingView['place']> };

export function atLength(slots: number): number {
  return 1 + slots;
}

/**
 * Where block b may be written straight into the output: when it is the next block to place
 * (every earlier one is placed, so its row is known and fixed until it is placed itself) and a
 * whole block of proposals fits there. null otherwise.
 */
export function inSituDest(r: Placing, b: number): Float64Array | null {
  if (Atomics.load(r.ctl, CTL.PLACED) !== b) return null;
  const start = r.place.at[0] * r.d;
  return r.place.out.length - start >= r.slotLen ? r.place.out.subarray(start) : null;
}

/** Marks block b (run into inSituDest's view) as already in place: placing it copies nothing. */
export function markInSitu(r: Placing, b: number): void {
  Atomics.store(r.ctl, CTL.TAGS + r.slots + (b % r.slots), b);
}

/**
 * Places every finished block that is next in order, copying rows from its ring slot unless
 * it was written in place, then rings the doorbell. Returns at once when another thread holds
 * the lock: that thread re-checks after unlocking, so no finished block is left unplaced.
 */
export function placeReady(r: Placing): void {
  const { ctl, slots, d } = r;
  const { out, at, copy } = r.place;
  const capRows = out.length / d;
  for (;;) {
    if (Atomics.compareExchange(ctl, CTL.PLACE_LOCK, 0, 1) !== 0) return;
    let placed = false;
    for (let f = Atomics.load(ctl, CTL.PLACED); Atomics.load(ctl, CTL.TAGS + (f % slots)) === f; f++) {
      const s = f % slots;
      const row = at[0];
      const take = Math.min(r.stats[s * STATS], capRows - row);
      if (take > 0 && Atomics.load(ctl, CTL.TAGS + slots + s) !== f) copy(slotRows(r, s).subarray(0, take * d), out.subarray(row * d));
      at[1 + s] = row;
      at[0] = row + take;
      Atomics.store(ctl, CTL.PLACED, f + 1);
      placed = true;
    }
    Atomics.store(ctl, CTL.PLACE_LOCK, 0);
    if (placed) ringDoorbell(ctl);
    // A block published while this thread held the lock found it taken and left: place it here.
    const f = Atomics.load(ctl, CTL.PLACED);
    if (Atomics.load(ctl, CTL.TAGS + (f % slots)) !== f) return;
  }
}

/** Block b's rows in the output, once placed (b < PLACED, and b's slot not yet reused). */
export function placedRows(r: Placing, b: number): Float64Array {
  const s = b % r.slots;
  const row = r.place.at[1 + s];
  const take = Math.min(r.stats[s * STATS], r.place.out.length / r.d - row);
  return r.place.out.subarray(row * r.d, (row + take) * r.d);
}

export function isPlacing(r: RingView): r is Placing {
  return r.place !== null;
}
