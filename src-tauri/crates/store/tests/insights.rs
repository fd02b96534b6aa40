//! The Insights view's delivery figures, computed by SQL over runs written
//! through `apply` into a real SQLite file.

use stageline_engine::order::first_stage_settings;
use stageline_engine::ports::{Change, Store};
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_store::SqliteStore;

const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;
/// "Now" for every test: day 10 of the epoch, so the 7-day window starts at day 3.
const NOW: Millis = 10 * DAY;

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

/// A release whose commit was made at `commit_time`.
fn release(id: i64, commit_time: Millis) -> Release {
    let mut commit = commit(id as u32);
    commit.time = commit_time;
    Release {
        id: ReleaseId(id),
        stack_id: StackId(2),
        commit,
        included: vec![],
        forced: false,
        created_at: commit_time,
        artifact: None,
    }
}

/// A run at `stage` that ended at `finished` after a 1 min build, a 2 min
/// release and a 3 min deploy.
fn run(id: i64, stage: i64, release: i64, status: RunStatus, finished: Millis) -> Run {
    let minute = 60_000;
    let start = finished - 6 * minute;
    let mut parts: Vec<Part> = PartKind::ALL.iter().map(|k| Part::pending(*k)).collect();
    for (part, (from, to)) in parts.iter_mut().zip([(0, 1), (1, 3), (3, 6)]) {
        part.started_at = Some(start + from * minute);
        part.finished_at = Some(start + to * minute);
    }
    Run {
        id: RunId(id),
        stack_id: StackId(2),
        stage_id: StageId(stage),
        release_id: ReleaseId(release),
        status,
        trigger: RunTrigger::Flow,
        parts,
        created_at: start,
        finished_at: Some(finished),
        image: None,
        build_access: None,
        followed_from: None,
    }
}

fn rollback(mut run: Run) -> Run {
    run.trigger = RunTrigger::Redeploy {
        decision: Decision {
            by: "ada".into(),
            at: run.created_at,
            comment: "back".into(),
            via: DecisionSource::Dashboard,
        },
    };
    run
}

async fn store_with(runs: Vec<Run>) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("stageline.db"))
        .await
        .unwrap();
    let mut changes = vec![
        Change::PutAccount(test_account(1)),
        Change::PutStack(test_stack(2, "shop", AccountId(1))),
        Change::InsertStage(stage(3, "dev", 0)),
        Change::InsertStage(stage(4, "prod", 1)),
        Change::PutRelease(release(10, 4 * DAY)),
        Change::PutRelease(release(11, 5 * DAY)),
        Change::PutRelease(release(12, DAY)),
    ];
    changes.extend(runs.into_iter().map(Change::PutRun));
    store.apply(changes).await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn figures_count_what_ended_in_the_window_stage_by_stage() {
    let (_dir, store) = store_with(vec![
        // dev: ok, two failures in a row, restored 3 h after the first, a rollback.
        run(20, 3, 10, RunStatus::Succeeded, 4 * DAY + HOUR),
        run(21, 3, 11, RunStatus::Failed, 5 * DAY + HOUR),
        run(22, 3, 11, RunStatus::Failed, 5 * DAY + 2 * HOUR),
        run(23, 3, 11, RunStatus::Succeeded, 5 * DAY + 4 * HOUR),
        rollback(run(24, 3, 10, RunStatus::Succeeded, 6 * DAY)),
        // Not changes: superseded, cancelled, still running; and one before the window.
        run(25, 3, 11, RunStatus::Superseded, 6 * DAY),
        run(26, 3, 11, RunStatus::Cancelled, 6 * DAY),
        Run {
            finished_at: None,
            status: RunStatus::Running,
            ..run(27, 3, 11, RunStatus::Running, 9 * DAY)
        },
        run(28, 3, 12, RunStatus::Failed, 2 * DAY),
        // prod: one deploy, commit → prod in 2 days.
        run(30, 4, 10, RunStatus::Succeeded, 6 * DAY),
    ])
    .await;

    let insights = store.insights(StackId(2), 7, NOW).await.unwrap();
    assert_eq!(insights.since, 3 * DAY);
    let names: Vec<&str> = insights.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["dev", "prod"], "stages in pipeline order");

    let dev = &insights.stages[0];
    assert_eq!(
        (dev.deployments, dev.failures, dev.rollbacks),
        (3, 2, 1),
        "succeeded (the rollback too), failed, rollbacks"
    );
    assert_eq!(
        dev.change_failure_rate,
        Some(3.0 / 5.0),
        "(failed + rollbacks) / (succeeded + failed)"
    );
    assert_eq!(
        dev.time_to_restore_ms,
        Some(3 * HOUR),
        "from the streak's first failure to the next success"
    );
    // Lead times of dev's successes: 1 h (r10), 4 h (r11), 2 days (r10 again): median 4 h.
    assert_eq!(dev.lead_time_ms, Some(4 * HOUR));
    assert_eq!(dev.per_day.len(), 7);
    let per_day: Vec<(u32, u32)> = dev
        .per_day
        .iter()
        .map(|d| (d.deployments, d.failures))
        .collect();
    assert_eq!(
        per_day,
        [(0, 0), (1, 0), (1, 2), (1, 0), (0, 0), (0, 0), (0, 0)]
    );
    assert_eq!(dev.per_day[1].day, 4 * DAY);
    assert_eq!(dev.per_day[1].lead_time_ms, Some(HOUR));
    assert_eq!(dev.per_day[0].lead_time_ms, None);
    let runs: u32 = dev.durations.iter().map(|p| p.runs).sum();
    assert_eq!(runs, 5, "every change is in the duration chart");
    for point in &dev.durations {
        assert_eq!(
            (point.build_ms, point.release_ms, point.deploy_ms),
            (60_000, 120_000, 180_000)
        );
    }

    let prod = &insights.stages[1];
    assert_eq!((prod.deployments, prod.failures), (1, 0));
    assert_eq!(
        prod.lead_time_ms,
        Some(2 * DAY),
        "commit → deployed at prod"
    );
    assert_eq!(prod.change_failure_rate, Some(0.0));
    assert_eq!(prod.time_to_restore_ms, None, "nothing failed");
}

