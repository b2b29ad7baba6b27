//! Output leases: the calling thread lends its plain (non-shared) output buffer to pool
//! threads for one run, so they write their blocks straight into it instead of into ring
//! slots the calling thread then copies from (a tenth to a fifth of a two-thread run of a
//! cheap target). Node core does the same when it fills a caller's buffer off the main
//! thread (crypto.randomFill, fs.read): worker threads share the process's memory, only
//! JavaScript cannot reach another thread's ArrayBuffer.
//!
//! A pool thread never sees an address: it names a lease by its id, and every write is
//! checked against the lent length. Ids run up to 2^31 - 1 (they travel in an Int32 word of
//! the run's ring) before they wrap, so a stale id finds nothing.
//! `end` revokes a lease and returns only once no thread is writing through it, so once the
//! calling thread has ended the lease, the buffer is its own again. The caller must keep the
//! buffer alive and attached (not transferred) until then: a lease holds an address, not the
//! memory, and a transferred buffer's new owner may free it. So the scheduler lends an output
//! only while no other code can reach it: the one sample() allocates itself for the whole run,
//! a caller's own only while the calling thread runs without yielding to other code, ending
//! the lease before every await (scheduler.ts). A write through a lease ended meanwhile does
//! nothing and says so (`Ok(None)`): the pool thread waits for the next lease.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

struct Lease {
    id: u64,
    /// address and length (in f64s) of the lent buffer
    at: usize,
    len: usize,
    /// memory nothing has written yet (`lend`)
    fresh: bool,
    /// the lending thread (`owner`)
    owner: u64,
    /// threads inside `write` on it now
    writers: usize,
    /// set by `end`: no new writes
    revoked: bool,
}

static LEASES: Mutex<Vec<Lease>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static OWNER: u64 = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
}

/// This thread's number, as a lender.
fn owner() -> u64 {
    OWNER.with(|o| *o)
}

/// Ids are 1..=MAX_ID, then wrap: a lease lives for one stretch of a run, long gone by then.
const MAX_ID: u64 = (1 << 31) - 1;

fn leases() -> std::sync::MutexGuard<'static, Vec<Lease>> {
    // A writer never panics while holding the lock (only plain bookkeeping runs under it),
    // so a poisoned lock still holds a consistent table.
    LEASES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lends `len` f64s at `ptr`; returns the lease id, in 1..=2^31 - 1. `fresh`: memory nothing
/// has written yet (a new array): writers are told so, and use plain stores, which beat
/// streaming ones on pages touched for the first time (kernel.rs `Sink`).
///
/// # Safety
/// `ptr` must be valid for reads and writes of `len` f64s, and stay so until `end` returns for
/// this lease; nobody may access the range that `write` hands out while it runs.
pub unsafe fn lend(ptr: *mut f64, len: usize, fresh: bool) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed) % MAX_ID + 1;
    let mut table = leases();
    // An entry 2^31 - 1 leases old with this id can only be one never ended: its lender's
    // thread was terminated mid-run (its pool threads were stopped with it). Gone, so that
    // this id finds the new buffer, not the freed one.
    table.retain(|l| l.id != id);
    table.push(Lease { id, at: ptr as usize, len, fresh, owner: owner(), writers: 0, revoked: false });
    id
}

/// Decrements the writer count of lease `id` when a write ends, even by unwinding.
struct Writing(u64);
impl Drop for Writing {
    fn drop(&mut self) {
        if let Some(l) = leases().iter_mut().find(|l| l.id == self.0) {
            l.writers -= 1;
        }
    }
}

/// Runs `f` on f64s [from, from + len) of lease `id`, and whether they are fresh (`lend`);
/// `Ok(None)` without running it when the lease is unknown or ended (the lender took its buffer
/// back). Fails when the range lies outside the lent length.
pub fn write<R>(id: u64, from: usize, len: usize, f: impl FnOnce(&mut [f64], bool) -> R) -> Result<Option<R>, String> {
    let (ptr, fresh) = {
        let mut table = leases();
        let l = match table.iter_mut().find(|l| l.id == id) {
            Some(l) if !l.revoked => l,
            _ => return Ok(None),
        };
        match from.checked_add(len) {
            Some(end) if end <= l.len => {}
            _ => return Err(format!("rows [{from}, {from} + {len}) lie outside the lent output of {} numbers", l.len)),
        }
        l.writers += 1;
        ((l.at as *mut f64).wrapping_add(from), l.fresh)
    };
    let _writing = Writing(id);
    // SAFETY: `lend`'s contract keeps the range valid until `end`, which waits for this write
    // (writers > 0); callers write disjoint ranges (one block each), and the calling thread
    // does not touch a lent block's range until the block is published.
    let rows = unsafe { std::slice::from_raw_parts_mut(if len == 0 { std::ptr::NonNull::dangling().as_ptr() } else { ptr }, len) };
    Ok(Some(f(rows, fresh)))
}

