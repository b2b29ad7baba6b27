/**
 * `rsft select` as a library: stream a JSONL file of scored candidates, apply an acceptance policy
 * per prompt, write accepted SFT rows (and optionally DPO pairs) atomically.
 *
 * Input: one JSON object per line with a prompt, a completion and a numeric reward (field names
 * configurable). A prompt's candidates are contiguous: a group is a maximal run of lines whose
 * prompt is equal (compared as JSON); prompt_index counts groups from 0 and candidate_index counts
 * valid lines within a group from 0. A prompt that reappears later is a new group. Blank lines are
 * ignored. Memory is bounded by the largest group (plus, for top-alpha, ceil(alpha N) keys).
 *
 * top-alpha reads the file three times, in bounded memory: the first read counts the
 * non-duplicate candidates N, the second keeps the best ceil(alpha N) eligible (reward, u) keys in
 * a bounded heap (16 bytes per kept key), the third writes the candidates ranked at or above the
 * heap's worst key. The other policies read the file once.
 *
 * DPO pairing rule: per prompt, `rejected` is the lowest-reward candidate that is neither accepted
 * nor a duplicate (ties: the lowest candidate_index); each accepted candidate whose reward is
 * strictly greater than that one's gives one pair {prompt, chosen, rejected, chosen_reward,
 * rejected_reward}. Prompts with no such candidate give no pairs.
 */
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { AtomicFile, fsReason } from '../../io/atomic-file.js';
import { candidateUniforms, decideResolved, dpoPairs, resolveOptions, topAlphaCount, TopKeys, type PolicyOptions, type ScoredCandidate } from './policies.js';

export interface SelectOptions extends PolicyOptions {
  input: string;
  out: string;
  pairs?: string;
  promptField?: string;
  completionField?: string;
  rewardField?: string;
  /** count and skip malformed lines instead of stopping with a UsageError */
  skipBad?: boolean;
}

export interface SelectSummary {
  policy: string;
  seed: number;
  round: number;
  lines: number;
  badLines: number;
  prompts: number;
  candidates: number;
  duplicates: number;
  accepted: number;
  pairs: number | null;
  /** accepted / candidates */
  acceptanceRate: number;
  /** mean over prompts of accepted / candidates of that prompt */
  perPromptAcceptanceRate: number;
  acceptedPerPrompt: number;
  out: string;
  pairsOut: string | null;
}

interface Row {
  prompt: unknown;
  completion: unknown;
  reward: number;
  /** the input object's other fields (ids, metadata, logprob, ...), carried to the output row */
  rest: Record<string, unknown> | null;
}

interface Group {
  index: number;
  promptKey: string;
  rows: Row[];
  cands: ScoredCandidate[];
}

/** Buffered writer over an AtomicFile (one syscall per ~1 MiB). */
class Buffered {
  private parts: string[] = [];
  private len = 0;
  constructor(readonly file: AtomicFile) {}
  write(s: string): void {
    this.parts.push(s);
    this.len += s.length;
    if (this.len > 1 << 20) this.flush();
  }
  flush(): void {
    if (this.parts.length) this.file.write(this.parts.join(''));
    this.parts = [];
    this.len = 0;
  }
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? s.slice(0, 37) + '...' : s;
}

/** Read the file group by group; calls onGroup for each complete group. */
async function readGroups(path: string, f: { prompt: string; completion: string; reward: string }, skipBad: boolean, onGroup: (g: Group) => void): Promise<{ lines: number; bad: number }> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const openErr = new Promise<never>((_, reject) => stream.once('error', (e: NodeJS.ErrnoException) => reject(new UsageError(`cannot read ${path}: ${fsReason(e)}`))));
  openErr.catch(() => undefined);
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  let bad = 0;
  let cur: Group | null = null;
  let nextIndex = 0;
  const fail = (msg: string): void => {
    if (skipBad) {
      bad++;
      return;
    }
    throw new UsageError(`${path} line ${lineNo}: ${msg}`);
  };
  const iter = (async () => {
    for await (const line of rl) {
      lineNo++;
      if (line.trim() === '') continue;
      let obj: unknown;
      try {
        // (a UTF-8 byte-order mark before the first line, as some editors write, is not JSON)
        obj = JSON.parse(lineNo === 1 && line.charCodeAt(0) === 0xfeff ? line.slice(1) : line);
      } catch (e) {
        fail(`bad JSON (${(e as Error).message.split('\n')[0]})`);
        continue;
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
        fail('not a JSON object');
        continue;
      }
      const o = obj as Record<string, unknown>;
      const prompt = o[f.prompt];
      const completion = o[f.completion];
      const reward = o[f.reward];
      if (prompt === undefined || prompt === null) { fail(`missing field '${f.prompt}'`); continue; }
      if (completion === undefined || completion === null) { fail(`missing field '${f.completion}'`); continue; }
      if (reward === undefined || reward === null) { fail(`missing field '${f.reward}'`); continue; }
      if (typeof reward !== 'number' || !Number.isFinite(reward)) { fail(`field '${f.reward}' is not a finite number: ${describe(reward)}`); continue; }
      const promptKey = typeof prompt === 'string' ? prompt : '\u0000' + JSON.stringify(prompt);
      if (cur === null || cur.promptKey !== promptKey) {
        if (cur !== null) onGroup(cur);
        cur = { index: nextIndex++, promptKey, rows: [], cands: [] };
      }
      let rest: Record<string, unknown> | null = null;
      for (const k of Object.keys(o)) {
        if (k !== f.prompt && k !== f.completion && k !== f.reward) (rest ??= {})[k] = o[k];
      }
      cur.rows.push({ prompt, completion, reward, rest });
      cur.cands.push({ reward, key: typeof completion === 'string' ? completion : '\u0000' + JSON.stringify(completion) });
    }
    if (cur !== null) onGroup(cur);
  })();
  iter.catch(() => undefined);
  try {
    await Promise.race([iter, openErr]);
  } finally {
    rl.close();
    stream.destroy();
  }
  return { lines: lineNo, bad };
}

