//! Any bytes as the dialer's side of a handshake: the acceptor answers,
//! refuses or fails, and never panics or admits a peer without the key.
#![no_main]

use distob::net::codec::Limits;
use distob::net::tls::PLAINTEXT;
use distob::net::{handshake, ClusterKey, FrameReader};
use distob::NodeId;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let key = ClusterKey::from_bytes([7; 32]);
    runtime().block_on(async {
        let mut reader = FrameReader::new(data, Limits::default());
        let mut sink = tokio::io::sink();
        let admitted = handshake::accept(&mut reader, &mut sink, &key, NodeId(0), &PLAINTEXT).await;
        // The acceptor's challenge is fresh: no fixed input can answer it.
        assert!(admitted.is_err(), "admitted without the key");
    });
});
