/**
 * Acceptance policies for language-model RFT: given one prompt's scored candidates, decide which
 * are accepted. Used by `rsft select` (external candidate files) and by the RFT round loop.
 *
 * Randomness (reproducibility address). Every uniform is drawn from the run's own streams
 * (src/sampling/rng.ts), never from a global RNG:
 *
 *   stream(k, i) = k * 2^32 + i          (round k < 2^21, prompt index i < 2^32: injective, < 2^53)
 *   sub 1, position j          -> u_j, the uniform that decides candidate j (0-based index of the
 *                                 candidate within its prompt, in input order, duplicates included)
 *   sub 1, position p * n + j  -> the uniform of candidate j in RSO pass p >= 1 (n = the prompt's
 *                                 candidate count), so pass 0 uses exactly u_j
 *   sub 0                      -> RSO's seeded random visiting order: a Fisher-Yates shuffle of
 *                                 0..n-1 drawing floor(u * (t + 1)) for t = n-1 down to 1
 *
 * so the decision for candidate j of prompt i in round k is a pure function of (seed, k, i, j) and
 * of that prompt's own candidates: it never depends on other prompts (except top-alpha, which is
 * global by definition) nor on how the input is batched.
 *
 * Ties: wherever candidates are ranked by reward (best-of-n, caps, top-alpha), equal rewards are
 * ordered by ascending u_j, which picks uniformly among the tied candidates.
 */
import { Stream } from '../../sampling/rng.js';
import { UsageError } from '../../errors.js';

export type PolicyName = 'threshold' | 'best-of-n' | 'top-alpha' | 'rso';
export const POLICIES: readonly PolicyName[] = ['threshold', 'best-of-n', 'top-alpha', 'rso'];

/** One scored candidate. `key` identifies its completion for dedup (identical key = duplicate). */
export interface ScoredCandidate {
  /** finite for every eligible candidate */
  reward: number;
  key?: string;
  /**
   * false: never accepted, never counted as a duplicate or as a pair's rejected side (e.g. a
   * generation that hit the length limit without EOS); default true
   */
  eligible?: boolean;
}

export interface PolicyOptions {
  policy: PolicyName;
  /** integer in [0, 2^53) */
  seed: number;
  /** round k, integer in [0, 2^21); default 0 */
  round?: number;
  /**
   * rso: the number to accept (Algorithm 1's num_samples); best-of-n: the number of top
   * candidates kept; threshold and top-alpha: the most kept per prompt. Default 1; Infinity = all.
   */
  perPrompt?: number;
  /** drop later copies of an identical completion within a prompt (default true) */
  dedup?: boolean;
  /** hard cap of accepted per prompt applied after the policy (highest rewards kept); default none */
  cap?: number;
  /** threshold: accept r >= tau */
  threshold?: number;
  /** rso: temperature beta > 0 */
  beta?: number;
  /** top-alpha: the global fraction in (0, 1] */
  alpha?: number;
}

export type CandidateStatus = 'accepted' | 'rejected' | 'duplicate' | 'ineligible';

export interface CandidateProvenance {
  status: CandidateStatus;
  /** the uniform that decided this candidate, where one did (RSO test, or a tie broken by rank) */
  u?: number;
  /** rso: the pass (from 0) in which the candidate was accepted or last tested */
  pass?: number;
}

export interface PromptDecision {
  /** accepted candidate indices, in acceptance order (RSO) or rank order (others) */
  accepted: number[];
  prov: CandidateProvenance[];
}

export const MAX_ROUND = 2 ** 21;
export const MAX_PROMPTS = 2 ** 32;

/** The stream of prompt i in round k: k * 2^32 + i. */
export function streamId(round: number, promptIndex: number): number {
  if (!Number.isInteger(round) || round < 0 || round >= MAX_ROUND) throw new UsageError(`round must be an integer in [0, 2^21), got ${round}`);
  if (!Number.isInteger(promptIndex) || promptIndex < 0 || promptIndex >= MAX_PROMPTS) throw new UsageError(`prompt index must be an integer in [0, 2^32), got ${promptIndex}`);
  return round * MAX_PROMPTS + promptIndex;
}

