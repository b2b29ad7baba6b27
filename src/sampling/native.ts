/**
 * Loads the native kernel (native/rsft.<platform>.node, built by `npm ci`). When it is missing
 * or fails to load, rsft runs on the TypeScript fallback kernel and says so once on stderr.
 * RSFT_KERNEL=js forces the fallback (for comparisons and tests).
 */
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernel, OutputLeases } from './kernel-types.js';

export interface NativeKernel extends Omit<Kernel, 'name' | 'leases'>, OutputLeases {
  kernelInfo(): string;
}

export interface NativeInfo {
  simd: string;
  version: string;
}

const here = dirname(fileURLToPath(import.meta.url));
/** Repository / package root: dist/sampling -> ../.. */
export const packageRoot = join(here, '..', '..');

function candidateFiles(): string[] {
  const dir = join(packageRoot, 'native');
  if (!existsSync(dir)) return [];
  const prefix = `rsft.${process.platform}-${process.arch}`;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.node') && f.startsWith(prefix))
    .map((f) => join(dir, f));
}

let loaded: { module: NativeKernel | null; error: string | null } | null = null;

/** The native module, or null (with the reason in nativeLoadError()). */
export function loadNative(): NativeKernel | null {
  if (loaded) return loaded.module;
  if (process.env.RSFT_KERNEL === 'js') {
    loaded = { module: null, error: 'RSFT_KERNEL=js' };
    return null;
  }
  const files = candidateFiles();
  if (files.length === 0) {
    loaded = { module: null, error: `no native/rsft.${process.platform}-${process.arch}*.node (was the crate built?)` };
    return null;
  }
  const require = createRequire(import.meta.url);
  let lastError = '';
  for (const file of files) {
    try {
      const mod = require(file) as NativeKernel;
      // sampleRowsLent is the newest export: a module without it is a stale build.
      if (typeof mod.sampleRowsLent === 'function' && typeof mod.kernelInfo === 'function' && typeof mod.copyRows === 'function') {
        loaded = { module: mod, error: null };
        return mod;
      }
      lastError = `${file} does not export the rsft kernel`;
    } catch (e) {
      lastError = `${file}: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  loaded = { module: null, error: lastError };
  return null;
}

export function nativeLoadError(): string | null {
  loadNative();
  return loaded?.error ?? null;
}

export function nativeInfo(): NativeInfo | null {
  const m = loadNative();
  if (!m) return null;
  return JSON.parse(m.kernelInfo()) as NativeInfo;
}
