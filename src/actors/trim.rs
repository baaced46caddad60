//! Memory given back after large releases. glibc keeps what a program
//! frees for its next allocations, so an engine that held a million small
//! objects (or a few large arrays that fell below its mmap threshold) stays
//! at its peak size after they are gone. After a release of many objects
//! or many bytes, the engine asks the allocator, once things are quiet, to
//! return its free pages to the system (`malloc_trim`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Released objects that call for a trim.
const OBJECTS: u64 = 4096;
/// Released bytes (as the objects arrived) that call for a trim.
const BYTES: u64 = 64 << 20;
/// How long releases must have stopped before the trim runs: a release of
/// many objects comes as many messages, and their actors stop after.
const DELAY: Duration = Duration::from_millis(200);
/// The least time between two trims: steady churn of objects trims at
/// most this often (each trim walks the whole heap).
const EVERY: Duration = Duration::from_secs(5);

/// What was released since the last trim, and whether one is due.
#[derive(Debug, Default)]
pub(crate) struct Trimmer {
    objects: Cell<u64>,
    bytes: Cell<u64>,
    due: Cell<bool>,
    last: Cell<Option<std::time::Instant>>,
    /// When the latest object was released.
    latest: Cell<Option<std::time::Instant>>,
}

impl Trimmer {
    /// Notes a released object of `nbytes`; schedules a trim once enough
    /// was released.
    pub(crate) fn released(self: &Rc<Self>, nbytes: u64) {
        self.objects.set(self.objects.get() + 1);
        self.bytes.set(self.bytes.get().saturating_add(nbytes));
        self.latest.set(Some(std::time::Instant::now()));
        let enough = self.objects.get() >= OBJECTS || self.bytes.get() >= BYTES;
        if !enough || self.due.replace(true) {
            return;
        }
        let wait = self.last.get().map_or(DELAY, |last| {
            EVERY.saturating_sub(last.elapsed()).max(DELAY)
        });
        let me = self.clone();
        actix::spawn(async move {
            let scheduled = std::time::Instant::now();
            tokio::time::sleep(wait).await;
            // Until the releases have been quiet for a while (a steady
            // stream of them waits no longer than `EVERY`).
            while let Some(quiet) = me.latest.get().map(|t| t.elapsed()) {
                if quiet >= DELAY || scheduled.elapsed() >= EVERY {
                    break;
                }
                tokio::time::sleep(DELAY - quiet).await;
            }
            me.objects.set(0);
            me.bytes.set(0);
            me.due.set(false);
            me.last.set(Some(std::time::Instant::now()));
            // Off the engine's thread: the walk takes milliseconds on a
            // large heap, and glibc serialises it with allocations.
            let _ = tokio::task::spawn_blocking(distob_sys::trim_heap).await;
        });
    }
}
