//! [`Ssh`]: engines on hosts reached by `ssh -o BatchMode=yes`.

use super::{kill_marked, route_to, shell_quote, LaunchRecord, Launcher, LocalProcesses};
use crate::cluster::process::engine_program;
use crate::cluster::LaunchError;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};

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
    join_ip: Option<IpAddr>,
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
            join_ip: None,
        })
    }

    /// The address of this machine the hosts reach it at (default: the
    /// interface on the route to the first host that is not this one).
    pub fn join_ip(mut self, ip: IpAddr) -> Self {
        self.join_ip = Some(ip);
        self
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
        if let Some(ip) = self.join_ip {
            return Ok(ip);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

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
}
