/**
 * Generation for language-model RFT (proposal = the model): batched sampling of K candidates per
 * prompt from a GPT (src/graph/gpt.ts) on ONNX Runtime, with a KV cache (prefill pass, then one
 * token per step), left padding (`positions` + `attention_mask`), temperature / top-k / top-p,
 * stop at EOS or the length limit. `generateFull` recomputes the whole prefix every step (same
 * model fed an empty past) for comparison.
 *
 * Cache layout: the prefill pass (padded KV model, empty past) returns the prompt's keys and
 * values; they go into per-batch buffers owned here (capacity P + maxNewTokens - 1 slots, laid
 * out [B, H, stride, head] with the stride grown in chunks of 16 slots), and every decode step
 * runs the fixed-cache model (gptDecodeModel) on those buffers with a slot mask, then writes the
 * step's new keys / values into the next slot. Nothing in the graph grows or copies the cache per
 * step, and only the small new keys / values and logits come back (about 2x the tokens/s of
 * concatenating past and new keys in the graph, on the 4-layer d=128 bench model).
 *
 * Prompt encoding: BOS + the prompt's characters; the completion follows directly.
 *
 * Sampling distribution of one step (what `logprob` is measured under):
 *   temperature 0  -> greedy: argmax (lowest id on ties), probability 1 (logprob 0);
 *   otherwise z = logits / temperature; top-k keeps the k largest z (ties: lower id first);
 *   top-p then keeps the smallest prefix, in decreasing probability, whose renormalized mass
 *   reaches p (at least one token); the kept tokens are renormalized (softmax over them).
 * The token is chosen by inversion of that categorical, cumulating in increasing token id, with
 * one uniform u: the first token whose cumulative mass exceeds u.
 *
 * Randomness (reproducibility address, shared with policies.ts):
 *   stream(k, i) = k * 2^32 + i, sub 0 (GEN_SUB). policies.ts uses sub 1 for acceptance
 *   uniforms and positions 0 .. n-2 of sub 0 for RSO's visiting order (n = candidates of the
 *   prompt), so generation starts at position GEN_OFFSET = 4096 of sub 0:
 *     u(i, j, t) = value GEN_OFFSET + j * maxNewTokens + t of Stream(seed, k * 2^32 + i, 0)
 *   and k <= GEN_OFFSET is enforced, so the two never overlap when the generated candidates are
 *   selected. The choice for token t of candidate j of prompt i in round k is thus a pure
 *   function of (seed, k, i, j, t) (given maxNewTokens and the model): the same run gives the
 *   same candidates whatever the batch size (up to float rounding of the logits, which differs
 *   between batch shapes only in the last bits).
 */
import * as ort from 'onnxruntime-node';
import type { FloatArray, FloatDType } from '../../graph/dtype.js';
import { type GptConfig, checkGptConfig, decodeNames, gptDecodeModel, gptKvModel, gptParams, kvNames } from '../../graph/gpt.js';
import { intraOpThreads } from '../../train/sessions.js';
import { Stream } from '../../sampling/rng.js';
import { UsageError } from '../../errors.js';
import type { CharTokenizer } from './tokenizer.js';
import { streamId } from './policies.js';

export const GEN_SUB = 0;
export const GEN_OFFSET = 4096;
export const MAX_K = GEN_OFFSET;
const MAX_ROUND = 2 ** 21;
const MAX_PROMPTS = 2 ** 32;
/** Growth step of the decode cache's slot stride (see decodeBatch). */
const CACHE_CHUNK = 16;

export interface GeneratorOptions {
  cfg: GptConfig;
  /** Weights by gptParams name (missing ones take the config's initial values). */
  weights: Record<string, FloatArray>;
  tokenizer: CharTokenizer;
  /** ORT intra-op threads (default 1). */
  threads?: number;
  /** Compute dtype of the inference model (default float32). */
  dtype?: FloatDType;
}

export interface SamplingOptions {
  /** 0 = greedy; default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (integer >= 1). */
  topK?: number;
  /** Nucleus: keep the smallest set of most likely tokens with mass >= p, p in (0, 1]. */
  topP?: number;
}

