/** Messages between the Trainer (main thread) and its worker (ORT sessions). */
import type { FloatArray, FloatDType } from '../graph/dtype.js';
import type { PackedLayout } from '../graph/compile.js';
import type { Device, LossName } from './config.js';
import type { Dataset } from './data.js';
import type { Schedule } from './schedule.js';

/** Where a run is: optimizer steps taken and the fit position (for bit-identical resume). */
export interface Counters {
  /** Optimizer steps taken so far (the next step is step + 1). */
  step: number;
  /** Completed epochs of fit. */
  epoch: number;
  /** Batches of the current epoch already trained on. */
  batchInEpoch: number;
  /** Shuffle seed of the fit in progress (null: no fit yet, or not shuffled). */
  shuffleSeed: number | null;
  /** Dataset size of the fit in progress (null: no fit yet). */
  datasetSize: number | null;
}

export interface InitMsg {
  cmd: 'init';
  /** The packed train step (CompiledTraining.packedTrainModel), laid out by `packed`. */
  trainModel: Uint8Array;
  packed: PackedLayout;
  evalModel: Uint8Array;
  gradModel: Uint8Array | null;
  applyModel: Uint8Array | null;
  dtype: FloatDType;
  loss: LossName;
  inputs: number;
  outputs: number;
  batchSize: number;
  accumulation: number;
  lr: number;
  schedule: Schedule;
  threads: number;
  device: Device;
  seedInput: boolean;
  /** GPT language model: inputs 'tokens' / 'targets' int64 [B, context] instead of 'x' / 'y'. */
  lm: { context: number; vocab: number } | null;
  /** The train / grad / eval models take per-example weights 'w' [B]. */
  sampleWeights: boolean;
  params: { name: string; shape: number[]; trainable: boolean; output?: string }[];
  state: { name: string; param: string; slot: string; shape: number[]; output: string }[];
  grads: { param: string; shape: number[]; input: string; output: string }[];
  initParams: Record<string, FloatArray>;
  initState: Record<string, FloatArray>;
  /** Shared copies of the current parameters, refreshed after every command. */
  mirror: Record<string, FloatArray>;
  /** The fast step channel (see FAST), CHANNEL_BYTES of shared memory. */
  channel: SharedArrayBuffer;
}

/**
 * The fast step channel: a step on the same staged buffers as the previous step is a
 * doorbell in shared memory instead of two postMessage round trips (structured clone,
 * MessagePort wake-up on both sides; ~50 us of a 0.3 ms step for small models).
 *
 * Int32 slots: REQ (main sets REQ_STEP, the worker resets it to 0), REPLY (main sets 0,
 * the worker REPLY_OK or REPLY_ERROR, main REPLY_DEAD when the worker is gone), N (rows),
 * ID (the request id an error reply is posted with). Float64 slots from F64_BYTE_OFFSET:
 * the StepResult and the counters after the step (NaN for null). A failing fast step
 * posts its error as an ordinary Reply with that id before setting REPLY_ERROR.
 */
export const FAST = {
  REQ: 0,
  REPLY: 1,
  N: 2,
  ID: 3,
  REQ_STEP: 1,
  REPLY_OK: 1,
  REPLY_ERROR: 2,
  REPLY_DEAD: 3,
  F64_BYTE_OFFSET: 64,
  /** Float64 slots. */
  LOSS: 0,
  GRAD_NORM: 1,
  LR: 2,
  STEP: 3,
  EPOCH: 4,
  BATCH_IN_EPOCH: 5,
  SHUFFLE_SEED: 6,
  DATASET_SIZE: 7,
} as const;
export const CHANNEL_BYTES = 128;

export { waitAsync } from '../wait-async.js';

export interface FitMsg {
  cmd: 'fit';
  data: Dataset;
  epochs: number;
  startEpoch: number | null;
  shuffle: boolean;
  shuffleSeed: number;
  maxSteps: number | null;
  evalEvery: number | null;
  evalData: Dataset | null;
  earlyStopping: { patience: number; minDelta: number } | null;
}

export type Request =
  | InitMsg
  | { cmd: 'step'; data: Dataset }
  | FitMsg
  | { cmd: 'evaluate'; data: Dataset; logits: boolean; labels: boolean }
  | { cmd: 'getState' }
  | { cmd: 'setState'; params: Record<string, FloatArray>; state: Record<string, FloatArray>; counters: Counters }
  | { cmd: 'close' };

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Learning rate used by this step. */
  lr: number;
  step: number;
}

export interface EvalResult {
  loss: number;
  /**
   * Fraction of rows whose argmax is the label (softmax_cross_entropy; NaN for other
   * losses). GPT models: token accuracy over the target positions.
   */
  accuracy: number;
  /** [n * outputs] when asked for (GPT: [n * context * vocab]). */
  logits?: FloatArray;
}

export interface FitResult {
  steps: number;
  epochs: number;
  stoppedEarly: boolean;
  /** Mean training loss of the last epoch finished by this call (NaN if none). */
  loss: number;
  lastEval: EvalResult | null;
}

export interface StepEvent { step: number; epoch: number; loss: number; lr: number; gradNorm: number; examplesPerSecond: number }
export interface EpochEvent { epoch: number; step: number; loss: number; examplesPerSecond: number }
export interface EvalEvent extends EvalResult { step: number; epoch: number }

export type Reply =
  | { id: number; ok: true; result: unknown; counters: Counters }
  | { id: number; ok: false; usage: boolean; name?: string; message: string; stack?: string; counters: Counters | null }
  | { event: 'step'; data: StepEvent }
  | { event: 'epoch'; data: EpochEvent }
  | { event: 'eval'; data: EvalEvent };
