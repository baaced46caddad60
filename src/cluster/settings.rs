//! [`Settings`]: what a cluster's links and engines are set to, from four
//! sources in rising precedence: defaults, the profile, `DISTOB_*`
//! environment variables, and the [`ClusterBuilder`](super::ClusterBuilder).

use crate::actors::EngineLimits;
use crate::net::DEFAULT_CONNECT_TIMEOUT;
use crate::net::{Latency, LinkOptions, Liveness, TlsPolicy};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why a setting could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// An environment variable holds what its setting cannot take.
    #[error("{name}={value:?} is not valid: expected {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What it holds.
        value: String,
        /// What it should hold.
        expected: &'static str,
    },
}

/// Settings of a cluster, each optional: one left unset falls through to
/// the source below it (builder, then `DISTOB_*` variables, then the
/// profile, then the defaults). A profile keeps them under `"settings"`.
///
/// | field | variable | default |
/// |---|---|---|
/// | `connect_timeout_ms` | `DISTOB_CONNECT_TIMEOUT_MS` | 5000 |
/// | `call_timeout_ms` | `DISTOB_CALL_TIMEOUT_MS` | none |
/// | `tls` | `DISTOB_TLS` (`auto`, `always`, `never`) | `auto` |
/// | `max_in_flight` | `DISTOB_MAX_IN_FLIGHT` | 65536 |
/// | `max_queued_per_object` | `DISTOB_MAX_QUEUED_PER_OBJECT` | 16384 |
/// | `max_frame` | `DISTOB_MAX_FRAME` (bytes) | 64 MiB |
/// | `drain_deadline_ms` | `DISTOB_DRAIN_DEADLINE_MS` | 10000 |
/// | `latency` | `DISTOB_LATENCY` (`park`, `spin:50us`) | `park` |
///
/// The engine limits reach every engine the cluster starts: in-process
/// engines directly, engine processes (local, ssh, Slurm) through the same
/// variables in their environment.
///
/// ```
/// use distob::cluster::Settings;
/// let mine = Settings { max_in_flight: Some(64), ..Settings::default() };
/// let site = Settings { max_in_flight: Some(8), call_timeout_ms: Some(2000), ..Settings::default() };
/// let both = mine.or(site);
/// assert_eq!((both.max_in_flight, both.call_timeout_ms), (Some(64), Some(2000)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How long opening a connection may take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    /// The timeout of calls that set none of their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_timeout_ms: Option<u64>,
    /// Which links are TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsPolicy>,
    /// Calls one connection may have in flight on an engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
    /// Calls one object may have queued on its engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_queued_per_object: Option<usize>,
    /// The largest frame an engine accepts, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_frame: Option<usize>,
    /// How long a stopping engine lets calls in flight finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain_deadline_ms: Option<u64>,
    /// Whether links poll for the next frame before parking (clients and
    /// engines alike).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

/// One setting's variable, and how to read it into and out of [`Settings`].
struct Var {
    name: &'static str,
    expected: &'static str,
    set: fn(&mut Settings, &str) -> Option<()>,
    get: fn(&Settings) -> Option<String>,
    /// Whether engines read it (and so engine processes are given it).
    engine: bool,
}

fn num<T: std::str::FromStr>(v: &str) -> Option<T> {
    v.trim().parse().ok()
}

const VARS: [Var; 8] = [
    Var {
        name: "DISTOB_CONNECT_TIMEOUT_MS",
        expected: "milliseconds",
        set: |s, v| {
            s.connect_timeout_ms = Some(num(v)?);
            Some(())
        },
        get: |s| s.connect_timeout_ms.map(|v| v.to_string()),
        engine: true,
    },
    Var {
        name: "DISTOB_CALL_TIMEOUT_MS",
        expected: "milliseconds",
        set: |s, v| {
            s.call_timeout_ms = Some(num(v)?);
            Some(())
        },
        get: |s| s.call_timeout_ms.map(|v| v.to_string()),
        engine: false,
    },
    Var {
        name: "DISTOB_TLS",
        expected: "auto, always or never",
        set: |s, v| {
            s.tls = Some(v.trim().parse().ok()?);
            Some(())
        },
        get: |s| s.tls.map(|v| v.to_string()),
        engine: true,
    },
    Var {
        name: "DISTOB_MAX_IN_FLIGHT",
        expected: "a count",
        set: |s, v| {
            s.max_in_flight = Some(num(v)?);
            Some(())
        },
        get: |s| s.max_in_flight.map(|v| v.to_string()),
        engine: true,
    },
    Var {
        name: "DISTOB_MAX_QUEUED_PER_OBJECT",
        expected: "a count",
        set: |s, v| {
            s.max_queued_per_object = Some(num(v)?);
            Some(())
        },
        get: |s| s.max_queued_per_object.map(|v| v.to_string()),
        engine: true,
    },
    Var {
        name: "DISTOB_MAX_FRAME",
        expected: "bytes",
        set: |s, v| {
            s.max_frame = Some(num(v)?);
            Some(())
        },
        get: |s| s.max_frame.map(|v| v.to_string()),
        engine: true,
    },
    Var {
        name: "DISTOB_DRAIN_DEADLINE_MS",
        expected: "milliseconds",
        set: |s, v| {
            s.drain_deadline_ms = Some(num(v)?);
            Some(())
        },
        get: |s| s.drain_deadline_ms.map(|v| v.to_string()),
        engine: true,
    },
    Var {
        name: "DISTOB_LATENCY",
        expected: "park or spin:<n>us",
        set: |s, v| {
            s.latency = Some(v.parse().ok()?);
            Some(())
        },
        get: |s| s.latency.map(|v| v.to_string()),
        engine: true,
    },
];

