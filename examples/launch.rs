//! Engines on other machines: over ssh, or through Slurm. Each engine dials
//! back to this program, proves the cluster key and its one-time token, and
//! joins; then the program computes on them as on any cluster.
//!
//! ```sh
//! cargo run --example launch -- --dry-run                  # what would run, nothing started
//! cargo run --example launch -- --ssh node1,node2:4        # 5 engines over ssh
//! cargo run --example launch -- --slurm -n 8               # srun inside an allocation, else sbatch
//! ```
//!
//! The engines run the `distob` binary (or `--program PATH` on the hosts),
//! which hosts the built-in types: numbers, strings, collections, arrays.

use distob::launch::{Launcher, Slurm, Ssh};
use distob::Cluster;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// The environment an engine is started with (tokens and the join address
/// are made by the cluster when it launches).
fn example_env(first: usize) -> Vec<(String, String)> {
    [
        ("DISTOB_ENGINE", "1".to_string()),
        ("DISTOB_ENGINE_NODE", first.to_string()),
        ("DISTOB_ENGINE_JOIN", "<this host>:<port>".to_string()),
        ("DISTOB_ENGINE_TOKEN", "<one-time token>".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Prints what the launchers would run, starting nothing.
fn dry_run(ssh: &Ssh, slurm: &Slurm, n: usize, program: &Path) {
    // (`n` is for Slurm; over ssh there is one engine per slot.)
    println!("# over ssh, one command per engine:");
    let slots: usize = ssh.hosts().iter().map(|(_, s)| s).sum();
    for slot in 0..slots {
        let cmd = ssh.command(slot, program, &example_env(slot));
        let std = cmd.as_std();
        let line: Vec<String> = std::iter::once(std.get_program())
            .chain(std.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        println!("{}  # on {}", line.join(" "), ssh.place(slot));
    }
    println!();
    println!("# through Slurm (sbatch), one job for all {n} engines:");
    print!("{}", slurm.job_script(0, n, program, &example_env(0)));
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = arg("-n").map_or(Ok(2), |n| n.parse())?;
    let program = PathBuf::from(arg("--program").unwrap_or_else(|| "distob".into()));
    // A dry run shows two hosts by default; nothing is contacted.
    let default_hosts = if flag("--dry-run") {
        "node1,node2:2"
    } else {
        "localhost"
    };
    let hosts: Vec<String> = arg("--ssh")
        .unwrap_or_else(|| default_hosts.into())
        .split(',')
        .map(String::from)
        .collect();
    let ssh = Ssh::new(&hosts)?.program(&program);
    let slurm = Slurm::sbatch().program(&program).time("00:30:00");
    if flag("--dry-run") {
        dry_run(&ssh, &slurm, n, &program);
        return Ok(());
    }
    let cluster = if flag("--slurm") {
        Cluster::launch(Slurm::auto().program(&program), n).await?
    } else {
        let slots = ssh.hosts().iter().map(|(_, s)| s).sum();
        Cluster::launch(ssh, slots).await?
    };
    let want = cluster.pending_engines().len().max(cluster.engines().len());
    cluster.wait_for(want, Duration::from_secs(120)).await?;
    println!("{} engines joined", cluster.engines().len());
    let xs = cluster.scatter_each((0..want as u64).collect()).await?;
    let back: Vec<u64> = cluster.gather(&xs).await?;
    println!("gathered {back:?} from {:?}", cluster.engines());
    cluster.shutdown().await?;
    Ok(())
}