/** Whether two paths name one file (after links; a path that does not exist names none). */
function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a), sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return resolve(a) === resolve(b);
  }
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return true; // (a missing file is reported by the read, with its reason)
  }
}

export async function selectFile(options: SelectOptions): Promise<SelectSummary> {
  const o = resolveOptions(options);
  const fields = { prompt: options.promptField ?? 'prompt', completion: options.completionField ?? 'completion', reward: options.rewardField ?? 'reward' };
  const skipBad = options.skipBad ?? false;
  if (options.pairs !== undefined && resolve(options.pairs) === resolve(options.out)) throw new UsageError('select: --pairs and --out must be different files');
  // (the outputs replace their files only at the end, but the input is read until then)
  for (const [flag, path] of [['--out', options.out], ['--pairs', options.pairs]] as const) {
    if (path !== undefined && sameFile(path, options.input)) throw new UsageError(`select: ${flag} must not be the input file ${options.input}`);
  }
  // top-alpha reads its input three times: a pipe or a terminal would be empty after the first.
  if (o.policy === 'top-alpha' && !isRegularFile(options.input)) {
    throw new UsageError(`select: top-alpha reads its input three times and needs a regular file, not ${options.input} (save a piped input to a file first)`);
  }
  const out = AtomicFile.open(options.out);
  let pairsFile: AtomicFile | null = null;
  try {
    if (options.pairs !== undefined) pairsFile = AtomicFile.open(options.pairs);
    const w = new Buffered(out);
    const pw = pairsFile ? new Buffered(pairsFile) : null;

    // top-alpha: first read finds the global cut.
    let cut: { reward: number; u: number } | null = null;
    if (o.policy === 'top-alpha') {
      let total = 0;
      let heap: TopKeys | null = null;
      // N is unknown until the end; a first cheap read counts it so the heap can be bounded.
      await readGroups(options.input, fields, skipBad, (g) => {
        const d = decideResolved(g.cands, g.index, o);
        for (const p of d.prov) if (p.status !== 'duplicate') total++;
      });
      heap = new TopKeys(topAlphaCount(o.alpha as number, total));
      await readGroups(options.input, fields, skipBad, (g) => {
        const d = decideResolved(g.cands, g.index, o);
        const u = candidateUniforms(o.seed, o.round, g.index, g.cands.length);
        for (const j of d.accepted) heap!.push(g.cands[j].reward, u[j]);
      });
      cut = heap.worst();
    }

    let prompts = 0, candidates = 0, duplicates = 0, accepted = 0, pairs = 0, rateSum = 0;
    const { lines, bad } = await readGroups(options.input, fields, skipBad, (g) => {
      const d = decideResolved(g.cands, g.index, o);
      let acc = d.accepted;
      if (o.policy === 'top-alpha') {
        const u = candidateUniforms(o.seed, o.round, g.index, g.cands.length);
        acc = acc.filter((j) => {
          const keep = TopKeys.keeps(cut, g.cands[j].reward, u[j]);
          if (!keep) d.prov[j].status = 'rejected';
          // at the cut's reward the ranking among equal rewards was made by u
          else if (cut !== null && g.cands[j].reward === cut.reward) d.prov[j].u = u[j];
          return keep;
        });
      }
      prompts++;
      candidates += g.rows.length;
      for (const p of d.prov) if (p.status === 'duplicate') duplicates++;
      accepted += acc.length;
      rateSum += acc.length / g.rows.length;
      for (const j of acc) {
        const r = g.rows[j];
        // the input's other fields after prompt, completion and reward; rsft's own (those three
        // and the provenance below) win a clash of names
        const rec: Record<string, unknown> = { prompt: r.prompt, completion: r.completion, reward: r.reward, ...r.rest };
        Object.assign(rec, { prompt: r.prompt, completion: r.completion, reward: r.reward });
        rec.round = o.round;
        rec.prompt_index = g.index;
        rec.candidate_index = j;
        rec.seed = o.seed;
        rec.policy = o.policy;
        if (d.prov[j].u !== undefined) rec.u = d.prov[j].u;
        if (d.prov[j].pass !== undefined) rec.pass = d.prov[j].pass;
        w.write(JSON.stringify(rec) + '\n');
      }
      if (pw) {
        const rewards = g.rows.map((r) => r.reward);
        for (const [j, lo] of dpoPairs(rewards, acc, d.prov)) {
          pw.write(JSON.stringify({ prompt: g.rows[j].prompt, chosen: g.rows[j].completion, rejected: g.rows[lo].completion, chosen_reward: g.rows[j].reward, rejected_reward: g.rows[lo].reward }) + '\n');
          pairs++;
        }
      }
    });
    w.flush();
    pw?.flush();
    out.commit();
    pairsFile?.commit();
    return {
      policy: o.policy,
      seed: o.seed,
      round: o.round,
      lines,
      badLines: bad,
      prompts,
      candidates,
      duplicates,
      accepted,
      pairs: pairsFile ? pairs : null,
      acceptanceRate: candidates > 0 ? accepted / candidates : 0,
      perPromptAcceptanceRate: prompts > 0 ? rateSum / prompts : 0,
      acceptedPerPrompt: prompts > 0 ? accepted / prompts : 0,
      out: options.out,
      pairsOut: options.pairs ?? null,
    };
  } catch (e) {
    out.abort();
    pairsFile?.abort();
    throw e;
  }
}
