//! [`ClusterKey`]: the shared secret every link proves it holds.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A 32-byte secret shared by a cluster's client and engines. It never
/// crosses the wire: each side proves it holds it by a keyed BLAKE3 hash over
/// fresh random challenges (see the handshake).
///
/// Serialised (in profiles) as 64 hex digits; `Debug` never shows it.
///
/// ```
/// use distob::ClusterKey;
/// let key = ClusterKey::random();
/// let hex = key.to_hex();
/// assert_eq!(ClusterKey::from_hex(&hex), Some(key.clone()));
/// assert_eq!(format!("{key:?}"), "ClusterKey(..)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey([u8; 32]);

impl ClusterKey {
    /// A fresh random key from the operating system's generator.
    pub fn random() -> Self {
        ClusterKey(random_bytes())
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ClusterKey(bytes)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).ok()?;
        Some(ClusterKey(out))
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The keyed hash that proves knowledge of the key for one handshake.
    /// `binding` ties the proof to one transport session (see
    /// [`tls`](super::tls)).
    pub(crate) fn prove(
        &self,
        role: &[u8],
        a: &[u8; 32],
        b: &[u8; 32],
        binding: &[u8; 32],
    ) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(b"distob-handshake-v2/");
        h.update(role);
        h.update(a);
        h.update(b);
        h.update(binding);
        h.finalize()
    }
}

impl ClusterKey {
    /// A name for the key that does not reveal it: equal for equal keys.
    pub(crate) fn fingerprint(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(b"distob-fingerprint-v1");
        *h.finalize().as_bytes()
    }

    /// The one-time token that lets engine `node` of launch `launch`
    /// register: a keyed hash, so only the key's holder can make one, and
    /// one launch's tokens mean nothing in another.
    pub(crate) fn join_token(&self, launch: &[u8; 32], node: u32) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(b"distob-join-v1/");
        h.update(launch);
        h.update(&node.to_le_bytes());
        *h.finalize().as_bytes()
    }
}

/// 32 random bytes from the operating system.
pub(crate) fn random_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    // getrandom fails only where the OS has no random source at all; a
    // process there cannot run a cluster safely, and uuid v4 ids would fail too.
    if getrandom::fill(&mut out).is_err() {
        // Fall back on a hash of time and address-space entropy: still unique
        // per call, never all zeros.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut h = blake3::Hasher::new();
        h.update(&t.to_le_bytes());
        h.update(uuid::Uuid::new_v4().as_bytes());
        out = *h.finalize().as_bytes();
    }
    out
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

impl Serialize for ClusterKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ClusterKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ClusterKey::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("a cluster key is 64 hex digits"))
    }
}
