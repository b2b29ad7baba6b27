/**
 * Language-model RFT rounds (issue 5, "Rounds" / "Built-in tasks and the one-command demo"):
 * pretrain a small GPT on a task's noisy pretraining data (the base model), then per round
 * sample K candidates per training prompt (temperature 1), score them (scorers.ts: by default the
 * task's verifier, reward 1 / 0; or a JS verifier, or an ONNX reward model), accept some with an
 * acceptance policy (policies.ts), fine-tune on the accepted ones and evaluate pass@1 (greedy) and
 * pass@K (K samples, any correct) on held-out prompts. pass@k always uses the task's verifier: the
 * scorer only decides acceptance. A candidate that hit the length limit without EOS is never
 * scored or accepted (training on it would teach the model not to stop).
 *
 * init 'continue' fine-tunes the latest model (Llama 2 / RAFT); init 'base' restarts from the
 * base model every round on the accepted set (ReST-EM). pool keeps the accepted samples of
 * earlier rounds (default: on for 'base', off for 'continue').
 *
 * Randomness: training prompts, held-out prompts and pretraining data come from the task's
 * seeded streams; candidates of round k (1-based) are generated with (seed, round k) so the
 * candidate j of prompt i is a pure function of (seed, k, i, j, t) and the model; acceptance
 * uses the same (seed, round k) address (policies.ts). pass@K sampling on held-out prompts uses
 * round GEN_EVAL_ROUND + k (k = 0 for the base model), disjoint from the training rounds.
 *
 * Run folder (every file written atomically): summary.json, model.onnx (final model, padded KV
 * inference graph) + tokenizer.json, accepted-round-K.jsonl (SFT rows), pairs-round-K.jsonl (DPO
 * pairs, policies.ts's dpoPairs rule), eval.jsonl (greedy completions of the final model on the
 * held-out prompts).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { AtomicFile, writeFileAtomic, fsReason, newFolderGuard } from '../../io/atomic-file.js';
import { Trainer } from '../../train/trainer.js';
import { gpt } from '../../train/gpt-model.js';
import type { GptConfig } from '../../graph/gpt.js';
import type { FloatArray } from '../../graph/dtype.js';
import { getTask, encodeExamples, DEFAULT_NOISE, type Example, type Task } from './tasks.js';
import { CharTokenizer, saveTokenizer } from './tokenizer.js';
import { createGenerator, MAX_K, type Candidate } from './generate.js';
import { POLICIES, dpoPairs, resolveOptions, selectAll, type PolicyName, type ScoredCandidate } from './policies.js';
import { loadVerifierModule, onnxRewardModel, verifierScorer, type Scorer, type VerifierFn } from './scorers.js';

/** Round address of pass@K sampling on held-out prompts (plus the round number). */
export const GEN_EVAL_ROUND = 2048;

export interface RftSizes {
  /** training prompts sampled from each round */
  trainPrompts: number;
  /** held-out prompts for pass@1 / pass@K */
  heldoutPrompts: number;
  /** pretraining examples */
  pretrainExamples: number;
  /** fraction of wrong pretraining completions */
  noise: number;
  pretrainEpochs: number;
  /** fine-tuning epochs per round over the accepted set */
  fineTuneEpochs: number;
  dModel: number;
  nHeads: number;
  nLayers: number;
  lr: number;
  fineTuneLr: number;
  batchSize: number;
}

/**
 * What scores candidates for acceptance: 'task' (the task's verifier, reward 1 / 0; default), a JS
 * verifier function, a verifier module (`path` or `path#export`), or an ONNX reward model fed
 * with the run's tokenizer (scorers.ts has the model contract).
 */
export type RftScorer = 'task' | VerifierFn | { module: string } | { onnx: string };

export interface RftOptions extends Partial<RftSizes> {
  task: string;
  rounds: number;
  k: number;
  seed: number;
  /** run folder (created if missing) */
  out: string;
  policy?: PolicyName;
  scorer?: RftScorer;
  /** threshold policy: accept reward >= threshold (default 0.5: correct answers) */
  threshold?: number;
  /** rso temperature (default 0.5) */
  beta?: number;
  /** top-alpha fraction (default 0.1) */
  alpha?: number;
  /** accepted per prompt at most (default 1) */
  perPrompt?: number;
  /** drop identical completions of a prompt (default true) */
  dedup?: boolean;
  init?: 'continue' | 'base';
  /** keep accepted samples of earlier rounds (default: init === 'base') */
  pool?: boolean;
  /** reduced sizes for tests and a quick look (about 50 s on 2 cores) */
  small?: boolean;
  /** ORT threads (default 2) */
  threads?: number;
  onProgress?: (message: string) => void;
}

