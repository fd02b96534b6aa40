//! R17 restart safety on a real SQLite file: a three-stage flow with one
//! approval gate (dev → test → prod, prod requires approval; two commits,
//! the first approved), then a new first stage inserted before dev (it
//! deploys the branch head, R7) and test scaled (R12), interrupted at every
//! transition — the engine frozen mid-write and dropped without shutdown —
//! then restarted on the same file, ends exactly as the uninterrupted flow:
//! the same release on each stage, no succeeded part run again, every
//! approval kept, the new stage's first deploy and the scale done once
//! their requests were recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stageline_engine::flow::{FlowState, Input};
use stageline_engine::order::first_stage_settings;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_integration::CrashingStore;
use stageline_store::SqliteStore;

const STACK: StackId = StackId(2);

/// The outside world, which outlives every restart: the branch, the
/// builder, AWS (the fake deployer) and the clock.
struct World {
    fakes: Fakes,
    _dir: tempfile::TempDir,
    db: PathBuf,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("stageline.db");
        let fakes = Fakes::default();
        fakes.source.set_head(STACK, commit(1));
        World {
            fakes,
            _dir: dir,
            db,
        }
    }

    /// Starts the engine; after `limit` written transitions it freezes.
    async fn start(&self, limit: usize) -> (Pipeline, Arc<AtomicUsize>) {
        let applied = Arc::new(AtomicUsize::new(0));
        let store = SqliteStore::open(&self.db).await.unwrap();
        let mut ports = self.fakes.ports();
        ports.store = Arc::new(CrashingStore {
            inner: store,
            limit,
            applied: applied.clone(),
        });
        let pipeline = Pipeline::start(ports, test_config()).await.unwrap();
        (pipeline, applied)
    }
}

fn stage_id(s: &FlowState, name: &str) -> Option<StageId> {
    s.stages_of(STACK)
        .iter()
        .find(|st| st.settings.name == name)
        .map(|st| st.id)
}

fn deployed_sha(s: &FlowState, name: &str) -> Option<String> {
    let id = stage_id(s, name)?;
    s.flow(id)
        .deployed
        .and_then(|r| s.release(r))
        .map(|r| r.commit.sha.clone())
}

fn pending_sha(s: &FlowState, name: &str) -> Option<String> {
    let id = stage_id(s, name)?;
    s.pending_at(id)
        .and_then(|a| s.release(a.release_id))
        .map(|r| r.commit.sha.clone())
}

/// The count test is scaled to once commit 1 is in prod.
const TEST_COUNT: u32 = 2;

fn finished(s: &FlowState, fakes: &Fakes) -> bool {
    let two = Some(commit(2).sha);
    deployed_sha(s, "edge") == two
        && deployed_sha(s, "dev") == two
        && deployed_sha(s, "test") == two
        && deployed_sha(s, "prod") == Some(commit(1).sha)
        && pending_sha(s, "prod") == two
        && scaled(fakes).get("test") == Some(&TEST_COUNT)
        && s.requests().next().is_none()
}

/// What each stage's service was last scaled to.
fn scaled(fakes: &Fakes) -> BTreeMap<String, u32> {
    fakes.deployer.scales().into_iter().collect()
}

