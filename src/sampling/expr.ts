/**
 * Compiler for custom log-density expressions (native/PROTOCOL.md §3):
 * `compileExpr('-0.5*x^2 - log(1 + x^2)')` gives stack bytecode that both kernels evaluate over
 * whole batches.
 *
 * Grammar (precedence low to high): `+ -` (left), `* /` (left), unary `- +`, `^` or `**`
 * (right; binds tighter than unary minus, so `-x^2 = -(x^2)` and `2^3^2 = 2^9`), calls, numbers
 * (`1`, `2.5e-3`, `.5`), names: `x` (1-D only), `x0`..`x{d-1}`, `pi`, `e`.
 * Functions: exp log log1p sqrt abs sin cos tan tanh atan floor lgamma (one argument),
 * pow (two), min max (two or more).
 *
 * Constant subexpressions are folded with the kernels' own scalar semantics, and `^2` compiles
 * to SQUARE. Errors are one-line UsageErrors with a 1-based column, e.g.
 * `expression: unexpected ')' at column 7`. Besides syntax, the compiler refuses:
 * - a constant subexpression that folds to NaN (`log(-1)`, `sqrt(-1)`, `0*log(0)`,
 *   `(-8)^(1/3)`): it would be NaN at every point, so it is a mistake, reported with its column.
 *   +-Infinity is legitimate and kept (`log(0)` = -Infinity is how one writes "zero density",
 *   e.g. `max(-x^2, log(0))`, and `exp(-1/0)` = 0); whether a whole log density that is
 *   infinite everywhere makes sense is for the sampler's envelope search to judge. No NaN
 *   constant ever reaches the bytecode (both evaluators also reject one when decoding).
 * - nesting deeper than MAX_NESTING levels (each '(' group, function call, unary sign and `^`
 *   exponent is one level), so parsing never exhausts the JS call stack. Code generation is
 *   iterative, so long flat chains (`x + x + ... + x`) of any length compile; the evaluators
 *   are not recursive and their value stack grows by at most 3 slots per level (~770 slots,
 *   1.5 MiB, at the limit; their decoders allow 65536).
 * - a plain `x` in a multi-dimensional expression (given `dim` > 1, or using x1 and up): `x`
 *   is for 1-D targets, and silently meaning x0 there hides mistakes.
 */
import { UsageError } from '../errors.js';
import { applyBinary, applyUnary, BYTECODE_VERSION, Op } from './js-expr.js';

export interface CompiledExpr {
  /** The bytecode: [version, d, max stack depth, instruction count, instructions...]. */
  readonly code: Float64Array<ArrayBuffer>;
  /** Number of variables (columns per row). */
  readonly dim: number;
  readonly source: string;
  /** Distinct variable names as written, in order of first use (e.g. ['x0', 'x1']). */
  readonly variables: string[];
}

export interface CompileOptions {
  /**
   * Columns per row; defaults to the highest variable index + 1 (1 for constants). Callers that
   * know d (the sampler: the proposal's) should pass it: variables must fit it, and a plain `x`
   * is refused when it is > 1.
   */
  readonly dim?: number;
}

// ---------------------------------------------------------------------------------------------
// Tokens and AST
// ---------------------------------------------------------------------------------------------

type TokKind = 'num' | 'name' | 'op' | 'end';
/** col is 1-based (for messages); end is the 0-based offset just past the token in the source. */
interface Token { readonly kind: TokKind; readonly text: string; readonly col: number; readonly end: number }

type Node =
  | { readonly t: 'const'; readonly v: number }
  | { readonly t: 'var'; readonly i: number }
  | { readonly t: 'un'; readonly op: number; readonly a: Node }
  | { readonly t: 'bin'; readonly op: number; readonly a: Node; readonly b: Node };

/*
 * Name tables are Maps, not object literals: a name the user writes is looked up in them, and
 * an object inherits names from Object.prototype (`constructor`, `toString`, `__proto__`),
 * which would then pass as functions or constants.
 */
