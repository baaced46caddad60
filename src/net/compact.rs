//! Compact heads for the messages every call or scatter sends: a plain
//! method call's [`Message::Request`], a `Put` of a value, and a
//! [`Message::Reply`] — each when it carries no handles, waiting objects
//! or trace. They are fixed little-endian fields after a one-byte tag
//! instead of CBOR (whose encoding and decoding were a fifth of the call
//! path's time); every other message stays CBOR. The tags are CBOR's
//! unsigned integers 1 to 3, which no CBOR [`Message`] starts with (a
//! message is a map or a string), so the two never mix up.
//!
//! Both requests start with: tag, call id, chain id, flags (bit 0: a
//! deadline follows; for a call, bit 1: a kept result's id follows),
//! [deadline µs]. A call goes on with the object id (16 bytes), method id,
//! [kept id], then the arguments to the end; a put with the object id, the
//! type name's length (`u16`) and UTF-8 bytes, then the value's head to
//! the end. A reply: tag, call id, kind (0: done, 1: a value), then the
//! value's head to the end.

use super::codec::DecodeError;
use super::wire::{CallOp, Message, Meta, MethodId, Op, Outcome};
use crate::id::{CallId, ObjectId};
use bytes::{BufMut, BytesMut};

const REQUEST: u8 = 0x01;
const REPLY: u8 = 0x02;
const PUT: u8 = 0x03;
const HAS_DEADLINE: u8 = 1;
const HAS_KEEP: u8 = 2;
const DONE: u8 = 0;
const VALUE: u8 = 1;

/// Writes `message` compactly when it is one of those it covers; false
/// (and nothing written) otherwise.
pub(super) fn encode(message: &Message, out: &mut BytesMut) -> bool {
    match message {
        Message::Request(id, Op::Call(call), meta) if plain(meta) => {
            request(*id, call, meta, out);
            true
        }
        Message::Request(
            id,
            Op::Put {
                object,
                type_name,
                head,
            },
            meta,
        ) if plain(meta) && type_name.len() <= usize::from(u16::MAX) => {
            put(*id, (object, type_name, head), meta, out);
            true
        }
        Message::Reply(id, outcome, handles) if handles.is_empty() => reply(*id, outcome, out),
        _ => false,
    }
}

/// A meta with nothing but a chain id and a deadline.
fn plain(Meta(_, handles, waiting, _, trace): &Meta) -> bool {
    handles.is_empty() && waiting.is_empty() && trace.is_none()
}

/// The fields both compact requests start with.
fn start(
    tag: u8,
    id: CallId,
    Meta(chain, _, _, deadline, _): &Meta,
    flags: u8,
    out: &mut BytesMut,
) {
    out.put_u8(tag);
    out.put_u64_le(id.0);
    out.put_u64_le(*chain);
    out.put_u8(flags | deadline.map_or(0, |_| HAS_DEADLINE));
    if let Some(d) = deadline {
        out.put_u64_le(*d);
    }
}

fn request(
    id: CallId,
    CallOp(object, method, args, keep): &CallOp,
    meta: &Meta,
    out: &mut BytesMut,
) {
    out.reserve(1 + 8 + 8 + 1 + 8 + 16 + 8 + 16 + args.len());
    start(REQUEST, id, meta, keep.map_or(0, |_| HAS_KEEP), out);
    out.put_slice(object.as_uuid().as_bytes());
    out.put_u64_le(method.0);
    if let Some(k) = keep {
        out.put_slice(k.as_uuid().as_bytes());
    }
    out.put_slice(args);
}

fn put(
    id: CallId,
    (object, type_name, head): (&ObjectId, &str, &[u8]),
    meta: &Meta,
    out: &mut BytesMut,
) {
    out.reserve(1 + 8 + 8 + 1 + 8 + 16 + 2 + type_name.len() + head.len());
    start(PUT, id, meta, 0, out);
    out.put_slice(object.as_uuid().as_bytes());
    // The caller checked that the name's length fits.
    out.put_u16_le(u16::try_from(type_name.len()).unwrap_or(u16::MAX));
    out.put_slice(type_name.as_bytes());
    out.put_slice(head);
}

