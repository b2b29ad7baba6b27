/**
 * A small GPT (GPT-2 architecture) built from the graph layer's primitives:
 * token + position embeddings (Gather), n pre-LayerNorm blocks of causal multi-head
 * self-attention and a GELU MLP (4x width), final LayerNorm, tied or untied output
 * head. Everything differentiates through the existing rules (Gather's ScatterND add,
 * Gemm, Reshape/Transpose, MatMul, Where, Softmax, LayerNorm's composite backward).
 *
 * Parameter names follow Hugging Face GPT-2 (without the `transformer.` prefix), and
 * the Conv1D weights have the same [in, out] layout:
 *   wte.weight [V, d], wpe.weight [ctx, d],
 *   h.<l>.ln_1.{weight,bias}, h.<l>.attn.c_attn.{weight [d, 3d], bias},
 *   h.<l>.attn.c_proj.{weight [d, d], bias}, h.<l>.ln_2.{weight,bias},
 *   h.<l>.mlp.c_fc.{weight [d, 4d], bias}, h.<l>.mlp.c_proj.{weight [4d, d], bias},
 *   ln_f.{weight,bias}, lm_head.weight [V, d] (untied only; nn.Linear layout).
 *
 * Optional past keys/values (a KV cache): the forward then attends to
 * concat(past, new) and returns the presents, with positions offset by the past length.
 */
import type { FloatArray, FloatDType } from './dtype.js';
import { Graph, type Value } from './graph.js';
import { serialize } from './serialize.js';
import * as op from './ops.js';
import { gelu, layerNorm, dropout } from './nn.js';
import { Stream } from '../sampling/rng.js';

export interface GptConfig {
  vocab: number;
  /** Context length (rows of the position embedding). */
  context: number;
  dModel: number;
  nHeads: number;
  nLayers: number;
  /** Output head = token embedding transposed (default true). */
  tied?: boolean;
  /** Residual / attention dropout rate in training (default 0). */
  dropout?: number;
  /** Seed of the initial weights (rsft random streams). Default 0. */
  seed?: number;
  /** LayerNorm epsilon (default 1e-5). */
  lnEpsilon?: number;
}

export interface GptParam {
  name: string;
  shape: number[];
  init: FloatArray;
  decay: boolean;
}

/** Value used for masked attention scores (added as a constant via Where). */
export const MASK_VALUE = -1e9;

export function checkGptConfig(cfg: GptConfig): void {
  const pos = (k: keyof GptConfig) => {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`gpt: ${k} must be a positive integer, got ${String(v)}`);
  };
  pos('vocab'); pos('context'); pos('dModel'); pos('nHeads'); pos('nLayers');
  if (cfg.dModel % cfg.nHeads !== 0) throw new Error(`gpt: dModel (${cfg.dModel}) must be divisible by nHeads (${cfg.nHeads})`);
  const d = cfg.dropout ?? 0;
  if (!(d >= 0 && d < 1)) throw new Error(`gpt: dropout must be in [0, 1), got ${d}`);
  const s = cfg.seed ?? 0;
  if (!Number.isInteger(s) || s < 0) throw new Error(`gpt: seed must be a non-negative integer, got ${s}`);
}

/**
 * Parameters with GPT-2 initialization: N(0, 0.02) for embeddings and linear weights,
 * N(0, 0.02 / sqrt(2 n_layers)) for the residual projections (attn.c_proj, mlp.c_proj),
 * zero biases, LayerNorm scale 1 / bias 0. Parameter k draws from stream k of the seed
 * (Box-Muller on the stream's uniforms), so the weights depend only on (config, seed).
 * Weight decay on matrices (and embeddings), not on biases and norms (nanoGPT's rule).
 */
