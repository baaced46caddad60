//! Starting engines where they run: the [`Launcher`] seam and its backends
//! ([`LocalProcesses`], [`Ssh`]). A launcher only builds the command that
//! starts one engine on its host; the cluster runs it, hands the engine the
//! key on standard input and a one-time join token in its environment,
//! keeps what it prints, and waits for it to dial back and register.

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
        })
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
        if is_this_host(host) {
            return LocalProcesses::new().command(slot, program, env);
        }
        let mut words = vec!["env".to_string()];
        words.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        words.push(program.to_string_lossy().into_owned());
        self.over_ssh(host, &words)
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

/// The most of an engine's output kept for error messages.
const OUTPUT_KEPT: usize = 16 << 10;

/// One engine a launcher started: its command's process (the engine, or
/// the ssh client in front of it) and what it printed.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) node: crate::id::NodeId,
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
        node: crate::id::NodeId,
        place: String,
        mut cmd: tokio::process::Command,
        key_line: &str,
    ) -> Started {
        let output = Arc::new(Mutex::new(String::new()));
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let program = cmd.as_std().get_program().to_string_lossy().into_owned();
                keep(&output, &format!("cannot start {program}: {e}\n"));
                return Started {
                    node,
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
        if let Some(s) = stdin.as_mut() {
            // An engine that died at once shows it in its output and status.
            let _ = s.write_all(key_line.as_bytes()).await;
            let _ = s.flush().await;
        }
        Started {
            node,
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
    fn words_survive_the_remote_shell() {
        assert_eq!(shell_quote("/opt/distob"), "/opt/distob");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
