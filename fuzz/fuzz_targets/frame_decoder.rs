//! Any bytes into the frame decoder: it returns frames, `Ok(None)` or an
//! error, and never panics, loops or allocates past its limits.
#![no_main]

use bytes::BytesMut;
use distob::net::codec::{decode, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_frame: 1 << 20,
        max_body: 1 << 20,
    };
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = decode(&mut buf, &limits) {}
});
