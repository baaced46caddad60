//! Large buffers kept a moment after they are freed, for the next array of
//! about their size.
//!
//! An engine that computes on large arrays makes one as large as its input
//! for nearly every result, and frees one each time a result is released.
//! Given back to the system, that memory must be faulted in and zeroed anew
//! for the next result: on a virtual machine whose host takes freed pages
//! back, a profile of a cumulative sum over a 400 MB block spent 45% of its
//! time zeroing pages in the fault handler. Kept here instead, the next
//! result of about that size is written into memory that is already there.
//!
//! A buffer is kept for [`KEEP`] (then freed by a thread of its own), only
//! from [`SPARE_FROM`] up, and at most [`SPARE_BYTES`] in all; one is
//! reused for an array that needs between seven eighths of its size and
//! all of it, of the same alignment. The freeing thread also clears each
//! buffer kept for [`CLEAR_AFTER`], so that a frame body read off the wire
//! (which must start as zeros) takes one without a pass over it on the
//! thread that reads calls.

use distob_sys::Memory;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The smallest buffer kept.
pub const SPARE_FROM: usize = 32 << 20;
/// The most memory kept at once.
pub const SPARE_BYTES: usize = 2 << 30;
/// How long a buffer is kept before it goes back to the system (longer in
/// distob's own unit tests, whose steps may be slow on a loaded machine).
pub const KEEP: Duration = Duration::from_secs(if cfg!(test) { 5 } else { 1 });

/// How long a buffer is kept before the freeing thread clears it: long
/// enough that an engine making one result after another takes it back
/// first (while it is cleared nobody can), short beside the time until a
/// next transfer of its size.
pub const CLEAR_AFTER: Duration = Duration::from_millis(20);

/// How many arrays were made in kept buffers, since the process began.
static REUSED: AtomicU64 = AtomicU64::new(0);

/// One freed buffer and when it was freed.
struct Spare {
    memory: Memory,
    since: Instant,
}

#[derive(Default)]
struct Shelf {
    spares: Vec<Spare>,
    bytes: usize,
    /// Whether the thread that frees expired buffers runs.
    freer: bool,
}

fn the_shelf() -> &'static (Mutex<Shelf>, Condvar) {
    static SHELF: OnceLock<(Mutex<Shelf>, Condvar)> = OnceLock::new();
    SHELF.get_or_init(Default::default)
}

fn lock() -> MutexGuard<'static, Shelf> {
    the_shelf().0.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps `v`'s memory (its elements dropped) for a later [`take`] if it
/// is large enough and there is room; frees it otherwise (a large one
/// aside, off the caller's thread).
pub fn keep<T: Send + 'static>(v: Vec<T>) {
    let bytes = v.capacity().saturating_mul(std::mem::size_of::<T>());
    if bytes < SPARE_FROM {
        return drop(v);
    }
    // The elements are dropped before the lock is taken.
    let memory = Memory::from_vec(v);
    let mut shelf = lock();
    if shelf.bytes + bytes > SPARE_BYTES || !ensure_freer(&mut shelf) {
        drop(shelf);
        return super::buf::drop_aside(memory);
    }
    shelf.spares.push(Spare {
        memory,
        since: Instant::now(),
    });
    shelf.bytes += bytes;
    the_shelf().1.notify_one();
}

/// An empty vector with room for at least `capacity` elements made of a
/// kept buffer, if one fits; `None` if none does.
pub fn take<T>(capacity: usize) -> Option<Vec<T>> {
    let memory = pick(
        capacity,
        std::mem::size_of::<T>(),
        std::mem::align_of::<T>(),
        false,
    )?;
    made(memory.into_vec())
}

/// A vector of at least `words` zeros made of a kept buffer, if one fits:
/// one the freeing thread has cleared (see [`CLEAR_AFTER`]) if there is
/// one, else one cleared here; `None` if none fits.
pub fn take_zeroed_words(words: usize) -> Option<Vec<u64>> {
    let align = std::mem::align_of::<u64>();
    if let Some(memory) = pick(words, 8, align, true) {
        return made(memory.into_zeroed_words());
    }
    let mut memory = pick(words, 8, align, false)?;
    memory.clear();
    made(memory.into_zeroed_words())
}

