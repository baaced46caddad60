//! The `distob` command line: run an engine, start/stop/inspect a cluster of
//! engine processes, list objects.

use clap::{Parser, Subcommand};
use distob::net::TlsPolicy;
use distob::{ClusterKey, EngineEntry, NodeId, Profile};
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
}

#[derive(Subcommand)]
enum Command {
    /// Serve as an engine until Ctrl-C or SIGTERM.
    Engine {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
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
    /// Start N engine processes in the background and write the profile.
    Start {
        /// How many engines.
        #[arg(short = 'n', long, default_value_t = 2)]
        engines: u32,
        /// Where to write the profile.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Interface to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
    },
    /// Stop the engines of a profile.
    Stop {
        /// The profile.
        #[arg(long)]
        profile: Option<PathBuf>,
    },
    /// Show each engine's state.
    Status {
        /// The profile.
        #[arg(long)]
        profile: Option<PathBuf>,
    },
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
    let result = match cli.command {
        Command::Engine {
            listen,
            profile,
            node,
            tls,
        } => engine(listen, profile, NodeId(node), tls),
        Command::Cluster { command } => match command {
            ClusterCommand::Start {
                engines,
                profile,
                host,
            } => start(engines, profile, host),
            ClusterCommand::Stop { profile } => runtime(stop(profile)),
            ClusterCommand::Status { profile } => runtime(status(profile)),
        },
        Command::Ls { profile, json } => runtime(ls(profile, json)),
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
    distob::engine::run_engine(engine, listen, std::future::pending())?;
    Ok(())
}

fn start(n: u32, profile: Option<PathBuf>, host: std::net::IpAddr) -> Result<(), BoxError> {
    use std::io::BufRead;
    let path = profile_path(profile)?;
    let key = ClusterKey::random();
    // Engines read the key from the profile: write it first, without engines.
    Profile::new(key.clone(), vec![]).save(&path)?;
    let exe = std::env::current_exe()?;
    let mut engines = Vec::new();
    for i in 0..n {
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
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().ok_or("engine has no stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let addr: SocketAddr = line
            .split_whitespace()
            .nth(2)
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("engine {i} did not start: {line:?}"))?;
        engines.push(EngineEntry {
            node: NodeId(i),
            addr,
            pid: Some(child.id()),
        });
        println!("engine {i} listening on {addr} (pid {})", child.id());
    }
    Profile::new(key, engines).save(&path)?;
    println!("profile written to {}", path.display());
    Ok(())
}

async fn stop(profile: Option<PathBuf>) -> Result<(), BoxError> {
    let path = profile_path(profile)?;
    let profile = Profile::load(&path)?;
    for e in &profile.engines {
        let one = Profile::new(profile.key.clone(), vec![e.clone()]);
        match tokio::time::timeout(
            Duration::from_secs(5),
            distob::Cluster::connect_profile(&one),
        )
        .await
        {
            Ok(Ok(cluster)) => {
                cluster.hub().shutdown_engine(e.node).await?;
                println!("engine {} stopped", e.node);
            }
            _ => println!("engine {} at {} is not reachable", e.node, e.addr),
        }
    }
    std::fs::remove_file(&path)?;
    Ok(())
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
