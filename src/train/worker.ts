/**
 * The trainer's worker thread: owns the ORT sessions (session.run blocks its thread),
 * the parameters and optimizer state, and the training loop of fit.
 *
 * Buffers: two sets of parameter + state arrays with ort.Tensors over them created
 * once. Step k feeds set `cur` and writes the updated values into the pre-allocated
 * output tensors of set 1 - cur, then flips `cur`: no buffer is ever both input and
 * output of one run, and nothing is allocated per step. The train model is the packed
 * one (CompiledTraining.packedTrainModel: a few tensors instead of three per parameter),
 * so each set holds one vector of the small trainable params and one per state slot, and
 * their per-parameter arrays (eval, accumulation, state exchange) are views into them;
 * large params and their state have arrays of their own. Frozen parameters (never
 * written) share one array. Batches are gathered from the shared dataset into
 * worker-owned buffers (ORT cannot wrap shared memory).
 *
 * Per step nothing is allocated on the plain (no accumulation) path either: the batch
 * tensors are cached per batch size, the scalar inputs (lr, step, seed) are tensors
 * whose one-element arrays are rewritten, and the feed / fetch objects of both buffer
 * sets are built once. Trainer.step on the same staged buffers as the previous step
 * comes through the shared-memory doorbell of protocol.ts (FAST) instead of a message.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { FloatArray } from '../graph/dtype.js';
import { UsageError } from '../errors.js';
import { type Counters, type EvalResult, type FitMsg, type FitResult, type InitMsg, type Reply, type Request, type StepResult, FAST, waitAsync } from './protocol.js';
import type { Dataset } from './data.js';
import { lrAt } from './schedule.js';
import { permutation } from './shuffle.js';
import { type Session, openSessions } from './sessions.js';

const port = parentPort!;
const post = (m: Reply) => port.postMessage(m);

type Feeds = Record<string, ort.Tensor>;

interface BufferSet {
  /** By name; packed ones (CompiledTraining.packed) are views into this set's packed params vector. */
  params: Record<string, FloatArray>;
  /** By state name; those of packed params are views into this set's packed vector of their slot. */
  state: Record<string, FloatArray>;
  /** This set's params and state as inputs of the (packed) train model: packed vectors, large and frozen params. */
  stepIn: Feeds;
  /** The same arrays as its outputs ('next/...'; frozen params are not outputs). */
  stepOut: Feeds;
  /** Inputs of the eval and grad models (all params). */
  paramFeeds: Feeds;
  /** Inputs of the apply model (trainable params + state). */
  applyFeeds: Feeds;
  /** Pre-allocated outputs 'next/...' of the apply model writing into this set. */
  fetches: Feeds;
  /** Train model feeds reading this set (batch tensors set per step) and fetches writing the other set. */
  trainFeeds: Feeds;
  trainFetches: Feeds;
}

class Engine {
  readonly cfg: InitMsg;
  readonly Arr: Float32ArrayConstructor | Float64ArrayConstructor;
  train!: Session;
  eval!: Session;
  grad: Session | null = null;
  apply: Session | null = null;
  sets: BufferSet[] = [];
  cur = 0;
  /** Gradient accumulators (two sets, like the parameters). */
  acc: { feeds: Feeds; fetches: Feeds; arrays: FloatArray[] }[] = [];
  counters: Counters = { step: 0, epoch: 0, batchInEpoch: 0, shuffleSeed: null, datasetSize: null };
  lossT: ort.Tensor;
  normT: ort.Tensor;
  xb: FloatArray | BigInt64Array;
  yb: BigInt64Array | FloatArray;
  /** Raw weights of the gathered batch (sampleWeights), and the normalized ones fed as 'w'. */
  wraw: Float64Array;
  wb: FloatArray;
  device: 'cpu' | 'cuda' = 'cpu';
  /** Scalar inputs, rewritten in place per step. */
  lrT: ort.Tensor;
  stepT: ort.Tensor;
  seedT: ort.Tensor;
  /** Batch input tensors over rows [0, n) of the batch buffers, by n (cleared when they grow). */
  batchCache = new Map<number, Feeds>();
  /** The staged buffers of the last 'step' message: fast steps read them. */
  stepData: Dataset | null = null;

