//! Engine processes: the program itself re-run in engine mode, or the stock
//! `distob` binary.
//!
//! A parent starts a child with `DISTOB_ENGINE=1`, `DISTOB_ENGINE_NODE` and
//! `DISTOB_ENGINE_LISTEN` in its environment and the cluster key as the first
//! line of its standard input. The child binds, prints
//! `DISTOB_ENGINE_READY <node> <addr>` on standard output, and serves until
//! its standard input closes (the parent is gone), Ctrl-C or SIGTERM.

use super::logs::Stream;
use super::LaunchError;
use crate::actors::Engine;
use crate::id::NodeId;
use crate::net::{ClusterKey, TlsPolicy};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Set by [`main_if_engine`]: this executable can serve as an engine for
/// its own types.
static ENGINE_CAPABLE: AtomicBool = AtomicBool::new(false);

/// The line an engine prints once it listens.
pub(crate) const READY_PREFIX: &str = "DISTOB_ENGINE_READY";

/// How long a started engine has to report its address.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Call first thing in `main` (or use `#[distob::main]`): when this process
/// was started as an engine by [`Cluster::spawn`](crate::Cluster::spawn), it
/// serves as one and exits; otherwise it returns at once, and later
/// `Cluster::spawn` calls start engines from this executable, so that they
/// host this program's own types.
///
/// ```no_run
/// distob::engine::main_if_engine();
/// // ... the program proper
/// ```
pub fn main_if_engine() {
    ENGINE_CAPABLE.store(true, Ordering::Relaxed);
    serve_if_engine();
}

/// When this process was started as an engine, serves as one and exits.
fn serve_if_engine() {
    if std::env::var_os("DISTOB_ENGINE").is_some_and(|v| v == "1") {
        let code = match run_from_env() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("distob engine: {}", crate::cluster::report(&e));
                1
            }
        };
        std::process::exit(code);
    }
}

/// A test binary that can serve as engines for its own types: what
/// [`test_engine!`](crate::test_engine) registers (the path of the test
/// that serves).
#[doc(hidden)]
#[derive(Debug)]
pub struct TestEngine {
    /// The test's path in its binary, with the crate name first.
    pub test: &'static str,
}

inventory::collect!(TestEngine);

/// The body of the test that [`test_engine!`](crate::test_engine) adds:
/// serves as an engine when started as one, else does nothing.
#[doc(hidden)]
pub fn serve_test_engine() {
    serve_if_engine();
}

/// The test this binary serves engines from, if it has one.
fn test_engine() -> Option<&'static str> {
    inventory::iter::<TestEngine>
        .into_iter()
        .next()
        .map(|t| t.test.split_once("::").map_or(t.test, |(_, path)| path))
}

/// The arguments that make `program` serve as an engine: for this test
/// binary (one with [`test_engine!`](crate::test_engine)), those that run
/// only its engine test with its output passed through; none otherwise.
pub(crate) fn engine_args(program: &std::path::Path) -> Vec<String> {
    let this = std::env::current_exe().ok();
    match test_engine() {
        Some(test)
            if !ENGINE_CAPABLE.load(Ordering::Relaxed) && this.as_deref() == Some(program) =>
        {
            ["--exact", test, "--nocapture", "--test-threads", "1"]
                .map(String::from)
                .to_vec()
        }
        _ => Vec::new(),
    }
}

fn env_var<T: std::str::FromStr>(name: &'static str, default: Option<T>) -> Result<T, LaunchError> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| LaunchError::BadEnv { name }),
        Err(_) => default.ok_or(LaunchError::BadEnv { name }),
    }
}

