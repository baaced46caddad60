//! Starting and finding engines: [`Cluster`] (in-process engines, child
//! processes, engines started by a [`Launcher`](crate::launch::Launcher) — local processes, ssh,
//! Slurm — that dial back to a registration listener, or a profile's
//! engines), profiles, and the default cluster behind the free functions.
//!
//! - `launch`: the [`Launcher`](crate::launch::Launcher) seam and its backends;
//! - `launched`: a cluster of launched engines (launch, wait, stop);
//! - `registrar`: the client's registration listener;
//! - `local`, `process`: in-process engines and engine processes;
//! - `logs`: engine processes' output, forwarded to the client's tracing;
//! - `profile`: profiles on disk;
//! - `builder`, `settings`: [`ClusterBuilder`] and the [`Settings`] it
//!   resolves (builder, `DISTOB_*` variables, profile, defaults);
//! - `ops`: what a cluster does with objects (scatter, gather, names).

mod builder;
pub(crate) mod launch;
pub(crate) mod launched;
mod local;
pub(crate) mod logs;
mod ops;
pub(crate) mod process;
mod profile;
pub(crate) mod registrar;
mod settings;

use crate::error::{Error, Result, StartError};
use crate::id::NodeId;
use crate::proxy::runtime::background;
use crate::proxy::{Gather, Remote};
use crate::value::Value;
use local::LocalEngine;
use std::path::Path;
use std::sync::Arc;

pub use builder::ClusterBuilder;
pub use settings::{Settings, SettingsError};

#[cfg(feature = "dashboard")]
pub use crate::dashboard::{Dashboard, SAMPLE_PERIOD};
pub use crate::net::wire::{EngineStats, ObjectInfo};
pub use crate::net::{
    ClusterKey, Latency, LinkOptions, Liveness, TlsPolicy, DEFAULT_CONNECT_TIMEOUT,
};
pub use crate::proxy::{
    ClusterEvent, ClusterEvents, Failure, HeldObject, ObjectEngine, ObjectHub, EVENT_BACKLOG,
    FAILURES_KEPT,
};
pub use profile::{EngineEntry, JoinPoint, Profile, ProfileError};

pub(crate) use launch::LaunchError;
use launched::Launched;

pub(crate) fn report(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

enum Owned {
    /// In-process engine threads (taken out at shutdown).
    Local(std::sync::Mutex<Vec<LocalEngine>>),
    /// Engines a launcher started, which dial back to the registrar.
    Launched(Launched),
    External,
}

impl std::fmt::Debug for Owned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Owned::Local(_) => "in-process",
            Owned::Launched(_) => "launched",
            Owned::External => "external",
        })
    }
}

/// What every clone of a [`Cluster`] shares.
struct ClusterInner {
    hub: ObjectHub,
    key: ClusterKey,
    owned: Owned,
    /// What it was built with (engines launched later get the same).
    settings: Settings,
    /// Set once [`Cluster::shutdown`] has run.
    shut: tokio::sync::OnceCell<()>,
}

/// A set of engines and the hub connected to them: a cheap `Clone` handle
/// (`Send + Sync + 'static`) that a service keeps in its state and hands to
/// every task. The engines it started stop when the last clone is dropped,
/// or at [`shutdown`](Cluster::shutdown) /
/// [`drain`](Cluster::drain).
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// use distob::Cluster;
/// let cluster = Cluster::local(4).await?;          // 4 in-process engines
/// let xs = cluster.scatter_each(vec![1.0f64, 2.0, 3.0, 4.0, 5.0]).await?;
/// let nodes: Vec<u32> = xs.iter().map(|x| x.node().0).collect();
/// assert_eq!(nodes, [0, 1, 2, 3, 0]);
/// assert_eq!(cluster.gather(&xs).await?, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
/// cluster.shutdown().await?;
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<ClusterInner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("engines", &self.inner.owned)
            .field("hub", &self.inner.hub)
            .finish()
    }
}