const UNARY_FUNCS: ReadonlyMap<string, number> = new Map([
  ['exp', Op.EXP], ['log', Op.LOG], ['log1p', Op.LOG1P], ['sqrt', Op.SQRT], ['abs', Op.ABS], ['sin', Op.SIN],
  ['cos', Op.COS], ['tan', Op.TAN], ['tanh', Op.TANH], ['atan', Op.ATAN], ['floor', Op.FLOOR], ['lgamma', Op.LGAMMA],
]);
const BINARY_FUNCS: ReadonlyMap<string, number> = new Map([['pow', Op.POW], ['min', Op.MIN], ['max', Op.MAX]]);
const FUNC_NAMES = [...UNARY_FUNCS.keys(), ...BINARY_FUNCS.keys()];
const isFunction = (name: string): boolean => UNARY_FUNCS.has(name) || BINARY_FUNCS.has(name);
/** Names from other languages, for "did you mean" only (not accepted, to keep one spelling). */
const FUNC_ALIASES: ReadonlyMap<string, string> = new Map([
  ['ln', 'log'], ['arctan', 'atan'], ['atan2', 'atan'], ['gammaln', 'lgamma'], ['loggamma', 'lgamma'], ['fabs', 'abs'], ['power', 'pow'],
]);
const CONSTANTS: ReadonlyMap<string, number> = new Map([['pi', Math.PI], ['e', Math.E]]);
const VAR_RE = /^x(0|[1-9]\d*)?$/;
/**
 * Deepest nesting accepted (see the header). Real expressions stay under ~20 levels; the parser
 * uses about 8 JS frames per level, so 256 levels is ~2000 frames, far below the ~10000 that
 * Node's default stack (and a worker's 4 MB one) holds.
 */
export const MAX_NESTING = 256;
/** Longest excerpt of the source quoted in a message. */
const MAX_QUOTE = 60;

function fail(msg: string): never {
  throw new UsageError(`expression: ${msg}`);
}

/**
 * Source text as a message quotes it: on one line (a quoted subexpression may span lines),
 * and at most MAX_QUOTE characters (a token may be a 10^5-digit number).
 */
function quote(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MAX_QUOTE ? `${line.slice(0, MAX_QUOTE - 3)}...` : line;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    // (a whole code point: a character outside the BMP is two UTF-16 units)
    const c = String.fromCodePoint(src.codePointAt(i) ?? 0);
    if (/\s/.test(c)) { i += c.length; continue; }
    const rest = src.slice(i);
    const m = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(rest) ?? /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest) ??
      /^(?:\*\*|[-+*/^(),])/.exec(rest);
    if (!m) fail(`unexpected character '${c}' at column ${i + 1}`);
    const kind: TokKind = /^[\d.]/.test(m[0]) ? 'num' : /^[A-Za-z_]/.test(m[0]) ? 'name' : 'op';
    out.push({ kind, text: m[0] === '**' ? '^' : m[0], col: i + 1, end: i + m[0].length });
    i += m[0].length;
  }
  out.push({ kind: 'end', text: '', col: src.length + 1, end: src.length });
  return out;
}

const describe = (t: Token): string => (t.kind === 'end' ? 'end of input' : `'${quote(t.text)}'`);

// ---------------------------------------------------------------------------------------------
// Node construction with constant folding
// ---------------------------------------------------------------------------------------------

/** Where a node came from: 0-based [start, end) offsets into the source. */
interface Span { readonly start: number; readonly end: number }

const UNARY_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  [...[...UNARY_FUNCS].map(([k, v]) => [v, k]), [Op.NEG, '-']]);
const BINARY_SYMBOLS: Readonly<Record<number, string>> = {
  [Op.ADD]: '+', [Op.SUB]: '-', [Op.MUL]: '*', [Op.DIV]: '/', [Op.POW]: '^', [Op.MIN]: 'min', [Op.MAX]: 'max',
};

/**
 * A folded constant must not be NaN: it would make the log density NaN at every point (and the
 * native decoder rejects it). The message quotes the subexpression; when an operand is
 * +-Infinity (log(0), 1/0) the operands are shown too, since the text does not show them.
 */