  constructor(cfg: InitMsg) {
    this.cfg = cfg;
    this.Arr = cfg.dtype === 'float32' ? Float32Array : Float64Array;
    this.lossT = new ort.Tensor(cfg.dtype, new this.Arr(1), []);
    this.normT = new ort.Tensor(cfg.dtype, new this.Arr(1), []);
    this.lrT = new ort.Tensor(cfg.dtype, new this.Arr(1), []);
    this.stepT = new ort.Tensor('int64', new BigInt64Array(1), []);
    this.seedT = new ort.Tensor('int64', new BigInt64Array(1), []);
    this.xb = new this.Arr(0);
    this.yb = new this.Arr(0);
    this.wraw = new Float64Array(0);
    this.wb = new this.Arr(0);
    this.ensureBatch(cfg.batchSize);
    const frozen: Record<string, FloatArray> = {};
    const L = cfg.packed, at = new Map(L.params.map((p) => [p.name, p]));
    const view = (flat: FloatArray, name: string) => {
      const { offset, size } = at.get(name)!;
      return flat.subarray(offset, offset + size);
    };
    for (let k = 0; k < 2; k++) {
      const set: BufferSet = { params: {}, state: {}, stepIn: {}, stepOut: {}, paramFeeds: {}, applyFeeds: {}, fetches: {}, trainFeeds: {}, trainFetches: {} };
      /** A train model input/output pair over one array of this set. */
      const io = (a: FloatArray, shape: number[], input: string, output: string | undefined): ort.Tensor => {
        const t = new ort.Tensor(cfg.dtype, a, shape);
        set.stepIn[input] = t;
        if (output !== undefined) set.stepOut[output] = t;
        return t;
      };
      const packed = (input: string, output: string): FloatArray => {
        const a = new this.Arr(L.size);
        if (L.size > 0) io(a, [L.size], input, output);
        return a;
      };
      const numel = (shape: number[]) => shape.reduce((x, y) => x * y, 1);
      const flatParams = packed(L.input, L.output);
      for (const p of cfg.params) {
        let a: FloatArray, t: ort.Tensor;
        if (at.has(p.name)) t = new ort.Tensor(cfg.dtype, (a = view(flatParams, p.name)), p.shape);
        else if (p.trainable) t = io((a = new this.Arr(numel(p.shape))), p.shape, p.name, p.output);
        else t = io((a = frozen[p.name] ??= new this.Arr(numel(p.shape))), p.shape, p.name, undefined);
        set.params[p.name] = a;
        set.paramFeeds[p.name] = t;
        if (p.trainable) {
          set.applyFeeds[p.name] = t;
          set.fetches[p.output!] = t;
        }
      }
      const slots = Object.fromEntries(L.state.map((s) => [s.slot, packed(s.input, s.output)]));
      for (const s of cfg.state) {
        let a: FloatArray, t: ort.Tensor;
        if (at.has(s.param)) t = new ort.Tensor(cfg.dtype, (a = view(slots[s.slot], s.param)), s.shape);
        else t = io((a = new this.Arr(numel(s.shape))), s.shape, s.name, s.output);
        set.state[s.name] = a;
        set.applyFeeds[s.name] = t;
        set.fetches[s.output] = t;
      }
      this.sets.push(set);
    }
    for (let k = 0; k < 2; k++) {
      const set = this.sets[k];
      set.trainFeeds = { ...this.batchFeeds(0, cfg.batchSize), lr: this.lrT, step: this.stepT, ...(cfg.seedInput ? { seed: this.seedT } : {}), ...set.stepIn };
      set.trainFetches = { loss: this.lossT, grad_norm: this.normT, ...this.sets[1 - k].stepOut };
    }
    if (cfg.accumulation > 1) {
      for (let k = 0; k < 2; k++) {
        const feeds: Feeds = {}, fetches: Feeds = {}, arrays: FloatArray[] = [];
        for (const g of cfg.grads) {
          const a = new this.Arr(g.shape.reduce((x, y) => x * y, 1));
          arrays.push(a);
          const t = new ort.Tensor(cfg.dtype, a, g.shape);
          feeds[g.input] = t;
          fetches[g.output] = t;
        }
        this.acc.push({ feeds, fetches, arrays });
      }
    }
    this.setState(cfg.initParams, cfg.initState);
  }

