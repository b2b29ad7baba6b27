//! Raw N-API glue (no crates). The napi_* symbols resolve at load time from the node process.
//!
//! Context awareness: nothing here keeps per-environment state; every call works only with
//! the `env` it is given, so the module loads in several worker_threads / Piscina workers at
//! once. (Process-wide immutable tables such as the ziggurat live in `OnceLock`s in dist.rs.)
//!
//! Nothing may panic across this boundary (`panic = "abort"`): every length is checked before
//! slicing, every N-API status is checked, and failures become JS exceptions.
#![allow(non_camel_case_types)]

use crate::kernel::Work;
use std::ffi::{c_char, c_void, CString};
use std::ptr;

type napi_env = *mut c_void;
type napi_value = *mut c_void;
type napi_callback_info = *mut c_void;
type napi_status = i32;
type napi_callback = Option<unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value>;

const NAPI_OK: napi_status = 0;
// napi_valuetype
const NAPI_NUMBER: i32 = 3;
/// napi_valuetype values: napi_undefined and napi_boolean
const NAPI_UNDEFINED: i32 = 0;
const NAPI_BOOLEAN: i32 = 2;
// napi_typedarray_type
const NAPI_FLOAT64_ARRAY: i32 = 8;

extern "C" {
    fn napi_create_function(
        env: napi_env,
        utf8name: *const c_char,
        length: usize,
        cb: napi_callback,
        data: *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_set_named_property(env: napi_env, object: napi_value, utf8name: *const c_char, value: napi_value) -> napi_status;
    fn napi_add_env_cleanup_hook(env: napi_env, fun: Option<unsafe extern "C" fn(*mut c_void)>, arg: *mut c_void) -> napi_status;
    fn napi_get_cb_info(
        env: napi_env,
        cbinfo: napi_callback_info,
        argc: *mut usize,
        argv: *mut napi_value,
        this_arg: *mut napi_value,
        data: *mut *mut c_void,
    ) -> napi_status;
    fn napi_is_typedarray(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_get_typedarray_info(
        env: napi_env,
        typedarray: napi_value,
        ty: *mut i32,
        length: *mut usize,
        data: *mut *mut c_void,
        arraybuffer: *mut napi_value,
        byte_offset: *mut usize,
    ) -> napi_status;
    fn napi_typeof(env: napi_env, value: napi_value, result: *mut i32) -> napi_status;
    fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64) -> napi_status;
    fn napi_create_double(env: napi_env, value: f64, result: *mut napi_value) -> napi_status;
    fn napi_get_value_bool(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_create_string_utf8(env: napi_env, s: *const c_char, length: usize, result: *mut napi_value) -> napi_status;
    fn napi_create_arraybuffer(env: napi_env, byte_length: usize, data: *mut *mut c_void, result: *mut napi_value) -> napi_status;
    fn napi_create_typedarray(
        env: napi_env,
        ty: i32,
        length: usize,
        arraybuffer: napi_value,
        byte_offset: usize,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_get_undefined(env: napi_env, result: *mut napi_value) -> napi_status;
    fn napi_get_null(env: napi_env, result: *mut napi_value) -> napi_status;
    fn napi_throw_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
    fn napi_throw_type_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
    fn napi_throw_range_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
    fn napi_is_exception_pending(env: napi_env, result: *mut bool) -> napi_status;
}

/// A JS exception to throw.
enum JsErr {
    Type(String),
    Range(String),
    Error(String),
}

type R<T> = Result<T, JsErr>;

fn cstring(s: &str) -> CString {
    // Our messages never contain NUL; strip any just in case instead of failing.
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

unsafe fn throw(env: napi_env, e: JsErr) {
    let mut pending = false;
    if napi_is_exception_pending(env, &mut pending) == NAPI_OK && pending {
        return;
    }
    match e {
        JsErr::Type(m) => {
            let c = cstring(&m);
            napi_throw_type_error(env, ptr::null(), c.as_ptr());
        }
        JsErr::Range(m) => {
            let c = cstring(&m);
            napi_throw_range_error(env, ptr::null(), c.as_ptr());
        }
        JsErr::Error(m) => {
            let c = cstring(&m);
            napi_throw_error(env, ptr::null(), c.as_ptr());
        }
    }
}

fn check(status: napi_status, what: &str) -> R<()> {
    if status == NAPI_OK {
        Ok(())
    } else {
        Err(JsErr::Error(format!("rsft native: N-API call {what} failed (status {status})")))
    }
}

unsafe fn undefined(env: napi_env) -> R<napi_value> {
    let mut v = ptr::null_mut();
    check(napi_get_undefined(env, &mut v), "napi_get_undefined")?;
    Ok(v)
}

unsafe fn null(env: napi_env) -> R<napi_value> {
    let mut v = ptr::null_mut();
    check(napi_get_null(env, &mut v), "napi_get_null")?;
    Ok(v)
}

const MAX_ARGS: usize = 8;

/// The call's arguments; missing ones read as `undefined` (N-API fills them in).
unsafe fn args(env: napi_env, info: napi_callback_info) -> R<[napi_value; MAX_ARGS]> {
    let mut argv = [ptr::null_mut(); MAX_ARGS];
    let mut argc = MAX_ARGS;
    check(
        napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()),
        "napi_get_cb_info",
    )?;
    // argc now holds the actual count; slots past it were set to undefined by N-API (only up
    // to the capacity we gave), so argv is fully initialized.
    Ok(argv)
}

/// A Float64Array argument viewed as raw parts (pointer, length). `idx` is 1-based.
unsafe fn f64_array(env: napi_env, v: napi_value, fname: &str, idx: usize, name: &str) -> R<(*mut f64, usize)> {
    let bad = || JsErr::Type(format!("{fname}: argument {idx} ({name}) must be a Float64Array"));
    let mut is = false;
    if napi_is_typedarray(env, v, &mut is) != NAPI_OK || !is {
        return Err(bad());
    }
    let mut ty = -1i32;
    let mut len = 0usize;
    let mut data: *mut c_void = ptr::null_mut();
    let mut ab = ptr::null_mut();
    let mut off = 0usize;
    check(
        napi_get_typedarray_info(env, v, &mut ty, &mut len, &mut data, &mut ab, &mut off),
        "napi_get_typedarray_info",
    )?;
    if ty != NAPI_FLOAT64_ARRAY {
        return Err(bad());
    }
    if len == 0 || data.is_null() {
        return Ok((ptr::NonNull::<f64>::dangling().as_ptr(), 0));
    }
    if (data as usize) % std::mem::align_of::<f64>() != 0 {
        return Err(JsErr::Error(format!("{fname}: argument {idx} ({name}) is not 8-byte aligned")));
    }
    Ok((data as *mut f64, len))
}

unsafe fn number(env: napi_env, v: napi_value, fname: &str, idx: usize, name: &str) -> R<f64> {
    let mut t = -1i32;
    check(napi_typeof(env, v, &mut t), "napi_typeof")?;
    if t != NAPI_NUMBER {
        return Err(JsErr::Type(format!("{fname}: argument {idx} ({name}) must be a number")));
    }
    let mut x = 0.0;
    check(napi_get_value_double(env, v, &mut x), "napi_get_value_double")?;
    Ok(x)
}

/// An optional boolean argument: undefined (or left out) is `default`.
unsafe fn opt_bool(env: napi_env, v: napi_value, fname: &str, idx: usize, name: &str, default: bool) -> R<bool> {
    let mut t = -1i32;
    check(napi_typeof(env, v, &mut t), "napi_typeof")?;
    if t == NAPI_UNDEFINED {
        return Ok(default);
    }
    if t != NAPI_BOOLEAN {
        return Err(JsErr::Type(format!("{fname}: argument {idx} ({name}) must be a boolean")));
    }
    let mut b = default;
    check(napi_get_value_bool(env, v, &mut b), "napi_get_value_bool")?;
    Ok(b)
}

/// An integer in [0, 2^53).
unsafe fn int53(env: napi_env, v: napi_value, fname: &str, idx: usize, name: &str) -> R<u64> {
    let x = number(env, v, fname, idx, name)?;
    if !(x >= 0.0 && x < 9007199254740992.0 && x.floor() == x) {
        return Err(JsErr::Range(format!(
            "{fname}: argument {idx} ({name}) must be an integer in [0, 2^53), got {x}"
        )));
    }
    Ok(x as u64)
}

fn overlaps(a: (*mut f64, usize), b: (*mut f64, usize)) -> bool {
    if a.1 == 0 || b.1 == 0 {
        return false;
    }
    let (a0, a1) = (a.0 as usize, a.0 as usize + a.1 * 8);
    let (b0, b1) = (b.0 as usize, b.0 as usize + b.1 * 8);
    a0 < b1 && b0 < a1
}

/// Read-only view of an input array; copied when it shares memory with the output so that we
/// never hold a `&[f64]` and a `&mut [f64]` to the same bytes.
enum Input<'a> {
    Borrowed(&'a [f64]),
    Owned(Vec<f64>),
}
impl<'a> Input<'a> {
    unsafe fn new(a: (*mut f64, usize), outs: &[(*mut f64, usize)]) -> Input<'a> {
        let s: &'a [f64] = std::slice::from_raw_parts(a.0 as *const f64, a.1);
        if outs.iter().any(|&o| overlaps(a, o)) {
            Input::Owned(s.to_vec())
        } else {
            Input::Borrowed(s)
        }
    }
    fn get(&self) -> &[f64] {
        match self {
            Input::Borrowed(s) => s,
            Input::Owned(v) => v,
        }
    }
}

unsafe fn out_slice<'a>(a: (*mut f64, usize)) -> &'a mut [f64] {
    std::slice::from_raw_parts_mut(a.0, a.1)
}

unsafe fn stats_array(env: napi_env, s: &[f64; 5]) -> R<napi_value> {
    let mut data: *mut c_void = ptr::null_mut();
    let mut ab = ptr::null_mut();
    check(napi_create_arraybuffer(env, 5 * 8, &mut data, &mut ab), "napi_create_arraybuffer")?;
    if data.is_null() {
        return Err(JsErr::Error("rsft native: could not allocate the stats array".into()));
    }
    ptr::copy_nonoverlapping(s.as_ptr(), data as *mut f64, 5);
    let mut ta = ptr::null_mut();
    check(napi_create_typedarray(env, NAPI_FLOAT64_ARRAY, 5, ab, 0, &mut ta), "napi_create_typedarray")?;
    Ok(ta)
}

fn decode_err(fname: &str, what: &str, e: String) -> JsErr {
    if e.starts_with("malformed") {
        JsErr::Error(format!("{fname}: {e}"))
    } else {
        JsErr::Error(format!("{fname}: malformed {what}: {e}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Exported functions

unsafe fn uniforms_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "uniforms";
    let a = args(env, info)?;
    let seed = int53(env, a[0], F, 1, "seed")?;
    let stream = int53(env, a[1], F, 2, "stream")?;
    let sub = int53(env, a[2], F, 3, "sub")?;
    if sub > 1 {
        return Err(JsErr::Range(format!("{F}: argument 3 (sub) must be 0 or 1, got {sub}")));
    }
    let out = f64_array(env, a[3], F, 4, "out")?;
    let mut rng = crate::rng::Stream::new(seed, stream, sub);
    rng.fill_f64(out_slice(out));
    undefined(env)
}

unsafe fn sample_dist_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "sampleDist";
    let a = args(env, info)?;
    let prog = f64_array(env, a[0], F, 1, "program")?;
    let seed = int53(env, a[1], F, 2, "seed")?;
    let stream = int53(env, a[2], F, 3, "stream")?;
    let out = f64_array(env, a[3], F, 4, "out")?;
    let prog = Input::new(prog, &[out]);
    let d = crate::dist::Dist::decode(prog.get()).map_err(|e| decode_err(F, "distribution program", e))?;
    let dim = d.dim();
    if dim == 0 || out.1 % dim != 0 {
        return Err(JsErr::Error(format!("{F}: out length {} is not a multiple of {dim}", out.1)));
    }
    let mut rng = crate::rng::Stream::new(seed, stream, 0);
    d.sample(&mut rng, out_slice(out));
    undefined(env)
}

unsafe fn logpdf_dist_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "logpdfDist";
    let a = args(env, info)?;
    let prog = f64_array(env, a[0], F, 1, "program")?;
    let xs = f64_array(env, a[1], F, 2, "xs")?;
    let out = f64_array(env, a[2], F, 3, "out")?;
    let prog = Input::new(prog, &[out]);
    let d = crate::dist::Dist::decode(prog.get()).map_err(|e| decode_err(F, "distribution program", e))?;
    let dim = d.dim();
    if out.1.checked_mul(dim) != Some(xs.1) {
        return Err(JsErr::Error(format!("{F}: {} numbers is not {} rows of {dim}", xs.1, out.1)));
    }
    let xs = Input::new(xs, &[out]);
    d.logpdf(xs.get(), out_slice(out));
    undefined(env)
}

unsafe fn eval_expr_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "evalExpr";
    let a = args(env, info)?;
    let code = f64_array(env, a[0], F, 1, "code")?;
    let xs = f64_array(env, a[1], F, 2, "xs")?;
    let out = f64_array(env, a[2], F, 3, "out")?;
    let code = Input::new(code, &[out]);
    let e = crate::expr::Expr::decode(code.get()).map_err(|e| decode_err(F, "expression", e))?;
    let dim = e.dim();
    if out.1.checked_mul(dim) != Some(xs.1) {
        return Err(JsErr::Error(format!("{F}: {} numbers is not {} rows of {dim}", xs.1, out.1)));
    }
    let xs = Input::new(xs, &[out]);
    e.eval(xs.get(), out_slice(out));
    undefined(env)
}

fn need(fname: &str, idx: usize, name: &str, have: usize, need: Option<usize>) -> R<()> {
    match need {
        Some(n) if have >= n => Ok(()),
        Some(n) => Err(JsErr::Error(format!(
            "{fname}: argument {idx} ({name}) holds {have} numbers, needs {n}"
        ))),
        None => Err(JsErr::Range(format!("{fname}: argument {idx} ({name}): size overflows"))),
    }
}

/// sampleBlock(job, seed, block, nProposals, out): every accepted row of nProposals proposals
/// (sampleRows with rows = maxProposals = nProposals).
unsafe fn sample_block_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "sampleBlock";
    let a = args(env, info)?;
    let n = int53(env, a[3], F, 4, "nProposals")?;
    rows_into(env, F, &a, n, n, (a[4], 5), false)
}

/// sampleRows(job, seed, block, rows, maxProposals, out, readSoon?): the block's first `rows`
/// accepted rows into the front of out (see kernel::try_sample_rows_mode).
unsafe fn sample_rows_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "sampleRows";
    let a = args(env, info)?;
    let rows = int53(env, a[3], F, 4, "rows")?;
    let max_props = int53(env, a[4], F, 5, "maxProposals")?;
    let read_soon = opt_bool(env, a[6], F, 7, "readSoon", false)?;
    rows_into(env, F, &a, rows, max_props, (a[5], 6), read_soon)
}

