/**
 * Shapes with symbolic dimensions. A dimension is a number (known), a string
 * (a named symbol such as 'B': equal names are equal sizes), or null (unknown).
 * Gradient rules use these to decide, at build time, which axes were broadcast.
 */
export type Dim = number | string | null;
export type Shape = Dim[];

export function fmtShape(s: Shape): string {
  return '[' + s.map((d) => (d === null ? '?' : String(d))).join(', ') + ']';
}

export function dimEq(a: Dim, b: Dim): boolean {
  return a !== null && b !== null && a === b;
}

/** Numpy-style broadcast of two shapes; throws on a provable mismatch. */
export function broadcastShapes(a: Shape, b: Shape, what = 'broadcast'): Shape {
  const n = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else if (da === db) out.push(da);
    else if (typeof da === 'number' && typeof db === 'number') {
      throw new Error(`${what}: shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast`);
    } else {
      // Symbolic vs number (or two different symbols): assume equal at run time,
      // prefer the number as it is more informative.
      out.push(typeof da === 'number' ? da : typeof db === 'number' ? db : da ?? db);
    }
  }
  return out;
}

/** Normalise a possibly negative axis against a rank. */
export function normAxis(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`${what} ${axis} out of range for rank ${rank}`);
  return a;
}

/** Product of dims if all known numbers, else null. */
export function numel(s: Shape): number | null {
  let p = 1;
  for (const d of s) {
    if (typeof d !== 'number') return null;
    p *= d;
  }
  return p;
}

/**
 * Shape of Reshape(x, target) where target uses ONNX conventions (0 = copy the
 * input dim, -1 = infer). Symbols cancel: [B, 28, 28] -> [0, -1] gives [B, 784].
 */
export function reshapeShape(input: Shape, target: number[]): Shape {
  const out: Shape = target.map((t, i) => (t === 0 ? input[i] ?? null : t === -1 ? -1 : t));
  const inf = out.indexOf(-1);
  if (inf < 0) return out;
  // Count factors: numbers multiply, symbols are tracked as a multiset.
  let num = 1;
  const syms = new Map<string, number>();
  let unknown = false;
  for (const d of input) {
    if (typeof d === 'number') num *= d;
    else if (typeof d === 'string') syms.set(d, (syms.get(d) ?? 0) + 1);
    else unknown = true;
  }
  let den = 1;
  for (let i = 0; i < out.length; i++) {
    if (i === inf) continue;
    const d = out[i];
    if (typeof d === 'number') den *= d;
    else if (typeof d === 'string' && (syms.get(d) ?? 0) > 0) syms.set(d, syms.get(d)! - 1);
    else unknown = true;
  }
  const leftover = [...syms.values()].some((c) => c > 0);
  out[inf] = !unknown && !leftover && num % den === 0 ? num / den : null;
  return out;
}
