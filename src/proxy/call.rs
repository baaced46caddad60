//! [`Call`]: a request already sent, and the reply it waits for.

use super::hub::Reply;
use super::runtime::background;
use crate::error::{Error, Result};
use crate::id::{NodeId, Ref};
use crate::net::wire::{Fault, Outcome};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub(crate) type Decode<T> = fn(Reply) -> Result<T>;

enum State<T> {
    Waiting(oneshot::Receiver<Result<Reply>>),
    Ready(Option<Result<T>>),
}

/// A call already sent to an engine. `.await` it in async code, or
/// [`wait`](Call::wait) for it in blocking code; [`timeout`](Call::timeout)
/// bounds either.
///
/// The request is on the wire when the `Call` is created, not when it is
/// first polled: calls made one after another on one object run in that
/// order, whether or not each is awaited before the next is made.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// use std::time::Duration;
/// let cluster = distob::Cluster::local(1).await?;
/// let x = cluster.scatter(vec![1u8, 2, 3]).await?;
/// let back = x.fetch().timeout(Duration::from_secs(5)).await?;
/// assert_eq!(back, vec![1, 2, 3]);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
#[must_use = "a Call is already sent; await it or wait for it to see its result"]
pub struct Call<T> {
    state: State<T>,
    decode: Decode<T>,
    node: NodeId,
    target: Option<Ref>,
    sent: Instant,
    deadline: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

// `T` is only ever moved out of the call, never pinned.
impl<T> Unpin for Call<T> {}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("node", &self.node)
            .field("target", &self.target)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<T> Call<T> {
    pub(crate) fn pending(
        rx: oneshot::Receiver<Result<Reply>>,
        decode: Decode<T>,
        node: NodeId,
        target: Option<Ref>,
    ) -> Self {
        Call {
            state: State::Waiting(rx),
            decode,
            node,
            target,
            sent: Instant::now(),
            deadline: None,
            sleep: None,
        }
    }

    /// A call that resolves at once (a failure to send, or a cached value).
    pub(crate) fn ready(result: Result<T>, node: NodeId, target: Option<Ref>) -> Self {
        Call {
            state: State::Ready(Some(result)),
            decode: |_| Err(Error::HubClosed),
            node,
            target,
            sent: Instant::now(),
            deadline: None,
            sleep: None,
        }
    }

    /// Fails the call with [`Error::Timeout`] if no reply came within `d` of
    /// sending it. The request itself is not withdrawn.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self.sleep = None;
        self
    }

    /// The engine the call went to.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Blocks the current thread until the reply comes.
    ///
    /// Returns [`Error::BlockingInRuntime`] when called on a thread that runs
    /// an async runtime, where blocking could stall the reply's delivery.
    pub fn wait(self) -> Result<T> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::BlockingInRuntime);
        }
        background().block_on(self)
    }

    /// Maps the successful result (applied when the reply is decoded).
    pub(crate) fn finish(&self, reply: Reply) -> Result<T> {
        match reply.outcome {
            Outcome::Fault(fault) => Err(fault_error(fault, self.node, self.target)),
            _ => (self.decode)(reply),
        }
    }
}

/// The user-facing error for an engine's fault.
pub(crate) fn fault_error(fault: Fault, node: NodeId, target: Option<Ref>) -> Error {
    match fault {
        Fault::NoSuchObject(object) => {
            Error::NoSuchObject(target.unwrap_or(Ref::new(node, object, crate::id::TypeTag(0))))
        }
        Fault::NoSuchMethod { type_name, method } => Error::NoSuchMethod { type_name, method },
        Fault::Decode(message) => Error::RemoteDecode { message },
        Fault::Panic(message) => Error::RemotePanic { message },
        Fault::User(_) => Error::RemoteDecode {
            message: "a user error reached a call that expects none".into(),
        },
        Fault::Refused(message) => Error::Refused { message },
    }
}

impl<T> Future for Call<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        let rx = match &mut this.state {
            State::Ready(result) => {
                return Poll::Ready(result.take().unwrap_or(Err(Error::HubClosed)));
            }
            State::Waiting(rx) => rx,
        };
        if let Poll::Ready(received) = Pin::new(rx).poll(cx) {
            let result = match received {
                Ok(Ok(reply)) => this.finish(reply),
                Ok(Err(e)) => Err(e),
                // The link dropped the sender without an answer: it is gone.
                Err(_) => Err(Error::EngineLost(this.node)),
            };
            this.state = State::Ready(None);
            return Poll::Ready(result);
        }
        if let Some(d) = this.deadline {
            let at = tokio::time::Instant::from_std(this.sent + d);
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            if sleep.as_mut().poll(cx).is_ready() {
                this.state = State::Ready(None);
                return Poll::Ready(Err(Error::Timeout));
            }
        }
        Poll::Pending
    }
}