export function gptParams(cfg: GptConfig, dtype: FloatDType = 'float32'): GptParam[] {
  checkGptConfig(cfg);
  const { vocab: V, context: C, dModel: d, nLayers: L } = cfg;
  const seed = cfg.seed ?? 0;
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const out: GptParam[] = [];
  const normal = (shape: number[], std: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Arr(n);
    const s = new Stream(seed, out.length, 0);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(s.nextF64()));
      const th = 2 * Math.PI * s.nextF64();
      a[i] = std * r * Math.cos(th);
      if (i + 1 < n) a[i + 1] = std * r * Math.sin(th);
    }
    return a;
  };
  const fill = (shape: number[], v: number) => new Arr(shape.reduce((a, b) => a * b, 1)).fill(v);
  const w = (name: string, shape: number[], std = 0.02) => out.push({ name, shape, init: normal(shape, std), decay: true });
  const b = (name: string, n: number) => out.push({ name, shape: [n], init: fill([n], 0), decay: false });
  const ln = (name: string) => {
    out.push({ name: `${name}.weight`, shape: [d], init: fill([d], 1), decay: false });
    out.push({ name: `${name}.bias`, shape: [d], init: fill([d], 0), decay: false });
  };
  const resid = 0.02 / Math.sqrt(2 * L);
  w('wte.weight', [V, d]);
  w('wpe.weight', [C, d]);
  for (let l = 0; l < L; l++) {
    const p = `h.${l}`;
    ln(`${p}.ln_1`);
    w(`${p}.attn.c_attn.weight`, [d, 3 * d]); b(`${p}.attn.c_attn.bias`, 3 * d);
    w(`${p}.attn.c_proj.weight`, [d, d], resid); b(`${p}.attn.c_proj.bias`, d);
    ln(`${p}.ln_2`);
    w(`${p}.mlp.c_fc.weight`, [d, 4 * d]); b(`${p}.mlp.c_fc.bias`, 4 * d);
    w(`${p}.mlp.c_proj.weight`, [4 * d, d], resid); b(`${p}.mlp.c_proj.bias`, d);
  }
  ln('ln_f');
  if (cfg.tied === false) w('lm_head.weight', [V, d]);
  return out;
}

export interface GptForwardOptions {
  /** Training mode: dropout active (needs `seed` when cfg.dropout > 0). */
  training?: boolean;
  seed?: Value;
  /**
   * KV cache: per layer the past keys and values [B, H, P, head] (P may be 0). When
   * given, positions start at P and the result carries `present` (past ++ new).
   */
  past?: { key: Value; value: Value }[];
  /** Position ids [B, T] int64 (default past .. past + T - 1 for every row), for left-padded batches. */
  positions?: Value;
  /** Key mask [B, P + T] (int64 or bool; nonzero = attend), masking left padding out of attention. */
  keyMask?: Value;
  /**
   * Fixed-size KV cache (decoding without copying the cache): per layer keys and values
   * [B, H, S, head] of S cache slots, of which the new tokens attend to those where
   * `cacheMask` [B, S] (int64 or bool) is nonzero, plus the new tokens themselves (causally).
   * Needs `positions`. The result's `present` holds only the new keys / values [B, H, T, head];
   * the caller writes them into free slots. Mutually exclusive with `past`.
   */
  cache?: { key: Value; value: Value }[];
  cacheMask?: Value;
}

export interface GptForwardResult {
  /** [B, T, vocab] */
  logits: Value;
  /** Per layer [B, H, P + T, head] (only with opts.past; [B, H, T, head] with opts.cache). */
  present?: { key: Value; value: Value }[];
}

/** x [..., din] -> x W + b as one 2-D Gemm on the flattened rows, reshaped back. */
function dense(x: Value, w: Value, b: Value | null): Value {
  const g = x.graph;
  const din = w.shape[0] as number, dout = w.shape[1] as number;
  const x2 = op.reshape(x, [-1, din]);
  const y2 = op.gemm(x2, w, b);
  const lead = op.shapeOf(x, 0, x.rank - 1);
  return op.reshapeTo(y2, op.concat([lead, g.ints([dout])], 0), [...x.shape.slice(0, -1), dout]);
}

/**
 * Forward pass: tokens [B, T] (int64) -> logits [B, T, vocab]. `params` maps the
 * names of gptParams to graph values (inputs or initializers).
 */
