//! The store on real SQLite files in temporary folders.

use stageline_engine::flow::Input;
use stageline_engine::order::first_stage_settings;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::ports::{Change, Request, StageFlow, Store};
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_store::SqliteStore;

async fn open_temp() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("stageline.db"))
        .await
        .unwrap();
    (dir, store)
}

fn stage(id: i64, name: &str, position: u32) -> Stage {
    let mut settings = first_stage_settings("us-east-1");
    settings.name = name.to_string();
    Stage {
        id: StageId(id),
        stack_id: StackId(2),
        position,
        settings,
        lifecycle: StageLifecycle::Active,
    }
}

async fn with_stack(store: &SqliteStore) {
    store
        .apply(vec![
            Change::PutAccount(test_account(1)),
            Change::PutStack(test_stack(2, "shop", AccountId(1))),
        ])
        .await
        .unwrap();
}

async fn order(store: &SqliteStore) -> Vec<(String, u32)> {
    let snapshot = store.load().await.unwrap();
    let mut stages: Vec<(String, u32)> = snapshot
        .stages
        .into_iter()
        .map(|s| (s.settings.name, s.position))
        .collect();
    stages.sort_by_key(|(_, p)| *p);
    stages
}

#[tokio::test]
async fn opening_creates_the_file_in_wal_mode_with_foreign_keys() {
    let (dir, store) = open_temp().await;
    assert!(dir.path().join("stageline.db").exists());
    assert_eq!(store.pragma("journal_mode").await.unwrap(), "wal");
    assert_eq!(store.pragma("foreign_keys").await.unwrap(), "1");
    // Opening again runs no migration twice.
    store.close().await;
    SqliteStore::open(&dir.path().join("stageline.db"))
        .await
        .unwrap();
}

#[tokio::test]
async fn everything_written_is_loaded_back() {
    let (_dir, store) = open_temp().await;
    with_stack(&store).await;
    let release = Release {
        id: ReleaseId(10),
        stack_id: StackId(2),
        commit: commit(1),
        included: vec![commit(0)],
        forced: true,
        created_at: 5,
        artifact: Some(Artifact {
            image: "repo:sha".into(),
        }),
    };
    let run = Run {
        id: RunId(11),
        stack_id: StackId(2),
        stage_id: StageId(3),
        release_id: ReleaseId(10),
        status: RunStatus::Running,
        trigger: RunTrigger::Flow,
        parts: PartKind::ALL.iter().map(|k| Part::pending(*k)).collect(),
        created_at: 6,
        finished_at: None,
        image: Some("repo@sha256:abc".into()),
        // Kept as written: the stage card marks runs that had the account's credentials.
        build_access: Some(stageline_engine::domain::BuildAccess::AccountSession),
        followed_from: None,
    };
    let approval = Approval {
        id: ApprovalId(12),
        stack_id: StackId(2),
        stage_id: StageId(3),
        release_id: ReleaseId(10),
        status: ApprovalStatus::Pending,
        requested_at: 7,
        decision: None,
        expires_at: Some(1_000),
    };
    let flow = StageFlow {
        stage_id: StageId(3),
        deployed: Some(ReleaseId(10)),
        waiting: None,
        reached: Some(ReleaseId(10)),
    };
    store
        .apply(vec![
            Change::InsertStage(stage(3, "dev", 0)),
            Change::PutRelease(release.clone()),
            Change::PutRun(run.clone()),
            Change::PutApproval(approval.clone()),
            Change::PutFlow(flow),
        ])
        .await
        .unwrap();
    let snapshot = store.load().await.unwrap();
    assert_eq!(snapshot.accounts, [test_account(1)]);
    assert_eq!(snapshot.stacks, [test_stack(2, "shop", AccountId(1))]);
    assert_eq!(snapshot.stages, [stage(3, "dev", 0)]);
    assert_eq!(snapshot.releases, [release]);
    assert_eq!(snapshot.active_runs, std::slice::from_ref(&run));
    assert_eq!(snapshot.latest_runs, [run]);
    assert_eq!(snapshot.pending_approvals, std::slice::from_ref(&approval));
    assert_eq!(snapshot.flows, [flow]);
    assert_eq!(snapshot.highest_id, 12, "the highest id of any row");
    assert_eq!(
        store.approval(ApprovalId(12)).await.unwrap(),
        Some(approval)
    );
}

#[tokio::test]
async fn the_highest_id_is_kept_when_its_row_is_deleted() {
    let (dir, store) = open_temp().await;
    with_stack(&store).await;
    store
        .apply(vec![Change::InsertStage(stage(99, "dev", 0))])
        .await
        .unwrap();
    store
        .apply(vec![Change::RemoveStage(StageId(99))])
        .await
        .unwrap();
    assert_eq!(store.load().await.unwrap().highest_id, 99);
    store.close().await;
    let again = SqliteStore::open(&dir.path().join("stageline.db"))
        .await
        .unwrap();
    assert_eq!(
        again.load().await.unwrap().highest_id,
        99,
        "no id is minted twice"
    );
}

