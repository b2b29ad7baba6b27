/**
 * `rsft rft`: language-model RFT end to end on a built-in task (src/rft/lm/rounds.ts):
 * pretrain a small GPT on noisy task data, then rounds of sample K -> verify -> accept ->
 * fine-tune, with pass@1 / pass@K on held-out prompts. Thin: parses flags, calls runRft.
 */
import { UsageError } from '../errors.js';
import { POLICIES, type PolicyName } from '../rft/lm/policies.js';
import { tasks } from '../rft/lm/tasks.js';
import type { RftSummary } from '../rft/lm/rounds.js';
import { helpText, parseFlags, parseNonNegInt, parseNumber, parsePositiveInt, parseThreads, type Flags } from './args.js';
import { withRunFolder } from '../io/atomic-file.js';

const rftFlags: Flags = {
  task: { type: 'string', value: 'NAME', default: 'addition', help: `built-in task (${Object.keys(tasks).join(', ')})` },
  rounds: { type: 'string', value: 'N', default: '3', help: 'RFT rounds' },
  k: { type: 'string', value: 'K', default: '8', help: 'candidates sampled per training prompt (temperature 1); also the k of pass@k' },
  seed: { type: 'string', value: 'N', default: '1', help: 'run seed (data, model init, sampling, acceptance)' },
  policy: { type: 'string', value: 'NAME', default: 'threshold', help: `acceptance policy (${POLICIES.join(', ')})` },
  verifier: { type: 'string', value: 'FILE[#EXPORT]', help: 'score with a JS verifier (prompt, completion) => boolean | number from this module (default export, else verify)' },
  'reward-model': { type: 'string', value: 'FILE', help: 'score with an ONNX reward model (input_ids [+ attention_mask] under the run tokenizer -> one reward per row)' },
  threshold: { type: 'string', value: 'TAU', default: '0.5', help: "threshold: accept reward >= TAU (the task's verifier scores 1 correct / 0 wrong)" },
  beta: { type: 'string', value: 'B', default: '0.5', help: 'rso: temperature beta' },
  alpha: { type: 'string', value: 'A', default: '0.1', help: 'top-alpha: global fraction kept' },
  'per-prompt': { type: 'string', value: 'N', default: '1', help: 'accepted per prompt at most (best-of-n / rso: the number accepted)' },
  'no-dedup': { type: 'boolean', help: 'keep identical completions of a prompt' },
  init: { type: 'string', value: 'MODE', default: 'continue', help: "'continue' (fine-tune the latest model) or 'base' (restart from the base model, ReST-EM)" },
  pool: { type: 'boolean', help: 'fine-tune on the accepted samples of all rounds so far (default with --init base)' },
  'no-pool': { type: 'boolean', help: "fine-tune on this round's accepted samples only (default with --init continue)" },
  out: { type: 'string', value: 'DIR', default: 'runs/rft', help: 'run folder' },
  json: { type: 'boolean', help: 'print summary.json on stdout' },
  small: { type: 'boolean', help: 'reduced sizes for a quick look (tests)' },
  threads: { type: 'string', value: 'N', default: '2', help: 'ORT threads' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress on stderr' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

const rftHelp = helpText(
  'rsft rft --task addition --rounds 3 --k 8 --seed 1 [--policy NAME] [--verifier FILE | --reward-model FILE] [--init continue|base] [--pool|--no-pool] [--json] [--out DIR] [--small]',
  'Rejection-sampling fine-tuning of a small GPT trained through ONNX Runtime on a built-in\n' +
    'verifiable task. Pretrains the base model on noisy task data, then per round samples K\n' +
    "candidates per training prompt, scores them (the task's verifier, reward 1 / 0, or\n" +
    '--verifier / --reward-model), accepts some with the policy, fine-tunes on them and measures\n' +
    "pass@1 (greedy) and pass@K on held-out prompts with the task's verifier. Writes summary.json,\n" +
    'model.onnx + tokenizer.json (final model), accepted-round-K.jsonl (SFT rows),\n' +
    'pairs-round-K.jsonl (DPO pairs) and eval.jsonl (greedy completions on held-out prompts).',
  rftFlags,
);

const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : 'n/a');

/** The per-round table printed by `rsft rft`. */
export function rftTable(s: RftSummary): string {
  const k = String(s.config.k);
  const lines = [`${String(s.config.task)}: pass@1 on ${String(s.config.heldoutPrompts)} held-out prompts`, ''];
  lines.push(`  ${'round'.padEnd(6)} ${'pass@1'.padStart(7)} ${`pass@${k}`.padStart(7)} ${'accepted'.padStart(9)} ${'acc.rate'.padStart(8)} ${'distinct'.padStart(8)} ${'loss'.padStart(7)} ${'seconds'.padStart(8)}`);
  lines.push(`  ${'base'.padEnd(6)} ${pct(s.base.pass1).padStart(7)} ${pct(s.base.passK).padStart(7)} ${''.padStart(9)} ${''.padStart(8)} ${''.padStart(8)} ${s.base.loss.toFixed(4).padStart(7)} ${(s.base.seconds.pretrain + s.base.seconds.evaluate).toFixed(1).padStart(8)}`);
  for (const r of s.rounds) {
    lines.push(`  ${String(r.round).padEnd(6)} ${pct(r.pass1).padStart(7)} ${pct(r.passK).padStart(7)} ${String(r.accepted).padStart(9)} ${pct(r.acceptanceRate).padStart(8)} ${String(r.distinct).padStart(8)} ${(Number.isFinite(r.loss) ? r.loss.toFixed(4) : 'n/a').padStart(7)} ${r.seconds.total.toFixed(1).padStart(8)}`);
  }
  lines.push('');
  lines.push(`total ${s.seconds.toFixed(1)} s; run folder: ${s.out}`);
  return lines.join('\n') + '\n';
}

export async function rftCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, rftFlags, 'rft');
  if (values.help) {
    process.stdout.write(rftHelp);
    return;
  }
  if (positionals.length > 0) throw new UsageError(`rft: unexpected argument '${positionals[0]}' (see 'rsft rft --help')`);
  const str = (name: string, def: string) => (values[name] as string | undefined) ?? def;
  const task = str('task', 'addition');
  if (!Object.prototype.hasOwnProperty.call(tasks, task)) throw new UsageError(`--task: unknown task '${task}' (known: ${Object.keys(tasks).join(', ')})`);
  const rounds = parsePositiveInt('rounds', str('rounds', '3'));
  if (rounds > 1000) throw new UsageError(`--rounds: must be at most 1000, got ${rounds}`);
  const k = parsePositiveInt('k', str('k', '8'));
  if (k > 4096) throw new UsageError(`--k: must be at most 4096, got ${k}`);
  const seed = parseNonNegInt('seed', str('seed', '1'));
  const policy = str('policy', 'threshold');
  if (!POLICIES.includes(policy as PolicyName)) throw new UsageError(`--policy: unknown policy '${policy}' (policies: ${POLICIES.join(', ')})`);
  // (as rsft select: an option of another policy was surely meant for it)
  for (const [flag, p] of [['threshold', 'threshold'], ['beta', 'rso'], ['alpha', 'top-alpha']] as const) {
    if (values[flag] !== undefined && policy !== p) throw new UsageError(`--${flag} applies to --policy ${p} only`);
  }
  const threshold = parseNumber('threshold', str('threshold', '0.5'));
  if (!Number.isFinite(threshold)) throw new UsageError(`--threshold: must be a finite number, got '${str('threshold', '')}'`);
  const beta = parseNumber('beta', str('beta', '0.5'));
  if (!(beta > 0 && Number.isFinite(beta))) throw new UsageError(`--beta: must be a finite number > 0, got '${str('beta', '')}'`);
  const alpha = parseNumber('alpha', str('alpha', '0.1'));
  if (!(alpha > 0 && alpha <= 1)) throw new UsageError(`--alpha: must be in (0, 1], got '${str('alpha', '')}'`);
  const perPrompt = parsePositiveInt('per-prompt', str('per-prompt', '1'));
  const init = str('init', 'continue');
  if (init !== 'continue' && init !== 'base') throw new UsageError(`--init: must be 'continue' or 'base', got '${init}'`);
  if (values.pool && values['no-pool']) throw new UsageError('--pool and --no-pool are exclusive');
  const pool = values.pool ? true : values['no-pool'] ? false : undefined;
  const out = str('out', 'runs/rft');
  if (out === '') throw new UsageError('--out: must not be empty');
  const threads = parseThreads('threads', str('threads', '2'));
  const quiet = values.quiet === true;
  const verifier = values.verifier as string | undefined;
  const rewardModel = values['reward-model'] as string | undefined;
  if (verifier !== undefined && rewardModel !== undefined) throw new UsageError('--verifier and --reward-model are exclusive');
  if (verifier === '' || rewardModel === '') throw new UsageError(`--${verifier === '' ? 'verifier' : 'reward-model'}: must not be empty`);
  const scorer = verifier !== undefined ? { module: verifier } : rewardModel !== undefined ? { onnx: rewardModel } : 'task' as const;
  const { runRft } = await import('../rft/lm/rounds.js');
  const summary = await withRunFolder(out, () => runRft({
    task, rounds, k, seed, policy: policy as PolicyName, scorer, threshold, beta, alpha, perPrompt, dedup: values['no-dedup'] !== true,
    init, pool, out, small: values.small === true, threads,
    onProgress: quiet ? undefined : (m) => process.stderr.write(`rsft rft: ${m}\n`),
  }));
  process.stdout.write(values.json ? JSON.stringify(summary, null, 2) + '\n' : rftTable(summary));
}