/// Takes off the shelf the smallest kept buffer for `n` elements of
/// `size` bytes and alignment `align` (a cleared one, if `cleared`).
fn pick(n: usize, size: usize, align: usize, cleared: bool) -> Option<Memory> {
    let need = n.checked_mul(size)?;
    if size == 0 || need < SPARE_FROM {
        return None;
    }
    let mut shelf = lock();
    let fits = |m: &Memory| {
        m.align() == align
            && m.bytes().is_multiple_of(size)
            && (need..=need + need / 7).contains(&m.bytes())
            && (m.is_cleared() || !cleared)
    };
    let (at, _) = shelf
        .spares
        .iter()
        .enumerate()
        .filter(|(_, s)| fits(&s.memory))
        .min_by_key(|(_, s)| s.memory.bytes())?;
    let spare = shelf.spares.swap_remove(at);
    shelf.bytes -= spare.memory.bytes();
    Some(spare.memory)
}

/// The vector a picked buffer made, counted.
fn made<T>(v: Result<Vec<T>, Memory>) -> Option<Vec<T>> {
    match v {
        Ok(v) => {
            REUSED.fetch_add(1, Relaxed);
            Some(v)
        }
        // Not reached (`pick` checked what the conversion does); freed aside.
        Err(memory) => {
            super::buf::drop_aside(memory);
            None
        }
    }
}

/// Frees everything kept now: for an allocation that failed while memory
/// sat here.
pub fn flush() {
    let spares = {
        let mut shelf = lock();
        let spares = std::mem::take(&mut shelf.spares);
        // A buffer being cleared stays counted until it is back.
        shelf.bytes -= spares.iter().map(|s| s.memory.bytes()).sum::<usize>();
        spares
    };
    // At once, not aside: the caller needs the memory now.
    drop(spares);
}

/// How many arrays were made in kept buffers so far (in this process).
pub fn reused() -> u64 {
    REUSED.load(Relaxed)
}

/// How many bytes are kept now.
pub fn kept_bytes() -> usize {
    lock().bytes
}

/// Starts the thread that frees buffers once they have been kept for
/// [`KEEP`]; `false` if it cannot be started (nothing is kept then).
fn ensure_freer(shelf: &mut Shelf) -> bool {
    if !shelf.freer {
        shelf.freer = std::thread::Builder::new()
            .name("distob-spares".into())
            .spawn(free_expired)
            .is_ok();
    }
    shelf.freer
}

