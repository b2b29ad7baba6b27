// Small statistics shared by the benchmark scripts.

/** Median of a list of numbers (mean of the two middle ones for an even count). */
export function median(xs) {
  const s = [...xs].sort((x, y) => x - y), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median and range of per-round ratios: { ratio, lo, hi }. */
export function ratioSpread(ratios) {
  return { ratio: median(ratios), lo: Math.min(...ratios), hi: Math.max(...ratios) };
}

/**
 * "1.85x (1.70-1.95)": a ratioSpread as the tables print it; with a `best` ratio (of the
 * fastest calls: measure.js, bare-scaling.js), "1.85x (1.70-1.95), best 1.97x".
 */
export function fmtSpread(s) {
  const best = s.best === undefined ? '' : `, best ${s.best.toFixed(2)}x`;
  return `${s.ratio.toFixed(2)}x (${s.lo.toFixed(2)}-${s.hi.toFixed(2)})${best}`;
}