/// Leases lent so far (in this process) and leases active now: what tests and diagnostics see
/// of the table.
pub fn counts() -> (u64, usize) {
    (NEXT_ID.load(Ordering::Relaxed), leases().iter().filter(|l| !l.revoked).count())
}

/// Revokes lease `id` and returns once no write through it is running. Unknown ids are a no-op.
pub fn end(id: u64) {
    loop {
        {
            let mut table = leases();
            let Some(i) = table.iter().position(|l| l.id == id) else { return };
            table[i].revoked = true;
            if table[i].writers == 0 {
                table.swap_remove(i);
                return;
            }
        }
        // A pool thread is still in a block (the scheduler waits for them before it ends a
        // lease, so this is a safety net, not a path taken).
        std::thread::yield_now();
    }
}

/// Ends every lease this thread lent, each once no write through it runs: for a thread whose
/// JavaScript environment is being torn down (a terminated worker thread) in mid-run, so that
/// its buffers are not freed under a write, and its entries do not stay in the table for good.
pub fn end_all_of_this_thread() {
    let me = owner();
    let mine: Vec<u64> = leases().iter().filter(|l| l.owner == me).map(|l| l.id).collect();
    for id in mine {
        end(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn threads_write_disjoint_ranges_of_a_lent_buffer() {
        let mut buf = vec![0.0f64; 4 * 1000];
        let id = unsafe { lend(buf.as_mut_ptr(), buf.len(), false) };
        std::thread::scope(|s| {
            for t in 0..4usize {
                s.spawn(move || {
                    write(id, t * 1000, 1000, |rows, _| {
                        for (i, x) in rows.iter_mut().enumerate() {
                            *x = (t * 1000 + i) as f64;
                        }
                    })
                    .unwrap()
                    .unwrap();
                });
            }
        });
        end(id);
        assert!(buf.iter().enumerate().all(|(i, &x)| x == i as f64));
    }

    #[test]
    fn writes_outside_the_buffer_fail_and_after_end_do_nothing() {
        let mut buf = vec![0.0f64; 10];
        let id = unsafe { lend(buf.as_mut_ptr(), buf.len(), false) };
        assert!(write(id, 8, 3, |_, _| ()).unwrap_err().contains("outside"));
        assert!(write(id, usize::MAX, 2, |_, _| ()).unwrap_err().contains("outside"));
        assert_eq!(write(id, 10, 0, |r, _| r.len()), Ok(Some(0)));
        // writers are told whether the lender said the memory is fresh
        assert_eq!(write(id, 0, 1, |_, fresh| fresh), Ok(Some(false)));
        let fresh = unsafe { lend(buf.as_mut_ptr(), buf.len(), true) };
        assert_eq!(write(fresh, 0, 1, |_, fresh| fresh), Ok(Some(true)));
        end(fresh);
        end(id);
        assert_eq!(write(id, 0, 1, |r, _| r.fill(1.0)), Ok(None));
        // ids are not reused: a new lease of the same memory gets another one
        let id2 = unsafe { lend(buf.as_mut_ptr(), buf.len(), false) };
        assert_ne!(id, id2);
        assert!((1..=MAX_ID).contains(&id2));
        assert_eq!(write(id, 0, 1, |r, _| r.fill(1.0)), Ok(None));
        end(id2);
        end(id2); // ending twice is harmless
        assert!(buf.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn a_thread_ends_its_own_leases_only() {
        let mut a = vec![0.0f64; 8];
        let mut b = vec![0.0f64; 8];
        let mine = unsafe { lend(a.as_mut_ptr(), a.len(), false) };
        let (pa, la) = (b.as_mut_ptr() as usize, b.len());
        let theirs = std::thread::spawn(move || unsafe { lend(pa as *mut f64, la, false) }).join().unwrap();
        end_all_of_this_thread();
        assert_eq!(write(mine, 0, 1, |_, _| ()), Ok(None));
        assert_eq!(write(theirs, 0, 1, |r, _| r[0] = 1.0), Ok(Some(())));
        end(theirs);
        assert_eq!(b[0], 1.0);
    }

    #[test]
    fn end_waits_for_a_running_write() {
        let mut buf = vec![0.0f64; 16];
        let id = unsafe { lend(buf.as_mut_ptr(), buf.len(), false) };
        let inside = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        std::thread::scope(|s| {
            let (inside2, finished2) = (inside.clone(), finished.clone());
            s.spawn(move || {
                write(id, 0, 16, |rows, _| {
                    inside2.store(true, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    rows.fill(1.0);
                    finished2.store(true, Ordering::SeqCst);
                })
                .unwrap()
                .unwrap();
            });
            while !inside.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            end(id);
            // end returned: the write must be over
            assert!(finished.load(Ordering::SeqCst));
        });
        assert!(buf.iter().all(|&x| x == 1.0));
    }
}
