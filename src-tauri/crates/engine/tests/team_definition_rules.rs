//! R22: a team stack's stages follow the team's shared definition, by stage
//! name: a teammate's new stage is inserted where the team has it and
//! deploys like one added here (R7), changed settings take effect through
//! the rules of an edit here (R6, R12), a stage the team no longer has goes
//! without touching AWS, and a stage this desktop refuses is named in the
//! stack's warning while the rest still applies.

mod common;

use common::*;
use stageline_engine::flow::Input;
use stageline_engine::testing::commit;
use stageline_engine::*;

fn place() -> TeamPlace {
    TeamPlace {
        bucket: "team-state".into(),
        prefix: "stageline/shop".into(),
        region: "us-east-1".into(),
    }
}

async fn shared_flow(stages: &[(&str, bool)]) -> Flow {
    let flow = Flow::new(stages).await;
    flow.pipeline
        .send(Input::SetTeam {
            stack_id: flow.stack,
            team: Some(place()),
            moved_secrets: Vec::new(),
        })
        .await
        .unwrap();
    flow
}

/// The stages' settings here, in flow order.
async fn local_settings(flow: &Flow) -> Vec<StageSettings> {
    let stack = flow.stack;
    flow.pipeline
        .read(move |s| {
            s.flow_of(stack)
                .iter()
                .map(|st| st.settings.clone())
                .collect()
        })
        .await
        .unwrap()
}

async fn follow(flow: &Flow, stages: Vec<StageSettings>) -> Result<(), EngineError> {
    flow.pipeline
        .send(Input::FollowTeamDefinition {
            stack_id: flow.stack,
            stages,
        })
        .await
        .map(|_| ())
}

async fn names(flow: &Flow) -> Vec<String> {
    local_settings(flow)
        .await
        .into_iter()
        .map(|s| s.name)
        .collect()
}

#[tokio::test]
async fn a_teammates_new_stage_and_changed_settings_apply_here_under_the_usual_rules() {
    let flow = shared_flow(&[("prod", true)]).await;
    flow.commit(1).await;
    flow.wait_approval("prod", 1).await;

    // A teammate inserted canary between dev and prod, switched prod's
    // approval off and set dev to three tasks.
    let mut team = local_settings(&flow).await;
    team[0].desired_count = 3;
    team[1].requires_approval = false;
    team.insert(1, settings("canary", false));
    follow(&flow, team.clone()).await.unwrap();

    assert_eq!(names(&flow).await, ["dev", "canary", "prod"]);
    // R7: the new stage deploys what dev runs; R6: prod's waiting release goes on.
    flow.wait_deployed("canary", 1).await;
    flow.wait_deployed("prod", 1).await;
    flow.settle().await;
    assert!(
        flow.fakes
            .deployer
            .scales()
            .contains(&("dev".to_string(), 3)),
        "R12: dev scaled without a redeploy: {:?}",
        flow.fakes.deployer.scales()
    );
    assert_eq!(
        local_settings(&flow).await,
        team,
        "the team's settings, here"
    );

    // The same definition again changes nothing; a restart keeps it all.
    follow(&flow, team.clone()).await.unwrap();
    let flow = flow.restart().await;
    assert_eq!(local_settings(&flow).await, team);
}

#[tokio::test]
async fn a_stage_the_team_no_longer_has_goes_here_without_touching_aws() {
    let flow = shared_flow(&[("canary", false), ("prod", false)]).await;
    flow.commit(1).await;
    flow.wait_deployed("prod", 1).await;
    let mut team = local_settings(&flow).await;
    team.remove(1);
    follow(&flow, team).await.unwrap();
    flow.settle().await;
    assert_eq!(names(&flow).await, ["dev", "prod"]);
    assert!(
        flow.fakes.deployer.deleted().is_empty(),
        "the teammate who deleted canary tears its stack down: {:?}",
        flow.fakes.deployer.deleted()
    );
    let flow = flow.restart().await;
    assert_eq!(names(&flow).await, ["dev", "prod"]);
}

