//! The protocol messages: pure data, no I/O.
//!
//! A frame on the wire is
//!
//! ```text
//! u32 LE head length | u32 LE body length | head: one CBOR `Message` | body: raw bytes
//! ```
//!
//! The head is small and structured; the body carries bulk bytes (a value's
//! encoding, array data) untouched, so that they are written straight from
//! and read straight into their final buffers. A body larger than one frame
//! travels as a run of [`Message::Chunk`] frames whose last one carries the
//! message the whole body belongs to.

use crate::id::{CallId, NodeId, ObjectId};
use serde::{Deserialize, Serialize};

/// The protocol version both sides must speak; checked in the handshake.
pub const PROTOCOL_VERSION: u16 = 5;

/// A 32-byte random challenge or proof in the handshake.
pub type Nonce = [u8; 32];

/// A method of a hosted type, named by a stable hash of `"Type::method"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MethodId(pub u64);

impl MethodId {
    /// The id of a method from its `"Type::method"` name (64-bit FNV-1a).
    pub const fn of_name(name: &str) -> MethodId {
        MethodId(crate::id::TypeTag::of_name(name).0)
    }
}

impl std::fmt::Display for MethodId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "method {:016x}", self.0)
    }
}

/// An object named by a handle in flight (inside a request's arguments, a
/// value put on an engine, or a reply): its engine and its id there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HandleRef(pub NodeId, pub ObjectId);

/// One small item of a streamed answer, in a [`Message::Items`] batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamItem(
    #[serde(with = "serde_bytes")] pub Vec<u8>,
    pub Vec<HandleRef>,
);

/// What travels with every request beside its op: the id of the call
/// chain it belongs to (the calls one client call causes, engine to
/// engine); the handles its payload carries (each lent by the sender to the
/// object's engine before it was sent, and returned by the receiver once
/// decoded, with [`Message::Arrived`]); the objects whose `async` methods
/// up the chain wait for this call (holding their mailboxes); and the
/// time left before its deadline, in microseconds, if it has one (the
/// receiver counts it from when the request arrives); and the trace it
/// belongs to, if anyone traces it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta(
    pub u64,
    pub Vec<HandleRef>,
    pub Vec<ObjectId>,
    pub Option<u64>,
    pub Option<Trace>,
);

/// A request's place in a distributed trace, as W3C trace context has it
/// (`traceparent`): the trace's 128-bit id (high, low), the id of the
/// caller's span, and the trace flags (bit 0: sampled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Trace(pub u64, pub u64, pub u64, pub u8);

/// Why a handshake was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The peer speaks another protocol version.
    Version {
        /// The refusing side's version.
        ours: u16,
    },
    /// The peer could not prove it holds the cluster key.
    Auth,
    /// The peer sent something other than the next handshake message.
    Protocol,
    /// The engine takes only TLS from where the peer is (see
    /// [`TlsPolicy`](super::TlsPolicy)).
    TlsRequired,
    /// A registration's token is unknown, already used, or of another
    /// launch.
    Token,
}