export function gptForward(tokens: Value, params: Record<string, Value>, cfg: GptConfig, opts: GptForwardOptions = {}): GptForwardResult {
  checkGptConfig(cfg);
  const g = tokens.graph;
  if (tokens.dtype !== 'int64' || tokens.rank !== 2) throw new Error(`gptForward: tokens must be int64 [B, T], got ${tokens}`);
  const P = (n: string) => {
    const v = params[n];
    if (!v) throw new Error(`gptForward: missing parameter '${n}'`);
    return v;
  };
  const { dModel: d, nHeads: H, nLayers: L } = cfg;
  const hd = d / H;
  const eps = cfg.lnEpsilon ?? 1e-5;
  const rate = cfg.dropout ?? 0;
  const training = opts.training ?? false;
  let salt = 0;
  const drop = (x: Value) => (training && rate > 0 ? dropout(x, rate, { training, seed: opts.seed, salt: ++salt }) : x);
  const wte = P('wte.weight');
  const [Bsym, Tsym] = tokens.shape;
  if (opts.past && opts.past.length !== L) throw new Error(`gptForward: past must have ${L} layers, got ${opts.past.length}`);
  if (opts.cache) {
    if (opts.past) throw new Error('gptForward: past and cache are mutually exclusive');
    if (opts.cache.length !== L) throw new Error(`gptForward: cache must have ${L} layers, got ${opts.cache.length}`);
    if (!opts.positions || !opts.cacheMask) throw new Error('gptForward: cache needs positions and cacheMask');
  }

  // Positions past .. past + T - 1 (int64 scalars from runtime shapes).
  const scalarDim = (v: Value, axis: number) => op.squeeze(op.shapeOf(v, axis, axis + 1), [0]);
  const T = scalarDim(tokens, 1);
  const past = opts.past ? scalarDim(opts.past[0].key, 2) : g.scalar('int64', 0);
  const end = op.add(past, T);
  const one = g.scalar('int64', 1);
  const pos = op.range(past, end, one, Tsym);
  // Causal mask [T, P + T]: query slot past + i must not see key slot j > past + i.
  const qpos = op.unsqueeze(pos, [1]);
  const kpos = op.unsqueeze(op.range(g.scalar('int64', 0), end, one, opts.past ? null : Tsym), [0]);
  let masked = op.greater(kpos, qpos); // [T, S]
  if (opts.keyMask) {
    const km = opts.keyMask.dtype === 'bool' ? opts.keyMask : op.not(op.equal(opts.keyMask, 0));
    masked = op.not(op.and(op.unsqueeze(km, [1, 2]), op.not(masked))); // [B, 1, T, S]
  }

  // Fixed-size cache: cache slots masked by cacheMask [B, 1, 1, S]; new tokens causally [T, T].
  let cacheMasked: Value | null = null, newMasked: Value | null = null, cacheSlots: Value | null = null;
  if (opts.cache) {
    const cm = opts.cacheMask!;
    cacheMasked = op.unsqueeze(cm.dtype === 'bool' ? op.not(cm) : op.equal(cm, 0), [1, 2]);
    const tpos = op.range(g.scalar('int64', 0), T, one, Tsym);
    newMasked = op.greater(op.unsqueeze(tpos, [0]), op.unsqueeze(tpos, [1]));
    cacheSlots = op.shapeOf(opts.cache[0].key, 2, 3); // [S]
  }

  let x = op.add(op.gather(wte, tokens), op.gather(P('wpe.weight'), opts.positions ?? pos));
  x = drop(x);
  const present: { key: Value; value: Value }[] = [];
  const scale = 1 / Math.sqrt(hd);
  for (let l = 0; l < L; l++) {
    const p = `h.${l}`;
    // ---- attention ----
    const a = layerNorm(x, P(`${p}.ln_1.weight`), P(`${p}.ln_1.bias`), { epsilon: eps });
    const qkv = dense(a, P(`${p}.attn.c_attn.weight`), P(`${p}.attn.c_attn.bias`)); // [B, T, 3d]
    const part = (k: number) => op.reshape(op.slice(qkv, { starts: [k * d], ends: [(k + 1) * d], axes: [2] }), [0, 0, H, hd]); // [B, T, H, hd]
    const q = op.mul(op.transpose(part(0), [0, 2, 1, 3]), scale); // [B, H, T, hd]
    let k = op.transpose(part(1), [0, 2, 1, 3]); // [B, H, T, hd]
    let v = op.transpose(part(2), [0, 2, 1, 3]);
    if (opts.past) {
      k = op.concat([opts.past[l].key, k], 2);
      v = op.concat([opts.past[l].value, v], 2);
      present.push({ key: k, value: v });
    }
    let ctx: Value; // [B, H, T, hd]
    if (opts.cache) {
      // scores against the cache slots and against the new keys, one softmax over both, the
      // weighted values summed: the same attention as over concat(cache, new) without the copy.
      const ck = opts.cache[l].key, cv = opts.cache[l].value;
      present.push({ key: k, value: v });
      const sc = op.where(cacheMasked!, MASK_VALUE, op.matmul(q, op.transpose(ck, [0, 1, 3, 2]))); // [B, H, T, S]
      const sn = op.where(newMasked!, MASK_VALUE, op.matmul(q, op.transpose(k, [0, 1, 3, 2]))); // [B, H, T, T]
      const att = op.softmax(op.concat([sc, sn], 3), -1);
      const big = g.ints([2 ** 62]), axis = g.ints([3]);
      const attC = g.node('Slice', [att, g.ints([0]), cacheSlots, axis], [{ dtype: att.dtype, shape: [...sc.shape] }])[0];
      const attN = g.node('Slice', [att, cacheSlots, big, axis], [{ dtype: att.dtype, shape: [...sn.shape] }])[0];
      ctx = op.add(op.matmul(attC, cv), op.matmul(attN, v));
    } else {
      const scores = op.matmul(q, op.transpose(k, [0, 1, 3, 2])); // [B, H, T, S]
      const att = drop(op.softmax(op.where(masked, MASK_VALUE, scores), -1));
      ctx = op.matmul(att, v);
    }
    const y = op.reshape(op.transpose(ctx, [0, 2, 1, 3]), [0, 0, d]); // [B, T, d]
    x = op.add(x, drop(dense(y, P(`${p}.attn.c_proj.weight`), P(`${p}.attn.c_proj.bias`))));
    // ---- MLP ----
    const m = layerNorm(x, P(`${p}.ln_2.weight`), P(`${p}.ln_2.bias`), { epsilon: eps });
    const hid = gelu(dense(m, P(`${p}.mlp.c_fc.weight`), P(`${p}.mlp.c_fc.bias`)));
    x = op.add(x, drop(dense(hid, P(`${p}.mlp.c_proj.weight`), P(`${p}.mlp.c_proj.bias`))));
  }
  x = layerNorm(x, P('ln_f.weight'), P('ln_f.bias'), { epsilon: eps });
  const head = cfg.tied === false ? P('lm_head.weight') : wte; // [V, d]
  const x2 = op.reshape(x, [-1, d]);
  const z2 = op.gemm(x2, head, null, { transB: true });
  const logits = op.reshapeTo(z2, op.concat([op.shapeOf(tokens), g.ints([cfg.vocab])], 0), [Bsym, Tsym, cfg.vocab]);
  return opts.past || opts.cache ? { logits, present } : { logits };
}

