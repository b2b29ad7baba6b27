/** Atomics.waitAsync (Node >= 16; not in this TypeScript lib target). */
export const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;
