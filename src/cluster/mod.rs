//! Starting and finding engines: [`Cluster`] (in-process engines, child
//! processes, engines started by a [`Launcher`] — local processes, ssh,
//! Slurm — that dial back to a registration listener, or a profile's
//! engines), profiles, and the default cluster behind the free functions.
//!
//! - `launch`: the [`Launcher`] seam and its backends;
//! - `launched`: a cluster of launched engines (launch, wait, stop);
//! - `registrar`: the client's registration listener;
//! - `local`, `process`: in-process engines and engine processes;
//! - `profile`: profiles on disk.

mod launch;
mod launched;
mod local;
pub(crate) mod process;
mod profile;
mod registrar;

use crate::actors::EngineError;
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::net::ClusterKey;
use crate::proxy::runtime::background;
use crate::proxy::{Gather, ObjectHub, Remote};
use crate::value::Value;
use local::LocalEngine;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::runtime::Handle;

pub use launch::{LaunchRecord, Launcher, LocalProcesses, Slurm, Ssh};
use launched::Launched;
pub use launched::Unregistered;
pub use process::{
    engine_program, join_token, main_if_engine, route_back, run_engine, run_engine_joining,
    EngineProcess, Join,
};
pub use profile::{EngineEntry, JoinPoint, Profile, ProfileError};
pub use registrar::register_with;

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

#[derive(Debug)]
enum Owned {
    Local(Vec<LocalEngine>),
    /// Engines a launcher started, which dial back to the registrar.
    Launched(Launched),
    External,
}

/// A set of engines and the hub connected to them.
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// use distob::Cluster;
/// let cluster = Cluster::local(4).await?;          // 4 in-process engines
/// let xs = cluster.scatter_each(vec![1.0f64, 2.0, 3.0, 4.0, 5.0]).await?;
/// let nodes: Vec<u32> = xs.iter().map(|x| x.node().0).collect();
/// assert_eq!(nodes, [0, 1, 2, 3, 0]);
/// assert_eq!(cluster.gather(&xs).await?, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Debug)]
pub struct Cluster {
    hub: ObjectHub,
    key: ClusterKey,
    owned: Owned,
}

impl Cluster {
    /// `n` engines in this process, reached through in-memory pipes (each
    /// also listens on loopback TCP). The embedded default. Each engine is
    /// an actix system on a thread of its own, up to
    /// max(16, 4 × cores) threads; more engines share those threads (so a
    /// thousand engines need no thousand threads).
    pub async fn local(n: usize) -> Result<Cluster> {
        Self::local_on(crate::proxy::runtime::current_or_background(), n).await
    }

    async fn local_on(runtime: Handle, n: usize) -> Result<Cluster> {
        let key = ClusterKey::random()?;
        let threads = local::engine_threads(n);
        // Engines dealt to threads in turn: node i on thread i % threads.
        let groups = (0..threads).map(|t| {
            let nodes: Vec<NodeId> = (t..n).step_by(threads).map(|i| NodeId(i as u32)).collect();
            LocalEngine::start(nodes, key.clone())
        });
        let started = futures::future::try_join_all(groups).await?;
        let mut engines = Vec::with_capacity(threads);
        let mut local = Vec::with_capacity(n);
        for (engine, hosted) in started {
            engines.push(engine);
            local.extend(hosted);
        }
        local.sort_by_key(|(node, ..)| *node);
        let hub = ObjectHub::connect_local_on(runtime, local, key.clone()).await?;
        Ok(Cluster {
            hub,
            key,
            owned: Owned::Local(engines),
        })
    }

    /// `n` engine processes on this machine, listening on 127.0.0.1 port 0,
    /// started from [`engine_program`]: this executable when it called
    /// [`main_if_engine`] (so engines host its own types), else the `distob`
    /// binary. The cluster ends them when dropped.
    pub async fn spawn(n: usize) -> Result<Cluster> {
        let program = engine_program()?;
        Self::spawn_program(&program, n).await
    }

    /// `n` engine processes started from `program`: a
    /// [`launch`](Cluster::launch) with [`LocalProcesses`] that waits until
    /// every engine has registered.
    pub async fn spawn_program(program: &Path, n: usize) -> Result<Cluster> {
        let cluster = Self::launch(LocalProcesses::new().program(program), n).await?;
        cluster.wait_for(n, process::READY_TIMEOUT).await?;
        Ok(cluster)
    }