export interface GenerateOptions extends SamplingOptions {
  prompts: string[];
  /** Candidates per prompt, integer in [1, 4096]. */
  k: number;
  /** integer in [0, 2^53) */
  seed: number;
  /** round, integer in [0, 2^21) (default 0) */
  round?: number;
  maxNewTokens: number;
  /** Rows (prompt x candidate) per ORT batch (default 64). */
  batchSize?: number;
}

export interface Candidate {
  /** Sampled token ids (the final EOS included when finished). */
  tokens: number[];
  /** Decoded completion (stops at EOS). */
  text: string;
  /** Sum of log-probabilities of the sampled tokens under the sampling distribution. */
  logprob: number;
  /** EOS was sampled (false = stopped at maxNewTokens). */
  finished: boolean;
}

export interface GenerateStats {
  cache: boolean;
  rows: number;
  batches: number;
  /** Generated tokens (EOS included). */
  tokens: number;
  /** ORT runs (prefill + decode steps). */
  runs: number;
  seconds: number;
  tokensPerSecond: number;
}

export interface GenerateResult {
  /** candidates[i][j]: candidate j of prompt i. */
  candidates: Candidate[][];
  stats: GenerateStats;
}

export interface Generator {
  readonly cfg: GptConfig;
  readonly tokenizer: CharTokenizer;
  /** KV-cache decoding. */
  generate(opts: GenerateOptions): Promise<GenerateResult>;
  /** No cache: the whole prefix is recomputed at each step (for comparison / tests). */
  generateFull(opts: GenerateOptions): Promise<GenerateResult>;
  release(): Promise<void>;
}

// ---- one sampling step --------------------------------------------------------------------

interface Sampling {
  temperature: number;
  topK: number; // 0 = off
  topP: number; // 1 = off
}

/** Scratch buffers of size V for sampleToken / samplingDistribution. */
export class SamplerScratch {
  readonly z: Float64Array;
  readonly keep: Uint8Array;
  readonly order: number[];
  constructor(readonly vocab: number) {
    this.z = new Float64Array(vocab);
    this.keep = new Uint8Array(vocab);
    this.order = Array.from({ length: vocab }, (_, v) => v);
  }
}

/**
 * Fill sc.z with the scaled logits (z - max) and sc.keep with the kept set; returns log of the
 * normalizer over the kept tokens (so log p_v = z_v - logZ for kept v). Not for temperature 0.
 */
function prepare(logits: ArrayLike<number>, off: number, s: Sampling, sc: SamplerScratch): number {
  const V = sc.vocab, z = sc.z, keep = sc.keep;
  let max = -Infinity;
  for (let v = 0; v < V; v++) {
    const x = logits[off + v] / s.temperature;
    z[v] = x;
    if (x > max) max = x;
  }
  for (let v = 0; v < V; v++) z[v] -= max;
  keep.fill(1);
  if ((s.topK > 0 && s.topK < V) || s.topP < 1) {
    const order = sc.order;
    for (let v = 0; v < V; v++) order[v] = v;
    order.sort((a, b) => z[b] - z[a] || a - b);
    let n = s.topK > 0 && s.topK < V ? s.topK : V;
    if (s.topP < 1) {
      let tot = 0;
      for (let r = 0; r < n; r++) tot += Math.exp(z[order[r]]);
      let c = 0, m = 0;
      while (m < n) {
        c += Math.exp(z[order[m]]);
        m++;
        if (c >= s.topP * tot) break;
      }
      n = m;
    }
    keep.fill(0);
    for (let r = 0; r < n; r++) keep[order[r]] = 1;
  }
  let sum = 0;
  for (let v = 0; v < V; v++) if (keep[v]) sum += Math.exp(z[v]);
  return Math.log(sum);
}

/**
 * Sample one token from logits[off .. off + V) with uniform u in (0, 1) (ignored when greedy):
 * the token and its log-probability under the sampling distribution (0 when greedy).
 */
