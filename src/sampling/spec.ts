/**
 * The distribution spec language: `parseDist('mixture(0.3*normal(-2, 0.5), 0.7*normal(1.5, 1))')`.
 *
 * Names (of distributions and parameters) are case-insensitive and whitespace is ignored.
 * Arguments are positional, named (`gamma(shape=2, scale=0.5)`), or positional followed by
 * named. Numbers: `1`, `-2.5`, `1e6`, `.5`, `inf`, `-inf`, `pi`, `e` (no arithmetic).
 *
 * | distribution | positional order (defaults) | named aliases |
 * | --- | --- | --- |
 * | `uniform(a, b)` | a, b | a: low, lo, lower, min; b: high, hi, upper, max |
 * | `normal(mu, sigma)` | mu, sigma | mu: mean, loc; sigma: sd, scale, std |
 * | `lognormal(mu, sigma)` | mu, sigma (of the log) | mu: meanlog, loc; sigma: sdlog, scale |
 * | `exponential(rate)` | rate | rate: lambda; or scale (= 1/rate): theta, mean |
 * | `gamma(shape, rate)` | shape, rate | shape: k, alpha, a; rate: beta; or scale (= 1/rate): theta |
 * | `beta(alpha, beta)` | alpha, beta | alpha: a; beta: b |
 * | `t(df, loc, scale)` | df, loc (0), scale (1) | df: nu; loc: mu, location; scale: sigma, s |
 * | `cauchy(loc, scale)` | loc (0), scale (1) | loc: mu, location; scale: sigma, s |
 * | `laplace(loc, scale)` | loc (0), scale (1) | as cauchy |
 * | `logistic(loc, scale)` | loc (0), scale (1) | as cauchy |
 * | `truncated(DIST, lo, hi)` | DIST (1-D), lo (-inf), hi (inf) | dist: base; lo: lower, low; hi: upper, high |
 * | `mixture(w1*DIST, w2*DIST, ...)` | weighted components (weights > 0, normalized); without weights: equal | |
 * | `product(DIST, DIST, ...)` | independent 1-D factors, one column each | |
 * | `mvnormal([mu...], [sigma...])` | means, standard deviations (diagonal) | mu: mean, loc; sigma: sd, scale |
 *
 * Other accepted names: `unif`; `norm`, `gaussian`; `lognorm`; `expon`, `exp`; `student_t`,
 * `studentt`, `student`; `trunc`; `mix`; `prod`; `mvn`. The canonical printed form
 * (formatDist) uses the first name of each row and `student_t` for t.
 *
 * Every error is a one-line `UsageError` naming the problem and its 1-based column, e.g.
 * `unknown distribution 'gama' at column 1 (did you mean gamma?)`.
 */
import { UsageError } from '../errors.js';
import {
  buildUnivariate, checkParam, dimOf, dist, FAMILIES, formatNumber, lookupParam, paramNames, resolveParams,
  type Dist, type FamilyInfo, type NamedValue,
} from './dist.js';

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

type TokKind = 'num' | 'ident' | 'punct' | 'end';
interface Token { readonly kind: TokKind; readonly text: string; readonly col: number; readonly value: number }

const PUNCT = '(),[]=*+-';

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    const col = i + 1;
    const num = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ kind: 'num', text: num[0], col, value: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) {
      out.push({ kind: 'ident', text: id[0], col, value: NaN });
      i += id[0].length;
      continue;
    }
    if (PUNCT.includes(c)) {
      out.push({ kind: 'punct', text: c, col, value: NaN });
      i++;
      continue;
    }
    throw new UsageError(`unexpected character '${c}' at column ${col}`);
  }
  out.push({ kind: 'end', text: '', col: src.length + 1, value: NaN });
  return out;
}

const describe = (t: Token): string => (t.kind === 'end' ? 'end of input' : `'${t.text}'`);

// ---------------------------------------------------------------------------------------------
// "Did you mean" hints
// ---------------------------------------------------------------------------------------------

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur.push(Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The closest candidate if it is plausibly a typo (at most 2 edits, fewer for short words). */
export function closest(word: string, candidates: readonly string[]): string | null {
  const w = word.toLowerCase();
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c);
    if (d < bestD) { best = c; bestD = d; }
  }
  // One-letter words are too short for a guess to mean anything ('x' is not a typo of 'e').
  const limit = w.length <= 2 ? 0 : w.length <= 4 ? 1 : 2;
  if (bestD === 0) return null;
  return bestD <= limit ? best : null;
}