impl Cluster {
    fn from_parts(hub: ObjectHub, key: ClusterKey, owned: Owned, settings: Settings) -> Cluster {
        hub.set_default_timeout(settings.call_timeout());
        Cluster {
            inner: Arc::new(ClusterInner {
                hub,
                key,
                owned,
                settings,
                shut: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// `n` engines in this process, reached through in-memory pipes (each
    /// also listens on loopback TCP). The embedded default. Each engine is
    /// an actix system on a thread of its own, up to
    /// max(16, 4 × cores) threads; more engines share those threads (so a
    /// thousand engines need no thousand threads). Settings come from
    /// `DISTOB_*` variables and the defaults (see [`Cluster::builder`]).
    pub async fn local(n: usize) -> Result<Cluster, StartError> {
        Self::builder().local(n).await
    }

    /// `n` engine processes on this machine, listening on 127.0.0.1 port 0,
    /// started from [`engine_program`](crate::engine::engine_program): this executable when it called
    /// [`main_if_engine`](crate::engine::main_if_engine) (so engines host its own types) or is a test
    /// binary with [`test_engine!`](crate::test_engine), else the `distob`
    /// binary. The cluster ends them when dropped.
    pub async fn spawn(n: usize) -> Result<Cluster, StartError> {
        Self::builder().spawn(n).await
    }

    /// `n` engine processes started from `program`: a
    /// [`launch`](Cluster::launch) with [`LocalProcesses`](crate::launch::LocalProcesses) that waits until
    /// every engine has registered.
    pub async fn spawn_program(program: &Path, n: usize) -> Result<Cluster, StartError> {
        Self::builder().spawn_program(program, n).await
    }

    /// Connects to the engines a profile names.
    pub async fn connect(profile: impl AsRef<Path>) -> Result<Cluster, StartError> {
        Self::builder().connect(profile).await
    }

    /// Connects to the engines of a profile already read.
    pub async fn connect_profile(profile: &Profile) -> Result<Cluster, StartError> {
        Self::builder().connect_profile(profile).await
    }

    /// What this cluster was built with (the engines launched later get
    /// the same limits).
    pub fn settings(&self) -> Settings {
        self.inner.settings
    }

    /// Engine losses and reconnections, from now on (see [`ClusterEvent`]).
    pub fn events(&self) -> crate::cluster::ClusterEvents {
        self.inner.hub.events()
    }

    /// Reconnects to lost engines on its own, with backoff (see
    /// [`ObjectHub::reconnect_automatically`]).
    pub fn reconnect_automatically(&self, first: std::time::Duration, max: std::time::Duration) {
        self.inner.hub.reconnect_automatically(first, max)
    }

    /// Connects again to a restarted engine (see [`ObjectHub::reconnect`]).
    pub async fn reconnect(&self, node: NodeId) -> Result<()> {
        self.inner.hub.reconnect(node).await
    }

    /// Gives every call that sets no deadline of its own this timeout (see
    /// [`ObjectHub::set_default_timeout`]).
    pub fn set_default_timeout(&self, d: Option<std::time::Duration>) {
        self.inner.hub.set_default_timeout(d)
    }

    /// The engines, in node order.
    pub fn engines(&self) -> Vec<NodeId> {
        self.inner.hub.engines()
    }

    /// The hub: every object this client holds, and the connections.
    pub fn hub(&self) -> &ObjectHub {
        &self.inner.hub
    }

    /// A profile for this cluster (addresses, key and settings), for other
    /// clients.
    pub fn profile(&self) -> Profile {
        let hub = &self.inner.hub;
        let pids: std::collections::HashMap<NodeId, u32> = self.pids().into_iter().collect();
        let mut profile = Profile::new(
            self.inner.key.clone(),
            hub.engines()
                .into_iter()
                .filter_map(|node| {
                    let addr = hub.engine_addr(node)?;
                    let pid = pids.get(&node).copied();
                    Some(EngineEntry { node, addr, pid })
                })
                .collect(),
        );
        profile.tls = self.inner.settings.tls.unwrap_or_default();
        profile.settings = Settings {
            tls: None,
            ..self.inner.settings
        };
        if let Owned::Launched(l) = &self.inner.owned {
            profile.join = Some(l.join_point());
        }
        profile
    }

    /// The process ids of engines this cluster started as processes.
    pub fn pids(&self) -> Vec<(NodeId, u32)> {
        match &self.inner.owned {
            // Process ids on the engines' own hosts.
            Owned::Launched(l) => l.pids(),
            _ => Vec::new(),
        }
    }

    /// Stops new calls (they fail with [`Error::ShuttingDown`]), waits up
    /// to `deadline` for the calls under way to be answered, then shuts the
    /// cluster down. `Err(Error::Timeout)` if some were still pending at the
    /// deadline: they are withdrawn (they fail with [`Error::Timeout`], and
    /// their engines drop them or stop them if async); the cluster is shut
    /// down either way.
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// let cluster = distob::Cluster::local(2).await?;
    /// let x = cluster.scatter(vec![1u8; 16]).await?;
    /// let pending = cluster.gather(&x);
    /// let (got, drained) = tokio::join!(pending, cluster.drain(std::time::Duration::from_secs(5)));
    /// assert_eq!(got?.len(), 16);
    /// drained?;
    /// assert!(matches!(cluster.scatter(1u8).await, Err(distob::Error::HubClosed)));
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub async fn drain(&self, deadline: std::time::Duration) -> Result<()> {
        let hub = &self.inner.hub;
        hub.begin_drain();
        let until = tokio::time::Instant::now() + deadline;
        let mut answered = true;
        while hub.pending_calls() > 0 {
            if tokio::time::Instant::now() >= until {
                answered = false;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        if !answered {
            hub.withdraw_pending();
        }
        self.shutdown().await?;
        if answered {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }

    /// Stops the engines this cluster started, waits for them to end, and
    /// closes the hub: calls made after it fail with [`Error::HubClosed`].
    /// Takes `&self`: any clone may call it; it runs once, and later calls
    /// return at once.
    pub async fn shutdown(&self) -> Result<()> {
        let inner = &self.inner;
        inner
            .shut
            .get_or_try_init(|| async {
                inner.hub.begin_drain();
                match &inner.owned {
                    Owned::Local(engines) => {
                        let threads: Vec<_> = engines
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .iter_mut()
                            .filter_map(LocalEngine::stop)
                            .collect();
                        tokio::task::spawn_blocking(move || {
                            for t in threads {
                                // A panicked engine thread has nothing more to clean up.
                                let _ = t.join();
                            }
                        })
                        .await
                        .map_err(|_| Error::HubClosed)?;
                    }
                    Owned::Launched(l) => l.stop_all(&inner.hub).await,
                    Owned::External => {}
                }
                inner.hub.close();
                Ok::<(), Error>(())
            })
            .await?;
        Ok(())
    }
}

/// The default cluster behind the free functions: the profile named by
/// `DISTOB_PROFILE` if set, else one in-process engine per core, started on
/// first use and driven by distob's background runtime.
pub async fn default_cluster() -> Result<&'static Cluster, StartError> {
    static DEFAULT: tokio::sync::OnceCell<Cluster> = tokio::sync::OnceCell::const_new();
    DEFAULT
        .get_or_try_init(|| async {
            let builder = Cluster::builder().runtime(background().clone());
            match std::env::var_os("DISTOB_PROFILE") {
                Some(path) => builder.connect(path).await,
                None => {
                    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
                    builder.local(n).await
                }
            }
        })
        .await
}

/// Puts `x` on the default cluster (next engine, round-robin).
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// let r = distob::scatter(String::from("hi")).await?;
/// assert_eq!(distob::gather(&r).await?, "hi");
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub async fn scatter<T: Value>(x: T) -> Result<Remote<T>> {
    default_cluster().await?.scatter(x).await
}

/// Spreads `xs` round-robin over the default cluster.
pub async fn scatter_each<T: Value>(xs: Vec<T>) -> Result<Vec<Remote<T>>> {
    default_cluster().await?.scatter_each(xs).await
}

/// Puts `x` on engine `node` of the default cluster.
pub async fn scatter_to<T: Value>(node: NodeId, x: T) -> Result<Remote<T>> {
    default_cluster().await?.scatter_to(node, x).await
}

/// Brings values back from wherever they are (any hub).
pub async fn gather<G: Gather + ?Sized>(x: &G) -> Result<G::Output> {
    x.start_gather().await
}