/// The decoded job of a block entry point (argument 1, `jb`); read from a copy when it shares
/// memory with one of `outs`, which the call writes. `work`: what the call will draw.
unsafe fn job_arg(fname: &str, jb: (*mut f64, usize), outs: &[(*mut f64, usize)], work: Work) -> R<std::rc::Rc<crate::kernel::Job>> {
    crate::kernel::decode_job_cached(Input::new(jb, outs).get(), work).map_err(|e| decode_err(fname, "job", e))
}

/// The work of a call drawing `rows` rows within `max_props` proposals.
fn rows_work(rows: u64, max_props: u64) -> Work {
    Work { rows: rows as f64, max_proposals: max_props as f64 }
}

/// The common part of sampleBlock and sampleRows: job, seed and block are arguments 1-3, `out`
/// is the given argument (with its 1-based position, for messages).
unsafe fn rows_into(env: napi_env, fname: &str, a: &[napi_value], rows: u64, max_props: u64, out: (napi_value, usize), read_soon: bool) -> R<napi_value> {
    let jb = f64_array(env, a[0], fname, 1, "job")?;
    let seed = int53(env, a[1], fname, 2, "seed")?;
    let block = int53(env, a[2], fname, 3, "block")?;
    let (out, out_idx) = (f64_array(env, out.0, fname, out.1, "out")?, out.1);
    let job = job_arg(fname, jb, &[out], rows_work(rows, max_props))?;
    let rows = usize::try_from(rows).map_err(|_| JsErr::Range(format!("{fname}: too many rows")))?;
    need(fname, out_idx, "out", out.1, rows.checked_mul(job.dim()))?;
    let st = crate::kernel::try_sample_rows(&job, seed, block, rows, max_props, out_slice(out), read_soon).map_err(JsErr::Error)?;
    stats_array(env, &st)
}

