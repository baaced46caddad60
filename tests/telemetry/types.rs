//! The objects the telemetry cases call.

use serde::{Deserialize, Serialize};

/// Answers with its argument.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Echo;

#[distob::remote]
impl Echo {
    pub fn echo(&self, x: u32) -> u32 {
        x
    }

    /// Fails with its own error.
    pub fn refuse(&self) -> Result<u32, String> {
        Err("no".into())
    }
}

/// Passes a call on to an `Echo` on another engine, from engine code.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Relay;

#[distob::remote]
impl Relay {
    pub async fn relay(&self, to: RemoteEcho, x: u32) -> u32 {
        to.echo(x).await.unwrap_or(0)
    }
}

/// Says things on the engine: a tracing event, and plain lines on both
/// of its standard streams.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Loud;

#[distob::remote]
impl Loud {
    pub fn speak(&self) -> u32 {
        tracing::warn!(answer = 42, "said on the engine");
        println!("a plain line on standard output");
        eprintln!("a plain line on standard error");
        std::process::id()
    }
}
