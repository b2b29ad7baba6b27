//! Random streams: 8-lane xoshiro256++ (PROTOCOL.md §1).
//!
//! The stream's output interleaves eight independent xoshiro256++ lanes round-robin:
//! `x[8k + l]` is lane l's k-th output. The state is kept lane-major per word (`s[w][l]`) so
//! that one step of all eight lanes is a straight-line loop LLVM turns into vector code:
//! 4 zmm registers with AVX-512, 2x4 ymm with AVX2. The wide paths are compiled with
//! `#[target_feature]` and chosen at run time (never `-C target-cpu=native`); every path
//! produces the same sequence bit for bit.

#![allow(clippy::needless_range_loop)]

use std::sync::atomic::{AtomicU8, Ordering};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `mix64(seed + GOLDEN) ^ mix64(stream * 16 + sub * 8 + l + 0xD1B54A32D192ED03)`
#[inline]
pub fn lane_key(seed: u64, stream: u64, sub: u64, lane: u64) -> u64 {
    mix64(seed.wrapping_add(GOLDEN))
        ^ mix64(
            stream
                .wrapping_mul(16)
                .wrapping_add(sub.wrapping_mul(8))
                .wrapping_add(lane)
                .wrapping_add(0xD1B5_4A32_D192_ED03),
        )
}

/// The four state words of one lane (PROTOCOL.md §1).
pub fn lane_state(seed: u64, stream: u64, sub: u64, lane: u64) -> [u64; 4] {
    let mut sm = lane_key(seed, stream, sub, lane);
    let mut s = [0u64; 4];
    for w in s.iter_mut() {
        sm = sm.wrapping_add(GOLDEN);
        *w = mix64(sm);
    }
    if s == [0; 4] {
        s[0] = 1;
    }
    s
}

/// ((x >> 12) + 0.5) * 2^-52: exact (no rounding), in [2^-53, 1 - 2^-53], so never 0 or 1.
/// (With 53 bits, ((x >> 11) + 0.5) * 2^-53 rounds to exactly 1.0 for the largest x.)
#[inline(always)]
pub fn u64_to_open01(x: u64) -> f64 {
    ((x >> 12) as f64 + 0.5) * (1.0 / 4503599627370496.0)
}

/// Same value as `u64_to_open01`, computed with integer/bit operations only, so it vectorizes
/// without a 64-bit integer -> double conversion instruction (AVX2 has none).
/// With h = x >> 12: `from_bits(1.0 | h) - 1` is exactly h 2^-52, and h 2^-52 + 2^-53 =
/// (2h + 1) 2^-53 is representable, so both formulas give the same exact value.
#[inline(always)]
pub fn u64_to_open01_bits(x: u64) -> f64 {
    let m = f64::from_bits(0x3FF0_0000_0000_0000 | (x >> 12)) - 1.0;
    m + 1.0 / 9007199254740992.0
}

// ---------------------------------------------------------------------------------------------
// SIMD level detection (shared by fastmath, expr and kernel).

/// Vector code path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    Scalar = 1,
    Avx2 = 2,
    Avx512 = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(0);

fn detect() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if std::env::var("RSFT_SIMD").map(|v| v == "scalar").unwrap_or(false) {
            return Simd::Scalar;
        }
        let force_avx2 = std::env::var("RSFT_SIMD").map(|v| v == "avx2").unwrap_or(false);
        if !force_avx2
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
        {
            return Simd::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Simd::Avx2;
        }
    }
    Simd::Scalar
}

/// The widest path this CPU runs (detected once, then cached). `RSFT_SIMD=scalar|avx2` in the
/// environment caps it (read once, at first use).
#[inline]
pub fn simd() -> Simd {
    match LEVEL.load(Ordering::Relaxed) {
        1 => Simd::Scalar,
        2 => Simd::Avx2,
        3 => Simd::Avx512,
        _ => {
            let l = detect();
            LEVEL.store(l as u8, Ordering::Relaxed);
            l
        }
    }
}

impl Simd {
    pub fn name(self) -> &'static str {
        match self {
            Simd::Scalar => "scalar",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        }
    }
    /// All levels this CPU can run, narrowest first (for tests and benchmarks).
    pub fn available() -> Vec<Simd> {
        let top = simd();
        [Simd::Scalar, Simd::Avx2, Simd::Avx512].into_iter().filter(|&l| l <= top).collect()
    }
}