/** The GPT's parameters as initializers of `g`: given weights by name (checked), else the init. */
function weightInitializers(g: Graph, cfg: GptConfig, weights: Record<string, FloatArray>, dtype: FloatDType, who: string): Record<string, Value> {
  const params: Record<string, Value> = {};
  const Out = dtype === 'float32' ? Float32Array : Float64Array;
  for (const p of gptParams(cfg, dtype)) {
    const w = weights[p.name] ?? p.init;
    if (w.length !== p.init.length) throw new Error(`${who}: weight '${p.name}' has ${w.length} values, expected ${p.init.length}`);
    params[p.name] = g.initializer(p.name, { dtype, shape: p.shape, data: w instanceof Out ? w : Out.from(w) });
  }
  return params;
}

export interface KvModelNames {
  tokens: 'tokens';
  logits: 'logits';
  /** Per layer: input names of the past and output names of the present keys/values. */
  layers: { pastKey: string; pastValue: string; presentKey: string; presentValue: string }[];
  /** Cache tensor shape per layer: [B, nHeads, P, head]. */
  heads: number;
  headDim: number;
}

export function kvNames(cfg: GptConfig): KvModelNames {
  return {
    tokens: 'tokens',
    logits: 'logits',
    layers: Array.from({ length: cfg.nLayers }, (_, l) => ({
      pastKey: `past/${l}/key`, pastValue: `past/${l}/value`, presentKey: `present/${l}/key`, presentValue: `present/${l}/value`,
    })),
    heads: cfg.nHeads,
    headDim: cfg.dModel / cfg.nHeads,
  };
}