export function sampleToken(logits: ArrayLike<number>, off: number, s: SamplingOptions, u: number, sc: SamplerScratch): { token: number; logprob: number } {
  const sm = normSampling(s);
  const V = sc.vocab;
  if (sm.temperature === 0) {
    let best = 0, bv = logits[off];
    for (let v = 1; v < V; v++) if (logits[off + v] > bv) { bv = logits[off + v]; best = v; }
    return { token: best, logprob: 0 };
  }
  const logZ = prepare(logits, off, sm, sc);
  const z = sc.z, keep = sc.keep;
  const target = u * Math.exp(logZ);
  let c = 0, last = -1;
  for (let v = 0; v < V; v++) {
    if (!keep[v]) continue;
    last = v;
    c += Math.exp(z[v]);
    if (target < c) return { token: v, logprob: z[v] - logZ };
  }
  return { token: last, logprob: z[last] - logZ };
}

/** The sampling distribution (probabilities over the vocabulary) of one logits row. */
export function samplingDistribution(logits: ArrayLike<number>, s: SamplingOptions, off = 0, vocab = logits.length - off): Float64Array {
  const sm = normSampling(s);
  const sc = new SamplerScratch(vocab);
  const p = new Float64Array(vocab);
  if (sm.temperature === 0) {
    p[sampleToken(logits, off, sm, 0.5, sc).token] = 1;
    return p;
  }
  const logZ = prepare(logits, off, sm, sc);
  for (let v = 0; v < vocab; v++) if (sc.keep[v]) p[v] = Math.exp(sc.z[v] - logZ);
  return p;
}

function normSampling(s: SamplingOptions): Sampling {
  return { temperature: s.temperature ?? 1, topK: s.topK ?? 0, topP: s.topP ?? 1 };
}

// ---- validation ---------------------------------------------------------------------------

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function checkOptions(o: GenerateOptions, tok: CharTokenizer, context: number): { ids: number[][]; round: number; batchSize: number; s: Sampling } {
  if (!o || typeof o !== 'object') throw new UsageError('generate: options must be an object');
  if (!Array.isArray(o.prompts)) throw new UsageError('generate: prompts must be an array of strings');
  if (o.prompts.length >= MAX_PROMPTS) throw new UsageError(`generate: at most 2^32 - 1 prompts, got ${o.prompts.length}`);
  if (!isInt(o.k) || o.k < 1 || o.k > MAX_K) throw new UsageError(`generate: k must be an integer in [1, ${MAX_K}], got ${String(o.k)}`);
  if (!isInt(o.seed) || o.seed < 0 || o.seed >= 2 ** 53) throw new UsageError(`generate: seed must be an integer in [0, 2^53), got ${String(o.seed)}`);
  const round = o.round ?? 0;
  if (!isInt(round) || round < 0 || round >= MAX_ROUND) throw new UsageError(`generate: round must be an integer in [0, 2^21), got ${String(o.round)}`);
  if (!isInt(o.maxNewTokens) || o.maxNewTokens < 1) throw new UsageError(`generate: maxNewTokens must be a positive integer, got ${String(o.maxNewTokens)}`);
  const T = o.temperature ?? 1;
  if (typeof T !== 'number' || !Number.isFinite(T) || T < 0) throw new UsageError(`generate: temperature must be a finite number >= 0, got ${String(o.temperature)}`);
  if (o.topK !== undefined && (!isInt(o.topK) || o.topK < 1)) throw new UsageError(`generate: topK must be a positive integer, got ${String(o.topK)}`);
  if (o.topP !== undefined && (typeof o.topP !== 'number' || !(o.topP > 0 && o.topP <= 1))) throw new UsageError(`generate: topP must be in (0, 1], got ${String(o.topP)}`);
  const batchSize = o.batchSize ?? 64;
  if (!isInt(batchSize) || batchSize < 1) throw new UsageError(`generate: batchSize must be a positive integer, got ${String(o.batchSize)}`);
  const ids = o.prompts.map((p, i) => {
    if (typeof p !== 'string') throw new UsageError(`generate: prompt ${i} must be a string, got ${typeof p}`);
    let e: number[];
    try {
      e = tok.encode(p, { bos: true });
    } catch (err) {
      throw new UsageError(`generate: prompt ${i}: ${(err as Error).message.replace(/^tokenizer: /, '')}`);
    }
    if (e.length + o.maxNewTokens - 1 > context) {
      throw new UsageError(`generate: prompt ${i} (${e.length} tokens with BOS) + maxNewTokens (${o.maxNewTokens}) - 1 exceeds the context (${context})`);
    }
    return e;
  });
  return { ids, round, batchSize, s: { temperature: T, topK: o.topK ?? 0, topP: o.topP ?? 1 } };
}

