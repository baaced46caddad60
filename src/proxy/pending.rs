//! The calls a link waits on, by call id.
//!
//! Call ids grow (the hub hands them out in order) and an engine mostly
//! answers a connection's calls in the order they came, so the table is a
//! queue sorted by id: a call joins at the back, and its reply usually
//! finds it at the front. With ten thousand calls in flight a hash table
//! spread them over as many cache lines, and finding each reply's waiter
//! was a tenth of a pipelined call's time on the client.
//!
//! A call answered out of order leaves a gap where it was; gaps at either
//! end go at once, and the queue is compacted when gaps outnumber the
//! calls, so a long-lived stream at the front cannot make it grow.

use crate::id::CallId;
use std::collections::VecDeque;

/// Waiters by call id, oldest first.
pub(crate) struct CallTable<V> {
    slots: VecDeque<(CallId, Option<V>)>,
    live: usize,
}

impl<V> Default for CallTable<V> {
    fn default() -> Self {
        CallTable {
            slots: VecDeque::new(),
            live: 0,
        }
    }
}

impl<V> CallTable<V> {
    /// Adds a waiter (replacing one already there for the same call).
    pub(crate) fn insert(&mut self, call: CallId, value: V) {
        match self.slots.back() {
            Some((last, _)) if *last >= call => self.insert_before_last(call, value),
            _ => {
                self.slots.push_back((call, Some(value)));
                self.live += 1;
            }
        }
    }

    /// A call whose id is below the newest one's (ids handed out on other
    /// threads may register in a different order): its sorted place.
    fn insert_before_last(&mut self, call: CallId, value: V) {
        match self.slots.binary_search_by_key(&call, |(id, _)| *id) {
            Ok(i) => {
                if self.slots[i].1.replace(value).is_none() {
                    self.live += 1;
                }
            }
            Err(i) => {
                self.slots.insert(i, (call, Some(value)));
                self.live += 1;
            }
        }
    }

    /// Takes a call's waiter out.
    pub(crate) fn remove(&mut self, call: CallId) -> Option<V> {
        let i = self.position(call)?;
        let value = self.slots[i].1.take()?;
        self.live -= 1;
        self.close_gaps();
        Some(value)
    }

    /// A call's waiter.
    pub(crate) fn get(&self, call: CallId) -> Option<&V> {
        self.position(call).and_then(|i| self.slots[i].1.as_ref())
    }

    /// A call's waiter, to change.
    pub(crate) fn get_mut(&mut self, call: CallId) -> Option<&mut V> {
        self.position(call).and_then(|i| self.slots[i].1.as_mut())
    }

    /// Calls waiting.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Takes every waiter out, oldest first.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (CallId, V)> + '_ {
        self.live = 0;
        self.slots
            .drain(..)
            .filter_map(|(id, v)| v.map(|v| (id, v)))
    }

    fn position(&self, call: CallId) -> Option<usize> {
        match self.slots.front() {
            Some((first, _)) if *first == call => Some(0),
            _ => self.slots.binary_search_by_key(&call, |(id, _)| *id).ok(),
        }
    }

    /// Drops the gaps at both ends, and all of them once they outnumber
    /// the calls.
    fn close_gaps(&mut self) {
        while matches!(self.slots.front(), Some((_, None))) {
            self.slots.pop_front();
        }
        while matches!(self.slots.back(), Some((_, None))) {
            self.slots.pop_back();
        }
        if self.slots.len() > 64 && self.live * 2 < self.slots.len() {
            self.slots.retain(|(_, v)| v.is_some());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug)]
    enum Step {
        /// A new call: the next id, or one a few below it.
        Insert { back: u64 },
        /// A reply: the waiting call at this rank (modulo how many wait).
        Remove { rank: usize },
        /// A reply for a call that is not waiting.
        RemoveUnknown { id: u64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u64..4).prop_map(|back| Step::Insert { back }),
            4 => (0usize..64).prop_map(|rank| Step::Remove { rank }),
            1 => (0u64..10_000).prop_map(|id| Step::RemoveUnknown { id }),
        ]
    }

    proptest! {
        /// Any order of registrations and replies: the table holds exactly
        /// what a map would, and its gaps never outnumber the calls waiting
        /// (or the compaction threshold).
        #[test]
        fn agrees_with_a_map(steps in proptest::collection::vec(step(), 0..400)) {
            let mut table = CallTable::default();
            let mut model = BTreeMap::new();
            let mut next = 100u64;
            for s in steps {
                match s {
                    Step::Insert { back } => {
                        let id = next.saturating_sub(back);
                        next += 1;
                        table.insert(CallId(id), id * 7);
                        model.insert(id, id * 7);
                    }
                    Step::Remove { rank } => {
                        if let Some(id) = model.keys().nth(rank % model.len().max(1)).copied() {
                            prop_assert_eq!(table.remove(CallId(id)), model.remove(&id));
                        }
                    }
                    Step::RemoveUnknown { id } => {
                        prop_assert_eq!(table.remove(CallId(id)), model.remove(&id));
                    }
                }
                prop_assert_eq!(table.len(), model.len());
                prop_assert!(table.slots.len() <= model.len() + model.len().max(64));
                for (id, v) in &model {
                    prop_assert_eq!(table.get(CallId(*id)), Some(v));
                }
            }
            let drained: Vec<(u64, u64)> = table.drain().map(|(c, v)| (c.0, v)).collect();
            prop_assert_eq!(drained, model.into_iter().collect::<Vec<_>>());
            prop_assert_eq!(table.len(), 0);
        }
    }

    #[test]
    fn a_stream_at_the_front_does_not_make_the_queue_grow() {
        let mut table = CallTable::default();
        table.insert(CallId(1), "stream");
        for id in 2..100_000 {
            table.insert(CallId(id), "call");
            assert_eq!(table.remove(CallId(id)), Some("call"));
        }
        assert_eq!(table.len(), 1);
        assert!(table.slots.len() <= 2);
        assert_eq!(table.get_mut(CallId(1)).copied(), Some("stream"));
    }
}
