/**
 * Picks the kernel a run uses: the native module when it loads, the TypeScript fallback
 * otherwise (announced once on stderr, since it is several times slower).
 */
import type { Kernel } from './kernel-types.js';
import { jsKernel } from './js-kernel.js';
import { loadNative, nativeLoadError } from './native.js';
import { UsageError } from '../errors.js';

export type KernelChoice = 'auto' | 'native' | 'js';

let nativeKernel: Kernel | null = null;
let warned = false;

function wrapNative(): Kernel | null {
  if (nativeKernel) return nativeKernel;
  const m = loadNative();
  if (!m) return null;
  // Frozen: getKernel() hands this object to callers, and a wrapper of one of its methods (a
  // profiler's, say) would run inside a run, with a caller's output lent to pool threads.
  nativeKernel = Object.freeze({
    name: 'native',
    uniforms: m.uniforms,
    sampleDist: m.sampleDist,
    logpdfDist: m.logpdfDist,
    evalExpr: m.evalExpr,
    sampleBlock: m.sampleBlock,
    sampleRows: m.sampleRows,
    proposeBlock: m.proposeBlock,
    acceptBlock: m.acceptBlock,
    copyRows: m.copyRows,
    leases: Object.freeze({ lendOut: m.lendOut, endLease: m.endLease, sampleRowsLent: m.sampleRowsLent, viewLength: m.viewLength }),
    adviseHugePages: m.adviseHugePages,
  } as const);
  return nativeKernel;
}

export function getKernel(choice: KernelChoice = 'auto'): Kernel {
  if (choice === 'js') return jsKernel;
  const k = wrapNative();
  if (k) return k;
  if (choice === 'native') throw new UsageError(`native kernel unavailable: ${nativeLoadError()}`);
  if (!warned && process.env.RSFT_KERNEL !== 'js') {
    warned = true;
    process.stderr.write(`rsft: native kernel unavailable (${nativeLoadError()}); using the TypeScript fallback kernel\n`);
  }
  return jsKernel;
}

export function kernelByName(name: 'native' | 'js'): Kernel {
  return getKernel(name);
}
