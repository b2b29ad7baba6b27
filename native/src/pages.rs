//! Huge pages for new outputs. The first touch of a 4 KiB page cost ~2 us on these VMs, more
//! than sampling the rows it holds; with transparent huge pages ('madvise' mode, the common
//! default) a new output can ask for 2 MiB pages, one fault each.

/// MADV_HUGEPAGE (linux/mman.h).
#[cfg(target_os = "linux")]
const MADV_HUGEPAGE: i32 = 14;

/// Huge pages: 2 MiB on x86-64 and arm64 with 4 KiB base pages.
const HUGE: usize = 2 << 20;

#[cfg(target_os = "linux")]
extern "C" {
    fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
}

/// Advises huge pages over the whole 2 MiB pages inside [at, at + bytes); returns the bytes
/// advised (0 when none fit, the call failed, or the platform has no such advice). Only
/// advice: the memory and its contents are unchanged whatever the kernel does with it.
pub fn advise_huge(at: usize, bytes: usize) -> usize {
    let start = at.div_ceil(HUGE) * HUGE;
    let end = at.saturating_add(bytes) / HUGE * HUGE;
    if end <= start {
        return 0;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: madvise with MADV_HUGEPAGE changes no contents and no protection; the range
        // lies inside memory the caller holds (an ArrayBuffer's backing store).
        if unsafe { madvise(start as *mut std::ffi::c_void, end - start, MADV_HUGEPAGE) } == 0 {
            return end - start;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advises_only_whole_huge_pages_inside_the_range() {
        assert_eq!(advise_huge(HUGE + 1, HUGE), 0); // no whole huge page inside
        let mut v = vec![0u8; 5 * HUGE];
        let at = v.as_mut_ptr() as usize;
        let got = advise_huge(at, v.len());
        // 3 or 4 whole pages fit, or 0 where THP is off
        assert!(got == 0 || got == 3 * HUGE || got == 4 * HUGE, "{got}");
        v[HUGE] = 1;
        assert_eq!(v.iter().map(|&b| b as usize).sum::<usize>(), 1);
    }
}
