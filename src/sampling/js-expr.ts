/**
 * The TypeScript evaluator of expression bytecode (native/PROTOCOL.md §3), used by the fallback
 * kernel. Rows are processed in chunks: the stack is a set of Float64Array chunks and each
 * instruction is one tight loop over the chunk, so the per-instruction dispatch cost is paid
 * once per chunk instead of once per row.
 *
 * The scalar semantics here are also what the compiler (expr.ts) uses for constant folding, so a
 * folded constant equals what this kernel would have computed at run time.
 */
import { lgamma } from './special.js';

export const Op = {
  CONST: 1, VAR: 2,
  ADD: 10, SUB: 11, MUL: 12, DIV: 13, POW: 14, MIN: 15, MAX: 16,
  NEG: 20, EXP: 21, LOG: 22, LOG1P: 23, SQRT: 24, ABS: 25, SIN: 26, COS: 27, TAN: 28,
  TANH: 29, ATAN: 30, FLOOR: 31, LGAMMA: 32, SQUARE: 33,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

export const BYTECODE_VERSION = 1;

/** Rows per chunk: 256 rows x 8 bytes = 2 KiB per stack slot, so deep stacks stay in L1. */
const CHUNK = 256;
/** Sanity bounds for decoding untrusted code (far beyond anything the compiler emits). */
const MAX_DIM = 1 << 20;
const MAX_DEPTH = 1 << 16;

const isBinaryOp = (op: number): boolean => op >= 10 && op <= 16;
const isUnaryOp = (op: number): boolean => op >= 20 && op <= 33;

/** One binary operation with the kernels' semantics (MIN/MAX propagate NaN, like Math.min). */
export function applyBinary(op: number, a: number, b: number): number {
  switch (op) {
    case Op.ADD: return a + b;
    case Op.SUB: return a - b;
    case Op.MUL: return a * b;
    case Op.DIV: return a / b;
    case Op.POW: return Math.pow(a, b);
    case Op.MIN: return Math.min(a, b);
    case Op.MAX: return Math.max(a, b);
    default: throw new Error(`not a binary opcode: ${op}`);
  }
}

/** One unary operation with the kernels' semantics. */
export function applyUnary(op: number, a: number): number {
  switch (op) {
    case Op.NEG: return -a;
    case Op.EXP: return Math.exp(a);
    case Op.LOG: return Math.log(a);
    case Op.LOG1P: return Math.log1p(a);
    case Op.SQRT: return Math.sqrt(a);
    case Op.ABS: return Math.abs(a);
    case Op.SIN: return Math.sin(a);
    case Op.COS: return Math.cos(a);
    case Op.TAN: return Math.tan(a);
    case Op.TANH: return Math.tanh(a);
    case Op.ATAN: return Math.atan(a);
    case Op.FLOOR: return Math.floor(a);
    case Op.LGAMMA: return lgamma(a);
    case Op.SQUARE: return a * a;
    default: throw new Error(`not a unary opcode: ${op}`);
  }
}

function malformed(msg: string): never {
  throw new Error(`malformed expression code: ${msg}`);
}

function checkCount(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) malformed(`${name} must be an integer in [${min}, ${max}], got ${v}`);
  return v;
}

export class JsExpr {
  /** Number of variables (columns per row). */
  readonly dim: number;
  private readonly ops: Int32Array;
  /** CONST value or VAR column per instruction (unused for other opcodes). */
  private readonly operands: Float64Array;
  private readonly stack: Float64Array[];

  private constructor(dim: number, depth: number, ops: Int32Array, operands: Float64Array) {
    this.dim = dim;
    this.ops = ops;
    this.operands = operands;
    this.stack = Array.from({ length: depth }, () => new Float64Array(CHUNK));
  }

  /**
   * Validate and decode a program: header, opcodes, operands (no NaN constant), and that the
   * stack never underflows, never exceeds the declared depth, and ends with exactly one value.
   */
  static decode(code: Float64Array): JsExpr {
    if (!(code instanceof Float64Array)) throw new TypeError('expression code must be a Float64Array');
    if (code.length < 4) malformed(`too short (${code.length} numbers)`);
    if (code[0] !== BYTECODE_VERSION) malformed(`unsupported version ${code[0]}`);
    const dim = checkCount('dimension', code[1], 1, MAX_DIM);
    const depth = checkCount('max stack depth', code[2], 1, MAX_DEPTH);
    const count = checkCount('instruction count', code[3], 1, code.length - 4);
    const ops = new Int32Array(count);
    const operands = new Float64Array(count);
    let pos = 4;
    let sp = 0;
    for (let k = 0; k < count; k++) {
      if (pos >= code.length) malformed(`truncated at instruction ${k}`);
      const op = code[pos++];
      if (!Number.isInteger(op)) malformed(`unknown opcode ${op} at instruction ${k}`);
      ops[k] = op;
      if (op === Op.CONST || op === Op.VAR) {
        if (pos >= code.length) malformed(`missing operand of instruction ${k}`);
        const v = code[pos++];
        if (op === Op.VAR && !(Number.isInteger(v) && v >= 0 && v < dim)) {
          malformed(`variable index ${v} out of range for dimension ${dim} at instruction ${k}`);
        }
        // As the native decoder: the compiler never emits one (a NaN fold is a UsageError there).
        if (op === Op.CONST && Number.isNaN(v)) malformed(`NaN constant at instruction ${k}`);
        operands[k] = v;
        sp++;
      } else if (isBinaryOp(op)) {
        if (sp < 2) malformed(`stack underflow at instruction ${k}`);
        sp--;
      } else if (isUnaryOp(op)) {
        if (sp < 1) malformed(`stack underflow at instruction ${k}`);
      } else {
        malformed(`unknown opcode ${op} at instruction ${k}`);
      }
      if (sp > depth) malformed(`stack depth exceeds the declared ${depth} at instruction ${k}`);
    }
    if (pos !== code.length) malformed(`${code.length - pos} trailing numbers after ${count} instructions`);
    if (sp !== 1) malformed(`program leaves ${sp} values on the stack (expected 1)`);
    return new JsExpr(dim, depth, ops, operands);
  }

