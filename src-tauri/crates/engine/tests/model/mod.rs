//! The model test of the whole flow: random sequences of what users, Git and
//! AWS do, applied to the engine on its fakes, twice in lockstep — once as
//! generated and once with every restart, lost write and clock step removed —
//! with the SPEC's invariants checked after every step and both runs compared
//! after every step. Sequences are deterministic from their seed and a
//! failing one is shrunk to a minimal sequence before it is reported.

mod check;
mod harness;
mod ops;
mod project;

use std::fmt::Write as _;

use stageline_engine::testing::Rng;

pub use harness::Harness;

/// One thing that happens. Stages are picked by index into the stack's
/// current flow (modulo its length), so any sub-sequence still makes sense
/// — that is what lets a failure shrink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A new commit on the branch.
    Commit,
    /// The branch is force-pushed back `back` commits (a new release of an old commit).
    ForcePush {
        back: u8,
    },
    /// The part running at a stage ends; with `write_fails` the write of
    /// its result fails once (only in the run with restarts).
    Finish {
        stage: u8,
        ok: bool,
        write_fails: bool,
    },
    /// Someone decides the approval waiting at a stage.
    Decide {
        stage: u8,
        approve: bool,
    },
    /// Someone decides an approval that is no longer pending (stale, superseded).
    DecideStale {
        pick: u8,
    },
    /// A new stage right after the `after`-th stage (0: first).
    CreateStage {
        after: u8,
        manual: bool,
    },
    DeleteStage {
        stage: u8,
    },
    /// Tries again to delete a stage whose AWS stack failed to delete.
    RetryDelete {
        pick: u8,
    },
    /// Switches a stage between automatic and manual approval (R6).
    SetManual {
        stage: u8,
        manual: bool,
    },
    /// Retries the stage's latest run.
    Retry {
        stage: u8,
    },
    /// Redeploys a release that once succeeded at the stage.
    Redeploy {
        stage: u8,
        pick: u8,
    },
    Scale {
        stage: u8,
        count: u8,
    },
    /// The engine dies (dropped, no shutdown) and starts again on the same
    /// store — now (`after` 0) or after `after` more transitions, mid-step.
    /// `aws_finishes`: deploys in flight complete in AWS meanwhile.
    /// `clock_back`: the wall clock steps back across the restart.
    Restart {
        after: u8,
        aws_finishes: bool,
        clock_back: bool,
    },
    /// A late second answer to a new first stage's head read (one asked
    /// for before a restart) reaches the engine.
    LateHead {
        stage: u8,
    },
    /// AWS cannot be reached: from now on each interrupted deploy's
    /// reconcile fails `reconciles` times before it gets an answer.
    AwsTrouble {
        reconciles: u8,
    },
    /// Deleting a stage's AWS stack fails from now on (or works again).
    DeleteFails(bool),
    /// Scaling fails from now on (or works again).
    ScaleFails(bool),
}

/// A stage index among the model's (at most 8).
fn small(rng: &mut Rng) -> u8 {
    rng.below(8) as u8
}

/// A random sequence of `len` ops from `seed`.
pub fn generate(seed: u64, len: usize) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| random_op(&mut rng)).collect()
}

fn random_op(rng: &mut Rng) -> Op {
    let roll = rng.below(100);
    match roll {
        0..=13 => Op::Commit,
        14 => Op::ForcePush {
            back: 1 + rng.below(3) as u8,
        },
        15..=49 => Op::Finish {
            stage: small(rng),
            ok: rng.chance(85),
            write_fails: rng.chance(5),
        },
        50..=57 => Op::Decide {
            stage: small(rng),
            approve: rng.chance(75),
        },
        58..=59 => Op::DecideStale { pick: small(rng) },
        60..=64 => Op::CreateStage {
            after: small(rng),
            manual: rng.chance(40),
        },
        65..=67 => Op::DeleteStage { stage: small(rng) },
        68 => Op::RetryDelete { pick: small(rng) },
        69..=72 => Op::SetManual {
            stage: small(rng),
            manual: rng.chance(50),
        },
        73..=77 => Op::Retry { stage: small(rng) },
        78..=80 => Op::Redeploy {
            stage: small(rng),
            pick: small(rng),
        },
        81..=83 => Op::Scale {
            stage: small(rng),
            count: rng.below(4) as u8,
        },
        84..=92 => {
            let after = if rng.chance(55) {
                0
            } else {
                1 + rng.below(4) as u8
            };
            Op::Restart {
                after,
                aws_finishes: after == 0 && rng.chance(35),
                clock_back: rng.chance(30),
            }
        }
        93 => Op::LateHead { stage: small(rng) },
        94 => Op::AwsTrouble {
            reconciles: 1 + rng.below(3) as u8,
        },
        95..=97 => Op::DeleteFails(rng.chance(50)),
        _ => Op::ScaleFails(rng.chance(50)),
    }
}

