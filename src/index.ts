/**
 * rsft: rejection sampling and rejection-sampling fine-tuning for Node.js.
 * The sampling engine: exact samples from a target p through a proposal q with p <= M q,
 * on a native Rust kernel fanned out over worker threads, reproducible by (seed, block).
 */
export { sample, RejectionSampler } from './sampling/sampler.js';
export type { SampleOptions, SamplerOptions, SampleResult, SampleStats } from './sampling/sampler.js';
export type { TargetSpec, ProposalSpec, ExpressionTarget, ModuleTarget, FunctionTarget, LogDensityFn } from './sampling/resolve.js';
export { dist, dimOf, supportOf, formatDist, encodeDist, isDist } from './sampling/dist.js';
export type { Dist } from './sampling/dist.js';
export { parseDist } from './sampling/spec.js';
export { compileExpr } from './sampling/expr.js';
export { uniforms } from './sampling/rng.js';
export { getKernel } from './sampling/kernel.js';
export type { Kernel } from './sampling/kernel-types.js';
export { nativeInfo, nativeLoadError } from './sampling/native.js';
export { closePools } from './sampling/crew.js';
export { UsageError } from './errors.js';
export { writeSamples, type SampleFormat } from './io/write-samples.js';

/** The graph layer of the training engine: ONNX graph builder, autodiff, losses, optimizers. */
export * as graph from './graph/index.js';

/** The train layer: model builders and the Trainer (ONNX Runtime sessions in a worker thread). */
export { models, Trainer, readSafetensors, writeSafetensors } from './train/index.js';
export type { Model, GptModel, GptModelConfig, TrainerOptions, OptimizerOptions, StepResult, EvalResult, FitResult } from './train/index.js';
export { readNpy, writeNpy } from './io/npy-read.js';

/** RSFT pipelines: classifier RSFT under data shift, and language-model RFT with its parts. */
export { runPipeline } from './rft/pipeline.js';
export { runRft } from './rft/lm/rounds.js';
export type { RftOptions, RftSummary, RoundSummary, RftScorer } from './rft/lm/rounds.js';
export { selectFile } from './rft/lm/select.js';
export type { SelectOptions, SelectSummary } from './rft/lm/select.js';
export { selectAll, decidePrompt, dpoPairs, POLICIES } from './rft/lm/policies.js';
export type { PolicyName, PolicyOptions, ScoredCandidate, PromptDecision } from './rft/lm/policies.js';
export { verifierScorer, loadVerifierModule, onnxRewardModel } from './rft/lm/scorers.js';
export type { Scorer, ScoreItem, VerifierFn, RewardModelOptions } from './rft/lm/scorers.js';
export { createGenerator } from './rft/lm/generate.js';
export type { Generator, GeneratorOptions, GenerateOptions, GenerateResult, Candidate } from './rft/lm/generate.js';
export { CharTokenizer, loadTokenizer, saveTokenizer } from './rft/lm/tokenizer.js';
export { tasks, encodeExamples } from './rft/lm/tasks.js';
export type { Task, Example } from './rft/lm/tasks.js';
