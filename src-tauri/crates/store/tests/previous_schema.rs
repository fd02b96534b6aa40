//! A database written by the previous version (schema 0001 only, with rows
//! as that version wrote them) opens in this one: the new migration runs,
//! every row reads back, and the engine resumes from it.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use stageline_engine::flow::Input;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::ports::Store;
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_store::SqliteStore;

/// Makes `path` as the previous version left it: only migration 0001 applied
/// (through sqlx's own bookkeeping, so the checksum is the real one).
async fn previous_version_database(path: &Path, migrations: &Path, more_rows: &[&str]) {
    std::fs::create_dir_all(migrations).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/0001_initial.sql"),
        migrations.join("0001_initial.sql"),
    )
    .unwrap();
    let mut db = SqliteConnectOptions::from_str("sqlite:")
        .unwrap()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(migrations)
        .await
        .unwrap()
        .run(&mut db)
        .await
        .unwrap();
    // Rows exactly as the 0001 version wrote them (its JSON shapes included:
    // a retry without `flowsOn`, a flow row without a reached release).
    let statements = [
        r#"INSERT INTO accounts VALUES (1, 'Test account', '{"kind":"keychain","keychainRef":"account/1"}', 'us-east-1', NULL)"#,
        r#"INSERT INTO stacks VALUES (2, 'shop', '/repos/shop', 'main', 1, 30, 0, 0)"#,
        r#"INSERT INTO stages VALUES (3, 2, 0, 'dev', '{"name":"dev","region":"us-east-1","database":{"kind":"none"},"requiresApproval":false,"routing":"apiGateway","caching":false,"buildEnv":[],"runtimeEnv":[],"desiredCount":1}', '{"kind":"active"}')"#,
        r#"INSERT INTO stages VALUES (4, 2, 1, 'prod', '{"name":"prod","region":"us-east-1","database":{"kind":"none"},"requiresApproval":true,"routing":"apiGateway","caching":false,"buildEnv":[],"runtimeEnv":[],"desiredCount":1}', '{"kind":"active"}')"#,
        r#"INSERT INTO releases VALUES (10, 2, 'c000000000000000000000000000000000000001', 5, '{"id":10,"stackId":2,"commit":{"sha":"c000000000000000000000000000000000000001","message":"Change number 1","author":"Ada","time":1000},"included":[],"forced":false,"createdAt":5,"artifact":{"image":"repo:c1"}}')"#,
        r#"INSERT INTO runs VALUES (11, 2, 3, 10, 'succeeded', 6, '{"id":11,"stackId":2,"stageId":3,"releaseId":10,"status":"succeeded","trigger":{"kind":"retry","decision":{"by":"ada","at":1,"comment":"again","via":"dashboard"}},"parts":[{"kind":"build","status":"succeeded","startedAt":6,"finishedAt":7,"message":null},{"kind":"release","status":"succeeded","startedAt":7,"finishedAt":8,"message":null},{"kind":"deploy","status":"succeeded","startedAt":8,"finishedAt":9,"message":null}],"createdAt":6,"finishedAt":9}')"#,
        r#"INSERT INTO approvals VALUES (12, 2, 4, 10, 'pending', '{"id":12,"stackId":2,"stageId":4,"releaseId":10,"status":"pending","requestedAt":9,"decision":null}')"#,
        r#"INSERT INTO stage_flows VALUES (3, 10, NULL)"#,
    ];
    for statement in statements.iter().chain(more_rows) {
        sqlx::query(statement).execute(&mut db).await.unwrap();
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_database_of_the_previous_version_opens_and_reads_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stageline.db");
    previous_version_database(&path, &dir.path().join("old-migrations"), &[]).await;

    let store = SqliteStore::open(&path).await.unwrap();
    let snapshot = store.load().await.unwrap();
    assert_eq!(snapshot.accounts, [test_account(1)]);
    assert_eq!(snapshot.stacks, [test_stack(2, "shop", AccountId(1))]);
    let names: Vec<&str> = snapshot
        .stages
        .iter()
        .map(|s| s.settings.name.as_str())
        .collect();
    assert_eq!(names, ["dev", "prod"]);
    assert_eq!(snapshot.flows.len(), 1);
    assert_eq!(snapshot.flows[0].deployed, Some(ReleaseId(10)));
    assert_eq!(
        snapshot.flows[0].reached, None,
        "the new column starts empty"
    );
    assert!(snapshot.requests.is_empty());
    // Migration 0005: old stages verify nothing (as before), their old runs
    // read a skipped verify part, nothing is frozen, and dev's service row
    // was made from its deployed release (this old run recorded no image).
    assert!(snapshot
        .stages
        .iter()
        .all(|s| !s.settings.verification.is_on()));
    assert!(snapshot.freezes.is_empty());
    assert_eq!(
        snapshot.services,
        [(StageId(3), StageService::default())],
        "a row for the stage that deployed"
    );
    assert_eq!(
        snapshot.latest_runs[0].part(PartKind::Verify).status,
        PartStatus::Skipped
    );
    assert_eq!(snapshot.highest_id, 12);
    assert_eq!(snapshot.pending_approvals.len(), 1);
    let run = &snapshot.latest_runs[0];
    assert!(
        matches!(&run.trigger, RunTrigger::Retry { flows_on: true, decision } if decision.comment == "again"),
        "an old retry flowed on, and still reads so"
    );
    let history = store.run_history(StageId(3), 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].release.artifact.as_ref().unwrap().image,
        "repo:c1"
    );

    // Migration 0004 filled the Insights columns from the old rows' JSON
    // (their times are tiny: the run ended at 9 ms, its parts took 1 ms each).
    let insights = store.insights(StackId(2), 7, 86_400_000).await.unwrap();
    let dev = &insights.stages[0];
    assert_eq!(dev.deployments, 1);
    assert_eq!(
        dev.lead_time_ms,
        Some(9 - 1000),
        "commit time read from the JSON"
    );
    let point = &dev.durations[0];
    assert_eq!(
        (point.build_ms, point.release_ms, point.deploy_ms),
        (1, 1, 1)
    );

    // The engine resumes on it: the old approval can be decided, and new ids
    // are above the old rows' whatever the clock says.
    let fakes = Fakes::default();
    fakes.clock.set_next_id(1);
    // dev's image, tagged :dev in the stack's repository: prod's release.yml copies it.
    let repository = FakeDeployer::repository_url(&test_stack(2, "shop", AccountId(1)));
    fakes.registry.create(&repository);
    fakes
        .registry
        .push(&repository, "dev", &fake_digest("c1"))
        .unwrap();
    let mut ports = fakes.ports();
    ports.store = std::sync::Arc::new(store.clone());
    let pipeline = Pipeline::start(ports, test_config()).await.unwrap();
    let decision = Decision {
        by: "ada".into(),
        at: 2,
        comment: "ship".into(),
        via: DecisionSource::Dashboard,
    };
    pipeline
        .decide(ApprovalId(12), true, decision)
        .await
        .unwrap();
    wait_until(&pipeline, "prod runs the old release", |s| {
        s.flow(StageId(4)).deployed == Some(ReleaseId(10))
    })
    .await;
    let prod_run = store.run_history(StageId(4), 1).await.unwrap();
    assert!(prod_run[0].run.id.0 > 12, "ids continue above the old rows");
    pipeline
        .send(Input::CommitDetected {
            stack_id: StackId(2),
            head: commit(2),
            included: vec![],
            forced: false,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn an_old_deploy_that_changed_nothing_reads_as_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stageline.db");
    // A run of the previous version that said "no changes" only in words.
    let unchanged_run = r#"INSERT INTO runs VALUES (13, 2, 3, 10, 'succeeded', 5, '{"id":13,"stackId":2,"stageId":3,"releaseId":10,"status":"succeeded","trigger":{"kind":"flow"},"parts":[{"kind":"build","status":"succeeded","startedAt":1,"finishedAt":2,"message":null},{"kind":"release","status":"succeeded","startedAt":2,"finishedAt":3,"message":null},{"kind":"deploy","status":"succeeded","startedAt":3,"finishedAt":4,"message":"No changes"}],"createdAt":1,"finishedAt":4}')"#;
    previous_version_database(&path, &dir.path().join("old-migrations"), &[unchanged_run]).await;
    let store = SqliteStore::open(&path).await.unwrap();
    let history = store.run_history(StageId(3), 10).await.unwrap();
    let deploys: Vec<(RunId, bool)> = history
        .iter()
        .map(|h| (h.run.id, h.run.part(PartKind::Deploy).unchanged))
        .collect();
    assert_eq!(deploys, [(RunId(13), true), (RunId(11), false)]);
}

#[tokio::test]
async fn stacks_of_the_previous_version_open_solo_and_a_team_place_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stageline.db");
    previous_version_database(&path, &dir.path().join("old-migrations"), &[]).await;
    let store = SqliteStore::open(&path).await.unwrap();
    let snapshot = store.load().await.unwrap();
    let mut stack = snapshot.stacks.into_iter().next().unwrap();
    assert_eq!(stack.team, None, "a stack made before team stacks is solo");
    stack.team = Some(TeamPlace {
        bucket: "team-state".into(),
        prefix: "stageline/shop".into(),
        region: "eu-west-1".into(),
    });
    store
        .apply(vec![stageline_engine::ports::Change::PutStack(
            stack.clone(),
        )])
        .await
        .unwrap();
    drop(store);
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.load().await.unwrap().stacks, vec![stack]);
}
