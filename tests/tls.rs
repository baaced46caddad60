//! TLS on the links: what crosses the wire is encrypted (a recording relay
//! never sees the data), an engine that wants TLS refuses plaintext with a
//! reason, and a relay that ends TLS on both sides cannot pass the
//! cluster-key handshake, because both proofs cover the TLS session.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)]

mod common;

use common::{start_engine, start_engine_as, within};
use distob::array::BinOp;
use distob::cluster::{ClusterKey, TlsPolicy};
use distob::net::tls::{self, Identity};
use distob::net::NetError;
use distob::{Error, NodeId, ObjectHub, RemoteArray};
use ndarray::ArrayD;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay on loopback to `target` that keeps a copy of every byte it
/// forwards, both ways, over every connection made through it.
async fn recording_relay(target: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, log.clone()));
            tokio::spawn(pump(sr, cw, log.clone()));
        }
    });
    (addr, seen)
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    log: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        log.lock().unwrap().extend_from_slice(&buf[..n]);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A string nobody would send by chance.
const SECRET: &str = "distob-secret-7f3a9c-do-not-leak-this-over-the-wire";

/// Array values whose bytes are as recognisable as [`SECRET`].
fn marked(n: usize, base: f64) -> ArrayD<f64> {
    ArrayD::from_shape_vec(vec![n], (0..n).map(|i| base + i as f64 * 0.123).collect()).unwrap()
}