/** u_0..u_{n-1} for prompt i in round k (sub 1, positions 0..n-1). */
export function candidateUniforms(seed: number, round: number, promptIndex: number, n: number): Float64Array {
  const out = new Float64Array(n);
  new Stream(seed, streamId(round, promptIndex), 1).fillF64(out);
  return out;
}

/** RSO's visiting order for prompt i in round k (sub 0). */
export function visitOrder(seed: number, round: number, promptIndex: number, n: number): Int32Array {
  const perm = new Int32Array(n);
  for (let t = 0; t < n; t++) perm[t] = t;
  if (n < 2) return perm;
  const s = new Stream(seed, streamId(round, promptIndex), 0);
  for (let t = n - 1; t >= 1; t--) {
    const r = Math.min(t, Math.floor(s.nextF64() * (t + 1)));
    const tmp = perm[t];
    perm[t] = perm[r];
    perm[r] = tmp;
  }
  return perm;
}

/** Validate options once (UsageError on a bad value) and fill defaults. */
export function resolveOptions(o: PolicyOptions): Required<Omit<PolicyOptions, 'threshold' | 'beta' | 'alpha'>> & Pick<PolicyOptions, 'threshold' | 'beta' | 'alpha'> {
  if (!POLICIES.includes(o.policy)) throw new UsageError(`unknown policy '${String(o.policy)}' (policies: ${POLICIES.join(', ')})`);
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed >= 2 ** 53) throw new UsageError(`seed must be an integer in [0, 2^53), got ${o.seed}`);
  const round = o.round ?? 0;
  streamId(round, 0);
  const perPrompt = o.perPrompt ?? 1;
  if (!(perPrompt === Infinity || (Number.isInteger(perPrompt) && perPrompt >= 1))) throw new UsageError(`per-prompt must be a positive integer or all, got ${perPrompt}`);
  const cap = o.cap ?? Infinity;
  if (!(cap === Infinity || (Number.isInteger(cap) && cap >= 1))) throw new UsageError(`cap must be a positive integer, got ${cap}`);
  if (o.policy === 'threshold' && !(typeof o.threshold === 'number' && !Number.isNaN(o.threshold))) throw new UsageError('policy threshold needs a threshold (--threshold TAU)');
  if (o.policy === 'rso' && !(typeof o.beta === 'number' && o.beta > 0 && Number.isFinite(o.beta))) throw new UsageError('policy rso needs a finite beta > 0 (--beta B)');
  if (o.policy === 'top-alpha' && !(typeof o.alpha === 'number' && o.alpha > 0 && o.alpha <= 1)) throw new UsageError('policy top-alpha needs alpha in (0, 1] (--alpha A)');
  return { policy: o.policy, seed: o.seed, round, perPrompt, dedup: o.dedup ?? true, cap, threshold: o.threshold, beta: o.beta, alpha: o.alpha };
}

/** Rank order: reward descending, then u ascending. */
function better(ra: number, ua: number, rb: number, ub: number): boolean {
  return ra > rb || (ra === rb && ua < ub);
}

/**
 * The top m of `idx` by (reward desc, u asc). `tieU` lists the selected indices whose selection
 * a uniform decided (their reward equals that of the best unselected one).
 */
export function topByReward(idx: number[], rewards: ArrayLike<number>, u: ArrayLike<number>, m: number): { chosen: number[]; tieDecided: Set<number> } {
  const sorted = idx.slice().sort((a, b) => (better(rewards[a], u[a], rewards[b], u[b]) ? -1 : better(rewards[b], u[b], rewards[a], u[a]) ? 1 : a - b));
  const chosen = sorted.slice(0, Math.min(m, sorted.length));
  const tieDecided = new Set<number>();
  if (sorted.length > chosen.length && chosen.length > 0) {
    const rb = rewards[sorted[chosen.length]];
    for (const c of chosen) if (rewards[c] === rb) tieDecided.add(c);
  }
  return { chosen, tieDecided };
}

/** Indices that survive dedup (first occurrence of each key kept), marking the rest duplicates. */
function dedupIndices(cands: readonly ScoredCandidate[], dedup: boolean, prov: CandidateProvenance[]): number[] {
  const live: number[] = [];
  const seen = dedup ? new Set<string>() : null;
  for (let j = 0; j < cands.length; j++) {
    if (prov[j].status === 'ineligible') continue;
    const k = cands[j].key;
    if (seen && k !== undefined) {
      if (seen.has(k)) {
        prov[j].status = 'duplicate';
        continue;
      }
      seen.add(k);
    }
    live.push(j);
  }
  return live;
}