fn reply(id: CallId, outcome: &Outcome, out: &mut BytesMut) -> bool {
    let (kind, head): (u8, &[u8]) = match outcome {
        Outcome::Done => (DONE, &[]),
        Outcome::Value(head) => (VALUE, head),
        _ => return false,
    };
    out.reserve(1 + 8 + 1 + head.len());
    out.put_u8(REPLY);
    out.put_u64_le(id.0);
    out.put_u8(kind);
    out.put_slice(head);
    true
}

/// The message of a compact head; `None` when `bytes` is not one (CBOR).
pub(super) fn decode(bytes: &[u8]) -> Option<Result<Message, DecodeError>> {
    let (&tag, rest) = bytes.split_first()?;
    let mut r = Reader(rest);
    let message = match tag {
        REQUEST => decode_request(&mut r),
        PUT => decode_put(&mut r),
        REPLY => decode_reply(&mut r),
        _ => return None,
    };
    Some(message.ok_or(DecodeError::Malformed))
}

/// The fields both compact requests start with: the call's id, its meta
/// and its flags (none but a deadline's and those `allowed`).
fn decode_start(r: &mut Reader<'_>, allowed: u8) -> Option<(CallId, Meta, u8)> {
    let id = CallId(r.u64()?);
    let chain = r.u64()?;
    let flags = r.u8()?;
    if flags & !(HAS_DEADLINE | allowed) != 0 {
        return None;
    }
    let deadline = if flags & HAS_DEADLINE != 0 {
        Some(r.u64()?)
    } else {
        None
    };
    Some((
        id,
        Meta(chain, Vec::new(), Vec::new(), deadline, None),
        flags,
    ))
}

fn decode_request(r: &mut Reader<'_>) -> Option<Message> {
    let (id, meta, flags) = decode_start(r, HAS_KEEP)?;
    let object = r.object()?;
    let method = MethodId(r.u64()?);
    let keep = if flags & HAS_KEEP != 0 {
        Some(r.object()?)
    } else {
        None
    };
    let call = CallOp(object, method, r.0.to_vec(), keep);
    Some(Message::Request(id, Op::Call(call), meta))
}

fn decode_put(r: &mut Reader<'_>) -> Option<Message> {
    let (id, meta, _) = decode_start(r, 0)?;
    let object = r.object()?;
    let len = usize::from(u16::from_le_bytes(r.take::<2>()?));
    let (name, head) = (r.0.get(..len)?, r.0.get(len..)?);
    let op = Op::Put {
        object,
        type_name: std::str::from_utf8(name).ok()?.to_owned(),
        head: head.to_vec(),
    };
    Some(Message::Request(id, op, meta))
}

fn decode_reply(r: &mut Reader<'_>) -> Option<Message> {
    let id = CallId(r.u64()?);
    let outcome = match r.u8()? {
        DONE if r.0.is_empty() => Outcome::Done,
        VALUE => Outcome::Value(r.0.to_vec()),
        _ => return None,
    };
    Some(Message::Reply(id, outcome, Vec::new()))
}