/// One message: the CBOR head of a frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Dialer → acceptor: opens the handshake.
    Hello {
        /// The dialer's protocol version.
        protocol: u16,
        /// The dialer's node id ([`NodeId::CLIENT`] for a client).
        node: NodeId,
        /// A fresh random challenge.
        #[serde(with = "serde_bytes")]
        nonce: Nonce,
    },
    /// Acceptor → dialer: its own challenge and its proof of the key.
    Challenge {
        /// The acceptor's protocol version.
        protocol: u16,
        /// The acceptor's node id.
        node: NodeId,
        /// A fresh random challenge.
        #[serde(with = "serde_bytes")]
        nonce: Nonce,
        /// Keyed hash over both challenges, proving the acceptor holds the key.
        #[serde(with = "serde_bytes")]
        proof: Nonce,
    },
    /// Dialer → acceptor: the dialer's proof of the key.
    Proof {
        /// Keyed hash over both challenges.
        #[serde(with = "serde_bytes")]
        proof: Nonce,
    },
    /// Acceptor → dialer: the handshake passed; requests may follow.
    Accepted,
    /// A starting engine → the client that launched it, after the
    /// handshake: the one-time token it was given, the address it listens
    /// on, and its process id (for stopping it).
    Register {
        /// The launch token.
        #[serde(with = "serde_bytes")]
        token: Nonce,
        /// Where the engine listens.
        addr: std::net::SocketAddr,
        /// The engine's process id on its host.
        pid: u32,
    },
    /// Client → registering engine: registered as engine `node` (the slot
    /// its token was made for, or the next free one for an engine that
    /// joins by profile); serve.
    Registered {
        /// The engine's node id in the cluster.
        node: NodeId,
    },
    /// Either side: the handshake failed; the connection closes.
    Refused {
        /// Why.
        reason: Refusal,
    },
    /// A request (its id, echoed in the reply, what to do, and its
    /// [`Meta`]); the frame body is the op's bulk data, if any. Hot messages
    /// are tuple variants: CBOR arrays decode faster than maps with named
    /// fields.
    Request(CallId, Op, Meta),
    /// The reply to a request (its id, what came of it, and the handles the
    /// outcome's value carries); the frame body is the outcome's bulk data,
    /// if any.
    Reply(CallId, Outcome, Vec<HandleRef>),
    /// One item of a streamed call's answer (its value's small part; the
    /// frame body is its bulk part), and the handles it carries. The call's
    /// `Reply` ends the stream.
    Item(
        CallId,
        #[serde(with = "serde_bytes")] Vec<u8>,
        Vec<HandleRef>,
    ),
    /// Several small items of a streamed call (no bulk parts), in order: each
    /// its value and the handles it carries.
    Items(CallId, Vec<StreamItem>),
    /// Caller → engine: the caller of streamed call `call` has consumed
    /// `items` items of `bytes` bytes in all; the engine may run up to
    /// `window_items` items or `window_bytes` bytes ahead of that.
    Credit {
        /// The streamed call.
        call: CallId,
        /// Items consumed so far.
        items: u64,
        /// Bytes consumed so far.
        bytes: u64,
        /// Items the engine may produce beyond those consumed.
        window_items: u64,
        /// Bytes the engine may produce beyond those consumed.
        window_bytes: u64,
    },
    /// Caller → engine: one item of feed `feed` (a stream passed as a call
    /// argument): its value's small part; the frame body is its bulk part.
    FeedItem {
        /// The feed.
        feed: u64,
        /// The item's head.
        #[serde(with = "serde_bytes")]
        head: Vec<u8>,
    },
    /// Caller → engine: feed `feed` has no more items (`error`: it failed
    /// on the caller's side).
    FeedEnd {
        /// The feed.
        feed: u64,
        /// Why it ended early, if it did.
        error: Option<String>,
    },
    /// Engine → caller: the method consumed `items` more items of `feed`.
    FeedCredit {
        /// The feed.
        feed: u64,
        /// How many more the caller may send.
        items: u32,
    },
    /// Engine → caller: the method dropped feed `feed`: send no more.
    FeedCancel {
        /// The feed.
        feed: u64,
    },
    /// Holder → an object's engine: it dropped its last handles to these
    /// objects.
    Release {
        /// The objects to drop.
        objects: Vec<ObjectId>,
    },
    /// Holder → an object's engine: it holds handles to these objects now
    /// (it decoded one it did not hold yet).
    Hold {
        /// The objects.
        objects: Vec<ObjectId>,
    },
    /// Sender → an object's engine, before a payload with handles to these
    /// objects leaves it: they are in flight, and live until they arrive.
    Lent {
        /// The objects, once per handle sent.
        objects: Vec<ObjectId>,
    },
    /// Receiver → an object's engine: handles to these objects that were in
    /// flight have arrived (and are held, or dropped, by the receiver).
    Arrived {
        /// The objects, once per handle received.
        objects: Vec<ObjectId>,
    },
    /// Caller → engine: the caller withdrew call `call` (cancelled, or timed
    /// out): drop it if it has not started, stop an `async` method running
    /// it at its next await; its reply, if one comes, is not wanted.
    Cancel {
        /// The call, as its request named it.
        call: CallId,
    },
    /// Engine → the holders of an object: one of its methods panicked, and
    /// the object is poisoned (or, `restarted`, rebuilt).
    ObjectFailed {
        /// The object.
        object: ObjectId,
        /// The panic's message.
        message: String,
        /// Whether it was rebuilt (else it is poisoned).
        restarted: bool,
    },
    /// Client → engine: where the cluster's engines listen, so that engine
    /// code can reach them.
    Directory {
        /// Node ids and addresses.
        engines: Vec<(NodeId, std::net::SocketAddr)>,
    },
    /// One piece of a body too large for one frame; the frame body is the piece.
    Chunk {
        /// Which body this piece belongs to (unique per connection while open).
        stream: u32,
        /// Where the piece goes in the whole body.
        offset: u64,
        /// The whole body's length.
        total: u64,
        /// On the last piece: the message the whole body belongs to.
        last: Option<Box<Message>>,
    },
    /// Liveness probe; answered by `Pong` with the same number.
    Ping {
        /// Echoed.
        seq: u64,
    },
    /// Answer to `Ping`.
    Pong {
        /// The ping's number.
        seq: u64,
    },
}