// ---- the generator --------------------------------------------------------------------------

interface Row {
  i: number;
  j: number;
  prompt: number[];
  u: Float64Array | null;
  tokens: number[];
  logprob: number;
  finished: boolean;
}

export async function createGenerator(opts: GeneratorOptions): Promise<Generator> {
  const { cfg, tokenizer } = opts;
  try {
    checkGptConfig(cfg);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (cfg.vocab !== tokenizer.vocabSize) throw new UsageError(`generator: model vocab (${cfg.vocab}) differs from the tokenizer's (${tokenizer.vocabSize})`);
  const threads = opts.threads ?? 1;
  if (!isInt(threads) || threads < 1) throw new UsageError(`generator: threads must be a positive integer, got ${String(opts.threads)}`);
  const dtype: FloatDType = opts.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float64') throw new UsageError(`generator: dtype must be float32 or float64, got ${String(dtype)}`);
  let bytes: Uint8Array, decodeBytes: Uint8Array;
  try {
    bytes = gptKvModel(cfg, opts.weights ?? {}, dtype, { padding: true });
    decodeBytes = gptDecodeModel(cfg, opts.weights ?? {}, dtype);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all', logSeverityLevel: 3,
    // No spin-waiting of the intra-op pool: generation runs many tiny steps, and on a shared
    // machine spinning threads made 2 threads slower than 1 (rft-size model: ~13k -> ~26k tokens/s).
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const session = await ort.InferenceSession.create(bytes, sessionOptions);
  // A decode step is one token per row (about 2 x params x rows FLOP): like the Trainer's steps
  // (train/sessions.ts), it gets one thread plus one per 0.5 GFLOP, counted at 256 rows (the
  // batch rsft rft decodes); `threads` stays the cap. Prefill, whole prompts, keeps `threads`.
  // Measured on 2 vCPUs, rft-size GPT: decoding on 2 threads was no faster and often slower.
  const nParams = gptParams(cfg).reduce((a, p) => a + p.init.length, 0);
  const decodeThreads = intraOpThreads(threads, 2 * nParams * 256);
  let decodeSession: ort.InferenceSession;
  try {
    decodeSession = await ort.InferenceSession.create(decodeBytes, { ...sessionOptions, intraOpNumThreads: decodeThreads });
  } catch (e) {
    await session.release();
    throw e;
  }
  const names = kvNames(cfg);
  const dnames = decodeNames(cfg);
  const H = names.heads, hd = names.headDim, V = cfg.vocab;
  const FArr = dtype === 'float32' ? Float32Array : Float64Array;
  const i64 = (a: ArrayLike<number>, dims: number[]) => {
    const d = new BigInt64Array(a.length);
    for (let x = 0; x < a.length; x++) d[x] = BigInt(a[x]);
    return new ort.Tensor('int64', d, dims);
  };
  const emptyPast = (B: number, feeds: Record<string, ort.Tensor>) => {
    for (const n of names.layers) {
      feeds[n.pastKey] = new ort.Tensor(dtype, new FArr(0), [B, H, 0, hd]);
      feeds[n.pastValue] = new ort.Tensor(dtype, new FArr(0), [B, H, 0, hd]);
    }
  };
  let runs = 0;
  const run = async (feeds: Record<string, ort.Tensor>, s: ort.InferenceSession = session) => {
    runs++;
    return s.run(feeds);
  };

  /** Left-padded feeds for rows' sequences (prompt ++ generated so far), empty past. */
  const fullFeeds = (rows: Row[]) => {
    const seqs = rows.map((r) => r.prompt.concat(r.tokens));
    const L = Math.max(...seqs.map((s) => s.length));
    const B = rows.length;
    const toks = new Array<number>(B * L).fill(tokenizer.pad), pos = new Array<number>(B * L).fill(0), mask = new Array<number>(B * L).fill(0);
    seqs.forEach((s, b) => {
      const pad = L - s.length;
      for (let t = 0; t < s.length; t++) {
        toks[b * L + pad + t] = s[t];
        pos[b * L + pad + t] = t;
        mask[b * L + pad + t] = 1;
      }
    });
    const feeds: Record<string, ort.Tensor> = { tokens: i64(toks, [B, L]), positions: i64(pos, [B, L]), attention_mask: i64(mask, [B, L]) };
    emptyPast(B, feeds);
    return { feeds, L, mask };
  };

  const sample = (rows: Row[], logits: ArrayLike<number>, T: number, s: Sampling, sc: SamplerScratch) => {
    const t = rows[0]?.tokens.length ?? 0;
    rows.forEach((r, b) => {
      const { token, logprob } = sampleToken(logits, (b * T + T - 1) * V, s, r.u ? r.u[t] : 0.5, sc);
      r.tokens.push(token);
      r.logprob += logprob;
      if (token === tokenizer.eos) r.finished = true;
    });
  };

  async function decodeBatch(rows: Row[], maxNew: number, s: Sampling, cache: boolean): Promise<void> {
    const sc = new SamplerScratch(V);
    if (!cache) {
      let alive = rows;
      while (alive.length > 0) {
        const { feeds, L } = fullFeeds(alive);
        const o = await run(feeds);
        sample(alive, o.logits.data as FloatArray, L, s, sc);
        alive = alive.filter((r) => !r.finished && r.tokens.length < maxNew);
      }
      return;
    }
    // prefill
    const pre = fullFeeds(rows);
    const P = pre.L;
    const o = await run(pre.feeds);
    sample(rows, o.logits.data as FloatArray, P, s, sc);
    if (maxNew === 1) return;
    // Cache buffers of Smax slots per (row, head) at most, laid out [B, H, cap, hd] with a
    // stride `cap` that grows in chunks of CACHE_CHUNK slots as tokens are added (the filled
    // slots are moved to the wider layout in place), so that each step reads about the filled
    // part of the cache, not the whole capacity. Slots 0 .. P-1 hold the prompt (its padding
    // masked out), slot P + t - 1 the token fed at decode step t; slots beyond are masked.
    const Smax = P + maxNew - 1;
    let B = rows.length;
    let cap = Math.min(Smax, Math.ceil((P + 1) / CACHE_CHUNK) * CACHE_CHUNK);
    const caches = dnames.layers.map((_, l) => [names.layers[l].presentKey, names.layers[l].presentValue].map((pn) => {
      const buf = new FArr(B * H * Smax * hd);
      const src = o[pn].data as FloatArray; // [B, H, P, hd]
      for (let bh = 0; bh < B * H; bh++) buf.set(src.subarray(bh * P * hd, (bh + 1) * P * hd), bh * cap * hd);
      return buf;
    }));
    const cacheMask = new BigInt64Array(B * Smax);
    for (let b = 0; b < B; b++) for (let x = 0; x < P; x++) cacheMask[b * cap + x] = BigInt(pre.mask[b * P + x]);
    const tokBuf = new BigInt64Array(B), posBuf = new BigInt64Array(B);
    let alive = rows;
    for (let t = 1; t < maxNew; t++) {
      const keepIdx: number[] = [];
      alive.forEach((r, b) => { if (!r.finished) keepIdx.push(b); });
      if (keepIdx.length === 0) break;
      const filled = P + t - 1; // slots holding keys / values before this step
      if (keepIdx.length < alive.length) {
        // drop finished rows from the batch: compact their cache rows and masks to the front
        const rowLen = H * cap * hd;
        keepIdx.forEach((b, nb) => {
          if (b === nb) return;
          for (const pair of caches) for (const buf of pair) buf.copyWithin(nb * rowLen, b * rowLen, (b + 1) * rowLen);
          cacheMask.copyWithin(nb * cap, b * cap, (b + 1) * cap);
        });
        alive = keepIdx.map((b) => alive[b]);
        B = alive.length;
      }
      if (filled + 1 > cap) {
        // widen the layout (from the last block backwards: every block moves to a higher offset)
        const ncap = Math.min(Smax, cap + CACHE_CHUNK);
        for (const pair of caches) {
          for (const buf of pair) for (let bh = B * H - 1; bh > 0; bh--) buf.copyWithin(bh * ncap * hd, bh * cap * hd, (bh * cap + filled) * hd);
        }
        for (let b = B - 1; b >= 0; b--) {
          if (b > 0) cacheMask.copyWithin(b * ncap, b * cap, b * cap + filled);
          cacheMask.fill(0n, b * ncap + filled, (b + 1) * ncap);
        }
        cap = ncap;
      }
      for (let b = 0; b < B; b++) {
        tokBuf[b] = BigInt(alive[b].tokens[t - 1]);
        posBuf[b] = BigInt(alive[b].prompt.length + t - 1);
      }
      const n = B * H * cap * hd;
      const feeds: Record<string, ort.Tensor> = {
        tokens: new ort.Tensor('int64', tokBuf.subarray(0, B), [B, 1]),
        positions: new ort.Tensor('int64', posBuf.subarray(0, B), [B, 1]),
        cache_mask: new ort.Tensor('int64', cacheMask.subarray(0, B * cap), [B, cap]),
      };
      dnames.layers.forEach((nm, l) => {
        feeds[nm.cacheKey] = new ort.Tensor(dtype, caches[l][0].subarray(0, n), [B, H, cap, hd]);
        feeds[nm.cacheValue] = new ort.Tensor(dtype, caches[l][1].subarray(0, n), [B, H, cap, hd]);
      });
      const out = await run(feeds, decodeSession);
      sample(alive, out.logits.data as FloatArray, 1, s, sc);
      // the fed token's keys / values go into slot `filled`
      dnames.layers.forEach((nm, l) => {
        [nm.newKey, nm.newValue].forEach((name, kv) => {
          const src = out[name].data as FloatArray, buf = caches[l][kv];
          for (let bh = 0; bh < B * H; bh++) {
            const dst = (bh * cap + filled) * hd, from = bh * hd;
            for (let e = 0; e < hd; e++) buf[dst + e] = src[from + e];
          }
        });
      });
      for (let b = 0; b < B; b++) cacheMask[b * cap + filled] = 1n;
    }
  }

  async function gen(o: GenerateOptions, cache: boolean): Promise<GenerateResult> {
    const { ids, round, batchSize, s } = checkOptions(o, tokenizer, cfg.context);
    const t0 = performance.now();
    const runs0 = runs;
    const K = o.k, maxNew = o.maxNewTokens;
    const rows: Row[] = [];
    for (let i = 0; i < ids.length; i++) for (let j = 0; j < K; j++) rows.push({ i, j, prompt: ids[i], u: null, tokens: [], logprob: 0, finished: false });
    let batches = 0;
    for (let b0 = 0; b0 < rows.length; b0 += batchSize) {
      const batch = rows.slice(b0, b0 + batchSize);
      if (s.temperature > 0) {
        // uniforms: per prompt segment of the batch, positions GEN_OFFSET + j * maxNew + t
        for (let x = 0; x < batch.length;) {
          const i = batch[x].i, j0 = batch[x].j;
          let y = x;
          while (y < batch.length && batch[y].i === i) y++;
          const st = new Stream(o.seed, streamId(round, i), GEN_SUB);
          st.fillF64(new Float64Array(GEN_OFFSET + j0 * maxNew));
          const all = new Float64Array((y - x) * maxNew);
          st.fillF64(all);
          for (let r = x; r < y; r++) batch[r].u = all.subarray((r - x) * maxNew, (r - x + 1) * maxNew);
          x = y;
        }
      }
      await decodeBatch(batch, maxNew, s, cache);
      for (const r of batch) r.u = null;
      batches++;
    }
    const seconds = (performance.now() - t0) / 1000;
    const candidates: Candidate[][] = ids.map(() => []);
    let tokens = 0;
    for (const r of rows) {
      tokens += r.tokens.length;
      candidates[r.i][r.j] = { tokens: r.tokens, text: tokenizer.decode(r.tokens), logprob: r.logprob, finished: r.finished };
    }
    return {
      candidates,
      stats: { cache, rows: rows.length, batches, tokens, runs: runs - runs0, seconds, tokensPerSecond: seconds > 0 ? tokens / seconds : 0 },
    };
  }

  return {
    cfg,
    tokenizer,
    generate: (o) => gen(o, true),
    generateFull: (o) => gen(o, false),
    release: async () => {
      await session.release();
      await decodeSession.release();
    },
  };
}
