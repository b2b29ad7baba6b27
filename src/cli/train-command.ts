/**
 * `rsft train`: train a classifier on .npy data and export it as an ONNX inference model.
 * Every input is validated before training starts (shapes against the model, labels against
 * the classes, NaN / Inf in the data, the checkpoint against the model); outputs are opened
 * first (an unwritable path fails fast) and renamed into place only when complete.
 */
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { readNpy, type NpyArray } from '../io/npy-read.js';
import { AtomicFile } from '../io/atomic-file.js';
import { models, Trainer, type StepEvent, type EpochEvent } from '../train/index.js';
import { helpText, parseFlags, parseNonNegInt, parseNumber, parsePositiveInt, parseThreads, type Flags } from './args.js';
import { Progress } from './progress.js';

const ACTIVATIONS = ['relu', 'gelu', 'tanh'] as const;
const DEVICES = ['cpu', 'cuda', 'auto'] as const;

export const trainFlags: Flags = {
  model: { type: 'string', value: 'SPEC', help: "model: 'mlp:IN-H1-...-CLASSES', e.g. mlp:784-1024-1024-10 (logits out)" },
  activation: { type: 'string', value: 'relu|gelu|tanh', help: 'hidden-layer activation', default: 'relu' },
  x: { type: 'string', value: 'FILE.npy', help: 'inputs: float32 or float64 .npy of shape [N, IN] (or [N, ...] flattening to IN)' },
  y: { type: 'string', value: 'FILE.npy', help: 'labels: integer .npy of shape [N], values in [0, CLASSES)' },
  epochs: { type: 'string', value: 'N', help: 'passes over the data (with --resume: the total, counting the checkpoint\'s)', default: '1' },
  batch: { type: 'string', value: 'N', help: 'examples per training step', default: '256' },
  lr: { type: 'string', value: 'NUM', help: 'learning rate', default: '1e-3' },
  'weight-decay': { type: 'string', value: 'NUM', help: 'decoupled weight decay (AdamW) / L2 (SGD) on weights, not biases', default: '0.01 for adamw, 0 for sgd' },
  optimizer: { type: 'string', value: 'adamw|sgd', help: 'optimizer', default: 'adamw' },
  momentum: { type: 'string', value: 'NUM', help: 'SGD momentum', default: '0' },
  seed: { type: 'string', value: 'S', help: 'seed of the initial weights and of the epoch shuffles', default: '0' },
  out: { type: 'string', short: 'o', value: 'FILE.onnx', help: "ONNX inference model to write (input 'x' float32 [B, IN], output 'logits')" },
  checkpoint: { type: 'string', value: 'FILE.safetensors', help: 'checkpoint to write after every epoch (parameters, optimizer state, step, config)' },
  resume: { type: 'string', value: 'FILE.safetensors', help: 'continue from a checkpoint written by --checkpoint (same --model, --activation, --optimizer, --batch, --seed and data: checked)' },
  threads: { type: 'string', value: 'N', help: 'ONNX Runtime intra-op threads', default: 'all cores' },
  device: { type: 'string', value: 'cpu|cuda|auto', help: "execution provider ('auto' falls back to cpu)", default: 'cpu' },
  json: { type: 'boolean', help: 'print the summary as JSON on stdout' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress bar' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const trainHelp = helpText(
  'rsft train --model mlp:IN-...-CLASSES --x X.npy --y Y.npy [--epochs N] [--batch N] [--lr NUM] [--seed S] --out MODEL.onnx [--checkpoint C.safetensors] [--resume C.safetensors] [--json]',
  'Train a classifier (softmax cross-entropy on the logits) on ONNX Runtime and export the\n' +
    'inference model. Each training step (forward, backward, optimizer update) is one ONNX graph.\n' +
    'Rows are shuffled every epoch by --seed; a run resumed from a checkpoint continues exactly\n' +
    'as the uninterrupted run would. Progress on stderr, a summary on stdout (loss and accuracy\n' +
    'over the whole training set after the last step). Bad input exits with code 2 and leaves\n' +
    'no partial output.',
  trainFlags,
);

/** 'mlp:784-1024-10' -> [784, 1024, 10] */
export function parseModelSpec(spec: string): number[] {
  const m = /^mlp:(\d+(?:-\d+)+)$/.exec(spec.trim());
  if (!m) throw new UsageError(`--model: expected 'mlp:IN-H1-...-CLASSES' (e.g. mlp:784-1024-1024-10), got '${spec}'`);
  const sizes = m[1].split('-').map(Number);
  if (!sizes.every((s) => Number.isSafeInteger(s) && s > 0)) throw new UsageError(`--model: layer sizes must be positive integers, got '${spec}'`);
  if (sizes[sizes.length - 1] < 2) throw new UsageError(`--model: a classifier needs at least 2 classes, got '${spec}'`);
  return sizes;
}

function shapeStr(shape: readonly number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}

/** x as float32 [N * IN], validated: numeric, [N, IN] (or flattening to IN), all finite. */
export function prepareX(a: NpyArray, path: string, inputs: number): { x: Float32Array; n: number } {
  if (a.shape.length < 2) throw new UsageError(`${path}: x must have shape [N, ${inputs}], got ${shapeStr(a.shape)}`);
  const n = a.shape[0];
  const features = a.shape.slice(1).reduce((p, d) => p * d, 1);
  if (features !== inputs) {
    throw new UsageError(`${path}: x has ${features} features per row (shape ${shapeStr(a.shape)}), the model takes ${inputs}`);
  }
  if (n === 0) throw new UsageError(`${path}: x has no rows`);
  let x: Float32Array;
  if (a.data instanceof Float32Array) x = a.data;
  else if (a.data instanceof Float64Array) x = Float32Array.from(a.data);
  else if (a.data instanceof BigInt64Array || a.data instanceof BigUint64Array) x = Float32Array.from(a.data, (v) => Number(v));
  else if (a.dtype === 'bool') throw new UsageError(`${path}: x must be float32 or float64, got bool`);
  else x = Float32Array.from(a.data as ArrayLike<number>);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      const orig = Number(a.data[i]);
      const what = Number.isNaN(orig) ? 'NaN' : Number.isFinite(orig) ? `${orig} (overflows float32)` : String(orig);
      throw new UsageError(`${path}: x[${Math.floor(i / inputs)}, ${i % inputs}] is ${what}; inputs must be finite`);
    }
  }
  return { x, n };
}

