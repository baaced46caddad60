//! The handshake keeps strangers out; bad bytes close one connection only.
#![allow(clippy::unwrap_used)]

mod common;

use common::within;
use distob::net::connection::FrameReader;
use distob::net::tls::PLAINTEXT;
use distob::net::{handshake, ClusterKey, Limits};
use distob::{Cluster, Error, NodeId, ObjectHub};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn still_serves(cluster: &Cluster) {
    let x = within(cluster.scatter_to(NodeId(0), vec![7u16; 10]))
        .await
        .unwrap();
    assert_eq!(within(x.fetch()).await.unwrap(), vec![7u16; 10]);
}

/// Reads until the engine closes the connection (EOF or reset).
async fn closed_by_engine(mut s: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match within(s.read(&mut buf)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

async fn authenticated(addr: SocketAddr, key: &ClusterKey) -> TcpStream {
    let s = TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = s.into_split();
    let mut reader = FrameReader::new(r, Limits::default());
    let peer = within(handshake::dial(
        &mut reader,
        &mut w,
        key,
        NodeId::CLIENT,
        &PLAINTEXT,
    ))
    .await
    .unwrap();
    assert_eq!(peer, NodeId(0));
    // The engine sends nothing unasked after `Accepted`, so nothing read
    // ahead is lost here.
    reader.into_inner().reunite(w).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_the_wrong_key_is_refused_and_the_engine_goes_on() {
    let cluster = within(Cluster::local(1)).await.unwrap();
    let addr = cluster.hub().engine_addr(NodeId(0)).unwrap();
    let wrong = within(ObjectHub::connect(
        &[(NodeId(0), addr)],
        ClusterKey::random().unwrap(),
    ))
    .await;
    assert!(matches!(wrong, Err(Error::Auth)), "{wrong:?}");
    still_serves(&cluster).await;
    // A second client with the right key is admitted.
    let right = within(ObjectHub::connect(
        &[(NodeId(0), addr)],
        cluster.profile().key,
    ))
    .await
    .unwrap();
    let y = within(right.scatter(3u8)).await.unwrap();
    assert_eq!(within(y.fetch()).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_the_handshake_closes_that_connection_only() {
    let cluster = within(Cluster::local(1)).await.unwrap();
    let addr = cluster.hub().engine_addr(NodeId(0)).unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    // The engine may close before it has read everything.
    let _ = s.write_all(&garbage).await;
    closed_by_engine(s).await;
    still_serves(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_after_the_handshake_close_that_connection_only() {
    let cluster = within(Cluster::local(1)).await.unwrap();
    let addr = cluster.hub().engine_addr(NodeId(0)).unwrap();
    let key = cluster.profile().key;

    // Garbage CBOR in a well-formed frame.
    let mut s = authenticated(addr, &key).await;
    s.write_all(&[4, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 0xfd, 0xfc])
        .await
        .unwrap();
    closed_by_engine(s).await;
    still_serves(&cluster).await;

    // A length prefix of 4 GiB: refused before any allocation.
    let mut s = authenticated(addr, &key).await;
    s.write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
        .await
        .unwrap();
    closed_by_engine(s).await;
    still_serves(&cluster).await;

    // A truncated frame, then the client hangs up.
    let mut s = authenticated(addr, &key).await;
    s.write_all(&[100, 0, 0, 0, 0, 0, 0, 0, 0xa1, 0x01])
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    closed_by_engine(s).await;
    still_serves(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_frame_before_the_handshake_is_refused() {
    use distob::net::wire::{Message, Op};
    let cluster = within(Cluster::local(1)).await.unwrap();
    let addr = cluster.hub().engine_addr(NodeId(0)).unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = bytes::BytesMut::new();
    let list = Message::Request(distob::id::CallId(1), Op::List, Default::default());
    distob::net::codec::encode(&list, &[], &mut buf).unwrap();
    s.write_all(&buf).await.unwrap();
    let (r, _w) = s.into_split();
    let mut reader = FrameReader::new(r, Limits::default());
    let answer = within(reader.next()).await.unwrap().unwrap();
    assert!(
        matches!(answer.message, Message::Refused { .. }),
        "{:?}",
        answer.message
    );
    assert!(within(reader.next()).await.unwrap().is_none());
    still_serves(&cluster).await;
}
