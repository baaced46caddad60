//! Starting engines where they run: the [`Launcher`] seam and its backends
//! ([`LocalProcesses`], [`Ssh`], [`Slurm`]). A launcher only builds the
//! command that starts engines on their hosts (one per engine, or one for a
//! batch, as `srun` and `sbatch` do); the cluster runs it, hands the engines
//! the key (on standard input, or in a file of mode 0600 for batch jobs) and
//! one-time join tokens in their environment, keeps what the command
//! prints, and waits for the engines to dial back and register.

use super::process::engine_program;
use super::LaunchError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};

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
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn program(&self) -> Result<PathBuf, LaunchError> {
        match &self.program {
            Some(p) => Ok(p.clone()),
            None => engine_program(),
        }
    }
}

/// Engines on hosts reached by `ssh -o BatchMode=yes`, running the same
/// program path there (or the one set with [`Ssh::program`]). Hosts are
/// `host` or `host:slots` (engines per host before the next is used; slots
/// fill in order and wrap around); a host written `localhost`, or this
/// machine's own name, is started without ssh.
///
/// ```
/// use distob::launch::Ssh;
/// let ssh = Ssh::new(["node1:2", "user@node2"]).unwrap().option("-p").option("2222");
/// assert_eq!(ssh.hosts(), [("node1".to_string(), 2), ("user@node2".to_string(), 1)]);
/// ```
#[derive(Debug, Clone)]
pub struct Ssh {
    hosts: Vec<(String, usize)>,
    ssh: PathBuf,
    options: Vec<String>,
    program: Option<PathBuf>,
    detached: bool,
}

impl Ssh {
    /// Hosts as `host[:slots]`.
    pub fn new<S: AsRef<str>>(hosts: impl IntoIterator<Item = S>) -> Result<Ssh, LaunchError> {
        let hosts = hosts
            .into_iter()
            .map(|h| parse_host(h.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if hosts.is_empty() {
            return Err(LaunchError::NoHosts);
        }
        Ok(Ssh {
            hosts,
            ssh: PathBuf::from("ssh"),
            options: Vec::new(),
            program: None,
            detached: false,
        })
    }

    /// Engines that outlive the ssh session (and this client): each
    /// remote shell keeps the key in a private file, starts the engine in a
    /// session of its own with its output in `~/.distob/engine-N.log`, and
    /// returns; the engines end by
    /// [`Cluster::shutdown`](crate::Cluster::shutdown) or `distob cluster
    /// stop` (`kill` over ssh for an engine that no longer answers).
    pub fn detached(mut self, detached: bool) -> Self {
        self.detached = detached;
        self
    }

    /// Hosts from a file of `host[:slots]` lines (`#` starts a comment).
    pub fn from_hosts_file(path: impl AsRef<Path>) -> Result<Ssh, LaunchError> {
        let text = std::fs::read_to_string(path)?;
        Ssh::new(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty()),
        )
    }

    /// Adds one argument to every ssh command line (before the host), such
    /// as `-p`, `2222` or `-i`, `KEY`.
    pub fn option(mut self, arg: impl Into<String>) -> Self {
        self.options.push(arg.into());
        self
    }

    /// The ssh client to run (default `ssh` on `PATH`).
    pub fn ssh_command(mut self, ssh: impl Into<PathBuf>) -> Self {
        self.ssh = ssh.into();
        self
    }

    /// The engine program's path on the hosts (default: this machine's).
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// The hosts and their slots.
    pub fn hosts(&self) -> &[(String, usize)] {
        &self.hosts
    }

    fn host(&self, slot: usize) -> &str {
        let total: usize = self.hosts.iter().map(|(_, s)| s).sum();
        let mut at = slot % total.max(1);
        for (host, slots) in &self.hosts {
            if at < *slots {
                return host;
            }
            at -= slots;
        }
        &self.hosts[0].0
    }

    /// Runs a shell `script` on `host`: through ssh, or here for this host.
    fn shell_on(&self, host: &str, script: String) -> tokio::process::Command {
        if is_this_host(host) {
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c").arg(script);
            return cmd;
        }
        let mut cmd = tokio::process::Command::new(&self.ssh);
        cmd.args(["-o", "BatchMode=yes"])
            .args(&self.options)
            .arg(host)
            .arg(script);
        cmd
    }

    /// Runs `command` on `host` through ssh, as a remote shell line.
    pub(crate) fn over_ssh(&self, host: &str, words: &[String]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.ssh);
        cmd.args(["-o", "BatchMode=yes"])
            .args(&self.options)
            .arg(host)
            .arg(
                words
                    .iter()
                    .map(|w| shell_quote(w))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        cmd
    }
}

fn parse_host(line: &str) -> Result<(String, usize), LaunchError> {
    let bad = || LaunchError::BadHost { line: line.into() };
    match line.rsplit_once(':') {
        // A bare IPv6 address has colons too: only a number after the last
        // one is a slot count.
        Some((host, slots)) if !host.is_empty() && slots.bytes().all(|b| b.is_ascii_digit()) => {
            let slots: usize = slots.parse().map_err(|_| bad())?;
            if slots == 0 {
                return Err(bad());
            }
            Ok((host.to_string(), slots))
        }
        _ if !line.trim().is_empty() => Ok((line.trim().to_string(), 1)),
        _ => Err(bad()),
    }
}

/// `host` without `user@`.
fn host_name(host: &str) -> &str {
    host.rsplit_once('@').map_or(host, |(_, h)| h)
}

fn is_this_host(host: &str) -> bool {
    let name = host_name(host);
    name == "localhost"
        || std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim() == name)
            .unwrap_or(false)
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

impl Launcher for Ssh {
    fn place(&self, slot: usize) -> String {
        let host = self.host(slot);
        if is_this_host(host) {
            format!("{host} (without ssh)")
        } else {
            host.to_string()
        }
    }

