/** `rsft sample`: draw samples and write them to a file; stats on stdout (--json for JSON). */
import { UsageError } from '../errors.js';
import { sample, type SampleStats } from '../sampling/sampler.js';
import type { TargetSpec, ExpressionTarget } from '../sampling/resolve.js';
import { openSampleFile } from '../io/write-samples.js';
import { helpText, isAuto, parseFlags, parseNonNegInt, parseNumber, parsePositiveInt, type Flags } from './args.js';
import { Progress } from './progress.js';

export const sampleFlags: Flags = {
  target: { type: 'string', value: 'SPEC', help: "target distribution, e.g. 'beta(2,5)', 'mixture(0.3*normal(-2,0.5), 0.7*normal(1.5,1))'" },
  'target-logpdf': { type: 'string', value: 'EXPR', help: "custom target log-density, e.g. '-x^2/2 + log(1 + sin(3*x)^2)' (x or x0..x{d-1})" },
  'target-module': { type: 'string', value: 'FILE#EXPORT', help: 'custom target as a JS batch log-density (xs, out, d) => void exported by an ES module' },
  support: { type: 'string', value: 'A,B', help: "custom target support: 'a,b' (every dimension) or 'a0,b0;a1,b1'; default: the proposal's" },
  proposal: { type: 'string', value: 'SPEC', help: "proposal distribution, e.g. 'uniform(0,1)'" },
  M: { type: 'string', value: 'NUM|auto', help: 'envelope constant with p <= M q', default: 'auto' },
  n: { type: 'string', short: 'n', value: 'N', help: 'number of samples (1e6 allowed)', default: '1e6' },
  seed: { type: 'string', value: 'S', help: 'seed (integer)', default: '0' },
  workers: { type: 'string', value: 'N|auto', help: 'worker threads', default: '1' },
  out: { type: 'string', short: 'o', value: 'FILE', help: 'output file: .npy (numpy), .csv or .f64 (raw little-endian); omit to only print stats' },
  json: { type: 'boolean', help: 'print the stats object as JSON on stdout' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress bar (it shows only on a terminal, after a second)' },
  'max-proposals': { type: 'string', value: 'N', help: 'proposal budget before giving up (default: max(1e8, 1000 n))' },
  'on-violation': { type: 'string', value: 'error|warn', help: 'when p > M q is seen', default: 'error' },
  kernel: { type: 'string', value: 'auto|native|js', help: 'sampling kernel', default: 'auto' },
  'block-rows': { type: 'string', value: 'N', help: 'accepted rows per block (part of the reproducibility address; default 32768 / d)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const sampleHelp = helpText(
  "rsft sample --target SPEC --proposal SPEC [--M NUM|auto] [-n N] [--seed S] [--workers N|auto] [--out FILE] [--json]",
  'Draw exact samples from the target by rejection from the proposal. Output is identical for any\n' +
    'number of workers: work is cut into fixed blocks and block b uses stream b of the seed.\n' +
    'Distributions (positional order; named parameters always work, e.g. gamma(shape=2, scale=0.5)):\n' +
    '  uniform(a, b) normal(mu, sigma) lognormal(mu, sigma) exponential(rate) gamma(shape, rate)\n' +
    '  beta(alpha, beta) t(df, loc=0, scale=1) cauchy(loc, scale) laplace(loc, scale) logistic(loc, scale)\n' +
    '  truncated(DIST, lo, hi) mixture(w1*DIST, w2*DIST, ...) product(DIST, ...) mvnormal([mu...], [sigma...])',
  sampleFlags,
);

function parseSupport(s: string): ExpressionTarget['support'] {
  const dims = s.split(';').map((part) => {
    const ab = part.split(',').map((v) => parseNumber('support', v));
    if (ab.length !== 2) throw new UsageError(`--support: expected 'a,b' or 'a0,b0;a1,b1', got '${s}'`);
    return ab as [number, number];
  });
  if (dims.length === 1) return dims[0];
  return { lo: dims.map((x) => x[0]), hi: dims.map((x) => x[1]) };
}

function describe(stats: SampleStats, outPath: string | undefined): string {
  const f = (x: number, p = 4) => (Number.isFinite(x) ? Number(x.toPrecision(p)).toString() : String(x));
  const rate = stats.seconds > 0 ? stats.accepted / stats.seconds : 0;
  const lines = [
    `target        ${stats.target}`,
    `proposal      ${stats.proposal}`,
    `M             ${f(stats.M, 6)}`,
    `proposals     ${stats.proposals}`,
    `accepted      ${stats.accepted}`,
    `acceptance    ${f(stats.acceptanceRate)}${stats.expectedRate !== null ? ` (expected 1/M = ${f(stats.expectedRate)})` : ''}`,
    `violations    ${stats.envelopeViolations} (max p/q seen ${f(stats.maxRatioSeen, 6)})`,
    `time          ${f(stats.seconds)} s (${f(rate / 1e6, 3)} M accepted/s)`,
    `kernel        ${stats.kernel}, ${stats.workers} worker${stats.workers === 1 ? '' : 's'}, ${stats.blocks} blocks of ${stats.blockRows} rows`,
  ];
  if (outPath) lines.push(`output        ${outPath}`);
  return lines.join('\n') + '\n';
}

export async function sampleCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, sampleFlags, 'sample');
  if (v.help) {
    process.stdout.write(sampleHelp);
    return;
  }
  if (positionals.length > 0) throw new UsageError(`sample: unexpected argument '${positionals[0]}'`);
  const str = (k: string): string | undefined => v[k] as string | undefined;
  const targets = ['target', 'target-logpdf', 'target-module'].filter((k) => str(k) !== undefined);
  if (targets.length === 0) throw new UsageError('sample: --target, --target-logpdf or --target-module is required');
  if (targets.length > 1) throw new UsageError(`sample: give only one of --${targets.join(', --')}`);
  const proposal = str('proposal');
  if (proposal === undefined) throw new UsageError('sample: --proposal is required');
  const support = str('support') !== undefined ? parseSupport(str('support')!) : undefined;
  if (support !== undefined && str('target') !== undefined) throw new UsageError('sample: --support applies to --target-logpdf / --target-module only');

  let target: TargetSpec;
  if (str('target') !== undefined) target = str('target')!;
  else if (str('target-logpdf') !== undefined) target = support ? { logpdf: str('target-logpdf')!, support } : { logpdf: str('target-logpdf')! };
  else {
    const spec = str('target-module')!;
    const hash = spec.lastIndexOf('#');
    const module = hash > 0 ? spec.slice(0, hash) : spec;
    const exportName = hash > 0 ? spec.slice(hash + 1) : 'default';
    target = support ? { module, export: exportName, support } : { module, export: exportName };
  }

  const Mstr = str('M') ?? 'auto';
  const M = isAuto(Mstr) ? 'auto' : parseNumber('M', Mstr);
  if (M !== 'auto' && !(M > 0 && Number.isFinite(M))) throw new UsageError(`--M: must be a positive number or 'auto', got '${Mstr}'`);
  const n = parsePositiveInt('n', str('n') ?? '1e6');
  const seed = parseNonNegInt('seed', str('seed') ?? '0');
  const w = str('workers') ?? '1';
  const workers = isAuto(w) ? 'auto' : parsePositiveInt('workers', w);
  const maxProposals = str('max-proposals') !== undefined ? parsePositiveInt('max-proposals', str('max-proposals')!) : undefined;
  const onViolation = str('on-violation') ?? 'error';
  if (onViolation !== 'error' && onViolation !== 'warn') throw new UsageError(`--on-violation: must be 'error' or 'warn', got '${onViolation}'`);
  const kernel = str('kernel') ?? 'auto';
  if (kernel !== 'auto' && kernel !== 'native' && kernel !== 'js') throw new UsageError(`--kernel: must be auto, native or js, got '${kernel}'`);
  const blockRows = str('block-rows') !== undefined ? parsePositiveInt('block-rows', str('block-rows')!) : undefined;

  // Check the output first: an unwritable path fails before any sampling. The temporary file
  // is created only when the write starts (a process killed while sampling leaves nothing), and
  // renamed into place only when complete; the write yields to the event loop, so SIGINT /
  // SIGTERM / SIGHUP during it remove the temporary and end the process at once.
  const outPath = str('out');
  const file = outPath !== undefined ? openSampleFile(outPath) : null;
  const progress = new Progress('sampling', v.quiet !== true);
  try {
    const { samples, stats } = await sample({
      target,
      proposal,
      M,
      n,
      seed,
      workers,
      maxProposals,
      onViolation,
      kernel,
      blockRows,
      onProgress: (p) => progress.update(p.accepted, p.wanted),
    });
    progress.done();
    await file?.write(samples, stats.dim);
    if (v.json) process.stdout.write(JSON.stringify(stats) + '\n');
    else process.stdout.write(describe(stats, outPath));
  } catch (e) {
    progress.done();
    file?.abort();
    throw e;
  }
}
