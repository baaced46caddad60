//! [`Call`]: a request already sent, and the reply it waits for.

use super::cache::{CacheFill, Cached};
use super::hub::Reply;
use super::runtime::background;
use super::submit::Sent;
use crate::error::{Error, Result};
use crate::id::{NodeId, Ref};
use crate::net::wire::{Fault, Outcome};
use crate::telemetry::CallRecord;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub(crate) type Decode<T, E> = fn(Reply) -> Result<T, Error<E>>;

enum State<T, E> {
    Waiting(oneshot::Receiver<Result<Reply>>),
    /// (Boxed: a call is moved about while it waits, and most never are
    /// ready before their reply.)
    Ready(Option<Box<Result<T, Error<E>>>>),
}

/// A call already sent to an engine. `.await` it in async code, or
/// [`wait`](Call::wait) for it in blocking code; [`timeout`](Call::timeout)
/// bounds either.
///
/// The request is on the wire when the `Call` is created, not when it is
/// first polled: calls made one after another on one object run in that
/// order, whether or not each is awaited before the next is made.
///
/// A call's life ends one of three ways. Awaited, it gives its result.
/// [Cancelled](Call::cancel), or past its [timeout](Call::timeout), it is
/// withdrawn: it resolves at once with [`Error::Cancelled`] /
/// [`Error::Timeout`], its waiter leaves the hub, and its engine drops it if
/// it has not started (an `async` method running it stops at its next
/// await; a running sync method finishes, its result unwanted). *Dropped*
/// without either, it stays a one-way message: the engine still runs it (a
/// call whose deadline has passed when dropped is withdrawn, as its engine
/// would not start it anyway). Deadlines travel with calls: a deadline known
/// when the call is made (a [`timeout`](crate::call::WithTimeout::timeout) scope,
/// [`ObjectHub::set_default_timeout`](crate::ObjectHub::set_default_timeout), or the deadline of the engine code
/// making it) is sent with the request; its engine does not start it once
/// the deadline has passed, and code it runs sees the deadline
/// ([`Ctx::deadline`](crate::Ctx::deadline)) and hands it on.
///
/// `E` is the error type of a remote method returning `Result<T, E>`; its
/// `Err` arrives as [`Error::Remote`].
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
pub struct Call<T, E = Infallible> {
    state: State<T, E>,
    decode: Decode<T, E>,
    user: fn(Vec<u8>) -> Error<E>,
    node: NodeId,
    target: Option<Ref>,
    /// When it was sent, if its metrics time it.
    sent: Option<Instant>,
    deadline: Option<Instant>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    on_done: Option<T>,
    cache: Option<Box<(CacheFill, CachedDecode<T, E>)>>,
    withdraw: Option<Withdraw>,
    /// Its span and metrics, told when it ends.
    record: CallRecord,
}

/// How a call is withdrawn: its hub, engine and id.
pub(crate) struct Withdraw {
    pub(crate) hub: super::ObjectHub,
    pub(crate) node: NodeId,
    pub(crate) call: crate::id::CallId,
}

impl Withdraw {
    fn send(self) {
        self.hub.withdraw(self.node, self.call);
    }
}

type CachedDecode<T, E> = fn(&Cached) -> Result<T, Error<E>>;

// `T` is only ever moved out of the call, never pinned.
impl<T, E> Unpin for Call<T, E> {}

impl<T, E> std::fmt::Debug for Call<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("node", &self.node)
            .field("target", &self.target)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

fn untyped_user_error<E>(_: Vec<u8>) -> Error<E> {
    Error::RemoteDecode {
        message: "the method returned an error to a call that expects none".into(),
    }
}

fn typed_user_error<E: DeserializeOwned>(bytes: Vec<u8>) -> Error<E> {
    match crate::value::from_cbor::<E>(&bytes) {
        Ok(e) => Error::Remote(e),
        Err(e) => Error::Codec(e),
    }
}

impl<T, E> Call<T, E> {
    pub(crate) fn pending(
        sent: Sent,
        decode: Decode<T, E>,
        target: Option<Ref>,
        withdraw: Withdraw,
    ) -> Self {
        let Sent {
            rx,
            deadline,
            record,
            at,
            ..
        } = sent;
        Call {
            state: State::Waiting(rx),
            decode,
            user: untyped_user_error::<E>,
            node: withdraw.node,
            target,
            sent: at,
            deadline,
            sleep: None,
            on_done: None,
            cache: None,
            withdraw: Some(withdraw),
            record,
        }
    }

