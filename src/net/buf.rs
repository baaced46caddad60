//! [`AlignedBuf`]: the buffer a received frame body lands in.

use bytes::Bytes;
use std::fmt;

/// A byte buffer whose start is 8-byte aligned, backed by `Vec<u64>`.
///
/// Frame bodies are read straight into one, so that an array of 8-byte
/// elements can take the allocation over without a copy.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AlignedBuf {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBuf {
    /// An empty buffer (no allocation).
    pub fn new() -> Self {
        AlignedBuf::default()
    }

    /// A zero-filled buffer of `len` bytes.
    ///
    /// A large one is made of a buffer freed a moment ago if one fits
    /// ([`super::spare`]), which the thread that frees kept buffers has
    /// cleared since (or, if it has not yet, this call clears it). On this
    /// project's virtual machines the host takes freed pages back: faulting
    /// a fresh 100 MB body in cost an engine 40–300 ms of CPU (1.5–12 µs a
    /// page, varying run to run), more than the transfer that filled it.
    /// Otherwise it comes from the allocator's zeroed pages, which costs
    /// no pass over the memory.
    ///
    /// Unlike [`fresh_vec`], it asks for no huge pages: bodies are read
    /// into it by the thread that also reads small calls, and a 2 MiB
    /// fault inside that read held a tiny fetch beside a 1 GiB scatter for
    /// 7 ms at p99 (1.5 ms with 4 KiB pages), though the scatter itself
    /// ran 1.5× faster and a gather 1.7×.
    pub fn zeroed(len: usize) -> Self {
        let n = len.div_ceil(8);
        let words = match super::spare::take_zeroed_words(n) {
            Some(mut kept) => {
                kept.truncate(n);
                kept
            }
            None => vec![0u64; n],
        };
        AlignedBuf { words, len }
    }

    /// A copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut buf = AlignedBuf::zeroed(bytes.len());
        buf.as_bytes_mut().copy_from_slice(bytes);
        buf
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len]
    }

    /// The bytes, writable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.words)[..len]
    }

    /// The backing words and the byte length (the last word may be partly used).
    pub fn into_words(self) -> (Vec<u64>, usize) {
        (self.words, self.len)
    }

    /// A shared, cheaply cloned view of the same memory (no copy).
    pub fn into_bytes(self) -> Bytes {
        if self.is_empty() {
            Bytes::new()
        } else {
            Bytes::from_owner(self)
        }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.len)
    }
}

/// Allocations at least this large ask the kernel for huge pages (numpy's
/// threshold for the same advice).
pub const HUGE_PAGES_FROM: usize = 4 << 20;

/// An empty vector with room for `capacity` elements. A large one asks for
/// transparent huge pages before any of it is touched
/// ([`distob_sys::advise_huge_pages`]): filling a fresh array then faults
/// its memory in 2 MiB at a time, not 4 KiB, which here makes a pass
/// that writes a new 400 MB array about twice as fast. For arrays that
/// engines make (not for bodies read off the wire: see
/// [`AlignedBuf::zeroed`]); memory goes back to the system when it is
/// freed, as before.
///
/// A buffer freed a moment ago that fits is reused first
/// ([`super::spare`]): nothing to fault in or zero.
pub(crate) fn fresh_vec<T>(capacity: usize) -> Vec<T> {
    advise_fresh(super::spare::take(capacity).unwrap_or_else(|| Vec::with_capacity(capacity)))
}

/// [`fresh_vec`], failing instead of aborting when the memory is not there.
pub(crate) fn try_fresh_vec<T>(
    capacity: usize,
) -> Result<Vec<T>, std::collections::TryReserveError> {
    if let Some(v) = super::spare::take(capacity) {
        return Ok(advise_fresh(v));
    }
    let mut v = Vec::new();
    if v.try_reserve_exact(capacity).is_err() {
        // Kept buffers of other sizes may be what is missing.
        super::spare::flush();
        v.try_reserve_exact(capacity)?;
    }
    Ok(advise_fresh(v))
}

fn advise_fresh<T>(mut v: Vec<T>) -> Vec<T> {
    if v.capacity().saturating_mul(std::mem::size_of::<T>()) >= HUGE_PAGES_FROM {
        distob_sys::advise_huge_pages(v.spare_capacity_mut());
    }
    v
}

/// Allocations at least this large are freed by [`drop_aside`] on a thread
/// of their own.
pub const DROP_ASIDE: usize = 32 << 20;

/// How many values may wait for the dropper thread; past that, a value is
/// dropped where it is let go. The dropper runs at idle priority, so on a
/// machine kept busy it frees late: this bounds what waits meanwhile.
pub const DROP_BACKLOG: usize = 8;

