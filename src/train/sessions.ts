/**
 * ORT session creation per device. 'cuda' needs the CUDA execution provider's
 * libraries, which onnxruntime-node downloads only when installed with
 * ONNXRUNTIME_NODE_INSTALL=cuda12; without them we fail with the install recipe.
 */
import * as ort from 'onnxruntime-node';
import { UsageError } from '../errors.js';
import type { Device } from './config.js';

export const CUDA_HELP =
  'install the CUDA execution provider with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` (needs CUDA 12 and cuDNN 9 on the library path), or use device "cpu"';

export interface Opened {
  sessions: ort.InferenceSession[];
  device: 'cpu' | 'cuda';
  /** Why CUDA was not used when device was 'auto'. */
  fallback: string | null;
}

function options(threads: number, ep: 'cpu' | 'cuda'): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [ep],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: ep === 'cuda' ? 4 : 3,
  };
}

/**
 * Floating-point work per step (about 6 x trainable parameters x rows: forward 2, backward
 * 4) that one more intra-op thread needs before it pays for itself. A step is ~100 ONNX
 * nodes; with 2+ threads ORT splits even small nodes across its pool, and every node ends
 * in a barrier with that pool, so a small step (MLP 100-50-10 at batch 256: 8.5 MFLOP,
 * ~0.3 ms) gets slower, not faster, and much slower when the cores are shared (a pool
 * thread descheduled at a barrier stalls the step). Measured on 2 vCPUs: 8.5 MFLOP and
 * 48 MFLOP steps are no faster on 2 threads, 0.2-0.3 GFLOP steps slower under load, the
 * 0.54 GFLOP step of the `rsft rft` GPT (d 64, 2 layers, batch 64 x 14 tokens) ~1.3x faster
 * and the 2.9 GFLOP step of MLP 784-1024-1024-10 1.7x faster.
 */
export const FLOP_PER_THREAD = 5e8;

/**
 * The intra-op thread count for a step of `flop` floating-point operations: `threads`
 * is the most the trainer may use (like torch.set_num_threads, whose kernels also stay
 * on one thread below a grain size); a step gets one thread, plus one per FLOP_PER_THREAD
 * of work.
 */
export function intraOpThreads(threads: number, flop: number): number {
  return Math.max(1, Math.min(threads, 1 + Math.floor(flop / FLOP_PER_THREAD)));
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0].trim();

export async function openSessions(models: Uint8Array[], threads: number, device: Device): Promise<Opened> {
  const open = (ep: 'cpu' | 'cuda') => Promise.all(models.map((m) => ort.InferenceSession.create(m, options(threads, ep))));
  if (device === 'cpu') return { sessions: await open('cpu'), device: 'cpu', fallback: null };
  // The failed CUDA probe prints an ORT error line of its own (environment-level, so
  // logSeverityLevel does not reach it); the UsageError / fallback notice says it better.
  // Effective only when this is the process's first ORT session.
  ort.env.logLevel = 'fatal';
  try {
    return { sessions: await open('cuda'), device: 'cuda', fallback: null };
  } catch (e) {
    const why = firstLine(e);
    if (device === 'cuda') throw new UsageError(`device 'cuda' is not available (${why}): ${CUDA_HELP}`);
    return { sessions: await open('cpu'), device: 'cpu', fallback: why };
  }
}