#[tokio::test]
async fn a_shared_stage_refused_here_is_named_in_the_stacks_warning_and_the_rest_applies() {
    let flow = shared_flow(&[("prod", false)]).await;
    let mut team = local_settings(&flow).await;
    let mut moved = team[1].clone();
    moved.region = "eu-west-1".into();
    team[1] = moved;
    team.push(settings("qa", false));
    follow(&flow, team).await.unwrap();

    assert_eq!(names(&flow).await, ["dev", "prod", "qa"], "qa still added");
    let stack = flow.stack;
    let warnings = flow
        .pipeline
        .read(move |s| {
            s.stack_warnings(stack)
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("prod") && warnings[0].contains("region cannot change"),
        "{warnings:?}"
    );
    assert_eq!(
        local_settings(&flow).await[1].region,
        "us-east-1",
        "prod unchanged"
    );

    // The team puts prod back: the warning goes.
    let team = local_settings(&flow).await;
    follow(&flow, team).await.unwrap();
    let warnings = flow
        .pipeline
        .read(move |s| s.stack_warnings(stack).len())
        .await
        .unwrap();
    assert_eq!(warnings, 0);
}

#[tokio::test]
async fn only_a_team_stack_follows_a_definition_and_never_an_empty_one() {
    let flow = Flow::new(&[]).await;
    let solo = follow(&flow, vec![settings("dev", false)]).await;
    assert!(matches!(solo, Err(EngineError::NotFound(_))), "{solo:?}");

    let flow = shared_flow(&[]).await;
    let empty = follow(&flow, Vec::new()).await.unwrap_err();
    assert!(empty.to_string().contains("no stages"), "{empty}");
    assert_eq!(names(&flow).await, ["dev"], "nothing removed");
}

#[tokio::test]
async fn the_team_is_read_often_while_a_team_stack_waits_and_seldom_while_idle() {
    use stageline_engine::team::{team_poll_due, TEAM_POLL_BUSY, TEAM_POLL_IDLE};

    // A solo stack waiting for a decision costs the team nothing.
    let solo = Flow::new(&[("prod", true)]).await;
    solo.commit(1).await;
    solo.wait_approval("prod", 1).await;
    assert!(!solo.pipeline.read(|s| s.team_busy()).await.unwrap());

    let flow = shared_flow(&[("prod", true)]).await;
    flow.settle().await;
    assert!(
        !flow.pipeline.read(|s| s.team_busy()).await.unwrap(),
        "idle before any commit"
    );
    flow.commit(1).await;
    flow.wait_approval("prod", 1).await;
    assert!(
        flow.pipeline.read(|s| s.team_busy()).await.unwrap(),
        "prod waits for a decision"
    );

    assert!(team_poll_due(true, TEAM_POLL_BUSY));
    assert!(!team_poll_due(true, TEAM_POLL_BUSY - 1));
    assert!(!team_poll_due(false, TEAM_POLL_BUSY));
    assert!(team_poll_due(false, TEAM_POLL_IDLE));
}

/// The summary of a run a teammate's desktop made at `stage` of `release`,
/// ending at `finished_at`.
fn teammates_run(
    stage: &str,
    release: &Release,
    trigger: RunTrigger,
    status: RunStatus,
    finished_at: i64,
) -> stageline_engine::team::SharedRunSummary {
    stageline_engine::team::SharedRunSummary {
        run_key: format!("{}-here-999", release.commit.sha),
        stage_name: stage.into(),
        commit: release.commit.clone(),
        status,
        trigger,
        parts: Vec::new(),
        created_at: finished_at - 1_000,
        finished_at,
        image: None,
    }
}

/// The store's release of commit `n`.
async fn stored_release(flow: &Flow, n: u32) -> Release {
    use stageline_engine::ports::Store;
    flow.fakes
        .store
        .release_of_commit(flow.stack, &commit(n).sha)
        .await
        .unwrap()
        .expect("the store has the commit's release")
}

async fn follow_run(
    flow: &Flow,
    release: &Release,
    summary: stageline_engine::team::SharedRunSummary,
) {
    flow.pipeline
        .send(Input::FollowTeammateRun {
            stack_id: flow.stack,
            release: release.clone(),
            summary,
        })
        .await
        .unwrap();
    flow.settle().await;
}

#[tokio::test]
async fn a_teammates_newer_redeploy_is_followed_once_and_older_or_failed_runs_are_not() {
    let flow = shared_flow(&[("prod", false)]).await;
    flow.commit(1).await;
    flow.wait_deployed("prod", 1).await;
    flow.commit(2).await;
    flow.wait_deployed("prod", 2).await;
    let first = stored_release(&flow, 1).await;
    let latest_end = flow
        .latest_run("dev")
        .await
        .and_then(|r| r.finished_at)
        .unwrap();
    let redeploy = RunTrigger::Redeploy {
        decision: by_ada("back to 1"),
    };
    let runs_before = flow.fakes.deployer.deploys().len();

    // Older than this desktop's own last run at dev, or failed: nothing.
    let older = teammates_run(
        "dev",
        &first,
        redeploy.clone(),
        RunStatus::Succeeded,
        latest_end - 1,
    );
    follow_run(&flow, &first, older).await;
    let failed = teammates_run(
        "dev",
        &first,
        redeploy.clone(),
        RunStatus::Failed,
        latest_end + 5,
    );
    follow_run(&flow, &first, failed).await;
    assert_eq!(flow.deployed_sha("dev").await, Some(commit(2).sha));

    // A newer success: dev runs commit 1 here too, without deploying again,
    // and it goes no further (a redeploy stays where it is, R7).
    let newer = teammates_run(
        "dev",
        &first,
        redeploy.clone(),
        RunStatus::Succeeded,
        latest_end + 10,
    );
    follow_run(&flow, &first, newer.clone()).await;
    assert_eq!(flow.deployed_sha("dev").await, Some(commit(1).sha));
    assert_eq!(flow.deployed_sha("prod").await, Some(commit(2).sha));
    let latest = flow.latest_run("dev").await.unwrap();
    assert!(matches!(latest.trigger, RunTrigger::Redeploy { .. }));
    // Known here by the team's name of it, so the stage window does not
    // list it again among the teammates' runs.
    assert_eq!(
        latest.followed_from.as_deref(),
        Some(newer.run_key.as_str())
    );
    let key = stageline_engine::team::run_key(&latest, &first.commit.sha);
    assert_eq!(key, newer.run_key);
    assert_eq!(latest.status, RunStatus::Succeeded);
    assert_eq!(
        flow.fakes.deployer.deploys().len(),
        runs_before,
        "nothing deployed here"
    );

    // Read again: the same run is not recorded twice.
    follow_run(&flow, &first, newer).await;
    let again = flow.latest_run("dev").await.unwrap();
    assert_eq!(again.id, latest.id);

    // A solo stack follows nothing.
    let solo = Flow::new(&[]).await;
    solo.commit(1).await;
    solo.wait_deployed("dev", 1).await;
    let release = stored_release(&solo, 1).await;
    let before = solo.latest_run("dev").await.unwrap().id;
    let summary = teammates_run(
        "dev",
        &release,
        redeploy,
        RunStatus::Succeeded,
        i64::MAX / 2,
    );
    follow_run(&solo, &release, summary).await;
    assert_eq!(solo.latest_run("dev").await.unwrap().id, before);
}

#[tokio::test]
async fn a_teammates_retry_that_flows_on_sends_the_release_to_the_next_stage_here() {
    let flow = shared_flow(&[("prod", false)]).await;
    flow.fakes.deployer.fail("dev");
    flow.commit(1).await;
    flow.wait_run("dev", RunStatus::Failed).await;
    flow.fakes.deployer.heal("dev");
    let release = stored_release(&flow, 1).await;
    let failed_end = flow.latest_run("dev").await.unwrap().finished_at.unwrap();
    let retry = RunTrigger::Retry {
        decision: by_ada("once more"),
        flows_on: true,
    };
    let summary = teammates_run(
        "dev",
        &release,
        retry,
        RunStatus::Succeeded,
        failed_end + 10,
    );
    follow_run(&flow, &release, summary).await;
    flow.wait_deployed("dev", 1).await;
    // Prod runs it here (a flow run: the teammate's desktop, holding prod's
    // lease, would share its result; solo fakes run it here).
    flow.wait_deployed("prod", 1).await;
}
