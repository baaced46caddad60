//! Engine processes' output, brought to the client: an engine process with
//! no subscriber of its own logs its `tracing` events as JSON lines on
//! standard error; the process that started it reads its standard output
//! and error line by line and re-emits each line as a `tracing` event of
//! target `distob::engine` with the engine's `node` as a field (JSON lines
//! at their own level with their target and fields; plain lines — a
//! panic, a `println!` — at INFO from standard output and WARN from
//! standard error). A client with no subscriber prints them itself,
//! prefixed `[engine N]`: plain lines on the stream they came from, and
//! warnings and errors on its standard error (as Ray shows its workers'
//! output on the driver), so that no panic or `println!` is lost.

use tracing::Level;

/// Which of an engine's streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// The filter of an engine process's own subscriber when neither
/// `DISTOB_ENGINE_LOG` nor `RUST_LOG` sets one (the per-call spans are at
/// DEBUG: `distob::serve=debug` turns them on).
pub(crate) const ENGINE_LOG_DEFAULT: &str = "info";

/// Installs an engine process's subscriber (JSON lines on standard error,
/// filtered by `DISTOB_ENGINE_LOG`, else `RUST_LOG`, else
/// [`ENGINE_LOG_DEFAULT`]), unless the program installed one of its own.
pub(crate) fn install_engine_subscriber() {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    let filter = std::env::var("DISTOB_ENGINE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| ENGINE_LOG_DEFAULT.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(ENGINE_LOG_DEFAULT));
    let spans = match std::env::var("DISTOB_ENGINE_LOG_SPANS").as_deref() {
        Ok("close") => tracing_subscriber::fmt::format::FmtSpan::CLOSE,
        _ => tracing_subscriber::fmt::format::FmtSpan::NONE,
    };
    let installed = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_span_events(spans)
        .with_writer(std::io::stderr)
        .try_init();
    // Another subscriber won the race: it logs instead.
    drop(installed);
}

/// The variables that carry the client's wishes for engines' logs to
/// engine processes started elsewhere (ssh, Slurm).
pub(crate) fn log_env() -> Vec<(String, String)> {
    ["DISTOB_ENGINE_LOG", "DISTOB_ENGINE_LOG_SPANS", "RUST_LOG"]
        .iter()
        .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect()
}

/// One line an engine printed, as the client's `tracing` event.
pub(crate) fn forward(node: &str, stream: Stream, line: &str) {
    let line = line.trim_end();
    if line.is_empty() {
        return;
    }
    let listening = tracing::dispatcher::has_been_set();
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(v) if v.get("level").is_some() => {
            let (level, target, message, rest) = parse_json(&v);
            if listening {
                emit(level, node, target, &message, &rest);
            } else if level <= Level::WARN {
                eprintln!("[engine {node}] {level} {target}: {message} {rest}");
            }
        }
        _ if listening => {
            let level = match stream {
                Stream::Stdout => Level::INFO,
                Stream::Stderr => Level::WARN,
            };
            emit(level, node, "", line, "");
        }
        _ => match stream {
            Stream::Stdout => println!("[engine {node}] {line}"),
            Stream::Stderr => eprintln!("[engine {node}] {line}"),
        },
    }
}

/// A JSON line's level, target, message, and its other fields and span
/// (as JSON text, empty if none).
fn parse_json(v: &serde_json::Value) -> (Level, &str, String, String) {
    let level = match v["level"].as_str() {
        Some("ERROR") => Level::ERROR,
        Some("WARN") => Level::WARN,
        Some("DEBUG") => Level::DEBUG,
        Some("TRACE") => Level::TRACE,
        _ => Level::INFO,
    };
    let target = v["target"].as_str().unwrap_or("");
    let mut fields = v["fields"].clone();
    let message = fields
        .as_object_mut()
        .and_then(|f| f.remove("message"))
        .and_then(|m| m.as_str().map(String::from))
        .unwrap_or_default();
    // The rest: the event's own fields, and the span it was in (a closed
    // span's fields, with span events on).
    let mut rest = serde_json::Map::new();
    if let Some(f) = fields.as_object().filter(|f| !f.is_empty()) {
        rest.insert("fields".into(), serde_json::Value::Object(f.clone()));
    }
    if let Some(span) = v.get("span") {
        rest.insert("span".into(), span.clone());
    }
    let rest = if rest.is_empty() {
        String::new()
    } else {
        serde_json::Value::Object(rest).to_string()
    };
    (level, target, message, rest)
}

fn emit(level: Level, node: &str, engine_target: &str, message: &str, fields: &str) {
    macro_rules! at {
        ($m:ident) => {
            tracing::$m!(target: "distob::engine", node, engine_target, fields, "{message}")
        };
    }
    match level {
        Level::ERROR => at!(error),
        Level::WARN => at!(warn),
        Level::INFO => at!(info),
        Level::DEBUG => at!(debug),
        _ => at!(trace),
    }
}