/// What a request asks an engine to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Store a value under `object`; the frame body holds its bulk bytes.
    Put {
        /// The id the client chose.
        object: ObjectId,
        /// The Rust type name, for the engine's registry.
        type_name: String,
        /// The value's small encoded part (see `value` encoding).
        #[serde(with = "serde_bytes")]
        head: Vec<u8>,
    },
    /// Send back the value of an object.
    Get(ObjectId),
    /// `Get`, with the reply sent on the connection this one is paired with
    /// as bulk (see `Pair`): a large value, whose reply must not hold up
    /// the small replies on this connection. The request itself keeps its
    /// place among this connection's calls.
    GetBulk(ObjectId),
    /// `Get` by reference, from a client in the engine's own process: the
    /// reply is a token (a `u64` value) under which the client takes the
    /// shared value from the process's exchange (arrays copy-on-write).
    /// Sent only to in-process engines.
    Lend(ObjectId),
    /// `Put` by reference, from a client in the engine's own process: the
    /// value (a shared array) waits in the process's exchange under
    /// `token`, and the engine takes it over without a copy. Sent only to
    /// in-process engines.
    Adopt {
        /// The id the client chose.
        object: ObjectId,
        /// The Rust type name, for the engine's registry.
        type_name: String,
        /// Where the value waits.
        token: u64,
    },
    /// Pairs the client's two connections to this engine under `token`:
    /// the bulk one says so first (`bulk: true`), then the main one.
    Pair {
        /// A random number the client chose for the pair.
        token: u64,
        /// Whether this is the bulk connection.
        bulk: bool,
    },
    /// Run a method of a hosted object.
    Call(CallOp),
    /// Run a registered free function with the object as its first argument.
    Apply {
        /// The object.
        object: ObjectId,
        /// The function, by the stable hash of its path.
        function: MethodId,
        /// The CBOR-encoded remaining arguments.
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
        /// As for `Call`.
        keep: Option<ObjectId>,
    },
    /// Run a method of a hosted object with a second object of the same
    /// engine as its operand (which is read, not changed).
    Combine(CallOp, ObjectId),
    /// Expect object `object` from another engine (sent by a `Push` there):
    /// it exists from now on, and calls on it wait until it arrives.
    Expect {
        /// The new object's id.
        object: ObjectId,
        /// Its Rust type name.
        type_name: String,
    },
    /// Send a copy of object `source` to engine `to` (engine to engine),
    /// where it is expected as `object`. In order with the other calls on
    /// `source`.
    Push {
        /// The object here.
        source: ObjectId,
        /// Its id there.
        object: ObjectId,
        /// The engine it goes to.
        to: NodeId,
        /// Where that engine listens.
        addr: std::net::SocketAddr,
    },
    /// Engine → engine: the copy of a value a `Push` asked for, to fill the
    /// expected object `object` (it adds no holder: the client that expects
    /// it holds it).
    Deliver {
        /// The expected object.
        object: ObjectId,
        /// Its type's registered name.
        type_name: String,
        /// The value's small encoded part.
        #[serde(with = "serde_bytes")]
        head: Vec<u8>,
    },
    /// Attach to an existing object: the sender becomes one of its holders;
    /// answered with [`Outcome::Attached`] (its type name).
    Attach(ObjectId),
    /// Ask the name's directory engine to record `name` for `object`
    /// (`Done`, or [`Fault::NameTaken`]); it pins the object first.
    Claim {
        /// The name.
        name: String,
        /// The object.
        object: HandleRef,
        /// Its type's registered name.
        type_name: String,
    },
    /// Ask the name's directory engine what `name` names
    /// ([`Outcome::Found`]).
    Lookup(String),
    /// Directory engine → an object's engine: the object is named `name`;
    /// it lives until killed.
    Pin {
        /// The object.
        object: ObjectId,
        /// Its name.
        name: String,
    },
    /// An object's engine → the directory engine: the object named `name`
    /// is gone.
    Unname {
        /// The name.
        name: String,
        /// The object it named.
        object: HandleRef,
    },
    /// End an object for every holder; later calls on it fail with
    /// [`Fault::Killed`].
    Kill(ObjectId),
    /// An expected object will not come: the push failed.
    Fail {
        /// The expected object.
        object: ObjectId,
        /// Why.
        fault: Fault,
    },
    /// List the engine's objects.
    List,
    /// Report the engine's counters.
    Stats,
    /// Stop the engine (graceful); replies first.
    Shutdown,
}

