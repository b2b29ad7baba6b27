/**
 * Compiler for custom log-density expressions (native/PROTOCOL.md §3):
 * `compileExpr('-0.5*x^2 - log(1 + x^2)')` gives stack bytecode that both kernels evaluate over
 * whole batches.
 *
 * Grammar (precedence low to high): `+ -` (left), `* /` (left), unary `- +`, `^` or `**`
 * (right; binds tighter than unary minus, so `-x^2 = -(x^2)` and `2^3^2 = 2^9`), calls, numbers
 * (`1`, `2.5e-3`, `.5`), names: `x` (= `x0`), `x0`..`x{d-1}`, `pi`, `e`.
 * Functions: exp log log1p sqrt abs sin cos tan tanh atan floor lgamma (one argument),
 * pow (two), min max (two or more).
 *
 * Constant subexpressions are folded with the kernels' own scalar semantics, and `^2` compiles
 * to SQUARE. Errors are one-line UsageErrors with a 1-based column, e.g.
 * `expression: unexpected ')' at column 7`.
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
  /** Columns per row; defaults to the highest variable index + 1 (1 for constants). */
  readonly dim?: number;
}

// ---------------------------------------------------------------------------------------------
// Tokens and AST
// ---------------------------------------------------------------------------------------------

type TokKind = 'num' | 'name' | 'op' | 'end';
interface Token { readonly kind: TokKind; readonly text: string; readonly col: number }

type Node =
  | { readonly t: 'const'; readonly v: number }
  | { readonly t: 'var'; readonly i: number }
  | { readonly t: 'un'; readonly op: number; readonly a: Node }
  | { readonly t: 'bin'; readonly op: number; readonly a: Node; readonly b: Node };

const UNARY_FUNCS: Readonly<Record<string, number>> = {
  exp: Op.EXP, log: Op.LOG, log1p: Op.LOG1P, sqrt: Op.SQRT, abs: Op.ABS, sin: Op.SIN, cos: Op.COS,
  tan: Op.TAN, tanh: Op.TANH, atan: Op.ATAN, floor: Op.FLOOR, lgamma: Op.LGAMMA,
};
const BINARY_FUNCS: Readonly<Record<string, number>> = { pow: Op.POW, min: Op.MIN, max: Op.MAX };
const FUNC_NAMES = [...Object.keys(UNARY_FUNCS), ...Object.keys(BINARY_FUNCS)];
/** Names from other languages, for "did you mean" only (not accepted, to keep one spelling). */
const FUNC_ALIASES: Readonly<Record<string, string>> = {
  ln: 'log', arctan: 'atan', atan2: 'atan', gammaln: 'lgamma', loggamma: 'lgamma', fabs: 'abs', power: 'pow',
};
const CONSTANTS: Readonly<Record<string, number>> = { pi: Math.PI, e: Math.E };
const VAR_RE = /^x(0|[1-9]\d*)?$/;

function fail(msg: string): never {
  throw new UsageError(`expression: ${msg}`);
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    const rest = src.slice(i);
    const m = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(rest) ?? /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest) ??
      /^(?:\*\*|[-+*/^(),])/.exec(rest);
    if (!m) fail(`unexpected character '${c}' at column ${i + 1}`);
    const kind: TokKind = /^[\d.]/.test(m[0]) ? 'num' : /^[A-Za-z_]/.test(m[0]) ? 'name' : 'op';
    out.push({ kind, text: m[0] === '**' ? '^' : m[0], col: i + 1 });
    i += m[0].length;
  }
  out.push({ kind: 'end', text: '', col: src.length + 1 });
  return out;
}

const describe = (t: Token): string => (t.kind === 'end' ? 'end of input' : `'${t.text}'`);

// ---------------------------------------------------------------------------------------------
// Node construction with constant folding
// ---------------------------------------------------------------------------------------------

function unary(op: number, a: Node): Node {
  if (a.t === 'const') return { t: 'const', v: applyUnary(op, a.v) };
  return { t: 'un', op, a };
}

