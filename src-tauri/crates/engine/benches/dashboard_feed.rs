//! What a busy pipeline sends the dashboard (issue "One application layer":
//! events carry state), before and after the dashboard feed.
//!
//! 50 stacks × 8 stages (every stage after the first asks for approval) on
//! instant fakes; every 100 ms one run finishes: round the stacks, a new
//! commit runs at a stack's first stage, or its pending approval is approved
//! and the next stage runs. For 10 s it records every pipeline event and every
//! dashboard update with its JSON size, and prints per second:
//! - before: the dashboard listened to every pipeline event and reloaded the
//!   whole dashboard (every stack, and the accounts) once per 60 ms burst of
//!   events (the UI's `scheduleRefresh` as it was); reloads are counted from
//!   the recorded events' times, each at the size of a whole dashboard read
//!   at that moment;
//! - after: the dashboard listens only to the feed's updates (the changed
//!   stacks' views and the order), as it does now.
//!
//! Run: cargo bench -p stageline-engine --bench dashboard_feed

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stageline_engine::flow::{DashboardUpdate, FlowState, Input};
use stageline_engine::order::first_stage_settings;
use stageline_engine::pipeline::{Pipeline, Ports};
use stageline_engine::ports::Events;
use stageline_engine::testing::*;
use stageline_engine::*;

const STACKS: i64 = 50;
const STAGES: usize = 8;
const RUN_EVERY: Duration = Duration::from_millis(100);
const SECONDS: u64 = 10;
/// The old UI's coalescing of events into one reload.
const OLD_RELOAD_WINDOW: Duration = Duration::from_millis(60);

/// What reached the dashboard, with when and how many bytes of JSON.
#[derive(Default)]
struct Received {
    events: Mutex<Vec<(Instant, usize)>>,
    updates: Mutex<Vec<(Instant, usize)>>,
}

impl Events for Received {
    fn emit(&self, event: PipelineEvent) {
        let size = serde_json::to_vec(&event).unwrap().len();
        self.events.lock().unwrap().push((Instant::now(), size));
    }
    fn wants_dashboard(&self) -> bool {
        true
    }
    fn dashboard(&self, update: DashboardUpdate) {
        let size = serde_json::to_vec(&update).unwrap().len();
        self.updates.lock().unwrap().push((Instant::now(), size));
    }
}

async fn setup(pipeline: &Pipeline) {
    pipeline
        .send(Input::PutAccount(test_account(1)))
        .await
        .unwrap();
    for n in 0..STACKS {
        let id = StackId(100 + n);
        pipeline
            .send(Input::CreateStack {
                stack: test_stack(id.0, &format!("stack-{n:02}"), AccountId(1)),
                first_region: "us-east-1".into(),
                watch: true,
            })
            .await
            .unwrap();
        for k in 1..STAGES {
            let after = pipeline
                .read(move |s| s.stages_of(id).last().map(|stage| stage.id))
                .await
                .unwrap();
            let mut settings = first_stage_settings("us-east-1");
            settings.name = format!("stage-{k}");
            settings.requires_approval = true;
            pipeline
                .send(Input::CreateStage {
                    stack_id: id,
                    after,
                    settings,
                })
                .await
                .unwrap();
        }
    }
}

/// One run that finishes: the stack's pending approval approved, or a new commit.
async fn one_run(pipeline: &Pipeline, fakes: &Fakes, stack: StackId, n: u32) {
    let pending = pipeline
        .read(move |s: &FlowState| {
            s.stages_of(stack)
                .iter()
                .find_map(|stage| s.pending_at(stage.id).map(|a| a.id))
        })
        .await
        .unwrap();
    match pending {
        Some(approval) => {
            let decision = Decision {
                by: "ada".into(),
                at: 0,
                comment: String::new(),
                via: DecisionSource::Dashboard,
            };
            let _ = pipeline.decide(approval, true, decision).await;
        }
        None => {
            fakes.source.set_head(stack, commit(n));
            pipeline
                .send(Input::CommitDetected {
                    stack_id: stack,
                    head: commit(n),
                    included: vec![],
                    forced: false,
                })
                .await
                .unwrap();
        }
    }
}

/// The old UI's reloads: a burst of events within 60 ms of its first is one.
fn old_reloads(events: &[(Instant, usize)]) -> usize {
    let mut reloads = 0;
    let mut window_end: Option<Instant> = None;
    for (at, _) in events {
        if window_end.is_none_or(|end| *at >= end) {
            reloads += 1;
            window_end = Some(*at + OLD_RELOAD_WINDOW);
        }
    }
    reloads
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fakes = Fakes::default();
        let received = Arc::new(Received::default());
        let ports = Ports {
            events: received.clone(),
            ..fakes.ports()
        };
        let pipeline = Pipeline::start(ports, test_config()).await.unwrap();
        setup(&pipeline).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        received.events.lock().unwrap().clear();
        received.updates.lock().unwrap().clear();

        let started = Instant::now();
        let mut whole_sizes = Vec::new();
        let mut tick = tokio::time::interval(RUN_EVERY);
        for i in 0..(SECONDS * 1000 / RUN_EVERY.as_millis() as u64) {
            tick.tick().await;
            let stack = StackId(100 + (i as i64 % STACKS));
            one_run(&pipeline, &fakes, stack, i as u32 + 1).await;
            if i % 10 == 0 {
                // What one reload of the old dashboard carried: every stack and the accounts.
                let size = pipeline
                    .read(|s| {
                        let stacks = serde_json::to_vec(&s.dashboard()).unwrap().len();
                        let accounts: Vec<_> = s.accounts().cloned().collect();
                        stacks + serde_json::to_vec(&accounts).unwrap().len()
                    })
                    .await
                    .unwrap();
                whole_sizes.push(size);
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seconds = started.elapsed().as_secs_f64();
        let events = received.events.lock().unwrap().clone();
        let updates = received.updates.lock().unwrap().clone();
        let event_bytes: usize = events.iter().map(|(_, size)| size).sum();
        let update_bytes: usize = updates.iter().map(|(_, size)| size).sum();
        let whole = whole_sizes.iter().sum::<usize>() / whole_sizes.len().max(1);
        let reloads = old_reloads(&events);
        let per_s = |n: f64| n / seconds;
        let kb = |bytes: f64| bytes / 1024.0;
        println!(
            "{STACKS} stacks × {STAGES} stages, a run finishing every {} ms, {seconds:.1} s: {} pipeline events ({:.0}/s)",
            RUN_EVERY.as_millis(),
            events.len(),
            per_s(events.len() as f64),
        );
        println!(
            "before (every event, then a whole reload per 60 ms burst): {:.1} reloads/s of {:.0} KB each; IPC to the dashboard {:.0} KB/s",
            per_s(reloads as f64),
            kb(whole as f64),
            kb(per_s((event_bytes + reloads * whole) as f64)),
        );
        println!(
            "after (the feed's updates only): 0 reloads/s; {:.1} updates/s of {:.1} KB on average; IPC to the dashboard {:.1} KB/s",
            per_s(updates.len() as f64),
            kb(update_bytes as f64 / updates.len().max(1) as f64),
            kb(per_s(update_bytes as f64)),
        );
    });
}
