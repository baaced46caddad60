//! The Slurm launcher against a real single-node Slurm cluster that this
//! test starts itself (`cluster.sh`: munged, slurmctld and slurmd on
//! 127.0.0.1 with a generated slurm.conf in a temporary folder): engines
//! started by `srun` inside an allocation (`salloc`), and by `sbatch` from
//! outside one; both serve, and stopping the cluster cancels the job.
//!
//! Needs root, munge and slurm-wlm (`.ci/run` installs them); anywhere else
//! it says why and passes. The test binary plays two roles: the
//! orchestrator (default) and the client inside the allocation
//! (`in-allocation`).
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../common/mod.rs"]
mod common;

use common::{alive, cluster_stop, distob_bin, within, StopOnDrop};
use distob::launch::Slurm;
use distob::{Cluster, NodeId};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TOOLS: [&str; 8] = [
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
    "/usr/sbin/munged",
    "/usr/bin/srun",
    "/usr/bin/sbatch",
    "/usr/bin/salloc",
    "/usr/bin/scancel",
    "/usr/bin/squeue",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("in-allocation") => return runtime().block_on(in_allocation()),
        Some("cli-in-allocation") => return runtime().block_on(cli_in_allocation()),
        _ => {}
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !root || TOOLS.iter().any(|t| !Path::new(t).exists()) {
        println!("slurm: skipped — needs root, munge and slurm-wlm to run a test Slurm cluster");
        println!("0 passed, 0 failed");
        return;
    }
    let slurm = SlurmCluster::start();
    srun_inside_an_allocation(&slurm);
    println!("test slurm::srun_inside_an_allocation_starts_engines_that_serve ... ok");
    runtime().block_on(sbatch_from_outside(&slurm));
    println!("test slurm::sbatch_engines_serve_and_stop_cancels_the_job ... ok");
    runtime().block_on(cli_sbatch_start_and_stop(&slurm));
    println!("test slurm::cli_cluster_start_with_sbatch_and_cluster_stop ... ok");
    let said = run_in_allocation(&slurm, "cli-in-allocation");
    assert!(
        said.contains("cli srun engines served and stopped"),
        "{said}"
    );
    println!("test slurm::cli_cluster_start_with_srun_inside_an_allocation ... ok");
    println!("4 passed, 0 failed");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The test's own Slurm cluster, stopped on drop.
struct SlurmCluster {
    dir: tempfile::TempDir,
}

impl SlurmCluster {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/cluster.sh")
    }

    fn start() -> SlurmCluster {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg(Self::script())
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slurm did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Every Slurm command below (and the launcher's) reads this.
        std::env::set_var("SLURM_CONF", dir.path().join("slurm.conf"));
        SlurmCluster { dir }
    }

    fn logs(&self) -> String {
        ["slurmctld.log", "slurmd.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .map(|t| t.lines().rev().take(15).collect::<Vec<_>>().join("\n"))
            .collect::<Vec<_>>()
            .join("\n--\n")
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Self::script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// The engine processes of `pids` that still run.
fn running(pids: &[u32]) -> Vec<u32> {
    pids.iter().copied().filter(|&p| alive(p)).collect()
}

fn environ(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', "\n"))
        .unwrap_or_default()
}

fn srun_inside_an_allocation(slurm: &SlurmCluster) {
    let said = run_in_allocation(slurm, "in-allocation");
    assert!(said.contains("srun engines served and ended"), "{said}");
}

/// Runs this test binary as `role` inside `salloc --ntasks=2`; its output.
fn run_in_allocation(slurm: &SlurmCluster, role: &str) -> String {
    let mut child = Command::new("salloc")
        .args(["--ntasks=2", "--time=5"])
        .arg(std::env::current_exe().unwrap())
        .arg(role)
        .env("DISTOB_HOME", slurm.dir.path().join(role))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("salloc did not finish in 120 s\n{}", slurm.logs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    print!(
        "{}",
        stdout
            .lines()
            .map(|l| format!("allocation: {l}\n"))
            .collect::<String>()
    );
    assert!(
        status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        slurm.logs()
    );
    stdout
}

/// Inside `salloc`: `distob cluster start --slurm` (a detached srun step),
/// a client, then `distob cluster stop`.
async fn cli_in_allocation() {
    let home = PathBuf::from(std::env::var_os("DISTOB_HOME").unwrap());
    let profile = home.join("profile.json");
    let _stop = StopOnDrop(profile.clone());
    let out = Command::new(distob_bin())
        .args([
            "cluster",
            "start",
            "-n",
            "2",
            "--slurm",
            "--join-ip",
            "127.0.0.1",
        ])
        .arg("--program")
        .arg(distob_bin())
        .arg("--profile")
        .arg(&profile)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let p = distob::cluster::Profile::load(&profile).unwrap();
    let pids: Vec<u32> = p.engines.iter().filter_map(|e| e.pid).collect();
    assert_eq!(pids.len(), 2);
    for &pid in &pids {
        assert!(
            environ(pid).contains("SLURM_STEP_ID="),
            "engine {pid} is not an srun task"
        );
    }
    // What `cluster stop` runs besides asking the engines: a kill of the
    // detached srun (which cancels the step), guarded by the launch's mark.
    assert!(
        p.stop
            .iter()
            .any(|c| c.join(" ").contains("DISTOB_ENGINE_JOIN=")),
        "{:?}",
        p.stop
    );
    // The engines outlived `cluster start`.
    let cluster = within(Cluster::connect(&profile)).await.unwrap();
    let x = within(cluster.scatter_to(NodeId(0), 7i64)).await.unwrap();
    assert_eq!(within(cluster.gather(&x)).await.unwrap(), 7);
    drop((x, cluster));
    let stop = cluster_stop(&profile);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    common::eventually("cluster stop ends the srun engines", || async {
        running(&pids).is_empty()
    })
    .await;
    println!("cli srun engines served and stopped: {pids:?}");
}

/// Inside `salloc`: engines by `srun`, one task each.
async fn in_allocation() {
    assert!(
        std::env::var_os("SLURM_JOB_ID").is_some(),
        "not inside an allocation"
    );
    let launcher = Slurm::auto()
        .join_ip("127.0.0.1".parse().unwrap())
        .program(distob_bin());
    let cluster = within(Cluster::launch(launcher, 2)).await.unwrap();
    within(cluster.wait_for(2, Duration::from_secs(60)))
        .await
        .unwrap();
    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    for &pid in &pids {
        let env = environ(pid);
        assert!(
            env.contains("SLURM_STEP_ID=") && env.contains("SLURM_PROCID="),
            "engine {pid} was not started by srun"
        );
    }
    let xs = within(cluster.scatter_each(vec![1.5f64, 2.5, 3.5]))
        .await
        .unwrap();
    assert_eq!(
        xs.iter().map(|x| x.node()).collect::<Vec<_>>(),
        [NodeId(0), NodeId(1), NodeId(0)]
    );
    assert_eq!(
        within(cluster.gather(&xs)).await.unwrap(),
        vec![1.5, 2.5, 3.5]
    );
    drop(xs);
    within(cluster.shutdown()).await.unwrap();
    common::eventually("the srun engines end", || async {
        running(&pids).is_empty()
    })
    .await;
    println!("srun engines served and ended: {pids:?}");
}

/// From outside any allocation: a job by `sbatch`; shutdown cancels it.
async fn sbatch_from_outside(slurm: &SlurmCluster) {
    let jobs = slurm.dir.path().join("jobs");
    let launcher = Slurm::sbatch()
        .partition("debug")
        .time("00:05:00")
        .join_ip("127.0.0.1".parse().unwrap())
        .job_dir(&jobs)
        .program(distob_bin());
    let cluster = within(Cluster::launch(launcher, 2)).await.unwrap();
    if let Err(e) = within(cluster.wait_for(2, Duration::from_secs(90))).await {
        panic!("{e:?}\n{}", slurm.logs());
    }
    // The generated script is what sbatch ran.
    let script = std::fs::read_dir(&jobs)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".sh"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(
        script.contains("#SBATCH --ntasks=2") && script.contains("srun"),
        "{script}"
    );
    let pids: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    let job = environ(pids[0])
        .lines()
        .find_map(|l| l.strip_prefix("SLURM_JOB_ID=").map(str::to_string))
        .expect("the engine runs in a Slurm job");
    let xs = within(cluster.scatter_each(vec!["a".to_string(), "b".to_string()]))
        .await
        .unwrap();
    assert_eq!(within(cluster.gather(&xs)).await.unwrap(), ["a", "b"]);
    drop(xs);
    within(cluster.shutdown()).await.unwrap();
    common::eventually("the job is cancelled and its engines end", || async {
        let queued = Command::new("squeue")
            .args(["-h", "-j", &job, "-o", "%T"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        running(&pids).is_empty() && !queued.contains("RUNNING")
    })
    .await;
    println!("sbatch job {job}: engines {pids:?} served, job cancelled");
}

/// `distob cluster start --slurm --sbatch`, then `cluster stop`.
async fn cli_sbatch_start_and_stop(slurm: &SlurmCluster) {
    let home = slurm.dir.path().join("home");
    let profile = home.join("profile.json");
    let dry = Command::new(distob_bin())
        .args([
            "cluster",
            "start",
            "-n",
            "3",
            "--slurm",
            "--sbatch",
            "--partition",
            "debug",
            "--dry-run",
        ])
        .env("DISTOB_HOME", &home)
        .output()
        .unwrap();
    let script = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success()
            && script.contains("#SBATCH --ntasks=3")
            && script.contains("#SBATCH --partition=debug"),
        "{script}"
    );
    // Whatever happens below, the job is stopped at the end.
    let _stop = StopOnDrop(profile.clone());
    let out = Command::new(distob_bin())
        .args([
            "cluster", "start", "-n", "2", "--slurm", "--sbatch", "--time", "5",
        ])
        .args(["--join-ip", "127.0.0.1", "--wait", "90", "--program"])
        .arg(distob_bin())
        .arg("--profile")
        .arg(&profile)
        .env("DISTOB_HOME", &home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        slurm.logs()
    );
    let p = distob::cluster::Profile::load(&profile).unwrap();
    let pids: Vec<u32> = p.engines.iter().filter_map(|e| e.pid).collect();
    assert_eq!(pids.len(), 2);
    assert!(p.stop.iter().any(|c| c[0] == "scancel"), "{:?}", p.stop);
    let cluster = within(Cluster::connect(&profile)).await.unwrap();
    let x = within(cluster.scatter_to(NodeId(1), 99u32)).await.unwrap();
    assert_eq!(within(cluster.gather(&x)).await.unwrap(), 99);
    drop((x, cluster));
    let stop = cluster_stop(&profile);
    let said = String::from_utf8_lossy(&stop.stdout);
    assert!(
        stop.status.success() && said.contains("ran: scancel"),
        "{said}"
    );
    common::eventually("cluster stop ends the job's engines", || async {
        running(&pids).is_empty()
    })
    .await;
    // The key file the job read is gone with it.
    let keys: Vec<_> = std::fs::read_dir(home.join("jobs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("key-"))
        .collect();
    assert!(keys.is_empty(), "{keys:?}");
    println!("cli: sbatch engines {pids:?} started, served, stopped");
}