  async open(): Promise<string | null> {
    const c = this.cfg;
    const models = [c.trainModel, c.evalModel];
    if (c.gradModel && c.applyModel) models.push(c.gradModel, c.applyModel);
    const o = await openSessions(models, c.threads, c.device);
    [this.train, this.eval] = o.sessions;
    if (o.sessions.length > 2) [, , this.grad, this.apply] = o.sessions;
    this.device = o.device;
    return o.fallback;
  }

  ensureBatch(n: number): void {
    if (this.xb.length >= n * this.cfg.inputs) return;
    this.batchCache.clear();
    this.xb = this.cfg.lm ? new BigInt64Array(n * this.cfg.inputs) : new this.Arr(n * this.cfg.inputs);
    this.yb = this.cfg.lm ? new BigInt64Array(n * this.cfg.inputs) : this.cfg.loss === 'softmax_cross_entropy' ? new BigInt64Array(n) : new this.Arr(n * this.cfg.outputs);
    if (this.cfg.sampleWeights) {
      this.wraw = new Float64Array(n);
      this.wb = new this.Arr(n); // zeros: the eval graph ignores 'w'
    }
  }

  setState(params: Record<string, FloatArray>, state: Record<string, FloatArray>): void {
    this.cur = 0;
    const set = this.sets[0];
    for (const p of this.cfg.params) set.params[p.name].set(params[p.name]);
    for (const s of this.cfg.state) set.state[s.name].set(state[s.name]);
    this.refreshMirror();
  }

  refreshMirror(): void {
    const set = this.sets[this.cur];
    for (const p of this.cfg.params) this.cfg.mirror[p.name].set(set.params[p.name]);
  }

  /** Copy rows (rows[i] or, without rows, start + i) of `d` into the batch buffers at [0, count). */
  gather(d: Dataset, start: number, count: number, rows: Uint32Array | null): void {
    this.ensureBatch(count);
    const I = this.cfg.inputs, yw = this.cfg.lm ? I : this.cfg.loss === 'softmax_cross_entropy' ? 1 : this.cfg.outputs;
    const w = this.cfg.sampleWeights ? d.w : undefined;
    if (!rows) {
      (this.xb as Float64Array).set(d.x.subarray(start * I, (start + count) * I) as Float64Array);
      (this.yb as Float64Array).set(d.y.subarray(start * yw, (start + count) * yw) as Float64Array);
      if (w) this.wraw.set(w.subarray(start, start + count));
      return;
    }
    for (let i = 0; i < count; i++) {
      const r = rows[start + i];
      if (w) this.wraw[i] = w[r];
      (this.xb as Float64Array).set(d.x.subarray(r * I, r * I + I) as Float64Array, i * I);
      if (yw === 1) this.yb[i] = d.y[r];
      else (this.yb as Float64Array).set(d.y.subarray(r * yw, r * yw + yw) as Float64Array, i * yw);
    }
  }

  /** Input tensors for batch rows [0, n) of the batch buffers, cached (do not mutate). */
  batchFeedsOf(n: number): Feeds {
    let f = this.batchCache.get(n);
    if (!f) {
      if (this.batchCache.size >= 16) this.batchCache.clear();
      f = this.batchFeeds(0, n);
      this.batchCache.set(n, f);
    }
    return f;
  }

  /** Input tensors for batch rows [a, b) of the batch buffers. */
  batchFeeds(a: number, b: number): Feeds {
    const I = this.cfg.inputs, c = this.cfg.loss === 'softmax_cross_entropy';
    const n = b - a;
    if (this.cfg.lm) {
      return {
        tokens: new ort.Tensor('int64', (this.xb as BigInt64Array).subarray(a * I, b * I), [n, I]),
        targets: new ort.Tensor('int64', (this.yb as BigInt64Array).subarray(a * I, b * I), [n, I]),
      };
    }
    const feeds: Feeds = {
      x: new ort.Tensor(this.cfg.dtype, (this.xb as FloatArray).subarray(a * I, b * I), [n, I]),
      y: c
        ? new ort.Tensor('int64', (this.yb as BigInt64Array).subarray(a, b), [n])
        : new ort.Tensor(this.cfg.dtype, (this.yb as FloatArray).subarray(a * this.cfg.outputs, b * this.cfg.outputs), [n, this.cfg.outputs]),
    };
    if (this.cfg.sampleWeights) feeds.w = new ort.Tensor(this.cfg.dtype, this.wb.subarray(a, b), [n]);
    return feeds;
  }

