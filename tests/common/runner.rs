//! The small runner of the tests with their own `main` (engine processes
//! re-run the test executable, so libtest cannot own `main` there): each
//! case under a deadline, on its own task, reported as libtest would.

use distob::Cluster;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// One case: a function of the cluster it runs on.
pub type Case = for<'a> fn(&'a Cluster) -> BoxFuture<'a, ()>;

/// A list of cases, named after their functions.
#[macro_export]
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|c| Box::pin($name(c))) as $crate::common::runner::Case)),*]
    };
}

/// Counts what ran.
#[derive(Debug, Default)]
pub struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    /// Runs `case` on `cluster` as `name` within `deadline`, unless the
    /// command line's filter (its first argument not starting with `-`)
    /// leaves it out.
    pub fn run(
        &mut self,
        rt: &tokio::runtime::Runtime,
        name: &str,
        cluster: &Arc<Cluster>,
        case: Case,
        deadline: Duration,
    ) {
        let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            return;
        }
        let c = cluster.clone();
        let outcome = rt.block_on(async move {
            tokio::spawn(async move { tokio::time::timeout(deadline, case(&c)).await }).await
        });
        let verdict = match outcome {
            Ok(Ok(())) => "ok",
            Ok(Err(_)) => "FAILED (timed out)",
            Err(_) => "FAILED (panicked)",
        };
        match verdict {
            "ok" => self.passed += 1,
            _ => self.failed += 1,
        }
        println!("test {name} ... {verdict}");
    }

    /// Prints the closing line; exits with failure if any case failed.
    pub fn finish(self) {
        println!();
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.failed > 0 {
            std::process::exit(1);
        }
    }
}
