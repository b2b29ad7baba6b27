// The benchmark tasks (DESIGN.md T1-T3 plus a custom-expression target), shared by
// bench/run.js and bench/peers.js so both measure exactly the same work.
const LAM = (2 + Math.sqrt(8)) / 2;

export const tasks = [
  { name: 'T1', target: 'beta(2,5)', proposal: 'uniform(0,1)', M: 2.4576 },
  { name: 'T2', target: 'mixture(0.3*normal(-2,0.5), 0.7*normal(1.5,1))', proposal: 'normal(0,3)', M: 2.4171 * 1.001 },
  { name: 'T3', target: 'truncated(normal(0,1), 2, inf)', proposal: `truncated(exponential(${LAM}), 2, inf)`, M: 1.07107053797 * 1.0001 },
  // Unnormalized: p/q = sqrt(2 pi) (1 + sin(3x)^2) <= 2 sqrt(2 pi).
  { name: 'custom', target: { logpdf: '-x^2/2 + log(1 + sin(3*x)^2)' }, proposal: 'normal(0,1)', M: 2 * Math.sqrt(2 * Math.PI) * 1.001 },
];