  /**
   * sampleWeights: 'w' of batch rows [0, n) = raw weight / the batch's sum of weights (all
   * zeros when that sum is 0), so the graph's sum_i w_i l_i is the weighted mean. Returns the sum.
   */
  normalizeWeights(n: number): number {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.wraw[i];
    for (let i = 0; i < n; i++) this.wb[i] = sum > 0 ? this.wraw[i] / sum : 0;
    return sum;
  }

  /** Zero 'w' after a weighted step so the eval graph (which ignores it) is fed zeros. */
  clearWeights(n: number): void {
    this.wb.fill(0, 0, n);
  }

  /** GPT: target positions (!= IGNORE_INDEX) among batch rows [a, b) of the batch buffers. */
  targetCount(a: number, b: number): number {
    const T = this.cfg.inputs, y = this.yb as BigInt64Array;
    let k = 0;
    for (let i = a * T; i < b * T; i++) if (y[i] !== -100n) k++;
    return k;
  }

  scalar(v: number): ort.Tensor {
    return new ort.Tensor(this.cfg.dtype, this.Arr.of(v), []);
  }

  /** One optimizer step on batch rows [0, n) of the batch buffers. */
  async runStep(n: number): Promise<StepResult & { weight: number }> {
    const c = this.cfg;
    // GPT: the loss is a mean over target tokens, so batches weigh by their token count.
    const weight = c.sampleWeights ? this.normalizeWeights(n) : c.lm ? this.targetCount(0, n) : n;
    const step = this.counters.step + 1;
    const lr = lrAt(c.schedule, c.lr, step);
    const src = this.sets[this.cur], dst = this.sets[1 - this.cur];
    const stepT = this.stepT;
    (stepT.data as BigInt64Array)[0] = BigInt(step);
    let loss: number;
    if (!this.grad) {
      const feeds = src.trainFeeds, batch = this.batchFeedsOf(n);
      for (const k in batch) feeds[k] = batch[k];
      (this.lrT.data as FloatArray)[0] = lr;
      if (c.seedInput) (this.seedT.data as BigInt64Array)[0] = BigInt(step) * 65536n;
      await this.train.run(feeds, src.trainFetches);
      loss = this.lossT.data[0] as number;
    } else {
      // Micro-batches of ceil(n / k) rows; gradients summed, then scaled by 1/chunks.
      const k = Math.min(c.accumulation, n), m = Math.ceil(n / k);
      this.acc[0].arrays.forEach((a) => a.fill(0));
      let a = 0, chunks = 0, sum = 0;
      for (let s = 0; s < n; s += m, chunks++) {
        const e = Math.min(n, s + m);
        const feeds: Feeds = { ...this.batchFeeds(s, e), ...src.paramFeeds, ...this.acc[a].feeds };
        if (c.seedInput) feeds.seed = new ort.Tensor('int64', BigInt64Array.of(BigInt(step) * 65536n + BigInt(chunks)), []);
        await this.grad.run(feeds, { loss: this.lossT, ...this.acc[1 - a].fetches });
        // Weighted micro-batch losses are partial sums of the batch's weighted mean.
        sum += c.sampleWeights ? (this.lossT.data[0] as number) : (this.lossT.data[0] as number) * (c.lm ? this.targetCount(s, e) : e - s);
        a = 1 - a;
      }
      loss = c.sampleWeights ? sum : c.lm ? (weight > 0 ? sum / weight : 0) : sum / n;
      (this.lrT.data as FloatArray)[0] = lr;
      const feeds: Feeds = { ...src.applyFeeds, ...this.acc[a].feeds, lr: this.lrT, step: stepT, grad_scale: this.scalar(c.sampleWeights ? 1 : 1 / chunks) };
      await this.apply!.run(feeds, { grad_norm: this.normT, ...dst.fetches });
    }
    if (c.sampleWeights) this.clearWeights(n);
    this.cur = 1 - this.cur;
    this.counters.step = step;
    return { loss, gradNorm: this.normT.data[0] as number, lr, step, weight };
  }

