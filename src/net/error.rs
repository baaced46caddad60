//! [`NetError`]: what can go wrong on a connection.

use super::codec::{DecodeError, EncodeError};
use std::net::SocketAddr;

/// An error of the transport layer: one connection's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Connecting to a peer failed.
    #[error("cannot connect to {addr}")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("connection i/o failed")]
    Io(#[from] std::io::Error),
    /// The peer sent bytes that are not a frame.
    #[error("bad frame from peer")]
    Decode(#[from] DecodeError),
    /// A message could not be encoded.
    #[error("cannot encode message")]
    Encode(#[from] EncodeError),
    /// The connection ended in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// The peer stalled in the middle of a frame or of the handshake.
    #[error("peer timed out")]
    Timeout,
    /// The peer speaks another protocol version.
    #[error("protocol version mismatch: ours is {ours}, the peer's is {theirs}")]
    VersionMismatch {
        /// Our version.
        ours: u16,
        /// The peer's version (0 when the peer did not say).
        theirs: u16,
    },
    /// The peer did not prove it holds the cluster key, or refused our proof.
    #[error("authentication failed: the peer does not hold the same cluster key")]
    Auth,
    /// The peer broke the protocol (an unexpected message).
    #[error("protocol violation: expected {expected}")]
    Protocol {
        /// What was expected instead.
        expected: &'static str,
    },
    /// A registration was refused: its token is unknown, used, or stale.
    #[error("registration refused: the token is unknown, already used, or of another launch")]
    Token,
    /// The engine takes only TLS from this peer and the link was plaintext.
    #[error("the engine requires TLS on this link")]
    TlsRequired,
    /// The operating system's random source failed: no key, nonce or
    /// token can be made safely.
    #[error("the operating system's random source failed")]
    Rng(#[source] getrandom::Error),
    /// The TLS layer failed (bad record, failed TLS handshake), or TLS was
    /// asked for in a build without the `tls` feature.
    #[error("TLS failed")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
}