    fn command(
        &self,
        slot: usize,
        program: &Path,
        env: &[(String, String)],
    ) -> tokio::process::Command {
        let host = self.host(slot);
        if !self.detached && is_this_host(host) {
            return LocalProcesses::new().command(slot, program, env);
        }
        let mut words = vec!["env".to_string()];
        words.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        words.push(program.to_string_lossy().into_owned());
        if !self.detached {
            return self.over_ssh(host, &words);
        }
        // The key line arrives on standard input: kept in a private file
        // the engine reads (and removes), then the engine runs on in a
        // session of its own after the shell and ssh are gone.
        let engine = words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "umask 077; mkdir -p \"$HOME/.distob\"; f=\"$HOME/.distob/key-$$\"; head -n 1 > \"$f\"; \
             DISTOB_ENGINE_KEY_FILE=\"$f\" DISTOB_ENGINE_KEY_FILE_REMOVE=1 setsid {engine} \
             < /dev/null > \"$HOME/.distob/engine-{slot}.log\" 2>&1 &"
        );
        self.shell_on(host, script)
    }

    fn stop_command(&self, launched: &LaunchRecord<'_>) -> Option<tokio::process::Command> {
        if !self.detached || launched.pids.is_empty() {
            return None;
        }
        let script = kill_marked(launched.pids, launched.join);
        Some(self.shell_on(self.host(launched.first), script))
    }

    fn detached(&self) -> bool {
        self.detached
    }

    fn program(&self) -> Result<PathBuf, LaunchError> {
        match &self.program {
            Some(p) => Ok(p.clone()),
            None => engine_program(),
        }
    }

    fn join_ip(&self) -> std::io::Result<IpAddr> {
        for (host, _) in &self.hosts {
            if is_this_host(host) {
                continue;
            }
            let addr = (host_name(host), 22)
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrNotAvailable))?;
            return route_to(addr.ip());
        }
        Ok(Ipv4Addr::LOCALHOST.into())
    }
}

