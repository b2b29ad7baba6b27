/** `rsft doctor`: which kernel is active, which CPU features it uses, what the runtime offers. */
import { availableParallelism, cpus } from 'node:os';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeInfo, nativeLoadError, packageRoot } from '../sampling/native.js';
import { UsageError } from '../errors.js';
import { helpText, parseFlags, type Flags } from './args.js';

const doctorFlags: Flags = {
  json: { type: 'boolean', help: 'print the report as one JSON object on stdout' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const doctorHelp = helpText(
  'rsft doctor [--json]',
  'Show the active sampling kernel (native or the TypeScript fallback) and why, the SIMD level and\n' +
    'CPU features it uses, the core count, and the Node.js, platform and ONNX Runtime versions.',
  doctorFlags,
);

function cpuFlags(): string[] {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const line = info.split('\n').find((l) => l.startsWith('flags'));
    if (!line) return [];
    const want = ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512dq', 'avx512vl'];
    const have = new Set(line.split(':')[1].trim().split(/\s+/));
    return want.filter((f) => have.has(f));
  } catch {
    return [];
  }
}

function ortVersion(): string {
  try {
    const require = createRequire(join(packageRoot, 'package.json'));
    const pkg = require('onnxruntime-node/package.json') as { version: string };
    return pkg.version;
  } catch {
    return 'not installed';
  }
}

export function doctorReport(): Record<string, unknown> {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  const nat = nativeInfo();
  return {
    rsft: pkg.version,
    kernel: nat ? 'native' : 'js',
    nativeError: nat ? null : nativeLoadError(),
    simd: nat ? nat.simd : 'none (TypeScript fallback)',
    cpu: cpus()[0]?.model ?? 'unknown',
    cpuFeatures: cpuFlags(),
    cores: availableParallelism(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    onnxruntime: ortVersion(),
  };
}

export function doctorCommand(argv: string[]): void {
  const { values, positionals } = parseFlags(argv, doctorFlags, 'doctor');
  if (values.help) {
    process.stdout.write(doctorHelp);
    return;
  }
  if (positionals.length > 0) throw new UsageError(`doctor: unexpected argument '${positionals[0]}' (see 'rsft doctor --help')`);
  const r = doctorReport();
  if (values.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  for (const [k, v] of Object.entries(r)) {
    if (v === null) continue;
    process.stdout.write(`${k.padEnd(12)} ${Array.isArray(v) ? v.join(' ') : String(v)}\n`);
  }
}
