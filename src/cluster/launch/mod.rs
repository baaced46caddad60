//! Starting engines where they run: the [`Launcher`] seam and its backends
//! ([`LocalProcesses`], [`Ssh`], [`Slurm`]). A launcher only builds the
//! command that starts engines on their hosts (one per engine, or one for a
//! batch, as `srun` and `sbatch` do); the cluster runs it, hands the engines
//! the key (on standard input, or in a file of mode 0600 for batch jobs) and
//! one-time join tokens in their environment, keeps what the command
//! prints, and waits for the engines to dial back and register.

mod error;
mod slurm;
mod ssh;
mod started;

pub use error::LaunchError;
pub use slurm::Slurm;
pub use ssh::Ssh;
pub(crate) use started::{run_for_output, Started};

use super::process::engine_program;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

/// How engines are started: a backend per resource manager.
///
/// Implement it to start engines some other way; `command` must run
/// `program` with the environment `env` on the engine's host, passing its
/// standard input (the cluster key arrives there, and the engine exits when
/// it closes) and output through.
pub trait Launcher: std::fmt::Debug + Send + Sync {
    /// Where engine `slot` runs, for messages (a host name).
    fn place(&self, slot: usize) -> String;

    /// The command that starts `program` as engine `slot` with `env` set.
    fn command(
        &self,
        slot: usize,
        program: &Path,
        env: &[(String, String)],
    ) -> tokio::process::Command;

    /// The program to run on the engines' hosts (default:
    /// [`engine_program`]).
    fn program(&self) -> Result<PathBuf, LaunchError> {
        engine_program()
    }

    /// The address of this machine that the engines reach it at; the
    /// registration listener binds it (default: loopback).
    fn join_ip(&self) -> std::io::Result<IpAddr> {
        Ok(Ipv4Addr::LOCALHOST.into())
    }

    /// One command that starts `n` engines (slots `first..first + n`) at
    /// once, for backends that start tasks in bulk. The engine of task `i`
    /// (`SLURM_PROCID`) takes slot `first + i` and the `i`-th token of
    /// `DISTOB_ENGINE_TOKENS`. `None` (the default): one
    /// [`command`](Launcher::command) per engine.
    fn batch(
        &self,
        _first: usize,
        _n: usize,
        _program: &Path,
        _env: &[(String, String)],
    ) -> Option<Result<tokio::process::Command, LaunchError>> {
        None
    }

    /// Whether engines read the key from standard input (and exit when it
    /// closes). Batch jobs that outlive their command read it from the file
    /// named by `DISTOB_ENGINE_KEY_FILE` instead.
    fn key_on_stdin(&self) -> bool {
        true
    }

    /// A command that stops what one launch command started (for
    /// `sbatch`: `scancel` of its job; for detached ssh engines: `kill`
    /// over ssh of those of its processes that are still its engines).
    /// `None` (the default): ending the launch command ends its engines.
    fn stop_command(&self, _launched: &LaunchRecord<'_>) -> Option<tokio::process::Command> {
        None
    }

    /// Whether engines outlive the launch command and this client (a
    /// detached ssh start, an `sbatch` job): then dropping the cluster
    /// leaves them running, and only [`Cluster::shutdown`](crate::Cluster::shutdown)
    /// or the profile's stop commands (`distob cluster stop`) end them.
    fn detached(&self) -> bool {
        false
    }

    /// A command whose output says how a launch is doing (for `sbatch`: the
    /// job's state and output), added to the report of engines that did not
    /// register.
    fn status_command(&self, _launch_output: &str) -> Option<tokio::process::Command> {
        None
    }
}

/// What one launch command started, for [`Launcher::stop_command`].
#[derive(Debug, Clone, Copy)]
pub struct LaunchRecord<'a> {
    /// The first engine slot it started.
    pub first: usize,
    /// What the command printed.
    pub output: &'a str,
    /// The process ids its engines registered with (on their hosts).
    pub pids: &'a [u32],
    /// The launch command's own process id here, while it runs.
    pub command_pid: Option<u32>,
    /// The registration address its engines were given (it is in their
    /// environment as `DISTOB_ENGINE_JOIN`, which tells them from other
    /// processes that took the same pid later).
    pub join: SocketAddr,
}

/// Engine processes on this machine.
///
/// ```no_run
/// # async fn demo() -> distob::Result<()> {
/// use distob::{launch::LocalProcesses, Cluster};
/// let cluster = Cluster::launch(LocalProcesses::new(), 4).await?;
/// cluster.wait_for(4, std::time::Duration::from_secs(30)).await?;
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct LocalProcesses {
    program: Option<PathBuf>,
}

impl LocalProcesses {
    /// Engines from [`engine_program`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Engines from `program` instead.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }
}

impl Launcher for LocalProcesses {
    fn place(&self, _slot: usize) -> String {
        "this host".into()
    }

    fn command(
        &self,
        _slot: usize,
        program: &Path,
        env: &[(String, String)],
    ) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(super::process::engine_args(program))
            .envs(env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn program(&self) -> Result<PathBuf, LaunchError> {
        match &self.program {
            Some(p) => Ok(p.clone()),
            None => engine_program(),
        }
    }
}

/// A shell script that kills those of `pids` that are still processes of
/// the launch whose engines register at `join` (they carry
/// `DISTOB_ENGINE_JOIN` in their environment): a pid may have been taken by
/// another process since.
fn kill_marked(pids: &[u32], join: SocketAddr) -> String {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    let mark = shell_quote(&format!("DISTOB_ENGINE_JOIN={join}"));
    format!(
        "for p in {}; do if tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qxF {mark}; \
         then kill $p; fi; done",
        pids.join(" ")
    )
}

/// Quotes one word for a POSIX shell.
pub(crate) fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The address of this machine on the route to `peer` (no packet is sent:
/// a UDP socket is only connected).
pub(crate) fn route_to(peer: IpAddr) -> std::io::Result<IpAddr> {
    if peer.is_loopback() {
        return Ok(peer);
    }
    let any: SocketAddr = if peer.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect((peer, 9))?;
    Ok(socket.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_survive_the_remote_shell() {
        assert_eq!(shell_quote("/opt/distob"), "/opt/distob");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