/// Engines in a Slurm allocation: inside one (`SLURM_JOB_ID` set), one
/// `srun` whose tasks are the engines; from a login node, a job script
/// submitted with `sbatch` whose tasks start engines that dial back, and
/// which [`Cluster::shutdown`](crate::Cluster::shutdown) cancels with
/// `scancel`.
///
/// ```
/// use distob::launch::Slurm;
/// let job = Slurm::sbatch().partition("debug").time("00:10:00").account("proj");
/// let script = job.job_script(0, 4, "/opt/bin/distob".as_ref(), &[]);
/// assert!(script.contains("#SBATCH --ntasks=4"));
/// assert!(script.contains("#SBATCH --partition=debug"));
/// assert!(script.contains("srun /opt/bin/distob"));
/// ```
#[derive(Debug, Clone)]
pub struct Slurm {
    submit: bool,
    partition: Option<String>,
    time: Option<String>,
    account: Option<String>,
    program: Option<PathBuf>,
    join_ip: Option<IpAddr>,
    job_dir: Option<PathBuf>,
    detached: bool,
}

impl Slurm {
    /// `srun` inside the current allocation when `SLURM_JOB_ID` is set,
    /// else `sbatch`.
    pub fn auto() -> Slurm {
        if std::env::var_os("SLURM_JOB_ID").is_some() {
            Slurm::srun()
        } else {
            Slurm::sbatch()
        }
    }

    /// One `srun` step in the current allocation, a task per engine.
    pub fn srun() -> Slurm {
        Slurm {
            submit: false,
            partition: None,
            time: None,
            account: None,
            program: None,
            join_ip: None,
            job_dir: None,
            detached: false,
        }
    }

    /// For `srun`: engines that outlive this client (the step runs in a
    /// session of its own and engines read the key from a file); they end by
    /// [`Cluster::shutdown`](crate::Cluster::shutdown) or `distob cluster
    /// stop`. `sbatch` jobs always are.
    pub fn detached(mut self, detached: bool) -> Self {
        self.detached = detached;
        self
    }

    /// A job submitted with `sbatch`, a task per engine.
    pub fn sbatch() -> Slurm {
        Slurm {
            submit: true,
            ..Slurm::srun()
        }
    }

    /// The partition (`--partition`).
    pub fn partition(mut self, p: impl Into<String>) -> Self {
        self.partition = Some(p.into());
        self
    }

    /// The time limit (`--time`).
    pub fn time(mut self, t: impl Into<String>) -> Self {
        self.time = Some(t.into());
        self
    }

    /// The account (`--account`).
    pub fn account(mut self, a: impl Into<String>) -> Self {
        self.account = Some(a.into());
        self
    }

    /// The engine program's path on the compute nodes (default: this
    /// machine's).
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// The address of this machine the compute nodes reach it at (default:
    /// the address this host's name resolves to).
    pub fn join_ip(mut self, ip: IpAddr) -> Self {
        self.join_ip = Some(ip);
        self
    }

    /// Where job scripts, key files and job output go (default:
    /// `$DISTOB_HOME/jobs`, which the compute nodes must see).
    pub fn job_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.job_dir = Some(dir.into());
        self
    }

    /// The engine program this launcher runs.
    pub fn program_path(&self) -> Result<PathBuf, LaunchError> {
        Launcher::program(self)
    }

    fn jobs(&self) -> Result<PathBuf, LaunchError> {
        match &self.job_dir {
            Some(d) => Ok(d.clone()),
            None => Ok(super::Profile::home()
                .map_err(|_| LaunchError::BadEnv { name: "HOME" })?
                .join("jobs")),
        }
    }

    /// The `#SBATCH` options this launcher adds.
    fn options(&self) -> Vec<String> {
        let mut o = Vec::new();
        for (flag, v) in [
            ("partition", &self.partition),
            ("time", &self.time),
            ("account", &self.account),
        ] {
            if let Some(v) = v {
                o.push(format!("--{flag}={v}"));
            }
        }
        o
    }

    /// The job script `sbatch` gets for engines `first..first + n`: the
    /// environment, then `srun` of the program, one task per engine.
    pub fn job_script(
        &self,
        first: usize,
        n: usize,
        program: &Path,
        env: &[(String, String)],
    ) -> String {
        let mut s = String::from("#!/bin/sh\n#SBATCH --job-name=distob\n");
        s.push_str(&format!("#SBATCH --ntasks={n}\n"));
        for o in self.options() {
            s.push_str(&format!("#SBATCH {o}\n"));
        }
        if let Ok(dir) = self.jobs() {
            s.push_str(&format!(
                "#SBATCH --output={}\n",
                dir.join("distob-%j.out").display()
            ));
        }
        s.push_str(&format!("# engines {first}..{}\n", first + n));
        for (k, v) in env {
            s.push_str(&format!("export {k}={}\n", shell_quote(v)));
        }
        s.push_str(&format!(
            "exec srun {}\n",
            shell_quote(&program.to_string_lossy())
        ));
        s
    }
}

