//! The handshake that opens every connection: protocol version, node ids,
//! and a challenge–response that proves both sides hold the cluster key.
//!
//! ```text
//! dialer                                   acceptor
//!   Hello { protocol, node, nonce_d }  →
//!                                      ←  Challenge { protocol, node, nonce_a,
//!                                                     proof = H(key, "acceptor", nonce_d, nonce_a) }
//!   Proof { H(key, "dialer", nonce_d, nonce_a) } →
//!                                      ←  Accepted            (or Refused { reason })
//! ```
//!
//! `H` is keyed BLAKE3. Both challenges are fresh, so a recorded transcript
//! proves nothing on replay, and the key itself never crosses the wire. Both
//! proofs also cover the transport session's [`Binding`] (the TLS exporter,
//! or zeros in plaintext), so a proof made for one TLS session fails in any
//! other: a relay between two sessions cannot pass it along.

use super::connection::{write_frame, FrameReader};
use super::error::NetError;
use super::key::{random_bytes, ClusterKey};
use super::tls::Binding;
use super::wire::{Message, Refusal, PROTOCOL_VERSION};
use crate::id::NodeId;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long a new connection may take to pass the handshake (TLS included).
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

const DIALER: &[u8] = b"dialer";
const ACCEPTOR: &[u8] = b"acceptor";

async fn next_message<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
    expected: &'static str,
) -> Result<Message, NetError> {
    match reader.next().await? {
        Some(frame) => Ok(frame.message),
        None => Err(NetError::Protocol { expected }),
    }
}

/// The error a peer's refusal means on this side.
pub fn refusal_error(reason: Refusal) -> NetError {
    match reason {
        Refusal::Version { ours } => NetError::VersionMismatch {
            ours: PROTOCOL_VERSION,
            theirs: ours,
        },
        Refusal::Auth => NetError::Auth,
        Refusal::Protocol => NetError::Protocol {
            expected: "a handshake the peer accepts",
        },
        Refusal::TlsRequired => NetError::TlsRequired,
        Refusal::Token => NetError::Token,
    }
}

/// Runs the dialer's side; returns the acceptor's node id.
pub async fn dial<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut W,
    key: &ClusterKey,
    me: NodeId,
    binding: &Binding,
) -> Result<NodeId, NetError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let nonce_d = random_bytes()?;
    let hello = Message::Hello {
        protocol: PROTOCOL_VERSION,
        node: me,
        nonce: nonce_d,
    };
    write_frame(writer, &hello, &[]).await?;
    let (peer, nonce_a) = match next_message(reader, "Challenge").await? {
        Message::Challenge {
            protocol,
            node,
            nonce,
            proof,
        } => {
            if protocol != PROTOCOL_VERSION {
                let refusal = Message::Refused {
                    reason: Refusal::Version {
                        ours: PROTOCOL_VERSION,
                    },
                };
                // Best effort: the acceptor learns why; our error stands either way.
                let _ = write_frame(writer, &refusal, &[]).await;
                return Err(NetError::VersionMismatch {
                    ours: PROTOCOL_VERSION,
                    theirs: protocol,
                });
            }
            if key.prove(ACCEPTOR, &nonce_d, &nonce, binding) != blake3::Hash::from_bytes(proof) {
                let refusal = Message::Refused {
                    reason: Refusal::Auth,
                };
                let _ = write_frame(writer, &refusal, &[]).await;
                return Err(NetError::Auth);
            }
            (node, nonce)
        }
        Message::Refused { reason } => return Err(refusal_error(reason)),
        _ => {
            return Err(NetError::Protocol {
                expected: "Challenge",
            })
        }
    };
    let proof = *key.prove(DIALER, &nonce_d, &nonce_a, binding).as_bytes();
    write_frame(writer, &Message::Proof { proof }, &[]).await?;
    match next_message(reader, "Accepted").await? {
        Message::Accepted => Ok(peer),
        Message::Refused { reason } => Err(refusal_error(reason)),
        _ => Err(NetError::Protocol {
            expected: "Accepted",
        }),
    }
}

