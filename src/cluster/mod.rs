//! Starting and finding engines: [`Cluster`] (in-process engines, child
//! processes, engines started by a [`Launcher`] — local processes, ssh,
//! Slurm — that dial back to a registration listener, or a profile's
//! engines), profiles, and the default cluster behind the free functions.

mod launch;
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

/// An error and its chain of causes, on one line.
/// An engine that did not register in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unregistered {
    /// Its node id.
    pub node: NodeId,
    /// Where it was started.
    pub place: String,
    /// How its launch command ended, if it has.
    pub status: Option<String>,
    /// What the launch command printed (standard output and error).
    pub output: String,
}

impl std::fmt::Display for Unregistered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "engine {} on {}", self.node, self.place)?;
        match &self.status {
            Some(s) => write!(f, " (ended: {s})")?,
            None => write!(f, " (still running)")?,
        }
        let out = self.output.trim();
        if out.is_empty() {
            write!(f, ", printed nothing")
        } else {
            write!(f, ": {}", out.replace('\n', "\n    "))
        }
    }
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

/// What a cluster started with a launcher.
#[derive(Debug)]
struct Launched {
    started: std::sync::Mutex<Vec<launch::Started>>,
    registrar: registrar::Registrar,
    launcher: Box<dyn Launcher>,
    /// The next engine slot (node id) to launch or to give a joining
    /// engine (shared with the registrar).
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The key file batch jobs read (removed at shutdown).
    key_file: std::sync::Mutex<Option<PathBuf>>,
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
        let key = ClusterKey::random();
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

    /// Starts `n` engines with `launcher` (engine nodes 0..n) and returns at
    /// once: each engine dials back to this client's registration listener,
    /// proves the cluster key and its one-time token, and is added to the
    /// cluster (and to round-robin placement) as it comes. Wait for them with
    /// [`wait_for`](Cluster::wait_for); more can join later with
    /// [`launch_more`](Cluster::launch_more).
    pub async fn launch(launcher: impl Launcher + 'static, n: usize) -> Result<Cluster> {
        let key = ClusterKey::random();
        let tls = crate::net::TlsPolicy::Auto;
        let hub = ObjectHub::empty(key.clone(), tls.into());
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let registrar = registrar::Registrar::open(
            launcher.join_ip()?,
            key.clone(),
            tls,
            hub.clone(),
            next.clone(),
        )
        .await?;
        let cluster = Cluster {
            hub,
            key,
            owned: Owned::Launched(Launched {
                started: std::sync::Mutex::new(Vec::new()),
                registrar,
                launcher: Box::new(launcher),
                next,
                key_file: Default::default(),
            }),
        };
        cluster.launch_more(n).await?;
        Ok(cluster)
    }

    /// Starts `n` more engines with this cluster's launcher (node ids after
    /// the last one started).
    pub async fn launch_more(&self, n: usize) -> Result<()> {
        let Owned::Launched(l) = &self.owned else {
            return Err(Error::Launch(LaunchError::NoHosts));
        };
        let program = l.launcher.program()?;
        if n == 0 {
            return Ok(());
        }
        let first = l.next.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        let join = l.registrar.addr().to_string();
        let mut env = vec![
            ("DISTOB_ENGINE".to_string(), "1".to_string()),
            ("DISTOB_ENGINE_JOIN".to_string(), join),
        ];
        let key_line = if l.launcher.key_on_stdin() {
            format!("{}\n", self.key.to_hex())
        } else {
            let path = self.key_file(l)?;
            env.push((
                "DISTOB_ENGINE_KEY_FILE".to_string(),
                path.to_string_lossy().into_owned(),
            ));
            String::new()
        };
        let slots = first..first + n;
        let nodes = || slots.clone().map(|i| NodeId(i as u32));
        let token = |node: NodeId| hex::encode(l.registrar.token_for(node));
        let mut batch_env = env.clone();
        batch_env.push(("DISTOB_ENGINE_NODE".to_string(), first.to_string()));
        batch_env.push((
            "DISTOB_ENGINE_TOKENS".to_string(),
            nodes().map(token).collect::<Vec<_>>().join(","),
        ));
        let runs = match l.launcher.batch(first, n, &program, &batch_env) {
            Some(cmd) => {
                let place = match n {
                    1 => l.launcher.place(first),
                    _ => format!(
                        "{} .. {}",
                        l.launcher.place(first),
                        l.launcher.place(first + n - 1)
                    ),
                };
                let detached = l.launcher.detached();
                vec![
                    launch::Started::run(nodes().collect(), place, cmd?, &key_line, detached).await,
                ]
            }
            None => {
                let runs = nodes().map(|node| {
                    let mut env = env.clone();
                    env.push(("DISTOB_ENGINE_NODE".to_string(), node.0.to_string()));
                    env.push(("DISTOB_ENGINE_TOKEN".to_string(), token(node)));
                    let slot = node.index();
                    let cmd = l.launcher.command(slot, &program, &env);
                    let detached = l.launcher.detached();
                    launch::Started::run(
                        vec![node],
                        l.launcher.place(slot),
                        cmd,
                        &key_line,
                        detached,
                    )
                });
                futures::future::join_all(runs).await
            }
        };
        l.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(runs);
        Ok(())
    }