/// The job id `sbatch --parsable` printed.
fn job_id(output: &str) -> Option<&str> {
    output
        .lines()
        .map(|l| l.trim().split(';').next().unwrap_or(""))
        .find(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
}

impl Launcher for Slurm {
    fn place(&self, slot: usize) -> String {
        if self.submit {
            format!("sbatch task {slot}")
        } else {
            format!("srun task {slot}")
        }
    }

    /// One engine per command: an `srun` of one task.
    fn command(
        &self,
        _slot: usize,
        program: &Path,
        env: &[(String, String)],
    ) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("srun");
        cmd.args(["--ntasks=1", "--input=all"])
            .args(self.options())
            .arg(program)
            .envs(env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn batch(
        &self,
        first: usize,
        n: usize,
        program: &Path,
        env: &[(String, String)],
    ) -> Option<Result<tokio::process::Command, LaunchError>> {
        let tag = env
            .iter()
            .find(|(k, _)| k == "DISTOB_ENGINE_TOKENS")
            .map_or("job", |(_, v)| &v[..v.len().min(16)]);
        if !self.submit {
            let mut srun_args = vec![format!("--ntasks={n}"), "--input=all".to_string()];
            srun_args.extend(self.options());
            srun_args.push(program.to_string_lossy().into_owned());
            if !self.detached {
                let mut cmd = tokio::process::Command::new("srun");
                cmd.args(srun_args).envs(env.iter().map(|(k, v)| (k, v)));
                return Some(Ok(cmd));
            }
            // Detached: the step runs in a session of its own and writes to
            // a file, not to pipes that close when this client exits.
            let log = match self.jobs().and_then(|dir| {
                std::fs::create_dir_all(&dir)?;
                Ok(dir.join(format!("distob-srun-{tag}.out")))
            }) {
                Ok(log) => log,
                Err(e) => return Some(Err(e)),
            };
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c")
                .arg("echo \"srun output: $0\"; exec setsid srun \"$@\" > \"$0\" 2>&1 < /dev/null")
                .arg(log)
                .args(srun_args)
                .envs(env.iter().map(|(k, v)| (k, v)));
            return Some(Ok(cmd));
        }
        let written = (|| {
            let dir = self.jobs()?;
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(format!("distob-{tag}.sh"));
            std::fs::write(&path, self.job_script(first, n, program, env))?;
            Ok::<_, LaunchError>(path)
        })();
        Some(written.map(|script| {
            let mut cmd = tokio::process::Command::new("sbatch");
            cmd.arg("--parsable").arg(script);
            cmd
        }))
    }

    fn key_on_stdin(&self) -> bool {
        !self.submit && !self.detached
    }

    fn detached(&self) -> bool {
        self.submit || self.detached
    }

    fn stop_command(&self, launched: &LaunchRecord<'_>) -> Option<tokio::process::Command> {
        if !self.submit {
            // A detached step: stopping its srun (here) cancels the step,
            // engines that no longer answer included.
            let srun = launched.command_pid.filter(|_| self.detached)?;
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c").arg(kill_marked(&[srun], launched.join));
            return Some(cmd);
        }
        let id = job_id(launched.output)?;
        let mut cmd = tokio::process::Command::new("scancel");
        cmd.arg(id);
        Some(cmd)
    }

    fn status_command(&self, launch_output: &str) -> Option<tokio::process::Command> {
        if let Some(log) = launch_output
            .lines()
            .find_map(|l| l.strip_prefix("srun output: "))
        {
            let mut cmd = tokio::process::Command::new("tail");
            cmd.args(["-n", "20", log]);
            return Some(cmd);
        }
        let id = job_id(launch_output).filter(|_| self.submit)?;
        let out = self.jobs().ok()?.join(format!("distob-{id}.out"));
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(format!(
            "squeue -h -j {id} -o 'job {id}: %T %R'; tail -n 20 {} 2>/dev/null",
            shell_quote(&out.to_string_lossy())
        ));
        Some(cmd)
    }

    fn program(&self) -> Result<PathBuf, LaunchError> {
        match &self.program {
            Some(p) => Ok(p.clone()),
            None => engine_program(),
        }
    }

    fn join_ip(&self) -> std::io::Result<IpAddr> {
        if let Some(ip) = self.join_ip {
            return Ok(ip);
        }
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
        let addr = (name.trim(), 0)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrNotAvailable))?;
        Ok(addr.ip())
    }
}