export interface RoundSummary {
  round: number;
  /** greedy accuracy on held-out prompts */
  pass1: number;
  /** fraction of held-out prompts with at least one correct answer among K samples */
  passK: number;
  /** accepted / candidates */
  acceptanceRate: number;
  /** accepted samples this round */
  accepted: number;
  /** DPO pairs written this round */
  pairs: number;
  /** candidates that hit the length limit without EOS (never accepted) */
  unfinished: number;
  /** mean reward of the scored (finished) candidates */
  meanReward: number;
  acceptedPerPrompt: number;
  /** fraction of training prompts with at least one correct candidate */
  solvedPrompts: number;
  /** distinct completions among the round's candidates (summed over prompts) */
  distinct: number;
  /** fine-tuning examples (pooled or not) */
  trainExamples: number;
  /** last fine-tuning epoch's mean training loss */
  loss: number;
  /** seconds per stage and in total */
  seconds: { generate: number; select: number; train: number; evaluate: number; total: number };
  tokensPerSecond: number;
}

export interface RftSummary {
  base: { pass1: number; passK: number; loss: number; seconds: { pretrain: number; evaluate: number } };
  rounds: RoundSummary[];
  config: Record<string, unknown>;
  seconds: number;
  out: string;
}

/**
 * Default sizes (measured on 2 cores, addition, seed 1, K 8, 3 rounds: base pass@1 ~0.09 rising
 * to ~0.37 after round 3, about a minute in all). The base model sees 2000 examples, 30% of them
 * wrong, for 40 epochs: it has learned the format and part of the arithmetic.
 */
export const DEFAULT_SIZES: RftSizes = {
  trainPrompts: 8192, heldoutPrompts: 512, pretrainExamples: 2000, noise: 0.3, pretrainEpochs: 40, fineTuneEpochs: 3,
  dModel: 64, nHeads: 4, nLayers: 2, lr: 3e-3, fineTuneLr: 1e-3, batchSize: 64,
};
/**
 * --small: the default model and pretraining with a quarter of the training prompts and half the
 * held-out prompts (addition, seed 1, 3 rounds: pass@1 ~0.10 -> ~0.22 in about 30 s on 2 cores).
 */
export const SMALL_SIZES: RftSizes = {
  trainPrompts: 2048, heldoutPrompts: 256, pretrainExamples: 2000, noise: 0.3, pretrainEpochs: 40, fineTuneEpochs: 3,
  dModel: 64, nHeads: 4, nLayers: 2, lr: 3e-3, fineTuneLr: 1e-3, batchSize: 64,
};

const posInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;