fn bytes_of(a: &ArrayD<f64>) -> Vec<u8> {
    a.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Runs the same session through recording relays under `policy`: a string
/// round trip, and an addition of arrays on two engines (so one operand
/// moves engine to engine, through the relays too). Returns what the
/// relays saw, and the bytes of the arrays.
async fn session_through_relays(policy: TlsPolicy) -> (Vec<u8>, Vec<Vec<u8>>) {
    let key = ClusterKey::random().unwrap();
    let e0 = start_engine_as(NodeId(0), key.clone(), move |e| e.with_tls(policy));
    let e1 = start_engine_as(NodeId(1), key.clone(), move |e| e.with_tls(policy));
    let (r0, seen0) = recording_relay(e0.addr).await;
    let (r1, seen1) = recording_relay(e1.addr).await;
    let hub = within(ObjectHub::connect_with(
        &[(NodeId(0), r0), (NodeId(1), r1)],
        key,
        policy,
    ))
    .await
    .unwrap();

    let s = within(hub.scatter_to(NodeId(0), SECRET.to_string()))
        .await
        .unwrap();
    assert_eq!(within(hub.gather(&s)).await.unwrap(), SECRET);

    let (a, b) = (marked(512, 1.0e6 + 0.5), marked(300, -7.25e5));
    let b = ndarray::concatenate(ndarray::Axis(0), &[b.view(), marked(212, 3.5).view()]).unwrap();
    let ra: RemoteArray<f64> = within(hub.scatter_to(NodeId(0), a.clone())).await.unwrap();
    let rb: RemoteArray<f64> = within(hub.scatter_to(NodeId(1), b.clone())).await.unwrap();
    // Equal sizes: the operand on engine 1 moves to engine 0 (or back), engine to engine.
    let sum = ra.try_binary(BinOp::Add, &rb).unwrap();
    let got = within(hub.gather(&sum)).await.unwrap();
    assert_eq!(got, &a + &b);

    let mut seen = seen0.lock().unwrap().clone();
    seen.extend_from_slice(&seen1.lock().unwrap());
    (seen, vec![bytes_of(&a), bytes_of(&b), bytes_of(&(&a + &b))])
}

#[tokio::test]
async fn tls_links_carry_no_plaintext_client_to_engine_or_engine_to_engine() {
    // The relays do record plaintext: without TLS every secret is visible.
    let (seen, arrays) = session_through_relays(TlsPolicy::Never).await;
    assert!(contains(&seen, SECRET.as_bytes()));
    for bytes in &arrays {
        assert!(contains(&seen, &bytes[..64]));
    }
    // One operand crossed twice: client to its engine, then engine to engine.
    let crossings = |b: &[u8]| seen.windows(64).filter(|w| *w == &b[..64]).count();
    assert!(crossings(&arrays[0]) + crossings(&arrays[1]) >= 3);
    // With TLS none of it is, though the same session crossed the relays.
    let (seen, arrays) = session_through_relays(TlsPolicy::Always).await;
    assert!(seen.len() > 3 * 4096, "the session went through the relays");
    assert!(!contains(&seen, SECRET.as_bytes()));
    for bytes in &arrays {
        assert!(!contains(&seen, &bytes[..64]));
    }
}

#[tokio::test]
async fn an_engine_that_wants_tls_refuses_plaintext_with_a_reason() {
    let e = start_engine(|e| e.with_tls(TlsPolicy::Always));
    let refused = within(ObjectHub::connect_with(
        &[(NodeId(0), e.addr)],
        e.key.clone(),
        TlsPolicy::Never,
    ))
    .await;
    assert!(
        matches!(refused, Err(Error::Protocol(NetError::TlsRequired))),
        "{refused:?}"
    );
    // A plaintext engine is not reached by a client that insists on TLS.
    let plain = start_engine(|e| e.with_tls(TlsPolicy::Never));
    let insisted = within(ObjectHub::connect_with(
        &[(NodeId(0), plain.addr)],
        plain.key.clone(),
        TlsPolicy::Always,
    ))
    .await;
    assert!(
        insisted.is_err(),
        "a TLS dialer talked to a plaintext engine"
    );
    // Both engines go on serving clients that match them.
    for (engine, policy) in [(&e, TlsPolicy::Always), (&plain, TlsPolicy::Never)] {
        let hub = within(ObjectHub::connect_with(
            &[(NodeId(0), engine.addr)],
            engine.key.clone(),
            policy,
        ))
        .await
        .unwrap();
        let x = within(hub.scatter(41_u64)).await.unwrap();
        assert_eq!(within(hub.gather(&x)).await.unwrap(), 41);
    }
}

#[tokio::test]
async fn a_relay_that_ends_tls_on_both_sides_cannot_pass_the_handshake() {
    let e = start_engine(|e| e.with_tls(TlsPolicy::Always));
    // The relay has its own certificate towards the client and its own TLS
    // session to the engine, and forwards the decrypted bytes: without the
    // key bound to the session it would read everything.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap();
    let target = e.addr;
    let relayed = Arc::new(Mutex::new(0usize));
    let count = relayed.clone();
    tokio::spawn(async move {
        let identity = Identity::generate().unwrap();
        while let Ok((client, _)) = listener.accept().await {
            let identity = identity.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let (mut from_client, _) = tls::accept(client, &identity).await.unwrap();
                let upstream = TcpStream::connect(target).await.unwrap();
                let (mut to_engine, _) = tls::connect(upstream).await.unwrap();
                *count.lock().unwrap() += 1;
                let _ = tokio::io::copy_bidirectional(&mut from_client, &mut to_engine).await;
            });
        }
    });
    let through_relay = within(ObjectHub::connect_with(
        &[(NodeId(0), relay)],
        e.key.clone(),
        TlsPolicy::Always,
    ))
    .await;
    assert!(
        matches!(through_relay, Err(Error::Auth)),
        "{through_relay:?}"
    );
    assert!(
        *relayed.lock().unwrap() >= 1,
        "the relay did sit in the middle"
    );
    // The engine still serves a direct client.
    let hub = within(ObjectHub::connect_with(
        &[(NodeId(0), e.addr)],
        e.key.clone(),
        TlsPolicy::Always,
    ))
    .await
    .unwrap();
    let x = within(hub.scatter(vec![1.5_f64, 2.5])).await.unwrap();
    assert_eq!(within(hub.gather(&x)).await.unwrap(), vec![1.5, 2.5]);
}
