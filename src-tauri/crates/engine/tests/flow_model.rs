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

use model::{assert_holds, generate, Op};

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

// Regression cases: one named sequence per flaw of issue 10 (each fails
// on the engine before its fix), and the flaws the model found since.

#[test]
fn a_retried_first_run_of_a_new_stage_does_not_flow_on() {
    assert_holds(
        0,
        vec![
            Op::Commit,
            Op::Finish {
                stage: 0,
                ok: true,
                write_fails: false,
            },
            Op::Finish {
                stage: 0,
                ok: true,
                write_fails: false,
            },
            Op::Finish {
                stage: 0,
                ok: true,
                write_fails: false,
            },
            Op::CreateStage {
                after: 1,
                manual: false,
            },
            Op::Finish {
                stage: 3,
                ok: false,
                write_fails: false,
            },
            Op::CreateStage {
                after: 2,
                manual: false,
            },
            Op::Retry { stage: 4 },
        ],
    );
}

#[test]
fn switching_to_manual_turns_the_queued_release_into_an_approval() {
    assert_holds(
        0,
        vec![
            Op::Commit,
            Op::Commit,
            Op::SetManual {
                stage: 0,
                manual: true,
            },
        ],
    );
}

#[test]
fn a_new_first_stage_survives_a_restart_before_its_head_is_read() {
    assert_holds(
        0,
        vec![
            Op::Commit,
            Op::Finish {
                stage: 0,
                ok: true,
                write_fails: false,
            },
            Op::Restart {
                after: 1,
                aws_finishes: false,
                clock_back: false,
            },
            Op::CreateStage {
                after: 0,
                manual: true,
            },
        ],
    );
}

#[test]
fn a_late_second_head_does_not_run_the_new_first_stage_again() {
    assert_holds(
        0,
        vec![
            Op::Commit,
            Op::Finish {
                stage: 3,
                ok: false,
                write_fails: false,
            },
            Op::LateHead { stage: 0 },
        ],
    );
}

#[test]
fn a_scale_request_survives_a_restart_before_it_is_made() {
    assert_holds(
        0,
        vec![
            Op::Commit,
            Op::Restart {
                after: 1,
                aws_finishes: false,
                clock_back: false,
            },
            Op::Scale { stage: 0, count: 3 },
        ],
    );
}

#[test]
fn a_reconcile_that_cannot_reach_aws_does_not_fail_the_run() {
    assert_holds(
        0,
        vec![
            Op::Commit,
            Op::Finish {
                stage: 0,
                ok: true,
                write_fails: false,
            },
            Op::Finish {
                stage: 0,
                ok: true,
                write_fails: false,
            },
            Op::AwsTrouble { reconciles: 3 },
            Op::Restart {
                after: 0,
                aws_finishes: false,
                clock_back: false,
            },
            Op::Finish {
                stage: 0,
                ok: true,
                write_fails: false,
            },
        ],
    );
}

#[test]
fn a_result_whose_write_failed_is_not_dropped() {
    assert_holds(
        0,
        vec![
            Op::Commit,
            Op::Finish {
                stage: 0,
                ok: true,
                write_fails: true,
            },
        ],
    );
}

#[test]
fn ids_do_not_go_back_when_the_clock_does() {
    assert_holds(
        0,
        vec![
            Op::Commit,
            Op::Restart {
                after: 0,
                aws_finishes: false,
                clock_back: true,
            },
            Op::Commit,
        ],
    );
}

#[test]
fn a_first_release_reaching_a_new_first_stage_ends_its_head_request() {
    assert_holds(
        0,
        vec![
            Op::CreateStage {
                after: 6,
                manual: true,
            },
            Op::Commit,
            Op::Restart {
                after: 0,
                aws_finishes: false,
                clock_back: false,
            },
        ],
    );
}

#[test]
fn a_stage_inserted_before_a_new_first_stage_ends_its_head_request() {
    assert_holds(
        0,
        vec![
            Op::CreateStage {
                after: 4,
                manual: false,
            },
            Op::CreateStage {
                after: 0,
                manual: false,
            },
            Op::Commit,
            Op::Restart {
                after: 0,
                aws_finishes: false,
                clock_back: false,
            },
        ],
    );
}

#[test]
fn a_deleted_stages_id_is_never_minted_again() {
    assert_holds(
        0,
        vec![
            Op::CreateStage {
                after: 7,
                manual: false,
            },
            Op::Scale { stage: 5, count: 2 },
            Op::Restart {
                after: 3,
                aws_finishes: false,
                clock_back: true,
            },
            Op::DeleteStage { stage: 7 },
            Op::SetManual {
                stage: 4,
                manual: false,
            },
            Op::CreateStage {
                after: 0,
                manual: true,
            },
        ],
    );
}