    /// A call that resolves at once (a failure to send, or a cached value).
    pub(crate) fn ready(result: Result<T, Error<E>>, node: NodeId, target: Option<Ref>) -> Self {
        Call {
            state: State::Ready(Some(Box::new(result))),
            decode: |_| Err(Error::HubClosed),
            user: untyped_user_error::<E>,
            node,
            target,
            sent: None,
            deadline: None,
            sleep: None,
            on_done: None,
            cache: None,
            withdraw: None,
            record: CallRecord::none(),
        }
    }

    /// Decodes a method's own `Err` as `E` ([`Error::Remote`]); generated
    /// proxies of `Result`-returning methods call this.
    #[doc(hidden)]
    pub fn with_remote_errors(mut self) -> Self
    where
        E: DeserializeOwned,
    {
        self.user = typed_user_error::<E>;
        self
    }

    /// Resolves to `value` when the engine answers `Done`.
    pub(crate) fn on_done(mut self, value: T) -> Self {
        self.on_done = Some(value);
        self
    }

    /// Takes the value set by [`on_done`](Call::on_done), leaving the call
    /// to be dropped (its reply is then discarded).
    pub(crate) fn take_on_done(mut self) -> Option<T> {
        self.on_done.take()
    }

    /// Fills a method cache with the reply, and decodes it from there.
    pub(crate) fn fill_cache(mut self, fill: CacheFill, decode: CachedDecode<T, E>) -> Self {
        self.cache = Some(Box::new((fill, decode)));
        self
    }

    /// Withdraws the call if no reply came within `d` from now (a call is
    /// sent when it is made, so on a new call that is `d` of sending it): it
    /// then fails with [`Error::Timeout`], and its engine drops it if it has
    /// not started (see [`Call`]). An earlier deadline the call was sent
    /// with stands. (The request left when the call was made, so engine code
    /// serving it does not see this deadline; to hand a deadline on to the
    /// calls it makes, make the call inside a
    /// [`timeout`](crate::call::WithTimeout::timeout) scope.)
    pub fn timeout(mut self, d: Duration) -> Self {
        let at = Instant::now() + d;
        self.deadline = Some(self.deadline.map_or(at, |old| old.min(at)));
        self.sleep = None;
        self
    }

    /// Withdraws the call: awaiting it gives [`Error::Cancelled`] at once,
    /// its waiter leaves the hub, and its engine drops it if it has not
    /// started (an `async` method running it stops at its next await; a
    /// running sync method finishes, its result unwanted). A call already
    /// answered keeps its answer. (Dropping a `Call` is not cancelling it:
    /// the engine still runs it.)
    pub fn cancel(&mut self) {
        if matches!(self.state, State::Waiting(_)) {
            self.ended("cancelled", 0);
            self.state = State::Ready(Some(Box::new(Err(Error::Cancelled))));
            if let Some(w) = self.withdraw.take() {
                w.send();
            }
        }
    }

    /// The deadline the call runs under, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The engine the call went to.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Blocks the current thread until the reply comes.
    ///
    /// Works on any thread outside an async runtime, and inside a
    /// multi-threaded tokio runtime (the worker hands its tasks over while it
    /// blocks). Returns [`Error::BlockingInRuntime`] inside a current-thread
    /// runtime, where blocking would stall the very tasks that deliver the
    /// reply.
    pub fn wait(self) -> Result<T, Error<E>> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Err(_) => background().block_on(self),
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| futures::executor::block_on(self))
            }
            Ok(_) => Err(Error::BlockingInRuntime),
        }
    }

    /// Tells the call's span and metrics how it ended.
    fn ended(&mut self, outcome: &'static str, bytes_in: usize) {
        self.ended_at(outcome, bytes_in, None);
    }

    /// The same, for a call that ended `at` (`None`: now).
    fn ended_at(&mut self, outcome: &'static str, bytes_in: usize, at: Option<Instant>) {
        let elapsed = self
            .sent
            .map(|s| at.unwrap_or_else(Instant::now).saturating_duration_since(s))
            .unwrap_or_default();
        self.record.done(outcome, bytes_in, elapsed);
        self.record = CallRecord::none();
        if outcome != "ok" && outcome != "cancelled" {
            if let Some(w) = &self.withdraw {
                w.hub.inner.failures.note(self.node, self.target, outcome);
            }
        }
    }

    fn finish(&mut self, reply: Reply) -> Result<T, Error<E>> {
        let head = match &reply.outcome {
            Outcome::Value(h) => h.len(),
            _ => 0,
        };
        self.ended_at(
            crate::telemetry::outcome_label(&reply.outcome),
            head + reply.body.len(),
            reply.arrived,
        );
        match reply.outcome {
            Outcome::Fault(Fault::User(bytes)) => Err((self.user)(bytes)),
            Outcome::Fault(fault) => Err(fault_error(fault, self.node, self.target).widen()),
            Outcome::Done if self.on_done.is_some() => self.on_done.take().ok_or(Error::HubClosed),
            Outcome::Value(head) if self.cache.is_some() && reply.landing.is_none() => {
                match self.cache.take().map(|c| *c) {
                    Some((fill, decode)) => decode(&fill.store(head, reply.body)),
                    None => Err(Error::HubClosed),
                }
            }
            _ => (self.decode)(reply),
        }
    }
}

