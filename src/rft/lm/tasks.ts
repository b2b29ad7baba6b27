/**
 * Built-in verifiable tasks for language-model RFT. A task is a prompt generator, a
 * verifier and a pretraining-data generator:
 *
 * - `addition`: prompt "123+45=", completion "168" (a, b in [0, 999]; each operand first
 *   draws its digit count 1..3 uniformly, then a value with that many digits).
 * - `reverse`: prompt "abcd=", completion "dcba" (words of 2..5 letters over a..j).
 *
 * Held-out prompts are disjoint from training prompts for every seed: each problem is
 * assigned to a split by a fixed hash of the problem itself (about 1 in 8 is held out),
 * not by the seed. Within one makePrompts call the prompts are distinct.
 *
 * `pretrainData(seed, n, { noise })` draws n training-split problems; each completion
 * is correct with probability 1 - noise (default noise 0.25) and otherwise a plausible
 * wrong answer (addition: the sum with a dropped carry or one digit off; reverse: two
 * adjacent letters swapped, or the word unchanged). With few examples (hundreds) and
 * this noise a small model pretrained on it stays imperfect, so RFT has room to improve.
 *
 * Verifiers are exact: the completion (as decoded, EOS and everything after it removed)
 * must equal the canonical answer: no spaces, no leading zeros, no extra characters.
 * A malformed prompt verifies as false. Everything is deterministic by seed (rsft streams).
 */
import { Stream } from '../../sampling/rng.js';
import { UsageError } from '../../errors.js';
import { IGNORE_INDEX } from '../../train/gpt-model.js';
import type { CharTokenizer } from './tokenizer.js';

export type Split = 'train' | 'heldout';

export interface Example {
  prompt: string;
  completion: string;
}

export interface PretrainOptions {
  /** Fraction of examples with a wrong completion, in [0, 1] (default 0.25). */
  noise?: number;
}

export interface Task {
  name: string;
  /** Every character a prompt or completion can contain (for CharTokenizer). */
  alphabet: string;
  /** Longest prompt and completion (characters), for choosing a context length. */
  maxPromptLength: number;
  maxCompletionLength: number;
  /** n distinct prompts of the split, deterministic by seed. */
  makePrompts(seed: number, n: number, split: Split): string[];
  /** The correct completion of a prompt (throws UsageError on a malformed prompt). */
  answer(prompt: string): string;
  /** True when `completion` is exactly the correct answer to `prompt`. */
  verify(prompt: string, completion: string): boolean;
  /** n training-split examples, a fraction `noise` of them with wrong completions. */
  pretrainData(seed: number, n: number, opts?: PretrainOptions): Example[];
}

/** Default fraction of wrong completions in pretraining data. */
export const DEFAULT_NOISE = 0.25;
/** About 1 / HELDOUT_MOD of all problems are held out. */
const HELDOUT_MOD = 8;

// Stream ids per purpose (sub-stream 0).
const STREAM_TRAIN = 101, STREAM_HELDOUT = 102, STREAM_PRETRAIN = 103;

function checkSeed(seed: unknown): number {
  if (!Number.isSafeInteger(seed) || (seed as number) < 0) throw new UsageError(`seed must be a non-negative integer, got ${String(seed)}`);
  return seed as number;
}

function checkCount(n: unknown, what = 'n'): number {
  if (!Number.isInteger(n) || (n as number) < 0) throw new UsageError(`${what} must be a non-negative integer, got ${String(n)}`);
  return n as number;
}

const int = (s: Stream, k: number) => Math.floor(s.nextF64() * k);

/** A fixed 32-bit hash of a string (FNV-1a + final mix); decides a problem's split. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const splitOf = (prompt: string): Split => (hash(prompt) % HELDOUT_MOD === 0 ? 'heldout' : 'train');

interface Spec {
  name: string;
  alphabet: string;
  maxPromptLength: number;
  maxCompletionLength: number;
  /** Number of distinct problems (both splits). */
  space: number;
  draw(s: Stream): string;
  answer(prompt: string): string | null;
  wrong(prompt: string, answer: string, s: Stream): string;
}

