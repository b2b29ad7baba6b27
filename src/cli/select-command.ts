/** `rsft select`: apply an acceptance policy to an external JSONL file of scored candidates. */
import { UsageError } from '../errors.js';
import { POLICIES, type PolicyName } from '../rft/lm/policies.js';
import { selectFile } from '../rft/lm/select.js';
import { helpText, parseFlags, parseNonNegInt, parseNumber, parsePositiveInt, type Flags } from './args.js';

export const selectFlags: Flags = {
  in: { type: 'string', value: 'FILE', help: 'input JSONL: one candidate per line with a prompt, a completion and a numeric reward; a prompt\'s candidates contiguous' },
  out: { type: 'string', short: 'o', value: 'FILE', help: 'output JSONL of accepted SFT rows: the input row\'s other fields (ids, logprob, ...), then {prompt, completion, reward, round, prompt_index, candidate_index, seed, policy, [u, pass]}, which win a clash of names (written atomically)' },
  policy: { type: 'string', value: 'NAME', help: `acceptance policy: ${POLICIES.join(', ')}` },
  threshold: { type: 'string', value: 'TAU', help: 'threshold policy: accept reward >= TAU' },
  beta: { type: 'string', value: 'B', help: 'rso policy: accept with probability exp((r - r_max) / B), B > 0' },
  alpha: { type: 'string', value: 'A', help: 'top-alpha policy: keep the global top ceil(A * N) of the N candidates, 0 < A <= 1' },
  'per-prompt': { type: 'string', value: 'N|all', help: 'rso: accepts wanted per prompt; best-of-n: top N kept; threshold, top-alpha: most kept per prompt', default: '1' },
  cap: { type: 'string', value: 'N', help: 'hard cap of accepted per prompt (after the policy)' },
  'no-dedup': { type: 'boolean', help: 'keep identical completions of a prompt as separate candidates (default: later copies are dropped)' },
  seed: { type: 'string', value: 'S', help: 'seed, integer in [0, 2^53)', default: '0' },
  round: { type: 'string', value: 'K', help: 'round number, part of the randomness address (stream = K * 2^32 + prompt_index)', default: '0' },
  pairs: { type: 'string', value: 'FILE', help: 'also write DPO pairs {prompt, chosen, rejected, chosen_reward, rejected_reward}: each accepted candidate vs the prompt\'s lowest-reward non-accepted one, when its reward is strictly higher' },
  'prompt-field': { type: 'string', value: 'NAME', help: 'input field holding the prompt', default: 'prompt' },
  'completion-field': { type: 'string', value: 'NAME', help: 'input field holding the completion', default: 'completion' },
  'reward-field': { type: 'string', value: 'NAME', help: 'input field holding the reward (a finite number)', default: 'reward' },
  'skip-bad': { type: 'boolean', help: 'count and skip malformed lines (default: stop with exit code 2 naming the line)' },
  json: { type: 'boolean', help: 'print counts and acceptance rates as JSON on stdout' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const selectHelp = helpText(
  'rsft select --in FILE --policy threshold|best-of-n|top-alpha|rso [--threshold TAU | --beta B | --alpha A] [--per-prompt N] [--seed S] --out FILE [--pairs FILE] [--json]',
  'Accept candidates produced anywhere (vLLM, an API, ...) with the same rules as `rsft rft`, streaming.\n' +
    '  threshold  accept r >= TAU (at most --per-prompt per prompt, highest rewards first)\n' +
    '  best-of-n  keep the top --per-prompt per prompt by reward; ties broken by a seeded uniform\n' +
    '  top-alpha  global top fraction A of all candidates (reads the file three times, bounded memory)\n' +
    '  rso        statistical rejection sampling (RSO, Algorithm 1): visit candidates in a seeded random\n' +
    '             order, accept with probability exp((r - r_max)/B), repeat passes until --per-prompt\n' +
    '             are accepted or none remain\n' +
    'Decisions are pure functions of (seed, round, prompt_index, candidate_index) and the prompt\'s own\n' +
    'candidates. A malformed line stops the run (exit 2) unless --skip-bad.',
  selectFlags,
);

export async function selectCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, selectFlags, 'select');
  if (v.help) {
    process.stdout.write(selectHelp);
    return;
  }
  if (positionals.length > 0) throw new UsageError(`select: unexpected argument '${positionals[0]}'`);
  const str = (k: string): string | undefined => v[k] as string | undefined;
  const input = str('in');
  if (input === undefined) throw new UsageError('select: --in is required');
  const out = str('out');
  if (out === undefined) throw new UsageError('select: --out is required');
  const policy = str('policy');
  if (policy === undefined) throw new UsageError(`select: --policy is required (${POLICIES.join(', ')})`);
  if (!POLICIES.includes(policy as PolicyName)) throw new UsageError(`select: unknown policy '${policy}' (${POLICIES.join(', ')})`);
  const needs: Record<string, string> = { threshold: 'threshold', rso: 'beta', 'top-alpha': 'alpha' };
  for (const [p, flag] of Object.entries(needs)) {
    if (policy === p && str(flag) === undefined) throw new UsageError(`select: --policy ${p} needs --${flag}`);
    if (policy !== p && str(flag) !== undefined) throw new UsageError(`select: --${flag} applies to --policy ${p} only`);
  }
  const pp = str('per-prompt') ?? '1';
  const perPrompt = pp === 'all' ? Infinity : parsePositiveInt('per-prompt', pp);
  const seed = parseNonNegInt('seed', str('seed') ?? '0');
  const round = parseNonNegInt('round', str('round') ?? '0');
  const summary = await selectFile({
    input,
    out,
    pairs: str('pairs'),
    policy: policy as PolicyName,
    seed,
    round,
    perPrompt,
    cap: str('cap') !== undefined ? parsePositiveInt('cap', str('cap')!) : undefined,
    dedup: !v['no-dedup'],
    threshold: str('threshold') !== undefined ? parseNumber('threshold', str('threshold')!) : undefined,
    beta: str('beta') !== undefined ? parseNumber('beta', str('beta')!) : undefined,
    alpha: str('alpha') !== undefined ? parseNumber('alpha', str('alpha')!) : undefined,
    promptField: str('prompt-field'),
    completionField: str('completion-field'),
    rewardField: str('reward-field'),
    skipBad: Boolean(v['skip-bad']),
  });
  if (v.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    return;
  }
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  process.stdout.write(
    `select ${summary.policy}: ${summary.accepted} of ${summary.candidates} candidates accepted (${pct(summary.acceptanceRate)}; per-prompt mean ${pct(summary.perPromptAcceptanceRate)}) over ${summary.prompts} prompts\n` +
      `  duplicates dropped ${summary.duplicates}, bad lines skipped ${summary.badLines}\n` +
      `  wrote ${summary.out}${summary.pairsOut ? ` and ${summary.pairs} pairs to ${summary.pairsOut}` : ''}\n`,
  );
}
