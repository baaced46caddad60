//! The wire and the transport. Knows nothing of actors, proxies or arrays.
//!
//! - [`wire`]: the protocol messages, pure data.
//! - [`codec`]: frame = length prefix + CBOR head + raw body; partial is `Ok(None)`.
//! - [`connection`]: framed reading over any byte stream, and TCP liveness.
//! - [`frames`]: a reader as a stream of frames (what engine sessions read).
//! - [`writer`]: batched framed writing, large bodies a turn at a time.
//! - [`latency`]: whether a reader polls before it parks.
//! - [`dial`]: opening an authenticated TCP link (TLS when the policy says).
//! - [`handshake`]: version check and cluster-key challenge–response.
//! - [`spare`]: large buffers kept a moment after they are freed, for reuse.
//! - [`tls`]: TLS for links that cross a real network, bound to the cluster key.
//! - `records` (with TLS): the record layer rustls hands a session over to.

pub mod buf;
pub mod codec;
mod compact;
pub mod connection;
pub mod dial;
pub mod error;
pub mod frames;
pub mod handshake;
pub mod key;
pub mod latency;
#[cfg(feature = "tls")]
pub mod records;
pub mod spare;
pub mod tls;
pub mod wire;
pub mod writer;

pub use buf::AlignedBuf;
pub use codec::{Frame, Limits};
pub use connection::{FrameReader, FrameWriter, Liveness, WriteMode};
pub use dial::{
    accept_tcp, dial_tcp, dial_tcp_into, AcceptAs, Dialed, LinkOptions, LinkRead, Writer,
    DEFAULT_CONNECT_TIMEOUT,
};
pub use error::NetError;
pub use frames::Frames;
pub use key::ClusterKey;
pub use latency::Latency;
pub use tls::TlsPolicy;