/// lendOut(out, fresh?): lends a plain output to pool threads for one run (see lease.rs);
/// returns the lease id. `fresh`: nothing has written `out` yet. The caller keeps `out` alive
/// and attached until endLease(id) has returned.
unsafe fn lend_out_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "lendOut";
    let a = args(env, info)?;
    let out = f64_array(env, a[0], F, 1, "out")?;
    let fresh = opt_bool(env, a[1], F, 2, "fresh", false)?;
    let id = crate::lease::lend(out.0, out.1, fresh);
    let mut v = ptr::null_mut();
    check(napi_create_double(env, id as f64, &mut v), "napi_create_double")?;
    Ok(v)
}

/// viewLength(out): the numbers a Float64Array holds now, as the engine sees it (0 once its
/// buffer is detached or shrunk below it). The scheduler checks the caller's output with it
/// rather than with `out.length`, which a getter of the caller's can answer, and which
/// optimized code of this V8 was seen to answer from before a detach.
unsafe fn view_length_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    let a = args(env, info)?;
    let out = f64_array(env, a[0], "viewLength", 1, "out")?;
    let mut v = ptr::null_mut();
    check(napi_create_double(env, out.1 as f64, &mut v), "napi_create_double")?;
    Ok(v)
}

/// adviseHugePages(out): asks Linux for transparent huge pages over the 2 MiB-aligned part of a
/// new output (madvise MADV_HUGEPAGE; THP's 'madvise' mode), before anything touches it: one
/// page fault per 2 MiB instead of 512. Returns the bytes advised (0 where it does not apply).
/// For memory mapped on its own: the advice stays on the range after the array is freed.
unsafe fn advise_huge_pages_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    let a = args(env, info)?;
    let out = f64_array(env, a[0], "adviseHugePages", 1, "out")?;
    let advised = crate::pages::advise_huge(out.0 as usize, out.1 * 8);
    let mut v = ptr::null_mut();
    check(napi_create_double(env, advised as f64, &mut v), "napi_create_double")?;
    Ok(v)
}

