//! [`Slurm`]: engines as the tasks of an `srun` step or an `sbatch` job.

use super::{kill_marked, shell_quote, LaunchRecord, Launcher};
use crate::cluster::process::engine_program;
use crate::cluster::LaunchError;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

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
            None => Ok(crate::cluster::Profile::home()
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