    /// Connects to the engines a profile names.
    pub async fn connect(profile: impl AsRef<Path>) -> Result<Cluster> {
        let profile = Profile::load(profile)?;
        Self::connect_profile(&profile).await
    }

    /// Connects to the engines of a profile already read.
    pub async fn connect_profile(profile: &Profile) -> Result<Cluster> {
        Self::connect_on(crate::proxy::runtime::current_or_background(), profile).await
    }

    async fn connect_on(runtime: Handle, profile: &Profile) -> Result<Cluster> {
        let addrs = profile.addresses();
        let links = crate::net::LinkOptions {
            tls: profile.tls,
            liveness: profile.liveness.unwrap_or_default(),
        };
        let hub = ObjectHub::connect_on(runtime, &addrs, profile.key.clone(), links).await?;
        Ok(Cluster {
            hub,
            key: profile.key.clone(),
            owned: Owned::External,
        })
    }

    /// Engine losses and reconnections, from now on (see [`ClusterEvent`](crate::ClusterEvent)).
    pub fn events(&self) -> crate::ClusterEvents {
        self.hub.events()
    }

    /// Reconnects to lost engines on its own, with backoff (see
    /// [`ObjectHub::reconnect_automatically`]).
    pub fn reconnect_automatically(&self, first: std::time::Duration, max: std::time::Duration) {
        self.hub.reconnect_automatically(first, max)
    }

    /// Connects again to a restarted engine (see [`ObjectHub::reconnect`]).
    pub async fn reconnect(&self, node: NodeId) -> Result<()> {
        self.hub.reconnect(node).await
    }

    /// Gives every call that sets no deadline of its own this timeout (see
    /// [`ObjectHub::set_default_timeout`]).
    pub fn set_default_timeout(&self, d: Option<std::time::Duration>) {
        self.hub.set_default_timeout(d)
    }

    /// The engines, in node order.
    pub fn engines(&self) -> Vec<NodeId> {
        self.hub.engines()
    }

    /// The hub: every object this client holds, and the connections.
    pub fn hub(&self) -> &ObjectHub {
        &self.hub
    }

    /// A profile for this cluster (addresses and key), for other clients.
    pub fn profile(&self) -> Profile {
        let pids: std::collections::HashMap<NodeId, u32> = self.pids().into_iter().collect();
        let mut profile = Profile::new(
            self.key.clone(),
            self.hub
                .engines()
                .into_iter()
                .filter_map(|node| {
                    let addr = self.hub.engine_addr(node)?;
                    let pid = pids.get(&node).copied();
                    Some(EngineEntry { node, addr, pid })
                })
                .collect(),
        );
        if let Owned::Launched(l) = &self.owned {
            profile.join = Some(l.join_point());
        }
        profile
    }

    /// The process ids of engines this cluster started as processes.
    pub fn pids(&self) -> Vec<(NodeId, u32)> {
        match &self.owned {
            // Process ids on the engines' own hosts.
            Owned::Launched(l) => l.pids(),
            _ => Vec::new(),
        }
    }

    /// One copy of `x` on every engine, relayed engine to engine (see
    /// [`ObjectHub::broadcast`]).
    pub async fn broadcast<T: Value>(&self, x: T) -> Result<Vec<Remote<T>>> {
        self.hub.broadcast(x).await
    }

    /// Puts `x` on the next engine in round-robin order.
    pub async fn scatter<T: Value>(&self, x: T) -> Result<Remote<T>> {
        self.hub.scatter(x).await
    }

    /// Spreads `xs` round-robin over the engines (continuing where the last
    /// scatter stopped).
    pub async fn scatter_each<T: Value>(&self, xs: Vec<T>) -> Result<Vec<Remote<T>>> {
        self.hub.scatter_each(xs).await
    }

    /// Puts `x` on engine `node`.
    pub async fn scatter_to<T: Value>(&self, node: NodeId, x: T) -> Result<Remote<T>> {
        self.hub.scatter_to(node, x).await
    }