/**
 * Inference model with a KV cache: inputs `tokens` [B, T] and per layer
 * `past/<l>/key`, `past/<l>/value` [B, H, P, head]; outputs `logits` [B, T, vocab] and
 * `present/<l>/key`, `present/<l>/value` [B, H, P + T, head]. The prefill pass is the
 * same model fed empty pasts (P = 0) and the whole prompt; each decode step feeds the
 * new token(s) (T = 1) and the previous presents. Positions are P .. P + T - 1, so
 * P + T must not exceed cfg.context. Weights are initializers named like gptParams.
 *
 * `padding: true` adds two inputs for left-padded batches of prompts of different
 * lengths: `positions` [B, T] int64 (position ids of the new tokens, e.g. cumsum(mask) - 1,
 * clamped at 0 on pads) and `attention_mask` [B, P + T] int64 (1 = real token, 0 = pad,
 * covering the past and the new tokens). Pad keys are never attended to.
 */
export function gptKvModel(cfg: GptConfig, weights: Record<string, FloatArray>, dtype: FloatDType = 'float32', opts: { padding?: boolean } = {}): Uint8Array {
  const g = new Graph('rsft_gpt_kv');
  const names = kvNames(cfg);
  const tokens = g.input('tokens', 'int64', ['B', 'T']);
  const params = weightInitializers(g, cfg, weights, dtype, 'gptKvModel');
  const past = names.layers.map((n) => ({
    key: g.input(n.pastKey, dtype, ['B', names.heads, 'P', names.headDim]),
    value: g.input(n.pastValue, dtype, ['B', names.heads, 'P', names.headDim]),
  }));
  const pad = opts.padding
    ? { positions: g.input('positions', 'int64', ['B', 'T']), keyMask: g.input('attention_mask', 'int64', ['B', 'S']) }
    : {};
  const r = gptForward(tokens, params, cfg, { past, ...pad });
  g.output('logits', r.logits);
  r.present!.forEach((pr, l) => {
    g.output(names.layers[l].presentKey, pr.key);
    g.output(names.layers[l].presentValue, pr.value);
  });
  return serialize(g, { docString: 'rsft GPT inference with KV cache' });
}

export interface DecodeModelNames {
  /** Per layer: input names of the cache and output names of the new keys/values. */
  layers: { cacheKey: string; cacheValue: string; newKey: string; newValue: string }[];
}

export function decodeNames(cfg: GptConfig): DecodeModelNames {
  return {
    layers: Array.from({ length: cfg.nLayers }, (_, l) => ({
      cacheKey: `cache/${l}/key`, cacheValue: `cache/${l}/value`, newKey: `new/${l}/key`, newValue: `new/${l}/value`,
    })),
  };
}

/**
 * Decoding model with a fixed-size KV cache (the caller owns the cache buffers and feeds them
 * every step; nothing grows or is copied in the graph): inputs `tokens` [B, T], `positions`
 * [B, T] int64, `cache_mask` [B, S] int64 (1 = a filled slot to attend to, 0 = empty or padding)
 * and per layer `cache/<l>/key`, `cache/<l>/value` [B, H, S, head]; outputs `logits` [B, T, vocab]
 * and per layer `new/<l>/key`, `new/<l>/value` [B, H, T, head], the keys / values of the new
 * tokens, which the caller writes into free cache slots. The new tokens attend to the unmasked
 * cache slots and causally to each other: the same function as gptKvModel with a past made of
 * the unmasked slots (up to float rounding).
 */
export function gptDecodeModel(cfg: GptConfig, weights: Record<string, FloatArray>, dtype: FloatDType = 'float32'): Uint8Array {
  const g = new Graph('rsft_gpt_decode');
  const names = decodeNames(cfg);
  const H = cfg.nHeads, hd = cfg.dModel / cfg.nHeads;
  const tokens = g.input('tokens', 'int64', ['B', 'T']);
  const positions = g.input('positions', 'int64', ['B', 'T']);
  const cacheMask = g.input('cache_mask', 'int64', ['B', 'S']);
  const params = weightInitializers(g, cfg, weights, dtype, 'gptDecodeModel');
  const cache = names.layers.map((n) => ({
    key: g.input(n.cacheKey, dtype, ['B', H, 'S', hd]),
    value: g.input(n.cacheValue, dtype, ['B', H, 'S', hd]),
  }));
  const r = gptForward(tokens, params, cfg, { cache, cacheMask, positions });
  g.output('logits', r.logits);
  r.present!.forEach((pr, l) => {
    g.output(names.layers[l].newKey, pr.key);
    g.output(names.layers[l].newValue, pr.value);
  });
  return serialize(g, { docString: 'rsft GPT decoding with a fixed-size KV cache' });
}
