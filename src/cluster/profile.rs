//! Cluster profiles: a JSON file that says where the engines are and holds
//! the cluster key (like ipyparallel's connection file).

use crate::id::NodeId;
use crate::net::ClusterKey;
use crate::net::TlsPolicy;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The profile format's version.
pub(crate) const PROFILE_VERSION: u32 = 1;

/// Why a profile could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// Reading or writing the file failed.
    #[error("cannot access profile {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid profile.
    #[error("profile {path} is not valid")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The file can be read by other users: it holds the cluster key.
    #[error(
        "profile {path} is readable by group or others (mode {mode:o}); run `chmod 600` on it"
    )]
    Insecure {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Neither `$DISTOB_HOME` nor `$HOME` is set.
    #[error("cannot find a profile folder: set DISTOB_HOME or HOME")]
    NoHome,
}

/// Where engines started by hand (`distob engine --join PROFILE`) join a
/// running cluster: its registration address and launch nonce (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinPoint {
    /// The client's registration address.
    pub addr: SocketAddr,
    /// The launch's nonce, from which (with the key) the join token is made.
    pub launch: String,
}

/// One engine in a profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineEntry {
    /// Its node id.
    pub node: NodeId,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id, when started by `distob cluster start` on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// Where the engines are and the key to reach them.
///
/// ```
/// use distob::{NodeId, cluster::ClusterKey, cluster::Profile, cluster::EngineEntry};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("profile.json");
/// let p = Profile::new(ClusterKey::random().unwrap(), vec![EngineEntry {
///     node: NodeId(0), addr: "127.0.0.1:4000".parse().unwrap(), pid: None }]);
/// p.save(&path).unwrap();
/// assert_eq!(Profile::load(&path).unwrap(), p);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Format version.
    pub version: u32,
    /// The cluster key.
    pub key: ClusterKey,
    /// The engines.
    pub engines: Vec<EngineEntry>,
    /// Which links to the engines are TLS (default `auto`: those to
    /// non-loopback addresses).
    #[serde(default)]
    pub tls: TlsPolicy,
    /// Commands (argument lists) that `distob cluster stop` runs after
    /// asking each engine to stop: `scancel` of a Slurm job, `kill` over ssh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<Vec<String>>,
    /// Where more engines can join while the client that launched these
    /// runs (see [`JoinPoint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<JoinPoint>,
    /// How this client's links notice a dead engine (default: within about
    /// 3 s; see [`Liveness`](crate::net::Liveness)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<crate::net::Liveness>,
    /// Timeouts and engine limits for clients of this profile (see
    /// [`Settings`](super::Settings); `DISTOB_*` variables and the
    /// builder override them).
    #[serde(default, skip_serializing_if = "is_unset")]
    pub settings: super::Settings,
}

fn is_unset(s: &super::Settings) -> bool {
    *s == super::Settings::default()
}

/// Writes `text` to `path` with mode 0600 (creating its folder): for files
/// that hold the cluster key.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), ProfileError> {
    use std::io::Write;
    let io = |source| ProfileError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path).map_err(io)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
    }
    Ok(())
}

impl Profile {
    /// A profile of the current version.
    pub fn new(key: ClusterKey, engines: Vec<EngineEntry>) -> Self {
        Profile {
            version: PROFILE_VERSION,
            key,
            engines,
            tls: TlsPolicy::Auto,
            stop: Vec::new(),
            join: None,
            liveness: None,
            settings: Default::default(),
        }
    }

    /// `$DISTOB_HOME`, else `~/.distob`.
    pub fn home() -> Result<PathBuf, ProfileError> {
        if let Some(h) = std::env::var_os("DISTOB_HOME") {
            return Ok(PathBuf::from(h));
        }
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".distob"))
            .ok_or(ProfileError::NoHome)
    }

    /// The default profile file: `profile.json` in [`Profile::home`].
    pub fn default_path() -> Result<PathBuf, ProfileError> {
        Ok(Self::home()?.join("profile.json"))
    }

    /// Reads a profile, refusing one that group or others can read.
    pub fn load(path: impl AsRef<Path>) -> Result<Profile, ProfileError> {
        let path = path.as_ref();
        let io = |source| ProfileError::Io {
            path: path.to_owned(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(ProfileError::Insecure {
                    path: path.to_owned(),
                    mode: mode & 0o777,
                });
            }
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        serde_json::from_str(&text).map_err(|source| ProfileError::Json {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the profile with mode 0600 (creating its folder).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ProfileError> {
        let path = path.as_ref();
        let text = serde_json::to_string_pretty(self).map_err(|source| ProfileError::Json {
            path: path.to_owned(),
            source,
        })?;
        write_private(path, &text)
    }

    /// The `(node, address)` pairs to connect to.
    pub fn addresses(&self) -> Vec<(NodeId, SocketAddr)> {
        self.engines.iter().map(|e| (e.node, e.addr)).collect()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn world_readable_profiles_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        Profile::new(ClusterKey::random().unwrap(), vec![])
            .save(&path)
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Profile::load(&path),
            Err(ProfileError::Insecure { .. })
        ));
    }
}