/// A method call: object, method, CBOR-encoded argument tuple, and where to
/// keep the result (a new object with that id, answered by `Done`) instead
/// of sending it back. Serialised as a CBOR array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallOp(
    pub ObjectId,
    pub MethodId,
    #[serde(with = "serde_bytes")] pub Vec<u8>,
    pub Option<ObjectId>,
);

/// What came of a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Done, nothing to return.
    Done,
    /// A value: its small encoded part here, bulk bytes in the frame body.
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The engine's objects.
    Listing(Vec<ObjectInfo>),
    /// The engine's counters.
    Stats(Box<EngineStats>),
    /// The request failed on the engine.
    Fault(Fault),
    /// Attached: the object's type name.
    Attached(String),
    /// What a name names: the object and its type name, if anything.
    Found(Box<Option<(HandleRef, String)>>),
}

/// One object in a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// Its id.
    pub object: ObjectId,
    /// Its Rust type name.
    pub type_name: String,
    /// Its encoded size in bytes.
    pub nbytes: u64,
    /// How many holders it has (clients and engines holding handles to it;
    /// a name counts as one).
    #[serde(default)]
    pub holders: u32,
    /// Its name, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How many timers it has running ([`Ctx::every`](crate::Ctx::every)).
    #[serde(default)]
    pub timers: u32,
}

/// An engine's counters since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Objects it holds now.
    pub objects: u64,
    /// Requests received (all kinds).
    pub requests: u64,
    /// Method and function calls received.
    pub calls: u64,
    /// Frame bytes received after the handshake (heads and bodies).
    pub bytes_received: u64,
    /// Calls received and not answered yet.
    #[serde(default)]
    pub in_flight: u64,
    /// Calls queued on (or running in) its objects, including objects
    /// already released whose mailboxes still hold calls.
    #[serde(default)]
    pub queued: u64,
    /// Frame bytes it has sent (heads and bodies).
    #[serde(default)]
    pub bytes_sent: u64,
    /// The encoded size of the objects it holds, as they arrived.
    #[serde(default)]
    pub bytes_held: u64,
    /// The resident memory of its process, in bytes (0 where unknown).
    #[serde(default)]
    pub rss_bytes: u64,
}

/// Why a request failed on the engine. Text here is data from the engine
/// (a panic message, a decoder's report), not a Rust error cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// No object with that id on this engine.
    NoSuchObject(ObjectId),
    /// The object's type has no such method (or is not registered here).
    NoSuchMethod {
        /// The object's type name.
        type_name: String,
        /// The method asked for.
        method: MethodId,
    },
    /// The engine could not decode the request's value or arguments.
    Decode(String),
    /// Engine-side code panicked; the message is the panic's payload.
    Panic(String),
    /// The method returned its own error, CBOR-encoded.
    User(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The engine refused the request (for example: shutting down).
    Refused(String),
    /// Too many calls from this connection are in flight: try again later.
    Busy,
    /// The object was killed.
    Killed(ObjectId),
    /// The call chain came back to an object whose mailbox an async method
    /// up the same chain holds: serving it would deadlock.
    Reentrant(ObjectId),
    /// The name is taken.
    NameTaken(String),
    /// The caller withdrew the call.
    Cancelled,
    /// A method panicked earlier and left the object poisoned.
    Poisoned(ObjectId),
    /// The call's deadline passed before it could start.
    Expired,
}
