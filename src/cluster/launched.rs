//! Clusters of launched engines: [`Cluster::launch`] and what goes with it
//! (waiting for registrations, stop commands, engines that did not come).

use super::launch::{self, Launcher};
use super::{profile, registrar, Cluster, LaunchError, Owned, Profile};
use crate::error::{Result, StartError};
use crate::id::NodeId;
use crate::net::ClusterKey;
use crate::proxy::ObjectHub;
use std::net::SocketAddr;
use std::path::PathBuf;

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

/// What a cluster started with a launcher.
#[derive(Debug)]
pub(super) struct Launched {
    started: std::sync::Mutex<Vec<launch::Started>>,
    registrar: registrar::Registrar,
    launcher: Box<dyn Launcher>,
    /// The next engine slot (node id) to launch or to give a joining
    /// engine (shared with the registrar).
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The key file batch jobs read (removed at shutdown).
    key_file: std::sync::Mutex<Option<PathBuf>>,
}

impl Launched {
    /// Opens the registration listener for engines `launcher` starts, which
    /// join `hub`.
    pub(super) async fn open(
        launcher: impl Launcher + 'static,
        key: ClusterKey,
        tls: crate::net::TlsPolicy,
        hub: ObjectHub,
    ) -> Result<Launched, StartError> {
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let registrar =
            registrar::Registrar::open(launcher.join_ip()?, key, tls, hub, next.clone()).await?;
        Ok(Launched {
            started: std::sync::Mutex::new(Vec::new()),
            registrar,
            launcher: Box::new(launcher),
            next,
            key_file: Default::default(),
        })
    }

    /// The launcher's stop commands for what `started` started.
    fn stop_commands(&self, started: &[launch::Started]) -> Vec<tokio::process::Command> {
        let pids: std::collections::HashMap<NodeId, u32> = self.pids().into_iter().collect();
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
                self.launcher.stop_command(&launch::LaunchRecord {
                    first,
                    output: &output,
                    pids: &mine,
                    command_pid: s.pid(),
                    join: self.registrar.addr(),
                })
            })
            .collect()
    }

    /// Where engines started by hand join (for the profile).
    pub(super) fn join_point(&self) -> super::JoinPoint {
        self.registrar.join_point()
    }

    /// The registered engines' process ids, on their own hosts.
    pub(super) fn pids(&self) -> Vec<(NodeId, u32)> {
        self.registrar
            .joined()
            .iter()
            .map(|j| (j.node, j.pid))
            .collect()
    }

    /// Stops what was launched: each engine asked to stop, then the
    /// launcher's stop commands, then the launch commands ended.
    pub(super) async fn stop_all(&self, hub: &ObjectHub) {
        let nodes = hub.engines();
        // One 5 s bound for them all, from when they were asked.
        let stops: Vec<_> = nodes
            .iter()
            .map(|&n| {
                hub.shutdown_engine(n)
                    .timeout(std::time::Duration::from_secs(5))
            })
            .collect();
        for stop in stops {
            // Gone already is fine: the launch command ends below.
            let _ = stop.await;
        }
        let mut started =
            std::mem::take(&mut *self.started.lock().unwrap_or_else(|p| p.into_inner()));
        for cmd in self.stop_commands(&started) {
            launch::run_for_output(cmd).await;
        }
        for s in started.iter_mut() {
            s.kill();
        }
        for s in started.iter_mut() {
            s.reap(std::time::Duration::from_secs(5)).await;
        }
        let key_file = self
            .key_file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(key) = key_file {
            // Already gone is fine.
            let _ = std::fs::remove_file(key);
        }
    }
}

