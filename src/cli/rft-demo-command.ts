/**
 * `rsft demo` for classifier RSFT: the built-in line-A / line-B manufacturing scenario
 * (src/rft/scenario.ts) through the same pipeline as `rsft run`, writing the same run folder.
 * Thin: the scenario and the pipeline input come from the library (demoInput).
 */
import { UsageError } from '../errors.js';
import { runPipeline } from '../rft/pipeline.js';
import { demoInput } from '../rft/scenario.js';
import type { Summary } from '../rft/types.js';
import { helpText, parseFlags, parseNonNegInt, parsePositiveInt, type Flags } from './args.js';
import { withRunFolder } from '../io/atomic-file.js';

const demoFlags: Flags = {
  seed: { type: 'string', value: 'N', default: '1', help: 'scenario and run seed' },
  out: { type: 'string', value: 'DIR', default: 'runs/demo', help: 'run folder' },
  json: { type: 'boolean', help: 'print summary.json on stdout' },
  small: { type: 'boolean', help: 'a reduced size (12k pool rows) for a quick look' },
  threads: { type: 'string', value: 'N', help: 'ORT threads per trainer (default: min(cores, 4))' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress on stderr' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

const demoHelp = helpText(
  'rsft demo [--seed N] [--out DIR] [--json] [--small]',
  'Classifier RSFT under data shift on a built-in, seeded, synthetic smart-manufacturing\n' +
    'scenario: 100 sensors, 10 defect classes, a labeled line-A pool (40k parts, mostly at low\n' +
    'load) and line B (mostly at high load, where sensor patterns mean other defects) with\n' +
    'unlabeled parts and a labeled test set. Pretrains a small model on line A, estimates\n' +
    'w = p_B/p_A with a domain classifier, accepts pool rows with probability min(w, M)/M,\n' +
    'fine-tunes on them and compares with the baselines on line B. Writes the same run folder\n' +
    'as `rsft run` (summary.json, pretrained.onnx, model.onnx, accepted.jsonl, report.html).',
  demoFlags,
);

const pct = (v: number | undefined) => (typeof v === 'number' && Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : 'n/a');

/** The demo's result table. */
export function demoTable(s: Summary, out: string): string {
  const rows: [string, number][] = [
    ['pretrained (line A)', s.pretrained.accuracy],
    ['RSFT', s.rsft.accuracy],
    ['uniform pool sample', s.baselines.uniform.accuracy],
    ['importance-weighted', s.baselines.weighted.accuracy],
  ];
  if (s.baselines.targetOnly) rows.push(['labeled line B only', s.baselines.targetOnly.accuracy]);
  const base = s.pretrained.accuracy;
  const lines = ['accuracy on line B (labeled test set):'];
  for (const [k, v] of rows) {
    const d = k.startsWith('pretrained') || !Number.isFinite(v) || !Number.isFinite(base) ? '' : `  ${v >= base ? '+' : ''}${(100 * (v - base)).toFixed(2)} pts`;
    lines.push(`  ${k.padEnd(22)} ${pct(v).padStart(7)}${d}`);
  }
  const a = s.acceptance;
  lines.push('');
  lines.push(`acceptance rate      ${pct(a.rate)} (expected ${pct(a.expectedRate)}): ${a.accepted} accepted of ${a.proposals} proposals`);
  lines.push(`envelope M           ${a.M.toPrecision(4)} (0.99 quantile of w)`);
  lines.push(`violations (w > M)   ${a.clipped} pool rows, clipped to M`);
  lines.push('');
  lines.push('time per stage:');
  for (const [k, v] of Object.entries(s.timings)) lines.push(`  ${k.padEnd(12)} ${v.toFixed(2).padStart(7)} s`);
  lines.push('');
  lines.push(`run folder: ${out} (open report.html)`);
  return lines.join('\n') + '\n';
}

export async function rftDemoCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, demoFlags, 'demo');
  if (values.help) {
    process.stdout.write(demoHelp);
    return;
  }
  if (positionals.length > 0) throw new UsageError(`demo: unexpected argument '${positionals[0]}' (see 'rsft demo --help')`);
  const seed = values.seed === undefined ? 1 : parseNonNegInt('seed', values.seed as string);
  const out = (values.out as string | undefined) ?? 'runs/demo';
  if (out === '') throw new UsageError('--out: must not be empty');
  const threads = values.threads === undefined ? undefined : parsePositiveInt('threads', values.threads as string);
  const quiet = values.quiet === true;
  const log = (m: string) => {
    if (!quiet) process.stderr.write(`rsft demo: ${m}\n`);
  };
  const t0 = performance.now();
  const input = demoInput({ seed, out, small: values.small === true, threads });
  input.timings = { scenario: (performance.now() - t0) / 1000 };
  log(`scenario: seed ${seed}, ${input.data.source.n} line-A pool rows, ${input.data.target.n} unlabeled and ${input.data.test?.n ?? 0} labeled line-B rows, 100 sensors, 10 classes`);
  const summary = await withRunFolder(out, () => runPipeline(input, { onProgress: quiet ? undefined : (stage, info) => log(`${stage}: ${info}`) }));
  log(`wrote ${out}`);
  process.stdout.write(values.json ? JSON.stringify(summary, null, 2) + '\n' : demoTable(summary, out));
}
