//! Frames ↔ bytes: a length prefix and one message (CBOR, or for plain
//! calls and their replies a compact head, see `compact`), then the raw
//! body.
//!
//! Not enough bytes yet is `Ok(None)`, never an error; errors mean corrupt
//! input and close that one connection.

use super::buf::AlignedBuf;
use super::wire::Message;
use bytes::{Buf, BufMut, BytesMut};

/// Bytes before the head: `u32` head length, `u32` body length (little-endian).
pub const PREFIX_LEN: usize = 8;

/// The default limit on one frame (head + body): 64 MiB.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;

/// The default limit on a body assembled from chunks: 16 GiB.
pub const DEFAULT_MAX_BODY: u64 = 16 << 30;

/// Largest head accepted, whatever the frame limit: heads are small.
pub const MAX_HEAD: usize = 16 << 20;

/// Size limits checked before anything is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame (head + body) accepted.
    pub max_frame: usize,
    /// The largest body assembled from chunks.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: DEFAULT_MAX_FRAME,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// Why bytes could not be decoded into a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The length prefix announces more than the limit allows.
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Announced length.
        len: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The head is not a valid CBOR message.
    #[error("frame head is not a valid message")]
    Malformed,
    /// A chunk does not fit the body it belongs to.
    #[error("chunk at {offset}+{len} does not fit a body of {total} bytes")]
    BadChunk {
        /// Where the chunk starts.
        offset: u64,
        /// Its length.
        len: u64,
        /// The whole body's length.
        total: u64,
    },
}

/// Why a message could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("message could not be encoded as CBOR")]
pub struct EncodeError(#[source] pub ciborium::ser::Error<std::io::Error>);

/// A decoded frame: its message and its body.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The CBOR head.
    pub message: Message,
    /// The raw body (empty for most messages).
    pub body: AlignedBuf,
    /// Bytes this frame took on the wire (all its chunks, for a chunked body).
    pub wire_len: u64,
}

/// Appends a frame's prefix and head for a body of `body_len` bytes; the
/// caller writes the body itself after it.
pub fn encode_head(
    message: &Message,
    body_len: usize,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_bytes(0, PREFIX_LEN);
    if !super::compact::encode(message, out) {
        ciborium::into_writer(message, out.writer()).map_err(EncodeError)?;
    }
    let head_len = out.len() - start - PREFIX_LEN;
    // Lengths over u32 are refused by the receiving side's limits; saturate so
    // that such a frame is rejected there rather than misread.
    let head = u32::try_from(head_len).unwrap_or(u32::MAX);
    let body = u32::try_from(body_len).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&head.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&body.to_le_bytes());
    Ok(())
}

/// Encodes a whole frame (head and body) into one buffer.
pub fn encode(message: &Message, body: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
    encode_head(message, body.len(), out)?;
    out.extend_from_slice(body);
    Ok(())
}

/// Reads a frame's prefix: `Ok(None)` until 8 bytes are there, then the head
/// and body lengths, checked against the limits.
pub fn parse_prefix(buf: &[u8], limits: &Limits) -> Result<Option<(usize, usize)>, DecodeError> {
    if buf.len() < PREFIX_LEN {
        return Ok(None);
    }
    let head = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let body = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    let total = head as u64 + body as u64;
    if total > limits.max_frame as u64 || head > MAX_HEAD {
        return Err(DecodeError::TooLarge {
            len: total,
            limit: limits.max_frame.min(MAX_HEAD.max(limits.max_frame)) as u64,
        });
    }
    Ok(Some((head, body)))
}

/// Decodes a message head (compact or CBOR).
pub fn decode_head(bytes: &[u8]) -> Result<Message, DecodeError> {
    if let Some(compact) = super::compact::decode(bytes) {
        return compact;
    }
    // A small scratch buffer: longer strings are read through it in pieces,
    // and a small one costs nothing to set up on every frame.
    let mut scratch = [0u8; SCRATCH];
    ciborium::de::from_reader_with_buffer(bytes, &mut scratch).map_err(|_| DecodeError::Malformed)
}

/// Scratch space for CBOR decoding (ciborium's default of 4 KiB is zeroed
/// on every call, which costs more than decoding a small message).
pub const SCRATCH: usize = 256;