  async evaluate(d: Dataset, wantLogits: boolean, labels: boolean): Promise<EvalResult> {
    const c = this.cfg, O = c.outputs;
    const chunk = Math.max(c.batchSize, 256);
    const fetch: Record<string, null> = { loss: null, ...(labels && c.loss === 'softmax_cross_entropy' ? { accuracy: null } : {}), ...(wantLogits ? { logits: null } : {}) };
    const logits = wantLogits ? new this.Arr(d.n * O) : undefined;
    let loss = 0, acc = 0, total = 0;
    for (let s = 0; s < d.n; s += chunk) {
      const e = Math.min(d.n, s + chunk);
      if (labels) this.gather(d, s, e - s, null);
      else {
        this.ensureBatch(e - s);
        (this.xb as Float64Array).set(d.x.subarray(s * c.inputs, e * c.inputs) as Float64Array);
        if (this.yb instanceof BigInt64Array) this.yb.fill(0n);
        else this.yb.fill(0);
      }
      const out = await this.eval.run({ ...this.batchFeedsOf(e - s), ...this.sets[this.cur].paramFeeds }, fetch);
      // GPT: loss and accuracy are means over target tokens, so chunks weigh by their count.
      const wt = c.lm && labels ? this.targetCount(0, e - s) : e - s;
      total += wt;
      if (wt > 0) {
        loss += (out.loss.data[0] as number) * wt;
        if (out.accuracy) acc += (out.accuracy.data[0] as number) * wt;
      }
      if (logits) logits.set(out.logits.data as FloatArray, s * O);
    }
    const r: EvalResult = total > 0 ? { loss: loss / total, accuracy: labels && c.loss === 'softmax_cross_entropy' ? acc / total : NaN } : { loss: 0, accuracy: NaN };
    if (logits) r.logits = logits;
    return r;
  }

  async fit(m: FitMsg): Promise<FitResult> {
    const c = this.cfg, B = c.batchSize, N = m.data.n;
    const k = this.counters;
    const seed = m.shuffle ? m.shuffleSeed : null;
    if (m.startEpoch !== null) {
      k.epoch = m.startEpoch;
      k.batchInEpoch = 0;
    }
    if (k.batchInEpoch > 0 && (k.datasetSize !== N || k.shuffleSeed !== seed)) {
      throw new UsageError(
        `cannot continue the interrupted epoch ${k.epoch + 1}: it was over ${k.datasetSize} examples with shuffleSeed ${k.shuffleSeed}, this fit has ${N} with ${seed}`,
      );
    }
    k.datasetSize = N;
    k.shuffleSeed = seed;
    const batches = Math.ceil(N / B);
    let steps = 0, stopped = false, lastEval: EvalResult | null = null, epochLoss = NaN;
    let best = Infinity, bad = 0;
    const doEval = async () => {
      lastEval = await this.evaluate(m.evalData!, false, true);
      post({ event: 'eval', data: { ...lastEval, step: k.step, epoch: k.epoch } });
      if (m.earlyStopping) {
        if (lastEval.loss < best - m.earlyStopping.minDelta) {
          best = lastEval.loss;
          bad = 0;
        } else if (++bad >= m.earlyStopping.patience) stopped = true;
      }
    };
    const perm = new Uint32Array(N);
    outer: while (k.epoch < m.epochs) {
      const rows = seed === null ? null : permutation(seed, k.epoch, N, perm);
      let sum = 0, seen = 0;
      const t0 = performance.now();
      while (k.batchInEpoch < batches) {
        if (m.maxSteps !== null && steps >= m.maxSteps) break outer;
        const start = k.batchInEpoch * B, n = Math.min(B, N - start);
        const t = performance.now();
        this.gather(m.data, start, n, rows);
        const r = await this.runStep(n);
        k.batchInEpoch++;
        steps++;
        sum += r.loss * r.weight; // weight = n, or the batch's sum of weights (sampleWeights)
        seen += r.weight;
        post({ event: 'step', data: { step: r.step, epoch: k.epoch, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm, examplesPerSecond: n / ((performance.now() - t) / 1000) } });
        if (m.evalEvery !== null && k.step % m.evalEvery === 0) {
          await doEval();
          if (stopped) break outer;
        }
      }
      k.epoch++;
      k.batchInEpoch = 0;
      epochLoss = sum / seen;
      post({ event: 'epoch', data: { epoch: k.epoch, step: k.step, loss: epochLoss, examplesPerSecond: seen / ((performance.now() - t0) / 1000) } });
      if (m.evalData && m.evalEvery === null) {
        await doEval();
        if (stopped) break;
      }
    }
    return { steps, epochs: k.epoch, stoppedEarly: stopped, loss: epochLoss, lastEval };
  }
}

