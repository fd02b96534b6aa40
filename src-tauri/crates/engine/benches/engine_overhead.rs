//! The engine's own cost per transition (issue: pipeline engine benchmark).
//!
//! Pushes 1,000 releases through 5 stages with instant fakes and prints the
//! median and p99 time of one transition (deciding it and writing it to the
//! in-memory store), first with an empty history, then with 100,000 past
//! runs in the store. Also prints the whole pipeline's throughput through its
//! actor (channels, effects as tasks). Run:
//!     cargo bench -p stageline-engine --bench engine_overhead

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use stageline_engine::flow::{apply_input, Effect, FlowState, Input, PartOutcome};
use stageline_engine::order::first_stage_settings;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::ports::{DeployOutcome, Store};
use stageline_engine::testing::*;
use stageline_engine::*;

const RELEASES: u32 = 1_000;
const STAGES: [&str; 5] = ["dev", "test", "staging", "canary", "prod"];

/// Sets up the stack with its five stages through the engine itself.
fn setup(state: &mut FlowState, fakes: &Fakes, rt: &tokio::runtime::Runtime) -> StackId {
    let clock = fakes.clock.as_ref();
    let mut inputs = vec![
        Input::PutAccount(test_account(1)),
        Input::CreateStack {
            stack: test_stack(2, "shop", AccountId(1)),
            first_region: "us-east-1".into(),
            watch: true,
        },
    ];
    for input in inputs.drain(..) {
        let t = apply_input(state, input, clock).unwrap();
        rt.block_on(fakes.store.apply(t.changes)).unwrap();
    }
    for name in &STAGES[1..] {
        let after = state.flow_of(StackId(2)).last().map(|s| s.id);
        let mut settings = first_stage_settings("us-east-1");
        settings.name = name.to_string();
        let t = apply_input(
            state,
            Input::CreateStage {
                stack_id: StackId(2),
                after,
                settings,
            },
            clock,
        )
        .unwrap();
        rt.block_on(fakes.store.apply(t.changes)).unwrap();
    }
    StackId(2)
}

/// The instant outcome of an effect.
fn outcome(effect: Effect) -> Option<Input> {
    match effect {
        Effect::Build { context, .. } => Some(Input::BuildFinished {
            release_id: context.release.id,
            result: Ok(Artifact {
                image: format!("repo:{}", context.release.commit.sha),
            }),
        }),
        Effect::Release { run, .. } => Some(Input::PartFinished {
            run_id: run.id,
            part: PartKind::Release,
            result: Ok(PartOutcome::Released {
                image: format!("repo@sha256:{}", run.release_id),
                access: BuildAccess::BuildRole,
            }),
        }),
        Effect::Deploy { run, .. } => Some(Input::PartFinished {
            run_id: run.id,
            part: PartKind::Deploy,
            result: Ok(PartOutcome::Deployed(DeployOutcome::Deployed)),
        }),
        _ => None,
    }
}

/// Runs every release through every stage; returns each transition's time.
fn push_releases(fakes: &Fakes, history: usize) -> Vec<Duration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut state = FlowState::default();
    let stack = setup(&mut state, fakes, &rt);
    if history > 0 {
        // Past runs live only in the store; the engine restarts over them.
        let dev = state.flow_of(stack)[0].clone();
        let old = Release {
            id: ReleaseId(1),
            stack_id: stack,
            commit: commit(0),
            included: vec![],
            forced: false,
            created_at: 0,
            artifact: None,
        };
        fakes.store.add_history(&dev, &old, history, 10_000_000);
        state = FlowState::from_snapshot(rt.block_on(fakes.store.load()).unwrap());
    }
    let clock = fakes.clock.as_ref();
    let mut timings = Vec::new();
    let mut queue: VecDeque<Input> = VecDeque::new();
    for n in 1..=RELEASES {
        queue.push_back(Input::CommitDetected {
            stack_id: stack,
            head: commit(n),
            included: vec![],
            forced: false,
        });
        while let Some(input) = queue.pop_front() {
            let started = Instant::now();
            let transition = apply_input(&mut state, input, clock).unwrap();
            rt.block_on(fakes.store.apply(transition.changes)).unwrap();
            timings.push(started.elapsed());
            queue.extend(transition.effects.into_iter().filter_map(outcome));
        }
    }
    let last = state
        .flow_of(stack)
        .last()
        .map(|s| state.flow(s.id).deployed)
        .unwrap();
    assert!(last.is_some(), "every release reached prod");
    timings
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut timings: Vec<Duration>) {
    timings.sort();
    println!(
        "{label:<34} transitions {:>6}   median {:>7.1} µs   p99 {:>7.1} µs   max {:>8.1} µs",
        timings.len(),
        percentile(&timings, 0.5).as_secs_f64() * 1e6,
        percentile(&timings, 0.99).as_secs_f64() * 1e6,
        timings.last().unwrap().as_secs_f64() * 1e6,
    );
}

/// The pipeline actor end to end: releases pushed through its channel with
/// effects running as tasks on instant fakes.
fn actor_throughput() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fakes = Fakes::default();
        let pipeline = fakes.start().await;
        pipeline.send(Input::PutAccount(test_account(1))).await.unwrap();
        pipeline.send(Input::CreateStack { stack: test_stack(2, "shop", AccountId(1)), first_region: "us-east-1".into(), watch: true  }).await.unwrap();
        for name in &STAGES[1..] {
            let after = pipeline.read(|s| s.flow_of(StackId(2)).last().map(|s| s.id)).await.unwrap();
            let mut settings = first_stage_settings("us-east-1");
            settings.name = name.to_string();
            pipeline.send(Input::CreateStage { stack_id: StackId(2), after, settings }).await.unwrap();
        }
        let started = Instant::now();
        let releases = 1000;
        let before = fakes.store.applies();
        for n in 1..=releases {
            pipeline.notify(Input::CommitDetected { stack_id: StackId(2), head: commit(n), included: vec![], forced: false });
        }
        let sha = commit(releases).sha;
        wait_until(&pipeline, "the last release reached prod", move |s| {
            let prod = s.flow_of(StackId(2)).last().map(|st| st.id).unwrap();
            s.flow(prod).deployed.and_then(|id| s.release(id)).is_some_and(|r| r.commit.sha == sha)
        })
        .await;
        let elapsed = started.elapsed();
        let transitions = fakes.store.applies() - before;
        println!(
            "{:<34} {releases} commits, {transitions} transitions in {:.0} ms ({:.1} µs per transition incl. task hops; busy stages supersede waiting releases, R16)",
            "pipeline actor, end to end",
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e6 / transitions as f64,
        );
        drop::<Pipeline>(pipeline);
    });
}

fn main() {
    println!(
        "Stageline engine overhead: {RELEASES} releases through {} stages, instant fakes",
        STAGES.len()
    );
    report("empty history", push_releases(&Fakes::default(), 0));
    report(
        "100,000 past runs in the store",
        push_releases(&Fakes::default(), 100_000),
    );
    actor_throughput();
}
