//! [`Started`]: one launch command as it runs, with what it printed.

use crate::cluster::logs::{forward, Stream};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};

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
        let label = match (nodes.first(), nodes.last()) {
            (Some(a), Some(b)) if a != b => format!("{a}..{b}"),
            (Some(a), _) => a.to_string(),
            _ => String::new(),
        };
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect(out, output.clone(), label.clone(), Stream::Stdout));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect(err, output.clone(), label, Stream::Stderr));
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

/// Keeps what a launch command prints (for error messages) and forwards
/// each line to the client's tracing (see `logs`).
async fn collect(
    stream: impl AsyncRead + Unpin,
    output: Arc<Mutex<String>>,
    node: String,
    from: Stream,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        keep(&output, &line);
        keep(&output, "\n");
        // The ready line is the engine's word to its starter.
        if !line.contains(crate::cluster::process::READY_PREFIX) {
            forward(&node, from, &line);
        }
    }
}
