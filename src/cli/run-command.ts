/**
 * `rsft run <config.yaml|config.json>`: the classifier RSFT pipeline on the user's files.
 * Thin: reads and validates the config (src/rft/config.ts), loads the data, runs the pipeline
 * (src/rft/pipeline.ts). Progress on stderr; a result table (or summary.json with --json) on
 * stdout.
 */
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { UsageError } from '../errors.js';
import { readConfig, loadRunInput } from '../rft/config.js';
import { runPipeline } from '../rft/pipeline.js';
import type { Summary } from '../rft/types.js';
import { helpText, parseFlags, type Flags } from './args.js';
import { withRunFolder } from '../io/atomic-file.js';

const runFlags: Flags = {
  json: { type: 'boolean', help: 'print summary.json on stdout' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress on stderr' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

const runHelp = helpText(
  'rsft run <config.yaml|config.json> [--json] [--quiet]',
  'Classifier RSFT on your data: pretrain (or load) a model on the labeled source pool, estimate\n' +
    'the density ratio w = p_target/p_source, accept pool rows with probability min(w, M)/M,\n' +
    'fine-tune on the accepted rows and compare with baselines. Writes summary.json,\n' +
    'pretrained.onnx, model.onnx, accepted.jsonl and report.html into the config\'s `out` folder.\n' +
    'Relative paths in the config are resolved against the config file\'s folder.',
  runFlags,
);

function pct(v: number | null | undefined): string {
  return typeof v === 'number' && Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : 'n/a';
}

export function summaryTable(s: Summary): string {
  const rows: [string, number][] = [
    ['pretrained', s.pretrained.accuracy],
    ['RSFT', s.rsft.accuracy],
    ['uniform pool sample', s.baselines.uniform.accuracy],
    ['importance-weighted', s.baselines.weighted.accuracy],
  ];
  if (s.baselines.targetOnly) rows.push(['labeled target only', s.baselines.targetOnly.accuracy]);
  const a = s.acceptance;
  const lines = ['accuracy on the target test set:', ...rows.map(([k, v]) => `  ${k.padEnd(22)} ${pct(v)}`)];
  lines.push(`acceptance: ${a.accepted} of ${a.proposals} proposals (rate ${pct(a.rate)}, expected ${pct(a.expectedRate)}), M = ${a.M.toPrecision(4)}, ${a.clipped} pool rows clipped (envelope violations)`);
  lines.push('time per stage: ' + Object.entries(s.timings).map(([k, v]) => `${k} ${v.toFixed(2)}s`).join(', '));
  return lines.join('\n') + '\n';
}

export async function runCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, runFlags, 'run');
  if (values.help) {
    process.stdout.write(runHelp);
    return;
  }
  if (positionals.length !== 1) throw new UsageError(`run: expected one config file, got ${positionals.length} (see 'rsft run --help')`);
  const path = positionals[0];
  const t0 = performance.now();
  const cfg = readConfig(path);
  const raw = yaml.load(readFileSync(path, 'utf8'));
  const input = loadRunInput(cfg, raw);
  input.timings = { load: (performance.now() - t0) / 1000 };
  const quiet = values.quiet === true;
  const summary = await withRunFolder(input.out, () => runPipeline(input, {
    onProgress: quiet ? undefined : (stage, info) => process.stderr.write(`rsft run: ${stage}: ${info}\n`),
  }));
  if (!quiet) process.stderr.write(`rsft run: wrote ${input.out}\n`);
  process.stdout.write(values.json ? JSON.stringify(summary, null, 2) + '\n' : summaryTable(summary));
}
