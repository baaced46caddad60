//! The `distob` command line: run an engine, start/stop/inspect a cluster of
//! engine processes, list objects.

mod stop;

use clap::{Parser, Subcommand};
use distob::cluster::TlsPolicy;
use distob::cluster::{ClusterKey, EngineEntry, Profile};
use distob::launch::{Launcher, Slurm, Ssh};
use distob::NodeId;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "distob",
    version,
    about = "Distributed computing with remote objects"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log more (-v: info, -vv: debug, -vvv: trace); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

/// Logs to standard error through `tracing-subscriber`: `RUST_LOG` if set,
/// else by `-v` (an engine logs at info by default, the rest at warn).
fn install_logging(verbose: u8, engine: bool) {
    let level = match (verbose, engine) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        (2, _) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // A subscriber set already (none here) keeps logging instead.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[derive(Subcommand)]
enum Command {
    /// Serve as an engine until Ctrl-C or SIGTERM.
    Engine {
        /// Address to listen on (default 127.0.0.1:0; with --join, port 0
        /// on the interface that routes back to the client).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Join the running cluster of this profile (written by a program
        /// whose `Cluster::launch` still runs): register with its client,
        /// which gives this engine its node id.
        #[arg(long, conflicts_with_all = ["profile", "node"])]
        join: Option<PathBuf>,
        /// Profile holding the cluster key.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Which connections are TLS: auto (those from non-loopback
        /// addresses, the default), always or never.
        #[arg(long, default_value = "auto")]
        tls: TlsPolicy,
        /// This engine's node id.
        #[arg(long, default_value_t = 0)]
        node: u32,
    },
    /// Start, stop or inspect a cluster of engine processes.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Serve the live dashboard of a cluster (engines, objects, events),
    /// read-only, until Ctrl-C.
    #[cfg(feature = "dashboard")]
    Dashboard {
        /// Where to serve it (loopback unless told otherwise).
        #[arg(long, default_value = "127.0.0.1:8265")]
        listen: SocketAddr,
        /// Profile of the cluster.
        #[arg(long)]
        profile: Option<PathBuf>,
    },
    /// List every object in the cluster.
    Ls {
        /// Profile of the cluster.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Start N engines (processes here, over ssh, or through Slurm) and
    /// write the profile.
    Start(Box<StartArgs>),
    /// Stop the engines of a profile. The profile is removed once every
    /// engine is stopped or known gone; else it keeps the engines still
    /// unaccounted for, for another try.
    Stop {
        /// The profile.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Remove the profile even if some engines could not be stopped.
        #[arg(long)]
        force: bool,
    },
    /// Show each engine's state.
    Status {
        /// The profile.
        #[arg(long)]
        profile: Option<PathBuf>,
    },
}

/// `cluster start`'s options.
#[derive(clap::Args)]
struct StartArgs {
    /// How many engines.
    #[arg(short = 'n', long, default_value_t = 2)]
    engines: u32,
    /// Where to write the profile.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Interface to listen on (engine processes on this machine).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Start the engines over ssh on these hosts (`host[:slots]`,
    /// comma-separated); they outlive this command.
    #[arg(long, value_delimiter = ',')]
    ssh: Vec<String>,
    /// Read the ssh hosts (`host[:slots]` lines) from this file.
    #[arg(long)]
    hosts_file: Option<PathBuf>,
    /// One more argument for every ssh command line (repeatable), e.g.
    /// `--ssh-option=-p --ssh-option=2222`.
    #[arg(long = "ssh-option", allow_hyphen_values = true)]
    ssh_options: Vec<String>,
    /// Start the engines through Slurm: `srun` inside an allocation,
    /// else (or with --sbatch) a job submitted with `sbatch`.
    #[arg(long)]
    slurm: bool,
    /// Submit a job with `sbatch` (from a login node).
    #[arg(long)]
    sbatch: bool,
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// Slurm time limit.
    #[arg(long)]
    time: Option<String>,
    /// Slurm account.
    #[arg(long)]
    account: Option<String>,
    /// Print the job script `sbatch` would get, and submit nothing.
    #[arg(long)]
    dry_run: bool,
    /// The engine program's path on the hosts (default: this `distob`).
    #[arg(long)]
    program: Option<PathBuf>,
    /// The address of this machine that engines dial back to (default:
    /// loopback for ssh to loopback, else the route to the first host,
    /// or this host's name for Slurm).
    #[arg(long)]
    join_ip: Option<std::net::IpAddr>,
    /// How long to wait for the engines to register, in seconds.
    #[arg(long, default_value_t = 120)]
    wait: u64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn profile_path(p: Option<PathBuf>) -> Result<PathBuf, BoxError> {
    match p {
        Some(p) => Ok(p),
        None => Ok(Profile::default_path()?),
    }
}

fn main() -> ExitCode {
    distob::engine::main_if_engine();
    let cli = Cli::parse();
    install_logging(cli.verbose, matches!(cli.command, Command::Engine { .. }));
    let result = match cli.command {
        Command::Engine {
            listen,
            profile,
            node,
            tls,
            join,
        } => match join {
            Some(path) => join_engine(listen, path, tls),
            None => engine(
                listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
                profile,
                NodeId(node),
                tls,
            ),
        },
        Command::Cluster { command } => match command {
            ClusterCommand::Start(args) => {
                let StartArgs {
                    engines,
                    profile,
                    host,
                    ssh,
                    hosts_file,
                    ssh_options,
                    slurm,
                    sbatch,
                    partition,
                    time,
                    account,
                    dry_run,
                    program,
                    join_ip,
                    wait,
                } = *args;
                let how = Launch {
                    n: engines as usize,
                    profile,
                    program,
                    join_ip,
                    wait: Duration::from_secs(wait),
                };
                if slurm || sbatch {
                    start_slurm(how, sbatch, partition, time, account, dry_run)
                } else if !ssh.is_empty() || hosts_file.is_some() {
                    start_ssh(how, ssh, hosts_file, ssh_options)
                } else {
                    start(engines, how.profile, host)
                }
            }
            ClusterCommand::Stop { profile, force } => {
                profile_path(profile).and_then(|p| runtime(stop::stop(p, force)))
            }
            ClusterCommand::Status { profile } => runtime(status(profile)),
        },
        Command::Ls { profile, json } => runtime(ls(profile, json)),
        #[cfg(feature = "dashboard")]
        Command::Dashboard { listen, profile } => runtime(dashboard(listen, profile)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                source = s.source();
            }
            eprintln!("distob: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(fut: impl std::future::Future<Output = Result<(), BoxError>>) -> Result<(), BoxError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(fut)
}

fn engine(
    listen: SocketAddr,
    profile: Option<PathBuf>,
    node: NodeId,
    tls: TlsPolicy,
) -> Result<(), BoxError> {
    let key = Profile::load(profile_path(profile)?)?.key;
    let engine = distob::Engine::new(node, key).with_tls(tls);
    distob::engine::run_engine(engine, listen, distob::engine::shutdown_signal())?;
    Ok(())
}

fn join_engine(listen: Option<SocketAddr>, path: PathBuf, tls: TlsPolicy) -> Result<(), BoxError> {
    let profile = Profile::load(path)?;
    let (engine, join) = distob::launch::join_token(&profile)?;
    let listen = match listen {
        Some(l) => l,
        None => distob::launch::route_back(join.addr)?,
    };
    distob::launch::run_engine_joining(
        engine.with_tls(tls),
        listen,
        Some(join),
        distob::engine::shutdown_signal(),
    )?;
    Ok(())
}

/// Where `cluster start` keeps its engines' logs: `<profile>-logs/` beside
/// the profile.
fn log_dir(profile: &std::path::Path) -> PathBuf {
    let stem = profile
        .file_stem()
        .map_or("profile".into(), |s| s.to_string_lossy().into_owned());
    profile.with_file_name(format!("{stem}-logs"))
}

/// Waits for an engine's ready line in its log; its address.
fn wait_ready(
    log: &std::path::Path,
    child: &mut std::process::Child,
    i: u32,
) -> Result<SocketAddr, BoxError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("DISTOB_ENGINE_READY")) {
            return line
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| format!("engine {i} printed a bad ready line: {line:?}").into());
        }
        if let Some(status) = child.try_wait()? {
            return Err(
                format!("engine {i} exited ({status}) before it was ready:\n{text}").into(),
            );
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "engine {i} was not ready within 20 s; its log: {}",
                log.display()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start(n: u32, profile: Option<PathBuf>, host: std::net::IpAddr) -> Result<(), BoxError> {
    let path = profile_path(profile)?;
    let key = ClusterKey::random()?;
    // Engines read the key from the profile: write it first, without engines.
    Profile::new(key.clone(), vec![]).save(&path)?;
    // Engines are told its absolute path, which `cluster stop` recognises
    // them by.
    let path = std::fs::canonicalize(&path)?;
    let logs = log_dir(&path);
    std::fs::create_dir_all(&logs)?;
    let exe = std::env::current_exe()?;
    let mut engines = Vec::new();
    let bar = indicatif::ProgressBar::new(u64::from(n)).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} engines started {pos}/{len} [{elapsed}] {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    for i in 0..n {
        bar.set_message(format!("starting engine {i}"));
        let log = logs.join(format!("engine-{i}.log"));
        let file = std::fs::File::create(&log)?;
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([
            "engine",
            "--listen",
            &format!("{host}:0"),
            "--node",
            &i.to_string(),
        ])
        .arg("--profile")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd.spawn()?;
        let addr = wait_ready(&log, &mut child, i)?;
        engines.push(EngineEntry {
            node: NodeId(i),
            addr,
            pid: Some(child.id()),
        });
        bar.suspend(|| println!("engine {i} listening on {addr} (pid {})", child.id()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Profile::new(key, engines).save(&path)?;
    println!("profile written to {}", path.display());
    println!("engine logs in {}", logs.display());
    Ok(())
}

/// What `cluster start` with a launcher needs.
struct Launch {
    n: usize,
    profile: Option<PathBuf>,
    program: Option<PathBuf>,
    join_ip: Option<std::net::IpAddr>,
    wait: Duration,
}

/// Starts engines with `launcher`, waits for them to register, writes the
/// profile (with the commands that stop them), and leaves them running.
fn launch_and_detach(launcher: impl Launcher + 'static, how: Launch) -> Result<(), BoxError> {
    let path = profile_path(how.profile)?;
    runtime(async move {
        let cluster = distob::Cluster::launch(launcher, how.n).await?;
        show_registrations(&cluster, how.n, how.wait).await;
        if let Err(e) = cluster.wait_for(how.n, Duration::ZERO).await {
            // Stop what did start (the launcher's stop commands included);
            // the error names what did not.
            let _ = cluster.shutdown().await;
            return Err(e.into());
        }
        let mut profile = cluster.profile();
        profile.stop = cluster.stop_commands();
        // Nobody listens for late joiners once this command ends.
        profile.join = None;
        for e in &profile.engines {
            let pid = e.pid.map_or("-".into(), |p| p.to_string());
            println!("engine {} listening on {} (pid {pid})", e.node, e.addr);
        }
        profile.save(&path)?;
        println!("profile written to {}", path.display());
        Ok(())
    })
}

/// Draws a bar of engines registered (k of n) while they come, naming the
/// first one still awaited and where it was started; returns once all have
/// come or `wait` has passed.
async fn show_registrations(cluster: &distob::Cluster, n: usize, wait: Duration) {
    let bar = indicatif::ProgressBar::new(n as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} engines registered {pos}/{len} [{elapsed}] {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let have = cluster.engines().len();
        bar.set_position(have as u64);
        if have >= n || tokio::time::Instant::now() >= deadline {
            break;
        }
        if let Some((node, place)) = cluster.pending_engines().first() {
            bar.set_message(format!("waiting for engine {node} on {place}"));
        }
        bar.tick();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bar.finish_and_clear();
}

fn start_ssh(
    how: Launch,
    hosts: Vec<String>,
    hosts_file: Option<PathBuf>,
    options: Vec<String>,
) -> Result<(), BoxError> {
    let mut ssh = match hosts_file {
        Some(f) => Ssh::from_hosts_file(f)?,
        None => Ssh::new(&hosts)?,
    };
    for o in options {
        ssh = ssh.option(o);
    }
    if let Some(p) = &how.program {
        ssh = ssh.program(p);
    }
    if let Some(ip) = how.join_ip {
        ssh = ssh.join_ip(ip);
    }
    launch_and_detach(ssh.detached(true), how)
}

fn start_slurm(
    how: Launch,
    sbatch: bool,
    partition: Option<String>,
    time: Option<String>,
    account: Option<String>,
    dry_run: bool,
) -> Result<(), BoxError> {
    let mut slurm = if sbatch {
        Slurm::sbatch()
    } else {
        Slurm::auto()
    };
    if let Some(p) = partition {
        slurm = slurm.partition(p);
    }
    if let Some(t) = time {
        slurm = slurm.time(t);
    }
    if let Some(a) = account {
        slurm = slurm.account(a);
    }
    if let Some(p) = &how.program {
        slurm = slurm.program(p);
    }
    if let Some(ip) = how.join_ip {
        slurm = slurm.join_ip(ip);
    }
    if dry_run {
        let program = slurm.program_path()?;
        let env = [
            ("DISTOB_ENGINE".to_string(), "1".to_string()),
            ("DISTOB_ENGINE_NODE".to_string(), "0".to_string()),
            (
                "DISTOB_ENGINE_JOIN".to_string(),
                "<this host>:<port>".to_string(),
            ),
            (
                "DISTOB_ENGINE_TOKENS".to_string(),
                "<one-time tokens>".to_string(),
            ),
            (
                "DISTOB_ENGINE_KEY_FILE".to_string(),
                "<key file, mode 0600>".to_string(),
            ),
        ];
        print!("{}", slurm.job_script(0, how.n, &program, &env));
        return Ok(());
    }
    launch_and_detach(slurm.detached(true), how)
}

async fn status(profile: Option<PathBuf>) -> Result<(), BoxError> {
    let profile = Profile::load(profile_path(profile)?)?;
    println!(
        "{:<6} {:<22} {:<8} {:<10} objects",
        "node", "address", "pid", "state"
    );
    for e in &profile.engines {
        let one = Profile::new(profile.key.clone(), vec![e.clone()]);
        let pid = e.pid.map_or("-".to_string(), |p| p.to_string());
        let state = match tokio::time::timeout(Duration::from_secs(5), async {
            let cluster = distob::Cluster::connect_profile(&one).await?;
            cluster.hub().engine(e.node).len().await
        })
        .await
        {
            Ok(Ok(n)) => ("up", n.to_string()),
            Ok(Err(_)) | Err(_) => ("down", "-".to_string()),
        };
        println!(
            "{:<6} {:<22} {:<8} {:<10} {}",
            e.node, e.addr, pid, state.0, state.1
        );
    }
    Ok(())
}

#[cfg(feature = "dashboard")]
async fn dashboard(listen: SocketAddr, profile: Option<PathBuf>) -> Result<(), BoxError> {
    let profile = Profile::load(profile_path(profile)?)?;
    let cluster = distob::Cluster::connect_profile(&profile).await?;
    let dashboard = cluster.serve_dashboard(listen).await?;
    println!("dashboard at {}", dashboard.url());
    distob::engine::shutdown_signal().await;
    dashboard.stop();
    Ok(())
}

async fn ls(profile: Option<PathBuf>, json: bool) -> Result<(), BoxError> {
    let profile = Profile::load(profile_path(profile)?)?;
    let cluster = distob::Cluster::connect_profile(&profile).await?;
    let mut rows = Vec::new();
    for node in cluster.engines() {
        for o in cluster.hub().engine(node).list().await? {
            rows.push(serde_json::json!({
                "ref": format!("{node}/{:#}", o.object),
                "node": node.0,
                "type": o.type_name,
                "nbytes": o.nbytes,
            }));
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{:<40} {:<40} {:>12}", "ref", "type", "bytes");
        for r in &rows {
            println!(
                "{:<40} {:<40} {:>12}",
                r["ref"].as_str().unwrap_or(""),
                r["type"].as_str().unwrap_or(""),
                r["nbytes"]
            );
        }
    }
    Ok(())
}
