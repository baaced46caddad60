//! A subscriber layer that keeps every span's and event's fields, for the
//! cases to look through.

use std::collections::HashMap;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// A span or event as captured: its name (a span's) or target (an
/// event's), and its fields as text.
#[derive(Debug, Clone)]
pub struct Seen {
    pub span: bool,
    pub name: String,
    pub level: tracing::Level,
    pub fields: HashMap<String, String>,
}

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
static SPANS: Mutex<Vec<(u64, usize)>> = Mutex::new(Vec::new());

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

struct Capture;

impl<S: Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut seen = SEEN.lock().unwrap();
        seen.push(Seen {
            span: true,
            name: attrs.metadata().name().to_string(),
            level: *attrs.metadata().level(),
            fields,
        });
        SPANS.lock().unwrap().push((id.into_u64(), seen.len() - 1));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let at = SPANS
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(i, _)| *i == id.into_u64())
            .map(|(_, at)| *at);
        if let Some(at) = at {
            values.record(&mut Fields(&mut SEEN.lock().unwrap()[at].fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        SEEN.lock().unwrap().push(Seen {
            span: false,
            name: event.metadata().target().to_string(),
            level: *event.metadata().level(),
            fields,
        });
    }
}

/// Installs the capture as this process's subscriber.
pub fn install() {
    tracing_subscriber::registry().with(Capture).init();
}

/// Everything captured so far.
pub fn seen() -> Vec<Seen> {
    SEEN.lock().unwrap().clone()
}
