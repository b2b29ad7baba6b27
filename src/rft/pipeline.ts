/**
 * The classifier RSFT pipeline: standardize (source statistics) -> pretrain or load ->
 * density ratio -> envelope M -> rejection sampling from the pool -> fine-tune -> baselines
 * -> run folder (summary.json, pretrained.onnx, model.onnx, accepted.jsonl, report.html).
 *
 * Every output is staged in an AtomicFile and committed only at the very end, so an
 * interrupted run leaves no half-written files in the run folder.
 *
 * Weighted baseline: importance-weighted fine-tuning on the WHOLE pool, the weights in the
 * loss (Trainer sampleWeights: each batch's loss is sum_i w_i l_i / sum_i w_i). Pool row r
 * weighs min(w_r, M), the distribution RSFT's accepted set follows, scaled so the pool's total
 * weight equals the number of accepted rows (labeled target rows weigh 1 each, as in RSFT).
 * Budget: the same number of optimizer steps of the same batch size (so about the same
 * number of rows seen) as the RSFT and uniform fine-tunes; shuffled epochs over the pool,
 * stopped by maxSteps.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { AtomicFile, fsReason } from '../io/atomic-file.js';
import { models, Trainer } from '../train/index.js';
import type { Activation } from '../train/models.js';
import type { Model } from '../train/index.js';
import { normalizeRun, trainingSpec } from '../train/config.js';
import { compileTraining } from '../graph/compile.js';
import { computeStats, fold, standardize, unfold, type Stats } from './standardize.js';
import { envelope, provenanceOf, rejectionSample, samplesTooMany, uniformRows, type SampleResult } from './accept.js';
import { classifierRatio, columnRatio, expressionRatio } from './ratio.js';
import { pretrainedModel, pretrainedWeights } from './pretrained-model.js';
import { renderReport } from './report.js';
import { deriveSeed } from '../sampling/rng.js';
import type { Curve, Dataset, Metrics, PipelineInput, ProgressFn, ReportData, Summary } from './types.js';

export interface PipelineOptions {
  onProgress?: ProgressFn;
}

type Params = Record<string, Float32Array>;

function gather(x: Float32Array, d: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) out.set(x.subarray(rows[i] * d, rows[i] * d + d), i * d);
  return out;
}

function gatherY(y: Int32Array, rows: Int32Array): Int32Array {
  return Int32Array.from(rows, (r) => y[r]);
}

function validate(input: PipelineInput): void {
  const { source, target, test, targetLabeled } = input.data;
  if (!source.y) throw new UsageError('the source data has no labels');
  if (source.n === 0) throw new UsageError('the source set is empty');
  if (target.n === 0) throw new UsageError('the target set is empty');
  for (const [k, ds] of Object.entries({ target, test, targetLabeled })) {
    if (ds && ds.d !== source.d) throw new UsageError(`data.${k} has ${ds.d} features, data.source has ${source.d}`);
  }
  for (const [k, ds] of Object.entries({ source, test, targetLabeled })) {
    if (!ds) continue;
    if (!ds.y) throw new UsageError(`data.${k} has no labels`);
    for (let i = 0; i < ds.n; i++) {
      if (ds.y[i] < 0 || ds.y[i] >= input.classes) throw new UsageError(`data.${k}: row ${i + 1} has label ${ds.y[i]}, outside 0..${input.classes - 1}`);
    }
    for (let i = 0; i < ds.x.length; i++) if (!Number.isFinite(ds.x[i])) throw new UsageError(`data.${k}: row ${Math.floor(i / ds.d) + 1} has a non-finite value`);
  }
  const f = input.finetune;
  if (!(Number.isInteger(f.samples) && f.samples > 0)) throw new UsageError(`finetune.samples must be a positive integer, got ${f.samples}`);
  // (before any training, rather than when the accepted examples are stored)
  const tooMany = samplesTooMany(f.samples, totalmem());
  if (tooMany) throw tooMany;
  const clip = input.ratio.clip;
  if (!(clip > 0 && clip <= 1)) throw new UsageError(`ratio.clip must be in (0, 1], got ${clip}`);
}

/** Hidden layers of a model trained here when the config gives none. */
const DEFAULT_HIDDEN = [50];

/** An MLP whose initial parameters are `params` (standardized-input space). */
function mlpWith(sizes: number[], activation: Activation, seed: number, params: Params | null): Model {
  const model = models.mlp({ sizes, activation, seed });
  if (params) for (const p of model.params) p.init = Float32Array.from(params[p.name]);
  return model;
}