/// leaseCounts(): [leases lent so far, leases active now] (lease.rs), for tests and diagnostics.
unsafe fn lease_counts_impl(env: napi_env, _info: napi_callback_info) -> R<napi_value> {
    let (lent, active) = crate::lease::counts();
    stats_array(env, &[lent as f64, active as f64, 0.0, 0.0, 0.0])
}

/// endLease(id): revokes a lease once no thread writes through it any more.
unsafe fn end_lease_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    let a = args(env, info)?;
    crate::lease::end(int53(env, a[0], "endLease", 1, "lease")?);
    undefined(env)
}

/// sampleRowsLent(job, seed, block, rows, maxProposals, lease, at): sampleRows into the lent
/// output `lease`, at its number `at` (a pool thread's write into the calling thread's output);
/// null, with nothing drawn, when the lease has ended (the lender took its output back).
unsafe fn sample_rows_lent_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "sampleRowsLent";
    let a = args(env, info)?;
    let jb = f64_array(env, a[0], F, 1, "job")?;
    let seed = int53(env, a[1], F, 2, "seed")?;
    let block = int53(env, a[2], F, 3, "block")?;
    let rows = int53(env, a[3], F, 4, "rows")?;
    let max_props = int53(env, a[4], F, 5, "maxProposals")?;
    let lease = int53(env, a[5], F, 6, "lease")?;
    let at = int53(env, a[6], F, 7, "at")?;
    // (the job cannot lie in the lent output: the scheduler lends only an output sample() made)
    let job = job_arg(F, jb, &[], rows_work(rows, max_props))?;
    let rows = usize::try_from(rows).map_err(|_| JsErr::Range(format!("{F}: too many rows")))?;
    let len = rows.checked_mul(job.dim()).ok_or_else(|| JsErr::Range(format!("{F}: too many rows")))?;
    let at = usize::try_from(at).map_err(|_| JsErr::Range(format!("{F}: at too large")))?;
    // (fresh memory: plain stores, see lease::lend)
    let st = crate::lease::write(lease, at, len, |out, fresh| crate::kernel::try_sample_rows(&job, seed, block, rows, max_props, out, fresh))
        .map_err(|e| JsErr::Error(format!("{F}: {e}")))?;
    match st {
        Some(st) => stats_array(env, &st.map_err(JsErr::Error)?),
        None => null(env),
    }
}