  /** out[r] = value of the expression at row r of xs (rows of `dim` doubles). */
  eval(xs: Float64Array, out: Float64Array): void {
    if (!(xs instanceof Float64Array) || !(out instanceof Float64Array)) {
      throw new TypeError('evalExpr: xs and out must be Float64Arrays');
    }
    if (xs.length !== out.length * this.dim) {
      throw new Error(`evalExpr: xs has ${xs.length} numbers, expected ${out.length} rows x ${this.dim}`);
    }
    for (let start = 0; start < out.length; start += CHUNK) {
      const n = Math.min(CHUNK, out.length - start);
      this.runChunk(xs, start, n);
      out.set(this.stack[0].subarray(0, n), start);
    }
  }

  private runChunk(xs: Float64Array, start: number, n: number): void {
    const { ops, operands, stack, dim } = this;
    let sp = 0;
    for (let k = 0; k < ops.length; k++) {
      const op = ops[k];
      if (op === Op.CONST) {
        stack[sp++].fill(operands[k], 0, n);
      } else if (op === Op.VAR) {
        loadColumn(stack[sp++], xs, start, n, dim, operands[k]);
      } else if (op < 20) {
        sp--;
        binaryLoop(op, stack[sp - 1], stack[sp], n);
      } else {
        unaryLoop(op, stack[sp - 1], n);
      }
    }
  }
}

function loadColumn(dst: Float64Array, xs: Float64Array, start: number, n: number, dim: number, col: number): void {
  if (dim === 1) {
    dst.set(xs.subarray(start, start + n));
    return;
  }
  for (let r = 0, i = start * dim + col; r < n; r++, i += dim) dst[r] = xs[i];
}

/** a = a op b, elementwise. One loop per opcode keeps each loop monomorphic. */
function binaryLoop(op: number, a: Float64Array, b: Float64Array, n: number): void {
  switch (op) {
    case Op.ADD: for (let r = 0; r < n; r++) a[r] += b[r]; return;
    case Op.SUB: for (let r = 0; r < n; r++) a[r] -= b[r]; return;
    case Op.MUL: for (let r = 0; r < n; r++) a[r] *= b[r]; return;
    case Op.DIV: for (let r = 0; r < n; r++) a[r] /= b[r]; return;
    case Op.POW: for (let r = 0; r < n; r++) a[r] = Math.pow(a[r], b[r]); return;
    case Op.MIN: for (let r = 0; r < n; r++) a[r] = Math.min(a[r], b[r]); return;
    case Op.MAX: for (let r = 0; r < n; r++) a[r] = Math.max(a[r], b[r]); return;
  }
}

/** a = f(a), elementwise. */
function unaryLoop(op: number, a: Float64Array, n: number): void {
  switch (op) {
    case Op.NEG: for (let r = 0; r < n; r++) a[r] = -a[r]; return;
    case Op.EXP: for (let r = 0; r < n; r++) a[r] = Math.exp(a[r]); return;
    case Op.LOG: for (let r = 0; r < n; r++) a[r] = Math.log(a[r]); return;
    case Op.LOG1P: for (let r = 0; r < n; r++) a[r] = Math.log1p(a[r]); return;
    case Op.SQRT: for (let r = 0; r < n; r++) a[r] = Math.sqrt(a[r]); return;
    case Op.ABS: for (let r = 0; r < n; r++) a[r] = Math.abs(a[r]); return;
    case Op.SIN: for (let r = 0; r < n; r++) a[r] = Math.sin(a[r]); return;
    case Op.COS: for (let r = 0; r < n; r++) a[r] = Math.cos(a[r]); return;
    case Op.TAN: for (let r = 0; r < n; r++) a[r] = Math.tan(a[r]); return;
    case Op.TANH: for (let r = 0; r < n; r++) a[r] = Math.tanh(a[r]); return;
    case Op.ATAN: for (let r = 0; r < n; r++) a[r] = Math.atan(a[r]); return;
    case Op.FLOOR: for (let r = 0; r < n; r++) a[r] = Math.floor(a[r]); return;
    case Op.LGAMMA: for (let r = 0; r < n; r++) a[r] = lgamma(a[r]); return;
    case Op.SQUARE: for (let r = 0; r < n; r++) a[r] *= a[r]; return;
  }
}

/** Convenience: decode and evaluate once (the kernel caches decoded programs instead). */
export function evalExpr(code: Float64Array, xs: Float64Array, out: Float64Array): void {
  JsExpr.decode(code).eval(xs, out);
}
