/**
 * Small, strict argument parsing for the CLI: every flag is declared, unknown flags and missing
 * values are UsageErrors (exit 2), numbers accept scientific notation (-n 1e6).
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  help: string;
  default?: string | boolean;
  /** shown in help as the value's name */
  value?: string;
}

export type Flags = Record<string, FlagSpec>;

export function parseFlags(argv: string[], flags: Flags, command: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = spec.short ? { type: spec.type, short: spec.short } : { type: spec.type };
  }
  // A string option always takes the next token as its value, even one starting with '-'
  // (log densities usually do: --target-logpdf '-x^2/2'); node's parseArgs would refuse it.
  // --name=value works for every long option, and -n=VALUE for a short one (the '=' is not
  // part of the value).
  const byShort = new Map(Object.entries(flags).filter(([, s]) => s.short).map(([n, s]) => [`-${s.short}`, n]));
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const eq = tok.indexOf('=');
    const head = eq > 0 ? tok.slice(0, eq) : tok;
    const name = head.startsWith('--') ? head.slice(2) : byShort.get(head);
    const spec = name !== undefined && Object.prototype.hasOwnProperty.call(flags, name) ? flags[name] : undefined;
    if (spec === undefined) {
      args.push(tok);
    } else if (eq > 0) {
      args.push(`--${name}=${tok.slice(eq + 1)}`); // a boolean given a value: parseArgs refuses it
    } else if (spec.type === 'string' && i + 1 < argv.length) {
      args.push(`--${name}=${argv[++i]}`);
    } else {
      args.push(`--${name}`);
    }
  }
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '');
    throw new UsageError(`${command}: ${msg} (see 'rsft ${command} --help')`);
  }
}

export function helpText(usage: string, description: string, flags: Flags): string {
  const lines = [`usage: ${usage}`, '', description, '', 'options:'];
  const rows = Object.entries(flags).map(([name, s]) => {
    const left = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.type === 'string' ? ` ${s.value ?? 'VALUE'}` : ''}`;
    const def = s.default !== undefined ? ` (default: ${String(s.default)})` : '';
    return [left, s.help + def] as const;
  });
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  for (const [l, r] of rows) lines.push(`  ${l.padEnd(w)}${r}`);
  return lines.join('\n') + '\n';
}

/** Decimal or scientific notation (1e6, -2.5, .5E-3), or inf / -inf (infinity). Not hex, binary, octal or ''. */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

export function parseNumber(flag: string, v: string): number {
  const s = v.trim().toLowerCase();
  if (s === 'inf' || s === '+inf' || s === 'infinity' || s === '+infinity') return Infinity;
  if (s === '-inf' || s === '-infinity') return -Infinity;
  if (!NUMBER.test(s)) throw new UsageError(`--${flag}: '${v}' is not a number`);
  return Number(s);
}

const MAX_INT = 'at most 2^53-1 (9007199254740991)';

export function parsePositiveInt(flag: string, v: string): number {
  const x = parseNumber(flag, v);
  if (Number.isInteger(x) && x > Number.MAX_SAFE_INTEGER) throw new UsageError(`--${flag}: '${v}' is too large: ${MAX_INT}`);
  if (!Number.isInteger(x) || x < 1) throw new UsageError(`--${flag}: must be a positive integer, got '${v}'`);
  return x;
}

/**
 * A thread count for ONNX Runtime: a positive integer and at most 4x the cores (a typo like
 * 1000000 would have ORT start that many threads, run out of memory and ignore SIGTERM).
 */
export function parseThreads(flag: string, v: string): number {
  const x = parsePositiveInt(flag, v);
  const cores = availableParallelism();
  if (x > 4 * cores) throw new UsageError(`--${flag}: ${x} is more than 4x the ${cores} available cores`);
  return x;
}

export function parseNonNegInt(flag: string, v: string): number {
  const x = parseNumber(flag, v);
  if (Number.isInteger(x) && x > Number.MAX_SAFE_INTEGER) throw new UsageError(`--${flag}: '${v}' is too large: ${MAX_INT}`);
  if (!Number.isInteger(x) || x < 0) throw new UsageError(`--${flag}: must be a non-negative integer, got '${v}'`);
  return x;
}

/** 'auto' in any letter case. */
export function isAuto(v: string): boolean {
  return v.trim().toLowerCase() === 'auto';
}