#[tokio::test]
async fn a_stage_without_runs_has_no_figures_and_a_failure_not_yet_restored_has_no_restore_time() {
    let (_dir, store) = store_with(vec![run(20, 3, 10, RunStatus::Failed, 4 * DAY)]).await;
    let insights = store.insights(StackId(2), 30, NOW).await.unwrap();
    let dev = &insights.stages[0];
    assert_eq!(dev.change_failure_rate, Some(1.0));
    assert_eq!(dev.time_to_restore_ms, None);
    assert_eq!(dev.lead_time_ms, None);
    let prod = &insights.stages[1];
    assert_eq!((prod.deployments, prod.failures), (0, 0));
    assert_eq!(prod.change_failure_rate, None);
    assert!(prod.durations.is_empty());
    assert_eq!(prod.per_day.len(), 30);
}

#[tokio::test]
async fn a_run_that_ends_later_moves_into_the_figures() {
    let running = Run {
        finished_at: None,
        status: RunStatus::Running,
        ..run(20, 3, 10, RunStatus::Running, 4 * DAY)
    };
    let (_dir, store) = store_with(vec![running]).await;
    let before = store.insights(StackId(2), 7, NOW).await.unwrap();
    assert_eq!(before.stages[0].deployments, 0);
    store
        .apply(vec![Change::PutRun(run(
            20,
            3,
            10,
            RunStatus::Succeeded,
            4 * DAY,
        ))])
        .await
        .unwrap();
    let after = store.insights(StackId(2), 7, NOW).await.unwrap();
    assert_eq!(after.stages[0].deployments, 1);
    assert_eq!(after.stages[0].durations[0].deploy_ms, 180_000);
}

#[tokio::test]
async fn a_run_written_again_counts_once_and_a_deleted_stack_leaves_nothing() {
    let ended = run(20, 3, 10, RunStatus::Failed, 5 * DAY);
    let (_dir, store) = store_with(vec![ended.clone()]).await;
    // Written again as it was, then turned into a success an hour later.
    store
        .apply(vec![Change::PutRun(ended.clone())])
        .await
        .unwrap();
    store
        .apply(vec![Change::PutRun(Run {
            status: RunStatus::Succeeded,
            finished_at: Some(5 * DAY + HOUR),
            ..ended
        })])
        .await
        .unwrap();
    let dev = store.insights(StackId(2), 7, NOW).await.unwrap().stages[0].clone();
    assert_eq!((dev.deployments, dev.failures), (1, 0));
    assert_eq!(
        dev.lead_time_ms,
        Some(DAY + HOUR),
        "commit at day 4, deployed at day 5 + 1 h"
    );

    store
        .apply(vec![Change::DeleteStack(StackId(2))])
        .await
        .unwrap();
    // The same ids again: nothing of the deleted stack's runs is counted.
    store
        .apply(vec![
            Change::PutStack(test_stack(2, "shop", AccountId(1))),
            Change::InsertStage(stage(3, "dev", 0)),
        ])
        .await
        .unwrap();
    let dev = store.insights(StackId(2), 7, NOW).await.unwrap().stages[0].clone();
    assert_eq!(
        (dev.deployments, dev.failures, dev.lead_time_ms),
        (0, 0, None)
    );
}