/**
 * RSO (Liu et al. 2023, Algorithm 1) over the live candidates: visit in the seeded order; in each
 * pass r_max is the largest reward among candidates not yet accepted, and each visited candidate
 * is accepted when u < exp((r - r_max) / beta); stop as soon as `want` are accepted; repeat passes
 * over the not-yet-accepted until `want` are accepted or none remain. Candidates are keyed by index.
 */
function rso(n: number, live: number[], rewards: ArrayLike<number>, beta: number, want: number, seed: number, round: number, promptIndex: number, prov: CandidateProvenance[]): number[] {
  const accepted: number[] = [];
  if (live.length === 0) return accepted;
  const order = visitOrder(seed, round, promptIndex, n);
  const isLive = new Uint8Array(n);
  for (const j of live) isLive[j] = 1;
  const stream = new Stream(seed, streamId(round, promptIndex), 1);
  const u = new Float64Array(n);
  let remaining = live.length;
  for (let pass = 0; accepted.length < want && remaining > 0; pass++) {
    stream.fillF64(u); // positions pass * n .. pass * n + n - 1
    let rmax = -Infinity;
    for (let j = 0; j < n; j++) if (isLive[j] && rewards[j] > rmax) rmax = rewards[j];
    for (let t = 0; t < n && accepted.length < want; t++) {
      const j = order[t];
      if (!isLive[j]) continue;
      const uj = u[j];
      prov[j].u = uj;
      prov[j].pass = pass;
      if (uj < Math.exp((rewards[j] - rmax) / beta)) {
        accepted.push(j);
        isLive[j] = 0;
        remaining--;
        prov[j].status = 'accepted';
      }
    }
  }
  return accepted;
}

/**
 * Decide one prompt's candidates. For top-alpha this is the per-prompt stage only (the prompt's
 * best `perPrompt` become eligible, status 'accepted'); the global cut is `topAlphaCut`.
 */
export function decidePrompt(cands: readonly ScoredCandidate[], promptIndex: number, options: PolicyOptions): PromptDecision {
  const o = resolveOptions(options);
  return decideResolved(cands, promptIndex, o);
}

export function decideResolved(cands: readonly ScoredCandidate[], promptIndex: number, o: ReturnType<typeof resolveOptions>): PromptDecision {
  const n = cands.length;
  const prov: CandidateProvenance[] = [];
  const rewards = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    if (cands[j].eligible === false) {
      rewards[j] = NaN;
      prov.push({ status: 'ineligible' });
      continue;
    }
    const r = cands[j].reward;
    if (typeof r !== 'number' || !Number.isFinite(r)) throw new UsageError(`candidate ${j} of prompt ${promptIndex}: reward is not a finite number`);
    rewards[j] = r;
    prov.push({ status: 'rejected' });
  }
  const live = dedupIndices(cands, o.dedup, prov);
  let accepted: number[];
  if (o.policy === 'rso') {
    accepted = rso(n, live, rewards, o.beta as number, Math.min(o.perPrompt, o.cap), o.seed, o.round, promptIndex, prov);
  } else {
    const pool0 = o.policy === 'threshold' ? live.filter((j) => rewards[j] >= (o.threshold as number)) : live;
    // Uniforms only rank equal rewards: skip drawing them when the pool's rewards are distinct.
    let tied = false;
    if (pool0.length > Math.min(o.perPrompt, o.cap)) {
      const seen = new Set<number>();
      for (const j of pool0) {
        if (seen.has(rewards[j])) { tied = true; break; }
        seen.add(rewards[j]);
      }
    }
    const u = tied ? candidateUniforms(o.seed, o.round, promptIndex, n) : new Float64Array(n);
    const pool = pool0;
    const { chosen, tieDecided } = topByReward(pool, rewards, u, Math.min(o.perPrompt, o.cap));
    for (const j of chosen) {
      prov[j].status = 'accepted';
      if (tieDecided.has(j)) prov[j].u = u[j];
    }
    accepted = chosen;
  }
  return { accepted, prov };
}

