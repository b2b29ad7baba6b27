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