const hint = (word: string, candidates: readonly string[]): string => {
  const c = closest(word, candidates);
  return c === null ? '' : ` (did you mean ${c}?)`;
};

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/** A parsed argument before its meaning is known. */
type Value =
  | { readonly type: 'num'; readonly value: number; readonly col: number }
  | { readonly type: 'dist'; readonly dist: Dist; readonly col: number }
  | { readonly type: 'weighted'; readonly weight: number; readonly dist: Dist; readonly col: number; readonly distCol: number }
  | { readonly type: 'array'; readonly values: readonly number[]; readonly col: number };

interface Arg { readonly name: string | null; readonly nameCol: number; readonly value: Value }

const CONSTANTS: Readonly<Record<string, number>> = { inf: Infinity, infinity: Infinity, pi: Math.PI, e: Math.E };

const COMPOSITES = ['truncated', 'trunc', 'mixture', 'mix', 'product', 'prod', 'mvnormal', 'mvn'] as const;
const ALL_NAMES: readonly string[] = [...FAMILIES.flatMap((f) => f.names), ...COMPOSITES];

const what = (v: Value): string =>
  ({ num: 'a number', dist: 'a distribution', weighted: 'a weighted distribution', array: 'an array' })[v.type];

class Parser {
  private pos = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(k = 0): Token { return this.toks[Math.min(this.pos + k, this.toks.length - 1)]; }
  private next(): Token { return this.toks[Math.min(this.pos++, this.toks.length - 1)]; }
  private isPunct(text: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'punct' && t.text === text;
  }

  private expect(text: string, context: string): Token {
    const t = this.next();
    if (t.kind !== 'punct' || t.text !== text) {
      throw new UsageError(`unexpected ${describe(t)} at column ${t.col} (expected '${text}' ${context})`);
    }
    return t;
  }

  /** The whole input: one distribution, then the end. */
  parseAll(): Dist {
    const first = this.peek();
    if (first.kind === 'end') throw new UsageError('empty distribution spec');
    if (first.kind === 'ident' && !this.isPunct('(', 1)) {
      // A bare word at the top can only be a misspelt or paren-less distribution.
      const lname = first.text.toLowerCase();
      if (ALL_NAMES.includes(lname)) {
        throw new UsageError(`expected '(' after '${first.text}' at column ${first.col + first.text.length}`);
      }
      throw new UsageError(`unknown distribution '${first.text}' at column ${first.col}${hint(first.text, ALL_NAMES)}`);
    }
    const v = this.parseValue();
    const t = this.peek();
    if (t.kind !== 'end') {
      throw new UsageError(`unexpected ${describe(t)} at column ${t.col} (expected end of input)`);
    }
    if (v.type !== 'dist') throw new UsageError(`expected a distribution at column ${v.col}, got ${what(v)}`);
    return v.dist;
  }

  /** A signed number or named constant. */
  private parseNumber(): { value: number; col: number } {
    const start = this.peek();
    let sign = 1;
    if (this.isPunct('-') || this.isPunct('+')) sign = this.next().text === '-' ? -1 : 1;
    const t = this.next();
    if (t.kind === 'num') return { value: sign * t.value, col: start.col };
    if (t.kind === 'ident') {
      const c = CONSTANTS[t.text.toLowerCase()];
      if (c !== undefined) return { value: sign * c, col: start.col };
      if (ALL_NAMES.includes(t.text.toLowerCase()) && !this.isPunct('(')) {
        throw new UsageError(`expected '(' after '${t.text}' at column ${t.col + t.text.length}`);
      }
      throw new UsageError(`unknown name '${t.text}' at column ${t.col}${hint(t.text, Object.keys(CONSTANTS))}`);
    }
    throw new UsageError(`unexpected ${describe(t)} at column ${t.col} (expected a number)`);
  }

  private parseValue(): Value {
    const t = this.peek();
    if (this.isPunct('[')) return this.parseArray();
    if (t.kind === 'ident' && this.isPunct('(', 1)) return { type: 'dist', dist: this.parseDistCall(), col: t.col };
    const n = this.parseNumber();
    if (!this.isPunct('*')) return { type: 'num', value: n.value, col: n.col };
    this.next();
    const d = this.peek();
    if (d.kind !== 'ident' || !this.isPunct('(', 1)) {
      throw new UsageError(`unexpected ${describe(d)} at column ${d.col} (expected a distribution after '*')`);
    }
    return { type: 'weighted', weight: n.value, dist: this.parseDistCall(), col: n.col, distCol: d.col };
  }