function binary(op: number, a: Node, b: Node): Node {
  if (a.t === 'const' && b.t === 'const') return { t: 'const', v: applyBinary(op, a.v, b.v) };
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
  /** Variable uses: name as written, column index, source column. */
  readonly vars: { name: string; index: number; col: number }[] = [];

  constructor(private readonly toks: Token[]) {}

  private peek(): Token { return this.toks[this.pos]; }
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
    let a = this.parseProduct();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next().text === '+' ? Op.ADD : Op.SUB;
      a = binary(op, a, this.parseProduct());
    }
    return a;
  }

  private parseProduct(): Node {
    let a = this.parseUnary();
    while (this.isOp('*') || this.isOp('/')) {
      const op = this.next().text === '*' ? Op.MUL : Op.DIV;
      a = binary(op, a, this.parseUnary());
    }
    return a;
  }

  private parseUnary(): Node {
    if (this.isOp('-')) { this.next(); return unary(Op.NEG, this.parseUnary()); }
    if (this.isOp('+')) { this.next(); return this.parseUnary(); }
    return this.parsePower();
  }

  /** `^` is right-associative and its exponent may carry a sign: 2^-1, 2^3^2. */
  private parsePower(): Node {
    const base = this.parsePrimary();
    if (!this.isOp('^')) return base;
    this.next();
    return binary(Op.POW, base, this.parseUnary());
  }

  private parsePrimary(): Node {
    const t = this.next();
    if (t.kind === 'num') {
      const v = Number(t.text);
      if (!Number.isFinite(v)) fail(`number '${t.text}' at column ${t.col} is out of range`);
      return { t: 'const', v };
    }
    if (t.kind === 'name') {
      // Only function names take '(': x(1) is a forgotten '*', reported by parseAll.
      const callable = t.text in UNARY_FUNCS || t.text in BINARY_FUNCS || !(t.text in CONSTANTS || VAR_RE.test(t.text));
      return callable && this.isOp('(') ? this.parseCall(t) : this.parseName(t);
    }
    if (t.kind === 'op' && t.text === '(') {
      const n = this.parseSum();
      const close = this.peek();
      if (close.kind !== 'op' || close.text !== ')') {
        this.unexpected(close, `')' to close '(' at column ${t.col}`);
      }
      this.next();
      return n;
    }
    return this.unexpected(t, 'a number, a name or \'(\'');
  }

  private parseName(t: Token): Node {
    const c = CONSTANTS[t.text];
    if (c !== undefined) return { t: 'const', v: c };
    const m = VAR_RE.exec(t.text);
    if (m) {
      const index = m[1] === undefined ? 0 : Number(m[1]);
      if (!Number.isSafeInteger(index)) fail(`variable '${t.text}' at column ${t.col} has an absurd index`);
      this.vars.push({ name: t.text, index, col: t.col });
      return { t: 'var', i: index };
    }
    if (t.text in UNARY_FUNCS || t.text in BINARY_FUNCS) {
      fail(`'${t.text}' at column ${t.col} is a function; call it as ${t.text}(...)`);
    }
    const h = closestName(t.text, ['x', 'pi', 'e', ...FUNC_NAMES]);
    fail(`unknown name '${t.text}' at column ${t.col}${h ? ` (did you mean ${h}?)` : ' (variables are x or x0, x1, ...)'}`);
  }

  private parseCall(name: Token): Node {
    const open = this.next();
    const args: Node[] = [];
    if (!this.isOp(')')) {
      for (;;) {
        args.push(this.parseSum());
        if (this.isOp(',')) { this.next(); continue; }
        if (this.isOp(')')) break;
        this.unexpected(this.peek(), `',' or ')' to close '${name.text}(' at column ${open.col}`);
      }
    }
    this.next();
    return makeCall(name, args);
  }
}

function makeCall(name: Token, args: Node[]): Node {
  const f = name.text;
  const where = `at column ${name.col}`;
  const u = UNARY_FUNCS[f];
  if (u !== undefined) {
    if (args.length !== 1) fail(`${f} takes 1 argument, got ${args.length} ${where}`);
    return unary(u, args[0]);
  }
  const b = BINARY_FUNCS[f];
  if (b === undefined) {
    const h = FUNC_ALIASES[f.toLowerCase()] ?? closestName(f, FUNC_NAMES);
    fail(`unknown function '${f}' ${where}${h ? ` (did you mean ${h}?)` : ` (functions: ${FUNC_NAMES.join(' ')})`}`);
  }
  if (b === Op.POW) {
    if (args.length !== 2) fail(`pow takes 2 arguments, got ${args.length} ${where}`);
    return binary(b, args[0], args[1]);
  }
  // min/max of more than two fold left: min(a, b, c) = min(min(a, b), c).
  if (args.length < 2) fail(`${f} takes at least 2 arguments, got ${args.length} ${where}`);
  return args.slice(1).reduce((acc, x) => binary(b, acc, x), args[0]);
}

// ---------------------------------------------------------------------------------------------
// Code generation
// ---------------------------------------------------------------------------------------------

/** Post-order emission; returns the stack depth this subtree needs. */
function emit(n: Node, out: number[]): number {
  switch (n.t) {
    case 'const': out.push(Op.CONST, n.v); return 1;
    case 'var': out.push(Op.VAR, n.i); return 1;
    case 'un': { const d = emit(n.a, out); out.push(n.op); return d; }
    case 'bin': {
      const da = emit(n.a, out);
      const db = emit(n.b, out);
      out.push(n.op);
      // While b is computed, a's result occupies one slot below it.
      return Math.max(da, db + 1);
    }
  }
}

function countInstructions(n: Node): number {
  switch (n.t) {
    case 'const': case 'var': return 1;
    case 'un': return 1 + countInstructions(n.a);
    case 'bin': return 1 + countInstructions(n.a) + countInstructions(n.b);
  }
}

function resolveDim(vars: Parser['vars'], given: number | undefined): number {
  const needed = vars.reduce((m, v) => Math.max(m, v.index + 1), 1);
  if (given === undefined) return needed;
  if (!Number.isInteger(given) || given < 1) fail(`dim must be a positive integer, got ${String(given)}`);
  const bad = vars.find((v) => v.index >= given);
  if (bad) fail(`variable '${bad.name}' at column ${bad.col} is out of range for dimension ${given} (use x0..x${given - 1})`);
  return given;
}

/** Compile an expression over `x` / `x0..x{d-1}` into kernel bytecode. */
export function compileExpr(src: string, opts: CompileOptions = {}): CompiledExpr {
  if (typeof src !== 'string') fail(`source must be a string, got ${typeof src}`);
  const parser = new Parser(tokenize(src));
  const ast = parser.parseAll();
  const dim = resolveDim(parser.vars, opts.dim);
  const body: number[] = [];
  const depth = emit(ast, body);
  const code = Float64Array.from([BYTECODE_VERSION, dim, depth, countInstructions(ast), ...body]);
  const variables = [...new Set(parser.vars.map((v) => v.name))];
  return { code, dim, source: src, variables };
}
