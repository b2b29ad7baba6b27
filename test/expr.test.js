// Expression compiler (expr.ts) and the TypeScript bytecode evaluator (js-expr.ts); when the
// native module is built, the native evaluator is checked against the TypeScript one.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { compileExpr, MAX_NESTING } from '../dist/sampling/expr.js';
import { sample } from '../dist/index.js';
import { JsExpr, Op, evalExpr } from '../dist/sampling/js-expr.js';
import { lgamma } from '../dist/sampling/special.js';
import { UsageError } from '../dist/errors.js';
import { mulberry32 as rng } from './helpers/prng.js';
import { LGAMMA_EDGES } from './helpers/lgamma-edges.js';
import { getKernel } from '../dist/index.js';

function throwsUsage(fn, expected) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${err && err.name}: ${err && err.message}`);
    if (typeof expected === 'string') assert.equal(err.message, expected);
    else assert.match(err.message, expected);
    return true;
  });
}

/** Evaluate a source over rows (arrays of numbers); returns plain numbers. */
function run(src, rows, opts) {
  const c = compileExpr(src, opts);
  const xs = Float64Array.from(rows.flat());
  const out = new Float64Array(rows.length);
  JsExpr.decode(c.code).eval(xs, out);
  return Array.from(out);
}
const at = (src, ...row) => run(src, [row])[0];


function close(a, b, rel, what) {
  if (Number.isNaN(b)) { assert.ok(Number.isNaN(a), `${what}: expected NaN, got ${a}`); return; }
  if (!Number.isFinite(b)) { assert.equal(a, b, what); return; }
  assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

test('bytecode layout, header and SQUARE', () => {
  const c = compileExpr('-x^2');
  assert.deepEqual(Array.from(c.code), [1, 1, 1, 3, Op.VAR, 0, Op.SQUARE, Op.NEG]);
  assert.equal(c.dim, 1);
  assert.equal(c.source, '-x^2');
  assert.deepEqual(c.variables, ['x']);
  const c2 = compileExpr('x0*x1');
  assert.deepEqual(Array.from(c2.code), [1, 2, 2, 3, Op.VAR, 0, Op.VAR, 1, Op.MUL]);
  assert.deepEqual(c2.variables, ['x0', 'x1']);
  assert.deepEqual(Array.from(compileExpr('pow(x, 2)').code), [1, 1, 1, 2, Op.VAR, 0, Op.SQUARE]);
  assert.deepEqual(Array.from(compileExpr('x^3').code), [1, 1, 2, 3, Op.VAR, 0, Op.CONST, 3, Op.POW]);
});

test('constant folding', () => {
  assert.deepEqual(Array.from(compileExpr('2*pi').code), [1, 1, 1, 1, Op.CONST, 2 * Math.PI]);
  assert.deepEqual(Array.from(compileExpr('2^3^2').code), [1, 1, 1, 1, Op.CONST, 512]);
  assert.deepEqual(Array.from(compileExpr('-log(2*pi)/2 + x').code),
    [1, 1, 2, 3, Op.CONST, -Math.log(2 * Math.PI) / 2, Op.VAR, 0, Op.ADD]);
  assert.deepEqual(Array.from(compileExpr('lgamma(5)').code), [1, 1, 1, 1, Op.CONST, lgamma(5)]);
  assert.deepEqual(Array.from(compileExpr('min(1, 2, e)').code), [1, 1, 1, 1, Op.CONST, 1]);
});

test('stack depth is the maximum reached', () => {
  assert.equal(compileExpr('x').code[2], 1);
  assert.equal(compileExpr('x + x').code[2], 2);
  assert.equal(compileExpr('x + (x + (x + x))').code[2], 4);
  assert.equal(compileExpr('((x + x) + x) + x').code[2], 2);
  assert.equal(compileExpr('x0*x1 + x2*x3').code[2], 3);
  // Every compiled program passes the evaluator's own stack validation.
  for (const s of ['x + (x + (x + x))', 'max(x, min(x, x + x))', 'exp(-(x - 1)^2/2) * sqrt(x^2 + 1)']) {
    JsExpr.decode(compileExpr(s).code);
  }
});

test('precedence and associativity', () => {
  assert.equal(at('-x^2', 3), -9);
  assert.equal(at('(-x)^2', 3), 9);
  assert.equal(at('2^3^2', 0), 512);
  assert.equal(at('(2^3)^2', 0), 64);
  assert.equal(at('2^-1', 0), 0.5);
  assert.equal(at('x**2', 4), 16);
  assert.equal(at('1 - 2 - 3', 0), -4);
  assert.equal(at('8 / 4 / 2', 0), 1);
  assert.equal(at('1 + 2 * 3', 0), 7);
  assert.equal(at('(1 + 2) * 3', 0), 9);
  assert.equal(at('2 * -x', 3), -6);
  assert.equal(at('--x', 3), 3);
  assert.equal(at('+x', 3), 3);
  assert.equal(at('-2^2', 0), -4);
  assert.equal(at('x0*x1', 2, 3), 6);
  assert.equal(at('x1 - x0', 2, 3), 1);
  assert.equal(at('1e2 + 2.5e-1 + .5', 0), 100.75);
});

test('every opcode evaluates like Math.*', () => {
  const cases = [
    ['x + 1.5', (x) => x + 1.5], ['x - 1.5', (x) => x - 1.5], ['x * 1.5', (x) => x * 1.5],
    ['x / 1.5', (x) => x / 1.5], ['abs(x) ^ 1.5', (x) => Math.pow(Math.abs(x), 1.5)],
    ['pow(abs(x), x)', (x) => Math.pow(Math.abs(x), x)],
    ['min(x, 0.25)', (x) => Math.min(x, 0.25)], ['max(x, 0.25)', (x) => Math.max(x, 0.25)],
    ['-x', (x) => -x], ['exp(x)', Math.exp], ['log(abs(x))', (x) => Math.log(Math.abs(x))],
    ['log1p(abs(x))', (x) => Math.log1p(Math.abs(x))], ['sqrt(abs(x))', (x) => Math.sqrt(Math.abs(x))],
    ['abs(x)', Math.abs], ['sin(x)', Math.sin], ['cos(x)', Math.cos], ['tan(x)', Math.tan],
    ['tanh(x)', Math.tanh], ['atan(x)', Math.atan], ['floor(x)', Math.floor], ['lgamma(x)', lgamma],
    ['x^2', (x) => x * x],
  ];
  const r = rng(1);
  const xs = Array.from({ length: 1000 }, () => (r() - 0.5) * 20);
  for (const [src, f] of cases) {
    const got = run(src, xs.map((x) => [x]));
    got.forEach((g, i) => close(g, f(xs[i]), 1e-15, `${src} at x=${xs[i]}`));
  }
});

test('NaN and infinity semantics', () => {
  assert.ok(Number.isNaN(at('min(x, 1)', NaN)));
  assert.ok(Number.isNaN(at('max(1, x)', NaN)));
  assert.equal(at('log(x)', 0), -Infinity);
  assert.ok(Number.isNaN(at('log(x)', -1)));
  assert.equal(at('1/x', 0), Infinity);
  assert.equal(at('lgamma(x)', 0), Infinity);
  assert.equal(at('lgamma(x)', -2), Infinity);
});

test('multi-dimensional expressions over random inputs, across chunk boundaries', () => {
  const cases = [
    ['-0.5*(x0^2 + x1^2) - log(2*pi)', (a, b) => -0.5 * (a * a + b * b) - Math.log(2 * Math.PI)],
    ['-(x0 - x1)^2 / (2 * 0.3^2) + log1p(x1^2)', (a, b) => -((a - b) * (a - b)) / (2 * (0.3 * 0.3)) + Math.log1p(b * b)],
    ['max(x0, x1) - min(x0, x1) * tanh(x0 * x1)', (a, b) => Math.max(a, b) - Math.min(a, b) * Math.tanh(a * b)],
    ['lgamma(abs(x0) + 1) - abs(x1) * atan(x0)', (a, b) => lgamma(Math.abs(a) + 1) - Math.abs(b) * Math.atan(a)],
    ['exp(sin(x0) * cos(x1)) / sqrt(1 + x0^2)', (a, b) => Math.exp(Math.sin(a) * Math.cos(b)) / Math.sqrt(1 + a * a)],
    ['floor(x0) + x1^3', (a, b) => Math.floor(a) + Math.pow(b, 3)],
  ];
  const r = rng(7);
  for (const n of [1, 255, 256, 257, 1000]) {
    const rows = Array.from({ length: n }, () => [(r() - 0.5) * 8, (r() - 0.5) * 8]);
    for (const [src, f] of cases) {
      const got = run(src, rows);
      got.forEach((g, i) => close(g, f(rows[i][0], rows[i][1]), 1e-14, `${src} at ${rows[i]}`));
    }
  }
});

test('dimension: inferred, given, and out of range', () => {
  assert.equal(compileExpr('x').dim, 1);
  assert.equal(compileExpr('x0').dim, 1);
  assert.equal(compileExpr('1 + 2').dim, 1);
  assert.equal(compileExpr('x3').dim, 4);
  assert.equal(compileExpr('x1', { dim: 3 }).dim, 3);
  assert.equal(compileExpr('x0', { dim: 2 }).code[1], 2);
  assert.equal(compileExpr('x', { dim: 1 }).dim, 1);
  // A given dimension larger than needed reads the right column from wider rows.
  assert.equal(run('x1', [[1, 2, 3]], { dim: 3 })[0], 2);
  throwsUsage(() => compileExpr('x2', { dim: 2 }), "expression: variable 'x2' at column 1 is out of range for dimension 2 (use x0..x1)");
  throwsUsage(() => compileExpr('x', { dim: 0 }), 'expression: dim must be a positive integer, got 0');
  throwsUsage(() => compileExpr('x', { dim: 1.5 }), 'expression: dim must be a positive integer, got 1.5');
});

test('syntax errors name the problem and the column', () => {
  throwsUsage(() => compileExpr('(x + 1))'), "expression: unexpected ')' at column 8");
  throwsUsage(() => compileExpr('x + 1)'), "expression: unexpected ')' at column 6");
  throwsUsage(() => compileExpr('sine(x)'), "expression: unknown function 'sine' at column 1 (did you mean sin?)");
  throwsUsage(() => compileExpr('ln(x)'), "expression: unknown function 'ln' at column 1 (did you mean log?)");
  throwsUsage(() => compileExpr('foo(x)'), /^expression: unknown function 'foo' at column 1 \(functions: exp log/);
  throwsUsage(() => compileExpr('x + y'), "expression: unknown name 'y' at column 5 (variables are x or x0, x1, ...)");
  throwsUsage(() => compileExpr('2 * pj'), "expression: unknown name 'pj' at column 5 (variables are x or x0, x1, ...)");
  throwsUsage(() => compileExpr('exp'), "expression: 'exp' at column 1 is a function; call it as exp(...)");
  throwsUsage(() => compileExpr(''), 'expression: empty expression');
  throwsUsage(() => compileExpr('  '), 'expression: empty expression');
  throwsUsage(() => compileExpr('x +'), "expression: unexpected end of input at column 4 (expected a number, a name or '(')");
  throwsUsage(() => compileExpr('((x)'), "expression: unexpected end of input at column 5 (expected ')' to close '(' at column 1)");
  throwsUsage(() => compileExpr('2x'), "expression: unexpected 'x' at column 2 (expected an operator; missing '*'?)");
  throwsUsage(() => compileExpr('x(1)'), "expression: unexpected '(' at column 2 (expected an operator; missing '*'?)");
  throwsUsage(() => compileExpr('x $ 2'), "expression: unexpected character '$' at column 3");
  throwsUsage(() => compileExpr('* x'), "expression: unexpected '*' at column 1 (expected a number, a name or '(')");
  throwsUsage(() => compileExpr('log(x,'), "expression: unexpected end of input at column 7 (expected a number, a name or '(')");
  throwsUsage(() => compileExpr('log(x 1)'), "expression: unexpected '1' at column 7 (expected ',' or ')' to close 'log(' at column 4)");
  throwsUsage(() => compileExpr('1e999'), "expression: number '1e999' at column 1 is out of range");
  throwsUsage(() => compileExpr(3), 'expression: source must be a string, got number');
});

test("names Object.prototype has are unknown names, not functions or constants", () => {
  // (the name tables were object literals: `constructor` compiled to a NaN constant, `toString(x)`
  // to a NaN opcode, and the kernels threw internal errors at sampling time)
  for (const name of ['constructor', '__proto__', 'valueOf', 'toString', 'hasOwnProperty', '__defineGetter__']) {
    throwsUsage(() => compileExpr(`x + ${name}`), new RegExp(`^expression: unknown name '${name}' at column 5`));
    throwsUsage(() => compileExpr(`${name}(x)`), new RegExp(`^expression: unknown function '${name}' at column 1 \\((did you mean|functions:) `));
    throwsUsage(() => compileExpr(`${name}(1)`), new RegExp(`^expression: unknown function '${name}' at column 1`));
  }
});

test('messages stay on one line and short, and quote whole characters', () => {
  // a folded NaN quoted across a line break
  throwsUsage(() => compileExpr('x + log(\r\n-1)'), 'expression: log( -1) at column 5 is not a number (NaN)');
  // a character outside the BMP is one character, not half a surrogate pair
  throwsUsage(() => compileExpr('x + \u{1F600}'), "expression: unexpected character '\u{1F600}' at column 5");
  // a 10^5-character token is quoted in part
  const long = 'y'.repeat(100_000);
  for (const src of [`x + ${long}`, `x + ${long}(x)`, `x + 9${'9'.repeat(100_000)}`, `x + x0 ${long}`]) {
    assert.throws(() => compileExpr(src), (err) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.ok(err.message.length < 200 && !err.message.includes('\n'), err.message.slice(0, 300));
      assert.match(err.message, /\.\.\./);
      return true;
    });
  }
});

test('arity errors', () => {
  throwsUsage(() => compileExpr('pow(x)'), 'expression: pow takes 2 arguments, got 1 at column 1');
  throwsUsage(() => compileExpr('1 + pow(x, 1, 2)'), 'expression: pow takes 2 arguments, got 3 at column 5');
  throwsUsage(() => compileExpr('exp(x, 1)'), 'expression: exp takes 1 argument, got 2 at column 1');
  throwsUsage(() => compileExpr('exp()'), 'expression: exp takes 1 argument, got 0 at column 1');
  throwsUsage(() => compileExpr('min(x)'), 'expression: min takes at least 2 arguments, got 1 at column 1');
  assert.equal(at('min(x, 3, -1, 2)', 0), -1);
  assert.equal(at('max(x, 3, -1, 2)', 5), 5);
});

test('a constant subexpression folding to NaN is a UsageError naming it and its column', () => {
  const nan = (src, msg) => throwsUsage(() => compileExpr(src), `expression: ${msg}`);
  nan('-x^2/2 + log(-1)', 'log(-1) at column 10 is not a number (NaN)');
  nan('sqrt(-1)', 'sqrt(-1) at column 1 is not a number (NaN)');
  nan('0*log(0)', '0*log(0) at column 1 is not a number (NaN: 0 * -Infinity)');
  nan('(-8)^(1/3)', '(-8)^(1/3) at column 1 is not a number (NaN: a negative number to a non-integer power)');
  nan('x + 0/0', '0/0 at column 5 is not a number (NaN)');
  nan('x + (1/0 - 1/0)', '1/0 - 1/0 at column 6 is not a number (NaN: Infinity - Infinity)');
  nan('pow(1, 1/0) * x', 'pow(1, 1/0) at column 1 is not a number (NaN: 1 ^ Infinity)');
  nan('sin(-1/0)', 'sin(-1/0) at column 1 is not a number (NaN: sin(-Infinity))');
  nan('lgamma(-log(0)) + x - log(0) * 0', 'log(0) * 0 at column 23 is not a number (NaN: -Infinity * 0)');
  nan('min(x, 1, sqrt(-2*pi))', 'sqrt(-2*pi) at column 11 is not a number (NaN)');
  // The innermost NaN is the one reported; a long one is shortened.
  nan('x + 2*(3 + log(-1))', 'log(-1) at column 12 is not a number (NaN)');
  const long = `log(-1 ${'- 1 '.repeat(30)})`;
  throwsUsage(() => compileExpr(long), /^expression: log\(-1 - 1 - 1 .{30,}\.\.\. at column 1 is not a number \(NaN\)$/);
  // Through sample(): refused while planning, not an internal error at sampling time.
  return assert.rejects(sample({ target: { logpdf: '-x^2/2 + log(-1)' }, proposal: 'normal(0,1)', n: 10 }),
    (e) => e instanceof UsageError && e.message === 'expression: log(-1) at column 10 is not a number (NaN)');
});

test('+-Infinity constants are legitimate and folded as such', () => {
  assert.deepEqual(Array.from(compileExpr('log(0)').code), [1, 1, 1, 1, Op.CONST, -Infinity]);
  assert.deepEqual(Array.from(compileExpr('1/0').code), [1, 1, 1, 1, Op.CONST, Infinity]);
  assert.deepEqual(Array.from(compileExpr('-x^2/2 + log(0)').code).slice(-3), [Op.CONST, -Infinity, Op.ADD]);
  // "zero density below 0" written with log(0); exp(-inf) = 0; lgamma at a pole is +inf.
  assert.equal(at('max(-x^2, log(0))', 3), -9);
  assert.equal(at('x * exp(-1/0)', 3), 0);
  assert.equal(at('atan(1/0) + x', 0), Math.PI / 2);
  assert.equal(at('lgamma(0) + x', 1), Infinity);
  // Only constant subexpressions are checked: NaN that depends on x (or that folding cannot
  // see, as in (x + 1/0) - 1/0) stays the evaluator's ordinary IEEE result.
  assert.ok(Number.isNaN(at('log(-1 - x^2)', 0)));
  assert.ok(Number.isNaN(at('x + 1/0 - 1/0', 0)));
});

test('nesting deeper than MAX_NESTING is a UsageError, not a stack overflow', () => {
  assert.equal(MAX_NESTING, 256);
  const deep = (src, col) => throwsUsage(() => compileExpr(src),
    `expression: too deeply nested (more than 256 levels) at column ${col}`);
  // The audit's cases: the 257th '(' is reported.
  deep('-x^2/2 + ' + '0*(x+'.repeat(5000) + '1' + ')'.repeat(5000), 9 + 256 * 5 + 3);
  deep('('.repeat(20000) + 'x' + ')'.repeat(20000), 257);
  // Every way of nesting counts: calls, unary signs, right-associative ^.
  // (a call's level is its '(')
  deep('exp('.repeat(300) + 'x' + ')'.repeat(300), 256 * 4 + 4);
  deep('min(x, '.repeat(300) + 'x' + ')'.repeat(300), 256 * 7 + 4);
  deep('-'.repeat(20000) + 'x', 257);
  deep('- + '.repeat(200) + 'x', 256 * 2 + 1);
  deep('x^'.repeat(20000) + 'x', 256 * 2 + 2);
  // Exactly MAX_NESTING levels compile; one more does not.
  assert.equal(at('('.repeat(256) + 'x' + ')'.repeat(256), 5), 5);
  deep('('.repeat(257) + 'x' + ')'.repeat(257), 257);
});

test('legitimate deep and long expressions compile and evaluate', () => {
  // 200 levels of the audit's shape: 0*(x + 0*(x + ... 1)) = 0, plus the Gaussian part.
  const src = '-x^2/2 + ' + '0*(x+'.repeat(200) + '1' + ')'.repeat(200);
  assert.equal(at(src, 2), -2);
  close(at('exp(log('.repeat(100) + 'x' + ')'.repeat(200), 1.5), 1.5, 1e-13, 'exp(log(...))');
  assert.equal(at('-'.repeat(200) + 'x', 3), 3);
  // Long flat chains are not nesting: any length compiles (code generation is iterative).
  const c = compileExpr('x+'.repeat(100000) + 'x');
  assert.equal(c.code[2], 2);
  assert.equal(c.code[3], 200001);
  assert.equal(run('x+'.repeat(100000) + 'x', [[1]])[0], 100001);
  assert.equal(at(`min(${'x, '.repeat(50000)}x - 1)`, 2), 1);
  // The worst value-stack use at the limit (3 slots per level) decodes and runs.
  const worst = 'x + x*min(x, '.repeat(256) + 'x' + ')'.repeat(256);
  const w = compileExpr(worst);
  assert.equal(w.code[2], 3 * 256 + 1);
  assert.equal(run(worst, [[0.5]])[0], 0.75);
});

test("plain x is for 1-D: in a multi-dimensional expression it is a UsageError", () => {
  throwsUsage(() => compileExpr('-x^2/2 - x1^2/2'),
    "expression: 'x' at column 2 is for 1-D targets; this target is 2-D: use x0..x1");
  throwsUsage(() => compileExpr('x*x1'), "expression: 'x' at column 1 is for 1-D targets; this target is 2-D: use x0..x1");
  throwsUsage(() => compileExpr('x0 + 2*x', { dim: 3 }),
    "expression: 'x' at column 8 is for 1-D targets; this target is 3-D: use x0..x2");
  throwsUsage(() => compileExpr('-x^2/2', { dim: 2 }),
    "expression: 'x' at column 2 is for 1-D targets; this target is 2-D: use x0..x1");
  // 1-D: x, x0 or both are the same variable.
  assert.equal(at('x + x0', 2), 4);
  assert.equal(compileExpr('x', { dim: 1 }).dim, 1);
  assert.equal(at('x0*x1', 2, 3), 6);
  // The sampler passes the proposal's dimension, so a 2-D target's `x` is caught there too.
  return assert.rejects(sample({ target: { logpdf: '-x^2/2 - x1^2/2' }, proposal: 'mvnormal([0,0],[1,1])', n: 3 }),
    (e) => e instanceof UsageError && /'x' at column 2 is for 1-D targets; this target is 2-D: use x0\.\.x1/.test(e.message));
});

test('decode rejects malformed programs', () => {
  const bad = [
    [[], /too short/],
    [[2, 1, 1, 1, 1, 0], /unsupported version 2/],
    [[1, 0, 1, 1, 1, 0], /dimension must be an integer/],
    [[1, 1.5, 1, 1, 1, 0], /dimension must be an integer/],
    [[1, 1, 0, 1, 1, 0], /max stack depth must be an integer/],
    [[1, 1, 1, 0, 1, 0], /instruction count must be an integer/],
    [[1, 1, 1, 5, 1, 0], /instruction count must be an integer/],
    [[1, 1, 1, 1, 99, 0], /unknown opcode 99/],
    [[1, 1, 1, 1, 10.5, 0], /unknown opcode 10.5/],
    [[1, 1, 1, 1, 1], /instruction count|missing operand/],
    [[1, 1, 1, 1, 2, 1], /variable index 1 out of range for dimension 1/],
    [[1, 1, 1, 1, 2, 0.5], /variable index 0.5 out of range/],
    [[1, 1, 1, 1, 2, -1], /variable index -1 out of range/],
    [[1, 1, 1, 1, 1, NaN], /NaN constant at instruction 0/],
    [[1, 1, 2, 3, 2, 0, 1, NaN, 10], /NaN constant at instruction 1/],
    [[1, 1, 1, 2, 2, 0, 10], /stack underflow at instruction 1/],
    [[1, 1, 1, 1, 21, 0], /stack underflow at instruction 0/],
    [[1, 1, 1, 2, 2, 0, 2, 0], /stack depth exceeds the declared 1/],
    [[1, 1, 2, 2, 2, 0, 2, 0], /leaves 2 values on the stack/],
    [[1, 1, 1, 1, 2, 0, 7], /1 trailing numbers/],
  ];
  for (const [code, re] of bad) {
    assert.throws(() => JsExpr.decode(Float64Array.from(code)), (e) => e instanceof Error && re.test(e.message),
      `code ${JSON.stringify(code)} should fail with ${re}`);
  }
  assert.throws(() => JsExpr.decode([1, 1, 1, 1, 2, 0]), TypeError);
  const e = JsExpr.decode(compileExpr('x0 + x1').code);
  assert.equal(e.dim, 2);
  assert.throws(() => e.eval(new Float64Array(3), new Float64Array(2)), /xs has 3 numbers, expected 2 rows x 2/);
  assert.throws(() => e.eval([1, 2], new Float64Array(1)), TypeError);
  const out = new Float64Array(1);
  evalExpr(compileExpr('x0 + x1').code, Float64Array.of(1, 2), out);
  assert.equal(out[0], 3);
  e.eval(new Float64Array(0), new Float64Array(0)); // empty batch is fine
});

// ---------------------------------------------------------------------------------------------
// Native vs TypeScript
// ---------------------------------------------------------------------------------------------

const nativePath = fileURLToPath(new URL('../native/rsft.linux-x64-gnu.node', import.meta.url));
let native = null;
let nativeWhy = `${nativePath} not built`;
if (existsSync(nativePath)) {
  try {
    const mod = createRequire(import.meta.url)(nativePath);
    if (typeof mod.evalExpr !== 'function') nativeWhy = 'native module does not export evalExpr';
    else {
      // Probe with a trivial program: a stub build ("not implemented") is skipped, not failed.
      const out = new Float64Array(1);
      try {
        mod.evalExpr(Float64Array.of(1, 1, 1, 1, 2, 0), Float64Array.of(5), out);
        native = mod;
      } catch (err) {
        if (/not implemented/i.test(err.message)) nativeWhy = `native evalExpr is a stub: ${err.message}`;
        else native = mod; // a real failure: let the test report it
      }
    }
  } catch (err) {
    nativeWhy = `native module failed to load: ${err.message}`;
  }
}

test('native evalExpr matches the TypeScript evaluator', { skip: native ? false : nativeWhy }, () => {
  const sources = [
    '-0.5*x0^2 - log(2*pi)/2', 'x0 + x1 - x2 * x0 / (1 + x1^2)', 'pow(abs(x0), x1)', 'min(x0, x1) + max(x1, x2)',
    'exp(-abs(x0)) + log(1 + x1^2) + log1p(abs(x2))', 'sqrt(abs(x0)) * sin(x1) * cos(x2) + tan(x0 / 10)',
    'tanh(x0) + atan(x1) + floor(x2)', '-x0^2 + 2^3^2 * x1', 'x0^3 - x1^-1',
  ];
  const r = rng(42);
  const n = 3001; // not a multiple of any plausible chunk size
  const xs = Float64Array.from({ length: n * 3 }, () => (r() - 0.5) * 10);
  for (const src of sources) {
    const c = compileExpr(src, { dim: 3 });
    const a = new Float64Array(n);
    const b = new Float64Array(n);
    JsExpr.decode(c.code).eval(xs, a);
    native.evalExpr(c.code, xs, b);
    for (let i = 0; i < n; i++) close(b[i], a[i], 1e-13, `${src} row ${i}`);
  }
  const c = compileExpr('lgamma(x0) + lgamma(abs(x1) + 0.5)', { dim: 2 });
  const xs2 = Float64Array.from({ length: n * 2 }, () => (r() - 0.3) * 60);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  JsExpr.decode(c.code).eval(xs2, a);
  native.evalExpr(c.code, xs2, b);
  for (let i = 0; i < n; i++) close(b[i], a[i], 1e-12, `lgamma row ${i}`);
  // Malformed code is an Error from the native side too, never a crash; NaN constants included.
  assert.throws(() => native.evalExpr(Float64Array.of(1, 1, 1, 1, 99, 0), new Float64Array(1), new Float64Array(1)), Error);
  assert.throws(() => native.evalExpr(Float64Array.of(1, 1, 1, 1, 1, NaN), new Float64Array(1), new Float64Array(1)),
    /NaN constant at instruction 0/);
  // +-Infinity constants are accepted, and the deepest stack the compiler can emit runs natively.
  const inf = compileExpr('max(-x^2, log(0))');
  const o = new Float64Array(1);
  native.evalExpr(inf.code, Float64Array.of(3), o);
  assert.equal(o[0], -9);
  for (const deep of ['x + x*min(x, '.repeat(256) + 'x' + ')'.repeat(256), '('.repeat(255) + 'x^3' + ')'.repeat(255)]) {
    const cd = compileExpr(deep);
    const xs3 = Float64Array.from({ length: 600 }, () => r() * 2);
    const a3 = new Float64Array(600);
    const b3 = new Float64Array(600);
    JsExpr.decode(cd.code).eval(xs3, a3);
    native.evalExpr(cd.code, xs3, b3);
    for (let i = 0; i < 600; i++) close(b3[i], a3[i], 1e-13, `deep row ${i}`);
  }
});

test('lgamma at tiny arguments and beside its poles, in both kernels and in folding', () => {
  const c = compileExpr('lgamma(x)');
  const xs = Float64Array.from(LGAMMA_EDGES, ([x]) => x);
  for (const name of native ? ['js', 'native'] : ['js']) {
    const out = new Float64Array(xs.length);
    getKernel(name).evalExpr(c.code, xs, out);
    LGAMMA_EDGES.forEach(([x, v], i) => close(out[i], v, 1e-14, `${name} lgamma(${x})`));
  }
  // Folding uses the same lgamma: finite at 1e-310 (it was +Infinity, and sin of it NaN), +0 at 1.
  assert.equal(compileExpr('sin(lgamma(1e-310))').code[5], Math.sin(713.8013788281541));
  assert.ok(Object.is(compileExpr('lgamma(1)').code[5], 0));
});

test('evalExpr with an output that overlaps its input', () => {
  // (the JS evaluator wrote row i's result over a later row's inputs; native copies its inputs)
  const c = compileExpr('x0 + 10 * x1', { dim: 2 });
  const rows = 1000; // (several of the evaluators' chunks: within one, inputs are read first)
  const want = Array.from({ length: rows }, (_, i) => 2 * i + 10 * (2 * i + 1));
  for (const name of native ? ['js', 'native'] : ['js']) {
    const buf = Float64Array.from({ length: 2 * rows }, (_, i) => i);
    getKernel(name).evalExpr(c.code, buf, buf.subarray(rows));
    assert.deepEqual(Array.from(buf.subarray(rows)), want, name);
  }
});