impl Cluster {
    /// Starts `n` engines with `launcher` (engine nodes 0..n) and returns at
    /// once: each engine dials back to this client's registration listener,
    /// proves the cluster key and its one-time token, and is added to the
    /// cluster (and to round-robin placement) as it comes. Wait for them with
    /// [`wait_for`](Cluster::wait_for); more can join later with
    /// [`launch_more`](Cluster::launch_more). Settings as for
    /// [`Cluster::local`]; [`Cluster::builder`] sets them.
    pub async fn launch(
        launcher: impl Launcher + 'static,
        n: usize,
    ) -> Result<Cluster, StartError> {
        Cluster::builder().launch(launcher, n).await
    }

    /// Starts `n` more engines with this cluster's launcher (node ids after
    /// the last one started).
    pub async fn launch_more(&self, n: usize) -> Result<(), StartError> {
        let Owned::Launched(l) = &self.inner.owned else {
            return Err(LaunchError::NoHosts.into());
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
        env.extend(self.inner.settings.engine_env());
        env.extend(super::logs::log_env());
        let key_line = if l.launcher.key_on_stdin() {
            format!("{}\n", self.inner.key.to_hex())
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
    fn key_file(&self, l: &Launched) -> Result<PathBuf, StartError> {
        let mut slot = l.key_file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        let dir = Profile::home()?.join("jobs");
        // Named after the launch, which no other launch shares (ports may be
        // the same on two machines that share this folder).
        let launch = l.registrar.join_point().launch;
        let path = dir.join(format!("key-{}", &launch[..launch.len().min(32)]));
        profile::write_private(&path, &format!("{}\n", self.inner.key.to_hex()))?;
        *slot = Some(path.clone());
        Ok(path)
    }

    /// Waits until at least `n` engines have registered and are connected,
    /// or `timeout` passes: then fails with
    /// [`LaunchError::NotRegistered`], naming every launched engine that is
    /// not there with where it was started, how its command ended and what
    /// it printed.
    pub async fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Result<(), StartError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let have = self.inner.hub.engines().len();
            if have >= n {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let present: std::collections::HashSet<NodeId> =
            self.inner.hub.engines().into_iter().collect();
        let mut missing = Vec::new();
        if let Owned::Launched(l) = &self.inner.owned {
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
        Err(LaunchError::NotRegistered { missing }.into())
    }

    /// The launched engines that have not registered yet, with where each
    /// was started (in node order): what a progress display names while it
    /// waits.
    pub fn pending_engines(&self) -> Vec<(NodeId, String)> {
        let Owned::Launched(l) = &self.inner.owned else {
            return Vec::new();
        };
        let present: std::collections::HashSet<NodeId> =
            self.inner.hub.engines().into_iter().collect();
        let mut pending: Vec<(NodeId, String)> = l
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flat_map(|s| {
                s.nodes
                    .iter()
                    .filter(|n| !present.contains(n))
                    .map(|&n| (n, s.place.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        pending.sort();
        pending
    }

    /// The commands that stop what this cluster's launcher started beyond
    /// the engines' own shutdown (`scancel` of an `sbatch` job, `kill` over
    /// ssh of detached engines, removing the key file of batch jobs), as
    /// argument lists: `distob cluster start` writes them into the profile
    /// for `distob cluster stop`.
    pub fn stop_commands(&self) -> Vec<Vec<String>> {
        let Owned::Launched(l) = &self.inner.owned else {
            return Vec::new();
        };
        let started = l.started.lock().unwrap_or_else(|p| p.into_inner());
        let mut commands: Vec<Vec<String>> = l
            .stop_commands(&started)
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

    /// Registrations refused so far (forged, stale or replayed tokens).
    pub fn refused_registrations(&self) -> usize {
        match &self.inner.owned {
            Owned::Launched(l) => l.registrar.refused(),
            _ => 0,
        }
    }

    /// Where launched engines dial back to register, for a cluster started
    /// with [`launch`](Cluster::launch).
    pub fn registration_addr(&self) -> Option<SocketAddr> {
        match &self.inner.owned {
            Owned::Launched(l) => Some(l.registrar.addr()),
            _ => None,
        }
    }
}