/// The most of an engine's output kept for error messages.
const OUTPUT_KEPT: usize = 16 << 10;

/// One engine a launcher started: its command's process (the engine, or
/// the ssh client in front of it) and what it printed.
#[derive(Debug)]
pub(crate) struct Started {
    /// The engines it starts.
    pub(crate) nodes: Vec<crate::id::NodeId>,
    pub(crate) place: String,
    pub(crate) output: Arc<Mutex<String>>,
    pub(crate) child: Option<tokio::process::Child>,
    /// Held open: the engine exits when it closes.
    _stdin: Option<tokio::process::ChildStdin>,
}

impl Started {
    /// Runs `cmd` for engine `node`, writes `key_line` to its standard
    /// input, and keeps its output. A command that cannot start is kept
    /// too, with the reason as its output.
    pub(crate) async fn run(
        nodes: Vec<crate::id::NodeId>,
        place: String,
        mut cmd: tokio::process::Command,
        key_line: &str,
        detached: bool,
    ) -> Started {
        let output = Arc::new(Mutex::new(String::new()));
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(!detached);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let program = cmd.as_std().get_program().to_string_lossy().into_owned();
                keep(&output, &format!("cannot start {program}: {e}\n"));
                return Started {
                    nodes,
                    place,
                    output,
                    child: None,
                    _stdin: None,
                };
            }
        };
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect(out, output.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect(err, output.clone()));
        }
        let mut stdin = child.stdin.take();
        if let Some(s) = stdin.as_mut().filter(|_| !key_line.is_empty()) {
            // An engine that died at once shows it in its output and status.
            let _ = s.write_all(key_line.as_bytes()).await;
            let _ = s.flush().await;
        }
        Started {
            nodes,
            place,
            output,
            child: Some(child),
            _stdin: stdin,
        }
    }

    /// What it printed so far.
    pub(crate) fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Its process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// How it ended, if it has.
    pub(crate) fn status(&mut self) -> Option<String> {
        match self.child.as_mut() {
            None => Some("not started".into()),
            Some(c) => c.try_wait().ok().flatten().map(|s| s.to_string()),
        }
    }

    /// Kills the command (for ssh: the client, whose engine then sees its
    /// standard input close and exits).
    pub(crate) fn kill(&mut self) {
        if let Some(c) = self.child.as_mut() {
            // Already gone is fine.
            let _ = c.start_kill();
        }
    }
}

impl Started {
    /// Waits up to `limit` for the command to end (it was told to).
    pub(crate) async fn reap(&mut self, limit: std::time::Duration) {
        if let Some(c) = self.child.as_mut() {
            // Not ended in time: kill_on_drop finishes it.
            let _ = tokio::time::timeout(limit, c.wait()).await;
        }
    }
}

/// Runs a helper command (`scancel`, `squeue`) to its end, within 30 s;
/// returns what it printed, or why it could not run.
pub(crate) async fn run_for_output(mut cmd: tokio::process::Command) -> String {
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    match tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output()).await {
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            text
        }
        Ok(Err(e)) => format!("cannot run {:?}: {e}\n", cmd.as_std().get_program()),
        Err(_) => format!("{:?} did not finish in 30 s\n", cmd.as_std().get_program()),
    }
}