let engine: Engine | null = null;

async function handle(msg: Request): Promise<unknown> {
  if (msg.cmd === 'init') {
    engine = new Engine(msg);
    const fallback = await engine.open();
    serveFastSteps(engine, msg.channel);
    return { device: engine.device, fallback };
  }
  const e = engine!;
  switch (msg.cmd) {
    case 'step': {
      e.stepData = msg.data;
      e.gather(msg.data, 0, msg.data.n, null);
      const { weight: _, ...r } = await e.runStep(msg.data.n);
      e.refreshMirror();
      return r;
    }
    case 'fit':
      try {
        return await e.fit(msg);
      } finally {
        e.refreshMirror();
      }
    case 'evaluate':
      return e.evaluate(msg.data, msg.logits, msg.labels);
    case 'getState': {
      // Copies: posting a view would clone its whole packed vector.
      const set = e.sets[e.cur], copy = (r: Record<string, FloatArray>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.slice()]));
      return { params: copy(set.params), state: copy(set.state) };
    }
    case 'setState':
      e.setState(msg.params, msg.state);
      e.counters = { ...msg.counters };
      return null;
    case 'close':
      await Promise.all([e.train, e.eval, e.grad, e.apply].map((s) => s?.release()));
      engine = null;
      return null;
  }
}

/**
 * Answer doorbell steps (protocol.ts FAST) on the buffers of the last 'step' message,
 * until the engine is closed. Waits with Atomics.waitAsync, so messages are still served
 * (blocking waits, tried on either side, gave no measurable gain on the 2-vCPU machine).
 */
function serveFastSteps(e: Engine, channel: SharedArrayBuffer): void {
  const ctl = new Int32Array(channel, 0, FAST.F64_BYTE_OFFSET / 4);
  const res = new Float64Array(channel, FAST.F64_BYTE_OFFSET);
  const wait = (): void => {
    if (engine !== e) return;
    const w = waitAsync(ctl, FAST.REQ, 0);
    if (w.async) void w.value.then(ring);
    else ring();
  };
  const ring = (): void => {
    if (engine !== e) return;
    // Exchange, not load + store: a doorbell rung in between must not be lost.
    if (Atomics.exchange(ctl, FAST.REQ, 0) !== FAST.REQ_STEP) return wait();
    const n = ctl[FAST.N], id = ctl[FAST.ID];
    let r: Promise<StepResult>;
    try {
      e.gather(e.stepData!, 0, n, null);
      r = e.runStep(n);
    } catch (err) {
      r = Promise.reject(err);
    }
    r.then(
      (s) => {
        e.refreshMirror();
        const k = e.counters;
        res[FAST.LOSS] = s.loss;
        res[FAST.GRAD_NORM] = s.gradNorm;
        res[FAST.LR] = s.lr;
        res[FAST.STEP] = k.step;
        res[FAST.EPOCH] = k.epoch;
        res[FAST.BATCH_IN_EPOCH] = k.batchInEpoch;
        res[FAST.SHUFFLE_SEED] = k.shuffleSeed ?? NaN;
        res[FAST.DATASET_SIZE] = k.datasetSize ?? NaN;
        Atomics.store(ctl, FAST.REPLY, FAST.REPLY_OK);
      },
      (err: unknown) => {
        const x = err as Error;
        post({ id, ok: false, usage: x instanceof UsageError, name: x?.name, message: x?.message ?? String(err), stack: x?.stack, counters: { ...e.counters } });
        Atomics.store(ctl, FAST.REPLY, FAST.REPLY_ERROR);
      },
    ).finally(() => {
      Atomics.notify(ctl, FAST.REPLY);
      wait();
    });
  };
  wait();
}

port.on('message', (msg: Request & { id: number }) => {
  handle(msg).then(
    (result) => post({ id: msg.id, ok: true, result, counters: engine ? { ...engine.counters } : (null as never) }),
    (err: unknown) => {
      const e = err as Error;
      post({ id: msg.id, ok: false, usage: e instanceof UsageError, name: e?.name, message: e?.message ?? String(err), stack: e?.stack, counters: engine ? { ...engine.counters } : null });
    },
  );
});
