//! Opening an authenticated TCP link, either side: connect (or accept),
//! tune, TLS when the policy asks for it, then the cluster-key handshake
//! bound to the session.

use super::codec::Limits;
use super::connection::write_frame;
use super::connection::{FrameReader, FrameWriter, Liveness, WriteMode};
use super::error::NetError;
use super::handshake::{self, HANDSHAKE_TIMEOUT};
use super::key::ClusterKey;
use super::latency::Latency;
use super::tls::{self, Binding, Identity, TlsPolicy, TLS_HANDSHAKE_RECORD};
use super::wire::{Message, Refusal};
use crate::id::NodeId;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// The read half of a link, plaintext or TLS.
pub type LinkRead = Box<dyn AsyncRead + Send + Unpin>;

/// A link that passed the handshake: the peer's node id, its frame reader
/// and writer.
pub struct Dialed {
    /// The node id the peer proved.
    pub peer: NodeId,
    /// Frames from the peer.
    pub reader: FrameReader<LinkRead>,
    /// Frames to the peer.
    pub writer: FrameWriter,
    /// Whether the link is TLS.
    pub tls: bool,
}

impl std::fmt::Debug for Dialed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialed")
            .field("peer", &self.peer)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// How a side makes its TCP links: which are TLS, how a dead peer is
/// noticed, and how long a connection attempt may take. A [`TlsPolicy`]
/// alone converts into one with the default [`Liveness`] and
/// [`DEFAULT_CONNECT_TIMEOUT`].
///
/// ```
/// use distob::net::{LinkOptions, Liveness, TlsPolicy};
/// use std::time::Duration;
/// let quick = LinkOptions {
///     liveness: Liveness { unacked: Duration::from_millis(1500), ..Liveness::default() },
///     ..LinkOptions::from(TlsPolicy::Auto)
/// };
/// assert_eq!(quick.tls, TlsPolicy::Auto);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkOptions {
    /// Which links are TLS.
    pub tls: TlsPolicy,
    /// How a dead peer is noticed.
    pub liveness: Liveness,
    /// How long the TCP connect may take before the attempt fails (an
    /// address that never answers fails in this time, not after the
    /// kernel's two minutes).
    pub connect_timeout: Duration,
    /// Whether the link's reader polls before it parks.
    pub latency: Latency,
}

/// How long a TCP connect may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for LinkOptions {
    fn default() -> Self {
        TlsPolicy::default().into()
    }
}

impl From<TlsPolicy> for LinkOptions {
    fn from(tls: TlsPolicy) -> Self {
        LinkOptions {
            tls,
            liveness: Liveness::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            latency: Latency::Park,
        }
    }
}

/// Connects to `addr` as node `me`: TCP within the options' connect
/// timeout and with their [`Liveness`], TLS
/// if their policy wants it for that address, then the handshake (the
/// whole within [`HANDSHAKE_TIMEOUT`] after the TCP connect).
pub async fn dial_tcp(
    addr: SocketAddr,
    key: &ClusterKey,
    me: NodeId,
    options: LinkOptions,
    limits: Limits,
    mode: WriteMode,
) -> Result<Dialed, NetError> {
    dial_tcp_into(addr, key, me, options, limits, Writer::New(mode)).await
}

/// The writer a link's frames go to: a new one, or one made before the
/// connection ([`FrameWriter::deferred`]) whose queued frames go first.
#[derive(Debug, Clone)]
pub enum Writer {
    /// A new writer in this mode.
    New(WriteMode),
    /// This deferred writer, attached to the link.
    Into(FrameWriter),
}

impl Writer {
    fn tcp(self, half: tokio::net::tcp::OwnedWriteHalf) -> FrameWriter {
        match self {
            Writer::New(mode) => FrameWriter::tcp(half, mode),
            Writer::Into(w) => {
                w.attach_tcp(half);
                w
            }
        }
    }

    /// The writer over any byte stream.
    pub fn stream(self, io: impl AsyncWrite + Send + Unpin + 'static) -> FrameWriter {
        match self {
            Writer::New(mode) => FrameWriter::stream(io, mode),
            Writer::Into(w) => {
                w.attach_stream(io);
                w
            }
        }
    }
}

/// [`dial_tcp`], with the link's frames going to `writer`.
pub async fn dial_tcp_into(
    addr: SocketAddr,
    key: &ClusterKey,
    me: NodeId,
    options: LinkOptions,
    limits: Limits,
    writer: Writer,
) -> Result<Dialed, NetError> {
    let stream = match tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr)).await
    {
        Ok(connected) => connected.map_err(|source| NetError::Connect { addr, source })?,
        Err(_) => {
            return Err(NetError::Connect {
                addr,
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {:?}", options.connect_timeout),
                ),
            })
        }
    };
    // Without these the link still works, only slower to notice a dead peer
    // (or to send small frames).
    if let Err(e) = options.liveness.apply(&stream) {
        tracing::debug!(error = %e, "cannot tune the link");
    }
    let side = Side::Dialer(key, me);
    let reading = Reading {
        limits,
        stall: None,
        spin: options.latency.spin(),
    };
    let opened = async {
        if options.tls.wants_tls(addr.ip()) {
            let (stream, binding) = tls::connect(stream).await?;
            tls_link(stream, &binding, side, reading, writer).await
        } else {
            plain_link(stream, side, reading, writer).await
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, opened)
        .await
        .map_err(|_| NetError::Timeout)?
}

