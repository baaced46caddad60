//! [`ClusterBuilder`]: every setting a cluster has, for every way of
//! starting one (`local`, `spawn`, `launch`, `connect`).

use super::launch::{Launcher, LocalProcesses};
use super::launched::Launched;
use super::local::{self, LocalEngine};
use super::settings::Settings;
use super::{process, Cluster, Owned, Profile};
use crate::actors::Engine;
use crate::error::{Error, Result, StartError};
use crate::id::NodeId;
use crate::net::{ClusterKey, Liveness, TlsPolicy};
use crate::proxy::ObjectHub;
use std::path::Path;
use std::time::Duration;
use tokio::runtime::Handle;

/// Builds a [`Cluster`] with settings that `Cluster::local` and friends
/// take from the defaults: connect and call timeouts, TLS and liveness of
/// the links, and the limits of every engine it starts.
///
/// Each setting comes from the first source that sets it: this builder,
/// then the `DISTOB_*` environment variables (unless
/// [`ignore_env`](ClusterBuilder::ignore_env)), then the profile (for
/// [`connect`](ClusterBuilder::connect)), then the defaults (see
/// [`Settings`]).
///
/// ```
/// # async fn demo() -> distob::Result<()> {
/// use std::time::Duration;
/// let cluster = distob::Cluster::builder()
///     .connect_timeout(Duration::from_secs(2))
///     .call_timeout(Duration::from_secs(30))
///     .max_in_flight(4096)
///     .local(2)
///     .await?;
/// assert_eq!(cluster.settings().max_in_flight, Some(4096));
/// assert_eq!(cluster.hub().default_timeout(), Some(Duration::from_secs(30)));
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until one of local, spawn, launch or connect is awaited"]
pub struct ClusterBuilder {
    explicit: Settings,
    liveness: Option<Liveness>,
    ignore_env: bool,
    runtime: Option<Handle>,
}

impl Cluster {
    /// A builder for a cluster with settings of its own (see
    /// [`ClusterBuilder`]).
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }
}

fn ms(d: Duration) -> Option<u64> {
    Some(d.as_millis().min(u128::from(u64::MAX)) as u64)
}