/**
 * top-alpha's global cut: the number kept is ceil(alpha * N) where N counts every non-duplicate
 * candidate of every prompt; the kept ones are the best eligible candidates by (reward desc,
 * u asc). Returns m, the number to keep.
 */
export function topAlphaCount(alpha: number, totalCandidates: number): number {
  return Math.min(totalCandidates, Math.ceil(alpha * totalCandidates - 1e-9));
}

/** A bounded heap of the best m (reward, u) keys; `worst()` is the cut once full. */
export class TopKeys {
  private readonly r: Float64Array;
  private readonly u: Float64Array;
  size = 0;
  constructor(readonly capacity: number) {
    this.r = new Float64Array(Math.max(1, capacity));
    this.u = new Float64Array(Math.max(1, capacity));
  }
  /** heap order: the root is the worst key (the first to be evicted) */
  private worse(a: number, b: number): boolean {
    return better(this.r[b], this.u[b], this.r[a], this.u[a]);
  }
  private swap(a: number, b: number): void {
    const r = this.r[a]; this.r[a] = this.r[b]; this.r[b] = r;
    const u = this.u[a]; this.u[a] = this.u[b]; this.u[b] = u;
  }
  push(reward: number, u: number): void {
    if (this.capacity === 0) return;
    if (this.size < this.capacity) {
      let i = this.size++;
      this.r[i] = reward; this.u[i] = u;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(i, p)) break;
        this.swap(i, p);
        i = p;
      }
      return;
    }
    if (!better(reward, u, this.r[0], this.u[0])) return;
    this.r[0] = reward; this.u[0] = u;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, rr = l + 1;
      let w = i;
      if (l < this.size && this.worse(l, w)) w = l;
      if (rr < this.size && this.worse(rr, w)) w = rr;
      if (w === i) break;
      this.swap(i, w);
      i = w;
    }
  }
  /** the worst kept key, or null when nothing is kept */
  worst(): { reward: number; u: number } | null {
    return this.size === 0 ? null : { reward: this.r[0], u: this.u[0] };
  }
  /** whether (reward, u) is among the kept (ranks at or above the cut) */
  static keeps(cut: { reward: number; u: number } | null, reward: number, u: number): boolean {
    return cut !== null && (better(reward, u, cut.reward, cut.u) || (reward === cut.reward && u === cut.u));
  }
}

/**
 * In-memory selection over many prompts (all policies; top-alpha needs all prompts at once).
 * prompts[i] are the candidates of prompt index i.
 */
export function selectAll(prompts: readonly (readonly ScoredCandidate[])[], options: PolicyOptions): PromptDecision[] {
  const o = resolveOptions(options);
  const out = prompts.map((c, i) => decideResolved(c, i, o));
  if (o.policy !== 'top-alpha') return out;
  let total = 0;
  for (const d of out) for (const p of d.prov) if (p.status !== 'duplicate' && p.status !== 'ineligible') total++;
  const heap = new TopKeys(topAlphaCount(o.alpha as number, total));
  const us = prompts.map((c, i) => candidateUniforms(o.seed, o.round, i, c.length));
  out.forEach((d, i) => { for (const j of d.accepted) heap.push(prompts[i][j].reward, us[i][j]); });
  const cut = heap.worst();
  out.forEach((d, i) => {
    d.accepted = d.accepted.filter((j) => {
      const keep = TopKeys.keeps(cut, prompts[i][j].reward, us[i][j]);
      if (!keep) { d.prov[j].status = 'rejected'; delete d.prov[j].u; }
      return keep;
    });
  });
  return out;
}

/**
 * DPO pairs of one prompt: `rejected` is the lowest-reward candidate whose status is 'rejected'
 * (ties: the lowest index); each accepted candidate with a reward strictly greater than that
 * one's gives the pair [chosen, rejected]. No rejected candidate: no pairs.
 */
export function dpoPairs(rewards: ArrayLike<number>, accepted: readonly number[], prov: readonly CandidateProvenance[]): [number, number][] {
  let lo = -1;
  for (let j = 0; j < prov.length; j++) {
    if (prov[j].status !== 'rejected') continue;
    if (lo < 0 || rewards[j] < rewards[lo]) lo = j;
  }
  if (lo < 0) return [];
  return accepted.filter((j) => rewards[j] > rewards[lo]).map((j) => [j, lo]);
}