    /// The file batch jobs read the key from: written once, mode 0600,
    /// beside the profile.
    fn key_file(&self, l: &Launched) -> Result<PathBuf> {
        let mut slot = l.key_file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        let dir = Profile::home()?.join("jobs");
        // Named after the launch, which no other launch shares (ports may be
        // the same on two machines that share this folder).
        let launch = l.registrar.join_point().launch;
        let path = dir.join(format!("key-{}", &launch[..launch.len().min(32)]));
        profile::write_private(&path, &format!("{}\n", self.key.to_hex()))?;
        *slot = Some(path.clone());
        Ok(path)
    }

    /// Waits until at least `n` engines have registered and are connected,
    /// or `timeout` passes: then fails with
    /// [`LaunchError::NotRegistered`], naming every launched engine that is
    /// not there with where it was started, how its command ended and what
    /// it printed.
    pub async fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let have = self.hub.engines().len();
            if have >= n {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let present: std::collections::HashSet<NodeId> = self.hub.engines().into_iter().collect();
        let mut missing = Vec::new();
        if let Owned::Launched(l) = &self.owned {
            // What each launch command that owes engines printed and how it
            // ended, read under the lock (the commands stay where they are).
            let owing: Vec<(Vec<NodeId>, String, Option<String>, String)> = l
                .started
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter_mut()
                .filter_map(|s| {
                    let absent: Vec<NodeId> = s
                        .nodes
                        .iter()
                        .copied()
                        .filter(|n| !present.contains(n))
                        .collect();
                    (!absent.is_empty()).then(|| (absent, s.place.clone(), s.status(), s.output()))
                })
                .collect();
            for (absent, place, status, mut output) in owing {
                if let Some(cmd) = l.launcher.status_command(&output) {
                    output.push_str(&launch::run_for_output(cmd).await);
                }
                missing.extend(absent.into_iter().map(|node| Unregistered {
                    node,
                    place: place.clone(),
                    status: status.clone(),
                    output: output.clone(),
                }));
            }
        }
        Err(Error::Launch(LaunchError::NotRegistered { missing }))
    }

    /// The commands that stop what this cluster's launcher started beyond
    /// the engines' own shutdown (`scancel` of an `sbatch` job, `kill` over
    /// ssh of detached engines, removing the key file of batch jobs), as
    /// argument lists: `distob cluster start` writes them into the profile
    /// for `distob cluster stop`.
    pub fn stop_commands(&self) -> Vec<Vec<String>> {
        let Owned::Launched(l) = &self.owned else {
            return Vec::new();
        };
        let started = l.started.lock().unwrap_or_else(|p| p.into_inner());
        let mut commands: Vec<Vec<String>> = Self::stop_commands_of(l, &started)
            .iter()
            .map(|cmd| {
                let std = cmd.as_std();
                std::iter::once(std.get_program())
                    .chain(std.get_args())
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect()
            })
            .collect();
        // The key file batch jobs read goes with them.
        if let Some(key) = l
            .key_file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            commands.push(vec![
                "rm".into(),
                "-f".into(),
                key.to_string_lossy().into_owned(),
            ]);
        }
        commands
    }

    fn stop_commands_of(l: &Launched, started: &[launch::Started]) -> Vec<tokio::process::Command> {
        let pids: std::collections::HashMap<NodeId, u32> = l
            .registrar
            .joined()
            .iter()
            .map(|j| (j.node, j.pid))
            .collect();
        started
            .iter()
            .filter_map(|s| {
                let first = s.nodes.first()?.index();
                let mine: Vec<u32> = s
                    .nodes
                    .iter()
                    .filter_map(|n| pids.get(n).copied())
                    .collect();
                let output = s.output();
                l.launcher.stop_command(&launch::LaunchRecord {
                    first,
                    output: &output,
                    pids: &mine,
                    command_pid: s.pid(),
                    join: l.registrar.addr(),
                })
            })
            .collect()
    }

    /// Registrations refused so far (forged, stale or replayed tokens).
    pub fn refused_registrations(&self) -> usize {
        match &self.owned {
            Owned::Launched(l) => l.registrar.refused(),
            _ => 0,
        }
    }

    /// Where launched engines dial back to register, for a cluster started
    /// with [`launch`](Cluster::launch).
    pub fn registration_addr(&self) -> Option<SocketAddr> {
        match &self.owned {
            Owned::Launched(l) => Some(l.registrar.addr()),
            _ => None,
        }
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
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<crate::ClusterEvent> {
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
            profile.join = Some(l.registrar.join_point());
        }
        profile
    }

    /// The process ids of engines this cluster started as processes.
    pub fn pids(&self) -> Vec<(NodeId, u32)> {
        match &self.owned {
            // Process ids on the engines' own hosts.
            Owned::Launched(l) => l
                .registrar
                .joined()
                .iter()
                .map(|j| (j.node, j.pid))
                .collect(),
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
            Owned::Launched(l) => {
                let nodes = self.hub.engines();
                let stops: Vec<_> = nodes.iter().map(|&n| self.hub.shutdown_engine(n)).collect();
                for stop in stops {
                    // Gone already is fine: the launch command ends below.
                    let _ = stop.timeout(std::time::Duration::from_secs(5)).await;
                }
                let mut started =
                    std::mem::take(l.started.get_mut().unwrap_or_else(|p| p.into_inner()));
                for cmd in Self::stop_commands_of(l, &started) {
                    launch::run_for_output(cmd).await;
                }
                for s in started.iter_mut() {
                    s.kill();
                }
                for s in started.iter_mut() {
                    s.reap(std::time::Duration::from_secs(5)).await;
                }
                if let Some(key) = l
                    .key_file
                    .get_mut()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                {
                    // Already gone is fine.
                    let _ = std::fs::remove_file(key);
                }
            }
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