fn run_from_env() -> Result<(), LaunchError> {
    super::logs::install_engine_subscriber();
    let mut node = NodeId(env_var("DISTOB_ENGINE_NODE", None)?);
    let join: Option<Join> = match std::env::var("DISTOB_ENGINE_JOIN") {
        Ok(addr) => {
            let addr = addr.parse().map_err(|_| LaunchError::BadEnv {
                name: "DISTOB_ENGINE_JOIN",
            })?;
            // One engine of a batch (srun, sbatch): its task index picks its
            // slot after the batch's first and its token from the list.
            let token = match std::env::var("DISTOB_ENGINE_TOKENS") {
                Ok(list) => {
                    let task: usize = env_var("SLURM_PROCID", Some(0))?;
                    node = NodeId(node.0 + task as u32);
                    list.split(',').nth(task).unwrap_or("").to_string()
                }
                Err(_) => env_var::<String>("DISTOB_ENGINE_TOKEN", None)?,
            };
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(token, &mut bytes).map_err(|_| LaunchError::BadEnv {
                name: "DISTOB_ENGINE_TOKEN",
            })?;
            Some(Join { addr, token: bytes })
        }
        Err(_) => None,
    };
    // A joining engine listens on the interface its route back to the
    // client leaves from, unless told otherwise.
    let default_listen = match &join {
        Some(j) => route_back(j.addr)?,
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let listen: SocketAddr = env_var("DISTOB_ENGINE_LISTEN", Some(default_listen))?;
    let tls: TlsPolicy = env_var("DISTOB_ENGINE_TLS", Some(TlsPolicy::Auto))?;
    // The key: from a file (batch jobs, which outlive whoever submitted
    // them), else the first line of standard input, whose end then means
    // the parent is gone.
    let (key, stop): (_, std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) =
        match std::env::var_os("DISTOB_ENGINE_KEY_FILE") {
            Some(path) => {
                let text = std::fs::read_to_string(&path)?;
                if std::env::var_os("DISTOB_ENGINE_KEY_FILE_REMOVE").is_some() {
                    // Read once: the copy on disk is not needed any more.
                    let _ = std::fs::remove_file(&path);
                }
                let key = ClusterKey::from_hex(&text).ok_or(LaunchError::BadEnv {
                    name: "DISTOB_ENGINE_KEY_FILE",
                })?;
                (key, Box::pin(std::future::pending()))
            }
            None => {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let key = ClusterKey::from_hex(&line).ok_or(LaunchError::BadEnv {
                    name: "the key line on standard input",
                })?;
                let (gone_tx, gone_rx) = tokio::sync::oneshot::channel::<()>();
                std::thread::Builder::new()
                    .name("distob-parent-watch".into())
                    .spawn(move || {
                        let mut sink = String::new();
                        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
                            sink.clear();
                        }
                        let _ = gone_tx.send(());
                    })?;
                (
                    key,
                    Box::pin(async move {
                        let _ = gone_rx.await;
                    }),
                )
            }
        };
    let settings = super::Settings::from_env().map_err(|_| LaunchError::BadEnv {
        name: "a DISTOB_* setting",
    })?;
    let engine = Engine::new(node, key)
        .with_tls(settings.tls.unwrap_or(tls))
        .with_limits(settings.engine_limits())
        .with_connect_timeout(settings.connect_timeout())
        .with_latency(settings.latency.unwrap_or_default());
    let stop = async move {
        tokio::select! {
            _ = stop => {}
            _ = shutdown_signal() => {}
        }
    };
    run_engine_joining(engine, listen, join, stop)
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM: for programs whose engine
/// should stop on a signal, as `distob engine` and engine processes do.
/// [`run_engine`] installs no signal handler of its own (the host program
/// keeps its signals); pass this, or a future of your own, as its `stop`.
///
/// ```no_run
/// use distob::{Engine, NodeId, cluster::ClusterKey};
/// let engine = Engine::new(NodeId(0), ClusterKey::random()?);
/// distob::engine::run_engine(engine, "127.0.0.1:0".parse()?, distob::engine::shutdown_signal())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn shutdown_signal() {
    let terminated = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut s) = signal(SignalKind::terminate()) {
                s.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
}

/// Runs `engine` on this thread, listening on `listen`, until `stop`
/// completes or a peer asks it to stop. Prints the ready line once it
/// listens. Installs no signal handler: the host program keeps Ctrl-C and
/// SIGTERM (pass [`shutdown_signal`] as `stop` to stop on them).
pub fn run_engine(
    engine: Engine,
    listen: SocketAddr,
    stop: impl std::future::Future<Output = ()> + 'static,
) -> Result<(), LaunchError> {
    run_engine_joining(engine, listen, None, stop)
}

/// An engine started by hand that joins the running cluster of `profile`
/// (its [`JoinPoint`](super::JoinPoint)): the engine to run (as a
/// placeholder node until the client gives it one) and where to register.
/// Run them with [`run_engine_joining`], listening where
/// [`route_back`] says.
pub fn join_token(profile: &super::Profile) -> Result<(Engine, Join), LaunchError> {
    let point = profile.join.as_ref().ok_or(LaunchError::BadEnv {
        name: "the profile's join point (written by a running Cluster::launch)",
    })?;
    let mut launch = [0u8; 32];
    hex::decode_to_slice(&point.launch, &mut launch).map_err(|_| LaunchError::BadEnv {
        name: "the profile's join launch",
    })?;
    let token = profile.key.join_token(&launch, super::registrar::JOINING.0);
    let engine = Engine::new(super::registrar::JOINING, profile.key.clone());
    Ok((
        engine,
        Join {
            addr: point.addr,
            token,
        },
    ))
}

/// Where an engine that registers at `join` listens by default: port 0 on
/// the interface its route to the client leaves from.
pub fn route_back(join: SocketAddr) -> std::io::Result<SocketAddr> {
    Ok(SocketAddr::new(super::launch::route_to(join.ip())?, 0))
}

/// Where a launched engine registers, and its one-time token.
#[derive(Debug, Clone, Copy)]
pub struct Join {
    /// The client's registration address.
    pub addr: SocketAddr,
    /// The token the launcher handed over.
    pub token: [u8; 32],
}

