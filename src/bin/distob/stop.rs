//! `distob cluster stop`: stops a profile's engines, and forgets only the
//! ones it accounted for.
//!
//! Each engine is asked to stop over its link. What the launcher left to
//! run (`scancel`, a guarded `kill` over ssh) runs next. An engine that
//! neither answered nor is covered by a successful stop command, and that
//! was started on this machine, is stopped by its recorded pid — once the
//! pid is checked to still be that engine. The profile is removed only when
//! every engine is stopped or known gone; otherwise it is written again
//! naming just the engines still unaccounted for (with their key, address
//! and pid), so that a later `cluster stop` can finish the job. `--force`
//! removes it whatever happened.

use distob::cluster::{EngineEntry, Profile};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long one engine may take to answer the stop request.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an engine signalled by pid may take to exit.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// What became of one engine.
#[derive(Debug, PartialEq, Eq)]
enum Fate {
    /// It answered the stop request, or is known to be gone.
    Accounted,
    /// It may still run.
    Unaccounted,
}

pub(crate) async fn stop(path: PathBuf, force: bool) -> Result<(), BoxError> {
    let profile = Profile::load(&path)?;
    let mut left: Vec<EngineEntry> = Vec::new();
    for e in &profile.engines {
        if ask_to_stop(&profile, e).await == Fate::Unaccounted {
            left.push(e.clone());
        }
    }
    // What the launcher left to stop: a Slurm job, engines over ssh. When
    // all of them ran, every engine they cover is gone.
    let commands_ran = run_stop_commands(&profile.stop);
    if commands_ran && !profile.stop.is_empty() {
        left.clear();
    }
    left.retain(|e| stop_by_pid(&path, e) == Fate::Unaccounted);
    if left.is_empty() || force {
        remove(&path)?;
        if !left.is_empty() {
            println!(
                "profile removed (--force): {} engine(s) may still run",
                left.len()
            );
        }
        return Ok(());
    }
    let mut kept = profile.clone();
    let nodes: Vec<String> = left.iter().map(|e| e.node.to_string()).collect();
    kept.engines = left;
    if commands_ran {
        kept.stop.clear();
    }
    kept.save(&path)?;
    Err(format!(
        "engine(s) {} could not be stopped; {} now names only them (run `distob cluster stop` again, or add --force to forget them)",
        nodes.join(", "),
        path.display()
    )
    .into())
}

fn remove(path: &Path) -> Result<(), BoxError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Asks engine `e` to stop over its link.
async fn ask_to_stop(profile: &Profile, e: &EngineEntry) -> Fate {
    let one = Profile {
        engines: vec![e.clone()],
        stop: Vec::new(),
        join: None,
        ..profile.clone()
    };
    let asked = tokio::time::timeout(ASK_TIMEOUT, async {
        let cluster = distob::Cluster::connect_profile(&one).await?;
        cluster.hub().shutdown_engine(e.node).await
    })
    .await;
    match asked {
        Ok(Ok(())) => {
            println!("engine {} stopped", e.node);
            Fate::Accounted
        }
        Ok(Err(err)) => {
            println!("engine {} at {} did not stop: {err}", e.node, e.addr);
            Fate::Unaccounted
        }
        Err(_) => {
            println!("engine {} at {} is not reachable", e.node, e.addr);
            Fate::Unaccounted
        }
    }
}

/// Runs the profile's stop commands; whether every one succeeded.
fn run_stop_commands(commands: &[Vec<String>]) -> bool {
    let mut all = true;
    for cmd in commands {
        let Some((program, args)) = cmd.split_first() else {
            continue;
        };
        match std::process::Command::new(program).args(args).status() {
            Ok(s) if s.success() => println!("ran: {}", cmd.join(" ")),
            Ok(s) => {
                all = false;
                println!("ran: {} ({s})", cmd.join(" "));
            }
            Err(e) => {
                all = false;
                println!("cannot run {program}: {e}");
            }
        }
    }
    all
}

/// The fallback for an engine started on this machine: if its recorded pid
/// is still that engine, SIGTERM and wait a little; if it is not (or no
/// process has the pid), the engine is gone.
fn stop_by_pid(profile: &Path, e: &EngineEntry) -> Fate {
    let Some(pid) = e.pid.filter(|_| is_this_machine(e.addr)) else {
        return Fate::Unaccounted;
    };
    match identify(pid, profile, e) {
        Process::Gone => {
            println!(
                "engine {}: no process has its pid {pid}: it is gone",
                e.node
            );
            return Fate::Accounted;
        }
        Process::Other => {
            println!(
                "engine {}: pid {pid} is another program now: it is gone",
                e.node
            );
            return Fate::Accounted;
        }
        Process::SomeEngine => {
            println!(
                "engine {}: pid {pid} is an engine this command did not start; not signalled",
                e.node
            );
            return Fate::Unaccounted;
        }
        Process::ThatEngine => {}
    }
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    let start = Instant::now();
    while signalled && start.elapsed() < EXIT_GRACE {
        if identify(pid, profile, e) != Process::ThatEngine {
            println!("engine {} stopped by its pid {pid}", e.node);
            return Fate::Accounted;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "engine {} (pid {pid}) still runs: kept in the profile",
        e.node
    );
    Fate::Unaccounted
}

/// Whether `addr` is an address of this machine: loopback, or the address
/// this machine itself would send from to reach it (no packet is sent).
fn is_this_machine(addr: SocketAddr) -> bool {
    if addr.ip().is_loopback() {
        return true;
    }
    let any: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    std::net::UdpSocket::bind(any)
        .and_then(|s| {
            s.connect(addr)?;
            s.local_addr()
        })
        .is_ok_and(|local| local.ip() == addr.ip())
}

/// What process `pid` is now.
#[derive(Debug, PartialEq, Eq)]
enum Process {
    /// No process (or a zombie) has the pid.
    Gone,
    /// The engine `distob cluster start` started as this entry: its
    /// command line names the node and this profile.
    ThatEngine,
    /// Some distob engine (its environment says so), not known to be this one.
    SomeEngine,
    /// Another program took the pid.
    Other,
}

fn identify(pid: u32, profile: &Path, e: &EngineEntry) -> Process {
    let running = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            != Some("Z")
    });
    let (true, Ok(cmdline)) = (running, std::fs::read(format!("/proc/{pid}/cmdline"))) else {
        return Process::Gone;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let has = |flag: &str, value: &[u8]| {
        args.windows(2)
            .any(|w| w[0] == flag.as_bytes() && w[1] == value)
    };
    let node = e.node.to_string();
    let path = std::fs::canonicalize(profile).unwrap_or_else(|_| profile.to_path_buf());
    if args.contains(&&b"engine"[..])
        && has("--node", node.as_bytes())
        && has("--profile", path.as_os_str().as_encoded_bytes())
    {
        return Process::ThatEngine;
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    if environ.split(|&b| b == 0).any(|v| v == b"DISTOB_ENGINE=1") {
        Process::SomeEngine
    } else {
        Process::Other
    }
}
