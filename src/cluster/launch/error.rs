//! [`LaunchError`]: why engines could not be started.

use crate::id::NodeId;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::super::launched::Unregistered;
use crate::actors::EngineError;

/// Why engines could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// No engine program was found.
    #[error("no engine program: set DISTOB_ENGINE_BIN, call distob::engine::main_if_engine() in main, or put the `distob` binary on PATH")]
    NoProgram,
    /// The program could not be started.
    #[error("cannot start {program}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The engine did not report its address in time.
    #[error("engine {node} did not report its address within {secs} s")]
    NotReady {
        /// Which engine.
        node: NodeId,
        /// The limit.
        secs: u64,
    },
    /// The engine exited before it was ready.
    #[error("engine {node} exited before it was ready ({status})")]
    Exited {
        /// Which engine.
        node: NodeId,
        /// How it exited.
        status: std::process::ExitStatus,
    },
    /// The engine's ready line could not be read.
    #[error("engine {node} printed a bad ready line: {line:?}")]
    BadReadyLine {
        /// Which engine.
        node: NodeId,
        /// The line.
        line: String,
    },
    /// No hosts were given.
    #[error("no hosts to start engines on")]
    NoHosts,
    /// A hosts line is not `host[:slots]` with slots ≥ 1.
    #[error("bad host line {line:?}: expected host or host:slots")]
    BadHost {
        /// The line.
        line: String,
    },
    /// Engines did not register in time: each one named, with where it
    /// was started, how it ended, and what its launcher printed.
    #[error("{} of the engines did not register:{}", missing.len(), missing.iter().map(|m| format!("\n  {m}")).collect::<String>())]
    NotRegistered {
        /// The engines that did not register.
        missing: Vec<Unregistered>,
    },
    /// A setting passed to an engine process is missing or invalid.
    #[error("engine setting {name} is missing or invalid")]
    BadEnv {
        /// Which setting.
        name: &'static str,
    },
    /// Registering with the client that launched this engine failed.
    #[error("cannot register with the client at {join}")]
    Register {
        /// The client's registration address.
        join: SocketAddr,
        /// Why.
        #[source]
        source: crate::net::NetError,
    },
    /// The engine failed while serving.
    #[error("engine failed")]
    Engine(#[from] EngineError),
    /// An I/O error while starting engines.
    #[error("i/o error while starting engines")]
    Io(#[from] std::io::Error),
}
