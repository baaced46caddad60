//! The client-side LRU behind `#[distob(cached)]` methods: one per object,
//! keyed by method and encoded arguments, emptied by any mutating call made
//! through this client.

use super::hub::Reply;
use crate::net::wire::{MethodId, Outcome};
use crate::net::AlignedBuf;
use std::sync::{Arc, Mutex};

/// Entries kept per object.
pub(crate) const CACHE_ENTRIES: usize = 64;

struct Entry {
    method: MethodId,
    args: Vec<u8>,
    head: Vec<u8>,
    body: AlignedBuf,
}

#[derive(Default)]
struct State {
    /// Bumped by every invalidation; a reply is stored only if no
    /// invalidation happened since its call was sent.
    generation: u64,
    /// Least recently used first.
    entries: Vec<Entry>,
}

/// One object's cache.
#[derive(Default)]
pub(crate) struct MethodCache {
    state: Mutex<State>,
}

impl std::fmt::Debug for MethodCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MethodCache(..)")
    }
}

impl MethodCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A cached reply, made most recently used.
    pub(crate) fn get(&self, method: MethodId, args: &[u8]) -> Option<Reply> {
        let mut st = self.lock();
        let i = st
            .entries
            .iter()
            .position(|e| e.method == method && e.args == args)?;
        let entry = st.entries.remove(i);
        let reply = Reply {
            outcome: Outcome::Value(entry.head.clone()),
            body: entry.body.clone(),
        };
        st.entries.push(entry);
        Some(reply)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Forgets everything (a mutating call was sent).
    pub(crate) fn invalidate(&self) {
        let mut st = self.lock();
        st.generation += 1;
        st.entries.clear();
    }

    fn store(&self, generation: u64, method: MethodId, args: Vec<u8>, reply: &Reply) {
        let Outcome::Value(head) = &reply.outcome else {
            return;
        };
        let mut st = self.lock();
        if st.generation != generation {
            return;
        }
        st.entries
            .retain(|e| !(e.method == method && e.args == args));
        if st.entries.len() >= CACHE_ENTRIES {
            st.entries.remove(0);
        }
        st.entries.push(Entry {
            method,
            args,
            head: head.clone(),
            body: reply.body.clone(),
        });
    }
}

/// What a cached call stores when its reply comes.
pub(crate) struct CacheFill {
    pub(crate) cache: Arc<MethodCache>,
    pub(crate) generation: u64,
    pub(crate) method: MethodId,
    pub(crate) args: Vec<u8>,
}

impl CacheFill {
    pub(crate) fn store(self, reply: &Reply) {
        self.cache
            .store(self.generation, self.method, self.args, reply);
    }
}