function makeTask(spec: Spec): Task {
  const makePrompts = (seed: number, n: number, split: Split): string[] => {
    checkSeed(seed);
    checkCount(n);
    if (split !== 'train' && split !== 'heldout') throw new UsageError(`split must be 'train' or 'heldout', got '${String(split)}'`);
    const cap = Math.floor((split === 'heldout' ? 0.5 : 0.75) * spec.space / (split === 'heldout' ? HELDOUT_MOD : 1));
    if (n > cap) throw new UsageError(`${spec.name}: at most ${cap} distinct ${split} prompts can be drawn, asked for ${n}`);
    const s = new Stream(seed, split === 'train' ? STREAM_TRAIN : STREAM_HELDOUT, 0);
    const seen = new Set<string>(), out: string[] = [];
    while (out.length < n) {
      const p = spec.draw(s);
      if (splitOf(p) !== split || seen.has(p)) continue;
      seen.add(p);
      out.push(p);
    }
    return out;
  };
  const answer = (prompt: string): string => {
    const a = typeof prompt === 'string' ? spec.answer(prompt) : null;
    if (a === null) throw new UsageError(`${spec.name}: malformed prompt ${JSON.stringify(prompt)}`);
    return a;
  };
  return {
    name: spec.name,
    alphabet: spec.alphabet,
    maxPromptLength: spec.maxPromptLength,
    maxCompletionLength: spec.maxCompletionLength,
    makePrompts,
    answer,
    verify(prompt, completion) {
      if (typeof prompt !== 'string' || typeof completion !== 'string') return false;
      const a = spec.answer(prompt);
      return a !== null && completion === a;
    },
    pretrainData(seed, n, opts = {}) {
      checkSeed(seed);
      checkCount(n);
      const noise = opts.noise ?? DEFAULT_NOISE;
      if (typeof noise !== 'number' || !(noise >= 0 && noise <= 1)) throw new UsageError(`noise must be a number in [0, 1], got ${String(opts.noise)}`);
      const s = new Stream(seed, STREAM_PRETRAIN, 0);
      const out: Example[] = [];
      while (out.length < n) {
        const prompt = spec.draw(s);
        if (splitOf(prompt) !== 'train') continue;
        const a = spec.answer(prompt)!;
        const bad = s.nextF64() < noise;
        out.push({ prompt, completion: bad ? spec.wrong(prompt, a, s) : a });
      }
      return out;
    },
  };
}

// ---- addition -----------------------------------------------------------------------------

const ADD_RE = /^(0|[1-9][0-9]{0,2})\+(0|[1-9][0-9]{0,2})=$/;

function drawOperand(s: Stream): number {
  const digits = 1 + int(s, 3);
  return digits === 1 ? int(s, 10) : 10 ** (digits - 1) + int(s, 9 * 10 ** (digits - 1));
}

/** a + b with up to 3 digits each: "123+45=" -> "168". */
export const addition: Task = makeTask({
  name: 'addition',
  alphabet: '0123456789+=',
  maxPromptLength: 8,
  maxCompletionLength: 4,
  space: 1000 * 1000,
  draw: (s) => `${drawOperand(s)}+${drawOperand(s)}=`,
  answer(prompt) {
    const m = ADD_RE.exec(prompt);
    return m ? String(Number(m[1]) + Number(m[2])) : null;
  },
  wrong(prompt, answer, s) {
    const m = ADD_RE.exec(prompt)!;
    const a = Number(m[1]), b = Number(m[2]);
    // Dropped carries: digit-wise sum mod 10 (a classic error), if it differs.
    let noCarry = 0;
    for (let p = 1; p <= 1000; p *= 10) noCarry += ((Math.floor(a / p) % 10 + Math.floor(b / p) % 10) % 10) * p;
    if (String(noCarry) !== answer && s.nextF64() < 0.5) return String(noCarry);
    // Otherwise one digit of the answer off by +-1..9 (keeping it a well-formed number).
    for (;;) {
      const digits = answer.split('');
      const i = int(s, digits.length);
      const d = (Number(digits[i]) + 1 + int(s, 9)) % 10;
      if (i === 0 && d === 0 && digits.length > 1) continue;
      digits[i] = String(d);
      return digits.join('');
    }
  },
});