/// Drops `value` on a background thread: unmapping a gigabyte takes tens of
/// milliseconds, which a thread that answers small calls (an engine's, a
/// client's runtime) should not spend. The thread runs at idle priority (a
/// thread woken beside it takes its CPU at once, not at the scheduler's
/// next tick), so while every CPU is busy freeing waits; once
/// [`DROP_BACKLOG`] values wait, or if the thread cannot be started,
/// `value` is dropped here.
///
/// ```
/// distob::net::buf::drop_aside(vec![0u8; 1 << 20]);
/// ```
pub fn drop_aside<T: Send + 'static>(value: T) {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::{mpsc, Mutex, OnceLock};
    type Aside = Box<dyn Send>;
    static WAITING: AtomicUsize = AtomicUsize::new(0);
    static DROPPER: OnceLock<Option<Mutex<mpsc::Sender<Aside>>>> = OnceLock::new();
    let dropper = DROPPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Aside>();
        std::thread::Builder::new()
            .name("distob-dropper".into())
            .spawn(move || {
                // Freeing must not delay a thread that answers calls: at
                // normal priority, one woken on this CPU waits for the
                // scheduler's next tick (4 ms here) while a gigabyte is
                // unmapped.
                distob_sys::idle_priority();
                for value in rx {
                    drop(value);
                    WAITING.fetch_sub(1, Relaxed);
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let Some(tx) = dropper else { return };
    if WAITING.fetch_add(1, Relaxed) >= DROP_BACKLOG {
        WAITING.fetch_sub(1, Relaxed);
        return;
    }
    let tx = tx.lock().unwrap_or_else(|p| p.into_inner());
    // The dropper thread never ends while the process runs; if it did,
    // the value comes back and is dropped here.
    if let Err(mpsc::SendError(value)) = tx.send(Box::new(value)) {
        WAITING.fetch_sub(1, Relaxed);
        drop(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduling policy of the thread that drops it (field 41 of
    /// /proc/thread-self/stat; 5 is SCHED_IDLE).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    struct Policy(std::sync::mpsc::Sender<Option<u32>>);

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    impl Drop for Policy {
        fn drop(&mut self) {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
            // Fields after the command (which is in parentheses).
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let policy = after
                .split_whitespace()
                .nth(38)
                .and_then(|f| f.parse().ok());
            let _ = self.0.send(policy);
        }
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn values_dropped_aside_are_freed_at_idle_priority() {
        let (tx, rx) = std::sync::mpsc::channel();
        drop_aside(Policy(tx));
        let policy = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
        assert_eq!(policy, Some(5));
    }

    /// Whether the kernel hands out transparent huge pages to memory that
    /// asks for them (`[always]` or `[madvise]`, not `[never]`).
    #[cfg(target_os = "linux")]
    fn huge_pages_on() -> bool {
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|s| !s.contains("[never]"))
    }

    /// The huge-page-backed kilobytes of the mapping that holds `at`
    /// (its `AnonHugePages` line in /proc/self/smaps).
    #[cfg(target_os = "linux")]
    fn huge_kib_around(at: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let range = line
                .split_whitespace()
                .next()
                .and_then(|r| r.split_once('-'));
            let bounds = range.and_then(|(a, b)| {
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            });
            if let Some((a, b)) = bounds {
                inside = (a..b).contains(&at);
            } else if inside && line.starts_with("AnonHugePages:") {
                let kib = line.split_whitespace().nth(1).and_then(|k| k.parse().ok());
                return kib.unwrap_or(0);
            }
        }
        0
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn large_fresh_memory_is_backed_by_huge_pages() {
        if !huge_pages_on() {
            eprintln!("transparent huge pages are switched off here; nothing to check");
            return;
        }
        let n = 64 << 20;
        let fallbacks = thp_fallbacks();
        let mut v: Vec<u8> = fresh_vec(n);
        v.resize(n, 1);
        if thp_fallbacks() > fallbacks {
            // Asked for, but the kernel had no free 2 MiB page to give (a
            // fragmented machine); without the advice it would not have
            // tried, so the count does not rise then.
            eprintln!("the kernel fell back to small pages; nothing to check");
            return;
        }
        // 64 MiB holds at least 30 whole 2 MiB pages wherever it starts.
        let kib = huge_kib_around(v.as_ptr() as usize + n / 2);
        assert!(kib >= 30 * 2048, "only {kib} KiB of huge pages");
    }

    /// How often the kernel could not give a huge page that was asked for
    /// (`thp_fault_fallback` in /proc/vmstat).
    #[cfg(target_os = "linux")]
    fn thp_fallbacks() -> u64 {
        let vmstat = std::fs::read_to_string("/proc/vmstat").unwrap_or_default();
        vmstat
            .lines()
            .find_map(|l| l.strip_prefix("thp_fault_fallback "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn odd_lengths_round_trip() {
        for n in [0usize, 1, 7, 8, 9, 100] {
            let data: Vec<u8> = (0..n as u32).map(|i| i as u8).collect();
            let buf = AlignedBuf::from_slice(&data);
            assert_eq!(buf.as_bytes(), &data[..]);
            assert_eq!(buf.clone().into_bytes().as_ref(), &data[..]);
        }
    }
}