unsafe fn propose_block_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "proposeBlock";
    let a = args(env, info)?;
    let jb = f64_array(env, a[0], F, 1, "job")?;
    let seed = int53(env, a[1], F, 2, "seed")?;
    let block = int53(env, a[2], F, 3, "block")?;
    let n = int53(env, a[3], F, 4, "nProposals")?;
    let xs = f64_array(env, a[4], F, 5, "xsOut")?;
    let lq = f64_array(env, a[5], F, 6, "logqOut")?;
    if overlaps(xs, lq) {
        return Err(JsErr::Error(format!("{F}: xsOut and logqOut must not share memory")));
    }
    let job = job_arg(F, jb, &[xs, lq], Work::default())?;
    let n = usize::try_from(n).map_err(|_| JsErr::Range(format!("{F}: nProposals too large")))?;
    let nd = n.checked_mul(job.dim());
    need(F, 5, "xsOut", xs.1, nd)?;
    need(F, 6, "logqOut", lq.1, Some(n))?;
    let nd = nd.unwrap_or(0);
    let xs_s = &mut out_slice(xs)[..nd];
    let lq_s = &mut out_slice(lq)[..n];
    crate::kernel::try_propose_block(&job, seed, block, xs_s, lq_s).map_err(JsErr::Error)?;
    undefined(env)
}