    /// Splits an array along `axis` over the engines (see
    /// [`ObjectHub::scatter_axis`]).
    pub async fn scatter_axis<A: crate::value::Element + Value>(
        &self,
        a: ndarray::ArrayD<A>,
        axis: isize,
    ) -> Result<crate::DistArray<A>> {
        self.hub.scatter_axis(a, axis).await
    }

    /// A handle to the object `r` names, checked to be a `T`
    /// ([`Error::WrongType`] if not); this client becomes one of its
    /// holders (see [`ObjectHub::attach`]).
    pub async fn attach<T: 'static>(&self, r: crate::Ref) -> Result<Remote<T>> {
        self.hub.attach(r).await
    }

    /// The object named `name`, if there is one (see
    /// [`ObjectHub::lookup`]).
    pub async fn lookup<T: 'static>(&self, name: &str) -> Result<Option<Remote<T>>> {
        self.hub.lookup(name).await
    }

    /// Puts `x` on the next engine under the cluster-wide `name`, detached:
    /// it lives until killed, whatever clients come and go
    /// ([`Error::NameTaken`] if the name is held; see
    /// [`ObjectHub::scatter_named`]).
    ///
    /// ```
    /// # async fn demo() -> distob::Result<()> {
    /// let cluster = distob::Cluster::local(2).await?;
    /// let jobs = cluster.scatter_named("jobs", vec![1u32, 2]).await?;
    /// let again = cluster.lookup::<Vec<u32>>("jobs").await?.expect("named");
    /// assert_eq!(again.id(), jobs.id());
    /// assert!(matches!(
    ///     cluster.scatter_named("jobs", vec![3u32]).await,
    ///     Err(distob::Error::NameTaken(_))
    /// ));
    /// jobs.kill().await?;
    /// assert!(cluster.lookup::<Vec<u32>>("jobs").await?.is_none());
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
    /// ```
    pub async fn scatter_named<T: Value>(&self, name: &str, x: T) -> Result<Remote<T>> {
        self.hub.scatter_named(name, x).await
    }

    /// The object named `name`, or a new one from `make()` under that name:
    /// clients that race get the same object (see
    /// [`ObjectHub::get_or_scatter_named`]).
    pub async fn get_or_scatter_named<T: Value>(
        &self,
        name: &str,
        make: impl FnOnce() -> T,
    ) -> Result<Remote<T>> {
        self.hub.get_or_scatter_named(name, make).await
    }

    /// Brings values back (see [`Gather`]).
    pub async fn gather<G: Gather + ?Sized>(&self, x: &G) -> Result<G::Output> {
        self.hub.gather(x).await
    }

    /// Runs a registered function (`#[distob::function]`) on the engine that
    /// holds `obj`, with `obj` as its first argument and `args` (a tuple) as
    /// the others.
    pub fn call<F, T, A, R>(&self, f: F, obj: &Remote<T>, args: A) -> crate::Call<R>
    where
        F: crate::RemoteFn<T, A, R>,
        A: serde::Serialize,
        R: Value,
    {
        obj.apply(f, args)
    }

    /// Stops the engines this cluster started and waits for them to end.
    pub async fn shutdown(mut self) -> Result<()> {
        match &mut self.owned {
            Owned::Local(engines) => {
                let threads: Vec<_> = engines.iter_mut().filter_map(LocalEngine::stop).collect();
                tokio::task::spawn_blocking(move || {
                    for t in threads {
                        // A panicked engine thread has nothing more to clean up.
                        let _ = t.join();
                    }
                })
                .await
                .map_err(|_| Error::HubClosed)?;
            }
            Owned::Launched(l) => l.stop_all(&self.hub).await,
            Owned::External => {}
        }
        Ok(())
    }
}

/// The default cluster behind the free functions: the profile named by
/// `DISTOB_PROFILE` if set, else one in-process engine per core, started on
/// first use and driven by distob's background runtime.
pub async fn default_cluster() -> Result<&'static Cluster> {
    static DEFAULT: tokio::sync::OnceCell<Cluster> = tokio::sync::OnceCell::const_new();
    DEFAULT
        .get_or_try_init(|| async {
            let runtime = background().clone();
            match std::env::var_os("DISTOB_PROFILE") {
                Some(path) => {
                    let profile = Profile::load(path)?;
                    Cluster::connect_on(runtime, &profile).await
                }
                None => {
                    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
                    Cluster::local_on(runtime, n).await
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
