/**
 * Character-level tokenizer for the built-in LM tasks. Ids: the special tokens first
 * (PAD = 0, BOS = 1, EOS = 2), then the alphabet's characters in the given order.
 * Saved next to the model as tokenizer.json ({ type: 'char', version: 1, specials, alphabet }).
 */
import { writeFileAtomic } from '../../io/atomic-file.js';

export const DEFAULT_ALPHABET = '0123456789+-*=<>,.:;?!() abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const SPECIALS = ['<pad>', '<bos>', '<eos>'] as const;

export interface TokenizerJSON {
  type: 'char';
  version: 1;
  specials: string[];
  alphabet: string[];
}

export interface EncodeOptions {
  /** Prepend BOS (default false). */
  bos?: boolean;
  /** Append EOS (default false). */
  eos?: boolean;
}

export class CharTokenizer {
  readonly pad = 0;
  readonly bos = 1;
  readonly eos = 2;
  /** Characters of the alphabet (code points), id = SPECIALS.length + index. */
  readonly alphabet: readonly string[];
  private readonly ids = new Map<string, number>();

  constructor(alphabet: string | string[] = DEFAULT_ALPHABET) {
    const chars = typeof alphabet === 'string' ? Array.from(alphabet) : [...alphabet];
    for (const c of chars) {
      if (typeof c !== 'string' || Array.from(c).length !== 1) throw new Error(`tokenizer: alphabet entries must be single characters, got ${JSON.stringify(c)}`);
      if (this.ids.has(c)) throw new Error(`tokenizer: duplicate character ${JSON.stringify(c)} in the alphabet`);
      this.ids.set(c, SPECIALS.length + this.ids.size);
    }
    this.alphabet = chars;
  }

  /** Tokenizer whose alphabet is the distinct characters of `texts`, sorted by code point. */
  static fromTexts(texts: Iterable<string>): CharTokenizer {
    const set = new Set<string>();
    for (const t of texts) for (const c of t) set.add(c);
    return new CharTokenizer([...set].sort((a, b) => (a.codePointAt(0)! - b.codePointAt(0)!)));
  }

  get vocabSize(): number {
    return SPECIALS.length + this.alphabet.length;
  }

  has(ch: string): boolean {
    return this.ids.has(ch);
  }

  /** Text -> ids. Throws on a character outside the alphabet (naming it and its position). */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.bos) out.push(this.bos);
    let i = 0;
    for (const c of text) {
      const id = this.ids.get(c);
      if (id === undefined) throw new Error(`tokenizer: character ${JSON.stringify(c)} at position ${i} is not in the alphabet`);
      out.push(id);
      i++;
    }
    if (opts.eos) out.push(this.eos);
    return out;
  }

  /**
   * Ids -> text. Special tokens are dropped; by default decoding stops at the first EOS
   * (`stopAtEos: false` skips it instead). Throws on an id outside the vocabulary.
   */
  decode(ids: ArrayLike<number | bigint>, opts: { stopAtEos?: boolean } = {}): string {
    const stop = opts.stopAtEos ?? true;
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const id = Number(ids[i]);
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new Error(`tokenizer: id ${String(ids[i])} at position ${i} is outside the vocabulary (size ${this.vocabSize})`);
      if (id === this.eos && stop) break;
      if (id < SPECIALS.length) continue;
      s += this.alphabet[id - SPECIALS.length];
    }
    return s;
  }

  /** Name of a token id (specials as '<pad>', '<bos>', '<eos>'). */
  token(id: number): string {
    if (id >= 0 && id < SPECIALS.length) return SPECIALS[id];
    const c = this.alphabet[id - SPECIALS.length];
    if (c === undefined) throw new Error(`tokenizer: id ${id} is outside the vocabulary`);
    return c;
  }

  toJSON(): TokenizerJSON {
    return { type: 'char', version: 1, specials: [...SPECIALS], alphabet: [...this.alphabet] };
  }

  static fromJSON(j: unknown): CharTokenizer {
    const o = (typeof j === 'string' ? JSON.parse(j) : j) as Partial<TokenizerJSON> | null;
    if (!o || typeof o !== 'object' || o.type !== 'char') throw new Error('tokenizer.json: expected { "type": "char", ... }');
    if (o.version !== 1) throw new Error(`tokenizer.json: unsupported version ${String(o.version)}`);
    if (!Array.isArray(o.specials) || o.specials.length !== SPECIALS.length || o.specials.some((s, i) => s !== SPECIALS[i])) {
      throw new Error(`tokenizer.json: specials must be ${JSON.stringify(SPECIALS)}`);
    }
    if (!Array.isArray(o.alphabet)) throw new Error('tokenizer.json: alphabet must be an array of characters');
    return new CharTokenizer(o.alphabet);
  }
}

/** Write `tokenizer.json` content to `path` atomically (io/atomic-file.ts). */
export async function saveTokenizer(tok: CharTokenizer, path: string): Promise<void> {
  writeFileAtomic(path, JSON.stringify(tok.toJSON()) + '\n');
}

export async function loadTokenizer(path: string): Promise<CharTokenizer> {
  const { readFile } = await import('node:fs/promises');
  return CharTokenizer.fromJSON(JSON.parse(await readFile(path, 'utf8')));
}