/// Expands to a run-time dispatch of `$body` (an expression using the function's arguments)
/// compiled three times: plain, with AVX2+FMA and with AVX-512. The body should be
/// `#[inline(always)]` scalar code; the target_feature attribute lets LLVM vectorize it.
/// FMA is enabled but Rust never contracts a*b+c on its own, so results are identical.
#[macro_export]
macro_rules! simd_dispatch {
    ($level:expr, fn($($arg:ident : $ty:ty),*) -> $ret:ty $body:block) => {{
        #[allow(unused_unsafe)]
        {
            #[inline(never)]
            fn _plain($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            #[inline(never)]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn _avx2($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            #[inline(never)]
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
            unsafe fn _avx512($($arg: $ty),*) -> $ret $body
            match $level {
                #[cfg(target_arch = "x86_64")]
                $crate::rng::Simd::Avx512 => unsafe { _avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                $crate::rng::Simd::Avx2 => unsafe { _avx2($($arg),*) },
                _ => _plain($($arg),*),
            }
        }
    }};
}

// ---------------------------------------------------------------------------------------------

pub(crate) type State = [[u64; 8]; 4];

/// Number of outputs buffered for `next_u64` (refilled with the bulk path).
const BUF: usize = 256;

/// Lane-outer scalar bulk: each lane's four words stay in registers while it writes its
/// outputs with stride 8 (8 lanes x 32 words would not fit the general registers at once).
#[inline(always)]
fn scalar_bulk<T: Copy, F: Fn(u64) -> T>(st: &mut State, out: &mut [T], conv: F) {
    debug_assert!(out.len() % 8 == 0);
    for blk in out.chunks_mut(1024) {
        for l in 0..8 {
            let (mut a, mut b, mut c, mut d) = (st[0][l], st[1][l], st[2][l], st[3][l]);
            let mut i = l;
            while i < blk.len() {
                blk[i] = conv(a.wrapping_add(d).rotate_left(23).wrapping_add(a));
                let t = b << 17;
                c ^= a;
                d ^= b;
                b ^= c;
                a ^= d;
                c ^= t;
                d = d.rotate_left(45);
                i += 8;
            }
            st[0][l] = a;
            st[1][l] = b;
            st[2][l] = c;
            st[3][l] = d;
        }
    }
}

/// All eight lanes per step, written so LLVM keeps each state word in one zmm register.
#[inline(always)]
fn wide_bulk<T: Copy, F: Fn(u64) -> T>(st: &mut State, out: &mut [T], conv: F) {
    let [mut s0, mut s1, mut s2, mut s3] = *st;
    for chunk in out.chunks_exact_mut(8) {
        for l in 0..8 {
            chunk[l] = conv(s0[l].wrapping_add(s3[l]).rotate_left(23).wrapping_add(s0[l]));
        }
        for l in 0..8 {
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
        }
    }
    *st = [s0, s1, s2, s3];
}

/// xoshiro256++ on 8 lanes held in AVX-512 registers, one register per state word (`State`'s
/// layout), for loops that draw their uniforms as they go (the ziggurat's first pass, the
/// squeeze decide loop) instead of filling a buffer first. Same sequence as `wide_bulk`.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use super::State;
    use std::arch::x86_64::*;

    pub(crate) type Regs = [__m512i; 4];

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn load(st: &State) -> Regs {
        let p = st.as_ptr() as *const __m512i;
        [_mm512_loadu_si512(p as *const _), _mm512_loadu_si512(p.add(1) as *const _), _mm512_loadu_si512(p.add(2) as *const _), _mm512_loadu_si512(p.add(3) as *const _)]
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn store(st: &mut State, s: &Regs) {
        let p = st.as_mut_ptr() as *mut __m512i;
        for (w, v) in s.iter().enumerate() {
            _mm512_storeu_si512(p.add(w) as *mut _, *v);
        }
    }

    /// The next 8 outputs (from the old state), then the step.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn next(s: &mut Regs) -> __m512i {
        let [s0, s1, s2, s3] = *s;
        let out = _mm512_add_epi64(_mm512_rol_epi64::<23>(_mm512_add_epi64(s0, s3)), s0);
        // the step with three-way XORs (vpternlogq 0x96): s0 ^= s3 ^ s1, s1 ^= s2 ^ s0,
        // s2 ^= s0 ^ (s1 << 17), s3 = rotl(s3 ^ s1, 45), all on the old values
        let t17 = _mm512_slli_epi64::<17>(s1);
        *s = [
            _mm512_ternarylogic_epi64::<0x96>(s0, s3, s1),
            _mm512_ternarylogic_epi64::<0x96>(s1, s2, s0),
            _mm512_ternarylogic_epi64::<0x96>(s2, s0, t17),
            _mm512_rol_epi64::<45>(_mm512_xor_si512(s3, s1)),
        ];
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::State;
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn rotl<const L: i32, const R: i32>(x: __m256i) -> __m256i {
        _mm256_or_si256(_mm256_slli_epi64::<L>(x), _mm256_srli_epi64::<R>(x))
    }

    /// Two groups of four lanes with explicit intrinsics (LLVM declines to vectorize the
    /// 64-bit rotates for AVX2 on its own). Writes `n8 * 8` outputs to `out_u` (if non-null)
    /// or converted uniforms to `out_f`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn bulk(st: &mut State, n8: usize, out_u: *mut u64, out_f: *mut f64) {
        let p = st.as_ptr() as *const __m256i;
        let mut s = [[_mm256_setzero_si256(); 2]; 4];
        for w in 0..4 {
            for h in 0..2 {
                s[w][h] = _mm256_loadu_si256(p.add(w * 2 + h));
            }
        }
        let one = _mm256_set1_pd(1.0);
        let onebits = _mm256_set1_epi64x(0x3FF0_0000_0000_0000);
        let half_ulp = _mm256_set1_pd(1.0 / 9007199254740992.0);
        for k in 0..n8 {
            for h in 0..2 {
                let (s0, s1, s2, s3) = (s[0][h], s[1][h], s[2][h], s[3][h]);
                let r = _mm256_add_epi64(rotl::<23, 41>(_mm256_add_epi64(s0, s3)), s0);
                if !out_u.is_null() {
                    _mm256_storeu_si256((out_u as *mut __m256i).add(2 * k + h), r);
                } else {
                    let m =
                        _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64::<12>(r), onebits)), one);
                    _mm256_storeu_pd(out_f.add(8 * k + 4 * h), _mm256_add_pd(m, half_ulp));
                }
                let t = _mm256_slli_epi64::<17>(s1);
                let s2 = _mm256_xor_si256(s2, s0);
                let s3 = _mm256_xor_si256(s3, s1);
                let s1 = _mm256_xor_si256(s1, s2);
                let s0 = _mm256_xor_si256(s0, s3);
                let s2 = _mm256_xor_si256(s2, t);
                let s3 = rotl::<45, 19>(s3);
                s[0][h] = s0;
                s[1][h] = s1;
                s[2][h] = s2;
                s[3][h] = s3;
            }
        }
        let p = st.as_mut_ptr() as *mut __m256i;
        for w in 0..4 {
            for h in 0..2 {
                _mm256_storeu_si256(p.add(w * 2 + h), s[w][h]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn avx512_bulk_u64(st: &mut State, out: &mut [u64]) {
    wide_bulk(st, out, |x| x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn avx512_bulk_f64(st: &mut State, out: &mut [f64]) {
    wide_bulk(st, out, u64_to_open01)
}

/// out.len() must be a multiple of 8.
fn bulk_u64(level: Simd, st: &mut State, out: &mut [u64]) {
    match level {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { avx512_bulk_u64(st, out) },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { avx2::bulk(st, out.len() / 8, out.as_mut_ptr(), std::ptr::null_mut()) },
        _ => scalar_bulk(st, out, |x| x),
    }
}

/// out.len() must be a multiple of 8.
fn bulk_f64(level: Simd, st: &mut State, out: &mut [f64]) {
    match level {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { avx512_bulk_f64(st, out) },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { avx2::bulk(st, out.len() / 8, std::ptr::null_mut(), out.as_mut_ptr()) },
        _ => scalar_bulk(st, out, u64_to_open01),
    }
}

/// A random stream `(seed, stream, sub)`.
///
/// Single draws come from a buffer of the next 256 outputs, refilled with the bulk (SIMD)
/// path; the sequence is the same however the draws are grouped.
#[derive(Clone)]
pub struct Stream {
    s: State,
    buf: [u64; BUF],
    /// Next unread index into `buf`; BUF = empty.
    pos: usize,
}

impl Stream {
    pub fn new(seed: u64, stream: u64, sub: u64) -> Stream {
        let mut s = [[0u64; 8]; 4];
        for l in 0..8 {
            let ls = lane_state(seed, stream, sub, l as u64);
            for w in 0..4 {
                s[w][l] = ls[w];
            }
        }
        Stream { s, buf: [0; BUF], pos: BUF }
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self) {
        bulk_u64(simd(), &mut self.s, &mut self.buf);
        self.pos = 0;
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        if self.pos >= BUF {
            self.refill();
        }
        // pos < BUF here; get() keeps the optimizer from doubting it.
        let x = match self.buf.get(self.pos) {
            Some(&x) => x,
            None => 0,
        };
        self.pos += 1;
        x
    }

    /// Uniform in the open interval (0, 1).
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        u64_to_open01(self.next_u64())
    }

    /// The buffered outputs first: fills `out[..k]` from the buffer and returns k (< out.len()
    /// only when the buffer is then empty). With `state_mut`, lets a caller generate the
    /// following outputs itself (8 lanes per step, as the bulk path does) inside its own loop.
    pub(crate) fn take_buffered(&mut self, out: &mut [u64]) -> usize {
        let take = (BUF - self.pos).min(out.len());
        out[..take].copy_from_slice(&self.buf[self.pos..self.pos + take]);
        self.pos += take;
        take
    }

    /// The eight lanes' states (state word w of lane l at `[w][l]`); valid to step directly
    /// only when the buffer is empty (after `take_buffered` returned less than asked).
    pub(crate) fn state_mut(&mut self) -> &mut State {
        &mut self.s
    }

    /// `fill_u64` for the few (< 8) outputs that follow a caller's own 8-lane steps
    /// (`state_mut`): with the buffer empty, steps the state once and keeps the unused outputs
    /// buffered (instead of refilling the whole buffer, which would leave the next bulk request
    /// starting mid-buffer). Same sequence either way.
    pub(crate) fn fill_u64_short(&mut self, out: &mut [u64]) {
        let k = out.len();
        if self.pos >= BUF && k < 8 {
            let mut tmp = [0u64; 8];
            bulk_u64(simd(), &mut self.s, &mut tmp);
            out.copy_from_slice(&tmp[..k]);
            self.buf[BUF - (8 - k)..].copy_from_slice(&tmp[k..]);
            self.pos = BUF - (8 - k);
        } else {
            self.fill_u64(out);
        }
    }

    /// Same sequence as repeated next_u64 calls.
    pub fn fill_u64(&mut self, out: &mut [u64]) {
        self.fill_u64_with(simd(), out)
    }

    /// Same sequence as repeated next_f64 calls.
    pub fn fill_f64(&mut self, out: &mut [f64]) {
        self.fill_f64_with(simd(), out)
    }

    /// `fill_u64` on an explicit code path (capped at what this CPU runs).
    pub fn fill_u64_with(&mut self, level: Simd, out: &mut [u64]) {
        let level = level.min(simd());
        let take = (BUF - self.pos).min(out.len());
        out[..take].copy_from_slice(&self.buf[self.pos..self.pos + take]);
        self.pos += take;
        let rest = &mut out[take..];
        let bulk = rest.len() / 8 * 8;
        if bulk > 0 {
            bulk_u64(level, &mut self.s, &mut rest[..bulk]);
        }
        for x in rest[bulk..].iter_mut() {
            *x = self.next_u64();
        }
    }

    /// `fill_f64` on an explicit code path (capped at what this CPU runs).
    pub fn fill_f64_with(&mut self, level: Simd, out: &mut [f64]) {
        let level = level.min(simd());
        let take = (BUF - self.pos).min(out.len());
        for (o, &x) in out[..take].iter_mut().zip(&self.buf[self.pos..self.pos + take]) {
            *o = u64_to_open01(x);
        }
        self.pos += take;
        let rest = &mut out[take..];
        let bulk = rest.len() / 8 * 8;
        if bulk > 0 {
            bulk_f64(level, &mut self.s, &mut rest[..bulk]);
        }
        for x in rest[bulk..].iter_mut() {
            *x = self.next_f64();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward reference: eight separate scalar xoshiro256++ generators, round-robin.
    struct Ref {
        s: [[u64; 4]; 8],
        n: usize,
    }
    impl Ref {
        fn new(seed: u64, stream: u64, sub: u64) -> Ref {
            let mut s = [[0; 4]; 8];
            for l in 0..8 {
                s[l] = lane_state(seed, stream, sub, l as u64);
            }
            Ref { s, n: 0 }
        }
        fn next(&mut self) -> u64 {
            let s = &mut self.s[self.n % 8];
            self.n += 1;
            let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
            let t = s[1] << 17;
            s[2] ^= s[0];
            s[3] ^= s[1];
            s[1] ^= s[2];
            s[0] ^= s[3];
            s[2] ^= t;
            s[3] = s[3].rotate_left(45);
            result
        }
    }

    // Known answers for (seed = 7, stream = 0, sub = 0), to cross-check the TypeScript port
    // (python-checked mix64/lane_key):
    //   lane_key(7,0,0,0) = 0xe1c25564a3df16c7
    //   lane 0 state = [0x7c9deda01ad229b2, 0x6499be1abb940860, 0x8bc946aaf325de45, 0x281b8f4d09099414]
    //   lane 7 state = [0x53dfc15dc62aa4f3, 0x069505575d9c8ad8, 0xd8dd4e21fe7bc4e5, 0x03f02820015f3c75]
    //   x[0..10] = f32fdb7efe248670 adde36c06afb9f0b 0334ae18aff85828 44963f5dca920f89
    //              5abbf8ce5c99d33c 414abe867135ffe7 d0f4b1c0fbde3bb0 12c3864e7a568ce7
    //              74171a4db5418cf9 7061c1a8734110d3
    //   u[0..10] = 0.9499489960709457, 0.6791719646234768, 0.012522583987420288,
    //              0.2679175952894825, 0.3544307235539244, 0.25504675657540327,
    //              0.8162337394859316, 0.07329596916164344, 0.45347751996201263,
    //              0.4389916454558754
    // Print them with `cargo test --release -p rsft-native rng::tests::print_kat -- --ignored --nocapture`.
    const KAT_LANE_KEY: u64 = 0xe1c25564a3df16c7;
    const KAT_LANE0: [u64; 4] = [0x7c9deda01ad229b2, 0x6499be1abb940860, 0x8bc946aaf325de45, 0x281b8f4d09099414];
    const KAT_U64: [u64; 10] = [
        0xf32fdb7efe248670,
        0xadde36c06afb9f0b,
        0x0334ae18aff85828,
        0x44963f5dca920f89,
        0x5abbf8ce5c99d33c,
        0x414abe867135ffe7,
        0xd0f4b1c0fbde3bb0,
        0x12c3864e7a568ce7,
        0x74171a4db5418cf9,
        0x7061c1a8734110d3,
    ];
    const KAT_F64: [f64; 10] = [
        0.9499489960709459,
        0.6791719646234767,
        0.012522583987420233,
        0.26791759528948245,
        0.35443072355392446,
        0.2550467565754032,
        0.8162337394859315,
        0.07329596916164338,
        0.4534775199620126,
        0.43899164545587543,
    ];

    #[test]
    #[ignore]
    fn print_kat() {
        println!("lane_key(7,0,0,0) = {:#018x}", lane_key(7, 0, 0, 0));
        for l in 0..8 {
            let s = lane_state(7, 0, 0, l);
            println!("lane {l} state = [{:#018x}, {:#018x}, {:#018x}, {:#018x}]", s[0], s[1], s[2], s[3]);
        }
        let mut r = Stream::new(7, 0, 0);
        for i in 0..10 {
            println!("x[{i}] = {:#018x}", r.next_u64());
        }
        let mut r = Stream::new(7, 0, 0);
        for i in 0..10 {
            println!("u[{i}] = {:?}", r.next_f64());
        }
    }

    #[test]
    fn known_answers() {
        assert_eq!(lane_key(7, 0, 0, 0), KAT_LANE_KEY);
        assert_eq!(lane_state(7, 0, 0, 0), KAT_LANE0);
        let mut r = Stream::new(7, 0, 0);
        for &x in KAT_U64.iter() {
            assert_eq!(r.next_u64(), x);
        }
        let mut r = Stream::new(7, 0, 0);
        for &u in KAT_F64.iter() {
            assert_eq!(r.next_f64(), u);
        }
    }

    /// Values produced by the TypeScript port (dist/sampling/rng.js `uniforms`).
    #[test]
    fn matches_typescript_port() {
        let mut r = Stream::new(123456789, 42, 1);
        let want =
            [0.9801264179130337, 0.7571421863754882, 0.4772177564781205, 0.9412203156217905, 0.11386851155810562];
        for &w in want.iter() {
            assert_eq!(r.next_f64(), w);
        }
    }

    #[test]
    fn matches_reference() {
        for &(seed, stream, sub) in &[(0u64, 0u64, 0u64), (7, 0, 0), (7, 3, 1), ((1 << 53) - 1, 12345, 1)] {
            let mut a = Stream::new(seed, stream, sub);
            let mut r = Ref::new(seed, stream, sub);
            for _ in 0..1000 {
                assert_eq!(a.next_u64(), r.next());
            }
        }
    }

    #[test]
    fn conversion_bit_trick_is_exact() {
        let mut r = Ref::new(1, 2, 0);
        let edge = [0u64, 1, 1 << 11, (1 << 11) - 1, 1 << 12, u64::MAX, u64::MAX - (1 << 11), 1 << 63, (1 << 63) - 1];
        for &x in edge.iter() {
            assert_eq!(u64_to_open01(x).to_bits(), u64_to_open01_bits(x).to_bits(), "{x:#x}");
        }
        for _ in 0..200_000 {
            let x = r.next();
            assert_eq!(u64_to_open01(x).to_bits(), u64_to_open01_bits(x).to_bits(), "{x:#x}");
        }
        assert!(u64_to_open01(0) > 0.0);
        assert!(u64_to_open01(u64::MAX) < 1.0);
    }

    #[test]
    fn fill_paths_agree() {
        for level in Simd::available() {
            for &n in &[0usize, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1001, 3000] {
                let mut r = Ref::new(9, 4, 1);
                let want: Vec<u64> = (0..n).map(|_| r.next()).collect();
                let mut a = Stream::new(9, 4, 1);
                let mut got = vec![0u64; n];
                a.fill_u64_with(level, &mut got);
                assert_eq!(got, want, "{level:?} n={n}");
                let mut b = Stream::new(9, 4, 1);
                let mut gotf = vec![0f64; n];
                b.fill_f64_with(level, &mut gotf);
                for i in 0..n {
                    assert_eq!(gotf[i].to_bits(), u64_to_open01(want[i]).to_bits());
                }
            }
        }
    }

    #[test]
    fn mixed_calls_one_sequence() {
        for level in Simd::available() {
            let mut r = Ref::new(123, 456, 0);
            let mut a = Stream::new(123, 456, 0);
            let pattern = [1usize, 0, 5, 3, 17, 2, 8, 1, 0, 33, 7, 64, 9, 1, 100, 300, 255, 513];
            for (k, &n) in pattern.iter().cycle().take(60).enumerate() {
                match k % 4 {
                    0 => {
                        for _ in 0..n {
                            assert_eq!(a.next_u64(), r.next());
                        }
                    }
                    1 => {
                        for _ in 0..n {
                            assert_eq!(a.next_f64(), u64_to_open01(r.next()));
                        }
                    }
                    2 => {
                        let mut v = vec![0f64; n];
                        a.fill_f64_with(level, &mut v);
                        for x in v {
                            assert_eq!(x, u64_to_open01(r.next()));
                        }
                    }
                    _ => {
                        let mut v = vec![0u64; n];
                        a.fill_u64_with(level, &mut v);
                        for x in v {
                            assert_eq!(x, r.next());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn uniforms_in_open_interval_mostly() {
        let mut a = Stream::new(5, 5, 0);
        let mut v = vec![0f64; 100_000];
        a.fill_f64(&mut v);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean - 0.5).abs() < 0.005);
        assert!(v.iter().all(|&u| u > 0.0 && u <= 1.0));
    }

    #[test]
    #[ignore]
    fn bench_rng() {
        let mut v = vec![0f64; 4096];
        let mut w = vec![0u64; 4096];
        for level in Simd::available() {
            let mut a = Stream::new(1, 2, 0);
            let reps = 30000;
            let t = std::time::Instant::now();
            for _ in 0..reps {
                a.fill_f64_with(level, &mut v);
            }
            let dt = t.elapsed().as_secs_f64();
            let t2 = std::time::Instant::now();
            for _ in 0..reps {
                a.fill_u64_with(level, &mut w);
            }
            let dt2 = t2.elapsed().as_secs_f64();
            println!(
                "{:?}: fill_f64 {:.2} G/s, fill_u64 {:.2} G/s (check {})",
                level,
                (reps * v.len()) as f64 / dt / 1e9,
                (reps * w.len()) as f64 / dt2 / 1e9,
                v[7] + w[3] as f64
            );
        }
        let mut a = Stream::new(1, 2, 0);
        let t = std::time::Instant::now();
        let mut acc = 0u64;
        for _ in 0..100_000_000 {
            acc = acc.wrapping_add(a.next_u64());
        }
        println!("next_u64 {:.2} G/s ({acc})", 0.1 / t.elapsed().as_secs_f64());
    }
}