  private parseArray(): Value {
    const open = this.next();
    const values: number[] = [];
    if (!this.isPunct(']')) {
      for (;;) {
        values.push(this.parseNumber().value);
        if (this.isPunct(',')) { this.next(); continue; }
        this.expect(']', `to close the array opened at column ${open.col}`);
        return { type: 'array', values, col: open.col };
      }
    }
    this.next();
    return { type: 'array', values, col: open.col };
  }

  private parseArgs(open: Token, label: string): Arg[] {
    const args: Arg[] = [];
    if (this.isPunct(')')) { this.next(); return args; }
    for (;;) {
      const t = this.peek();
      let arg: Arg;
      if (t.kind === 'ident' && this.isPunct('=', 1)) {
        this.next(); this.next();
        arg = { name: t.text.toLowerCase(), nameCol: t.col, value: this.parseValue() };
      } else {
        if (args.length > 0 && args[args.length - 1].name !== null) {
          throw new UsageError(`${label}: positional argument after a named one at column ${t.col}`);
        }
        arg = { name: null, nameCol: t.col, value: this.parseValue() };
      }
      args.push(arg);
      if (this.isPunct(',')) { this.next(); continue; }
      this.expect(')', `to close '${label}(' at column ${open.col}`);
      return args;
    }
  }

  private parseDistCall(): Dist {
    const name = this.next();
    const open = this.next();
    const lname = name.text.toLowerCase();
    const fam = FAMILIES.find((f) => f.names.includes(lname));
    const known = fam !== undefined || (COMPOSITES as readonly string[]).includes(lname);
    if (!known) {
      throw new UsageError(`unknown distribution '${name.text}' at column ${name.col}${hint(name.text, ALL_NAMES)}`);
    }
    const label = fam ? fam.names[0] : canonicalComposite(lname);
    const args = this.parseArgs(open, label);
    if (fam) return univariate(fam, args, name.col);
    switch (label) {
      case 'truncated': return truncatedCall(args, name.col);
      case 'mixture': return mixtureCall(args, name.col);
      case 'product': return productCall(args, name.col);
      default: return mvnormalCall(args, name.col);
    }
  }
}

function canonicalComposite(name: string): string {
  if (name.startsWith('trunc')) return 'truncated';
  if (name.startsWith('mix')) return 'mixture';
  if (name.startsWith('prod')) return 'product';
  return 'mvnormal';
}

