//! How a link's reader waits for the next frame: park at once (the
//! default), or poll the socket for a while first.
//!
//! A parked reader costs no CPU, but on an idle machine most of a small
//! call's round trip is the sleeping CPU waking up when the reply lands.
//! With `spin:<time>`, a reader that finds no bytes keeps polling — one
//! non-blocking look at the socket per turn of its runtime, letting the
//! thread's other tasks run in between — for up to that long after the
//! last frame before it parks. A spinning link keeps its thread busy while
//! calls come faster than the spin time, and is quiet again once they stop.
//! A reader whose spin ran out parks on its following waits too, until a
//! wait ends within four spin times: the acks of a bulk transfer, which
//! come further apart than the spin, are not polled for.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a link's reader waits for the next frame.
///
/// ```
/// use distob::net::Latency;
/// use std::time::Duration;
/// let spin: Latency = "spin:50us".parse()?;
/// assert_eq!(spin, Latency::Spin(Duration::from_micros(50)));
/// assert_eq!(spin.to_string(), "spin:50us");
/// assert_eq!("park".parse::<Latency>()?, Latency::Park);
/// assert!("spin:5s".parse::<Latency>().is_err());
/// assert!("spin:1000ms".parse::<Latency>().is_err());
/// # Ok::<(), distob::net::latency::BadLatency>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Latency {
    /// Wait for the kernel to wake the reader (no CPU while idle).
    #[default]
    Park,
    /// Poll for up to this long after each frame before parking.
    Spin(Duration),
}

impl Latency {
    /// How long a reader polls before it parks, if it does.
    pub fn spin(self) -> Option<Duration> {
        match self {
            Latency::Park => None,
            Latency::Spin(d) if d.is_zero() => None,
            Latency::Spin(d) => Some(d),
        }
    }
}

/// The longest spin a latency mode may ask for.
pub const MAX_SPIN: Duration = Duration::from_millis(100);

/// A latency mode that is neither `park` nor `spin:<n>(ns|us|ms)` of at
/// most [`MAX_SPIN`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a latency mode is park or spin:<n>us (also ns, ms; at most 100 ms), not {0:?}")]
pub struct BadLatency(String);

impl std::str::FromStr for Latency {
    type Err = BadLatency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadLatency(s.to_string());
        let t = s.trim();
        if t == "park" {
            return Ok(Latency::Park);
        }
        let time = t.strip_prefix("spin:").ok_or_else(bad)?;
        let split = time.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = time[..split].parse().map_err(|_| bad())?;
        let spin = match &time[split..] {
            "ns" => Duration::from_nanos(n),
            "us" | "µs" => Duration::from_micros(n),
            "ms" => Duration::from_millis(n),
            _ => return Err(bad()),
        };
        // A link that polls for longer than this is a busy loop, not a mode.
        if spin > MAX_SPIN {
            return Err(bad());
        }
        Ok(Latency::Spin(spin))
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Latency::Park => f.write_str("park"),
            Latency::Spin(d) if d.subsec_nanos() % 1000 != 0 => {
                write!(f, "spin:{}ns", d.as_nanos())
            }
            Latency::Spin(d) => write!(f, "spin:{}us", d.as_micros()),
        }
    }
}

impl TryFrom<String> for Latency {
    type Error = BadLatency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Latency> for String {
    fn from(l: Latency) -> String {
        l.to_string()
    }
}
