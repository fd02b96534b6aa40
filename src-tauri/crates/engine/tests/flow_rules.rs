//! The flow rules of SPEC.md about a release's way through the stages
//! (R2–R6), one test (or more) per rule, on in-memory fakes.

mod common;

use common::*;
use stageline_engine::flow::Input;
use stageline_engine::testing::*;
use stageline_engine::*;

#[tokio::test]
async fn r2_a_commit_becomes_a_release_and_enters_the_first_stage() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    let release = flow.release_of(1);
    let dev_run = flow.latest_run("dev").await.unwrap();
    assert_eq!(dev_run.release_id, release);
    assert_eq!(dev_run.trigger, RunTrigger::Flow);
}

#[tokio::test]
async fn r2_the_same_head_twice_is_one_release() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    let created = flow
        .fakes
        .events
        .all()
        .iter()
        .filter(|e| matches!(e, PipelineEvent::ReleaseCreated { .. }))
        .count();
    assert_eq!(created, 1);
}

#[tokio::test]
async fn r3_build_runs_once_per_commit_release_and_deploy_once_per_stage() {
    let flow = Flow::new(&[("test", false), ("prod", false)]).await;
    flow.commit(1).await;
    flow.wait_deployed("prod", 1).await;
    let builder = &flow.fakes.builder;
    assert_eq!(builder.count(PartKind::Build), 1, "one build per commit");
    assert_eq!(builder.count(PartKind::Release), 3, "release.yml per stage");
    let deployed: Vec<String> = flow
        .fakes
        .deployer
        .deploys()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(deployed, ["dev", "test", "prod"]);
    let test_run = flow.latest_run("test").await.unwrap();
    assert_eq!(test_run.part(PartKind::Build).status, PartStatus::Reused);
}

#[tokio::test]
async fn r3_release_yml_gets_the_injected_variables() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.commit(1).await;
    flow.wait_deployed("prod", 1).await;
    let releases: Vec<_> = flow
        .fakes
        .builder
        .calls()
        .into_iter()
        .filter(|c| c.part == PartKind::Release)
        .collect();
    let var = |call: &testing::BuilderCall, name: &str| {
        call.injected
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(var(&releases[0], "STAGE_NAME"), "dev");
    assert_eq!(var(&releases[0], "PREVIOUS_STAGE_NAME"), "latest");
    assert_eq!(var(&releases[1], "STAGE_NAME"), "prod");
    assert_eq!(var(&releases[1], "PREVIOUS_STAGE_NAME"), "dev");
    let conditional = [
        "REGIONAL_ECR_ENDPOINT",
        "REGIONAL_ECR_IMAGE_URL",
        "AWS_ENDPOINT_URL",
    ];
    for name in validation::INJECTED_VARIABLES {
        if !conditional.contains(name) {
            assert!(!var(&releases[1], name).is_empty(), "{name} is injected");
        }
    }
    assert_eq!(var(&releases[1], "STAGE_REGION"), "us-east-1");
}

#[tokio::test]
async fn r4_a_failed_deploy_stops_the_flow_and_later_stages_keep_what_they_run() {
    let flow = Flow::new(&[("test", false), ("prod", false)]).await;
    flow.commit(1).await;
    flow.wait_deployed("prod", 1).await;
    flow.fakes.deployer.fail("test");
    flow.commit(2).await;
    flow.wait_run("test", RunStatus::Failed).await;
    flow.settle().await;
    assert_eq!(flow.deployed_sha("dev").await, Some(commit(2).sha));
    assert_eq!(
        flow.deployed_sha("test").await,
        Some(commit(1).sha),
        "test keeps its previous release"
    );
    assert_eq!(
        flow.deployed_sha("prod").await,
        Some(commit(1).sha),
        "prod never saw commit 2"
    );
    let failed = flow.latest_run("test").await.unwrap();
    assert_eq!(failed.part(PartKind::Deploy).status, PartStatus::Failed);
    assert!(failed
        .part(PartKind::Deploy)
        .message
        .as_deref()
        .unwrap()
        .contains("rolled back"));
}

