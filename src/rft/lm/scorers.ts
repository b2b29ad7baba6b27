/**
 * Scorers for language-model RFT: turn (prompt, completion) pairs into rewards.
 *
 * - a verifier: a JS function `(prompt, completion) => boolean | number` (sync or async);
 *   true / false score 1 / 0, numbers score themselves. The built-in tasks' verifiers are this.
 *   From the CLI it is a module path with an optional export name (`check.mjs#exact`; default:
 *   the default export, else an export named `verify`).
 * - a reward model: an ONNX file that maps token ids to one reward per row.
 *
 * Reward model contract (so any exporter can target it): the model takes the token ids of
 * BOS + prompt + completion + EOS under the run's tokenizer, right-padded with PAD, as an
 * integer input (int64 or int32) of shape [batch, seq] named `input_ids` (or the model's only
 * input); an optional `attention_mask` input of the same shape and type holds 1 for tokens and
 * 0 for padding. A fixed seq dim is padded to; a fixed batch dim is honoured. The reward is the
 * output named `reward` / `rewards` / `score` / `logits`, else the first output, with one value
 * per row (shape [batch] or [batch, 1]).
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { UsageError } from '../../errors.js';
import type { CharTokenizer } from './tokenizer.js';

export type VerifierFn = (prompt: string, completion: string) => boolean | number | Promise<boolean | number>;

export interface ScoreItem {
  prompt: string;
  completion: string;
}

export interface Scorer {
  /** how the run's config names this scorer */
  readonly name: string;
  /** one reward per item, in order; UsageError on a reward that is not a finite number */
  score(items: readonly ScoreItem[]): Promise<Float64Array>;
  release(): Promise<void>;
}

const clip = (s: string, n = 40) => JSON.stringify(s.length > n ? `${s.slice(0, n)}...` : s);

/** A scorer from a JS verifier function. */
export function verifierScorer(fn: VerifierFn, name = 'verifier'): Scorer {
  if (typeof fn !== 'function') throw new UsageError(`${name}: expected a function (prompt, completion) => boolean | number`);
  return {
    name,
    async score(items) {
      const out = new Float64Array(items.length);
      for (let i = 0; i < items.length; i++) {
        const { prompt, completion } = items[i];
        let v: unknown;
        try {
          v = fn(prompt, completion);
          if (v instanceof Promise) v = await v;
        } catch (e) {
          throw new UsageError(`${name} threw on prompt ${clip(prompt)}: ${(e as Error)?.message ?? String(e)}`);
        }
        const r = typeof v === 'boolean' ? (v ? 1 : 0) : v;
        if (typeof r !== 'number' || !Number.isFinite(r)) {
          throw new UsageError(`${name} returned ${typeof v === 'number' ? String(v) : typeof v} for prompt ${clip(prompt)}, completion ${clip(completion)}: expected a boolean or a finite number`);
        }
        out[i] = r;
      }
      return out;
    },
    async release() {},
  };
}

/** Load a verifier from `path` or `path#export` (default export, else `verify`). */
export async function loadVerifierModule(spec: string): Promise<Scorer> {
  const hash = spec.lastIndexOf('#');
  const file = hash > 0 ? spec.slice(0, hash) : spec;
  const exportName = hash > 0 ? spec.slice(hash + 1) : undefined;
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`verifier: no such file ${file}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`verifier: cannot load ${file}: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
  }
  const name = exportName ?? (typeof mod.default === 'function' ? 'default' : 'verify');
  const fn = mod[name];
  if (typeof fn !== 'function') {
    const fns = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
    throw new UsageError(`verifier: ${file} has no function export '${name}' (function exports: ${fns.length ? fns.join(', ') : 'none'})`);
  }
  return verifierScorer(fn as VerifierFn, `verifier ${file}#${name}`);
}

export interface RewardModelOptions {
  /** ORT intra-op threads (default 1) */
  threads?: number;
  /** rows per session run (default 256) */
  batchSize?: number;
}

const OUTPUT_NAMES = ['reward', 'rewards', 'score', 'logits'];

type IntType = 'int64' | 'int32';

function tensorMeta(m: ort.InferenceSession.ValueMetadata | undefined): { type: string; shape: readonly (number | string)[] } | null {
  return m && m.isTensor ? { type: m.type, shape: m.shape } : null;
}

