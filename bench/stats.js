// Small statistics shared by the benchmark scripts.

/** Median of a list of numbers (mean of the two middle ones for an even count). */
export function median(xs) {
  const s = [...xs].sort((x, y) => x - y), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