function checkFolded(v: number, src: string, span: Span, why: () => string | null): number {
  if (!Number.isNaN(v)) return v;
  const text = quote(src.slice(span.start, span.end));
  const detail = why();
  fail(`${text} at column ${span.start + 1} is not a number (NaN${detail ? `: ${detail}` : ''})`);
}

function unary(op: number, a: Node, src: string, span: Span): Node {
  if (a.t === 'const') {
    const v = applyUnary(op, a.v);
    return { t: 'const', v: checkFolded(v, src, span, () => (Number.isFinite(a.v) ? null : `${UNARY_NAMES[op]}(${a.v})`)) };
  }
  return { t: 'un', op, a };
}

function binary(op: number, a: Node, b: Node, src: string, span: Span): Node {
  if (a.t === 'const' && b.t === 'const') {
    const v = applyBinary(op, a.v, b.v);
    return {
      t: 'const',
      v: checkFolded(v, src, span, () => {
        if (!Number.isFinite(a.v) || !Number.isFinite(b.v)) return `${a.v} ${BINARY_SYMBOLS[op]} ${b.v}`;
        if (op === Op.POW && a.v < 0) return 'a negative number to a non-integer power';
        return null;
      }),
    };
  }
  // x^2 is by far the most common power; SQUARE is one multiply instead of a pow call.
  if (op === Op.POW && b.t === 'const' && b.v === 2) return { t: 'un', op: Op.SQUARE, a };
  return { t: 'bin', op, a, b };
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

function closestName(word: string, candidates: readonly string[]): string | null {
  const dist = (a: string, b: string): number => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++) {
        cur.push(Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
      }
      prev = cur;
    }
    return prev[b.length];
  };
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = dist(word.toLowerCase(), c);
    if (d < bestD) { best = c; bestD = d; }
  }
  const limit = word.length <= 2 ? 0 : word.length <= 4 ? 1 : 2;
  return bestD <= limit ? best : null;
}

class Parser {
  private pos = 0;
  /** Current nesting level (see nested()). */
  private depth = 0;
  /** Variable uses: name as written, column index, source column. */
  readonly vars: { name: string; index: number; col: number }[] = [];

  constructor(private readonly src: string, private readonly toks: Token[]) {}

  private peek(): Token { return this.toks[this.pos]; }
  /** 0-based offset where the next token starts. */
  private here(): number { return this.peek().col - 1; }
  /** The source span from start to the end of the last token consumed. */
  private span(start: number): Span { return { start, end: this.toks[Math.max(0, this.pos - 1)].end }; }

  /**
   * Every recursive descent goes through here ('(' groups, calls, unary signs, `^` exponents),
   * so the JS recursion depth is bounded by MAX_NESTING whatever the input.
   */
  private nested<T>(at: Token, f: () => T): T {
    if (++this.depth > MAX_NESTING) {
      fail(`too deeply nested (more than ${MAX_NESTING} levels) at column ${at.col}`);
    }
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  private next(): Token { return this.toks[Math.min(this.pos++, this.toks.length - 1)]; }
  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === text;
  }

  private unexpected(t: Token, expected?: string): never {
    fail(`unexpected ${describe(t)} at column ${t.col}${expected ? ` (expected ${expected})` : ''}`);
  }

  parseAll(): Node {
    if (this.peek().kind === 'end') fail('empty expression');
    const n = this.parseSum();
    const t = this.peek();
    if (t.kind !== 'end') {
      // A value directly followed by another is almost always a forgotten operator (2x, x(1)).
      const hint = t.kind === 'op' && t.text !== '(' ? undefined : "an operator; missing '*'?";
      this.unexpected(t, hint);
    }
    return n;
  }