#[tokio::test]
async fn requested_effects_are_kept_until_cleared_and_go_with_their_stage() {
    let (_dir, store) = open_temp().await;
    with_stack(&store).await;
    let first = Request::FirstDeploy {
        stage_id: StageId(3),
    };
    store
        .apply(vec![
            Change::InsertStage(stage(3, "dev", 0)),
            Change::InsertStage(stage(4, "prod", 1)),
            Change::PutRequest(first),
            Change::PutRequest(Request::Scale {
                stage_id: StageId(4),
                count: 2,
            }),
            // A newer scale of the same stage takes the older one's place.
            Change::PutRequest(Request::Scale {
                stage_id: StageId(4),
                count: 0,
            }),
        ])
        .await
        .unwrap();
    let requests = store.load().await.unwrap().requests;
    assert_eq!(
        requests,
        [
            first,
            Request::Scale {
                stage_id: StageId(4),
                count: 0
            }
        ]
    );
    store
        .apply(vec![
            Change::ClearRequest(first),
            Change::RemoveStage(StageId(4)),
        ])
        .await
        .unwrap();
    assert!(store.load().await.unwrap().requests.is_empty());
}

#[tokio::test]
async fn freezes_and_services_are_kept_and_go_with_their_stage() {
    let (_dir, store) = open_temp().await;
    with_stack(&store).await;
    let freeze = |stage_id: Option<StageId>, reason: &str| Freeze {
        stack_id: StackId(2),
        stage_id,
        reason: reason.to_string(),
        by: "ada".to_string(),
        at: 7,
    };
    let service = StageService {
        url: Some("https://abc.execute-api.us-east-1.amazonaws.com/prod".into()),
        deployed_image: Some("repo@sha256:1".into()),
        url_read: true,
    };
    store
        .apply(vec![
            Change::InsertStage(stage(3, "dev", 0)),
            Change::InsertStage(stage(4, "prod", 1)),
            Change::PutFreeze(freeze(None, "holidays")),
            Change::PutFreeze(freeze(Some(StageId(4)), "incident")),
            // A new freeze of the same stage takes the earlier one's place.
            Change::PutFreeze(freeze(Some(StageId(4)), "incident 42")),
            Change::PutService {
                stage_id: StageId(4),
                service: service.clone(),
            },
        ])
        .await
        .unwrap();
    let snapshot = store.load().await.unwrap();
    assert_eq!(
        snapshot.freezes,
        [
            freeze(None, "holidays"),
            freeze(Some(StageId(4)), "incident 42")
        ]
    );
    assert_eq!(snapshot.services, [(StageId(4), service)]);
    store
        .apply(vec![
            Change::ClearFreeze {
                stack_id: StackId(2),
                stage_id: None,
            },
            Change::RemoveStage(StageId(4)),
        ])
        .await
        .unwrap();
    let snapshot = store.load().await.unwrap();
    assert!(snapshot.freezes.is_empty());
    assert!(snapshot.services.is_empty());
}

#[tokio::test]
async fn a_superseded_row_is_history_not_the_stages_latest_run() {
    let (_dir, store) = open_temp().await;
    with_stack(&store).await;
    let release = |id: i64, n: u32| Release {
        id: ReleaseId(id),
        stack_id: StackId(2),
        commit: commit(n),
        included: vec![],
        forced: false,
        created_at: 0,
        artifact: None,
    };
    let run = |id: i64, release: i64, status: RunStatus| Run {
        id: RunId(id),
        stack_id: StackId(2),
        stage_id: StageId(3),
        release_id: ReleaseId(release),
        status,
        trigger: RunTrigger::Flow,
        parts: PartKind::ALL.iter().map(|k| Part::pending(*k)).collect(),
        created_at: 0,
        finished_at: None,
        image: None,
        build_access: None,
        followed_from: None,
    };
    store
        .apply(vec![
            Change::InsertStage(stage(3, "dev", 0)),
            Change::PutRelease(release(10, 1)),
            Change::PutRelease(release(11, 2)),
            Change::PutRun(run(20, 10, RunStatus::Running)),
            Change::PutRun(run(21, 11, RunStatus::Superseded)),
        ])
        .await
        .unwrap();
    let snapshot = store.load().await.unwrap();
    assert_eq!(snapshot.latest_runs[0].id, RunId(20));
    let history = store.run_history(StageId(3), 10).await.unwrap();
    let statuses: Vec<RunStatus> = history.iter().map(|r| r.run.status).collect();
    assert_eq!(statuses, [RunStatus::Superseded, RunStatus::Running]);
}

#[tokio::test]
async fn inserting_a_stage_renumbers_the_later_ones_in_the_same_transaction() {
    let (_dir, store) = open_temp().await;
    with_stack(&store).await;
    store
        .apply(vec![Change::InsertStage(stage(3, "dev", 0))])
        .await
        .unwrap();
    store
        .apply(vec![Change::InsertStage(stage(4, "prod", 1))])
        .await
        .unwrap();
    store
        .apply(vec![Change::InsertStage(stage(5, "canary", 1))])
        .await
        .unwrap();
    assert_eq!(
        order(&store).await,
        [("dev".into(), 0), ("canary".into(), 1), ("prod".into(), 2)]
    );
    store
        .apply(vec![Change::RemoveStage(StageId(5))])
        .await
        .unwrap();
    assert_eq!(order(&store).await, [("dev".into(), 0), ("prod".into(), 1)]);
}

