//! The bad-input table: each hostile or broken input gets a clear error (a
//! fault reply or a closed connection), and the engine keeps serving other
//! clients without losing their objects.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::BytesMut;
use common::{within, TestEngine};
use distob::call::Invoke;
use distob::id::{CallId, ObjectId};
use distob::net::codec::{self, Limits};
use distob::net::connection::{write_frame, FrameReader};
use distob::net::handshake;
use distob::net::tls::PLAINTEXT;
use distob::net::wire::{Fault, Message, Meta, MethodId, Op, Outcome};
use distob::{Engine, Error, NodeId, ObjectHub};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

fn start_engine() -> TestEngine {
    start_engine_with(|e| e)
}

/// An engine on its own thread with a short stall timeout, set up by
/// `configure`.
fn start_engine_with(configure: fn(Engine) -> Engine) -> TestEngine {
    common::start_engine(move |e| configure(e).with_frame_timeout(Duration::from_millis(300)))
}

async fn client(e: &TestEngine) -> ObjectHub {
    within(ObjectHub::connect(&[(NodeId(0), e.addr)], e.key.clone()))
        .await
        .unwrap()
}

async fn raw(e: &TestEngine) -> (FrameReader<OwnedReadHalf>, OwnedWriteHalf) {
    raw_to(e.addr, &e.key).await
}

