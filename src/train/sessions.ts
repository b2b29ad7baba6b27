/**
 * ORT session creation per device. 'cuda' needs the CUDA execution provider's
 * libraries, which onnxruntime-node downloads only when installed with
 * ONNXRUNTIME_NODE_INSTALL=cuda12; without them we fail with the install recipe.
 */
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { UsageError } from '../errors.js';
import type { Device } from './config.js';

export const CUDA_HELP =
  'install the CUDA execution provider with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` (needs CUDA 12 and cuDNN 9 on the library path), or use device "cpu"';

type Feeds = Record<string, ort.Tensor>;
export type Outputs = Record<string, ort.Tensor>;

/**
 * What the worker needs of a session. run takes fetches as an object: a pre-allocated
 * tensor is written in place, null asks for a new one; outputs come back by name.
 */
export interface Session {
  run(feeds: Feeds, fetches: Record<string, ort.Tensor | null>): Outputs | Promise<Outputs>;
  release(): Promise<void>;
}

/** The part of onnxruntime-node's native binding (dist/binding.js) that direct sessions use. */
interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: ort.InferenceSession.SessionOptions): void;
  run(feeds: Feeds, fetches: Record<string, ort.Tensor | null>, options: ort.InferenceSession.RunOptions): Outputs;
  dispose(): void;
}
interface NativeBinding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}

/** The onnxruntime-node version whose internals nativeBinding was checked against. */
const NATIVE_VERSION = /^1\.30\./;

/**
 * onnxruntime-node's native binding, or null when this is not the version it was checked
 * against or its internals differ. Why bypass the public API: InferenceSession.run of
 * onnxruntime-common re-validates feeds and fetches and wraps the results, and the node
 * backend defers the (synchronous, thread-blocking anyway) native run to a setImmediate,
 * i.e. one more event-loop turn per run: ~10-20 us, 3-5% of a small step (MLP 100-50-10
 * at batch 256, ~0.3 ms). Sessions are created exactly as the node backend creates them
 * (initOrt, then loadModel with the same options), so only the call path changes.
 */
function nativeBinding(): NativeBinding | null {
  try {
    if (!NATIVE_VERSION.test(String((ort.env.versions as Record<string, unknown>).node))) return null;
    const b = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as Partial<NativeBinding>;
    const S = b.binding?.InferenceSession, proto = (S?.prototype ?? {}) as Partial<NativeSession>;
    if (typeof b.initOrt !== 'function' || typeof S !== 'function') return null;
    if (typeof proto.loadModel !== 'function' || typeof proto.run !== 'function' || typeof proto.dispose !== 'function') return null;
    return b as NativeBinding;
  } catch {
    return null;
  }
}

const NO_RUN_OPTIONS: ort.InferenceSession.RunOptions = {};

/** A CPU session on the native binding: run is a plain synchronous call. */
function openNative(b: NativeBinding, model: Uint8Array, opts: ort.InferenceSession.SessionOptions): Session {
  b.initOrt();
  const s = new b.binding.InferenceSession();
  s.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, opts);
  return {
    run: (feeds, fetches) => s.run(feeds, fetches, NO_RUN_OPTIONS),
    release: async () => s.dispose(),
  };
}

function wrap(s: ort.InferenceSession): Session {
  return { run: (feeds, fetches) => s.run(feeds, fetches), release: () => s.release() };
}

/** CPU sessions: native ones when the binding is usable, else through the public API. */
async function openCpu(models: Uint8Array[], threads: number): Promise<Session[]> {
  const b = nativeBinding(), opts = options(threads, 'cpu');
  if (b) return models.map((m) => openNative(b, m, opts));
  return (await Promise.all(models.map((m) => ort.InferenceSession.create(m, opts)))).map(wrap);
}

export interface Opened {
  sessions: Session[];
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
  if (device === 'cpu') return { sessions: await openCpu(models, threads), device: 'cpu', fallback: null };
  // The failed CUDA probe prints an ORT error line of its own (environment-level, so
  // logSeverityLevel does not reach it); the UsageError / fallback notice says it better.
  // Effective only when this is the process's first ORT session.
  ort.env.logLevel = 'fatal';
  try {
    const sessions = await Promise.all(models.map((m) => ort.InferenceSession.create(m, options(threads, 'cuda'))));
    return { sessions: sessions.map(wrap), device: 'cuda', fallback: null };
  } catch (e) {
    const why = firstLine(e);
    if (device === 'cuda') throw new UsageError(`device 'cuda' is not available (${why}): ${CUDA_HELP}`);
    return { sessions: await openCpu(models, threads), device: 'cpu', fallback: why };
  }
}
