//! [`Transfer`]: a scatter or gather under way, which can report how far
//! its bytes have come ([`Transfer::progress`]).
//!
//! Large bodies travel on each engine's bulk connection; a transfer notes,
//! per engine, how many bytes it moves and where that connection's byte
//! count stood when it began, and reads the count again every
//! [`PROGRESS_PERIOD`] while it runs. (A transfer that shares a bulk
//! connection with another under way sees their bytes as its own, up to
//! its size.)

use super::hub::ObjectHub;
use super::link::Link;
use crate::error::Result;
use crate::id::NodeId;
use futures::future::BoxFuture;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// How often a transfer with a progress callback reports.
pub const PROGRESS_PERIOD: Duration = Duration::from_millis(100);

/// How far a transfer has come, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes moved so far.
    pub done: u64,
    /// Bytes it moves in all (known once its values are encoded, for a
    /// scatter; from the sizes the client knows, for a gather).
    pub total: u64,
}

/// Which way a part of a transfer goes.
#[derive(Clone, Copy, Debug)]
enum Way {
    Out,
    In,
    /// Handed over in this process (no bytes on a wire): done at once.
    Moved,
}

/// One engine's share of a transfer: its connection, the count there when
/// the transfer began, and its bytes.
struct Part {
    link: Arc<Link>,
    way: Way,
    from: u64,
    size: u64,
}

impl Part {
    fn count(&self) -> u64 {
        match self.way {
            Way::Out => self.link.writer.bytes_written(),
            Way::In => self.link.read_bytes.load(Ordering::Relaxed),
            Way::Moved => 0,
        }
    }

    fn done(&self) -> u64 {
        match self.way {
            Way::Moved => self.size,
            _ => self.count().saturating_sub(self.from).min(self.size),
        }
    }
}

/// What a transfer has moved where (shared with the work doing it).
#[derive(Default)]
pub(crate) struct Meter {
    parts: Mutex<Vec<Part>>,
}

impl Meter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Part>> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes `size` bytes going to engine `node` of `hub`.
    pub(crate) fn outgoing(&self, hub: &ObjectHub, node: NodeId, size: u64) {
        self.note(hub, node, size, Way::Out);
    }

    /// Notes `size` bytes handed over to engine `node` of `hub` in this
    /// process: done as soon as noted.
    pub(crate) fn moved(&self, hub: &ObjectHub, node: NodeId, size: u64) {
        self.note(hub, node, size, Way::Moved);
    }

    /// Notes `size` bytes coming from engine `node` of `hub`.
    pub(crate) fn incoming(&self, hub: &ObjectHub, node: NodeId, size: u64) {
        self.note(hub, node, size, Way::In);
    }

    fn note(&self, hub: &ObjectHub, node: NodeId, size: u64, way: Way) {
        let Ok(link) = hub.link(node) else { return };
        let link = link.large_bodies();
        let mut part = Part {
            link,
            way,
            from: 0,
            size,
        };
        part.from = part.count();
        self.lock().push(part);
    }

    fn progress(&self) -> Progress {
        let parts = self.lock();
        Progress {
            done: parts.iter().map(Part::done).sum(),
            total: parts.iter().map(|p| p.size).sum(),
        }
    }
}

type Report<'a> = Box<dyn FnMut(Progress) + Send + 'a>;

/// A scatter or gather (a future): `.await` it for its result, or first give it
/// [`progress`](Transfer::progress) to hear how far its bytes have come.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// let cluster = distob::Cluster::local(2).await?;
/// let big = ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[4_000_000])); // 32 MB
/// let mut last = distob::call::Progress::default();
/// let remote = cluster.scatter(big).progress(|p| last = p).await?;
/// assert_eq!(remote.shape(), &[4_000_000]);
/// assert_eq!(last.done, last.total);
/// assert!(last.total >= 32_000_000);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
#[must_use = "a transfer does nothing until awaited"]
pub struct Transfer<'a, O> {
    work: BoxFuture<'a, Result<O>>,
    meter: Arc<Meter>,
    report: Option<Report<'a>>,
    tick: Option<tokio::time::Interval>,
}

impl<O> std::fmt::Debug for Transfer<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("progress", &self.meter.progress())
            .finish_non_exhaustive()
    }
}

impl<'a, O> Transfer<'a, O> {
    /// A transfer done by `work`, which notes its parts in the meter it is
    /// given.
    pub(crate) fn new<F, W>(work: W) -> Self
    where
        W: FnOnce(Arc<Meter>) -> F,
        F: Future<Output = Result<O>> + Send + 'a,
    {
        let meter = Arc::new(Meter::default());
        Transfer {
            work: Box::pin(work(meter.clone())),
            meter,
            report: None,
            tick: None,
        }
    }

    /// Calls `report` with the transfer's progress every
    /// [`PROGRESS_PERIOD`] while it runs, and once more when it is done
    /// (`done == total`).
    pub fn progress(mut self, report: impl FnMut(Progress) + Send + 'a) -> Self {
        self.report = Some(Box::new(report));
        self
    }
}

impl<O> Future for Transfer<'_, O> {
    type Output = Result<O>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<O>> {
        let t = self.get_mut();
        if let Poll::Ready(result) = t.work.as_mut().poll(cx) {
            if let (Some(report), Ok(_)) = (t.report.as_mut(), &result) {
                let total = t.meter.progress().total;
                report(Progress { done: total, total });
            }
            return Poll::Ready(result);
        }
        if let Some(report) = t.report.as_mut() {
            let tick = t.tick.get_or_insert_with(|| {
                let mut i = tokio::time::interval(PROGRESS_PERIOD);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                i
            });
            while tick.poll_tick(cx).is_ready() {
                report(t.meter.progress());
            }
        }
        Poll::Pending
    }
}
