//! Expression bytecode VM (PROTOCOL.md §3).
//!
//! Rows are evaluated in chunks of `CHUNK` rows. The stack is `depth` chunk-sized slots; each
//! instruction is one tight loop over a chunk (so LLVM vectorizes it; EXP/LOG/LOG1P use the
//! branch-free `fastmath` functions). The whole evaluation is compiled three times (plain,
//! AVX2, AVX-512) and chosen at run time. Semantics follow JS `Math.*`, like
//! `src/sampling/js-expr.ts`; decoding applies the same checks as `JsExpr.decode`.

use crate::fastmath;
use crate::rng::{simd, Simd};

/// Rows per chunk: 256 rows x 8 bytes = 2 KiB per stack slot.
pub const CHUNK: usize = 256;
const MAX_DIM: usize = 1 << 20;
const MAX_DEPTH: usize = 1 << 16;
pub const VERSION: f64 = 1.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Const(f64),
    Var(usize),
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Min,
    Max,
    Neg,
    Exp,
    Log,
    Log1p,
    Sqrt,
    Abs,
    Sin,
    Cos,
    Tan,
    Tanh,
    Atan,
    Floor,
    Lgamma,
    Square,
}

#[derive(Clone, Debug)]
pub struct Expr {
    d: usize,
    /// Largest stack depth actually reached (<= the declared depth).
    depth: usize,
    ops: Vec<Op>,
}

fn malformed(msg: String) -> String {
    format!("malformed expression code: {msg}")
}

fn check_count(name: &str, v: f64, min: usize, max: usize) -> Result<usize, String> {
    if !(v.fract() == 0.0 && v >= min as f64 && v <= max as f64) {
        return Err(malformed(format!("{name} must be an integer in [{min}, {max}], got {v}")));
    }
    Ok(v as usize)
}

impl Expr {
    /// Validate and decode: header, opcodes, operands, and that the stack never underflows,
    /// never exceeds the declared depth, and ends with exactly one value.
    pub fn decode(code: &[f64]) -> Result<Expr, String> {
        if code.len() < 4 {
            return Err(malformed(format!("too short ({} numbers)", code.len())));
        }
        if code[0] != VERSION {
            return Err(malformed(format!("unsupported version {}", code[0])));
        }
        let d = check_count("dimension", code[1], 1, MAX_DIM)?;
        let declared = check_count("max stack depth", code[2], 1, MAX_DEPTH)?;
        let count = check_count("instruction count", code[3], 1, code.len() - 4)?;
        let mut ops = Vec::with_capacity(count);
        let mut pos = 4;
        let mut sp = 0usize;
        let mut depth = 0usize;
        for k in 0..count {
            if pos >= code.len() {
                return Err(malformed(format!("truncated at instruction {k}")));
            }
            let opf = code[pos];
            pos += 1;
            let op = if opf == 1.0 || opf == 2.0 {
                if pos >= code.len() {
                    return Err(malformed(format!("missing operand of instruction {k}")));
                }
                let v = code[pos];
                pos += 1;
                sp += 1;
                if opf == 1.0 {
                    if v.is_nan() {
                        return Err(malformed(format!("NaN constant at instruction {k}")));
                    }
                    Op::Const(v)
                } else {
                    if !(v.fract() == 0.0 && v >= 0.0 && v < d as f64) {
                        return Err(malformed(format!(
                            "variable index {v} out of range for dimension {d} at instruction {k}"
                        )));
                    }
                    Op::Var(v as usize)
                }
            } else {
                // opcodes are small integers; anything else (fractions, NaN, huge) maps to 0 = unknown
                let code = if opf.fract() == 0.0 && (0.0..=255.0).contains(&opf) { opf as u32 } else { 0 };
                let (op, arity) = match code {
                    10 => (Op::Add, 2),
                    11 => (Op::Sub, 2),
                    12 => (Op::Mul, 2),
                    13 => (Op::Div, 2),
                    14 => (Op::Pow, 2),
                    15 => (Op::Min, 2),
                    16 => (Op::Max, 2),
                    20 => (Op::Neg, 1),
                    21 => (Op::Exp, 1),
                    22 => (Op::Log, 1),
                    23 => (Op::Log1p, 1),
                    24 => (Op::Sqrt, 1),
                    25 => (Op::Abs, 1),
                    26 => (Op::Sin, 1),
                    27 => (Op::Cos, 1),
                    28 => (Op::Tan, 1),
                    29 => (Op::Tanh, 1),
                    30 => (Op::Atan, 1),
                    31 => (Op::Floor, 1),
                    32 => (Op::Lgamma, 1),
                    33 => (Op::Square, 1),
                    _ => return Err(malformed(format!("unknown opcode {opf} at instruction {k}"))),
                };
                if sp < arity {
                    return Err(malformed(format!("stack underflow at instruction {k}")));
                }
                sp -= arity - 1;
                op
            };
            if sp > declared {
                return Err(malformed(format!("stack depth exceeds the declared {declared} at instruction {k}")));
            }
            depth = depth.max(sp);
            ops.push(op);
        }
        if pos != code.len() {
            return Err(malformed(format!("{} trailing numbers after {count} instructions", code.len() - pos)));
        }
        if sp != 1 {
            return Err(malformed(format!("program leaves {sp} values on the stack (expected 1)")));
        }
        Ok(Expr { d, depth, ops })
    }

