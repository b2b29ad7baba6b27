/**
 * Trainer: the main-thread handle on a training run. It compiles the model (graph
 * layer), starts a worker thread that owns the ORT sessions, parameters and optimizer
 * state (see worker.ts), validates and stages user data, and turns worker messages
 * into promises and progress events ('step', 'epoch', 'eval').
 *
 * Commands run one at a time in call order. Parameters are mirrored into shared memory
 * after every command, so parameters() and exportOnnx() need no round trip. A step on
 * the same staged buffers as the previous step (the usual loop) skips postMessage: it
 * rings a doorbell in shared memory and reads the result from there (protocol.ts FAST).
 */
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FloatArray } from '../graph/dtype.js';
import { type CompiledTraining, compileTraining } from '../graph/compile.js';
import { AtomicFile, writeFileAtomic } from '../io/atomic-file.js';
import { UsageError } from '../errors.js';
import { fromConfig } from './models.js';
import { type AnyModel, type Device, type RunConfig, type TrainerOptions, checkModel, normalizeRun, trainingSpec } from './config.js';
import { type Dataset, stageData, stageTokens, stageWeights } from './data.js';
import { IGNORE_INDEX } from './gpt-model.js';
import { gptKvModel } from '../graph/gpt.js';
import { type Checkpoint, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { loadPretrained } from './pretrained.js';
import { intraOpThreads } from './sessions.js';
import { type Counters, type EvalResult, type FitResult, type InitMsg, type Reply, type Request, type StepResult, CHANNEL_BYTES, FAST, waitAsync } from './protocol.js';

export type Labels = Int32Array | BigInt64Array | Float32Array | Float64Array;

/** A batch for MLP models. */
export interface TensorBatch {
  /** [n * inputs] */
  x: Float32Array | Float64Array;
  /** Class labels [n] (softmax_cross_entropy) or targets [n * outputs] (mse, bce_with_logits). */
  y: Labels;
  /**
   * Per-example loss weights [n] (finite, >= 0, not all zero) for step and fit of a
   * trainer created with `sampleWeights: true` (required there, refused otherwise);
   * ignored by evaluate, which is unweighted.
   */
  w?: Float32Array | Float64Array | number[];
}

/**
 * A batch for GPT models: token ids and next-token targets, both [n * context] row-major
 * (rows padded to the model's context), BigInt64Array or Int32Array. targets holds
 * IGNORE_INDEX (-100) where there is no loss (prompt and padding positions); see
 * encodeExamples in src/rft/lm/tasks.ts.
 */
export interface TokenBatch {
  tokens: BigInt64Array | Int32Array;
  targets: BigInt64Array | Int32Array;
}

/** `{ x, y[, w] }` for MLP models, `{ tokens, targets }` for GPT models. */
export type Batch = TensorBatch | TokenBatch;

export type FitOptions = Batch & FitSettings;

export interface FitSettings {
  /**
   * Train until this many epochs are complete, counting epochs of earlier fit calls
   * and of a resumed checkpoint (so the same call after a resume finishes the run).
   */
  epochs: number;
  /** Shuffle every epoch (default true) with the permutation of (shuffleSeed, epoch). */
  shuffle?: boolean;
  shuffleSeed?: number;
  /**
   * Start at the beginning of this epoch (0-based; its shuffle order), discarding the
   * trainer's position. Default: continue from the position (Keras' initial_epoch).
   */
  startEpoch?: number;
  /** Stop after this many optimizer steps in this call (the position is kept for later). */
  maxSteps?: number;
  /** Evaluate evalData every this many optimizer steps (default: at the end of each epoch). */
  evalEvery?: number;
  evalData?: Batch;
  /** Stop when the eval loss has not improved by more than minDelta for `patience` evaluations. */
  earlyStopping?: { patience: number; minDelta?: number };
}

export interface LoadOptions {
  threads?: number;
  device?: Device;
}

let warnedFallback = false;

function checkThreads(t: unknown): number {
  const threads = t ?? availableParallelism();
  if (!Number.isInteger(threads) || (threads as number) < 1) throw new UsageError(`threads must be a positive integer, got ${String(t)}`);
  return threads as number;
}

function checkDevice(d: unknown): Device {
  const device = d ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda' && device !== 'auto') throw new UsageError(`device must be cpu, cuda or auto, got '${String(d)}'`);
  return device;
}

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

export class Trainer extends EventEmitter {
  readonly model: AnyModel;
  readonly run: RunConfig;
  readonly threads: number;
  /** The execution provider in use. */
  device: 'cpu' | 'cuda' = 'cpu';
  private readonly compiled: CompiledTraining;
  private worker!: Worker;
  private readonly mirror: Record<string, FloatArray>;
  private counters: Counters = { step: 0, epoch: 0, batchInEpoch: 0, shuffleSeed: null, datasetSize: null };
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Shared buffers reused per use (fresh memory is slow to touch on these machines, and
   * fit is often called once per epoch with the same data). Safe: commands run one at a
   * time and staging happens inside the queued command.
   */
  private readonly staging: Record<'step' | 'fit' | 'eval' | 'evalData', Dataset | null> = { step: null, fit: null, eval: null, evalData: null };
  private closed = false;
  /** The fast step channel (protocol.ts FAST): control words and result slots. */
  private readonly channel = new SharedArrayBuffer(CHANNEL_BYTES);
  private readonly ctl = new Int32Array(this.channel, 0, FAST.F64_BYTE_OFFSET / 4);
  private readonly res = new Float64Array(this.channel, FAST.F64_BYTE_OFFSET);
  /** The staged step buffers the worker holds (from the last 'step' message): fast steps reuse them. */
  private fastData: Dataset | null = null;
  /** Why the worker is gone (crash or exit), if it is. */
  private dead: Error | null = null;

  private constructor(model: AnyModel, run: RunConfig, threads: number) {
    super();
    this.model = model;
    this.run = run;
    this.threads = threads;
    this.compiled = compileTraining(trainingSpec(model, run));
    const Arr = run.dtype === 'float32' ? Float32Array : Float64Array;
    this.mirror = Object.fromEntries(
      this.compiled.signature.params.map((p) => [p.name, new Arr(new SharedArrayBuffer(p.shape.reduce((a, b) => a * b, 1) * Arr.BYTES_PER_ELEMENT) as unknown as ArrayBuffer)]),
    );
  }

  /** A new run: compile the model, start the worker, load pretrained weights if asked. */
  static async create(opts: TrainerOptions): Promise<Trainer> {
    if (!opts || typeof opts !== 'object') throw new UsageError('Trainer.create needs an options object');
    checkModel(opts.model);
    const run = normalizeRun(opts);
    const threads = checkThreads(opts.threads), device = checkDevice(opts.device);
    const params = opts.pretrained !== undefined ? loadPretrained(opts.pretrained, opts.model.params, run.dtype) : null;
    const t = new Trainer(opts.model, run, threads);
    await t.start(device, params ?? t.compiled.initialParams(), t.compiled.initialState());
    return t;
  }

  /** Rebuild a run from a checkpoint (model, configuration, parameters, optimizer state, position). */
  static async load(path: string, opts: LoadOptions = {}): Promise<Trainer> {
    const ck = readCheckpoint(path);
    let model: AnyModel, run: RunConfig;
    try {
      model = fromConfig(ck.model.kind, ck.model.config);
      run = normalizeRun({ model, ...ck.run, optimizer: ck.run.optimizer as never, clipGradNorm: ck.run.clipGradNorm ?? undefined });
    } catch (e) {
      if (e instanceof UsageError) throw new UsageError(`${path}: corrupt checkpoint configuration: ${e.message}`);
      throw e;
    }
    const threads = checkThreads(opts.threads), device = checkDevice(opts.device);
    const t = new Trainer(model, run, threads);
    const { params, state } = t.tensorsFrom(ck, path);
    await t.start(device, params, state);
    try {
      await t.send({ cmd: 'setState', params, state, counters: ck.counters });
    } catch (e) {
      await t.worker.terminate();
      throw e;
    }
    return t;
  }

  /** Start the worker (only once every input has been checked) and open the sessions. */
  private async start(device: Device, params: Record<string, FloatArray>, state: Record<string, FloatArray>): Promise<void> {
    this.worker = new Worker(new URL('./worker.js', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (m: Reply) => this.onMessage(m));
    this.worker.on('error', (e) => this.failAll(e));
    this.worker.on('exit', (code) => this.failAll(new Error(`trainer worker exited (code ${code})`)));
    this.dead = null;
    const c = this.compiled, sig = c.signature;
    const init: InitMsg = {
      cmd: 'init',
      trainModel: c.packedTrainModel(),
      packed: c.packed,
      evalModel: c.evalModel,
      gradModel: c.accumulation?.gradModel ?? null,
      applyModel: c.accumulation?.applyModel ?? null,
      dtype: this.run.dtype,
      loss: this.run.loss,
      inputs: this.model.kind === 'gpt' ? this.model.context : this.model.inputSize,
      outputs: this.model.kind === 'gpt' ? this.model.context * this.model.vocab : this.model.outputSize,
      lm: this.model.kind === 'gpt' ? { context: this.model.context, vocab: this.model.vocab } : null,
      batchSize: this.run.batchSize,
      accumulation: this.run.accumulation,
      lr: this.run.optimizer.lr,
      schedule: this.run.schedule,
      threads: this.intraOpThreads(),
      device,
      seedInput: sig.seed !== null,
      sampleWeights: this.run.sampleWeights,
      params: sig.params.map((p) => ({ name: p.name, shape: p.shape, trainable: p.trainable, output: p.output })),
      state: sig.state.map((s) => ({ name: s.name, param: s.param, slot: s.slot, shape: s.shape, output: s.output })),
      grads: c.accumulation?.grads ?? [],
      initParams: params,
      initState: state,
      mirror: this.mirror,
      channel: this.channel,
    };
    try {
      const r = (await this.send(init)) as { device: 'cpu' | 'cuda'; fallback: string | null };
      this.device = r.device;
      if (r.fallback !== null && !warnedFallback) {
        warnedFallback = true;
        process.stderr.write(`rsft: CUDA is not available (${r.fallback}); training on CPU\n`);
      }
    } catch (e) {
      await this.worker.terminate();
      throw e;
    }
  }

  /**
   * ORT intra-op threads: `threads` is the cap; small steps run on fewer (sessions.ts
   * intraOpThreads). Work ~ 6 x trainable parameters x rows of one run (a micro-batch
   * with accumulation; GPT: rows x context tokens).
   */
  private intraOpThreads(): number {
    const params = this.compiled.signature.params.reduce((a, p) => a + (p.trainable ? p.shape.reduce((x, y) => x * y, 1) : 0), 0);
    const rows = Math.ceil(this.run.batchSize / this.run.accumulation) * (this.model.kind === 'gpt' ? this.model.context : 1);
    return intraOpThreads(this.threads, 6 * params * rows);
  }

  // ---- messaging ---------------------------------------------------------------------

  private onMessage(m: Reply): void {
    if ('event' in m) {
      this.emit(m.event, m.data);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker.unref();
    if (m.counters) this.counters = m.counters;
    if (m.ok) p.resolve(m.result);
    else {
      if (m.usage) p.reject(new UsageError(m.message));
      else {
        const e = new Error(m.message);
        if (m.stack) e.stack = m.stack;
        // (the kind of error survives the thread: the CLI tells allocation failures by name)
        if (m.name !== undefined) e.name = m.name;
        p.reject(e);
      }
    }
  }

  private failAll(e: Error): void {
    this.dead ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    // Wake a fast step waiting for its reply (its pending entry was just rejected).
    Atomics.store(this.ctl, FAST.REPLY, FAST.REPLY_DEAD);
    Atomics.notify(this.ctl, FAST.REPLY);
  }

  /**
   * A step on the staged buffers the worker already holds: write n, ring, wait
   * (Atomics.waitAsync: the event loop stays free), read the result. An error comes as
   * an ordinary reply message for the registered id; a dead worker rejects that id too.
   */
  private async fastStep(n: number): Promise<StepResult> {
    if (this.dead) throw this.dead;
    const id = this.nextId++;
    const reply = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    reply.catch(() => undefined); // may reject before it is returned (handled by the caller then)
    this.worker.ref(); // waitAsync alone does not keep the process alive
    const ctl = this.ctl;
    ctl[FAST.N] = n;
    ctl[FAST.ID] = id;
    Atomics.store(ctl, FAST.REPLY, 0);
    Atomics.store(ctl, FAST.REQ, FAST.REQ_STEP);
    Atomics.notify(ctl, FAST.REQ);
    const w = waitAsync(ctl, FAST.REPLY, 0);
    if (w.async) await w.value;
    if (Atomics.load(ctl, FAST.REPLY) !== FAST.REPLY_OK) return reply as Promise<StepResult>;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
    const r = this.res, nul = (v: number) => (Number.isNaN(v) ? null : v);
    this.counters = {
      step: r[FAST.STEP], epoch: r[FAST.EPOCH], batchInEpoch: r[FAST.BATCH_IN_EPOCH], shuffleSeed: nul(r[FAST.SHUFFLE_SEED]), datasetSize: nul(r[FAST.DATASET_SIZE]),
    };
    return { loss: r[FAST.LOSS], gradNorm: r[FAST.GRAD_NORM], lr: r[FAST.LR], step: r[FAST.STEP] };
  }

  private send(msg: Request): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(this.dead);
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...msg, id });
    });
  }

  /** Run `task` after every earlier command has finished. */
  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new UsageError('the trainer is closed'));
    const p = this.queue.then(task);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Validate and copy a batch into shared memory, reusing the buffers of `slot`. */
  private stage(batch: Batch, labels: boolean, slot: keyof Trainer['staging'], label = ''): Dataset {
    const m = this.model;
    if (m.kind === 'gpt') {
      if (!batch || typeof batch !== 'object') throw new UsageError(`${label || 'data'} must be { tokens, targets }`);
      const t = batch as TokenBatch & { x?: unknown; w?: unknown };
      if (t.tokens === undefined && t.x !== undefined) throw new UsageError(`${label || 'data'} for a GPT model must be { tokens, targets } (int64 token ids [n * ${m.context}]), not { x, y }`);
      if (t.w !== undefined) throw new UsageError('w (per-example weights) is not supported for GPT models');
      const d = stageTokens(t.tokens, labels ? t.targets : null, { context: m.context, vocab: m.vocab, ignoreIndex: IGNORE_INDEX }, label, this.staging[slot]);
      return (this.staging[slot] = d);
    }
    if (!batch || typeof batch !== 'object') throw new UsageError(`${label || 'data'} must be { x, y }`);
    const b = batch as TensorBatch;
    if ((b as Partial<TokenBatch>).tokens !== undefined && b.x === undefined) throw new UsageError(`${label || 'data'}: { tokens, targets } is for GPT models; this ${m.kind} model takes { x, y }`);
    const training = slot === 'step' || slot === 'fit';
    if (training && b.w !== undefined && !this.run.sampleWeights) throw new UsageError('w (per-example weights) needs a trainer created with sampleWeights: true');
    if (training && b.w === undefined && this.run.sampleWeights) throw new UsageError('this trainer was created with sampleWeights: true, so step and fit need w (one weight per row)');
    const shape = { inputs: m.inputSize, outputs: m.outputSize, loss: this.run.loss, dtype: this.run.dtype };
    const prev = this.staging[slot];
    const d = stageData(b.x, labels ? b.y : null, shape, label, prev);
    d.w = training && this.run.sampleWeights ? stageWeights(b.w, d.n, label, prev?.w) : undefined;
    return (this.staging[slot] = d);
  }

  // ---- training ------------------------------------------------------------------------

  /** One optimizer step on the batch { x, y } (any batch size; accumulation splits it into micro-batches). */
  step(b: Batch): Promise<StepResult> {
    return this.enqueue(async () => {
      const d = this.stage(b, true, 'step'), f = this.fastData;
      if (f && f.x === d.x && f.y === d.y && f.w === d.w) return this.fastStep(d.n);
      // The worker keeps these buffers for the fast steps that follow (even if this one fails).
      this.fastData = d;
      return (await this.send({ cmd: 'step', data: d })) as StepResult;
    });
  }

  /** Epochs over the dataset; the last partial batch is trained on as a smaller batch. */
  fit(o: FitOptions): Promise<FitResult> {
    return this.enqueue(async () => {
      if (!o || typeof o !== 'object') throw new UsageError(this.model.kind === 'gpt' ? 'fit needs { tokens, targets, epochs }' : 'fit needs { x, y, epochs }');
      if (!Number.isInteger(o.epochs) || o.epochs < 0) throw new UsageError(`epochs must be a non-negative integer, got ${String(o.epochs)}`);
      const shuffleSeed = o.shuffleSeed ?? 0;
      if (!Number.isSafeInteger(shuffleSeed) || shuffleSeed < 0) throw new UsageError(`shuffleSeed must be a non-negative integer, got ${String(o.shuffleSeed)}`);
      if (o.maxSteps !== undefined && (!Number.isInteger(o.maxSteps) || o.maxSteps < 0)) throw new UsageError(`maxSteps must be a non-negative integer, got ${String(o.maxSteps)}`);
      if (o.evalEvery !== undefined && (!Number.isInteger(o.evalEvery) || o.evalEvery < 1)) throw new UsageError(`evalEvery must be a positive integer, got ${String(o.evalEvery)}`);
      const es = o.earlyStopping;
      if (es !== undefined) {
        if (!Number.isInteger(es.patience) || es.patience < 1) throw new UsageError(`earlyStopping.patience must be a positive integer, got ${String(es.patience)}`);
        if (es.minDelta !== undefined && !(es.minDelta >= 0)) throw new UsageError(`earlyStopping.minDelta must be >= 0, got ${String(es.minDelta)}`);
      }
      if ((o.evalEvery !== undefined || es !== undefined) && !o.evalData) throw new UsageError('evalEvery and earlyStopping need evalData');
      if (o.startEpoch !== undefined) {
        if (!Number.isInteger(o.startEpoch) || o.startEpoch < 0) throw new UsageError(`startEpoch must be a non-negative integer, got ${String(o.startEpoch)}`);
        if (o.epochs < o.startEpoch) throw new UsageError(`epochs (${o.epochs}) is the epoch count to stop at and cannot be below startEpoch (${o.startEpoch})`);
      }
      const data = this.stage(o, true, 'fit');
      const evalData = o.evalData ? this.stage(o.evalData, true, 'evalData', 'evalData.') : null;
      return (await this.send({
        cmd: 'fit', data, epochs: o.epochs, startEpoch: o.startEpoch ?? null, shuffle: o.shuffle ?? true, shuffleSeed, maxSteps: o.maxSteps ?? null,
        evalEvery: o.evalEvery ?? null, evalData, earlyStopping: es ? { patience: es.patience, minDelta: es.minDelta ?? 0 } : null,
      })) as FitResult;
    });
  }

  /**
   * Mean loss (and accuracy for softmax_cross_entropy) over { x, y }; `logits: true` also
   * returns the logits. GPT models: { tokens, targets } -> mean token cross-entropy and
   * token accuracy over the target positions; logits [n * context * vocab].
   */
  evaluate(b: Batch, opts: { logits?: boolean } = {}): Promise<EvalResult> {
    return this.enqueue(async () => (await this.send({ cmd: 'evaluate', data: this.stage(b, true, 'eval'), logits: opts.logits === true, labels: true })) as EvalResult);
  }

  /** Logits [n * outputs] of the eval graph's forward for x (GPT: x = token ids [n * context] -> [n * context * vocab]). */
  predict(x: Float32Array | Float64Array | BigInt64Array | Int32Array): Promise<FloatArray> {
    return this.enqueue(async () => {
      const b = this.model.kind === 'gpt'
        ? { tokens: x as BigInt64Array, targets: new BigInt64Array(0) }
        : { x: x as Float32Array, y: new Int32Array(0) };
      const r = (await this.send({ cmd: 'evaluate', data: this.stage(b, false, 'eval'), logits: true, labels: false })) as EvalResult;
      return r.logits!;
    });
  }

  // ---- state -------------------------------------------------------------------------

  /** Copies of the current parameters by name. */
  parameters(): Map<string, FloatArray> {
    return new Map(Object.entries(this.mirror).map(([k, v]) => [k, v.slice()]));
  }

  /** Optimizer steps taken so far. */
  get stepCount(): number {
    return this.counters.step;
  }

  /** Optimizer steps taken, epochs completed and the position within the current epoch. */
  get position(): Readonly<Counters> {
    return { ...this.counters };
  }

  /** Checkpoint (parameters, optimizer state, counters, model + run config), written atomically. */
  save(path: string): Promise<void> {
    return this.enqueue(async () => {
      const f = AtomicFile.open(path); // fail fast on an unwritable path
      f.abort();
      const { params, state } = (await this.send({ cmd: 'getState' })) as { params: Record<string, FloatArray>; state: Record<string, FloatArray> };
      const sig = this.compiled.signature;
      writeCheckpoint(
        path, this.model, this.run, this.counters,
        sig.params.map((p) => ({ name: p.name, shape: p.shape, data: params[p.name] })),
        sig.state.map((s) => ({ name: s.name, shape: s.shape, data: state[s.name] })),
      );
    });
  }

  /**
   * Continue from a checkpoint of the same model, loss, dtype and optimizer type (this trainer's
   * other settings stay). Resolves to the checkpoint's counters and batch size, for callers
   * that promise an exact continuation (the same data and batch: rsft train).
   */
  resume(path: string): Promise<{ counters: Counters; batchSize: number }> {
    return this.enqueue(async () => {
      const ck = readCheckpoint(path);
      const problems: string[] = [];
      const cfg = (c: unknown) => {
        if (this.model.kind === 'gpt') {
          const g = c as Record<string, unknown> | null;
          return JSON.stringify({ vocab: g?.vocab, context: g?.context, dModel: g?.dModel, nHeads: g?.nHeads, nLayers: g?.nLayers, tied: g?.tied });
        }
        const m = c as { sizes?: unknown; activation?: unknown };
        return JSON.stringify({ sizes: m?.sizes, activation: m?.activation });
      };
      if (ck.model.kind !== this.model.kind || cfg(ck.model.config) !== cfg(this.model.config)) {
        problems.push(`model ${ck.model.kind} ${cfg(ck.model.config)}, this trainer has ${this.model.kind} ${cfg(this.model.config)}`);
      }
      if (ck.run.dtype !== this.run.dtype) problems.push(`dtype ${ck.run.dtype}, this trainer has ${this.run.dtype}`);
      if (ck.run.loss !== this.run.loss) problems.push(`loss ${ck.run.loss}, this trainer has ${this.run.loss}`);
      if (ck.run.optimizer?.type !== this.run.optimizer.type) problems.push(`optimizer ${ck.run.optimizer?.type}, this trainer has ${this.run.optimizer.type}`);
      if (ck.counters.batchInEpoch > 0 && ck.run.batchSize !== this.run.batchSize) {
        problems.push(`batchSize ${ck.run.batchSize} (saved mid-epoch), this trainer has ${this.run.batchSize}`);
      }
      if (problems.length) throw new UsageError(`checkpoint ${path} does not match this trainer: ${problems.join('; ')}`);
      const { params, state } = this.tensorsFrom(ck, path);
      await this.send({ cmd: 'setState', params, state, counters: ck.counters });
      return { counters: { ...ck.counters }, batchSize: ck.run.batchSize };
    });
  }

  /** Parameters and state from a checkpoint, checked against this trainer's signature. */
  private tensorsFrom(ck: Checkpoint, path: string): { params: Record<string, FloatArray>; state: Record<string, FloatArray> } {
    const sig = this.compiled.signature;
    const want = this.run.dtype === 'float32' ? 'F32' : 'F64';
    const problems: string[] = [];
    const take = (name: string, shape: number[]) => {
      const t = ck.tensors.get(name);
      if (!t) problems.push(`missing '${name}'`);
      else if (!sameShape(t.shape, shape)) problems.push(`'${name}' has shape [${t.shape}], expected [${shape}]`);
      else if (t.dtype !== want) problems.push(`'${name}' has dtype ${t.dtype}, expected ${want}`);
      else return t.data as FloatArray;
      return null;
    };
    const params: Record<string, FloatArray> = {}, state: Record<string, FloatArray> = {};
    for (const p of sig.params) params[p.name] = take(p.name, p.shape)!;
    for (const s of sig.state) state[s.name] = take(s.name, s.shape)!;
    if (problems.length) throw new UsageError(`checkpoint ${path} does not match the model: ${problems.join('; ')}`);
    return { params, state };
  }

  /**
   * Inference model with the current weights as initializers (float32), written atomically.
   * MLP: input 'x' [N, inputs] -> 'logits'. GPT: the KV-cache model of gptKvModel (inputs
   * 'tokens' [B, T] and 'past/<l>/key|value' [B, H, P, head]; outputs 'logits' [B, T, vocab]
   * and 'present/<l>/key|value'); `padding: true` adds its 'positions' and 'attention_mask'
   * inputs for left-padded batches.
   */
  exportOnnx(path: string, opts: { padding?: boolean } = {}): Promise<void> {
    return this.enqueue(async () => {
      const m = this.model;
      writeFileAtomic(path, () => (m.kind === 'gpt' ? gptKvModel(m.config, this.mirror, 'float32', { padding: opts.padding === true }) : this.compiled.inferenceModel(this.mirror, { dtype: 'float32' })));
    });
  }

  /** Release the sessions and stop the worker. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const p = this.enqueue(async () => {
      try {
        await this.send({ cmd: 'close' });
      } finally {
        for (const k of Object.keys(this.staging) as (keyof Trainer['staging'])[]) this.staging[k] = null;
        this.fastData = null;
        this.worker.removeAllListeners('exit');
        await this.worker.terminate();
      }
    });
    this.closed = true;
    return p;
  }
}
