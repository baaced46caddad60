//! Opening an authenticated TCP link: connect, tune, TLS when the policy
//! asks for it, then the cluster-key handshake bound to the session.

use super::codec::Limits;
use super::connection::{FrameReader, FrameWriter, Liveness, WriteMode};
use super::error::NetError;
use super::handshake::{self, HANDSHAKE_TIMEOUT};
use super::key::ClusterKey;
use super::tls::{self, TlsPolicy};
use crate::id::NodeId;
use std::net::SocketAddr;
use tokio::io::AsyncRead;
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

/// Connects to `addr` as node `me`: TCP with [`Liveness`], TLS if `policy`
/// wants it for that address, then the handshake (the whole within
/// [`HANDSHAKE_TIMEOUT`] after the TCP connect).
pub async fn dial_tcp(
    addr: SocketAddr,
    key: &ClusterKey,
    me: NodeId,
    policy: TlsPolicy,
    limits: Limits,
    mode: WriteMode,
) -> Result<Dialed, NetError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| NetError::Connect { addr, source })?;
    // Without these the link still works, only slower to notice a dead peer
    // (or to send small frames).
    if let Err(e) = Liveness::default().apply(&stream) {
        tracing::debug!(error = %e, "cannot tune the link");
    }
    let opened = async {
        if policy.wants_tls(addr.ip()) {
            let (stream, binding) = tls::connect(stream).await?;
            let (read, mut write) = tokio::io::split(stream);
            let mut reader = FrameReader::new(Box::new(read) as LinkRead, limits);
            let peer = handshake::dial(&mut reader, &mut write, key, me, &binding).await?;
            let writer = FrameWriter::stream(write, mode);
            Ok(Dialed {
                peer,
                reader,
                writer,
                tls: true,
            })
        } else {
            let (read, mut write) = stream.into_split();
            let mut reader = FrameReader::new(Box::new(read) as LinkRead, limits);
            let peer = handshake::dial(&mut reader, &mut write, key, me, &tls::PLAINTEXT).await?;
            Ok(Dialed {
                peer,
                reader,
                writer: FrameWriter::tcp(write, mode),
                tls: false,
            })
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, opened)
        .await
        .map_err(|_| NetError::Timeout)?
}
