//! Deadlines for whole operations: [`WithTimeout::timeout`] on any distob
//! future (a scatter, a gather, a broadcast, an `async` block of calls).
//! Every call made while the future runs carries the deadline to its
//! engine (which does not start it once the deadline has passed, and hands
//! it on to the calls its code makes) and withdraws itself when it passes.

use crate::error::Error;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

thread_local! {
    /// The deadline of the `timeout` scope being polled on this thread.
    static SCOPE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The deadline of the scope being polled here, if any.
pub(crate) fn scope() -> Option<Instant> {
    SCOPE.with(Cell::get)
}

/// Restores the outer scope when a poll ends (or unwinds).
struct Restore(Option<Instant>);

impl Drop for Restore {
    fn drop(&mut self) {
        SCOPE.with(|s| s.set(self.0));
    }
}

/// A future bounded by a deadline (see [`WithTimeout`]).
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Timed<F> {
    inner: F,
    deadline: Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<F, T, E> Future for Timed<F>
where
    F: Future<Output = Result<T, Error<E>>> + Unpin,
{
    type Output = Result<T, Error<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // Nested scopes keep the nearer deadline.
        let outer = scope();
        let here = outer.map_or(this.deadline, |o| o.min(this.deadline));
        let polled = {
            let _restore = Restore(SCOPE.with(|s| s.replace(Some(here))));
            Pin::new(&mut this.inner).poll(cx)
        };
        if polled.is_ready() {
            return polled;
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::Timeout)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `.timeout(d)` for any future of a distob result: a scatter, a gather,
/// a broadcast, or a block of calls. Every call made while it runs carries
/// the deadline (and withdraws itself when it passes); the whole fails with
/// [`Error::Timeout`] if it is not done by then. ([`Call`](crate::Call) has
/// its own `timeout`, for a call already sent.)
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// use distob::call::WithTimeout;
/// use std::time::Duration;
/// let cluster = distob::Cluster::local(2).await?;
/// let xs = cluster
///     .scatter_each(vec![1u8, 2, 3])
///     .timeout(Duration::from_secs(5))
///     .await?;
/// let back = cluster.gather(&xs).timeout(Duration::from_secs(5)).await?;
/// assert_eq!(back, vec![1, 2, 3]);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub trait WithTimeout: Future + Sized {
    /// This future, failing with [`Error::Timeout`] once `d` has passed.
    fn timeout(self, d: Duration) -> Timed<Pin<Box<Self>>> {
        let deadline = Instant::now() + d;
        Timed {
            inner: Box::pin(self),
            deadline,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
        }
    }
}

impl<F, T, E> WithTimeout for F where F: Future<Output = Result<T, Error<E>>> {}