// ---- reverse ------------------------------------------------------------------------------

const LETTERS = 'abcdefghij';
const REV_RE = /^([a-j]{2,5})=$/;

/** Reverse a word of 2..5 letters a..j: "abcd=" -> "dcba". */
export const reverse: Task = makeTask({
  name: 'reverse',
  alphabet: LETTERS + '=',
  maxPromptLength: 6,
  maxCompletionLength: 5,
  space: 100 + 1000 + 10000 + 100000,
  draw(s) {
    const len = 2 + int(s, 4);
    let w = '';
    for (let i = 0; i < len; i++) w += LETTERS[int(s, LETTERS.length)];
    return `${w}=`;
  },
  answer(prompt) {
    const m = REV_RE.exec(prompt);
    return m ? [...m[1]].reverse().join('') : null;
  },
  wrong(prompt, answer, s) {
    const word = prompt.slice(0, -1);
    if (word !== answer && s.nextF64() < 0.3) return word; // copied instead of reversed
    for (let tries = 0; tries < 20; tries++) {
      const c = answer.split('');
      const i = int(s, c.length - 1);
      [c[i], c[i + 1]] = [c[i + 1], c[i]];
      const w = c.join('');
      if (w !== answer) return w;
    }
    // All letters equal (e.g. "aaa"): change the last one.
    const last = answer[answer.length - 1];
    return answer.slice(0, -1) + (last === 'a' ? 'b' : 'a');
  },
});

export const tasks: Record<'addition' | 'reverse', Task> = { addition, reverse };

/** The built-in task called `name` (UsageError naming the known ones otherwise). */
export function getTask(name: string): Task {
  const t = (tasks as Record<string, Task>)[name];
  if (!t || !Object.prototype.hasOwnProperty.call(tasks, name)) throw new UsageError(`unknown task '${name}' (known: ${Object.keys(tasks).join(', ')})`);
  return t;
}

export interface EncodedExamples {
  /** [n, T] row-major: BOS, prompt, completion, EOS, then PAD. */
  tokens: BigInt64Array;
  /**
   * [n, T]: at position t the next token tokens'[t + 1] where that token is a completion
   * token or the EOS, IGNORE_INDEX (-100) on prompt and padding positions.
   */
  targets: BigInt64Array;
  n: number;
  T: number;
}

/**
 * Encode examples for the GPT trainer. Sequence = BOS + prompt + completion + EOS; the
 * final EOS is only needed as a target, so a sequence of length context + 1 still fits
 * (UsageError when longer, or on a character outside the tokenizer's alphabet).
 */
export function encodeExamples(tokenizer: CharTokenizer, examples: Example[], context: number): EncodedExamples {
  if (!Number.isInteger(context) || context < 2) throw new UsageError(`context must be an integer >= 2, got ${String(context)}`);
  if (!Array.isArray(examples)) throw new UsageError('examples must be an array of { prompt, completion }');
  const n = examples.length, T = context;
  const tokens = new BigInt64Array(n * T).fill(BigInt(tokenizer.pad));
  const targets = new BigInt64Array(n * T).fill(BigInt(IGNORE_INDEX));
  for (let r = 0; r < n; r++) {
    const ex = examples[r];
    if (!ex || typeof ex.prompt !== 'string' || typeof ex.completion !== 'string') throw new UsageError(`example ${r} must be { prompt: string, completion: string }`);
    let p: number[], c: number[];
    try {
      p = tokenizer.encode(ex.prompt, { bos: true });
      c = tokenizer.encode(ex.completion, { eos: true });
    } catch (e) {
      throw new UsageError(`example ${r}: ${(e as Error).message}`);
    }
    const seq = [...p, ...c];
    if (seq.length - 1 > T) throw new UsageError(`example ${r} needs ${seq.length - 1} positions (BOS + prompt + completion), more than the context ${T}`);
    for (let t = 0; t < T && t < seq.length; t++) tokens[r * T + t] = BigInt(seq[t]);
    for (let t = p.length - 1; t + 1 < seq.length; t++) targets[r * T + t] = BigInt(seq[t + 1]);
  }
  return { tokens, targets, n, T };
}