/// How an acceptor takes links: its key and node id, which links must be
/// TLS, frame limits and stall timeout, and its TLS identity (made on first
/// use by `identity`).
#[derive(Debug, Clone, Copy)]
pub struct AcceptAs<'a> {
    /// The cluster key peers must prove.
    pub key: &'a ClusterKey,
    /// This side's node id.
    pub me: NodeId,
    /// Which links are TLS.
    pub policy: TlsPolicy,
    /// Frame limits.
    pub limits: Limits,
    /// How long a peer may stall inside a frame.
    pub frame_timeout: Duration,
    /// How a dead peer is noticed.
    pub liveness: Liveness,
    /// Whether the link's reader polls before it parks.
    pub latency: Latency,
}

/// Accepts a link on `stream`: TLS if the dialer opens with it (and the
/// policy admits that from where it is), then the handshake, all within
/// [`HANDSHAKE_TIMEOUT`]. A plaintext dialer the policy refuses is told
/// [`Refusal::TlsRequired`]. `identity` makes (or returns) the TLS identity.
pub async fn accept_tcp(
    stream: TcpStream,
    how: AcceptAs<'_>,
    mode: WriteMode,
    identity: impl FnOnce() -> Result<Identity, NetError>,
) -> Result<Dialed, NetError> {
    // Without these the link still works, only slower to notice a dead
    // peer (or to send small frames).
    if let Err(e) = how.liveness.apply(&stream) {
        tracing::debug!(error = %e, "cannot tune the link");
    }
    let from = stream.peer_addr()?;
    let opened = async {
        let tls = opens_tls(&stream).await?;
        if !how.policy.admits(from.ip(), tls) {
            if !tls {
                refuse_plaintext(stream, how).await;
            }
            return Err(NetError::TlsRequired);
        }
        let side = Side::Acceptor(how.key, how.me);
        let reading = Reading {
            limits: how.limits,
            stall: Some(how.frame_timeout),
            spin: how.latency.spin(),
        };
        if tls {
            let (stream, binding) = tls::accept(stream, &identity()?).await?;
            tls_link(stream, &binding, side, reading, Writer::New(mode)).await
        } else {
            plain_link(stream, side, reading, Writer::New(mode)).await
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, opened)
        .await
        .map_err(|_| NetError::Timeout)?
}

/// Whether the dialer opens with a TLS handshake record (type 0x16,
/// version 3.x), as against a plaintext frame (whose first bytes are its
/// head's length, little-endian: a head of 22 bytes starts with 0x16 too,
/// then zeros).
async fn opens_tls(stream: &TcpStream) -> Result<bool, NetError> {
    let mut first = [0u8; 3];
    loop {
        let n = stream.peek(&mut first).await?;
        if n == 0 {
            return Err(NetError::Closed);
        }
        if first[0] != TLS_HANDSHAKE_RECORD {
            return Ok(false);
        }
        if n >= 3 {
            return Ok(first[1] == 3 && first[2] <= 4);
        }
        // Only part of it has come: wait for the rest.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Which end of the handshake this side plays, with its key and node id.
#[derive(Clone, Copy)]
enum Side<'a> {
    Dialer(&'a ClusterKey, NodeId),
    Acceptor(&'a ClusterKey, NodeId),
}

impl Side<'_> {
    /// Runs this side's handshake, bound to `binding`; the peer's node id.
    async fn prove<W: AsyncWrite + Unpin>(
        self,
        reader: &mut FrameReader<LinkRead>,
        write: &mut W,
        binding: &Binding,
    ) -> Result<NodeId, NetError> {
        match self {
            Side::Dialer(key, me) => handshake::dial(reader, write, key, me, binding).await,
            Side::Acceptor(key, me) => handshake::accept(reader, write, key, me, binding).await,
        }
    }
}

/// How a link's frames are read: their limits, how long the peer may
/// stall inside one, how long to poll before parking.
#[derive(Clone, Copy)]
struct Reading {
    limits: Limits,
    stall: Option<Duration>,
    spin: Option<Duration>,
}

impl Reading {
    fn reader(self, read: LinkRead) -> FrameReader<LinkRead> {
        let reader = FrameReader::new(read, self.limits).with_spin(self.spin);
        match self.stall {
            Some(t) => reader.with_frame_timeout(t),
            None => reader,
        }
    }
}

/// A plaintext link once its handshake passes.
async fn plain_link(
    stream: TcpStream,
    side: Side<'_>,
    reading: Reading,
    writer: Writer,
) -> Result<Dialed, NetError> {
    let (read, mut write) = stream.into_split();
    let mut reader = reading.reader(Box::new(read));
    let peer = side.prove(&mut reader, &mut write, &tls::PLAINTEXT).await?;
    Ok(Dialed {
        peer,
        reader,
        writer: writer.tcp(write),
        tls: false,
    })
}

/// A link over a TLS session once its handshake, bound to the session,
/// passes.
async fn tls_link(
    stream: tls::TlsStream,
    binding: &Binding,
    side: Side<'_>,
    reading: Reading,
    writer: Writer,
) -> Result<Dialed, NetError> {
    let (read, mut write) = stream.into_split();
    let mut reader = reading.reader(Box::new(read));
    let peer = side.prove(&mut reader, &mut write, binding).await?;
    Ok(Dialed {
        peer,
        reader,
        writer: writer.stream(write),
        tls: true,
    })
}

/// Tells a plaintext dialer that TLS is wanted from it: reads its first
/// frame (so closing does not reset the connection before the answer is
/// read) and answers with the refusal.
async fn refuse_plaintext(stream: TcpStream, how: AcceptAs<'_>) {
    let (read, mut write) = stream.into_split();
    let mut reader = FrameReader::new(read, how.limits).with_frame_timeout(how.frame_timeout);
    if let Ok(Some(_)) = reader.next().await {
        let refusal = Message::Refused {
            reason: Refusal::TlsRequired,
        };
        let _ = write_frame(&mut write, &refusal, &[]).await;
    }
}
