//! The errors: [`Error`] (of calls) and [`Result`], [`StartError`] (of
//! starting or reaching a cluster), and what goes with them.

use crate::cluster::{LaunchError, ProfileError, SettingsError};
use crate::id::{NodeId, Ref};
use crate::net::wire::MethodId;
pub use crate::net::NetError;
use crate::value::ValueError;
use std::convert::Infallible;
use std::net::SocketAddr;

/// `Result` with distob's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a distob call, as the caller sees it.
///
/// `E` is the error type of a remote method that returns `Result<T, E>`:
/// its `Err` arrives as [`Error::Remote`], apart from every transport
/// error. Calls that cannot fail that way use the default, `Infallible`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E = Infallible> {
    /// The remote method returned its own error.
    #[error("the remote method returned an error: {0}")]
    Remote(E),
    /// The engine is gone (process ended, connection lost); every call
    /// waiting on it fails with this.
    #[error("engine {0} is lost")]
    EngineLost(NodeId),
    /// The cluster has no engine with this id.
    #[error("no engine {0} in this cluster")]
    NoSuchEngine(NodeId),
    /// The object does not exist (any more) on its engine.
    #[error("no object {0} on its engine")]
    NoSuchObject(Ref),
    /// The object's type has no such method on its engine, or the engine was
    /// built without that type.
    #[error("{type_name} has no {method} on its engine (is the type registered there?)")]
    NoSuchMethod {
        /// The object's type.
        type_name: String,
        /// The method asked for.
        method: MethodId,
    },
    /// The peer does not hold the same cluster key.
    #[error("authentication failed: the peer does not hold the same cluster key")]
    Auth,
    /// The peer speaks another protocol version.
    #[error("protocol version mismatch: ours is {ours}, the peer's is {theirs}")]
    VersionMismatch {
        /// Our version.
        ours: u16,
        /// The peer's.
        theirs: u16,
    },
    /// The connection broke the protocol (bad frame, unexpected message).
    #[error("protocol error")]
    Protocol(#[source] NetError),
    /// A value could not be encoded or decoded.
    #[error("cannot encode or decode a value")]
    Codec(#[from] ValueError),
    /// The call's deadline passed: it was withdrawn (or its engine did not
    /// start it).
    #[error("call timed out")]
    Timeout,
    /// The call was cancelled ([`Call::cancel`](crate::Call::cancel)).
    #[error("call cancelled")]
    Cancelled,
    /// Engine-side code panicked; the engine and other callers go on.
    #[error("remote code panicked: {message}")]
    RemotePanic {
        /// The panic's message.
        message: String,
    },
    /// The engine could not decode what it was sent (a type mismatch between
    /// client and engine builds, usually).
    #[error("the engine could not decode the request: {message}")]
    RemoteDecode {
        /// The engine decoder's report.
        message: String,
    },
    /// The engine refused the request.
    #[error("the engine refused the request: {message}")]
    Refused {
        /// Why.
        message: String,
    },
    /// Reading or writing a socket, file or pipe failed.
    #[error("i/o error")]
    Io(#[from] std::io::Error),
    /// Connecting to an engine failed.
    #[error("cannot connect to engine at {addr}")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Starting or reaching a cluster failed: never from a call, only
    /// from what starts one (`?` on a [`StartError`] in a function that
    /// returns this `Error`, and the free functions that start the default
    /// cluster).
    #[error(transparent)]
    Start(Box<StartError>),
    /// The cluster is draining ([`Cluster::drain`](crate::Cluster::drain)):
    /// it takes no new calls.
    #[error("the cluster is shutting down and takes no new calls")]
    ShuttingDown,
    /// `.wait()` was called on a thread that runs an async runtime, where
    /// blocking would stall the very tasks that deliver the reply.
    #[error("Call::wait() blocks, and this thread runs an async runtime: use `.await` here")]
    BlockingInRuntime,
    /// The hub's connections are closed.
    #[error("the object hub is closed")]
    HubClosed,
    /// An array operation was refused on the client (nothing was sent).
    #[error("array shape error")]
    Shape(#[from] crate::array::ShapeError),
    /// The engine has too many calls from this client in flight; the call
    /// was not run. Try again once some replies have come.
    #[error("the engine is busy: too many calls in flight")]
    Busy,
    /// The object's engine restarted since it was made: the object is gone.
    #[error("object {0} was lost when its engine restarted")]
    ObjectLost(Ref),
    /// The object is not of the type the handle asks for.
    #[error("the object is a {found}, not a {expected}")]
    WrongType {
        /// The type asked for (its registered name).
        expected: String,
        /// The object's type.
        found: String,
    },
    /// The call chain came back to an object whose mailbox an `async`
    /// method up the same chain holds: serving it would deadlock.
    #[error("call chain came back to {0}, held by an async method up the chain")]
    Reentrant(Ref),
    /// A `&mut self` method of the object panicked earlier: the object may
    /// be half-changed, and takes no more calls (see
    /// [`OnPanic`](crate::registry::OnPanic)).
    #[error("object {0} is poisoned: a method panicked and may have left it half-changed")]
    ObjectPoisoned(Ref),
    /// The name is held by another object.
    #[error("the name {0:?} is taken")]
    NameTaken(String),
    /// The name cannot be used (nothing was sent).
    #[error("bad object name")]
    BadName(#[from] NameError),
    /// The operating system's random source failed, so no key, nonce or
    /// token could be made (distob never falls back on a weaker one).
    #[error("the operating system's random source failed")]
    Rng(#[source] getrandom::Error),
    /// Two remote operands live on different engines where they must share one.
    #[error("{a} and {b} live on different engines")]
    NotColocated {
        /// One operand.
        a: Ref,
        /// The other.
        b: Ref,
    },
}

impl<E> From<NetError> for Error<E> {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Auth => Error::Auth,
            NetError::VersionMismatch { ours, theirs } => Error::VersionMismatch { ours, theirs },
            NetError::Io(io) => Error::Io(io),
            NetError::Connect { addr, source } => Error::Connect { addr, source },
            NetError::Rng(e) => Error::Rng(e),
            other => Error::Protocol(other),
        }
    }
}

impl Error {
    /// The same error, typed for a call whose remote method has error type `E`.
    pub fn widen<E>(self) -> Error<E> {
        match self {
            Error::Remote(never) => match never {},
            Error::EngineLost(n) => Error::EngineLost(n),
            Error::NoSuchEngine(n) => Error::NoSuchEngine(n),
            Error::NoSuchObject(r) => Error::NoSuchObject(r),
            Error::NoSuchMethod { type_name, method } => Error::NoSuchMethod { type_name, method },
            Error::Auth => Error::Auth,
            Error::VersionMismatch { ours, theirs } => Error::VersionMismatch { ours, theirs },
            Error::Protocol(e) => Error::Protocol(e),
            Error::Codec(e) => Error::Codec(e),
            Error::Timeout => Error::Timeout,
            Error::Cancelled => Error::Cancelled,
            Error::RemotePanic { message } => Error::RemotePanic { message },
            Error::RemoteDecode { message } => Error::RemoteDecode { message },
            Error::Refused { message } => Error::Refused { message },
            Error::Io(e) => Error::Io(e),
            Error::Connect { addr, source } => Error::Connect { addr, source },
            Error::Start(e) => Error::Start(e),
            Error::ShuttingDown => Error::ShuttingDown,
            Error::BlockingInRuntime => Error::BlockingInRuntime,
            Error::HubClosed => Error::HubClosed,
            Error::NotColocated { a, b } => Error::NotColocated { a, b },
            Error::Shape(e) => Error::Shape(e),
            Error::ObjectLost(r) => Error::ObjectLost(r),
            Error::Busy => Error::Busy,
            Error::Rng(e) => Error::Rng(e),
            Error::WrongType { expected, found } => Error::WrongType { expected, found },
            Error::Reentrant(r) => Error::Reentrant(r),
            Error::ObjectPoisoned(r) => Error::ObjectPoisoned(r),
            Error::NameTaken(n) => Error::NameTaken(n),
            Error::BadName(e) => Error::BadName(e),
        }
    }
}

/// Why a cluster could not be started or reached: what
/// [`Cluster::local`](crate::Cluster::local), `spawn`, `launch`, `connect`
/// and [`ClusterBuilder`](crate::ClusterBuilder) return, apart from the
/// errors of calls. `?` turns it into an [`Error`] where a function returns
/// one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Engines could not be started, or did not register.
    #[error("cannot start engines")]
    Launch(#[from] LaunchError),
    /// A cluster profile could not be read or written.
    #[error("cluster profile error")]
    Profile(#[from] ProfileError),
    /// A setting (a `DISTOB_*` variable) could not be used.
    #[error("bad setting")]
    Settings(#[from] SettingsError),
    /// Connecting to the engines failed (address, handshake, key, or the
    /// random source the cluster key comes from).
    #[error(transparent)]
    Connect(#[from] Error),
}

impl From<StartError> for Error {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Connect(e) => e,
            other => Error::Start(Box::new(other)),
        }
    }
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> Self {
        StartError::Launch(LaunchError::Io(e))
    }
}

/// What became of a call that failed, as far as its caller can tell: what
/// is safe to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallFate {
    /// It never left this process (a bad argument, no such engine, a
    /// closed hub): retrying cannot run it twice.
    NotSent,
    /// It was sent, and the engine is known not to have run it (refused:
    /// busy, no such object, a reentrant chain, past its deadline before it
    /// started).
    NotRun,
    /// It was sent and may have run, wholly or in part (it ran and failed;
    /// or it was withdrawn, timed out, or its engine was lost with no word
    /// of it).
    MayHaveRun,
}

impl<E> Error<E> {
    /// What became of the call: whether it may have run (see [`CallFate`]).
    ///
    /// ```
    /// use distob::{Error, error::CallFate};
    /// assert_eq!(Error::<std::convert::Infallible>::Busy.fate(), CallFate::NotRun);
    /// assert!(Error::<std::convert::Infallible>::Timeout.may_have_run());
    /// assert!(!Error::<std::convert::Infallible>::HubClosed.may_have_run());
    /// ```
    pub fn fate(&self) -> CallFate {
        match self {
            Error::Remote(_)
            | Error::RemotePanic { .. }
            | Error::EngineLost(_)
            | Error::Timeout
            | Error::Cancelled
            | Error::Io(_)
            | Error::Protocol(_) => CallFate::MayHaveRun,
            Error::NoSuchObject(_)
            | Error::NoSuchMethod { .. }
            | Error::RemoteDecode { .. }
            | Error::Refused { .. }
            | Error::Busy
            | Error::ObjectLost(_)
            | Error::Reentrant(_)
            | Error::ObjectPoisoned(_)
            | Error::NameTaken(_)
            | Error::WrongType { .. } => CallFate::NotRun,
            _ => CallFate::NotSent,
        }
    }

    /// Whether the call may have run (so retrying it may run it twice).
    pub fn may_have_run(&self) -> bool {
        self.fate() == CallFate::MayHaveRun
    }

    /// A short, stable label of what went wrong (`"timeout"`,
    /// `"engine_lost"`, `"remote_error"`, …): the `outcome` of the
    /// `distob.call` span and of `distob_calls_total`.
    ///
    /// ```
    /// assert_eq!(distob::Error::<std::convert::Infallible>::Busy.kind(), "busy");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Remote(_) => "remote_error",
            Error::RemotePanic { .. } => "panic",
            Error::RemoteDecode { .. } => "decode",
            Error::Refused { .. } => "refused",
            Error::Busy => "busy",
            Error::NoSuchObject(_) => "no_such_object",
            Error::NoSuchMethod { .. } => "no_such_method",
            Error::ObjectLost(_) => "object_lost",
            Error::Reentrant(_) => "reentrant",
            Error::NameTaken(_) => "name_taken",
            Error::Cancelled => "cancelled",
            Error::ObjectPoisoned(_) => "poisoned",
            Error::Timeout => "timeout",
            Error::EngineLost(_) => "engine_lost",
            Error::HubClosed => "hub_closed",
            Error::ShuttingDown => "shutting_down",
            Error::Connect { .. } | Error::Auth | Error::VersionMismatch { .. } => "connect",
            Error::Codec(_) => "codec",
            Error::WrongType { .. } => "wrong_type",
            Error::Protocol(_) | Error::Io(_) => "protocol",
            _ => "error",
        }
    }

    /// The remote method's own error, if that is what this is.
    pub fn remote(&self) -> Option<&E> {
        match self {
            Error::Remote(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a name cannot name an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("a name cannot be empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`](crate::call::MAX_NAME_LEN) bytes.
    #[error(
        "a name is at most {} bytes; this one is {len}",
        crate::call::MAX_NAME_LEN
    )]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The name has control characters.
    #[error("a name cannot contain control characters")]
    Control,
}
