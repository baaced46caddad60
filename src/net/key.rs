//! [`ClusterKey`]: the shared secret every link proves it holds.

use super::error::NetError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A 32-byte secret shared by a cluster's client and engines. It never
/// crosses the wire: each side proves it holds it by a keyed BLAKE3 hash over
/// fresh random challenges (see the handshake).
///
/// Serialised (in profiles) as 64 hex digits; `Debug` never shows it.
///
/// ```
/// use distob::cluster::ClusterKey;
/// let key = ClusterKey::random()?;
/// let hex = key.to_hex();
/// assert_eq!(ClusterKey::from_hex(&hex), Some(key.clone()));
/// assert_eq!(format!("{key:?}"), "ClusterKey(..)");
/// # Ok::<(), distob::net::NetError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey([u8; 32]);

impl ClusterKey {
    /// A fresh random key from the operating system's generator, or
    /// [`NetError::Rng`] where the OS has no working random source (a key
    /// is never made from anything else).
    pub fn random() -> Result<Self, NetError> {
        Ok(ClusterKey(random_bytes()?))
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

/// 32 random bytes from the operating system: for keys, nonces and
/// tokens. Where the OS random source fails there is no fallback — a
/// guessable secret is worse than none — and the caller gets
/// [`NetError::Rng`].
pub(crate) fn random_bytes() -> Result<[u8; 32], NetError> {
    random_bytes_from(getrandom::fill)
}

/// [`random_bytes`] from the given source (the seam the failure test uses).
fn random_bytes_from(
    fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
) -> Result<[u8; 32], NetError> {
    let mut out = [0u8; 32];
    fill(&mut out).map_err(NetError::Rng)?;
    Ok(out)
}

/// Whether two secrets (tokens, proofs) are equal, in constant time:
/// how long the comparison takes says nothing of where they differ.
pub(crate) fn same_secret(a: &[u8; 32], b: &[u8; 32]) -> bool {
    // blake3's `Hash` compares in constant time.
    blake3::Hash::from_bytes(*a) == blake3::Hash::from_bytes(*b)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_random_source_gives_an_error_never_a_key() {
        let failing = |_: &mut [u8]| Err(getrandom::Error::UNSUPPORTED);
        assert!(matches!(random_bytes_from(failing), Err(NetError::Rng(_))));
        let zeros = |b: &mut [u8]| {
            b.fill(7);
            Ok(())
        };
        assert_eq!(random_bytes_from(zeros).unwrap(), [7; 32]);
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        let a = [1u8; 32];
        let mut b = a;
        assert!(same_secret(&a, &b));
        b[31] ^= 1;
        assert!(!same_secret(&a, &b));
    }
}