function inferenceBytes(model: Model, params: Params): Uint8Array {
  const run = normalizeRun({ model, loss: 'softmax_cross_entropy', optimizer: { type: 'adamw', lr: 1e-3 }, batchSize: 1 });
  return compileTraining(trainingSpec(model, run)).inferenceModel(params, { dtype: 'float32' });
}

/** accepted.jsonl in pieces of JSONL_CHUNK lines: one string of millions of lines could exceed V8's string limit. */
function* jsonlChunks(r: SampleResult): Generator<string> {
  for (let i = 0; i < r.rows.length; i += JSONL_CHUNK) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(r.rows.length, i + JSONL_CHUNK); j++) lines.push(JSON.stringify(provenanceOf(r, j)));
    yield lines.join('\n') + '\n';
  }
}

const JSONL_CHUNK = 65536;

function paramsOf(t: Trainer): Params {
  const out: Params = {};
  for (const [k, v] of t.parameters()) out[k] = Float32Array.from(v);
  return out;
}

export async function runPipeline(input: PipelineInput, opts: PipelineOptions = {}): Promise<Summary> {
  validate(input);
  const progress = opts.onProgress ?? (() => undefined);
  const threads = input.threads ?? Math.max(1, Math.min(availableParallelism(), 4));
  const timings: Record<string, number> = { ...(input.timings ?? {}) };
  const curves: Curve[] = [];
  const notes: string[] = [];
  let tStage = performance.now();
  const stage = (name: string) => {
    const now = performance.now();
    timings[name] = (timings[name] ?? 0) + (now - tStage) / 1000;
    tStage = now;
  };
  const { source, target, test, targetLabeled } = input.data;
  const d = source.d, C = input.classes, seed = input.seed;
  const ft = input.finetune;
  if (!test) notes.push('no labeled test set (data.test): accuracies and losses are null');

  try {
    mkdirSync(input.out, { recursive: true });
  } catch (e) {
    throw new UsageError(`cannot create run folder ${input.out}: ${fsReason(e)}`);
  }

  // 1. standardization with source statistics
  const stats: Stats = computeStats(source);
  const zs = standardize(source.x, d, stats);
  const zt = standardize(target.x, d, stats);
  const zTest = test ? standardize(test.x, d, stats) : null;
  const zTl = targetLabeled ? standardize(targetLabeled.x, d, stats) : null;
  const ys = source.y!;
  stage('standardize');

  // 2. pretrained model (loaded, or trained on the source pool)
  let sizes = [d, ...(input.model.hidden ?? DEFAULT_HIDDEN), C];
  let act = input.model.activation ?? 'relu';
  let pre: Params | null = null;
  if (input.model.pretrained) {
    const file = input.model.pretrained;
    const found = pretrainedModel(file, d, C);
    sizes = found.sizes;
    const fileAct = found.activation;
    const hidden = sizes.slice(1, -1);
    if (input.model.hidden && input.model.hidden.join() !== hidden.join()) {
      throw new UsageError(`model.hidden [${input.model.hidden.join(', ')}] disagrees with pretrained model ${file}, whose hidden layers are [${hidden.join(', ')}]: leave model.hidden out`);
    }
    // An ONNX model says its activation: fine-tuning it with another would change what it computes.
    if (fileAct && input.model.activation && input.model.activation !== fileAct) {
      throw new UsageError(`model.activation ${input.model.activation} disagrees with pretrained model ${file}, which uses ${fileAct}: leave model.activation out`);
    }
    if (fileAct) act = fileAct;
    else if (hidden.length > 0 && !input.model.activation) notes.push(`pretrained model ${file} does not say its activation (safetensors): relu assumed; set model.activation otherwise`);
    // Pretrained files are raw-input models (as rsft exports them): bring them to z-space.
    pre = unfold(pretrainedWeights(file, sizes), stats);
    if (sizes[sizes.length - 1] !== C) notes.push(`pretrained model has ${sizes[sizes.length - 1]} outputs for ${C} classes`);
  }

  const makeTrainer = async (params: Params | null, lr: number, batch: number, initSeed = seed, sampleWeights = false) =>
    Trainer.create({
      model: mlpWith(sizes, act, initSeed, params),
      loss: 'softmax_cross_entropy',
      optimizer: { type: 'adamw', lr, weightDecay: 0.01 },
      batchSize: batch,
      threads,
      sampleWeights,
    });

  const evaluate = async (t: Trainer): Promise<Metrics> => {
    if (!test || !zTest) return { accuracy: NaN, loss: NaN };
    const r = await t.evaluate({ x: zTest, y: test.y! });
    return { accuracy: r.accuracy, loss: r.loss };
  };

  const fit = async (t: Trainer, name: string, x: Float32Array, y: Int32Array, epochs: number, budget?: { w?: Float64Array; maxSteps: number }) => {
    const points: { step: number; loss: number }[] = [];
    t.on('step', (e: { step: number; loss: number }) => points.push({ step: e.step, loss: e.loss }));
    t.on('epoch', (e: { epoch: number; loss: number }) => progress(name, `epoch ${e.epoch}/${epochs} loss ${e.loss.toFixed(4)}`));
    if (y.length > 0) await t.fit({ x, y, epochs, shuffleSeed: seed, ...(budget ?? {}) });
    curves.push({ name, points });
  };

  let preMetrics: Metrics;
  {
    const pt = input.pretrain ?? { epochs: 5, lr: 1e-3, batch: 128 };
    const t = await makeTrainer(pre, pt.lr, pt.batch);
    try {
      if (!pre) {
        progress('pretrain', `${source.n} source rows, model ${sizes.join('-')}`);
        await fit(t, 'pretrain', zs, ys, pt.epochs);
        pre = paramsOf(t);
      }
      preMetrics = await evaluate(t);
    } finally {
      await t.close();
    }
    progress('pretrain', `accuracy on test ${fmt(preMetrics.accuracy)}`);
  }
  const preParams = pre!;
  stage('pretrain');

  // 3. density ratio over the pool
  let w: Float64Array;
  const r = input.ratio;
  progress('ratio', `method ${r.method}`);
  if (r.method === 'classifier') {
    const points: { step: number; loss: number }[] = [];
    // The labeled target rows are target-domain inputs too: the domain classifier sees them.
    let zTarget = zt, nTarget = target.n;
    if (zTl && targetLabeled) {
      zTarget = new Float32Array(zt.length + zTl.length);
      zTarget.set(zt);
      zTarget.set(zTl, zt.length);
      nTarget += targetLabeled.n;
    }
    w = await classifierRatio(zs, source.n, zTarget, nTarget, d, {
      seed: deriveSeed(seed, 'rsft-ratio'), threads, hidden: r.hidden, epochs: r.epochs, onStep: (step, loss) => points.push({ step, loss }),
    });
    curves.push({ name: 'domain classifier', points });
  } else if (r.method === 'column') {
    w = columnRatio(r.weights, source.n);
  } else {
    w = expressionRatio(r.expr, source);
  }
  stage('ratio');

  // 4. envelope, 5. rejection sampling
  const env = envelope(w, r.clip);
  const budget = ft.budget ?? Math.max(100 * ft.samples, 1_000_000);
  // Each stage draws from its own derived seed so that none shares uniforms with another.
  const acceptSeed = deriveSeed(seed, 'rsft-accept');
  const sampled = rejectionSample(w, env.M, acceptSeed, ft.samples, budget);
  const accepted = sampled.rows.length;
  if (accepted === 0) throw new UsageError(`no pool row was accepted in ${sampled.proposals} proposals (finetune.budget too small?)`);
  if (accepted < ft.samples) notes.push(`proposal budget ${budget} reached with ${accepted} of ${ft.samples} samples accepted`);
  progress('sample', `accepted ${accepted} of ${sampled.proposals} proposals (rate ${fmt(accepted / sampled.proposals)}, expected ${fmt(env.expectedRate)}), M ${env.M.toPrecision(4)}, ${env.clipped} clipped`);
  stage('sample');

  // 6. fine-tune on the accepted set (+ labeled target rows)
  const withTl = (x: Float32Array, y: Int32Array): [Float32Array, Int32Array] => {
    if (!targetLabeled || !zTl) return [x, y];
    const x2 = new Float32Array(x.length + zTl.length);
    x2.set(x);
    x2.set(zTl, x.length);
    const y2 = new Int32Array(y.length + targetLabeled.n);
    y2.set(y);
    y2.set(targetLabeled.y!, y.length);
    return [x2, y2];
  };
  let rsftParams: Params;
  let rsftMetrics: Metrics;
  {
    const [x, y] = withTl(gather(zs, d, sampled.rows), gatherY(ys, sampled.rows));
    const t = await makeTrainer(preParams, ft.lr, ft.batch);
    try {
      progress('finetune', `RSFT on ${y.length} rows`);
      await fit(t, 'rsft', x, y, ft.epochs);
      rsftMetrics = await evaluate(t);
      rsftParams = paramsOf(t);
    } finally {
      await t.close();
    }
    progress('finetune', `RSFT accuracy on test ${fmt(rsftMetrics.accuracy)}`);
  }
  stage('finetune');

  // 7. baselines, same budget (same number of optimizer steps of the same batch size)
  const nTl = targetLabeled && zTl ? targetLabeled.n : 0;
  const steps = ft.epochs * Math.ceil((accepted + nTl) / ft.batch);
  /** A fine-tune from the pretrained weights; with `budget`, `maxSteps` steps over x (and weights `w` in the loss). */
  const baseline = async (name: string, x: Float32Array, y: Int32Array, budget?: { w?: Float64Array; maxSteps: number }): Promise<Metrics> => {
    const t = await makeTrainer(preParams, ft.lr, ft.batch, seed, budget?.w !== undefined);
    try {
      progress('baselines', `${name} on ${y.length} rows${budget?.w ? ', weights in the loss' : ''}${budget ? `, ${budget.maxSteps} steps` : ''}`);
      const epochs = budget ? Math.ceil(budget.maxSteps / Math.ceil(y.length / ft.batch)) : ft.epochs;
      await fit(t, name, x, y, epochs, budget);
      const m = await evaluate(t);
      progress('baselines', `${name} accuracy on test ${fmt(m.accuracy)}`);
      return m;
    } finally {
      await t.close();
    }
  };
  const ur = uniformRows(source.n, accepted, deriveSeed(seed, 'rsft-baseline'));
  const uniform = await baseline('uniform', ...withTl(gather(zs, d, ur), gatherY(ys, ur)));
  // Weighted: the whole pool, weights min(w, M) in the loss scaled to a total of `accepted`
  // (labeled target rows weigh 1, as in RSFT), as many optimizer steps as the RSFT fine-tune.
  let wSum = 0;
  for (let i = 0; i < source.n; i++) wSum += Math.min(w[i], env.M);
  const wPool = new Float64Array(source.n + nTl).fill(1);
  for (let i = 0; i < source.n; i++) wPool[i] = (Math.min(w[i], env.M) * accepted) / wSum;
  const weighted = await baseline('weighted', ...withTl(zs, ys), { w: wPool, maxSteps: steps });
  notes.push(
    `weighted baseline: importance-weighted fine-tuning on the whole pool (${source.n} rows${nTl ? ` + ${nTl} labeled target rows of weight 1` : ''}), ` +
      `weights min(w, M) in the loss scaled to a total of ${accepted} (the accepted count), ${steps} optimizer steps of batch ${ft.batch} (as many as RSFT)`,
  );
  const baselines: Summary['baselines'] = { uniform, weighted };
  if (targetLabeled && zTl) {
    // As many steps as RSFT too: finetune.epochs over a few labeled rows would be a handful of
    // steps, and the baseline would look worthless for want of training, not of data.
    baselines.targetOnly = await baseline('targetOnly', zTl, targetLabeled.y!, { maxSteps: steps });
    notes.push(`targetOnly baseline: fine-tuning on the ${nTl} labeled target rows alone, ${steps} optimizer steps of batch ${ft.batch} (as many as RSFT)`);
  }
  stage('baselines');

  // 8. run folder
  const summary: Summary = {
    model: { sizes, activation: act, pretrained: input.model.pretrained },
    pretrained: preMetrics,
    rsft: rsftMetrics,
    baselines,
    acceptance: { rate: accepted / sampled.proposals, expectedRate: env.expectedRate, M: env.M, clipped: env.clipped, proposals: sampled.proposals, accepted, streamSeed: acceptSeed },
    timings,
    notes,
    config: input.config,
  };
  const files: AtomicFile[] = [];
  const stageFile = (name: string, data: Uint8Array | string | Iterable<string>) => {
    const f = AtomicFile.open(join(input.out, name));
    files.push(f);
    if (typeof data === 'string' || data instanceof Uint8Array) f.write(data);
    else for (const part of data) f.write(part);
  };
  try {
    const model = models.mlp({ sizes, activation: act, seed });
    stageFile('pretrained.onnx', inferenceBytes(model, fold(preParams, stats)));
    stageFile('model.onnx', inferenceBytes(model, fold(rsftParams, stats)));
    stageFile('accepted.jsonl', jsonlChunks(sampled));
    stage('export');
    summary.timings.total = Object.values(timings).reduce((a, b) => a + b, 0);
    stageFile('summary.json', JSON.stringify(summary, null, 2) + '\n');
    const report: ReportData = { summary, weights: w, M: env.M, curves };
    stageFile('report.html', renderReport(report));
    for (const f of files) f.commit();
  } catch (e) {
    for (const f of files) {
      try { f.abort(); } catch { /* already committed or gone */ }
    }
    throw e;
  }
  return summary;
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(4) : 'n/a';
}


export type { Dataset };