#[tokio::test]
async fn r4_a_failed_build_stops_the_release_at_the_first_stage() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.fakes.builder.fail(PartKind::Build, &commit(1).sha);
    flow.commit(1).await;
    flow.wait_run("dev", RunStatus::Failed).await;
    flow.settle().await;
    assert!(flow.latest_run("prod").await.is_none());
    assert!(flow.fakes.deployer.deploys().is_empty());
}

#[tokio::test]
async fn r4_the_next_commit_starts_again_from_the_first_stage() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.fakes.builder.fail(PartKind::Build, &commit(1).sha);
    flow.commit(1).await;
    flow.wait_run("dev", RunStatus::Failed).await;
    flow.commit(2).await;
    flow.wait_deployed("prod", 2).await;
    assert_eq!(flow.deployed_sha("dev").await, Some(commit(2).sha));
}

#[tokio::test]
async fn r5_a_stage_requiring_approval_holds_the_release() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    let approval = flow.wait_approval("prod", 1).await;
    assert_eq!(approval.status, ApprovalStatus::Pending);
    flow.settle().await;
    assert!(
        flow.latest_run("prod").await.is_none(),
        "nothing runs before the decision"
    );
}

#[tokio::test]
async fn r5_approving_starts_the_release_at_once_and_records_the_decision() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    let decision = Decision {
        by: "ada".into(),
        at: 5,
        comment: "Looks good".into(),
        via: DecisionSource::Notification,
    };
    flow.pipeline
        .decide(approval.id, true, decision.clone())
        .await
        .unwrap();
    flow.wait_deployed("prod", 1).await;
    let stored = flow
        .fakes
        .store
        .approvals()
        .into_iter()
        .find(|a| a.id == approval.id)
        .unwrap();
    assert_eq!(stored.status, ApprovalStatus::Approved);
    assert_eq!(stored.decision, Some(decision));
}

#[tokio::test]
async fn r5_rejecting_ends_the_release_there() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    flow.pipeline
        .decide(approval.id, false, by_ada("Not this one"))
        .await
        .unwrap();
    flow.settle().await;
    assert!(flow.latest_run("prod").await.is_none());
    let stored = flow
        .fakes
        .store
        .approvals()
        .into_iter()
        .find(|a| a.id == approval.id)
        .unwrap();
    assert_eq!(stored.status, ApprovalStatus::Rejected);
    assert_eq!(stored.decision.unwrap().comment, "Not this one");
    let again = flow
        .pipeline
        .decide(approval.id, true, by_ada(""))
        .await
        .unwrap_err();
    assert_eq!(
        again.code(),
        ErrorCode::Conflict,
        "a decided approval cannot be decided again"
    );
}

#[tokio::test]
async fn r6_switching_to_automatic_starts_the_waiting_release() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    let prod = flow.stage("prod").await;
    let mut automatic = settings("prod", false);
    automatic.region = "us-east-1".into();
    flow.pipeline
        .send(Input::UpdateStage {
            stage_id: prod,
            settings: automatic,
        })
        .await
        .unwrap();
    flow.wait_deployed("prod", 1).await;
    let stored = flow
        .fakes
        .store
        .approvals()
        .into_iter()
        .find(|a| a.id == approval.id)
        .unwrap();
    assert_eq!(stored.status, ApprovalStatus::Approved);
    assert_eq!(
        stored.decision.unwrap().via,
        DecisionSource::SwitchedToAutomatic
    );
}

#[tokio::test]
async fn r6_switching_to_manual_holds_later_releases() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.commit(1).await;
    flow.wait_deployed("prod", 1).await;
    let prod = flow.stage("prod").await;
    flow.pipeline
        .send(Input::UpdateStage {
            stage_id: prod,
            settings: settings("prod", true),
        })
        .await
        .unwrap();
    flow.commit(2).await;
    flow.wait_approval("prod", 2).await;
    assert_eq!(flow.deployed_sha("prod").await, Some(commit(1).sha));
}