#[tokio::test]
async fn a_failing_change_writes_nothing_of_its_transaction() {
    let (_dir, store) = open_temp().await;
    with_stack(&store).await;
    store
        .apply(vec![
            Change::InsertStage(stage(3, "dev", 0)),
            Change::InsertStage(stage(4, "prod", 1)),
        ])
        .await
        .unwrap();
    // A second "dev" breaks the unique name rule after the renumbering ran.
    let error = store
        .apply(vec![Change::InsertStage(stage(5, "dev", 1))])
        .await
        .unwrap_err();
    assert_eq!(error.system, System::Store);
    assert_eq!(
        order(&store).await,
        [("dev".into(), 0), ("prod".into(), 1)],
        "positions untouched"
    );
}

#[tokio::test]
async fn history_is_not_loaded_but_can_be_read() {
    let (_dir, store) = open_temp().await;
    with_stack(&store).await;
    let dev = stage(3, "dev", 0);
    store
        .apply(vec![Change::InsertStage(dev.clone())])
        .await
        .unwrap();
    let mut changes = Vec::new();
    for n in 0..50 {
        let release = Release {
            id: ReleaseId(100 + n),
            stack_id: StackId(2),
            commit: commit(n as u32),
            included: vec![],
            forced: false,
            created_at: n,
            artifact: None,
        };
        let mut run = Run {
            id: RunId(1000 + n),
            stack_id: StackId(2),
            stage_id: dev.id,
            release_id: release.id,
            status: RunStatus::Succeeded,
            trigger: RunTrigger::Flow,
            parts: vec![],
            created_at: n,
            finished_at: Some(n),
            image: None,
            build_access: None,
            followed_from: None,
        };
        if n == 49 {
            run.status = RunStatus::Failed;
        }
        changes.push(Change::PutRelease(release));
        changes.push(Change::PutRun(run));
    }
    store.apply(changes).await.unwrap();
    let snapshot = store.load().await.unwrap();
    assert!(snapshot.active_runs.is_empty());
    assert_eq!(snapshot.latest_runs.len(), 1);
    assert_eq!(snapshot.latest_runs[0].id, RunId(1049));
    assert_eq!(
        snapshot.releases.len(),
        1,
        "only the newest release is live"
    );
    let history = store.run_history(dev.id, 10).await.unwrap();
    assert_eq!(history.len(), 10);
    assert_eq!(history[0].run.id, RunId(1049));
    assert_eq!(history[0].release.id, ReleaseId(149));
    assert!(store
        .deployed_release(dev.id, ReleaseId(120))
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .deployed_release(dev.id, ReleaseId(149))
            .await
            .unwrap()
            .is_none(),
        "failed there"
    );
}

#[tokio::test]
async fn the_engine_flows_and_restarts_on_a_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stageline.db");
    let fakes = Fakes::default();
    let start = |store: SqliteStore| {
        let mut ports = fakes.ports();
        ports.store = std::sync::Arc::new(store);
        Pipeline::start(ports, test_config())
    };
    let pipeline = start(SqliteStore::open(&path).await.unwrap())
        .await
        .unwrap();
    pipeline
        .send(Input::PutAccount(test_account(1)))
        .await
        .unwrap();
    let stack = test_stack(2, "shop", AccountId(1));
    pipeline
        .send(Input::CreateStack {
            stack: stack.clone(),
            first_region: "us-east-1".into(),
            watch: true,
        })
        .await
        .unwrap();
    let dev = pipeline
        .read(move |s| s.flow_of(StackId(2))[0].id)
        .await
        .unwrap();
    let mut prod = first_stage_settings("us-west-2");
    prod.name = "prod".into();
    prod.requires_approval = true;
    pipeline
        .send(Input::CreateStage {
            stack_id: stack.id,
            after: Some(dev),
            settings: prod,
        })
        .await
        .unwrap();
    pipeline
        .send(Input::CommitDetected {
            stack_id: stack.id,
            head: commit(1),
            included: vec![],
            forced: false,
        })
        .await
        .unwrap();
    wait_until(&pipeline, "prod awaits approval", |s| {
        s.pending_approvals().count() == 1
    })
    .await;
    drop(pipeline);

    let pipeline = start(SqliteStore::open(&path).await.unwrap())
        .await
        .unwrap();
    let approval = pipeline
        .read(|s| s.pending_approvals().next().cloned())
        .await
        .unwrap()
        .expect("kept");
    let decision = Decision {
        by: "ada".into(),
        at: 1,
        comment: "go".into(),
        via: DecisionSource::Dashboard,
    };
    pipeline.decide(approval.id, true, decision).await.unwrap();
    wait_until(&pipeline, "prod runs commit 1", |s| {
        s.stages_of(StackId(2))
            .iter()
            .all(|st| s.flow(st.id).deployed.is_some())
    })
    .await;
    let names: Vec<String> = fakes
        .deployer
        .deploys()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["dev", "prod"]);
}
