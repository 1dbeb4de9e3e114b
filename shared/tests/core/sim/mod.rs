//! The deterministic simulation (docs/ARCHITECTURE.md, "Testing"): the real core services and
//! the real SQS worker over the memory adapters, on one thread and tokio's paused clock, with
//! every choice — what happens next, when, and which call fails, hangs or crashes — drawn from
//! one seed. After a burst of load and faults the run quiesces (no more edits or faults; the
//! queue drains, sweeps run, leases pass) and the oracle (`oracle.rs`) checks that the mirror
//! converged and nothing acknowledged was lost.
//!
//! `SEED=n cargo test -p zuora-sync --test core sim::replay -- --nocapture` replays one run
//! with its trace; `SIM_SEEDS=n` sets how many seeds `sim::seeds` runs.

mod actors;
mod oracle;
mod plan;

use actors::Sim;
use std::sync::Arc;

/// Seeds CI runs (more with `SIM_SEEDS`).
const DEFAULT_SEEDS: u64 = 200;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// What a run did, for the summary of many.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub faults: u64,
    pub crashes: u64,
    pub acks: u64,
    pub lost_callouts: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Self) {
        self.faults += other.faults;
        self.crashes += other.crashes;
        self.acks += other.acks;
        self.lost_callouts += other.lost_callouts;
    }
}

/// One seeded run on its own paused runtime: its violations and its trace.
pub fn run(seed: u64) -> (Vec<String>, Vec<String>) {
    let (violations, trace, _) = run_counted(seed);
    (violations, trace)
}

fn run_counted(seed: u64) -> (Vec<String>, Vec<String>, Tally) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let sim = Arc::new(Sim::new(seed));
        sim.clone().load().await;
        sim.quiesce().await;
        let violations = oracle::check(&sim).await;
        let log = sim.log();
        let tally = Tally {
            faults: sim.plan.faults(),
            crashes: u64::from(sim.plan.crashes()),
            acks: log.acks.len() as u64,
            lost_callouts: log.lost_callouts.len() as u64,
        };
        drop(log);
        (violations, sim.trace(), tally)
    })
}

fn report(seed: u64, violations: &[String], trace: &[String]) -> String {
    format!(
        "seed {seed} broke {} invariant(s) (replay: SEED={seed} cargo test -p zuora-sync --test core sim::replay -- --nocapture):\n  {}\nlast of the trace:\n  {}",
        violations.len(),
        violations.join("\n  "),
        trace[trace.len().saturating_sub(40)..].join("\n  ")
    )
}

#[test]
fn seeds() {
    let count = env_u64("SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    let first = env_u64("SIM_FIRST_SEED").unwrap_or(1);
    let mut failed = Vec::new();
    let mut tally = Tally::default();
    for seed in first..first + count {
        let (violations, trace, counted) = run_counted(seed);
        tally += counted;
        if !violations.is_empty() {
            eprintln!("{}", report(seed, &violations, &trace));
            failed.push(seed);
        }
    }
    println!(
        "{count} seeds: {} faults injected ({:.1} a run), {} crashes, {} acknowledged requests checked, {} changes without a callout, {} failing",
        tally.faults,
        tally.faults as f64 / count.max(1) as f64,
        tally.crashes,
        tally.acks,
        tally.lost_callouts,
        failed.len()
    );
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}

/// Replays `SEED` (default 1) and prints its whole trace.
#[test]
fn replay() {
    let seed = env_u64("SEED").unwrap_or(1);
    if std::env::var_os("SIM_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("zuora_sync=debug"))
            .with_test_writer()
            .try_init();
    }
    let (violations, trace) = run(seed);
    println!("{}", trace.join("\n"));
    assert!(
        violations.is_empty(),
        "{}",
        report(seed, &violations, &trace)
    );
}

/// A seed is a replay: the same seed makes the same run, step for step.
#[test]
fn a_seed_replays_exactly() {
    for seed in [3, 17] {
        let (_, first) = run(seed);
        let (_, second) = run(seed);
        assert!(first.len() > 20, "a run does something: {first:?}");
        assert_eq!(first, second, "seed {seed} ran differently twice");
    }
}