/** y as int32 [N], validated: integer dtype, [N] or [N, 1], values in [0, classes). */
export function prepareY(a: NpyArray, path: string, n: number, classes: number): Int32Array {
  if (a.dtype === 'float32' || a.dtype === 'float64' || a.dtype === 'bool') {
    throw new UsageError(`${path}: labels must have an integer dtype (int64, int32, uint8, ...), got ${a.dtype}; save with y.astype(np.int64)`);
  }
  if (!(a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1))) {
    throw new UsageError(`${path}: labels must have shape [N], got ${shapeStr(a.shape)}`);
  }
  if (a.shape[0] !== n) throw new UsageError(`${path}: ${a.shape[0]} labels for ${n} rows of x`);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = a.data[i];
    const num = typeof v === 'bigint' ? (v >= 0n && v < BigInt(classes) ? Number(v) : -1) : v;
    if (!(num >= 0 && num < classes)) {
      throw new UsageError(`${path}: label y[${i}] = ${String(v)} is out of range for ${classes} classes (must be 0..${classes - 1})`);
    }
    y[i] = num;
  }
  return y;
}

function fmt(x: number, p = 4): string {
  return Number.isFinite(x) ? Number(x.toPrecision(p)).toString() : String(x);
}

/** Errors raised by the library while reading a checkpoint are the user's file's fault. */
function asUsage(e: unknown, prefix: string, path?: string): Error {
  if (e instanceof UsageError) return e.message.startsWith(prefix) || (path !== undefined && e.message.includes(path)) ? e : new UsageError(`${prefix}: ${e.message}`);
  const msg = e instanceof Error ? e.message : String(e);
  return new UsageError(`${prefix}: ${msg.split('\n')[0]}`);
}

