//! Bulk copies of accepted rows into a caller's output: the kernel's staged rows (kernel.rs,
//! `Sink`), and the pooled scheduler's copies of pool workers' blocks into a plain output.
//!
//! Why native: a block is ~0.25 MB, written into an output that is usually far bigger than the
//! caches and not read again soon. Ordinary stores read every destination line
//! before writing it (read for ownership) and push the ring out of cache; non-temporal stores
//! write whole lines straight to memory. TypedArray.prototype.set cannot choose, and on shared
//! memory it copies word by word.

use crate::rng::Simd;

/// Copies below this many bytes use plain stores: the destination may stay in cache.
pub const STREAM_MIN_BYTES: usize = 64 * 1024;

/// Copies `src` into the front of `dst` (`dst.len() >= src.len()`, no overlap).
pub fn copy_rows(level: Simd, src: &[f64], dst: &mut [f64]) {
    if src.len() * 8 < STREAM_MIN_BYTES {
        dst[..src.len()].copy_from_slice(src);
    } else {
        stream_rows(level, src, dst);
    }
}

/// `copy_rows` with streaming stores whatever the size.
pub fn stream_rows(level: Simd, src: &[f64], dst: &mut [f64]) {
    let dst = &mut dst[..src.len()];
    #[cfg(target_arch = "x86_64")]
    unsafe {
        match level {
            Simd::Avx512 => return stream_avx512(src, dst),
            Simd::Avx2 => return stream_avx2(src, dst),
            _ => {}
        }
    }
    dst.copy_from_slice(src);
}

/// Plain stores up to the first `align`-byte boundary of dst, then `step` lanes at a time with
/// non-temporal stores, then the tail; the fence orders the streamed stores before the caller
/// publishes the rows to other threads.
#[cfg(target_arch = "x86_64")]
macro_rules! stream_copy {
    ($src:ident, $dst:ident, $align:expr, $step:expr, $load:ident, $stream:ident) => {{
        use std::arch::x86_64::*;
        let n = $src.len();
        let mis = ($dst.as_ptr() as usize / 8) % ($align / 8);
        let head = if mis == 0 { 0 } else { ($align / 8 - mis).min(n) };
        $dst[..head].copy_from_slice(&$src[..head]);
        let mut i = head;
        while i + $step <= n {
            $stream($dst.as_mut_ptr().add(i), $load($src.as_ptr().add(i)));
            i += $step;
        }
        $dst[i..].copy_from_slice(&$src[i..]);
        _mm_sfence();
    }};
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn stream_avx512(src: &[f64], dst: &mut [f64]) {
    stream_copy!(src, dst, 64, 8, _mm512_loadu_pd, _mm512_stream_pd)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn stream_avx2(src: &[f64], dst: &mut [f64]) {
    stream_copy!(src, dst, 32, 4, _mm256_loadu_pd, _mm256_stream_pd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_length_and_alignment_on_every_level() {
        let src: Vec<f64> = (0..20_000).map(|i| i as f64 * 0.5 - 3.0).collect();
        for level in Simd::available() {
            for &len in &[0usize, 1, 7, 8, 9, 8191, 8192, 8193, 19_997] {
                for off in 0..9 {
                    let mut dst = vec![-1.0; len + off + 5];
                    copy_rows(level, &src[..len], &mut dst[off..]);
                    assert!(dst[..off].iter().all(|&v| v == -1.0), "{level:?} len {len} off {off}: head touched");
                    assert_eq!(&dst[off..off + len], &src[..len], "{level:?} len {len} off {off}");
                    assert!(dst[off + len..].iter().all(|&v| v == -1.0), "{level:?} len {len} off {off}: tail touched");
                }
            }
        }
    }
}
