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

/// Asks the kernel to back `mem` with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)` on the whole pages inside it), as numpy does
/// for its large arrays: a first touch of fresh memory then faults in
/// 2 MiB at a time instead of 4 KiB, which on a virtual machine costs
/// about a third of the time a fresh 400 MB array takes to fill. Only the
/// pages wholly inside `mem` are advised, so neighbouring allocations are
/// untouched. Returns whether the advice was taken (the kernel may have
/// huge pages switched off); off Linux it does nothing and returns
/// `false`.
///
/// ```
/// let mut v: Vec<f64> = Vec::with_capacity(1 << 20);
/// let _advised: bool = distob_sys::advise_huge_pages(v.spare_capacity_mut());
/// v.resize(1 << 20, 1.0);
/// ```
#[cfg(target_os = "linux")]
pub fn advise_huge_pages<T>(mem: &[T]) -> bool {
    const PAGE: usize = 4096;
    let start = mem.as_ptr() as usize;
    let end = start + std::mem::size_of_val(mem);
    let (from, to) = (start.next_multiple_of(PAGE), end / PAGE * PAGE);
    if to <= from {
        return false;
    }
    // SAFETY: `from..to` lies inside `mem`, memory this process owns and
    // keeps mapped for the call; MADV_HUGEPAGE only changes how the kernel
    // backs those pages, never their contents or their mapping.
    unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE) == 0 }
}

/// Asks for huge pages (nothing to do off Linux).
#[cfg(not(target_os = "linux"))]
pub fn advise_huge_pages<T>(_mem: &[T]) -> bool {
    false
}