/// The user's next step, judged from the state (so it can be repeated after
/// any restart): set up the stack, push commit 1, approve it at prod, push commit 2.
async fn act(pipeline: &Pipeline, fakes: &Fakes) -> Result<bool, EngineError> {
    let state = pipeline.read(|s| s.clone()).await?;
    if state.account(AccountId(1)).is_none() {
        pipeline.send(Input::PutAccount(test_account(1))).await?;
        return Ok(false);
    }
    if state.stack(STACK).is_none() {
        let stack = test_stack(2, "shop", AccountId(1));
        pipeline
            .send(Input::CreateStack {
                stack,
                first_region: "us-east-1".into(),
                watch: true,
            })
            .await?;
        return Ok(false);
    }
    for (name, after, approval) in [("test", "dev", false), ("prod", "test", true)] {
        if stage_id(&state, name).is_none() {
            let mut settings = first_stage_settings("us-west-2");
            settings.name = name.into();
            settings.requires_approval = approval;
            let after = stage_id(&state, after);
            pipeline
                .send(Input::CreateStage {
                    stack_id: STACK,
                    after,
                    settings,
                })
                .await?;
            return Ok(false);
        }
    }
    if finished(&state, fakes) {
        return Ok(true);
    }
    if deployed_sha(&state, "prod").is_some() {
        // Commit 1 is in prod: a new first stage takes the branch head (R7)…
        if stage_id(&state, "edge").is_none() {
            let mut settings = first_stage_settings("eu-west-1");
            settings.name = "edge".into();
            pipeline
                .send(Input::CreateStage {
                    stack_id: STACK,
                    after: None,
                    settings,
                })
                .await?;
            return Ok(false);
        }
        if deployed_sha(&state, "edge").is_none() {
            return Ok(false); // its first deploy is under way
        }
        // …and test is scaled (R12), before commit 2 is pushed.
        let test = stage_id(&state, "test").unwrap();
        if state.stage(test).unwrap().settings.desired_count != TEST_COUNT {
            pipeline
                .send(Input::Scale {
                    stage_id: test,
                    count: TEST_COUNT,
                })
                .await?;
            return Ok(false);
        }
    }
    // What a branch watcher does after every start: report the head.
    let head = if deployed_sha(&state, "prod") == Some(commit(1).sha) {
        commit(2)
    } else {
        commit(1)
    };
    fakes.source.set_head(STACK, head.clone());
    pipeline
        .send(Input::CommitDetected {
            stack_id: STACK,
            head,
            included: vec![],
            forced: false,
        })
        .await?;
    if let Some(approval) = state.pending_at(stage_id(&state, "prod").unwrap()) {
        if pending_sha(&state, "prod") == Some(commit(1).sha) {
            let decision = Decision {
                by: "ada".into(),
                at: 1,
                comment: "ship 1".into(),
                via: DecisionSource::Dashboard,
            };
            pipeline.decide(approval.id, true, decision).await?;
        }
    }
    Ok(false)
}

/// Drives the flow until it is finished, or until the engine froze.
async fn drive(pipeline: &Pipeline, fakes: &Fakes, applied: &AtomicUsize, limit: usize) -> bool {
    for _ in 0..3000 {
        if applied.load(Ordering::SeqCst) >= limit {
            // Let whatever was in flight settle into the frozen engine, then "crash".
            tokio::time::sleep(Duration::from_millis(15)).await;
            return false;
        }
        if let Ok(Ok(true)) =
            tokio::time::timeout(Duration::from_millis(300), act(pipeline, fakes)).await
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the flow did not finish");
}

/// What the flow ended with, to compare runs.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    deployed: BTreeMap<String, Option<String>>,
    pending: BTreeMap<String, Option<String>>,
    decided: BTreeSet<(String, String, String)>,
    deploys_per_stage_and_release: BTreeMap<(String, String), usize>,
    /// Each stage's runs: (release, how it started), in order.
    runs: BTreeMap<String, Vec<(String, String)>>,
    scaled: BTreeMap<String, u32>,
}

async fn outcome(world: &World, pipeline: &Pipeline, store: &SqliteStore) -> Outcome {
    let state = pipeline.read(|s| s.clone()).await.unwrap();
    let names = ["edge", "dev", "test", "prod"];
    let mut decided = BTreeSet::new();
    let mut runs = BTreeMap::new();
    for name in names {
        let stage = stage_id(&state, name).unwrap();
        let mut history: Vec<(String, String)> = store
            .run_history(stage, 50)
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                let trigger = serde_kind(&r.run.trigger);
                (r.release.commit.sha, trigger)
            })
            .collect();
        history.reverse();
        runs.insert(name.to_string(), history);
        for approval in store.approval_history(stage, 50).await.unwrap() {
            let release = store.release(approval.release_id).await.unwrap().unwrap();
            if let Some(decision) = approval.decision {
                decided.insert((name.to_string(), release.commit.sha, decision.comment));
            }
        }
    }
    let mut deploys = BTreeMap::new();
    for (name, release) in world.fakes.deployer.deploys() {
        let sha = store.release(release).await.unwrap().unwrap().commit.sha;
        *deploys.entry((name, sha)).or_insert(0) += 1;
    }
    Outcome {
        deployed: names
            .iter()
            .map(|n| (n.to_string(), deployed_sha(&state, n)))
            .collect(),
        pending: names
            .iter()
            .map(|n| (n.to_string(), pending_sha(&state, n)))
            .collect(),
        decided,
        deploys_per_stage_and_release: deploys,
        runs,
        scaled: scaled(&world.fakes),
    }
}