/// [`run_engine`], registering with the client at `join` (when given)
/// after binding and before serving anyone. An engine that joins by
/// profile ([`join_token`]) serves as the node id the client gives it.
pub fn run_engine_joining(
    mut engine: Engine,
    listen: SocketAddr,
    join: Option<Join>,
    stop: impl std::future::Future<Output = ()> + 'static,
) -> Result<(), LaunchError> {
    actix_rt::System::new().block_on(async move {
        let node = engine.node();
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() && !engine.tls().wants_tls(addr.ip()) {
            // On standard error, not only to tracing: whoever started the
            // engine must see it even without a subscriber.
            eprintln!(
                "distob engine {node}: warning: listening on {addr}, a non-loopback address, without TLS: \
                 traffic is authenticated but not encrypted"
            );
            tracing::warn!(%addr, "engine listens on a non-loopback address without TLS");
        }
        if let Some(j) = join {
            let given =
                super::registrar::register_with(j.addr, engine.key(), node, engine.tls(), j.token, addr)
                    .await
                    .map_err(|source| LaunchError::Register {
                        join: j.addr,
                        source,
                    })?;
            engine = engine.renamed(given);
        }
        let node = engine.node();
        println!("{READY_PREFIX} {node} {addr}");
        use std::io::Write;
        std::io::stdout().flush()?;
        engine.serve(listener, stop).await?;
        Ok(())
    })
}

/// The program to start engines from: `$DISTOB_ENGINE_BIN`, else this
/// executable when it called [`main_if_engine`] (or is a test binary with
/// [`test_engine!`](crate::test_engine)), else the `distob` binary
/// beside this executable (or one folder up, as in `target/debug/deps`),
/// else `distob` on `PATH`.
pub fn engine_program() -> Result<PathBuf, LaunchError> {
    if let Some(p) = std::env::var_os("DISTOB_ENGINE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    if ENGINE_CAPABLE.load(Ordering::Relaxed) || test_engine().is_some() {
        return Ok(exe);
    }
    let name = format!("distob{}", std::env::consts::EXE_SUFFIX);
    let mut dir = exe.parent();
    for _ in 0..2 {
        if let Some(d) = dir {
            let candidate = d.join(&name);
            if candidate.is_file() {
                return Ok(candidate);
            }
            dir = d.parent();
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            let candidate = d.join(&name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(LaunchError::NoProgram)
}

/// One engine process started by this program.
#[derive(Debug)]
pub struct EngineProcess {
    node: NodeId,
    addr: SocketAddr,
    child: tokio::process::Child,
    // Held open: the engine exits when it closes.
    _stdin: tokio::process::ChildStdin,
}

impl EngineProcess {
    /// Starts `program` as engine `node` listening on `listen`, and waits
    /// for it to report its address.
    pub async fn start(
        program: &std::path::Path,
        node: NodeId,
        listen: SocketAddr,
        key: &ClusterKey,
    ) -> Result<EngineProcess, LaunchError> {
        let mut child = tokio::process::Command::new(program)
            .args(engine_args(program))
            .env("DISTOB_ENGINE", "1")
            .env("DISTOB_ENGINE_NODE", node.0.to_string())
            .env("DISTOB_ENGINE_LISTEN", listen.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| LaunchError::Spawn {
                program: program.to_owned(),
                source,
            })?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(LaunchError::Io(std::io::ErrorKind::BrokenPipe.into()));
        };
        let label = node.to_string();
        tokio::spawn(forward_lines(
            BufReader::new(stderr).lines(),
            label.clone(),
            Stream::Stderr,
        ));
        stdin
            .write_all(format!("{}\n", key.to_hex()).as_bytes())
            .await?;
        stdin.flush().await?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = read_ready(node, &mut lines, &mut child).await?;
        tokio::spawn(forward_lines(lines, label, Stream::Stdout));
        Ok(EngineProcess {
            node,
            addr,
            child,
            _stdin: stdin,
        })
    }

    /// The engine's node id.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id (None once it has been reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills it at once (SIGKILL).
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.start_kill()
    }
}

/// Forwards what an engine prints to the client's tracing (see `logs`).
async fn forward_lines(
    mut lines: tokio::io::Lines<BufReader<impl tokio::io::AsyncRead + Unpin>>,
    node: String,
    from: Stream,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        super::logs::forward(&node, from, &line);
    }
}

/// Reads the ready line of engine `node` from its standard output (what
/// comes before it is forwarded).
pub(crate) async fn read_ready(
    node: NodeId,
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    child: &mut tokio::process::Child,
) -> Result<SocketAddr, LaunchError> {
    let wait = async {
        while let Some(line) = lines.next_line().await? {
            // Anywhere in the line: a test harness may print before it.
            if let Some(rest) = line
                .find(READY_PREFIX)
                .map(|i| &line[i + READY_PREFIX.len()..])
            {
                let addr = rest.split_whitespace().nth(1).and_then(|a| a.parse().ok());
                return addr.ok_or(LaunchError::BadReadyLine { node, line });
            }
            super::logs::forward(&node.to_string(), Stream::Stdout, &line);
        }
        let status = child.wait().await?;
        Err(LaunchError::Exited { node, status })
    };
    match tokio::time::timeout(READY_TIMEOUT, wait).await {
        Ok(result) => result,
        Err(_) => Err(LaunchError::NotReady {
            node,
            secs: READY_TIMEOUT.as_secs(),
        }),
    }
}