/// The user-facing error for an engine's fault.
pub(crate) fn fault_error(fault: Fault, node: NodeId, target: Option<Ref>) -> Error {
    // The call's target when the fault is about it; else the object on the
    // engine that answered.
    let target_or = |object| match target {
        Some(r) if r.object == object => r,
        _ => Ref::new(node, object, crate::id::TypeTag(0)),
    };
    match fault {
        Fault::NoSuchObject(object) => Error::NoSuchObject(target_or(object)),
        Fault::NoSuchMethod { type_name, method } => Error::NoSuchMethod { type_name, method },
        Fault::Decode(message) => Error::RemoteDecode { message },
        Fault::Panic(message) => Error::RemotePanic { message },
        Fault::User(_) => Error::RemoteDecode {
            message: "a user error reached a call that expects none".into(),
        },
        Fault::Refused(message) => Error::Refused { message },
        Fault::Busy => Error::Busy,
        Fault::Killed(object) => Error::ObjectLost(target_or(object)),
        Fault::Cancelled => Error::Cancelled,
        Fault::Poisoned(object) => Error::ObjectPoisoned(target_or(object)),
        Fault::Expired => Error::Timeout,
        Fault::Reentrant(object) => Error::Reentrant(target_or(object)),
        Fault::NameTaken(name) => Error::NameTaken(name),
    }
}

impl<T, E> Future for Call<T, E> {
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let rx = match &mut this.state {
            State::Ready(result) => {
                return Poll::Ready(result.take().map_or(Err(Error::HubClosed), |r| *r));
            }
            State::Waiting(rx) => rx,
        };
        if let Poll::Ready(received) = Pin::new(rx).poll(cx) {
            let result = match received {
                Ok(Ok(reply)) => this.finish(reply),
                Ok(Err(e)) => {
                    this.ended(e.kind(), 0);
                    Err(e.widen())
                }
                // The link dropped the sender without an answer: it is gone.
                Err(_) => {
                    this.ended("engine_lost", 0);
                    Err(Error::EngineLost(this.node))
                }
            };
            this.state = State::Ready(None);
            return Poll::Ready(result);
        }
        if let Some(at) = this.deadline {
            let at = tokio::time::Instant::from_std(at);
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            if sleep.as_mut().poll(cx).is_ready() {
                this.ended("timeout", 0);
                this.state = State::Ready(None);
                if let Some(w) = this.withdraw.take() {
                    w.send();
                }
                return Poll::Ready(Err(Error::Timeout));
            }
        }
        Poll::Pending
    }
}

impl<T, E> Drop for Call<T, E> {
    fn drop(&mut self) {
        // Dropped unanswered past its deadline: its engine would not start
        // it, and nobody waits for it.
        let expired = self.deadline.is_some_and(|d| d <= Instant::now());
        if expired && matches!(self.state, State::Waiting(_)) {
            if let Some(w) = self.withdraw.take() {
                w.send();
            }
        }
    }
}

/// Runs the same call on every proxy in `objs` at once and collects the
/// results in order (distob's `call_all`). Every call is sent before any
/// reply is awaited.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// let cluster = distob::Cluster::local(2).await?;
/// let xs = cluster.scatter_each(vec![1u32, 2, 3]).await?;
/// let back = distob::call::call_all(&xs, |x| x.fetch()).await?;
/// assert_eq!(back, vec![1, 2, 3]);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub async fn call_all<P, T, E>(
    objs: &[P],
    f: impl FnMut(&P) -> Call<T, E>,
) -> Result<Vec<T>, Error<E>> {
    let calls: Vec<Call<T, E>> = objs.iter().map(f).collect();
    let mut out = Vec::with_capacity(calls.len());
    for call in calls {
        out.push(call.await?);
    }
    Ok(out)
}