/// A handshaken raw connection to the engine at `addr`.
async fn raw_to(
    addr: std::net::SocketAddr,
    key: &distob::cluster::ClusterKey,
) -> (FrameReader<OwnedReadHalf>, OwnedWriteHalf) {
    let (r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut reader = FrameReader::new(r, Limits::default());
    within(handshake::dial(
        &mut reader,
        &mut w,
        key,
        NodeId::CLIENT,
        &PLAINTEXT,
    ))
    .await
    .unwrap();
    (reader, w)
}

async fn request(r: &mut FrameReader<OwnedReadHalf>, w: &mut OwnedWriteHalf, op: Op) -> Outcome {
    request_with(r, w, op, Meta::default()).await
}

async fn request_with(
    r: &mut FrameReader<OwnedReadHalf>,
    w: &mut OwnedWriteHalf,
    op: Op,
    meta: Meta,
) -> Outcome {
    write_frame(w, &Message::Request(CallId(7), op, meta), &[])
        .await
        .unwrap();
    loop {
        match within(r.next()).await.unwrap().unwrap().message {
            Message::Reply(CallId(7), outcome, _) => return outcome,
            // The engine's own messages (holds and lends of its hub) are
            // not answers.
            Message::Hold { .. } | Message::Lent { .. } | Message::Arrived { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn closed(mut r: FrameReader<OwnedReadHalf>) {
    assert!(matches!(within(r.next()).await, Ok(None) | Err(_)));
}

/// The engine still serves, and the survivor object is intact.
async fn still_serves(hub: &ObjectHub, survivor: &distob::Remote<Vec<u32>>) {
    assert_eq!(within(survivor.fetch()).await.unwrap(), vec![1, 2, 3]);
    let x = within(hub.scatter(5u8)).await.unwrap();
    assert_eq!(within(x.fetch()).await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_a_clear_answer_and_the_engine_goes_on() {
    let e = start_engine();
    let hub = client(&e).await;
    let survivor = within(hub.scatter(vec![1u32, 2, 3])).await.unwrap();

    // A truncated frame, then silence: dropped after the stall timeout.
    let (r, mut w) = raw(&e).await;
    w.write_all(&[50, 0, 0, 0, 0, 0, 0, 0, 0x82]).await.unwrap();
    closed(r).await;
    still_serves(&hub, &survivor).await;

    // CBOR nested 10,000 deep: refused by the decoder's depth limit.
    let (r, mut w) = raw(&e).await;
    let mut head = vec![0x81u8; 10_000];
    head.push(0x00);
    let mut frame = (head.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&0u32.to_le_bytes());
    frame.extend_from_slice(&head);
    w.write_all(&frame).await.unwrap();
    closed(r).await;
    still_serves(&hub, &survivor).await;

    // An unknown object: a fault reply, the connection stays.
    let (mut r, mut w) = raw(&e).await;
    let missing = ObjectId::new();
    match request(&mut r, &mut w, Op::Get(missing)).await {
        Outcome::Fault(Fault::NoSuchObject(id)) => assert_eq!(id, missing),
        other => panic!("unexpected {other:?}"),
    }
    // Released twice: nothing breaks.
    let twice = Message::Release {
        objects: vec![missing, missing],
    };
    write_frame(&mut w, &twice, &[]).await.unwrap();
    write_frame(&mut w, &twice, &[]).await.unwrap();
    assert!(matches!(
        request(&mut r, &mut w, Op::List).await,
        Outcome::Listing(_)
    ));
    still_serves(&hub, &survivor).await;

    // An unknown method, a method of another type, arguments of the wrong type.
    let arr = within(hub.scatter(ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[3]))))
        .await
        .unwrap();
    let how = Invoke::default();
    let c1: distob::Call<f64> = arr.invoke(MethodId(12_345), &(), how);
    let r1 = within(c1).await;
    assert!(matches!(r1, Err(Error::NoSuchMethod { .. })), "{r1:?}");
    let c2: distob::Call<i64> = arr.invoke(MethodId::of_name("Counter::incr"), &(1i64,), how);
    let r2 = within(c2).await;
    assert!(matches!(r2, Err(Error::NoSuchMethod { .. })), "{r2:?}");
    let array_op = MethodId::of_name("distob::array::op");
    let c3: distob::Call<f64> = arr.invoke(array_op, &("not", "the", "arguments"), how);
    let r3 = within(c3).await;
    assert!(matches!(r3, Err(Error::RemoteDecode { .. })), "{r3:?}");
    still_serves(&hub, &survivor).await;

    // A replayed handshake: the old proof answers a new challenge, and fails.
    let (rr, mut ww) = TcpStream::connect(e.addr).await.unwrap().into_split();
    let mut rd = FrameReader::new(rr, Limits::default());
    let hello = Message::Hello {
        protocol: distob::net::wire::PROTOCOL_VERSION,
        node: NodeId::CLIENT,
        nonce: [7u8; 32],
    };
    write_frame(&mut ww, &hello, &[]).await.unwrap();
    let first = within(rd.next()).await.unwrap().unwrap().message;
    assert!(matches!(first, Message::Challenge { .. }));
    // A proof recorded from some earlier session (any bytes not made for
    // this challenge).
    write_frame(&mut ww, &Message::Proof { proof: [9u8; 32] }, &[])
        .await
        .unwrap();
    match within(rd.next()).await.unwrap().unwrap().message {
        Message::Refused { .. } => {}
        other => panic!("a replayed proof was accepted: {other:?}"),
    }
    closed(rd).await;
    still_serves(&hub, &survivor).await;

    // 10,000 connections opened and closed.
    for _ in 0..10_000 {
        let s = within(TcpStream::connect(e.addr)).await.unwrap();
        drop(s);
    }
    still_serves(&hub, &survivor).await;

    // A frame with a garbage body length that fits the prefix but not the stream.
    let (r, mut w) = raw(&e).await;
    let mut buf = BytesMut::new();
    codec::encode_head(&Message::Ping { seq: 1 }, 1000, &mut buf).unwrap();
    w.write_all(&buf).await.unwrap();
    w.write_all(&[1, 2, 3]).await.unwrap();
    closed(r).await;
    still_serves(&hub, &survivor).await;

    // Another client sees the survivor too.
    let other = client(&e).await;
    let listing = within(other.engine(NodeId(0)).list()).await.unwrap();
    assert!(listing.iter().any(|o| o.object == survivor.id().object));
}

/// A type whose method takes its time, to fill an engine's queue.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Sleeper;

#[distob::remote]
impl Sleeper {
    /// Sleeps `ms` milliseconds on the engine.
    pub async fn nap(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_in_flight_bound_fail_fast_with_busy() {
    let e = start_engine_with(|e| e.with_max_in_flight(2));
    let hub = client(&e).await;
    let s: RemoteSleeper = within(hub.scatter(Sleeper)).await.unwrap();
    let calls: Vec<_> = (0..6).map(|_| s.nap(200)).collect();
    let start = std::time::Instant::now();
    let mut ok = 0;
    let mut busy = 0;
    for c in calls {
        match within(c).await {
            Ok(200) => ok += 1,
            Err(Error::Busy) => {
                busy += 1;
                // Refused at once, not after the naps.
                assert!(start.elapsed() < Duration::from_millis(190) || ok > 0);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, busy), (2, 4));
    // Once the replies are in, calls are welcome again.
    assert_eq!(within(s.nap(1)).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_object_queue_refuses_calls_on_that_object_only() {
    let e = start_engine_with(|e| e.with_max_queued_per_object(2));
    let hub = client(&e).await;
    let busy_one: RemoteSleeper = within(hub.scatter(Sleeper)).await.unwrap();
    let other: RemoteSleeper = within(hub.scatter(Sleeper)).await.unwrap();
    let mut calls: Vec<_> = (0..6).map(|_| Box::pin(busy_one.nap(300))).collect();
    // Another object on the same connection is not held to that queue: its
    // call is answered while the first nap still runs.
    assert_eq!(within(other.nap(1)).await.unwrap(), 1);
    assert!(futures::poll!(calls[0].as_mut()).is_pending());
    let mut outcomes = Vec::new();
    for c in calls {
        outcomes.push(within(c).await);
    }
    let ok = outcomes.iter().filter(|r| matches!(r, Ok(300))).count();
    let busy = outcomes
        .iter()
        .filter(|r| matches!(r, Err(Error::Busy)))
        .count();
    assert_eq!((ok, busy), (2, 4), "{outcomes:?}");
    // Once the queue has drained, calls on it are welcome again.
    assert_eq!(within(busy_one.nap(1)).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_engine_finishes_the_calls_in_flight() {
    let e = start_engine();
    let hub = client(&e).await;
    let s: RemoteSleeper = within(hub.scatter(Sleeper)).await.unwrap();
    let napping = s.nap(300);
    within(hub.shutdown_engine(NodeId(0))).await.unwrap();
    assert_eq!(
        within(napping).await.unwrap(),
        300,
        "the call in flight was answered"
    );
    // Then the engine is gone.
    common::eventually("the engine to close the connection", || {
        let lost = hub.is_lost(NodeId(0));
        async move { lost }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_engines_hand_values_over_only_within_their_cluster() {
    let a = within(distob::Cluster::local(2)).await.unwrap();
    let b = within(distob::Cluster::local(1)).await.unwrap();
    let x: distob::RemoteArray<f64> =
        within(a.scatter_to(NodeId(0), ndarray::ArrayD::zeros(vec![8])))
            .await
            .unwrap();
    // Within a cluster the copy is handed over.
    let copy = x.copy_to(NodeId(1)).unwrap();
    assert_eq!(
        within(copy.fetch()).await.unwrap(),
        ndarray::ArrayD::<f64>::zeros(vec![8])
    );
    // A client of cluster A asks A's engine to push the array to cluster
    // B's engine, in the same process: B's key was never proven, so nothing
    // arrives there.
    let a_addr = a.hub().engine_addr(NodeId(0)).unwrap();
    let b_addr = b.hub().engine_addr(NodeId(0)).unwrap();
    let (mut r, mut w) = raw_to(a_addr, &a.profile().key).await;
    let push = Op::Push {
        source: x.id().object,
        object: ObjectId::new(),
        to: NodeId(0),
        addr: b_addr,
    };
    let out = request(&mut r, &mut w, push).await;
    assert!(matches!(out, Outcome::Fault(_)), "{out:?}");
    assert_eq!(within(b.hub().engine(NodeId(0)).len()).await.unwrap(), 0);
}

/// Holds the handles it is given and reports on them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    held: Vec<distob::Remote<Vec<u32>>>,
}

#[distob::remote]
impl Holder {
    /// Keeps `h`.
    pub fn hold(&mut self, h: distob::Remote<Vec<u32>>) {
        self.held.push(h);
    }

    /// What fetching each held value gave.
    pub async fn fetch_all(&self) -> Vec<String> {
        let mut out = Vec::new();
        for h in &self.held {
            out.push(match h.fetch().await {
                Ok(v) => format!("{v:?}"),
                Err(e) => e.to_string(),
            });
        }
        out
    }
}

/// A handle on the wire, as `Remote` writes it: node, id, type tag, shape.
fn handle_args(node: NodeId, object: ObjectId) -> Vec<u8> {
    let tag = distob::id::TypeTag::of_name(distob::registry::stable_name::<Vec<u32>>());
    let repr = (node, object, tag, None::<Vec<usize>>);
    distob::value::to_cbor(&(repr,)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handles_holds_and_names_get_clear_errors() {
    let e = start_engine();
    let hub = client(&e).await;
    let survivor = within(hub.scatter(vec![1u32, 2, 3])).await.unwrap();
    let holder: RemoteHolder = within(hub.scatter(Holder::default())).await.unwrap();
    let (mut r, mut w) = raw(&e).await;
    let hold = MethodId::of_name("Holder::hold");
    let call = |object, args| Op::Call(distob::net::wire::CallOp(object, hold, args, None));

    // Handles naming no object: one that never existed, one released, one
    // killed. Each is taken (its hold holds nothing) and fails at the call
    // that uses it, saying so.
    let never = ObjectId::new();
    let released = within(hub.scatter(vec![9u32])).await.unwrap();
    let released_id = released.id().object;
    drop(released);
    common::eventually("the released object to go", || async {
        within(hub.engine(NodeId(0)).len()).await.unwrap() == 2
    })
    .await;
    let killed = within(hub.scatter(vec![8u32])).await.unwrap();
    within(killed.kill()).await.unwrap();
    for id in [never, released_id, killed.id().object] {
        let meta = Meta(
            1,
            vec![distob::net::wire::HandleRef(NodeId(0), id)],
            vec![],
            None,
            None,
        );
        let out = request_with(
            &mut r,
            &mut w,
            call(holder.id().object, handle_args(NodeId(0), id)),
            meta,
        )
        .await;
        assert!(matches!(out, Outcome::Value(_)), "{out:?}");
    }
    let said = within(holder.fetch_all()).await.unwrap();
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(said[0].contains("no object"), "{said:?}");
    assert!(said[1].contains("no object"), "{said:?}");
    assert!(said[2].contains("lost"), "{said:?}");

    // A malformed handle among the arguments: a decode fault.
    let garbage = distob::value::to_cbor(&(("not", "a", "handle"),)).unwrap();
    let out = request(&mut r, &mut w, call(holder.id().object, garbage)).await;
    assert!(matches!(out, Outcome::Fault(Fault::Decode(_))), "{out:?}");
    // A handle of the wrong type: a decode fault naming the expected type.
    let tag = distob::id::TypeTag::of_name("someone::Else");
    let wrong =
        distob::value::to_cbor(&((NodeId(0), survivor.id().object, tag, None::<Vec<usize>>),))
            .unwrap();
    match request(&mut r, &mut w, call(holder.id().object, wrong)).await {
        Outcome::Fault(Fault::Decode(text)) => assert!(text.contains("Vec<u32>"), "{text}"),
        other => panic!("unexpected {other:?}"),
    }

    // Holds, lends and arrivals for objects that are gone or never were.
    for msg in [
        Message::Hold {
            objects: vec![never, released_id],
        },
        Message::Lent {
            objects: vec![never],
        },
        Message::Arrived {
            objects: vec![never, never],
        },
    ] {
        write_frame(&mut w, &msg, &[]).await.unwrap();
    }
    // An arrival that never was lent does not free a held object.
    let arrived = Message::Arrived {
        objects: vec![survivor.id().object; 3],
    };
    write_frame(&mut w, &arrived, &[]).await.unwrap();
    still_serves(&hub, &survivor).await;

    // Names: 1 MiB long, with control bytes, empty — refused by the engine.
    let object = distob::net::wire::HandleRef(NodeId(0), survivor.id().object);
    for name in ["x".repeat(1 << 20), "a\u{0}b".into(), String::new()] {
        let claim = Op::Claim {
            name: name.clone(),
            object,
            type_name: "t".into(),
        };
        let out = request(&mut r, &mut w, claim).await;
        assert!(matches!(out, Outcome::Fault(Fault::Refused(_))), "{out:?}");
        let out = request(&mut r, &mut w, Op::Lookup(name)).await;
        assert!(matches!(out, Outcome::Fault(Fault::Refused(_))), "{out:?}");
    }
    // A pin of an object that is not there.
    let pin = Op::Pin {
        object: never,
        name: "ghost".into(),
    };
    assert!(matches!(
        request(&mut r, &mut w, pin).await,
        Outcome::Fault(Fault::NoSuchObject(_))
    ));
    still_serves(&hub, &survivor).await;

    // Nothing leaked: the survivor, the holder, and the probe of
    // `still_serves` (gone once its handle went).
    drop(holder);
    common::eventually("only the survivor to be left", || async {
        within(hub.engine(NodeId(0)).len()).await.unwrap() == 1
    })
    .await;
}
