/**
 * `rsft sample-demo`: runs the three reference sampling tasks
 * (README: T1-T3) and a custom-expression target on all cores and prints what was measured.
 */
import { sample, type SampleStats } from '../sampling/sampler.js';
import { UsageError } from '../errors.js';
import { isAuto, parseFlags, parseNonNegInt, parsePositiveInt, type Flags } from './args.js';

export const demoTasks = [
  { name: 'T1', target: 'beta(2,5)', proposal: 'uniform(0,1)', M: 2.4576 },
  { name: 'T2', target: 'mixture(0.3*normal(-2,0.5), 0.7*normal(1.5,1))', proposal: 'normal(0,3)', M: 2.4171 * 1.001 },
  { name: 'T3', target: 'truncated(normal(0,1), 2, inf)', proposal: 'truncated(exponential(2.414213562373095), 2, inf)', M: 'auto' as const },
] as const;

const flags: Flags = {
  seed: { type: 'string', value: 'S', help: 'seed', default: '7' },
  n: { type: 'string', short: 'n', value: 'N', help: 'samples per task', default: '1e6' },
  workers: { type: 'string', value: 'N|auto', help: 'worker threads', default: 'auto' },
  json: { type: 'boolean', help: 'print results as JSON' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export async function demoCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, flags, 'sample-demo');
  if (v.help) {
    process.stdout.write('usage: rsft sample-demo [--seed S] [-n N] [--workers N|auto] [--json]\n\nRuns the reference sampling tasks and prints acceptance and throughput.\n');
    return;
  }
  if (positionals.length) throw new UsageError(`sample-demo: unexpected argument '${positionals[0]}'`);
  const seed = parseNonNegInt('seed', (v.seed as string | undefined) ?? '7');
  const n = parsePositiveInt('n', (v.n as string | undefined) ?? '1e6');
  const w = (v.workers as string | undefined) ?? 'auto';
  const workers = isAuto(w) ? 'auto' : parsePositiveInt('workers', w);
  const tasks: { name: string; target: string | { logpdf: string; support: [number, number] }; proposal: string; M: number | 'auto' }[] = [
    ...demoTasks.map((t) => ({ ...t })),
    { name: 'custom', target: { logpdf: '-x^2/2 + log(1 + sin(3*x)^2)', support: [-Infinity, Infinity] }, proposal: 'normal(0,1)', M: 'auto' },
  ];
  const results: { task: string; stats: SampleStats }[] = [];
  for (const t of tasks) {
    const { stats } = await sample({ target: t.target, proposal: t.proposal, M: t.M, n, seed, workers });
    results.push({ task: t.name, stats });
  }
  if (v.json) {
    process.stdout.write(JSON.stringify(results) + '\n');
    return;
  }
  const head = ['task', 'target', 'proposal', 'M', 'rate', '1/M', 'M acc/s', 'kernel'];
  const rows = results.map(({ task, stats: s }) => [
    task,
    s.target,
    s.proposal,
    s.M.toPrecision(5),
    s.acceptanceRate.toFixed(4),
    s.expectedRate !== null ? s.expectedRate.toFixed(4) : '-',
    (s.accepted / s.seconds / 1e6).toFixed(1),
    `${s.kernel}x${s.workers}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  process.stdout.write(`rsft sample-demo: ${n} samples per task, seed ${seed}\n\n${line(head)}\n${line(widths.map((x) => '-'.repeat(x)))}\n`);
  for (const r of rows) process.stdout.write(line(r) + '\n');
}