unsafe fn accept_block_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "acceptBlock";
    let a = args(env, info)?;
    let jb = f64_array(env, a[0], F, 1, "job")?;
    let seed = int53(env, a[1], F, 2, "seed")?;
    let block = int53(env, a[2], F, 3, "block")?;
    let xs = f64_array(env, a[3], F, 4, "xs")?;
    let lq = f64_array(env, a[4], F, 5, "logq")?;
    let lp = f64_array(env, a[5], F, 6, "logp")?;
    let out = f64_array(env, a[6], F, 7, "out")?;
    let job = job_arg(F, jb, &[out], Work::default())?;
    let n = lq.1;
    if lp.1 != n || n.checked_mul(job.dim()) != Some(xs.1) {
        return Err(JsErr::Error(format!(
            "{F}: xs, logq and logp disagree in length (xs {}, logq {}, logp {}, d {})",
            xs.1,
            lq.1,
            lp.1,
            job.dim()
        )));
    }
    need(F, 7, "out", out.1, Some(xs.1))?;
    let xs_i = Input::new(xs, &[out]);
    let lq_i = Input::new(lq, &[out]);
    let lp_i = Input::new(lp, &[out]);
    let st = crate::kernel::try_accept_block(&job, seed, block, xs_i.get(), lq_i.get(), lp_i.get(), out_slice(out))
        .map_err(JsErr::Error)?;
    stats_array(env, &st)
}

/// copyRows(src, dst): src into the front of dst (see copy.rs).
unsafe fn copy_rows_impl(env: napi_env, info: napi_callback_info) -> R<napi_value> {
    const F: &str = "copyRows";
    let a = args(env, info)?;
    let src = f64_array(env, a[0], F, 1, "src")?;
    let dst = f64_array(env, a[1], F, 2, "dst")?;
    need(F, 2, "dst", dst.1, Some(src.1))?;
    let src = Input::new(src, &[dst]);
    crate::copy::copy_rows(crate::rng::simd(), src.get(), out_slice(dst));
    undefined(env)
}