    pub fn dim(&self) -> usize {
        self.d
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// xs: rows of dim() columns; out.len() == xs.len() / dim(). If the lengths disagree, only
    /// the rows present in both are evaluated (the caller validates; this never panics).
    pub fn eval(&self, xs: &[f64], out: &mut [f64]) {
        self.eval_with(simd(), xs, out)
    }

    /// `eval` on an explicit code path (capped at what this CPU runs).
    pub fn eval_with(&self, level: Simd, xs: &[f64], out: &mut [f64]) {
        let n = out.len().min(xs.len() / self.d);
        let out = &mut out[..n];
        let mut stack_buf = vec![0.0f64; self.depth.max(1) * CHUNK];
        let stack: &mut [f64] = &mut stack_buf;
        let level = level.min(simd());
        let e = self;
        crate::simd_dispatch!(level, fn(e: &Expr, xs: &[f64], out: &mut [f64], stack: &mut [f64]) -> () {
            eval_body(e, xs, out, stack)
        })
    }
}

/// JS `Math.pow`: differs from C pow for a NaN exponent and for (+-1)^(+-inf).
#[inline(always)]
fn js_pow(a: f64, b: f64) -> f64 {
    let r = a.powf(b);
    if b.is_nan() || (a.abs() == 1.0 && b.is_infinite()) {
        f64::NAN
    } else {
        r
    }
}

/// JS `Math.min`: NaN if either is NaN; min(-0, +0) = -0.
#[inline(always)]
pub fn js_min(a: f64, b: f64) -> f64 {
    let r = if a < b { a } else { b };
    let r = if a == b { f64::from_bits(a.to_bits() | b.to_bits()) } else { r };
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        r
    }
}

/// JS `Math.max`: NaN if either is NaN; max(-0, +0) = +0.
#[inline(always)]
pub fn js_max(a: f64, b: f64) -> f64 {
    let r = if a > b { a } else { b };
    let r = if a == b { f64::from_bits(a.to_bits() & b.to_bits()) } else { r };
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        r
    }
}

#[inline(always)]
fn unary(a: &mut [f64], f: impl Fn(f64) -> f64) {
    for x in a.iter_mut() {
        *x = f(*x);
    }
}

#[inline(always)]
fn binary(a: &mut [f64], b: &[f64], f: impl Fn(f64, f64) -> f64) {
    for (x, &y) in a.iter_mut().zip(b) {
        *x = f(*x, y);
    }
}