fn free_expired() {
    let (_, wake) = the_shelf();
    let mut shelf = lock();
    loop {
        let now = Instant::now();
        let (old, young): (Vec<Spare>, Vec<Spare>) = std::mem::take(&mut shelf.spares)
            .into_iter()
            .partition(|s| now.duration_since(s.since) >= KEEP);
        shelf.spares = young;
        if !old.is_empty() {
            shelf.bytes -= old.iter().map(|s| s.memory.bytes()).sum::<usize>();
            // Unmapped at idle priority, as other large values are, and
            // without the lock held: `take` and `keep` go on.
            drop(shelf);
            super::buf::drop_aside(old);
            shelf = lock();
            continue;
        }
        let due = |s: &Spare| now.duration_since(s.since) >= CLEAR_AFTER;
        if let Some(at) = shelf
            .spares
            .iter()
            .position(|s| !s.memory.is_cleared() && due(s))
        {
            shelf = clear_aside(shelf, at);
            continue;
        }
        let next = |s: &Spare| {
            let after = if s.memory.is_cleared() {
                KEEP
            } else {
                CLEAR_AFTER
            };
            s.since + after
        };
        shelf = match shelf.spares.iter().map(next).min() {
            Some(first) => {
                let left = first.saturating_duration_since(now);
                wake.wait_timeout(shelf, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => wake.wait(shelf).unwrap_or_else(|p| p.into_inner()),
        };
    }
}

/// Clears the kept buffer at `at` without the lock held (a received body
/// then needs no pass of its own over it, on the thread that reads calls),
/// and puts it back with the time it was kept; its bytes stay counted as
/// kept meanwhile.
fn clear_aside(mut shelf: MutexGuard<'static, Shelf>, at: usize) -> MutexGuard<'static, Shelf> {
    let mut spare = shelf.spares.swap_remove(at);
    drop(shelf);
    spare.memory.clear();
    let mut shelf = lock();
    shelf.spares.push(spare);
    shelf
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test touches the shelf at a time (it is one per process).
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn a_kept_buffer_is_reused_then_freed_after_its_time() {
        let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let n = 2 * SPARE_FROM / 8;
        let mut v: Vec<f64> = Vec::with_capacity(n);
        v.resize(n, 1.5);
        let at = v.as_ptr() as usize;
        keep(v);
        assert!(kept_bytes() >= n * 8);
        // Another type of the same alignment and a little smaller fits.
        let w: Vec<u64> = take(n - n / 10).expect("the kept buffer fits");
        assert_eq!(w.as_ptr() as usize, at);
        assert_eq!((w.len(), w.capacity()), (0, n));
        keep(w);
        // Far too small an array does not take it, nor one of another
        // alignment.
        assert!(take::<f64>(n / 2).is_none());
        assert!(take::<u16>(n * 4).is_none());
        let deadline = Instant::now() + KEEP * 10;
        while kept_bytes() >= n * 8 {
            assert!(Instant::now() < deadline, "the buffer was never freed");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(take::<f64>(n).is_none());
    }

    #[test]
    fn a_received_body_is_read_into_a_kept_buffer_once_it_is_cleared() {
        let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let n = SPARE_FROM / 8 + 100;
        let kept = vec![u64::MAX; n];
        let at = kept.as_ptr() as usize;
        let before = reused();
        keep(kept);
        // A body a few words shorter, of a length that is no multiple of 8:
        // at once (cleared here) and again once the freeing thread has
        // cleared the buffer.
        let len = (n - 3) * 8 - 5;
        let body = crate::net::buf::AlignedBuf::zeroed(len);
        assert_eq!(body.as_bytes().as_ptr() as usize, at);
        assert!(body.as_bytes().iter().all(|&b| b == 0));
        keep(body.into_words().0);
        let deadline = Instant::now() + KEEP / 2;
        while !lock().spares.iter().any(|s| s.memory.is_cleared()) {
            assert!(
                Instant::now() < deadline,
                "the kept buffer was never cleared"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let body = crate::net::buf::AlignedBuf::zeroed(len);
        assert_eq!(body.as_bytes().as_ptr() as usize, at);
        assert_eq!(reused(), before + 2);
        assert_eq!(body.len(), len);
        assert!(body.as_bytes().iter().all(|&b| b == 0));
        // With nothing kept, a fresh one.
        let fresh = crate::net::buf::AlignedBuf::zeroed(len);
        assert_ne!(fresh.as_bytes().as_ptr() as usize, at);
        assert_eq!(reused(), before + 2);
        assert!(fresh.as_bytes().iter().all(|&b| b == 0));
    }

    #[test]
    fn a_flush_frees_everything_at_once() {
        let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        keep(Vec::<u32>::with_capacity(SPARE_FROM / 4 + 1));
        assert!(kept_bytes() > SPARE_FROM);
        flush();
        assert_eq!(kept_bytes(), 0);
        assert!(take::<u32>(SPARE_FROM / 4 + 1).is_none());
    }

    #[test]
    fn small_buffers_and_elements_are_not_kept() {
        let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let before = kept_bytes();
        keep(vec![0u8; 1 << 20]);
        assert_eq!(kept_bytes(), before);
        assert!(take::<u8>(1 << 20).is_none());
        // Elements with a destructor are dropped when their buffer is kept.
        let drops = std::sync::Arc::new(());
        let n = SPARE_FROM / std::mem::size_of::<std::sync::Arc<()>>();
        keep(vec![drops.clone(); n]);
        assert_eq!(std::sync::Arc::strong_count(&drops), 1);
        // Taken back and freed at once, not left for the other test.
        drop(take::<std::sync::Arc<()>>(n));
    }
}