fn keep(output: &Mutex<String>, text: &str) {
    if let Ok(mut o) = output.lock() {
        if o.len() < OUTPUT_KEPT {
            o.push_str(text);
        }
    }
}

async fn collect(stream: impl AsyncRead + Unpin, output: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        keep(&output, &line);
        keep(&output, "\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_slots() {
        let ssh = Ssh::new(["a:2", "b", "[::1]:3", "u@c:1"]).unwrap();
        assert_eq!(
            ssh.hosts(),
            [
                ("a".to_string(), 2),
                ("b".to_string(), 1),
                ("[::1]".to_string(), 3),
                ("u@c".to_string(), 1)
            ]
        );
        let order: Vec<&str> = (0..8).map(|i| ssh.host(i)).collect();
        assert_eq!(
            order,
            ["a", "a", "b", "[::1]", "[::1]", "[::1]", "u@c", "a"]
        );
        assert!(Ssh::new(["a:0"]).is_err());
        assert!(Ssh::new(Vec::<String>::new()).is_err());
    }

    #[test]
    fn this_host_is_started_without_ssh() {
        let ssh = Ssh::new(["localhost:2", "far"]).unwrap();
        let env = [("DISTOB_ENGINE".to_string(), "1".to_string())];
        let here = ssh.command(0, Path::new("/bin/distob"), &env);
        assert_eq!(here.as_std().get_program(), "/bin/distob");
        let there = ssh.command(2, Path::new("/bin/distob"), &env);
        assert_eq!(there.as_std().get_program(), "ssh");
        let args: Vec<_> = there.as_std().get_args().collect();
        assert_eq!(args[..3], ["-o", "BatchMode=yes", "far"]);
        assert_eq!(args[3], "env DISTOB_ENGINE=1 /bin/distob");
    }

    #[test]
    fn detached_engines_on_this_host_start_without_ssh_too() {
        let ssh = Ssh::new(["localhost"]).unwrap().detached(true);
        let env = [("DISTOB_ENGINE".to_string(), "1".to_string())];
        let here = ssh.command(0, Path::new("/bin/distob"), &env);
        assert_eq!(here.as_std().get_program(), "sh");
        let script = here.as_std().get_args().nth(1).unwrap().to_string_lossy();
        assert!(
            script.contains("setsid env DISTOB_ENGINE=1 /bin/distob"),
            "{script}"
        );
    }

    #[tokio::test]
    async fn stop_kills_only_processes_that_are_still_the_engines() {
        let join: SocketAddr = "127.0.0.1:4999".parse().unwrap();
        let start = |mark: Option<SocketAddr>| {
            let mut cmd = std::process::Command::new("sleep");
            cmd.arg("30");
            if let Some(j) = mark {
                cmd.env("DISTOB_ENGINE_JOIN", j.to_string());
            }
            cmd.spawn().unwrap()
        };
        // One process with the engines' mark, one that took a pid later
        // (no mark), one of another launch.
        let mut ours = start(Some(join));
        let mut stranger = start(None);
        let mut other = start(Some("127.0.0.1:5000".parse().unwrap()));
        let pids = [ours.id(), stranger.id(), other.id()];
        let ssh = Ssh::new(["localhost"]).unwrap().detached(true);
        let record = LaunchRecord {
            first: 0,
            output: "",
            pids: &pids,
            command_pid: None,
            join,
        };
        let mut stop = ssh.stop_command(&record).unwrap();
        let status = tokio::time::timeout(std::time::Duration::from_secs(10), stop.status())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());
        let ended = ours.wait().unwrap();
        assert!(!ended.success(), "the engine was killed");
        assert!(
            stranger.try_wait().unwrap().is_none(),
            "a stranger was killed"
        );
        assert!(
            other.try_wait().unwrap().is_none(),
            "another launch's engine was killed"
        );
        let _ = stranger.kill();
        let _ = other.kill();
        let _ = stranger.wait();
        let _ = other.wait();
    }

    #[test]
    fn words_survive_the_remote_shell() {
        assert_eq!(shell_quote("/opt/distob"), "/opt/distob");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