/// Fixed-size fields off the front of a head.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }

    fn object(&mut self) -> Option<ObjectId> {
        self.take::<16>()
            .map(|b| ObjectId::from(uuid::Uuid::from_bytes(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::{HandleRef, Trace};

    fn round_trip(m: &Message) -> (bool, Message) {
        let mut out = BytesMut::new();
        let compact = encode(m, &mut out);
        let back = if compact {
            decode(&out).expect("a compact head").expect("decodes")
        } else {
            m.clone()
        };
        (compact, back)
    }

    #[test]
    fn plain_calls_and_their_replies_travel_compact() {
        let call = CallOp(
            ObjectId::new(),
            MethodId(7),
            vec![1, 2, 3],
            Some(ObjectId::new()),
        );
        for deadline in [None, Some(1_500)] {
            let m = Message::Request(
                CallId(9),
                Op::Call(call.clone()),
                Meta(4, vec![], vec![], deadline, None),
            );
            assert_eq!(round_trip(&m), (true, m));
        }
        for outcome in [
            Outcome::Done,
            Outcome::Value(vec![0xf6]),
            Outcome::Value(vec![]),
        ] {
            let m = Message::Reply(CallId(u64::MAX), outcome, vec![]);
            assert_eq!(round_trip(&m), (true, m));
        }
    }

    #[test]
    fn anything_else_stays_cbor() {
        let call = CallOp(ObjectId::new(), MethodId(7), vec![], None);
        let traced = Meta(1, vec![], vec![], None, Some(Trace(1, 2, 3, 1)));
        let handle = HandleRef(crate::id::NodeId(0), ObjectId::new());
        for m in [
            Message::Request(CallId(1), Op::Call(call.clone()), traced),
            Message::Request(
                CallId(1),
                Op::Call(call),
                Meta(1, vec![handle], vec![], None, None),
            ),
            Message::Request(CallId(1), Op::Get(ObjectId::new()), Meta::default()),
            Message::Reply(CallId(1), Outcome::Value(vec![1]), vec![handle]),
        ] {
            assert!(!round_trip(&m).0, "{m:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_after_a_tag_decode_or_are_malformed(
            tag in 1u8..=3,
            rest in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
        ) {
            let mut bytes = vec![tag];
            bytes.extend(rest);
            match decode(&bytes) {
                Some(Ok(m)) => {
                    // What decodes encodes back to the same bytes.
                    let mut out = BytesMut::new();
                    proptest::prop_assert!(encode(&m, &mut out));
                    proptest::prop_assert_eq!(&out[..], &bytes[..]);
                }
                Some(Err(e)) => proptest::prop_assert_eq!(e, DecodeError::Malformed),
                None => proptest::prop_assert!(false, "a tagged head is compact"),
            }
        }
    }

    #[test]
    fn short_or_odd_compact_heads_are_malformed() {
        let mut out = BytesMut::new();
        let call = CallOp(ObjectId::new(), MethodId(7), vec![], None);
        let m = Message::Request(CallId(1), Op::Call(call), Meta::default());
        assert!(encode(&m, &mut out));
        for cut in 1..out.len() {
            assert_eq!(
                decode(&out[..cut]),
                Some(Err(DecodeError::Malformed)),
                "cut at {cut}"
            );
        }
        let mut odd = out.to_vec();
        odd[17] = 0x80; // an unknown flag
        assert_eq!(decode(&odd), Some(Err(DecodeError::Malformed)));
        assert_eq!(
            decode(&[REPLY, 0, 0, 0, 0, 0, 0, 0, 0, 9]),
            Some(Err(DecodeError::Malformed))
        );
        assert_eq!(
            decode(&[REPLY, 0, 0, 0, 0, 0, 0, 0, 0, DONE, 1]),
            Some(Err(DecodeError::Malformed))
        );
        let put = Op::Put {
            object: ObjectId::new(),
            type_name: "é".into(),
            head: vec![],
        };
        let mut out = BytesMut::new();
        assert!(encode(
            &Message::Request(CallId(1), put, Meta::default()),
            &mut out
        ));
        let mut bad = out.to_vec();
        let at = bad.len() - 2;
        bad[at] = 0xff; // not UTF-8
        assert_eq!(decode(&bad), Some(Err(DecodeError::Malformed)));
        let long = bad.len() - 4;
        bad[long] = 0xff; // a name longer than what follows
        assert_eq!(decode(&bad), Some(Err(DecodeError::Malformed)));
        assert_eq!(decode(&[0xa1]), None);
        assert_eq!(decode(&[]), None);
    }
}