/** Run a constructor, pointing any UsageError at the call's column. */
function at<T>(col: number, build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${err.message} at column ${col}`);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-distribution argument handling
// ---------------------------------------------------------------------------------------------

function univariate(fam: FamilyInfo, args: readonly Arg[], col: number): Dist {
  const label = fam.names[0];
  const positional: unknown[] = [];
  const posCols: number[] = [];
  const named: (NamedValue & { col: number })[] = [];
  const valueOf = (v: Value, name: string): number => {
    if (v.type !== 'num') throw new UsageError(`${label}: ${name} must be a number, got ${what(v)} at column ${v.col}`);
    return v.value;
  };
  for (const a of args) {
    if (a.name === null) {
      const name = fam.params[positional.length]?.name ?? `argument ${positional.length + 1}`;
      positional.push(valueOf(a.value, name));
      posCols.push(a.value.col);
      continue;
    }
    const hit = lookupParam(fam, a.name);
    if (!hit) {
      const names = paramNames(fam);
      const h = closest(a.name, names);
      throw new UsageError(`${label}: unknown parameter '${a.name}' at column ${a.nameCol}` +
        (h ? ` (did you mean ${h}?)` : ` (expected ${fam.params.map((x) => x.name).join(', ')})`));
    }
    named.push({ ...hit, given: a.name, value: valueOf(a.value, a.name), col: a.nameCol });
  }
  const fail = (msg: string, w: number | NamedValue): never => {
    const c = typeof w === 'number' ? (w >= 0 ? posCols[w] ?? col : col) : (w as NamedValue & { col: number }).col;
    throw new UsageError(`${msg} at column ${c}`);
  };
  const values = resolveParams(fam, positional, named, fail);
  return at(col, () => buildUnivariate(fam.kind, values));
}

/** Bind composite arguments (positional then named) to slots; returns one Value per slot. */
function bind(label: string, args: readonly Arg[], slots: readonly (readonly string[])[]): (Value | undefined)[] {
  const out: (Value | undefined)[] = slots.map(() => undefined);
  let i = 0;
  for (const a of args) {
    let k: number;
    if (a.name === null) {
      k = i++;
      if (k >= slots.length) {
        throw new UsageError(`${label}: too many arguments (expected at most ${slots.length}: ${slots.map((s) => s[0]).join(', ')}) at column ${a.value.col}`);
      }
    } else {
      const name = a.name;
      k = slots.findIndex((s) => s.includes(name));
      if (k < 0) {
        throw new UsageError(`${label}: unknown parameter '${name}' at column ${a.nameCol}${hint(name, slots.flat()) ||
          ` (expected ${slots.map((s) => s[0]).join(', ')})`}`);
      }
      if (out[k] !== undefined) throw new UsageError(`${label}: parameter ${slots[k][0]} given twice at column ${a.nameCol}`);
    }
    out[k] = a.value;
  }
  return out;
}

function needDistValue(label: string, name: string, v: Value | undefined, col: number): Dist {
  if (v === undefined) throw new UsageError(`${label}: missing parameter '${name}' at column ${col}`);
  if (v.type !== 'dist') throw new UsageError(`${label}: ${name} must be a distribution, got ${what(v)} at column ${v.col}`);
  return v.dist;
}

function boundValue(label: string, name: string, v: Value | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (v.type !== 'num') throw new UsageError(`${label}: ${name} must be a number, got ${what(v)} at column ${v.col}`);
  return v.value;
}

function truncatedCall(args: readonly Arg[], col: number): Dist {
  const [b, lo, hi] = bind('truncated', args,
    [['dist', 'base'], ['lo', 'lower', 'low'], ['hi', 'upper', 'high']]);
  const base = needDistValue('truncated', 'dist', b, col);
  const l = boundValue('truncated', 'lo', lo, -Infinity);
  const h = boundValue('truncated', 'hi', hi, Infinity);
  return at(col, () => dist.truncated(base, l, h));
}

function mixtureCall(args: readonly Arg[], col: number): Dist {
  if (args.length === 0) throw new UsageError(`mixture: needs at least one component at column ${col}`);
  const weighted = args[0].value.type === 'weighted';
  const comps: [number, Dist][] = [];
  for (const a of args) {
    const v = a.value;
    if (a.name !== null) throw new UsageError(`mixture: components are not named, got '${a.name}=' at column ${a.nameCol}`);
    if (v.type === 'weighted' && weighted) {
      const m = checkParam('mixture', `weight ${comps.length + 1}`, 'positive', v.weight);
      if (m !== null) throw new UsageError(`${m} at column ${v.col}`);
      comps.push([v.weight, v.dist]);
    } else if (v.type === 'dist' && !weighted) {
      comps.push([1, v.dist]);
    } else if (v.type === 'dist' || v.type === 'weighted') {
      throw new UsageError(`mixture: give a weight for every component or for none (w*DIST), at column ${v.col}`);
    } else {
      throw new UsageError(`mixture: component ${comps.length + 1} must be w*DIST, got ${what(v)} at column ${v.col}`);
    }
  }
  return at(col, () => dist.mixture(comps));
}

function productCall(args: readonly Arg[], col: number): Dist {
  if (args.length === 0) throw new UsageError(`product: needs at least one factor at column ${col}`);
  const factors = args.map((a, i) => {
    if (a.name !== null) throw new UsageError(`product: factors are not named, got '${a.name}=' at column ${a.nameCol}`);
    return needDistValue('product', `factor ${i + 1}`, a.value, col);
  });
  factors.forEach((f, i) => {
    const d = dimOf(f);
    if (d !== 1) throw new UsageError(`product: factor ${i + 1} must be 1-D, got ${d}-D at column ${args[i].value.col}`);
  });
  return at(col, () => dist.product(factors));
}

function mvnormalCall(args: readonly Arg[], col: number): Dist {
  const [mu, sigma] = bind('mvnormal', args, [['mu', 'mean', 'loc'], ['sigma', 'sd', 'scale']]);
  const arr = (v: Value | undefined, name: string): number[] => {
    if (v === undefined) throw new UsageError(`mvnormal: missing parameter '${name}' at column ${col}`);
    if (v.type !== 'array') throw new UsageError(`mvnormal: ${name} must be an array [..], got ${what(v)} at column ${v.col}`);
    return v.values.slice();
  };
  const m = arr(mu, 'mu');
  const s = arr(sigma, 'sigma');
  return at(col, () => dist.mvnormal(m, s));
}

/** Parse a spec string into a validated distribution (see the table above). */
export function parseDist(spec: string): Dist {
  if (typeof spec !== 'string') throw new UsageError(`distribution spec must be a string, got ${typeof spec}`);
  return new Parser(tokenize(spec)).parseAll();
}

/** Re-exported so callers of the spec language can print numbers the same way. */
export { formatNumber };