/// Decodes one frame from the front of `buf`, consuming it; `Ok(None)` (and
/// nothing consumed) while the frame is incomplete.
pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, DecodeError> {
    let Some((head_len, body_len)) = parse_prefix(buf, limits)? else {
        return Ok(None);
    };
    if buf.len() < PREFIX_LEN + head_len + body_len {
        return Ok(None);
    }
    buf.advance(PREFIX_LEN);
    let message = decode_head(&buf[..head_len]);
    buf.advance(head_len);
    let body = AlignedBuf::from_slice(&buf[..body_len]);
    buf.advance(body_len);
    Ok(Some(Frame {
        message: message?,
        body,
        wire_len: (PREFIX_LEN + head_len + body_len) as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{CallId, NodeId, ObjectId};
    use crate::net::wire::{CallOp, Fault, HandleRef, Meta, MethodId, Op, Outcome, Refusal, Trace};
    use proptest::prelude::*;

    fn arb_message() -> impl Strategy<Value = Message> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..64);
        let id = any::<u128>().prop_map(|n| ObjectId::from(uuid::Uuid::from_u128(n)));
        prop_oneof![
            (any::<u16>(), any::<u32>(), any::<[u8; 32]>()).prop_map(|(p, n, nonce)| {
                Message::Hello {
                    protocol: p,
                    node: NodeId(n),
                    nonce,
                }
            }),
            (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(nonce, proof)| {
                Message::Challenge {
                    protocol: 1,
                    node: NodeId(0),
                    nonce,
                    proof,
                }
            }),
            any::<[u8; 32]>().prop_map(|proof| Message::Proof { proof }),
            Just(Message::Accepted),
            Just(Message::Refused {
                reason: Refusal::Auth
            }),
            (any::<u64>(), id.clone(), ".{0,20}", bytes.clone()).prop_map(|(c, o, t, h)| {
                Message::Request(
                    CallId(c),
                    Op::Put {
                        object: o,
                        type_name: t,
                        head: h,
                    },
                    Meta(
                        c,
                        vec![HandleRef(NodeId(1), o)],
                        vec![o],
                        Some(c),
                        Some(Trace(c, !c, c ^ 7, 1)),
                    ),
                )
            }),
            (any::<u64>(), id.clone(), any::<u64>(), bytes.clone()).prop_map(|(c, o, m, a)| {
                Message::Request(
                    CallId(c),
                    Op::Call(CallOp(o, MethodId(m), a, None)),
                    Meta::default(),
                )
            }),
            (any::<u64>(), bytes.clone(), id.clone()).prop_map(|(c, h, o)| Message::Reply(
                CallId(c),
                Outcome::Value(h),
                vec![HandleRef(NodeId(c as u32), o)]
            )),
            (any::<u64>(), ".{0,30}").prop_map(|(c, s)| Message::Reply(
                CallId(c),
                Outcome::Fault(Fault::Panic(s)),
                Vec::new()
            )),
            proptest::collection::vec(id.clone(), 0..5)
                .prop_map(|objects| Message::Lent { objects }),
            proptest::collection::vec(id, 0..5).prop_map(|objects| Message::Release { objects }),
            (any::<u32>(), any::<u64>(), any::<u64>()).prop_map(|(s, o, t)| Message::Chunk {
                stream: s,
                offset: o,
                total: t,
                last: Some(Box::new(Message::Ping { seq: o })),
            }),
            any::<u64>().prop_map(|seq| Message::Pong { seq }),
        ]
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(m in arb_message(), body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut buf = BytesMut::new();
            encode(&m, &body, &mut buf).unwrap();
            let frame = decode(&mut buf, &Limits::default()).unwrap().unwrap();
            prop_assert_eq!(frame.message, m);
            prop_assert_eq!(frame.body.as_bytes(), &body[..]);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn every_prefix_is_incomplete(m in arb_message(), body in proptest::collection::vec(any::<u8>(), 0..50)) {
            let mut whole = BytesMut::new();
            encode(&m, &body, &mut whole).unwrap();
            for cut in 0..whole.len() {
                let mut part = BytesMut::from(&whole[..cut]);
                prop_assert_eq!(decode(&mut part, &Limits::default()), Ok(None));
                prop_assert_eq!(part.len(), cut, "a partial frame consumes nothing");
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = BytesMut::from(&data[..]);
            let limits = Limits { max_frame: 1 << 16, ..Limits::default() };
            while let Ok(Some(_)) = decode(&mut buf, &limits) {}
        }
    }

    #[test]
    fn oversized_prefix_is_an_error_before_any_allocation() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0][..]);
        assert!(matches!(
            decode(&mut buf, &Limits::default()),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn two_frames_decode_in_order() {
        let mut buf = BytesMut::new();
        encode(&Message::Ping { seq: 1 }, b"ab", &mut buf).unwrap();
        encode(&Message::Pong { seq: 2 }, b"", &mut buf).unwrap();
        let limits = Limits::default();
        let a = decode(&mut buf, &limits).unwrap().unwrap();
        let b = decode(&mut buf, &limits).unwrap().unwrap();
        assert_eq!(a.message, Message::Ping { seq: 1 });
        assert_eq!(a.body.as_bytes(), b"ab");
        assert_eq!(b.message, Message::Pong { seq: 2 });
        assert_eq!(decode(&mut buf, &limits), Ok(None));
    }
}
