//! The two spans of a call and the trace context between them.
//!
//! Both are at DEBUG (as tower-http's request spans are): a service logging
//! at INFO pays nothing for them; `distob=debug` (or a filter on the two
//! targets) turns them on.
//!
//! `distob.call` (target `distob::call`) is made where the call is
//! sent — a client, or engine code calling through [`Ctx`](crate::Ctx) —
//! with the engine, op, method, object and its type, call id and bytes
//! out; its outcome and bytes in are recorded when the answer comes.
//! `distob.serve` (target `distob::serve`) is made on the engine when
//! the request arrives and closes when it is answered; the method runs
//! inside it, so the calls its code makes are `distob.call`s within it.
//!
//! Both carry `trace_id` and `span_id` (W3C sizes, hex) and the serve span
//! its caller's as `parent_id`: the request carries them ([`Trace`]), so
//! a trace followed from process to process is one trace. With the
//! `opentelemetry` feature and a `tracing-opentelemetry` layer the ids are
//! OpenTelemetry's own and each serve span's parent is set to its caller's
//! span, so exporters see one tree.

use crate::actors::registry;
use crate::id::{CallId, NodeId, Ref};
use crate::net::wire::{Op, Trace};
use std::cell::Cell;
use std::fmt;
use tracing::field::Empty;
use tracing::{Level, Span};

/// 128 bits of trace id, as 32 hex digits.
struct TraceHex(u64, u64);

impl fmt::Display for TraceHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{:016x}", self.0, self.1)
    }
}

/// 64 bits of span id, as 16 hex digits.
struct SpanHex(u64);

impl fmt::Display for SpanHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A fresh nonzero id: trace and span ids need to be unique, not secret
/// (SplitMix64 per thread, seeded once from the OS).
fn fresh_id() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            // Without the OS source the ids are still distinct per thread.
            if getrandom::fill(&mut seed).is_err() {
                seed = (std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes();
            }
            u64::from_le_bytes(seed)
        });
    }
    STATE.with(|s| {
        let mut z = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).max(1)
    })
}

/// The method (or function) an op runs, by name when this build knows it.
fn method_of(op: &Op) -> Option<&'static str> {
    let id = match op {
        Op::Call(c) | Op::Combine(c, _) => c.1,
        Op::Apply { function, .. } => *function,
        _ => return None,
    };
    registry::method_name(id)
}

/// The span of a call about to be sent to `node`, and the trace context
/// its request carries (`inherited`, the context of the engine code making
/// it, goes on unchanged when nobody listens).
pub(crate) fn call_span(
    node: NodeId,
    op: &Op,
    target: Option<Ref>,
    call: CallId,
    bytes_out: usize,
    inherited: Option<Trace>,
) -> (Span, Option<Trace>) {
    if !super::on() || !tracing::level_enabled!(Level::DEBUG) {
        return (Span::none(), inherited);
    }
    let (hi, lo) = inherited.map_or_else(|| (fresh_id(), fresh_id()), |t| (t.0, t.1));
    let id = fresh_id();
    let span = tracing::debug_span!(
        target: "distob::call",
        "distob.call",
        node = node.0,
        op = super::op_name(op),
        method = method_of(op),
        "type" = target.and_then(|r| registry::type_name_of(r.tag)),
        "ref" = target.map(display),
        call = call.0,
        bytes_out,
        bytes_in = Empty,
        outcome = Empty,
        trace_id = %TraceHex(hi, lo),
        span_id = %SpanHex(id),
    );
    if span.is_disabled() {
        return (span, inherited);
    }
    #[cfg(feature = "opentelemetry")]
    if let Some(t) = super::otel::adopted(&span) {
        return (span, Some(t));
    }
    (span, Some(Trace(hi, lo, id, 1)))
}

/// The span of a request engine `node` serves for `peer`, continuing the
/// trace the request carries; and the context of the calls its code makes
/// (children of this span).
pub(crate) fn serve_span(
    node: NodeId,
    peer: NodeId,
    op: &Op,
    call: CallId,
    incoming: Option<Trace>,
) -> (Span, Option<Trace>) {
    if !super::on() || !tracing::level_enabled!(Level::DEBUG) {
        return (Span::none(), incoming);
    }
    let (hi, lo) = incoming.map_or_else(|| (fresh_id(), fresh_id()), |t| (t.0, t.1));
    let id = fresh_id();
    let span = tracing::debug_span!(
        target: "distob::serve",
        "distob.serve",
        node = node.0,
        peer = %peer,
        op = super::op_name(op),
        method = method_of(op),
        call = call.0,
        bytes_out = Empty,
        outcome = Empty,
        trace_id = %TraceHex(hi, lo),
        span_id = %SpanHex(id),
        parent_id = incoming.map(|t| display(SpanHex(t.2))),
    );
    if span.is_disabled() {
        return (span, incoming);
    }
    #[cfg(feature = "opentelemetry")]
    if let Some(t) = incoming.and_then(|t| super::otel::continued(&span, t)) {
        return (span, Some(t));
    }
    (span, Some(Trace(hi, lo, id, 1)))
}

/// Records how a call ended on its span: its outcome, and the bytes of its
/// answer as `field` (`bytes_in` for a call, `bytes_out` for a serve).
pub(crate) fn finish(span: &Span, outcome: &'static str, field: &'static str, bytes: usize) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", outcome);
    span.record(field, bytes);
}
