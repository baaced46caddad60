//! Criterion benchmarks of the call path's parts: frame encode/decode, and
//! a tiny call round trip to an in-process engine.
//!
//! Run: `cargo bench --bench calls`
#![allow(missing_docs, clippy::unwrap_used)]

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};
use distob::id::{CallId, ObjectId};
use distob::net::codec::{self, Limits};
use distob::net::wire::{CallOp, Message, Meta, MethodId, Op};
use distob::{Cluster, NodeId};
use std::hint::black_box;

fn frames(c: &mut Criterion) {
    let msg = Message::Request(
        CallId(42),
        Op::Call(CallOp(
            ObjectId::new(),
            MethodId::of_name("Counter::incr"),
            vec![0x81, 0x05],
            None,
        )),
        Meta::default(),
    );
    c.bench_function("encode_call_frame", |b| {
        let mut buf = BytesMut::with_capacity(256);
        b.iter(|| {
            buf.clear();
            codec::encode(black_box(&msg), &[], &mut buf).unwrap();
        })
    });
    let mut encoded = BytesMut::new();
    codec::encode(&msg, &[], &mut encoded).unwrap();
    c.bench_function("decode_call_frame", |b| {
        b.iter(|| {
            let mut buf = encoded.clone();
            black_box(codec::decode(&mut buf, &Limits::default()).unwrap());
        })
    });
}

fn arguments(c: &mut Criterion) {
    c.bench_function("encode_args_i64", |b| {
        b.iter(|| distob::value::to_cbor(black_box(&(5i64,))).unwrap())
    });
    let bytes = distob::value::to_cbor(&(5i64,)).unwrap();
    c.bench_function("decode_args_i64", |b| {
        b.iter(|| distob::value::from_cbor::<(i64,)>(black_box(&bytes)).unwrap())
    });
}

fn round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cluster = rt.block_on(Cluster::local(1)).unwrap();
    let x = rt.block_on(cluster.scatter_to(NodeId(0), 1u8)).unwrap();
    c.bench_function("local_fetch_round_trip", |b| {
        b.iter(|| rt.block_on(x.fetch()).unwrap())
    });
}

criterion_group!(benches, frames, arguments, round_trip);
criterion_main!(benches);