#[inline(always)]
fn eval_body(e: &Expr, xs: &[f64], out: &mut [f64], stack: &mut [f64]) {
    let d = e.d;
    let mut start = 0;
    while start < out.len() {
        let n = CHUNK.min(out.len() - start);
        let mut sp = 0usize;
        for op in e.ops.iter() {
            match *op {
                Op::Const(c) => {
                    stack[sp * CHUNK..sp * CHUNK + n].fill(c);
                    sp += 1;
                }
                Op::Var(col) => {
                    let dst = &mut stack[sp * CHUNK..sp * CHUNK + n];
                    if d == 1 {
                        dst.copy_from_slice(&xs[start..start + n]);
                    } else {
                        let src = &xs[start * d..(start + n) * d];
                        for (o, row) in dst.iter_mut().zip(src.chunks_exact(d)) {
                            *o = row[col];
                        }
                    }
                    sp += 1;
                }
                Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow | Op::Min | Op::Max => {
                    sp -= 1;
                    let (lo, hi) = stack.split_at_mut(sp * CHUNK);
                    let a = &mut lo[(sp - 1) * CHUNK..(sp - 1) * CHUNK + n];
                    let b = &hi[..n];
                    match *op {
                        Op::Add => binary(a, b, |x, y| x + y),
                        Op::Sub => binary(a, b, |x, y| x - y),
                        Op::Mul => binary(a, b, |x, y| x * y),
                        Op::Div => binary(a, b, |x, y| x / y),
                        Op::Pow => binary(a, b, js_pow),
                        Op::Min => binary(a, b, js_min),
                        _ => binary(a, b, js_max),
                    }
                }
                _ => {
                    let a = &mut stack[(sp - 1) * CHUNK..(sp - 1) * CHUNK + n];
                    match *op {
                        Op::Neg => unary(a, |x| -x),
                        Op::Exp => unary(a, fastmath::exp),
                        Op::Log => unary(a, fastmath::ln),
                        Op::Log1p => unary(a, fastmath::log1p),
                        Op::Sqrt => unary(a, f64::sqrt),
                        Op::Abs => unary(a, f64::abs),
                        Op::Sin => unary(a, f64::sin),
                        Op::Cos => unary(a, f64::cos),
                        Op::Tan => unary(a, f64::tan),
                        Op::Tanh => unary(a, f64::tanh),
                        Op::Atan => unary(a, f64::atan),
                        Op::Floor => unary(a, f64::floor),
                        Op::Lgamma => unary(a, crate::special::lgamma),
                        _ => unary(a, |x| x * x),
                    }
                }
            }
        }
        out[start..start + n].copy_from_slice(&stack[..n]);
        start += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(d: usize, depth: usize, body: &[f64]) -> Vec<f64> {
        // count instructions
        let mut k = 0;
        let mut i = 0;
        while i < body.len() {
            i += if body[i] == 1.0 || body[i] == 2.0 { 2 } else { 1 };
            k += 1;
        }
        let mut v = vec![1.0, d as f64, depth as f64, k as f64];
        v.extend_from_slice(body);
        v
    }

    fn eval1(body: &[f64], depth: usize, xs: &[f64]) -> Vec<f64> {
        let e = Expr::decode(&code(1, depth, body)).unwrap();
        let mut out = vec![0.0; xs.len()];
        e.eval(xs, &mut out);
        // every path agrees bit for bit
        for level in Simd::available() {
            let mut o2 = vec![0.0; xs.len()];
            e.eval_with(level, xs, &mut o2);
            for i in 0..xs.len() {
                assert_eq!(o2[i].to_bits(), out[i].to_bits(), "{level:?}");
            }
        }
        out
    }

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 2e-15 * b.abs().max(1e-300)
    }

    const XS: [f64; 16] = [
        0.5,
        -0.5,
        2.0,
        -3.0,
        0.0,
        -0.0,
        1.0,
        -1.0,
        1e-300,
        1e300,
        7.25,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        3.0,
        1e-20,
    ];

    #[test]
    fn unary_ops() {
        let table: [(f64, fn(f64) -> f64); 14] = [
            (20.0, |x| -x),
            (21.0, f64::exp),
            (22.0, f64::ln),
            (23.0, f64::ln_1p),
            (24.0, f64::sqrt),
            (25.0, f64::abs),
            (26.0, f64::sin),
            (27.0, f64::cos),
            (28.0, f64::tan),
            (29.0, f64::tanh),
            (30.0, f64::atan),
            (31.0, f64::floor),
            (32.0, crate::special::lgamma),
            (33.0, |x| x * x),
        ];
        let xs: Vec<f64> = XS.iter().cycle().take(1000).cloned().collect();
        for (op, f) in table.iter() {
            let out = eval1(&[2.0, 0.0, *op], 1, &xs);
            for (i, &x) in xs.iter().enumerate() {
                assert!(same(out[i], f(x)), "op {op} x {x}: {} vs {}", out[i], f(x));
            }
        }
        // lgamma: poles are +inf, known values
        let out = eval1(&[2.0, 0.0, 32.0], 1, &[0.0, -1.0, -2.0, 1.0, 2.0, 0.5, 10.0, -0.5]);
        assert_eq!(&out[..3], &[f64::INFINITY; 3]);
        assert_eq!(out[3], 0.0);
        assert_eq!(out[4], 0.0);
        assert!((out[5] - 0.5723649429247001).abs() < 1e-14);
        assert!((out[6] - 12.801827480081469).abs() < 1e-13);
        assert!((out[7] - 1.2655121234846454).abs() < 1e-14);
    }

    #[test]
    fn binary_ops() {
        let ys: Vec<f64> = XS.iter().cycle().take(300).cloned().collect();
        let mut rows = Vec::new();
        for &a in XS.iter() {
            for &b in XS.iter() {
                rows.push(a);
                rows.push(b);
            }
        }
        let _ = ys;
        let n = rows.len() / 2;
        let table: [(f64, fn(f64, f64) -> f64); 7] = [
            (10.0, |a, b| a + b),
            (11.0, |a, b| a - b),
            (12.0, |a, b| a * b),
            (13.0, |a, b| a / b),
            (14.0, |a, b| if b.is_nan() || (a.abs() == 1.0 && b.is_infinite()) { f64::NAN } else { a.powf(b) }),
            (15.0, |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }),
            (16.0, |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }),
        ];
        for (op, f) in table.iter() {
            let e = Expr::decode(&code(2, 2, &[2.0, 0.0, 2.0, 1.0, *op])).unwrap();
            let mut out = vec![0.0; n];
            e.eval(&rows, &mut out);
            for i in 0..n {
                let (a, b) = (rows[2 * i], rows[2 * i + 1]);
                assert!(same(out[i], f(a, b)), "op {op} ({a}, {b}): {} vs {}", out[i], f(a, b));
            }
        }
        // JS specifics
        assert!(js_pow(1.0, f64::NAN).is_nan());
        assert!(js_pow(-1.0, f64::INFINITY).is_nan());
        assert_eq!(js_pow(f64::NAN, 0.0), 1.0);
        assert_eq!(js_min(-0.0, 0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(js_min(0.0, -0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(js_max(-0.0, 0.0).to_bits(), 0.0f64.to_bits());
        assert!(js_min(f64::NAN, 1.0).is_nan() && js_min(1.0, f64::NAN).is_nan());
        assert!(js_max(f64::NAN, 1.0).is_nan() && js_max(1.0, f64::NAN).is_nan());
    }

    #[test]
    fn const_and_multivariate() {
        // (x0 - 1)^2 / 2 + x2 * 3 - (-inf const allowed)
        let body = [2.0, 0.0, 1.0, 1.0, 11.0, 33.0, 1.0, 2.0, 13.0, 2.0, 2.0, 1.0, 3.0, 12.0, 10.0];
        let e = Expr::decode(&code(3, 3, &body)).unwrap();
        assert_eq!(e.dim(), 3);
        let n = 1000;
        let xs: Vec<f64> = (0..3 * n).map(|i| (i as f64 * 0.37).sin() * 5.0).collect();
        let mut out = vec![0.0; n];
        e.eval(&xs, &mut out);
        for r in 0..n {
            let want = (xs[3 * r] - 1.0).powi(2) / 2.0 + xs[3 * r + 2] * 3.0;
            assert!((out[r] - want).abs() < 1e-12);
        }
        let e = Expr::decode(&code(1, 1, &[1.0, f64::NEG_INFINITY])).unwrap();
        let mut out = vec![0.0; 3];
        e.eval(&[1.0, 2.0, 3.0], &mut out);
        assert_eq!(out, vec![f64::NEG_INFINITY; 3]);
    }

    #[test]
    fn decode_errors() {
        let ok = code(1, 2, &[2.0, 0.0, 1.0, 2.0, 10.0]);
        assert!(Expr::decode(&ok).is_ok());
        let mut v = ok.clone();
        v[0] = 2.0;
        assert!(Expr::decode(&v).unwrap_err().contains("version"));
        let mut v = ok.clone();
        v[1] = 0.0;
        assert!(Expr::decode(&v).is_err());
        let mut v = ok.clone();
        v[1] = 1.5;
        assert!(Expr::decode(&v).is_err());
        let mut v = ok.clone();
        v[2] = 1.0; // declared depth too small
        assert!(Expr::decode(&v).unwrap_err().contains("depth"));
        assert!(Expr::decode(&code(1, 1, &[2.0, 1.0])).unwrap_err().contains("out of range"));
        assert!(Expr::decode(&code(1, 1, &[2.0, -1.0])).is_err());
        assert!(Expr::decode(&code(1, 1, &[2.0, f64::NAN])).is_err());
        assert!(Expr::decode(&code(1, 1, &[10.0])).unwrap_err().contains("underflow"));
        assert!(Expr::decode(&code(1, 1, &[2.0, 0.0, 10.0])).unwrap_err().contains("underflow"));
        assert!(Expr::decode(&code(1, 1, &[2.0, 0.0, 99.0])).unwrap_err().contains("unknown opcode"));
        assert!(Expr::decode(&code(1, 1, &[2.0, 0.0, f64::NAN])).unwrap_err().contains("unknown opcode"));
        assert!(Expr::decode(&code(1, 2, &[2.0, 0.0, 2.0, 0.0])).unwrap_err().contains("leaves 2"));
        assert!(Expr::decode(&code(1, 1, &[1.0, f64::NAN])).is_err());
        let mut v = ok.clone();
        v.push(10.0);
        assert!(Expr::decode(&v).unwrap_err().contains("trailing"));
        let mut v = ok.clone();
        v.pop();
        assert!(Expr::decode(&v).is_err());
        assert!(Expr::decode(&[1.0, 1.0, 1.0]).is_err());
        assert!(Expr::decode(&[1.0, 1.0, 1.0, 5.0, 2.0]).is_err());
        assert!(Expr::decode(&[]).is_err());
        // truncated operand
        assert!(Expr::decode(&[1.0, 1.0, 1.0, 1.0, 2.0]).unwrap_err().contains("missing operand"));
        // mismatched lengths never panic
        let e = Expr::decode(&code(2, 1, &[2.0, 1.0])).unwrap();
        let mut out = vec![0.0; 5];
        e.eval(&[1.0, 2.0, 3.0], &mut out);
        assert_eq!(out[0], 2.0);
    }

    #[test]
    fn long_inputs_chunking() {
        // x*x + log(x) over 10_000 rows crosses many chunks
        let xs: Vec<f64> = (1..=10_000).map(|i| i as f64 * 0.01).collect();
        let out = eval1(&[2.0, 0.0, 33.0, 2.0, 0.0, 22.0, 10.0], 2, &xs);
        for (i, &x) in xs.iter().enumerate() {
            assert!((out[i] - (x * x + x.ln())).abs() <= 1e-14 * (x * x + x.ln()).abs().max(1.0));
        }
    }
}
