/** The train layer: model builders, the Trainer (ORT sessions in a worker thread), checkpoints. */
import { mlp, fromConfig } from './models.js';
import { gpt } from './gpt-model.js';

export const models = { mlp, gpt, fromConfig };
export { IGNORE_INDEX, gptTrainingSpec } from './gpt-model.js';
export type { GptModel, GptModelConfig } from './gpt-model.js';
export type { Model, MlpConfig, Activation } from './models.js';
export { Trainer } from './trainer.js';
export type { Batch, TensorBatch, TokenBatch, FitOptions, LoadOptions, Labels } from './trainer.js';
export type { TrainerOptions, OptimizerOptions, LossName, Device, RunConfig } from './config.js';
export type { StepResult, EvalResult, FitResult, StepEvent, EpochEvent, EvalEvent, Counters } from './protocol.js';
export { type Schedule, lrAt } from './schedule.js';
export { permutation } from './shuffle.js';
export { encodeSafetensors, decodeSafetensors, readSafetensors, writeSafetensors } from './safetensors.js';
export type { SafeTensor, SafeDType, SafetensorsFile } from './safetensors.js';
export { CUDA_HELP } from './sessions.js';