/** A scorer that runs an ONNX reward model over tokenized prompt + completion (contract above). */
export async function onnxRewardModel(path: string, tokenizer: CharTokenizer, opts: RewardModelOptions = {}): Promise<Scorer> {
  const file = resolve(path);
  if (!existsSync(file)) throw new UsageError(`reward model: no such file ${path}`);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, { intraOpNumThreads: opts.threads ?? 1, graphOptimizationLevel: 'all' });
  } catch (e) {
    throw new UsageError(`reward model: cannot load ${path}: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
  }
  try {
    const inputs = session.inputNames;
    const idsName = inputs.includes('input_ids') ? 'input_ids' : inputs.length === 1 ? inputs[0] : null;
    const maskName = inputs.includes('attention_mask') ? 'attention_mask' : null;
    const extra = inputs.filter((n) => n !== idsName && n !== maskName);
    if (!idsName || extra.length > 0) {
      throw new UsageError(`reward model ${path}: expected inputs input_ids [batch, seq] and optionally attention_mask, got ${inputs.join(', ')}`);
    }
    const ids = tensorMeta(session.inputMetadata[inputs.indexOf(idsName)]);
    if (!ids || (ids.type !== 'int64' && ids.type !== 'int32') || (ids.shape.length !== 0 && ids.shape.length !== 2)) {
      throw new UsageError(`reward model ${path}: input ${idsName} must be an int64 or int32 tensor [batch, seq], got ${ids ? `${ids.type} [${ids.shape.join(', ')}]` : 'a non-tensor'}`);
    }
    const intType = ids.type as IntType;
    if (maskName) {
      const mask = tensorMeta(session.inputMetadata[inputs.indexOf(maskName)]);
      if (!mask || mask.type !== intType) throw new UsageError(`reward model ${path}: attention_mask must have the type of ${idsName} (${intType})`);
    }
    const fixedBatch = typeof ids.shape[0] === 'number' && ids.shape[0] > 0 ? ids.shape[0] : null;
    const fixedSeq = typeof ids.shape[1] === 'number' && ids.shape[1] > 0 ? ids.shape[1] : null;
    const outName = session.outputNames.find((n) => OUTPUT_NAMES.includes(n)) ?? session.outputNames[0];
    const batchSize = fixedBatch ?? Math.max(1, opts.batchSize ?? 256);
    const name = `reward model ${path}`;

    const encode = (it: ScoreItem) => {
      try {
        return [...tokenizer.encode(it.prompt, { bos: true }), ...tokenizer.encode(it.completion, { eos: true })];
      } catch (e) {
        throw new UsageError(`${name}: prompt ${clip(it.prompt)}: ${(e as Error).message}`);
      }
    };

    return {
      name,
      async score(items) {
        const out = new Float64Array(items.length);
        for (let b0 = 0; b0 < items.length; b0 += batchSize) {
          const rows = items.slice(b0, b0 + batchSize).map(encode);
          const B = fixedBatch ?? rows.length;
          const longest = rows.reduce((m, r) => Math.max(m, r.length), 1);
          if (fixedSeq !== null && longest > fixedSeq) throw new UsageError(`${name}: a sequence of ${longest} tokens exceeds the model's fixed length ${fixedSeq}`);
          const T = fixedSeq ?? longest;
          const n = B * T;
          const idData = intType === 'int64' ? new BigInt64Array(n) : new Int32Array(n);
          const maskData = intType === 'int64' ? new BigInt64Array(n) : new Int32Array(n);
          // PAD is 0, so unwritten positions are already padding with mask 0
          rows.forEach((r, i) => {
            for (let t = 0; t < r.length; t++) {
              if (idData instanceof BigInt64Array) {
                idData[i * T + t] = BigInt(r[t]);
                (maskData as BigInt64Array)[i * T + t] = 1n;
              } else {
                idData[i * T + t] = r[t];
                (maskData as Int32Array)[i * T + t] = 1;
              }
            }
          });
          const feeds: Record<string, ort.Tensor> = { [idsName]: new ort.Tensor(intType, idData, [B, T]) };
          if (maskName) feeds[maskName] = new ort.Tensor(intType, maskData, [B, T]);
          let res: ort.InferenceSession.ReturnType;
          try {
            res = await session.run(feeds, [outName]);
          } catch (e) {
            throw new UsageError(`${name}: run failed: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
          }
          const o = res[outName];
          const dims = o.dims;
          if (o.size !== B || dims.length < 1 || dims[0] !== B || (o.type !== 'float32' && o.type !== 'float64')) {
            throw new UsageError(`${name}: output ${outName} must be float [batch] or [batch, 1], got ${o.type} [${dims.join(', ')}] for batch ${B}`);
          }
          const data = o.data as Float32Array | Float64Array;
          for (let i = 0; i < rows.length; i++) {
            const r = data[i];
            if (!Number.isFinite(r)) throw new UsageError(`${name}: reward ${r} for prompt ${clip(items[b0 + i].prompt)} is not finite`);
            out[b0 + i] = r;
          }
        }
        return out;
      },
      release: () => session.release(),
    };
  } catch (e) {
    await session.release();
    throw e;
  }
}