impl Settings {
    /// The settings `DISTOB_*` environment variables give (see the table
    /// above); unset variables leave theirs unset.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The settings `lookup` gives for each variable name.
    pub(crate) fn from_vars(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let mut s = Settings::default();
        for var in &VARS {
            if let Some(value) = lookup(var.name) {
                if (var.set)(&mut s, &value).is_none() {
                    return Err(SettingsError::Invalid {
                        name: var.name,
                        value,
                        expected: var.expected,
                    });
                }
            }
        }
        Ok(s)
    }

    /// These settings, with those left unset taken from `lower`.
    pub fn or(self, lower: Settings) -> Settings {
        Settings {
            connect_timeout_ms: self.connect_timeout_ms.or(lower.connect_timeout_ms),
            call_timeout_ms: self.call_timeout_ms.or(lower.call_timeout_ms),
            tls: self.tls.or(lower.tls),
            max_in_flight: self.max_in_flight.or(lower.max_in_flight),
            max_queued_per_object: self.max_queued_per_object.or(lower.max_queued_per_object),
            max_frame: self.max_frame.or(lower.max_frame),
            drain_deadline_ms: self.drain_deadline_ms.or(lower.drain_deadline_ms),
            latency: self.latency.or(lower.latency),
        }
    }

    /// The variables an engine process is given so that it keeps these
    /// settings (only those that are set, and that engines read).
    pub(crate) fn engine_env(&self) -> Vec<(String, String)> {
        VARS.iter()
            .filter(|v| v.engine)
            .filter_map(|v| Some((v.name.to_string(), (v.get)(self)?)))
            .collect()
    }

    /// How long opening a connection may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout_ms
            .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_millis)
    }

    /// The timeout of calls that set none (0 means none).
    pub fn call_timeout(&self) -> Option<Duration> {
        self.call_timeout_ms
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    }

    /// The link options: TLS policy, `liveness`, connect timeout.
    pub fn links(&self, liveness: Liveness) -> LinkOptions {
        LinkOptions {
            tls: self.tls.unwrap_or_default(),
            liveness,
            connect_timeout: self.connect_timeout(),
            latency: self.latency.unwrap_or_default(),
        }
    }

    /// The bounds engines keep.
    pub fn engine_limits(&self) -> EngineLimits {
        let d = EngineLimits::default();
        EngineLimits {
            max_in_flight: self.max_in_flight.unwrap_or(d.max_in_flight).max(1),
            max_queued_per_object: self
                .max_queued_per_object
                .unwrap_or(d.max_queued_per_object)
                .max(1),
            frames: crate::net::Limits {
                max_frame: self.max_frame.unwrap_or(d.frames.max_frame),
                ..d.frames
            },
            drain_deadline: self
                .drain_deadline_ms
                .map_or(d.drain_deadline, Duration::from_millis),
            ..d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn variables_fill_what_they_name_and_go_to_engines() {
        let s = Settings::from_vars(vars(&[
            ("DISTOB_MAX_IN_FLIGHT", "12"),
            ("DISTOB_CALL_TIMEOUT_MS", "250"),
            ("DISTOB_TLS", "never"),
        ]))
        .unwrap();
        assert_eq!(s.max_in_flight, Some(12));
        assert_eq!(s.call_timeout(), Some(Duration::from_millis(250)));
        assert_eq!(s.engine_limits().max_in_flight, 12);
        let env = s.engine_env();
        assert!(env.contains(&("DISTOB_MAX_IN_FLIGHT".into(), "12".into())));
        assert!(env.contains(&("DISTOB_TLS".into(), "never".into())));
        // Call timeouts are the client's business.
        assert!(!env.iter().any(|(k, _)| k == "DISTOB_CALL_TIMEOUT_MS"));
        // And they read back the same.
        let back =
            Settings::from_vars(|n| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()));
        assert_eq!(back.unwrap().engine_limits(), s.engine_limits());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let e = Settings::from_vars(vars(&[("DISTOB_CONNECT_TIMEOUT_MS", "soon")])).unwrap_err();
        assert!(e.to_string().contains("DISTOB_CONNECT_TIMEOUT_MS"), "{e}");
    }

    #[test]
    fn unset_means_defaults() {
        let s = Settings::default();
        assert_eq!(s.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(s.call_timeout(), None);
        assert_eq!(s.engine_limits(), EngineLimits::default());
    }
}