export async function trainCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, trainFlags, 'train');
  if (v.help) {
    process.stdout.write(trainHelp);
    return;
  }
  if (positionals.length > 0) throw new UsageError(`train: unexpected argument '${positionals[0]}'`);
  const str = (k: string): string | undefined => v[k] as string | undefined;
  const need = (k: string): string => {
    const s = str(k);
    if (s === undefined) throw new UsageError(`train: --${k} is required (see 'rsft train --help')`);
    return s;
  };

  // Flags first: every bad value fails before any file is read.
  const sizes = parseModelSpec(need('model'));
  const activation = str('activation') ?? 'relu';
  if (!(ACTIVATIONS as readonly string[]).includes(activation)) throw new UsageError(`--activation: must be ${ACTIVATIONS.join(', ')}, got '${activation}'`);
  const xPath = need('x');
  const yPath = need('y');
  const epochs = parsePositiveInt('epochs', str('epochs') ?? '1');
  const batch = parsePositiveInt('batch', str('batch') ?? '256');
  const lr = parseNumber('lr', str('lr') ?? '1e-3');
  if (!(lr > 0 && Number.isFinite(lr))) throw new UsageError(`--lr: must be a positive number, got '${str('lr')}'`);
  const optimizer = str('optimizer') ?? 'adamw';
  if (optimizer !== 'adamw' && optimizer !== 'sgd') throw new UsageError(`--optimizer: must be adamw or sgd, got '${optimizer}'`);
  const wd = str('weight-decay') !== undefined ? parseNumber('weight-decay', str('weight-decay')!) : optimizer === 'adamw' ? 0.01 : 0;
  if (!(wd >= 0 && Number.isFinite(wd))) throw new UsageError(`--weight-decay: must be a non-negative number, got '${str('weight-decay')}'`);
  const momentum = str('momentum') !== undefined ? parseNumber('momentum', str('momentum')!) : 0;
  if (!(momentum >= 0 && momentum < 1)) throw new UsageError(`--momentum: must be in [0, 1), got '${str('momentum')}'`);
  if (str('momentum') !== undefined && optimizer !== 'sgd') throw new UsageError('--momentum applies to --optimizer sgd only');
  const seed = parseNonNegInt('seed', str('seed') ?? '0');
  if (seed > 0xffffffff) throw new UsageError(`--seed: must be at most 4294967295, got '${str('seed')}'`);
  const threads = str('threads') !== undefined ? parseThreads('threads', str('threads')!) : undefined;
  const device = str('device') ?? 'cpu';
  if (!(DEVICES as readonly string[]).includes(device)) throw new UsageError(`--device: must be cpu, cuda or auto, got '${device}'`);
  const outPath = str('out');
  const ckptPath = str('checkpoint');
  const resumePath = str('resume');
  if (outPath === undefined && ckptPath === undefined) throw new UsageError("train: --out (and/or --checkpoint) is required (see 'rsft train --help')");
  if (outPath !== undefined && !/\.onnx$/i.test(outPath)) throw new UsageError(`--out: the model file must end in .onnx, got '${outPath}'`);
  if (outPath !== undefined && ckptPath !== undefined && resolve(outPath) === resolve(ckptPath)) throw new UsageError('--out and --checkpoint must be different files');

  // Data, validated against the model before anything is built.
  const classes = sizes[sizes.length - 1];
  const { x, n } = prepareX(readNpy(xPath), xPath, sizes[0]);
  const y = prepareY(readNpy(yPath), yPath, n, classes);

  // Outputs are opened now (fail fast on unwritable paths) and renamed into place at the end.
  const outFile = outPath !== undefined ? AtomicFile.open(outPath) : null;
  let ckptFile: AtomicFile | null = null;
  let trainer: Trainer | null = null;
  const progress = new Progress('training', !v.quiet);
  const saveCheckpoint = async (t: Trainer) => {
    const f = ckptFile ?? AtomicFile.open(ckptPath!);
    ckptFile = f;
    await t.save(f.tmp); // the temporary, renamed into place now
    f.commit();
    ckptFile = null;
  };
  try {
    if (ckptPath !== undefined) ckptFile = AtomicFile.open(ckptPath);
    const model = models.mlp({ sizes, activation: activation as (typeof ACTIVATIONS)[number], seed });
    const opt = optimizer === 'adamw' ? { type: 'adamw' as const, lr, weightDecay: wd } : { type: 'sgd' as const, lr, weightDecay: wd, momentum };
    trainer = await Trainer.create({ model, loss: 'softmax_cross_entropy', optimizer: opt, batchSize: batch, threads, device: device as 'cpu' | 'cuda' | 'auto' });
    if (resumePath !== undefined) {
      let was: Awaited<ReturnType<Trainer['resume']>>;
      try {
        was = await trainer.resume(resumePath);
      } catch (e) {
        throw asUsage(e, `checkpoint ${resumePath}`, resumePath);
      }
      // The run continues exactly as the uninterrupted one would only on its data, batch and
      // shuffle: a checkpoint resumed on other data trains on without saying so.
      const k = was.counters, other: string[] = [];
      if (k.datasetSize !== null && k.datasetSize !== n) other.push(`${k.datasetSize} training rows, --x has ${n}`);
      if (was.batchSize !== batch) other.push(`--batch ${was.batchSize}, this run has ${batch}`);
      if (k.shuffleSeed !== null && k.shuffleSeed !== seed) other.push(`--seed ${k.shuffleSeed}, this run has ${seed}`);
      if (other.length > 0) throw new UsageError(`checkpoint ${resumePath} was trained with ${other.join('; ')}: resume with the same data, --batch and --seed`);
    }
    const stepsPerEpoch = Math.ceil(n / batch);
    const pos = trainer.position;
    const startStep = pos.step;
    if (pos.epoch > epochs || (pos.epoch === epochs && pos.batchInEpoch > 0)) {
      throw new UsageError(`checkpoint ${resumePath}: already ${pos.epoch} epochs in, more than --epochs ${epochs}`);
    }
    const total = (epochs - pos.epoch) * stepsPerEpoch - pos.batchInEpoch;

    const t0 = performance.now();
    let lastLoss = NaN;
    let epochLoss = NaN;
    trainer.on('step', (s: StepEvent) => {
      lastLoss = s.loss;
      progress.update(s.step - startStep, total);
    });
    trainer.on('epoch', (ep: EpochEvent) => {
      epochLoss = ep.loss;
    });
    // A step's loss is taken before its update: the weights the last step wrote are checked
    // themselves, so a run whose final update overflowed writes no model or checkpoint.
    const diverged = () => new UsageError(`training diverged: loss is ${lastLoss} at step ${trainer!.stepCount} (try a smaller --lr)`);
    const checkFinite = () => {
      if (!Number.isFinite(lastLoss) && trainer!.stepCount > startStep) throw diverged();
      for (const [name, w] of trainer!.parameters()) {
        if (!w.every(Number.isFinite)) {
          throw new UsageError(`training diverged: weight ${name} is not finite after step ${trainer!.stepCount} (try a smaller --lr${resumePath !== undefined ? ', or check the checkpoint' : ''})`);
        }
      }
    };
    if (ckptPath === undefined) {
      await trainer.fit({ x, y, epochs, shuffleSeed: seed });
      checkFinite();
    } else {
      // One epoch at a time, a checkpoint after each (each written atomically): an interrupted
      // run resumes from its last finished epoch.
      for (let e = pos.epoch; e < epochs; e++) {
        await trainer.fit({ x, y, epochs: e + 1, shuffleSeed: seed });
        checkFinite();
        await saveCheckpoint(trainer);
      }
      if (pos.epoch >= epochs) await saveCheckpoint(trainer);
    }
    const seconds = (performance.now() - t0) / 1000;
    progress.done();
    const trainedExamples = epochs > pos.epoch ? (epochs - pos.epoch) * n - pos.batchInEpoch * batch : 0;
    const ev = await trainer.evaluate({ x, y });
    if (outFile) await trainer.exportOnnx(outFile.tmp); // the temporary, renamed into place below
    outFile?.commit();

    const summary = {
      model: `mlp:${sizes.join('-')}`,
      activation,
      optimizer,
      examples: n,
      epochs,
      resumedFromEpoch: resumePath !== undefined ? pos.epoch : undefined,
      batch,
      steps: trainer.stepCount,
      stepsThisRun: total,
      loss: ev.loss,
      accuracy: ev.accuracy,
      lastEpochLoss: Number.isFinite(epochLoss) ? epochLoss : null,
      examplesPerSecond: seconds > 0 ? trainedExamples / seconds : 0,
      seconds,
      device: trainer.device,
      threads: trainer.threads,
      out: outPath ?? null,
      checkpoint: ckptPath ?? null,
    };
    if (v.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else {
      const lines = [
        `model         ${summary.model} (${activation}), ${optimizer} lr ${lr}${wd ? ` weight decay ${wd}` : ''}`,
        `data          ${n} examples x ${sizes[0]} features, ${classes} classes`,
        `training      ${epochs} epoch${epochs === 1 ? '' : 's'}${resumePath !== undefined ? ` (resumed after ${pos.epoch})` : ''}, batch ${batch}, ${summary.steps} steps`,
        `loss          ${fmt(ev.loss)} (last epoch mean ${fmt(epochLoss)})`,
        `accuracy      ${fmt(ev.accuracy * 100, 4)}% (training set)`,
        `time          ${fmt(seconds)} s (${fmt(summary.examplesPerSecond, 3)} examples/s), ${summary.device}, ${summary.threads} thread${summary.threads === 1 ? '' : 's'}`,
      ];
      if (outPath) lines.push(`model file    ${outPath}`);
      if (ckptPath) lines.push(`checkpoint    ${ckptPath}`);
      process.stdout.write(lines.join('\n') + '\n');
    }
  } catch (e) {
    progress.done();
    outFile?.abort();
    ckptFile?.abort();
    throw e;
  } finally {
    await trainer?.close();
  }
}