fn serde_kind(trigger: &RunTrigger) -> String {
    match trigger {
        RunTrigger::Flow => "flow",
        RunTrigger::NewStage => "newStage",
        RunTrigger::Retry { .. } => "retry",
        RunTrigger::Redeploy { .. } => "redeploy",
        RunTrigger::Rollback { .. } => "rollback",
    }
    .to_string()
}

/// Every part the file records as succeeded: (stage, sha, part); builds by sha.
async fn succeeded_parts(
    store: &SqliteStore,
    state: &FlowState,
) -> BTreeSet<(String, String, PartKind)> {
    let mut done = BTreeSet::new();
    for stage in state.stages_of(STACK) {
        for record in store.run_history(stage.id, 100).await.unwrap() {
            for part in &record.run.parts {
                if part.status == PartStatus::Succeeded {
                    let stage_name = if part.kind == PartKind::Build {
                        String::new()
                    } else {
                        stage.settings.name.clone()
                    };
                    done.insert((stage_name, record.release.commit.sha.clone(), part.kind));
                }
            }
        }
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_flow_ends_as_the_uninterrupted_one_at_every_transition() {
    // The reference: no interruption.
    let reference_world = World::new();
    let (pipeline, applied) = reference_world.start(usize::MAX).await;
    assert!(drive(&pipeline, &reference_world.fakes, &applied, usize::MAX).await);
    let transitions = applied.load(Ordering::SeqCst);
    let reference_store = SqliteStore::open(&reference_world.db).await.unwrap();
    let reference = outcome(&reference_world, &pipeline, &reference_store).await;
    drop(pipeline);
    println!("the flow has {transitions} transitions; the engine is interrupted at each");
    assert!(
        transitions > 15,
        "the flow has many transitions ({transitions})"
    );
    assert_eq!(reference.decided.len(), 1, "commit 1 was approved at prod");
    assert_eq!(
        reference.runs["edge"],
        [
            (commit(1).sha, "newStage".to_string()),
            (commit(2).sha, "flow".to_string())
        ],
        "the new first stage deployed the branch head, then took commit 2"
    );
    assert_eq!(
        reference.scaled,
        BTreeMap::from([("test".to_string(), TEST_COUNT)])
    );
    assert!(reference
        .deploys_per_stage_and_release
        .values()
        .all(|n| *n == 1));

    for crash_at in 0..transitions {
        let world = World::new();
        let (pipeline, applied) = world.start(crash_at).await;
        let done = drive(&pipeline, &world.fakes, &applied, crash_at).await;
        assert!(!done, "the engine froze at transition {crash_at}");
        drop(pipeline);

        // What the file says had succeeded when the engine died.
        let store = SqliteStore::open(&world.db).await.unwrap();
        let (probe, _) = world.start(usize::MAX).await;
        let state = probe.read(|s| s.clone()).await.unwrap();
        drop(probe);
        let succeeded = succeeded_parts(&store, &state).await;
        let calls_before = world.fakes.builder.calls().len();

        let (pipeline, applied) = world.start(usize::MAX).await;
        assert!(
            drive(&pipeline, &world.fakes, &applied, usize::MAX).await,
            "finished after a crash at {crash_at}"
        );
        let after = outcome(&world, &pipeline, &store).await;
        assert_eq!(
            after, reference,
            "crash at transition {crash_at} of {transitions}"
        );

        for call in &world.fakes.builder.calls()[calls_before..] {
            let key = match call.part {
                PartKind::Build => (String::new(), call.sha.clone(), PartKind::Build),
                part => (call.stage.clone(), call.sha.clone(), part),
            };
            assert!(
                !succeeded.contains(&key),
                "crash at {crash_at}: {key:?} had succeeded and ran again"
            );
        }
        drop(pipeline);
    }
}
