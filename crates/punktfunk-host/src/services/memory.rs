//! Giving a finished session's memory back to the system.
//!
//! Every session allocates on threads of its own (sender, capture, encoder, audio, input): glibc
//! serves those from per-thread arenas, and when the threads end their freed chunks stay resident in
//! the arenas' heaps — a 64 MB-aligned heap is only shrunk from its top, so a few live allocations
//! above the holes keep them all. Measured (tests/leak_e2e.rs, 320×240 sessions of both protocols):
//! ≈ 220 kB of resident memory per session pair that no later session reused, nearly all of it in
//! those arenas (their heaps grew; the main heap and file-backed mappings did not). Nothing leaked
//! (the same test under `malloc_trim` stays flat), so the host trims: shortly after a session ends,
//! `malloc_trim(0)` returns the free pages of every arena (`MADV_DONTNEED`, no copying).
//!
//! The trim runs on a thread of its own, at most once per [`TRIM_DELAY`], after the session's
//! teardown (display release, encoder, threads joined) has had time to finish however it is
//! ordered. And the host caps glibc's arenas at one per core ([`limit_arenas`], at start-up): its
//! default, eight per core, lets each new session thread open a fresh arena whose heap a few
//! long-lived allocations then pin, where with fewer arenas the next session reuses the freed
//! space.
// Needs `unsafe` for malloc_trim (libc); every block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// How long after a session ends the trim runs.
const TRIM_DELAY: Duration = Duration::from_secs(2);

struct Trimmer {
    pending: Mutex<bool>,
    wake: Condvar,
    started: AtomicBool,
}

fn trimmer() -> &'static Trimmer {
    static TRIMMER: OnceLock<Trimmer> = OnceLock::new();
    TRIMMER.get_or_init(|| Trimmer {
        pending: Mutex::new(false),
        wake: Condvar::new(),
        started: AtomicBool::new(false),
    })
}

/// A session ended: return freed memory to the system soon.
pub fn session_ended() {
    let t = trimmer();
    *t.pending.lock().unwrap_or_else(PoisonError::into_inner) = true;
    t.wake.notify_one();
    if !t.started.swap(true, Ordering::SeqCst) {
        let spawned = std::thread::Builder::new()
            .name("mem-trim".into())
            .spawn(|| run(trimmer()));
        if let Err(e) = spawned {
            tracing::debug!("no memory trim thread: {e}");
            t.started.store(false, Ordering::SeqCst);
        }
    }
}

fn run(t: &Trimmer) {
    loop {
        {
            let mut pending = t.pending.lock().unwrap_or_else(PoisonError::into_inner);
            while !*pending {
                pending = t.wake.wait(pending).unwrap_or_else(PoisonError::into_inner);
            }
            *pending = false;
        }
        std::thread::sleep(TRIM_DELAY);
        trim();
    }
}

/// Caps glibc's malloc arenas at one per core (at least 2), unless `MALLOC_ARENA_MAX` says
/// otherwise. Call it first thing, before threads allocate.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let arenas = i32::try_from(cores.max(2)).unwrap_or(i32::MAX);
        // SAFETY: mallopt takes two integers and only changes a glibc allocator setting, under
        // glibc's own lock; no memory is touched.
        let set = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
        if set != 1 {
            tracing::debug!(arenas, "could not cap the malloc arenas");
        }
    }
}

/// `malloc_trim(0)` on glibc; nothing elsewhere.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointers; it walks glibc's own arenas under their locks and
        // only releases pages that hold no allocation.
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(
            released = released != 0,
            "returned freed session memory to the system"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_is_trimmed_and_repeated_calls_are_cheap() {
        // Many small allocations on a short-lived thread (its own arena), freed before it ends.
        std::thread::spawn(|| {
            let blocks: Vec<Vec<u8>> = (0..2000).map(|i| vec![i as u8; 4096]).collect();
            drop(blocks);
        })
        .join()
        .unwrap();
        for _ in 0..100 {
            session_ended();
        }
        trim();
        assert!(trimmer().started.load(Ordering::SeqCst));
    }
}
