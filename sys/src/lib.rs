//! The calls into the C library that distob makes, kept here so that
//! distob itself can forbid unsafe code.

#![deny(missing_docs)]

/// Asks the allocator to give its free memory back to the system: glibc
/// keeps what a program frees for later allocations, so a process that
/// held many small objects stays at its peak size after they are gone.
/// Returns whether anything went back. Elsewhere (musl, macOS, Windows)
/// it does nothing and returns `false`.
///
/// ```
/// let v: Vec<Vec<u8>> = (0..10_000).map(|_| vec![0u8; 100]).collect();
/// drop(v);
/// let _gave_back: bool = distob_sys::trim_heap();
/// ```
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim_heap() -> bool {
    // SAFETY: malloc_trim takes no pointers and has no preconditions; glibc
    // serialises it with every other allocator call (MT-Safe).
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Asks the allocator to give its free memory back to the system (nothing
/// to do off glibc).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim_heap() -> bool {
    false
}

/// Puts the calling thread at idle priority (`SCHED_IDLE`): it runs on
/// what other threads leave, and any of them that wakes takes its CPU at
/// once instead of at the next scheduler tick. For housekeeping threads
/// (freeing gigabytes) beside threads that answer small calls. Returns
/// whether the priority changed (a sandbox may refuse); off Linux it does
/// nothing and returns `false`.
///
/// ```
/// let t = std::thread::spawn(distob_sys::idle_priority);
/// let _lowered: bool = t.join().unwrap();
/// ```
#[cfg(target_os = "linux")]
pub fn idle_priority() -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param that outlives the call, and
    // `pthread_self()` is the calling thread, whose policy alone changes
    // (glibc and musl both apply it to the thread, unlike
    // `sched_setscheduler`, which musl does not implement).
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_IDLE, &param) == 0 }
}

/// Puts the calling thread at idle priority (nothing to do off Linux).
#[cfg(not(target_os = "linux"))]
pub fn idle_priority() -> bool {
    false
}
