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

/// A vector's memory without its elements: what is left of a `Vec<T>` once
/// its elements are dropped, to become a `Vec<U>` of another element type
/// of the same alignment later, without going back to the allocator.
/// Dropped, it frees the memory.
///
/// ```
/// let v: Vec<f64> = vec![1.0; 1000];
/// let at = v.as_ptr() as usize;
/// let memory = distob_sys::Memory::from_vec(v);
/// assert_eq!(memory.bytes(), 8000);
/// let w: Vec<u64> = memory.into_vec().unwrap();
/// assert_eq!((w.as_ptr() as usize, w.len(), w.capacity()), (at, 0, 1000));
/// ```
pub struct Memory {
    ptr: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
    /// Whether every byte has been set to zero since it was a vector's.
    cleared: bool,
}

// SAFETY: a `Memory` is the sole owner of its allocation (nothing else holds
// the pointer), as the `Vec` it came from was, and a `Vec` is `Send`.
unsafe impl Send for Memory {}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memory({} bytes)", self.layout.size())
    }
}

impl Memory {
    /// Drops `v`'s elements and keeps its memory. A vector that owns no
    /// memory (empty, or of zero-sized elements) gives `Memory` of zero
    /// bytes, which frees nothing.
    pub fn from_vec<T>(v: Vec<T>) -> Memory {
        let mut v = std::mem::ManuallyDrop::new(v);
        let bytes = v.capacity() * std::mem::size_of::<T>();
        // SAFETY: the `len` elements are initialised and dropped once, here
        // (through a raw slice, no reference formed over them); the vector
        // itself is never used or dropped again.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(v.as_mut_ptr(), v.len()))
        };
        let layout = std::alloc::Layout::from_size_align(bytes, std::mem::align_of::<T>())
            .unwrap_or(std::alloc::Layout::new::<()>());
        let ptr = std::ptr::NonNull::new(v.as_mut_ptr().cast::<u8>())
            .unwrap_or(std::ptr::NonNull::dangling());
        Memory {
            ptr,
            layout,
            cleared: false,
        }
    }

    /// Sets every byte to zero.
    ///
    /// ```
    /// let mut memory = distob_sys::Memory::from_vec(vec![u64::MAX; 100]);
    /// assert!(!memory.is_cleared());
    /// memory.clear();
    /// let w = memory.into_zeroed_words().unwrap();
    /// assert_eq!(w, vec![0u64; 100]);
    /// ```
    pub fn clear(&mut self) {
        if self.layout.size() > 0 {
            // SAFETY: `ptr` is the start of an allocation of `layout.size()`
            // bytes that this `Memory` alone owns.
            unsafe { std::ptr::write_bytes(self.ptr.as_ptr(), 0, self.layout.size()) };
        }
        self.cleared = true;
    }

    /// Whether [`clear`](Self::clear) has set every byte to zero.
    pub fn is_cleared(&self) -> bool {
        self.cleared
    }

    /// A `Vec<u64>` as long as its capacity, all zeros, over this memory:
    /// if it was cleared and suits `u64` (as [`into_vec`](Self::into_vec));
    /// the memory back otherwise.
    pub fn into_zeroed_words(self) -> Result<Vec<u64>, Memory> {
        if !self.cleared {
            return Err(self);
        }
        let mut words = self.into_vec::<u64>()?;
        // SAFETY: the capacity is the allocation's whole size in `u64`s,
        // every byte of which `clear` set to zero since, and all-zero bytes
        // are a valid `u64`.
        unsafe { words.set_len(words.capacity()) };
        Ok(words)
    }

    /// How many bytes it holds.
    pub fn bytes(&self) -> usize {
        self.layout.size()
    }

    /// Its alignment.
    pub fn align(&self) -> usize {
        self.layout.align()
    }

    /// An empty `Vec<U>` over this memory, if it holds a whole number of
    /// `U` of `U`'s alignment (and some bytes); the memory back otherwise.
    pub fn into_vec<U>(self) -> Result<Vec<U>, Memory> {
        let size = std::mem::size_of::<U>();
        let fits = size > 0
            && self.bytes() > 0
            && self.align() == std::mem::align_of::<U>()
            && self.bytes().is_multiple_of(size);
        if !fits {
            return Err(self);
        }
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: the allocation came from the global allocator with
        // `layout`: `U`'s alignment and the size of `bytes / size` whole
        // `U`s, exactly what a `Vec<U>` of that capacity frees with. Its
        // ownership passes to the vector (`me` is never dropped), and a
        // length of zero claims no initialised element.
        Ok(unsafe { Vec::from_raw_parts(me.ptr.as_ptr().cast::<U>(), 0, me.bytes() / size) })
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        if self.layout.size() > 0 {
            // SAFETY: `ptr` was allocated by the global allocator with
            // `layout` (a `Vec` of that size and alignment) and is freed
            // once, here.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
        }
    }
}
