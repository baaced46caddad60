//! The trace context of OpenTelemetry spans (feature `opentelemetry`):
//! with a `tracing-opentelemetry` layer installed, each `distob.call` span
//! is an OpenTelemetry span whose ids go in the request, and each
//! `distob.serve` span gets its caller's span as its remote parent.

use crate::net::wire::Trace;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The OpenTelemetry context of `span`, if a layer gave it one; its ids
/// are recorded on the span in place of distob's own.
pub(super) fn adopted(span: &Span) -> Option<Trace> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if !sc.is_valid() {
        return None;
    }
    let id = u128::from_be_bytes(sc.trace_id().to_bytes());
    let span_id = u64::from_be_bytes(sc.span_id().to_bytes());
    let trace = Trace(
        (id >> 64) as u64,
        id as u64,
        span_id,
        sc.trace_flags().to_u8(),
    );
    span.record("trace_id", tracing::field::display(sc.trace_id()));
    span.record("span_id", tracing::field::display(sc.span_id()));
    Some(trace)
}

/// Makes `span` a child of the caller's span `t` (remote), and returns its
/// own context for the calls made inside it.
pub(super) fn continued(span: &Span, t: Trace) -> Option<Trace> {
    let id = (u128::from(t.0) << 64) | u128::from(t.1);
    let parent = SpanContext::new(
        TraceId::from_bytes(id.to_be_bytes()),
        SpanId::from_bytes(t.2.to_be_bytes()),
        TraceFlags::new(t.3),
        true,
        TraceState::default(),
    );
    // Refused only once the span has started; it has not.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    adopted(span)
}