/// Runs the acceptor's side; returns the dialer's node id. Nothing else is
/// read from the connection before this passes. It writes nothing before
/// the dialer's `Hello` has come: a TLS link's hand-over from rustls to the
/// record layer relies on it (`tls::connect`).
pub async fn accept<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut W,
    key: &ClusterKey,
    me: NodeId,
    binding: &Binding,
) -> Result<NodeId, NetError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (peer, nonce_d) = match next_message(reader, "Hello").await? {
        Message::Hello {
            protocol,
            node,
            nonce,
        } => {
            if protocol != PROTOCOL_VERSION {
                let refusal = Message::Refused {
                    reason: Refusal::Version {
                        ours: PROTOCOL_VERSION,
                    },
                };
                let _ = write_frame(writer, &refusal, &[]).await;
                return Err(NetError::VersionMismatch {
                    ours: PROTOCOL_VERSION,
                    theirs: protocol,
                });
            }
            (node, nonce)
        }
        _ => {
            let refusal = Message::Refused {
                reason: Refusal::Protocol,
            };
            let _ = write_frame(writer, &refusal, &[]).await;
            return Err(NetError::Protocol { expected: "Hello" });
        }
    };
    let nonce_a = random_bytes()?;
    let challenge = Message::Challenge {
        protocol: PROTOCOL_VERSION,
        node: me,
        nonce: nonce_a,
        proof: *key.prove(ACCEPTOR, &nonce_d, &nonce_a, binding).as_bytes(),
    };
    write_frame(writer, &challenge, &[]).await?;
    match next_message(reader, "Proof").await? {
        Message::Proof { proof } => {
            if key.prove(DIALER, &nonce_d, &nonce_a, binding) == blake3::Hash::from_bytes(proof) {
                write_frame(writer, &Message::Accepted, &[]).await?;
                Ok(peer)
            } else {
                let refusal = Message::Refused {
                    reason: Refusal::Auth,
                };
                let _ = write_frame(writer, &refusal, &[]).await;
                Err(NetError::Auth)
            }
        }
        Message::Refused { reason } => Err(refusal_error(reason)),
        _ => Err(NetError::Protocol { expected: "Proof" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::codec::Limits;
    use std::time::Duration;

    async fn pair(
        dial_key: ClusterKey,
        accept_key: ClusterKey,
    ) -> (Result<NodeId, NetError>, Result<NodeId, NetError>) {
        bound_pair(dial_key, accept_key, [0; 32], [0; 32]).await
    }

    async fn bound_pair(
        dial_key: ClusterKey,
        accept_key: ClusterKey,
        dial_binding: Binding,
        accept_binding: Binding,
    ) -> (Result<NodeId, NetError>, Result<NodeId, NetError>) {
        let (a, b) = tokio::io::duplex(4096);
        let (ar, mut aw) = tokio::io::split(a);
        let (br, mut bw) = tokio::io::split(b);
        let dialer = async move {
            let mut r = FrameReader::new(ar, Limits::default());
            dial(&mut r, &mut aw, &dial_key, NodeId::CLIENT, &dial_binding).await
        };
        let acceptor = async move {
            let mut r = FrameReader::new(br, Limits::default());
            accept(&mut r, &mut bw, &accept_key, NodeId(7), &accept_binding).await
        };
        tokio::time::timeout(Duration::from_secs(5), async {
            tokio::join!(dialer, acceptor)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn same_key_passes_and_names_both_sides() {
        let key = ClusterKey::random().unwrap();
        let (d, a) = pair(key.clone(), key).await;
        assert_eq!(d.unwrap(), NodeId(7));
        assert_eq!(a.unwrap(), NodeId::CLIENT);
    }

    #[tokio::test]
    async fn different_keys_fail_with_auth_on_both_sides() {
        let (d, a) = pair(ClusterKey::random().unwrap(), ClusterKey::random().unwrap()).await;
        assert!(matches!(d, Err(NetError::Auth)), "{d:?}");
        assert!(matches!(a, Err(NetError::Auth)), "{a:?}");
    }

    #[tokio::test]
    async fn the_same_key_over_two_different_sessions_fails() {
        let key = ClusterKey::random().unwrap();
        let (d, a) = bound_pair(key.clone(), key.clone(), [1; 32], [1; 32]).await;
        assert_eq!(d.unwrap(), NodeId(7));
        assert_eq!(a.unwrap(), NodeId::CLIENT);
        let (d, a) = bound_pair(key.clone(), key, [1; 32], [2; 32]).await;
        assert!(matches!(d, Err(NetError::Auth)), "{d:?}");
        assert!(matches!(a, Err(NetError::Auth)), "{a:?}");
    }
}
