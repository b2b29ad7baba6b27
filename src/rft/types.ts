// Shared interface of the classifier RSFT pipeline (src/rft/). Single source of truth:
// pipeline.ts, report.ts, scenario.ts and the CLI code against these types.

/** A feature matrix, row-major [n, d], with optional integer labels in [0, classes). */
export interface Dataset {
  x: Float32Array;
  n: number;
  d: number;
  y?: Int32Array;
  /** Feature names (CSV header / JSONL keys), length d. */
  names?: string[];
  /** Optional extra per-row columns kept by the loader (e.g. a user weight column). */
  extra?: Record<string, Float64Array>;
}

export interface Metrics {
  accuracy: number;
  loss: number;
}

export type RatioSpec =
  | { method: 'classifier'; clip: number; epochs?: number; hidden?: number[] }
  | { method: 'column'; weights: Float64Array; clip: number }
  | { method: 'expression'; expr: string; clip: number };

export interface PipelineInput {
  seed: number;
  data: {
    source: Dataset /* labeled pool */;
    target: Dataset /* unlabeled target-domain inputs */;
    test?: Dataset /* labeled target data for evaluation */;
    targetLabeled?: Dataset;
  };
  classes: number;
  /**
   * hidden (default [50]) and activation (default relu) shape a model trained here; a
   * pretrained one has its own: its hidden sizes come from the file, and so does its activation
   * when the file is ONNX. Given beside a pretrained model, they must agree with it.
   */
  model: { pretrained: string | null; hidden?: number[]; activation?: 'relu' | 'gelu' | 'tanh' };
  ratio: RatioSpec;
  finetune: { samples: number; epochs: number; lr: number; batch: number; /** max proposals; default 100 * samples */ budget?: number };
  pretrain?: { epochs: number; lr: number; batch: number };
  out: string; // run folder
  config: unknown; // echoed into summary.json
  /** ORT intra-op threads per trainer (default min(cores, 4)). */
  threads?: number;
  /** Stage times (seconds) measured before runPipeline, e.g. { load: 0.4 }; merged into summary.timings. */
  timings?: Record<string, number>;
}

export interface Acceptance {
  /** accepted / proposals */
  rate: number;
  /** mean over the pool of min(w, M) / M: the acceptance probability per proposal */
  expectedRate: number;
  M: number;
  /** pool rows with w > M (envelope violations; their weight is clipped to M) */
  clipped: number;
  proposals: number;
  accepted: number;
  /** seed of the acceptance streams (deriveSeed(seed, 'rsft-accept')): block b uses streams b/0 and b/1 */
  streamSeed: number;
}

export interface Summary {
  /** the classifier every model of the run shares: layer sizes [in, ..., classes], activation, and the pretrained file it came from */
  model: { sizes: number[]; activation: 'relu' | 'gelu' | 'tanh'; pretrained: string | null };
  pretrained: Metrics;
  rsft: Metrics;
  baselines: { uniform: Metrics; weighted: Metrics; targetOnly?: Metrics };
  acceptance: Acceptance;
  /** seconds per stage */
  timings: Record<string, number>;
  /** free-form notes (e.g. how the weighted baseline is implemented) */
  notes?: string[];
  config: unknown;
}

export interface Curve {
  name: string;
  points: { step: number; loss: number }[];
}

/**
 * What pipeline.ts hands to src/rft/report.ts. report.ts exports
 *   `writeReport(outDir: string, data: ReportData): void | Promise<void>` (writes
 *   outDir/report.html through AtomicFile), and may also export
 *   `renderReport(data: ReportData): string`; when renderReport exists the pipeline stages its
 *   HTML together with the other run-folder files and commits them all at once (preferred:
 *   then an interrupted run never leaves report.html without summary.json or vice versa).
 */
export interface ReportData {
  summary: Summary;
  /** w over the pool (unclipped) */
  weights: Float64Array;
  M: number;
  curves: Curve[];
}

/** Provenance of one accepted example (one line of accepted.jsonl). */
export interface Provenance {
  row: number;
  w: number;
  u: number;
  block: number;
}

export type ProgressFn = (stage: string, info: string) => void;
