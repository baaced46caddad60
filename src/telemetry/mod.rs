//! What distob tells the service around it, the same way on both sides:
//! `tracing` spans for every call (`distob.call` where it is made,
//! `distob.serve` on the engine that serves it, continuing the caller's
//! trace from the context each request carries) and `metrics` (see
//! `meters.rs`). Nothing is computed unless a subscriber or recorder
//! listens: a span's fields are filled only when its level is enabled.
//!
//! - `spans`: the two spans, their fields, and the trace context;
//! - `otel` (feature `opentelemetry`): the context taken from, and given
//!   to, OpenTelemetry spans, so one trace spans the processes;
//! - `meters`: counters, histograms and gauges per engine.

pub(crate) mod meters;
#[cfg(feature = "opentelemetry")]
mod otel;
pub(crate) mod spans;

use crate::net::wire::{Fault, Op, Outcome};
use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(true);

/// Whether spans and metrics are made at all (on unless the benchmark
/// turns them off to measure what they cost).
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Turns spans and metrics off (or on again), for measuring their cost
/// against the same build without them.
#[doc(hidden)]
pub fn set_telemetry(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// The short name of an op, for spans and logs.
pub(crate) fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Put { .. } => "put",
        Op::Get(_) | Op::GetBulk(_) => "get",
        Op::Lend(_) => "lend",
        Op::Adopt { .. } => "adopt",
        Op::Pair { .. } => "pair",
        Op::Call(_) => "call",
        Op::Apply { .. } => "apply",
        Op::Combine(..) => "combine",
        Op::Expect { .. } => "expect",
        Op::Push { .. } => "push",
        Op::Deliver { .. } => "deliver",
        Op::Attach(_) => "attach",
        Op::Claim { .. } => "claim",
        Op::Lookup(_) => "lookup",
        Op::Pin { .. } => "pin",
        Op::Unname { .. } => "unname",
        Op::Kill(_) => "kill",
        Op::Fail { .. } => "fail",
        Op::List => "list",
        Op::Stats => "stats",
        Op::Shutdown => "shutdown",
    }
}

/// The label of an engine's fault.
pub(crate) fn fault_label(fault: &Fault) -> &'static str {
    match fault {
        Fault::NoSuchObject(_) => "no_such_object",
        Fault::NoSuchMethod { .. } => "no_such_method",
        Fault::Decode(_) => "decode",
        Fault::Panic(_) => "panic",
        Fault::User(_) => "remote_error",
        Fault::Refused(_) => "refused",
        Fault::Busy => "busy",
        Fault::Killed(_) => "object_lost",
        Fault::Reentrant(_) => "reentrant",
        Fault::NameTaken(_) => "name_taken",
        Fault::Cancelled => "cancelled",
        Fault::Poisoned(_) => "poisoned",
        Fault::Expired => "timeout",
    }
}

/// The label of an engine's answer.
pub(crate) fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Fault(f) => fault_label(f),
        _ => "ok",
    }
}

/// What a call leaves in telemetry when it ends: its span and its
/// engine's metrics.
#[derive(Debug)]
pub(crate) struct CallRecord {
    span: tracing::Span,
    metrics: Option<std::sync::Arc<meters::NodeMetrics>>,
}

impl CallRecord {
    /// The record of a call nobody traces or counts.
    pub(crate) fn none() -> Self {
        CallRecord {
            span: tracing::Span::none(),
            metrics: None,
        }
    }

    /// The record of a call with `span`, counted in `metrics`.
    pub(crate) fn new(
        span: tracing::Span,
        metrics: Option<std::sync::Arc<meters::NodeMetrics>>,
    ) -> Self {
        CallRecord {
            span,
            metrics: metrics.filter(|_| on()),
        }
    }

    /// Whether its metrics want the call's duration.
    pub(crate) fn timed(&self) -> bool {
        self.metrics.is_some()
    }

    /// The call ended with `outcome` after `elapsed`, with `bytes_in`
    /// received; the span closes when the record goes.
    pub(crate) fn done(
        &self,
        outcome: &'static str,
        bytes_in: usize,
        elapsed: std::time::Duration,
    ) {
        spans::finish(&self.span, outcome, "bytes_in", bytes_in);
        if let Some(m) = &self.metrics {
            m.call_done(outcome, elapsed);
        }
    }
}
