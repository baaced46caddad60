//! The client-side LRU behind `#[distob(cached)]` methods: one per object,
//! keyed by method and encoded arguments, bounded in bytes, emptied by any
//! mutating call made through this client.
//!
//! Entries are shared buffers: a hit decodes straight from the cached
//! reply, and a reply that fills the cache is moved into it, not copied.

use crate::error::Error;
use crate::net::wire::MethodId;
use crate::net::AlignedBuf;
use crate::value::{self, Value};
use lru::LruCache;
use std::sync::{Arc, Mutex};

/// The bytes one object's method cache may hold by default (keys, replies
/// and a fixed overhead per entry); change it per hub with
/// [`ObjectHub::set_method_cache_limit`](crate::ObjectHub::set_method_cache_limit).
pub const DEFAULT_METHOD_CACHE_BYTES: usize = 1 << 20;

/// What an entry costs beyond its bytes (the map's and the LRU list's share).
const ENTRY_OVERHEAD: usize = 96;

/// One cached reply: its encoded value.
#[derive(Debug)]
pub(crate) struct Cached {
    head: Vec<u8>,
    body: AlignedBuf,
}

impl Cached {
    fn weight(&self, key: &[u8]) -> usize {
        key.len() + self.head.len() + self.body.len() + ENTRY_OVERHEAD
    }

    /// The value, decoded from the shared buffer.
    pub(crate) fn decode<T: Value, E>(&self) -> Result<T, Error<E>> {
        let body = if self.body.is_empty() {
            AlignedBuf::new()
        } else {
            AlignedBuf::from_slice(self.body.as_bytes())
        };
        Ok(value::decode(&self.head, body)?)
    }
}

/// How full one object's method cache is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheStats {
    /// Cached replies.
    pub entries: usize,
    /// Bytes they take (keys, replies and per-entry overhead).
    pub bytes: usize,
}

struct State {
    /// Bumped by every invalidation; a reply is stored only if no
    /// invalidation happened since its call was sent.
    generation: u64,
    entries: LruCache<Box<[u8]>, Arc<Cached>>,
    bytes: usize,
}

/// One object's cache.
pub(crate) struct MethodCache {
    state: Mutex<State>,
}

impl Default for MethodCache {
    fn default() -> Self {
        MethodCache {
            state: Mutex::new(State {
                generation: 0,
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }
}

impl std::fmt::Debug for MethodCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MethodCache(..)")
    }
}

/// The key of a call: its method id, then its encoded arguments.
pub(crate) fn key(method: MethodId, args: &[u8]) -> Box<[u8]> {
    let mut k = Vec::with_capacity(8 + args.len());
    k.extend_from_slice(&method.0.to_le_bytes());
    k.extend_from_slice(args);
    k.into_boxed_slice()
}

impl MethodCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A cached reply, made most recently used.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Arc<Cached>> {
        self.lock().entries.get(key).cloned()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Forgets everything (a mutating call was sent).
    pub(crate) fn invalidate(&self) {
        let mut st = self.lock();
        st.generation += 1;
        st.entries.clear();
        st.bytes = 0;
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let st = self.lock();
        CacheStats {
            entries: st.entries.len(),
            bytes: st.bytes,
        }
    }

    /// Keeps a reply (unless an invalidation came since its call was sent,
    /// or it alone is over `limit`), dropping least recently used entries
    /// until the cache is within `limit` bytes.
    fn store(&self, generation: u64, key: Box<[u8]>, cached: Arc<Cached>, limit: usize) {
        let weight = cached.weight(&key);
        let mut st = self.lock();
        if st.generation != generation || weight > limit {
            return;
        }
        if let Some(old) = st.entries.put(key.clone(), cached) {
            st.bytes -= old.weight(&key);
        }
        st.bytes += weight;
        while st.bytes > limit {
            let Some((k, v)) = st.entries.pop_lru() else {
                break;
            };
            st.bytes -= v.weight(&k);
        }
    }
}

/// What a cached call stores when its reply comes.
pub(crate) struct CacheFill {
    pub(crate) cache: Arc<MethodCache>,
    pub(crate) generation: u64,
    pub(crate) key: Box<[u8]>,
    pub(crate) limit: usize,
}

impl CacheFill {
    /// Moves the reply's value into the cache; the shared entry.
    pub(crate) fn store(self, head: Vec<u8>, body: AlignedBuf) -> Arc<Cached> {
        let cached = Arc::new(Cached { head, body });
        self.cache
            .store(self.generation, self.key, cached.clone(), self.limit);
        cached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(cache: &Arc<MethodCache>, n: u64, limit: usize) {
        let key = key(MethodId(1), &n.to_le_bytes());
        let head = crate::value::to_cbor(&n).unwrap();
        CacheFill {
            cache: cache.clone(),
            generation: cache.generation(),
            key,
            limit,
        }
        .store(head, AlignedBuf::new());
    }

    #[test]
    fn the_cache_stays_within_its_byte_bound_and_keeps_the_newest() {
        let cache = Arc::new(MethodCache::default());
        let limit = 4096;
        for n in 0..10_000u64 {
            fill(&cache, n, limit);
            assert!(cache.stats().bytes <= limit);
        }
        let last = cache.get(&key(MethodId(1), &9_999u64.to_le_bytes()));
        assert_eq!(last.unwrap().decode::<u64, ()>().unwrap(), 9_999);
        assert!(cache.get(&key(MethodId(1), &0u64.to_le_bytes())).is_none());
        cache.invalidate();
        assert_eq!(
            cache.stats(),
            CacheStats {
                entries: 0,
                bytes: 0
            }
        );
    }
}
