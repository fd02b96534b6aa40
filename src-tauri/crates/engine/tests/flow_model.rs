//! The model test of the whole flow (R1–R17): thousands of random sequences
//! of commits, part results, approvals (stale ones too), inserts, deletions,
//! approval switches, retries, redeploys, scales, lost writes, unreachable
//! AWS and restarts at random points — each run twice in lockstep, with and
//! without its restarts, every invariant checked after every step.
//!
//! `cargo test -p stageline-engine --test flow_model` runs 2,000 sequences;
//! a soak runs more: `STAGELINE_MODEL_SEQUENCES=100000 cargo test --release
//! -p stageline-engine --test flow_model -- --nocapture` (with
//! `STAGELINE_MODEL_SEED` another starting seed). A failure prints the seed
//! and the shrunk sequence, ready to paste as a regression case below.

mod model;

use std::time::Instant;

use model::{assert_holds, generate};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn the_flow_keeps_every_invariant_over_random_sequences() {
    let sequences = env_number("STAGELINE_MODEL_SEQUENCES", 2000);
    let first_seed = env_number("STAGELINE_MODEL_SEED", 20_261_201);
    let steps = env_number("STAGELINE_MODEL_STEPS", 60) as usize;
    let started = Instant::now();
    for seed in first_seed..first_seed + sequences {
        assert_holds(seed, generate(seed, steps));
    }
    println!(
        "flow model: {sequences} sequences of {steps} steps from seed {first_seed} held every invariant in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
