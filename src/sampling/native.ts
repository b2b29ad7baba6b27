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
  /** revision of what the exports mean (native/PROTOCOL.md) */
  protocol: number;
}

/** The protocol revision this code speaks: a module built from other sources is refused. */
const PROTOCOL = 3;

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
      if (typeof mod.kernelInfo !== 'function') {
        lastError = `${file} does not export the rsft kernel`;
        continue;
      }
      const { protocol } = JSON.parse(mod.kernelInfo()) as Partial<NativeInfo>;
      if (protocol === PROTOCOL) {
        loaded = { module: mod, error: null };
        return mod;
      }
      lastError = `${file} is a stale build (protocol ${String(protocol ?? 1)}, want ${PROTOCOL}): run npm run build`;
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
