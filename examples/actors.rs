//! Actors that address each other: a small word-count pipeline.
//!
//! - a named `Registry` that workers find by name and report to;
//! - `Worker`s that receive handles to each other and pass work along from
//!   engine code (each counts the words of its share and hands the rest to
//!   the next worker, engine to engine);
//! - the result coming back to the client;
//! - a second client (another process) that attaches to the registry by
//!   name and reads it while the first one still runs.
//!
//! Run: `cargo run --release --example actors` (four in-process engines;
//! set `ACTORS_PROCESSES=1` for four engine processes, which also runs the
//! second client as a process of its own).
#![allow(missing_docs, unreachable_pub)]

use distob::{Cluster, Ctx, Remote};
use serde::{Deserialize, Serialize};

/// Where workers report: a tally of words per worker, found by name.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Registry {
    counts: Vec<(u32, usize)>,
}

#[distob::remote]
impl Registry {
    pub fn report(&mut self, engine: u32, words: usize) {
        self.counts.push((engine, words));
    }

    pub fn total(&self) -> usize {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    pub fn reports(&self) -> Vec<(u32, usize)> {
        self.counts.clone()
    }
}

/// One stage: counts the words of the first line it is given (the last
/// stage: of all of them), reports to the registry, and passes the other
/// lines to the next worker.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Worker {
    next: Option<Remote<Worker>>,
}

#[distob::remote]
impl Worker {
    pub fn then(&mut self, next: Remote<Worker>) {
        self.next = Some(next);
    }

    /// Counts its share of `lines`, reports it, and hands the rest on; the
    /// words of all of them.
    pub async fn count(&self, ctx: &Ctx, lines: Vec<String>) -> Result<usize, String> {
        let (mine, rest) = match &self.next {
            Some(_) => lines.split_at(lines.len().min(1)),
            None => (&lines[..], &[][..]),
        };
        let words: usize = mine.iter().map(|l| l.split_whitespace().count()).sum();
        let registry: RemoteRegistry = ctx
            .lookup("registry")
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no registry")?;
        // Sent now; not awaited: a one-way report.
        drop(registry.report(ctx.node().0, words));
        match (&self.next, rest.is_empty()) {
            (Some(next), false) => {
                let later = next.count(rest.to_vec()).await.map_err(|e| e.to_string())?;
                Ok(words + later)
            }
            _ => Ok(words),
        }
    }
}

const TEXT: &str = "the quick brown fox
jumps over the lazy dog
actors hold handles to each other
and call each other from engine code
wherever they live";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[distob::main]
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if let Ok(profile) = std::env::var("ACTORS_SECOND_CLIENT") {
        return second_client(&profile).await;
    }
    let processes = std::env::var_os("ACTORS_PROCESSES").is_some();
    let cluster = if processes {
        Cluster::spawn(4).await?
    } else {
        Cluster::local(4).await?
    };
    let registry = cluster
        .get_or_scatter_named("registry", Registry::default)
        .await?;
    // Four workers, one per engine, each holding a handle to the next.
    let workers: Vec<RemoteWorker> = cluster
        .scatter_each((0..4).map(|_| Worker::default()).collect())
        .await?;
    for pair in workers.windows(2) {
        pair[0].then(pair[1].clone()).await?;
    }
    let lines: Vec<String> = TEXT.lines().map(str::to_owned).collect();
    // One call; the pipeline runs engine to engine.
    let words = workers[0].count(lines).await?;
    println!(
        "{words} words, counted across {} engines",
        cluster.engines().len()
    );
    println!("reports (engine, words): {:?}", registry.reports().await?);

    // A second client finds the registry by name while this one runs.
    if processes {
        let dir = std::env::temp_dir().join(format!("distob-actors-{}", std::process::id()));
        let path = dir.join("profile.json");
        cluster.profile().save(&path)?;
        let status = std::process::Command::new(std::env::current_exe()?)
            .env("ACTORS_SECOND_CLIENT", &path)
            .status()?;
        let _ = std::fs::remove_dir_all(&dir);
        println!("second client: {status}");
    } else {
        let again: RemoteRegistry = cluster.lookup("registry").await?.ok_or("no registry")?;
        println!("found by name: {} words in total", again.total().await?);
    }
    // Named objects are detached: end the registry explicitly.
    registry.kill().await?;
    cluster.shutdown().await?;
    Ok(())
}

async fn second_client(profile: &str) -> Result<(), BoxError> {
    let cluster = Cluster::connect(profile).await?;
    let registry: Option<RemoteRegistry> = cluster.lookup("registry").await?;
    match registry {
        Some(r) => println!(
            "second client: the registry says {} words",
            r.total().await?
        ),
        None => println!("second client: no registry"),
    }
    Ok(())
}