/// Runs one sequence: `Err` says which step broke which rule.
pub fn run(ops: &[Op]) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut reference = Harness::new(true).await;
        let mut subject = Harness::new(false).await;
        for (step, op) in ops.iter().enumerate() {
            let at = |run: &str, e: String| format!("step {step} {op:?} ({run}): {e}");
            reference
                .step(*op, step)
                .await
                .map_err(|e| at("without restarts", e))?;
            subject
                .step(*op, step)
                .await
                .map_err(|e| at("with restarts", e))?;
            project::compare(&reference, &subject).map_err(|e| at("compared", e))?;
        }
        reference
            .quiesce()
            .await
            .map_err(|e| format!("at the end (without restarts): {e}"))?;
        subject
            .quiesce()
            .await
            .map_err(|e| format!("at the end (with restarts): {e}"))?;
        project::compare(&reference, &subject).map_err(|e| format!("at the end: {e}"))
    })
}

/// Simpler versions of one op, tried while shrinking.
fn simpler(op: Op) -> Vec<Op> {
    match op {
        Op::Restart {
            after,
            aws_finishes,
            clock_back,
        } => {
            let mut out = Vec::new();
            if after > 0 {
                out.push(Op::Restart {
                    after: 0,
                    aws_finishes,
                    clock_back,
                });
            }
            if aws_finishes || clock_back {
                out.push(Op::Restart {
                    after,
                    aws_finishes: false,
                    clock_back: false,
                });
            }
            out
        }
        Op::Finish {
            stage,
            ok,
            write_fails,
        } if !ok || write_fails => vec![Op::Finish {
            stage,
            ok: true,
            write_fails: false,
        }],
        Op::Finish { stage, ok, .. } if stage > 0 => vec![Op::Finish {
            stage: 0,
            ok,
            write_fails: false,
        }],
        _ => Vec::new(),
    }
}

/// Shrinks a failing sequence: removes chunks, then single ops, then
/// simplifies ops, as long as it still fails. Returns the smallest found
/// and its failure.
pub fn shrink(mut ops: Vec<Op>, mut failure: String) -> (Vec<Op>, String) {
    let mut budget = 3000;
    loop {
        let mut improved = false;
        let mut chunk = ops.len() / 2;
        while chunk >= 1 && !improved {
            let mut start = 0;
            while start < ops.len() && budget > 0 {
                budget -= 1;
                let mut candidate = ops.clone();
                candidate.drain(start..(start + chunk).min(ops.len()));
                if let Err(e) = run(&candidate) {
                    ops = candidate;
                    failure = e;
                    improved = true;
                    break;
                }
                start += chunk;
            }
            chunk /= 2;
        }
        if !improved {
            'simplify: for i in 0..ops.len() {
                for op in simpler(ops[i]) {
                    if budget == 0 {
                        break 'simplify;
                    }
                    budget -= 1;
                    let mut candidate = ops.clone();
                    candidate[i] = op;
                    if let Err(e) = run(&candidate) {
                        ops = candidate;
                        failure = e;
                        improved = true;
                        break 'simplify;
                    }
                }
            }
        }
        if !improved || budget == 0 {
            return (ops, failure);
        }
    }
}

/// The report of a failing sequence, ready to paste into a regression test.
pub fn report(seed: u64, ops: &[Op], failure: &str) -> String {
    let mut text = format!(
        "The flow model failed (seed {seed}); shrunk to {} steps:\n\n    let ops = vec![\n",
        ops.len()
    );
    for op in ops {
        let _ = writeln!(text, "        Op::{op:?},");
    }
    let _ = write!(text, "    ];\n\n{failure}\n");
    text
}

/// Runs `ops`; on failure shrinks it and panics with the report.
pub fn assert_holds(seed: u64, ops: Vec<Op>) {
    if let Err(failure) = run(&ops) {
        let (ops, failure) = shrink(ops, failure);
        panic!("{}", report(seed, &ops, &failure));
    }
}
