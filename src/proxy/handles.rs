//! Handles as values: a [`Remote<T>`] serialises as its object's address
//! and decodes into a live handle of the hub (client or engine) that
//! decodes it; payloads keep their handles alive while they are in flight.
//!
//! The protocol (the in-flight window is the hard part of distributed
//! reference counting): an object's engine keeps, per object, its holders
//! (one count per client or engine that holds handles to it) and a signed
//! count of handles in flight. A sender lends every handle a payload
//! carries *before* the payload leaves (`Lent`, on its own link to the
//! object's engine, so it precedes any `Release` of its own); the receiver
//! decodes the payload — registering as a holder (`Hold`) where it held no
//! handle yet — and only then says the handles arrived (`Arrived`). The
//! object goes when it has no holder and nothing in flight. Within one
//! process (an engine calling its own objects) payloads carry their
//! [`Lease`]s instead, which hold the handles until the payload is decoded.
//!
//! Decoding binds handles to a hub through a thread-local set around the
//! decode ([`binding`]); engine code also finds its call chain here
//! ([`current_chain`]).

use super::hub::ObjectHub;
use super::remote::Remote;
use crate::id::{NodeId, ObjectId, Ref, TypeTag};
use crate::net::wire::HandleRef;
use crate::value::{self, Lease};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    /// The hubs that decoded handles bind to, innermost last.
    static BINDING: RefCell<Vec<ObjectHub>> = const { RefCell::new(Vec::new()) };
    /// The call chain of the engine code running on this thread.
    static CHAIN: RefCell<Option<Chain>> = const { RefCell::new(None) };
}

/// Where a call stands in its chain: the chain's id, the objects whose
/// `async` methods up the chain wait for it, and its deadline (inherited
/// by the calls it makes).
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    pub(crate) id: u64,
    pub(crate) path: Vec<ObjectId>,
    pub(crate) deadline: Option<std::time::Instant>,
    /// The trace the chain's calls continue (see `telemetry::spans`).
    pub(crate) trace: Option<crate::net::wire::Trace>,
    /// The `distob.serve` span engine code of this chain runs in.
    pub(crate) span: tracing::Span,
}

impl Chain {
    /// The chain of a request that arrived now with `meta`'s fields.
    pub(crate) fn arrived(meta: crate::net::wire::Meta) -> Chain {
        let crate::net::wire::Meta(id, _, path, left_us, trace) = meta;
        let deadline =
            left_us.map(|us| std::time::Instant::now() + std::time::Duration::from_micros(us));
        Chain {
            id,
            path,
            deadline,
            trace,
            span: tracing::Span::none(),
        }
    }

    /// The time left before the deadline, in microseconds, for the wire.
    pub(crate) fn left_us(&self) -> Option<u64> {
        self.deadline.map(|d| {
            d.saturating_duration_since(std::time::Instant::now())
                .as_micros()
                .min(u128::from(u64::MAX)) as u64
        })
    }
}

/// Pops the innermost binding when a decode ends (or unwinds).
struct Bound;

impl Drop for Bound {
    fn drop(&mut self) {
        BINDING.with(|b| {
            b.borrow_mut().pop();
        });
    }
}

/// Runs `f` (a decode) with the handles it decodes bound to `hub`.
pub(crate) fn binding<R>(hub: &ObjectHub, f: impl FnOnce() -> R) -> R {
    BINDING.with(|b| b.borrow_mut().push(hub.clone()));
    let _bound = Bound;
    f()
}

fn bound_hub() -> Option<ObjectHub> {
    BINDING.with(|b| b.borrow().last().cloned())
}

/// Restores the chain that was current when engine code ends (or unwinds).
struct InChain(Option<Chain>);

impl Drop for InChain {
    fn drop(&mut self) {
        let previous = self.0.take();
        CHAIN.with(|c| *c.borrow_mut() = previous);
    }
}

/// Runs `f` (engine code) as part of `chain`, inside its span: calls it
/// makes belong to it.
pub(crate) fn in_chain<R>(chain: &Chain, f: impl FnOnce() -> R) -> R {
    let previous = CHAIN.with(|c| c.replace(Some(chain.clone())));
    let _restore = InChain(previous);
    let _entered = chain.span.enter();
    f()
}