function check(opts: RftOptions): void {
  if (!opts || typeof opts !== 'object') throw new UsageError('rft: options must be an object');
  if (!posInt(opts.rounds) || opts.rounds > 1000) throw new UsageError(`rounds must be an integer in [1, 1000], got ${String(opts.rounds)}`);
  if (!posInt(opts.k) || opts.k > MAX_K) throw new UsageError(`k must be an integer in [1, ${MAX_K}], got ${String(opts.k)}`);
  if (!Number.isSafeInteger(opts.seed) || opts.seed < 0) throw new UsageError(`seed must be a non-negative integer, got ${String(opts.seed)}`);
  if (typeof opts.out !== 'string' || opts.out === '') throw new UsageError('out must be a non-empty path');
  if (opts.init !== undefined && opts.init !== 'continue' && opts.init !== 'base') throw new UsageError(`init must be 'continue' or 'base', got '${String(opts.init)}'`);
  if (opts.policy !== undefined && !POLICIES.includes(opts.policy)) throw new UsageError(`unknown policy '${String(opts.policy)}' (policies: ${POLICIES.join(', ')})`);
  const sc = opts.scorer;
  const scorerOk = sc === undefined || sc === 'task' || typeof sc === 'function'
    || (typeof sc === 'object' && sc !== null && (typeof (sc as { module?: unknown }).module === 'string' || typeof (sc as { onnx?: unknown }).onnx === 'string'));
  if (!scorerOk) throw new UsageError("scorer must be 'task', a function, { module: 'path[#export]' } or { onnx: 'model.onnx' }");
  if (opts.threads !== undefined && !posInt(opts.threads)) throw new UsageError(`threads must be a positive integer, got ${String(opts.threads)}`);
  for (const key of ['trainPrompts', 'heldoutPrompts', 'pretrainExamples', 'pretrainEpochs', 'dModel', 'nHeads', 'nLayers', 'batchSize'] as const) {
    if (opts[key] !== undefined && !posInt(opts[key])) throw new UsageError(`${key} must be a positive integer, got ${String(opts[key])}`);
  }
  if (opts.fineTuneEpochs !== undefined && !(Number.isInteger(opts.fineTuneEpochs) && opts.fineTuneEpochs >= 0)) throw new UsageError(`fineTuneEpochs must be a non-negative integer, got ${String(opts.fineTuneEpochs)}`);
  for (const key of ['lr', 'fineTuneLr'] as const) {
    if (opts[key] !== undefined && !(typeof opts[key] === 'number' && (opts[key] as number) > 0 && Number.isFinite(opts[key]))) throw new UsageError(`${key} must be a positive number, got ${String(opts[key])}`);
  }
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/** pass@1 (greedy) and pass@K on the held-out prompts with the given weights. */
async function evaluateModel(
  task: Task, cfg: GptConfig, weights: Record<string, FloatArray>, tok: CharTokenizer, prompts: string[],
  k: number, seed: number, round: number, threads: number,
): Promise<{ pass1: number; passK: number; greedy: Candidate[] }> {
  const g = await createGenerator({ cfg, weights, tokenizer: tok, threads });
  try {
    const maxNewTokens = task.maxCompletionLength + 1;
    const greedy = (await g.generate({ prompts, k: 1, seed, round, maxNewTokens, temperature: 0, batchSize: 256 })).candidates.map((c) => c[0]);
    const sampled = (await g.generate({ prompts, k, seed, round: GEN_EVAL_ROUND + round, maxNewTokens, temperature: 1, batchSize: 256 })).candidates;
    let c1 = 0, cK = 0;
    prompts.forEach((p, i) => {
      if (greedy[i].finished && task.verify(p, greedy[i].text)) c1++;
      if (sampled[i].some((c) => c.finished && task.verify(p, c.text))) cK++;
    });
    return { pass1: c1 / prompts.length, passK: cK / prompts.length, greedy };
  } finally {
    await g.release();
  }
}

async function openScorer(s: RftScorer | undefined, task: Task, tok: CharTokenizer, threads: number): Promise<Scorer> {
  if (s === undefined || s === 'task') return verifierScorer((p, c) => task.verify(p, c), `${task.name} verifier`);
  if (typeof s === 'function') return verifierScorer(s);
  if ('module' in s) return loadVerifierModule(s.module);
  return onnxRewardModel(s.onnx, tok, { threads });
}

/** Run the whole loop; writes the run folder and returns summary.json's content. */
export async function runRft(opts: RftOptions): Promise<RftSummary> {
  check(opts);
  const t0 = performance.now();
  const task = getTask(opts.task);
  const sz: RftSizes = { ...(opts.small ? SMALL_SIZES : DEFAULT_SIZES) };
  for (const key of Object.keys(sz) as (keyof RftSizes)[]) if (opts[key] !== undefined) sz[key] = opts[key] as number;
  if (sz.dModel % sz.nHeads !== 0) throw new UsageError(`dModel (${sz.dModel}) must be a multiple of nHeads (${sz.nHeads})`);
  const init = opts.init ?? 'continue';
  const pool = opts.pool ?? init === 'base';
  const policy: PolicyName = opts.policy ?? 'threshold';
  const policyOpts = {
    policy, seed: opts.seed, perPrompt: opts.perPrompt ?? 1, dedup: opts.dedup ?? true,
    threshold: opts.threshold ?? 0.5, beta: opts.beta ?? 0.5, alpha: opts.alpha ?? 0.1,
  };
  resolveOptions({ ...policyOpts, round: 1 }); // validate once, before any work
  const threads = opts.threads ?? 2;
  const log = opts.onProgress ?? (() => undefined);
  const tok = new CharTokenizer(task.alphabet);
  // opened before the run folder exists, so a bad verifier or reward model leaves nothing behind
  const scorer = await openScorer(opts.scorer, task, tok, threads);
  const out = resolve(opts.out);
  try {
    try {
      mkdirSync(out, { recursive: true });
    } catch (e) {
      throw new UsageError(`cannot create run folder ${out}: ${fsReason(e)}`);
    }
    AtomicFile.open(join(out, 'summary.json')).abort(); // fail fast on an unwritable folder
  } catch (e) {
    await scorer.release();
    throw e;
  }

  // BOS + prompt + up to maxCompletionLength + 1 sampled tokens (room to see a candidate run past the answer)
  const context = task.maxPromptLength + task.maxCompletionLength + 2;
  const cfg: GptConfig = { vocab: tok.vocabSize, context, dModel: sz.dModel, nHeads: sz.nHeads, nLayers: sz.nLayers, seed: opts.seed };
  const model = gpt(cfg);
  const trainPrompts = task.makePrompts(opts.seed, sz.trainPrompts, 'train');
  const heldout = task.makePrompts(opts.seed, sz.heldoutPrompts, 'heldout');
  const config = {
    scorer: scorer.name, task: task.name, rounds: opts.rounds, k: opts.k, seed: opts.seed, policy, threshold: policyOpts.threshold,
    beta: policyOpts.beta, alpha: policyOpts.alpha, perPrompt: policyOpts.perPrompt, dedup: policyOpts.dedup,
    init, pool, small: opts.small === true, threads, model: { ...cfg }, ...sz, temperature: 1, evalRound: GEN_EVAL_ROUND,
  };

  let tmp: string | null = null;
  let tmpGuard: { discard(): void } | null = null;
  let trainer: Trainer | null = null;
  try {
    tmp = mkdtempSync(join(tmpdir(), 'rsft-rft-'));
    tmpGuard = newFolderGuard(tmp, true); // (removed on SIGINT / SIGTERM / SIGHUP too)
    // ---- base model ----
    let t = performance.now();
    log(`pretrain: ${sz.pretrainExamples} ${task.name} examples (noise ${sz.noise}), GPT d=${sz.dModel} h=${sz.nHeads} L=${sz.nLayers}, ${sz.pretrainEpochs} epochs`);
    const pre = encodeExamples(tok, task.pretrainData(opts.seed, sz.pretrainExamples, { noise: sz.noise }), context);
    trainer = await Trainer.create({ model, optimizer: { type: 'adamw', lr: sz.lr }, batchSize: sz.batchSize, threads });
    const preFit = await trainer.fit({ tokens: pre.tokens, targets: pre.targets, epochs: sz.pretrainEpochs, shuffleSeed: opts.seed });
    const basePath = join(tmp, 'base.safetensors');
    if (init === 'base') await trainer.save(basePath);
    const pretrainSeconds = (performance.now() - t) / 1000;
    const weightsOf = (tr: Trainer) => Object.fromEntries(tr.parameters()) as Record<string, FloatArray>;
    t = performance.now();
    let ev = await evaluateModel(task, cfg, weightsOf(trainer), tok, heldout, opts.k, opts.seed, 0, threads);
    const base = { pass1: ev.pass1, passK: ev.passK, loss: preFit.loss, seconds: { pretrain: pretrainSeconds, evaluate: (performance.now() - t) / 1000 } };
    log(`base: pass@1 ${ev.pass1.toFixed(3)}, pass@${opts.k} ${ev.passK.toFixed(3)} (pretrain loss ${preFit.loss.toFixed(4)}, ${pretrainSeconds.toFixed(1)} s)`);

    // ---- rounds ----
    const rounds: RoundSummary[] = [];
    let pooled: Example[] = [];
    for (let r = 1; r <= opts.rounds; r++) {
      const tr0 = performance.now();
      t = tr0;
      const g = await createGenerator({ cfg, weights: weightsOf(trainer), tokenizer: tok, threads });
      let gen;
      try {
        gen = await g.generate({ prompts: trainPrompts, k: opts.k, seed: opts.seed, round: r, maxNewTokens: task.maxCompletionLength + 1, temperature: 1, batchSize: 256 });
      } finally {
        await g.release();
      }
      const genSeconds = (performance.now() - t) / 1000;
      t = performance.now();
      // score the finished candidates; unfinished ones are ineligible
      const items: { prompt: string; completion: string }[] = [];
      for (let i = 0; i < trainPrompts.length; i++) for (const c of gen.candidates[i]) if (c.finished) items.push({ prompt: trainPrompts[i], completion: c.text });
      const rewards = await scorer.score(items);
      let next = 0, unfinished = 0, rewardSum = 0;
      const scored: ScoredCandidate[][] = gen.candidates.map((cs) => cs.map((c) => {
        if (!c.finished) {
          unfinished++;
          return { reward: NaN, key: c.text, eligible: false };
        }
        rewardSum += rewards[next];
        return { reward: rewards[next++], key: c.text };
      }));
      const decisions = selectAll(scored, { ...policyOpts, round: r });
      const rows: string[] = [];
      const pairRows: string[] = [];
      const accepted: Example[] = [];
      let distinct = 0, solved = 0;
      decisions.forEach((d, i) => {
        const p = trainPrompts[i];
        distinct += new Set(gen.candidates[i].map((c) => (c.finished ? c.text : `\u0000${c.text}`))).size;
        if (gen.candidates[i].some((c) => c.finished && task.verify(p, c.text))) solved++;
        for (const j of d.accepted) {
          const c = gen.candidates[i][j];
          accepted.push({ prompt: p, completion: c.text });
          rows.push(JSON.stringify({ prompt: p, completion: c.text, reward: scored[i][j].reward, logprob: c.logprob, round: r, prompt_index: i, candidate_index: j, seed: opts.seed }));
        }
        for (const [j, lo] of dpoPairs(scored[i].map((c) => c.reward), d.accepted, d.prov)) {
          pairRows.push(JSON.stringify({ prompt: p, chosen: gen.candidates[i][j].text, rejected: gen.candidates[i][lo].text, chosen_reward: scored[i][j].reward, rejected_reward: scored[i][lo].reward }));
        }
      });
      const jsonl = (lines: string[]) => (lines.length ? lines.join('\n') + '\n' : '');
      writeFileAtomic(join(out, `accepted-round-${r}.jsonl`), jsonl(rows));
      writeFileAtomic(join(out, `pairs-round-${r}.jsonl`), jsonl(pairRows));
      const selSeconds = (performance.now() - t) / 1000;
      t = performance.now();
      pooled = pool ? pooled.concat(accepted) : accepted;
      let loss = NaN;
      if (pooled.length > 0 && sz.fineTuneEpochs > 0) {
        if (init === 'base') {
          await trainer.close();
          trainer = null;
          trainer = await Trainer.create({ model, optimizer: { type: 'adamw', lr: sz.fineTuneLr }, batchSize: sz.batchSize, threads, pretrained: basePath });
        }
        const data = encodeExamples(tok, pooled, context);
        const pos = trainer.position.epoch;
        const fit = await trainer.fit({ tokens: data.tokens, targets: data.targets, startEpoch: pos, epochs: pos + sz.fineTuneEpochs, shuffleSeed: opts.seed * 1000 + r });
        loss = fit.loss;
      }
      const trainSeconds = (performance.now() - t) / 1000;
      t = performance.now();
      ev = await evaluateModel(task, cfg, weightsOf(trainer), tok, heldout, opts.k, opts.seed, r, threads);
      const evalSeconds = (performance.now() - t) / 1000;
      const nCand = trainPrompts.length * opts.k;
      const rs: RoundSummary = {
        round: r, pass1: ev.pass1, passK: ev.passK, acceptanceRate: ratio(accepted.length, nCand), accepted: accepted.length,
        pairs: pairRows.length, unfinished, meanReward: ratio(rewardSum, items.length),
        acceptedPerPrompt: ratio(accepted.length, trainPrompts.length), solvedPrompts: ratio(solved, trainPrompts.length), distinct,
        trainExamples: pooled.length, loss,
        seconds: { generate: genSeconds, select: selSeconds, train: trainSeconds, evaluate: evalSeconds, total: (performance.now() - tr0) / 1000 },
        tokensPerSecond: gen.stats.tokensPerSecond,
      };
      rounds.push(rs);
      log(`round ${r}: pass@1 ${rs.pass1.toFixed(3)}, pass@${opts.k} ${rs.passK.toFixed(3)}, accepted ${rs.accepted} (${(100 * rs.acceptanceRate).toFixed(1)}%), loss ${Number.isFinite(loss) ? loss.toFixed(4) : 'n/a'}, ${rs.seconds.total.toFixed(1)} s`);
    }

    // ---- outputs of the final model ----
    await trainer.exportOnnx(join(out, 'model.onnx'), { padding: true });
    await saveTokenizer(tok, join(out, 'tokenizer.json'));
    writeFileAtomic(join(out, 'eval.jsonl'), heldout.map((p, i) => JSON.stringify({ prompt: p, completion: ev.greedy[i].text, correct: ev.greedy[i].finished && task.verify(p, ev.greedy[i].text) })).join('\n') + '\n');
    const summary: RftSummary = { base, rounds, config, seconds: (performance.now() - t0) / 1000, out };
    writeFileAtomic(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    return summary;
  } finally {
    if (trainer) await trainer.close();
    await scorer.release();
    tmpGuard?.discard();
  }
}

export { DEFAULT_NOISE };
