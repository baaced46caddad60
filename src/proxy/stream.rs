//! [`CallStream`]: the items of a streamed call, as they come, under
//! credit-based flow control.

use super::call::Withdraw;
use super::link::{Piece, Reply};
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::net::wire::{Fault, Message, Outcome};
use crate::value::{self, Value};
use futures::Stream;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub use crate::actors::stream::{DEFAULT_WINDOW_BYTES, DEFAULT_WINDOW_ITEMS};

/// The items of a call to a method that returns
/// [`Streamed<T>`](crate::Streamed), as a `Stream` of `Result<T, Error<E>>`.
///
/// The engine produces at most a window of items (default
/// [`DEFAULT_WINDOW_ITEMS`] items or [`DEFAULT_WINDOW_BYTES`] bytes,
/// whichever comes first; [`window`](CallStream::window) changes it) ahead
/// of what this stream has yielded, so a slow consumer bounds the engine's
/// memory. The stream holds its object's mailbox while it produces: calls
/// made on the object after it wait until it ends. Dropping the stream
/// before its end cancels it on the engine (production stops). A stream
/// whose engine is lost ends with [`Error::EngineLost`].
#[must_use = "a CallStream is already sent; consume it to see its items"]
pub struct CallStream<T, E = Infallible> {
    rx: Option<mpsc::UnboundedReceiver<Result<Piece>>>,
    withdraw: Option<Withdraw>,
    user: fn(Vec<u8>) -> Error<E>,
    node: NodeId,
    /// Items and bytes yielded, and as of when the engine was last told.
    items: u64,
    bytes: u64,
    told: u64,
    told_bytes: u64,
    window: (u64, u64),
    failed: Option<Error<E>>,
    /// Its `distob.call` span, closed at its end.
    span: tracing::Span,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T, E> Unpin for CallStream<T, E> {}

impl<T, E> std::fmt::Debug for CallStream<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallStream")
            .field("node", &self.node)
            .field("items", &self.items)
            .finish_non_exhaustive()
    }
}

fn untyped<E>(_: Vec<u8>) -> Error<E> {
    Error::RemoteDecode {
        message: "the method returned an error to a stream that expects none".into(),
    }
}

impl<T, E> CallStream<T, E> {
    pub(crate) fn open(
        rx: mpsc::UnboundedReceiver<Result<Piece>>,
        withdraw: Withdraw,
        span: tracing::Span,
    ) -> Self {
        CallStream {
            rx: Some(rx),
            node: withdraw.node,
            withdraw: Some(withdraw),
            user: untyped::<E>,
            items: 0,
            bytes: 0,
            told: 0,
            told_bytes: 0,
            window: (DEFAULT_WINDOW_ITEMS, DEFAULT_WINDOW_BYTES),
            failed: None,
            span,
            _type: std::marker::PhantomData,
        }
    }

    /// A stream that fails at once with `e` (nothing was sent).
    pub(crate) fn failed(e: Error<E>, node: NodeId) -> Self {
        CallStream {
            rx: None,
            withdraw: None,
            user: untyped::<E>,
            node,
            items: 0,
            bytes: 0,
            told: 0,
            told_bytes: 0,
            window: (DEFAULT_WINDOW_ITEMS, DEFAULT_WINDOW_BYTES),
            failed: Some(e),
            span: tracing::Span::none(),
            _type: std::marker::PhantomData,
        }
    }

    /// Decodes the method's own `Err` as `E`; generated proxies of
    /// `Result`-returning stream methods call this.
    #[doc(hidden)]
    pub fn with_remote_errors(mut self) -> Self
    where
        E: DeserializeOwned,
    {
        self.user = |bytes| match crate::value::from_cbor::<E>(&bytes) {
            Ok(e) => Error::Remote(e),
            Err(e) => Error::Codec(e),
        };
        self
    }

    /// Lets the engine run `items` items or `bytes` bytes (whichever comes
    /// first) ahead of what this stream has yielded, from now on.
    pub fn window(mut self, items: u64, bytes: u64) -> Self {
        self.window = (items.max(1), bytes.max(1));
        self.tell();
        self
    }

    /// How many items it has yielded.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Tells the engine what was consumed (and the window).
    fn tell(&mut self) {
        let Some(w) = &self.withdraw else { return };
        self.told = self.items;
        self.told_bytes = self.bytes;
        let credit = Message::Credit {
            call: w.call,
            items: self.items,
            bytes: self.bytes,
            window_items: self.window.0,
            window_bytes: self.window.1,
        };
        w.hub.tell(w.node, credit);
    }

    /// Tells the engine once half a window was consumed since last time.
    fn maybe_tell(&mut self) {
        if self.items - self.told >= self.window.0.div_ceil(2)
            || self.bytes - self.told_bytes >= self.window.1.div_ceil(2)
        {
            self.tell();
        }
    }

    /// Ends the stream (with `outcome`, for its span).
    fn end_with(&mut self, outcome: &'static str) {
        self.rx = None;
        self.withdraw = None;
        crate::telemetry::spans::finish(&self.span, outcome, "bytes_in", self.bytes as usize);
        self.span = tracing::Span::none();
    }

    fn end(&mut self) {
        self.end_with("ok");
    }
}

impl<T: Value, E> CallStream<T, E> {
    fn item(&mut self, reply: Reply) -> Result<T, Error<E>> {
        let Reply {
            outcome,
            body,
            landing,
            ..
        } = reply;
        self.items += 1;
        self.bytes += body.len() as u64;
        let Outcome::Value(head) = outcome else {
            return Err(super::remote::unexpected().widen());
        };
        self.bytes += head.len() as u64;
        let item = super::handles::decode_landed(landing.as_ref(), || value::decode(&head, body));
        self.maybe_tell();
        Ok(item?)
    }

    /// The stream's end: `None`, or the fault that ended it.
    fn ended(&mut self, reply: Reply) -> Option<Result<T, Error<E>>> {
        self.end_with(crate::telemetry::outcome_label(&reply.outcome));
        match reply.outcome {
            Outcome::Done => None,
            Outcome::Fault(Fault::User(bytes)) => Some(Err((self.user)(bytes))),
            Outcome::Fault(f) => Some(Err(super::call::fault_error(f, self.node, None).widen())),
            // A method that answered with one value: that is the stream.
            Outcome::Value(head) => Some(value::decode(&head, reply.body).map_err(Error::Codec)),
            _ => Some(Err(super::remote::unexpected().widen())),
        }
    }
}

impl<T: Value, E> Stream for CallStream<T, E> {
    type Item = Result<T, Error<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(e) = this.failed.take() {
            this.end();
            return Poll::Ready(Some(Err(e)));
        }
        let Some(rx) = this.rx.as_mut() else {
            return Poll::Ready(None);
        };
        match rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(Piece::Item(reply)))) => Poll::Ready(Some(this.item(reply))),
            Poll::Ready(Some(Ok(Piece::End(reply)))) => Poll::Ready(this.ended(reply)),
            Poll::Ready(Some(Err(e))) => {
                this.end_with(e.kind());
                Poll::Ready(Some(Err(e.widen())))
            }
            // The link went without a word: its engine is gone.
            Poll::Ready(None) => {
                this.end_with("engine_lost");
                Poll::Ready(Some(Err(Error::EngineLost(this.node))))
            }
        }
    }
}

impl<T, E> Drop for CallStream<T, E> {
    fn drop(&mut self) {
        // Dropped before its end: the engine stops producing.
        if let Some(w) = self.withdraw.take() {
            w.hub.withdraw(w.node, w.call);
        }
    }
}