/// The chain of the engine code running on this thread, if any.
pub(crate) fn current_chain() -> Option<Chain> {
    CHAIN.with(|c| c.borrow().clone())
}

/// The chain of a new call: the current one inside engine code, a fresh
/// one for a call a client starts (with the deadline of the
/// [`timeout`](super::deadline::WithTimeout::timeout) scope it is made in,
/// if any).
pub(crate) fn chain_for_call() -> Chain {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    current_chain().unwrap_or_else(|| {
        // Unique per process (a random base) and per call (a counter).
        let base = *BASE.get_or_init(|| {
            u64::from_le_bytes(
                uuid::Uuid::new_v4().as_bytes()[..8]
                    .try_into()
                    .unwrap_or([0; 8]),
            )
        });
        Chain {
            id: base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)),
            path: Vec::new(),
            deadline: super::deadline::scope(),
            trace: None,
            span: tracing::Span::none(),
        }
    })
}

/// Keeps the handles of a payload that reached this process alive until it
/// has been decoded (or dropped), then tells their engines they arrived.
pub(crate) struct Landing {
    hub: ObjectHub,
    flight: Flight,
}

/// How a payload's handles were kept alive on their way.
pub(crate) enum Flight {
    /// In this process: the sender's leases themselves.
    Leases(Vec<Lease>),
    /// Over the wire: lent by the sender to their engines.
    Lent(Vec<HandleRef>),
}

impl std::fmt::Debug for Landing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.flight {
            Flight::Leases(l) => write!(f, "Landing({} leases)", l.len()),
            Flight::Lent(r) => write!(f, "Landing({} lent)", r.len()),
        }
    }
}

impl Landing {
    /// The landing of a payload's handles, if it carries any.
    pub(crate) fn new(hub: &ObjectHub, flight: Flight) -> Option<Landing> {
        let empty = match &flight {
            Flight::Leases(l) => l.is_empty(),
            Flight::Lent(r) => r.is_empty(),
        };
        (!empty).then(|| Landing {
            hub: hub.clone(),
            flight,
        })
    }

    /// Runs `f` (the payload's decode) with its handles bound to the hub
    /// that received it.
    pub(crate) fn decode<R>(&self, f: impl FnOnce() -> R) -> R {
        binding(&self.hub, f)
    }
}

impl Drop for Landing {
    fn drop(&mut self) {
        if let Flight::Lent(refs) = &self.flight {
            self.hub.arrived(refs);
        }
    }
}

/// Runs `f` (a decode) bound to the landing's hub, if there is a landing.
pub(crate) fn decode_landed<R>(landing: Option<&Landing>, f: impl FnOnce() -> R) -> R {
    match landing {
        Some(l) => l.decode(f),
        None => f(),
    }
}

/// A handle on the wire: its object's engine, id and type tag, and an
/// array's shape.
#[derive(Serialize, Deserialize)]
struct HandleRepr(NodeId, ObjectId, TypeTag, Option<Vec<usize>>);

impl<T> Serialize for Remote<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.id();
        // Outside distob's encodings nothing records the lease: the result
        // is a bare address that keeps nothing alive.
        value::lease(Lease {
            handle: HandleRef(r.node, r.object),
            keep: self.keepalive(),
        });
        let shape = self.shape_meta().map(<[usize]>::to_vec);
        HandleRepr(r.node, r.object, r.tag, shape).serialize(s)
    }
}

impl<'de, T: 'static> Deserialize<'de> for Remote<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let HandleRepr(node, object, tag, shape) = HandleRepr::deserialize(d)?;
        let expected = crate::actors::registry::stable_name::<T>();
        if tag != TypeTag::of_name(expected) {
            return Err(D::Error::custom(format!(
                "a handle to an object of another type (tag {:016x}) where a {expected} was expected",
                tag.0
            )));
        }
        let hub = bound_hub().ok_or_else(|| {
            D::Error::custom(
                "a distob handle decodes only where distob decodes it (a call, a gather, a hosted value)",
            )
        })?;
        Ok(Remote::from_handle(hub.handle_for(
            Ref::new(node, object, tag),
            expected,
            shape,
        )))
    }
}