  private parseSum(): Node {
    const start = this.here();
    let a = this.parseProduct();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next().text === '+' ? Op.ADD : Op.SUB;
      const b = this.parseProduct();
      a = binary(op, a, b, this.src, this.span(start));
    }
    return a;
  }

  private parseProduct(): Node {
    const start = this.here();
    let a = this.parseUnary();
    while (this.isOp('*') || this.isOp('/')) {
      const op = this.next().text === '*' ? Op.MUL : Op.DIV;
      const b = this.parseUnary();
      a = binary(op, a, b, this.src, this.span(start));
    }
    return a;
  }

  private parseUnary(): Node {
    const start = this.here();
    if (this.isOp('-')) {
      const a = this.nested(this.next(), () => this.parseUnary());
      return unary(Op.NEG, a, this.src, this.span(start));
    }
    if (this.isOp('+')) return this.nested(this.next(), () => this.parseUnary());
    return this.parsePower();
  }

  /** `^` is right-associative and its exponent may carry a sign: 2^-1, 2^3^2. */
  private parsePower(): Node {
    const start = this.here();
    const base = this.parsePrimary();
    if (!this.isOp('^')) return base;
    const exponent = this.nested(this.next(), () => this.parseUnary());
    return binary(Op.POW, base, exponent, this.src, this.span(start));
  }

  private parsePrimary(): Node {
    const t = this.next();
    if (t.kind === 'num') {
      const v = Number(t.text);
      if (!Number.isFinite(v)) fail(`number '${quote(t.text)}' at column ${t.col} is out of range`);
      return { t: 'const', v };
    }
    if (t.kind === 'name') {
      // Only function names take '(': x(1) is a forgotten '*', reported by parseAll.
      const callable = isFunction(t.text) || !(CONSTANTS.has(t.text) || VAR_RE.test(t.text));
      return callable && this.isOp('(') ? this.parseCall(t) : this.parseName(t);
    }
    if (t.kind === 'op' && t.text === '(') {
      return this.nested(t, () => {
        const n = this.parseSum();
        const close = this.peek();
        if (close.kind !== 'op' || close.text !== ')') {
          this.unexpected(close, `')' to close '(' at column ${t.col}`);
        }
        this.next();
        return n;
      });
    }
    return this.unexpected(t, 'a number, a name or \'(\'');
  }

  private parseName(t: Token): Node {
    const c = CONSTANTS.get(t.text);
    if (c !== undefined) return { t: 'const', v: c };
    const m = VAR_RE.exec(t.text);
    if (m) {
      const index = m[1] === undefined ? 0 : Number(m[1]);
      if (!Number.isSafeInteger(index)) fail(`variable '${quote(t.text)}' at column ${t.col} has an absurd index`);
      this.vars.push({ name: t.text, index, col: t.col });
      return { t: 'var', i: index };
    }
    if (isFunction(t.text)) {
      fail(`'${t.text}' at column ${t.col} is a function; call it as ${t.text}(...)`);
    }
    const h = closestName(t.text, ['x', 'pi', 'e', ...FUNC_NAMES]);
    fail(`unknown name '${quote(t.text)}' at column ${t.col}${h ? ` (did you mean ${h}?)` : ' (variables are x or x0, x1, ...)'}`);
  }

  private parseCall(name: Token): Node {
    const open = this.next();
    const args: Node[] = [];
    this.nested(open, () => {
      if (this.isOp(')')) return;
      for (;;) {
        args.push(this.parseSum());
        if (this.isOp(',')) { this.next(); continue; }
        if (this.isOp(')')) return;
        this.unexpected(this.peek(), `',' or ')' to close '${name.text}(' at column ${open.col}`);
      }
    });
    this.next();
    return makeCall(name, args, this.src, this.span(name.col - 1));
  }
}