/// What the module's exports mean (PROTOCOL.md): the TypeScript side refuses a module built
/// from another revision of it. 2: sampleRowsLent returns null through an ended lease. 3:
/// lendOut's `fresh`, adviseHugePages.
const PROTOCOL: u32 = 3;

unsafe fn kernel_info_impl(env: napi_env, _info: napi_callback_info) -> R<napi_value> {
    let s = format!(
        "{{\"simd\":\"{}\",\"version\":\"{}\",\"protocol\":{}}}",
        crate::kernel::simd_level(),
        env!("CARGO_PKG_VERSION"),
        PROTOCOL
    );
    let mut v = ptr::null_mut();
    check(
        napi_create_string_utf8(env, s.as_ptr() as *const c_char, s.len(), &mut v),
        "napi_create_string_utf8",
    )?;
    Ok(v)
}

macro_rules! export {
    ($name:ident, $imp:ident) => {
        unsafe extern "C" fn $name(env: napi_env, info: napi_callback_info) -> napi_value {
            match $imp(env, info) {
                Ok(v) => v,
                Err(e) => {
                    throw(env, e);
                    ptr::null_mut()
                }
            }
        }
    };
}

export!(js_uniforms, uniforms_impl);
export!(js_sample_dist, sample_dist_impl);
export!(js_logpdf_dist, logpdf_dist_impl);
export!(js_eval_expr, eval_expr_impl);
export!(js_sample_block, sample_block_impl);
export!(js_sample_rows, sample_rows_impl);
export!(js_propose_block, propose_block_impl);
export!(js_accept_block, accept_block_impl);
export!(js_kernel_info, kernel_info_impl);
export!(js_copy_rows, copy_rows_impl);
export!(js_lend_out, lend_out_impl);
export!(js_end_lease, end_lease_impl);
export!(js_view_length, view_length_impl);
export!(js_advise_huge_pages, advise_huge_pages_impl);
export!(js_lease_counts, lease_counts_impl);
export!(js_sample_rows_lent, sample_rows_lent_impl);

unsafe fn register(env: napi_env, exports: napi_value) -> R<()> {
    let table: [(&str, unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value); 16] = [
        ("uniforms", js_uniforms),
        ("sampleDist", js_sample_dist),
        ("logpdfDist", js_logpdf_dist),
        ("evalExpr", js_eval_expr),
        ("sampleBlock", js_sample_block),
        ("sampleRows", js_sample_rows),
        ("proposeBlock", js_propose_block),
        ("acceptBlock", js_accept_block),
        ("kernelInfo", js_kernel_info),
        ("copyRows", js_copy_rows),
        ("lendOut", js_lend_out),
        ("endLease", js_end_lease),
        ("viewLength", js_view_length),
        ("adviseHugePages", js_advise_huge_pages),
        ("leaseCounts", js_lease_counts),
        ("sampleRowsLent", js_sample_rows_lent),
    ];
    for (name, f) in table {
        let c = cstring(name);
        let mut fv = ptr::null_mut();
        check(
            napi_create_function(env, c.as_ptr(), name.len(), Some(f), ptr::null_mut(), &mut fv),
            "napi_create_function",
        )?;
        check(napi_set_named_property(env, exports, c.as_ptr(), fv), "napi_set_named_property")?;
    }
    // Once per thread (Node refuses the same hook twice): when this environment is torn down,
    // a terminated worker thread's leases end (lease.rs end_all_of_this_thread).
    if !CLEANUP_HOOKED.with(|h| h.replace(true)) {
        check(napi_add_env_cleanup_hook(env, Some(end_leases_hook), ptr::null_mut()), "napi_add_env_cleanup_hook")?;
    }
    Ok(())
}

thread_local! {
    static CLEANUP_HOOKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

unsafe extern "C" fn end_leases_hook(_arg: *mut c_void) {
    crate::lease::end_all_of_this_thread();
}

/// Module entry point (context-aware: called once per environment / worker).
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    if let Err(e) = register(env, exports) {
        throw(env, e);
    }
    exports
}