impl ClusterBuilder {
    /// How long opening a connection to an engine may take (default 5 s):
    /// an address that never answers fails with
    /// [`Error::Connect`](crate::Error::Connect) in this time.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.explicit.connect_timeout_ms = ms(d);
        self
    }

    /// The timeout of every call that sets none of its own (default none;
    /// see [`ObjectHub::set_default_timeout`]).
    pub fn call_timeout(mut self, d: Duration) -> Self {
        self.explicit.call_timeout_ms = ms(d);
        self
    }

    /// Which links are TLS (default [`TlsPolicy::Auto`]).
    pub fn tls(mut self, tls: TlsPolicy) -> Self {
        self.explicit.tls = Some(tls);
        self
    }

    /// Whether links poll for the next frame before parking, on the client
    /// and on the engines it starts (default [`Latency::Park`](crate::net::Latency::Park)): polling
    /// for a few tens of µs takes the CPU's wake-up out of small calls'
    /// round trips, for a busy thread while calls keep coming.
    pub fn latency(mut self, latency: crate::net::Latency) -> Self {
        self.explicit.latency = Some(latency);
        self
    }

    /// How the client's links notice a dead engine (default: within about
    /// 3 s; see [`Liveness`]).
    pub fn liveness(mut self, liveness: Liveness) -> Self {
        self.liveness = Some(liveness);
        self
    }

    /// Calls one connection may have in flight on each engine.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.explicit.max_in_flight = Some(n);
        self
    }

    /// Calls one object may have queued on its engine.
    pub fn max_queued_per_object(mut self, n: usize) -> Self {
        self.explicit.max_queued_per_object = Some(n);
        self
    }

    /// The largest frame an engine accepts, in bytes.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.explicit.max_frame = Some(bytes);
        self
    }

    /// How long a stopping engine lets the calls in flight finish.
    pub fn drain_deadline(mut self, d: Duration) -> Self {
        self.explicit.drain_deadline_ms = ms(d);
        self
    }

    /// Every setting `settings` sets (those it leaves unset stay as they
    /// are).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.explicit = settings.or(self.explicit);
        self
    }

    /// Does not read the `DISTOB_*` environment variables.
    pub fn ignore_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// Drives the connections with `runtime` (default: the current tokio
    /// runtime, else distob's background one).
    pub(crate) fn runtime(mut self, runtime: Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// The settings in force: this builder's, the environment's, the
    /// profile's, in that order.
    fn resolve(&self, profile: Option<&Profile>) -> Result<Settings, StartError> {
        let env = if self.ignore_env {
            Settings::default()
        } else {
            Settings::from_env()?
        };
        let from_profile = profile.map_or_else(Settings::default, |p| Settings {
            tls: p.settings.tls.or(Some(p.tls)),
            ..p.settings
        });
        Ok(self.explicit.or(env).or(from_profile))
    }

    fn handle(&self) -> Handle {
        self.runtime
            .clone()
            .unwrap_or_else(crate::proxy::runtime::current_or_background)
    }

    /// `n` in-process engines (see [`Cluster::local`]), keeping these
    /// settings.
    pub async fn local(self, n: usize) -> Result<Cluster, StartError> {
        let settings = self.resolve(None)?;
        let key = ClusterKey::random().map_err(Error::from)?;
        let template = engine_template(&key, &settings);
        let threads = local::engine_threads(n);
        // Engines dealt to threads in turn: node i on thread i % threads.
        let groups = (0..threads).map(|t| {
            let nodes: Vec<NodeId> = (t..n).step_by(threads).map(|i| NodeId(i as u32)).collect();
            LocalEngine::start(nodes, template.clone())
        });
        let started = futures::future::try_join_all(groups).await?;
        let mut engines = Vec::with_capacity(threads);
        let mut local = Vec::with_capacity(n);
        for (engine, hosted) in started {
            engines.push(engine);
            local.extend(hosted);
        }
        local.sort_by_key(|(node, ..)| *node);
        let hub = ObjectHub::connect_local_on(self.handle(), local, key.clone()).await?;
        let owned = Owned::Local(std::sync::Mutex::new(engines));
        Ok(Cluster::from_parts(hub, key, owned, settings))
    }

    /// `n` engine processes from [`engine_program`](crate::engine::engine_program)
    /// (see [`Cluster::spawn`]), each given these settings.
    pub async fn spawn(self, n: usize) -> Result<Cluster, StartError> {
        let program = process::engine_program()?;
        self.spawn_program(&program, n).await
    }

    /// `n` engine processes from `program` (see
    /// [`Cluster::spawn_program`]).
    pub async fn spawn_program(self, program: &Path, n: usize) -> Result<Cluster, StartError> {
        let cluster = self
            .launch(LocalProcesses::new().program(program), n)
            .await?;
        cluster.wait_for(n, process::READY_TIMEOUT).await?;
        Ok(cluster)
    }

    /// Starts `n` engines with `launcher` (see [`Cluster::launch`]), each
    /// given these settings in its environment.
    pub async fn launch(
        self,
        launcher: impl Launcher + 'static,
        n: usize,
    ) -> Result<Cluster, StartError> {
        let settings = self.resolve(None)?;
        let key = ClusterKey::random().map_err(Error::from)?;
        let links = settings.links(self.liveness.unwrap_or_default());
        let hub = ObjectHub::empty(key.clone(), links);
        let launched = Launched::open(launcher, key.clone(), links.tls, hub.clone()).await?;
        let cluster = Cluster::from_parts(hub, key, Owned::Launched(launched), settings);
        cluster.launch_more(n).await?;
        Ok(cluster)
    }

    /// Connects to the engines a profile names (see [`Cluster::connect`]).
    pub async fn connect(self, profile: impl AsRef<Path>) -> Result<Cluster, StartError> {
        let profile = Profile::load(profile)?;
        self.connect_profile(&profile).await
    }

    /// Connects to the engines of a profile already read.
    pub async fn connect_profile(self, profile: &Profile) -> Result<Cluster, StartError> {
        let settings = self.resolve(Some(profile))?;
        let liveness = self.liveness.or(profile.liveness).unwrap_or_default();
        let links = settings.links(liveness);
        let addrs = profile.addresses();
        let key = profile.key.clone();
        let hub = ObjectHub::connect_on(self.handle(), &addrs, key.clone(), links).await?;
        Ok(Cluster::from_parts(hub, key, Owned::External, settings))
    }
}

/// The engine every in-process engine of a cluster is made from (renamed
/// per node).
fn engine_template(key: &ClusterKey, settings: &Settings) -> Engine {
    Engine::new(NodeId(0), key.clone())
        .with_limits(settings.engine_limits())
        .with_tls(settings.tls.unwrap_or_default())
        .with_connect_timeout(settings.connect_timeout())
        .with_latency(settings.latency.unwrap_or_default())
}