function makeCall(name: Token, args: Node[], src: string, span: Span): Node {
  const f = name.text;
  const where = `at column ${name.col}`;
  const u = UNARY_FUNCS.get(f);
  if (u !== undefined) {
    if (args.length !== 1) fail(`${f} takes 1 argument, got ${args.length} ${where}`);
    return unary(u, args[0], src, span);
  }
  const b = BINARY_FUNCS.get(f);
  if (b === undefined) {
    const h = FUNC_ALIASES.get(f.toLowerCase()) ?? closestName(f, FUNC_NAMES);
    fail(`unknown function '${quote(f)}' ${where}${h ? ` (did you mean ${h}?)` : ` (functions: ${FUNC_NAMES.join(' ')})`}`);
  }
  if (b === Op.POW) {
    if (args.length !== 2) fail(`pow takes 2 arguments, got ${args.length} ${where}`);
    return binary(b, args[0], args[1], src, span);
  }
  // min/max of more than two fold left: min(a, b, c) = min(min(a, b), c).
  if (args.length < 2) fail(`${f} takes at least 2 arguments, got ${args.length} ${where}`);
  return args.slice(1).reduce((acc, x) => binary(b, acc, x, src, span), args[0]);
}

// ---------------------------------------------------------------------------------------------
// Code generation
// ---------------------------------------------------------------------------------------------

/**
 * Post-order emission with an explicit work list (left-deep chains like `x + x + ... + x` are
 * as deep as they are long, so recursion here could overflow). Tracks the value stack exactly
 * as the evaluators will run it, giving the max depth for the header.
 */
function emit(root: Node): { body: number[]; depth: number; count: number } {
  const body: number[] = [];
  let sp = 0;
  let depth = 0;
  let count = 0;
  // A node is pushed once to expand its operands and once more (done) to emit its opcode.
  const work: { n: Node; done: boolean }[] = [{ n: root, done: false }];
  for (let w = work.pop(); w !== undefined; w = work.pop()) {
    const n = w.n;
    if (n.t === 'const') {
      // Unreachable (folding refuses NaN), but a NaN here must never reach an evaluator.
      if (Number.isNaN(n.v)) throw new Error('compileExpr: internal error: NaN constant in code generation');
      body.push(Op.CONST, n.v);
      depth = Math.max(depth, ++sp);
      count++;
    } else if (n.t === 'var') {
      body.push(Op.VAR, n.i);
      depth = Math.max(depth, ++sp);
      count++;
    } else if (!w.done) {
      work.push({ n, done: true });
      if (n.t === 'bin') work.push({ n: n.b, done: false });
      work.push({ n: n.a, done: false });
    } else {
      body.push(n.op);
      if (n.t === 'bin') sp--;
      count++;
    }
  }
  return { body, depth, count };
}

/**
 * The dimension is the caller's `dim` (the sampler passes the proposal's) or, without one, the
 * highest variable index + 1. Variables must fit it, and a plain `x` is only for 1-D: in a 2-D
 * target `-x^2/2 - x1^2/2` it used to mean x0 silently, which is more often a slip than intent.
 */
function resolveDim(vars: Parser['vars'], given: number | undefined): number {
  if (given !== undefined && (!Number.isInteger(given) || given < 1)) {
    fail(`dim must be a positive integer, got ${String(given)}`);
  }
  const dim = given ?? vars.reduce((m, v) => Math.max(m, v.index + 1), 1);
  for (const v of vars) {
    if (v.index >= dim) fail(`variable '${v.name}' at column ${v.col} is out of range for dimension ${dim} (use x0..x${dim - 1})`);
    if (v.name === 'x' && dim > 1) {
      fail(`'x' at column ${v.col} is for 1-D targets; this target is ${dim}-D: use x0..x${dim - 1}`);
    }
  }
  return dim;
}

/** Compile an expression over `x` / `x0..x{d-1}` into kernel bytecode. */
export function compileExpr(src: string, opts: CompileOptions = {}): CompiledExpr {
  if (typeof src !== 'string') fail(`source must be a string, got ${typeof src}`);
  const parser = new Parser(src, tokenize(src));
  const ast = parser.parseAll();
  const dim = resolveDim(parser.vars, opts.dim);
  const { body, depth, count } = emit(ast);
  const code = new Float64Array(4 + body.length);
  code.set([BYTECODE_VERSION, dim, depth, count]);
  code.set(body, 4);
  const variables = [...new Set(parser.vars.map((v) => v.name))];
  return { code, dim, source: src, variables };
}
