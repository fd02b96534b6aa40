//! The flow rules of SPEC.md about changing the stages under a flow and
//! one run per stage (R7–R9, R12, R16), retries, rollbacks, parallel
//! stacks, events and failed writes, on in-memory fakes.

mod common;

use common::*;
use stageline_engine::flow::Input;
use stageline_engine::testing::*;
use stageline_engine::*;

#[tokio::test]
async fn r7_a_new_stage_deploys_its_predecessors_last_release_at_once_without_approval() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    let dev = flow.stage("dev").await;
    let canary = flow
        .create_stage(Some(dev), settings("canary", true))
        .await
        .unwrap();
    flow.wait_deployed("canary", 1).await;
    let run = flow.latest_run("canary").await.unwrap();
    assert_eq!(run.trigger, RunTrigger::NewStage);
    assert_eq!(canary.position, 1);
    let order: Vec<StageId> = flow.stage_ids().await;
    assert_eq!(order, [dev, canary.id, flow.stage("prod").await]);
}

#[tokio::test]
async fn r7_a_new_stage_with_nothing_upstream_waits_for_the_next_release() {
    let flow = Flow::new(&[]).await;
    let dev = flow.stage("dev").await;
    flow.create_stage(Some(dev), settings("prod", false))
        .await
        .unwrap();
    flow.settle().await;
    assert!(flow.latest_run("prod").await.is_none());
}

#[tokio::test]
async fn r7_a_new_first_stage_deploys_the_branch_head() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    flow.create_stage(None, settings("build", true))
        .await
        .unwrap();
    flow.wait_deployed("build", 1).await;
    assert_eq!(
        flow.latest_run("build").await.unwrap().trigger,
        RunTrigger::NewStage
    );
    let names: Vec<StageId> = flow.stage_ids().await;
    assert_eq!(names[0], flow.stage("build").await);
}

#[tokio::test]
async fn r8_approving_while_the_new_stage_deploys_starts_at_once() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    // The canary recipe: insert canary before prod while prod awaits approval.
    flow.fakes.deployer.hold("canary");
    let dev = flow.stage("dev").await;
    let mut canary = settings("canary", false);
    canary.region = "us-west-2".into();
    flow.create_stage(Some(dev), canary).await.unwrap();
    flow.wait_part("canary", PartKind::Deploy).await;
    let still_pending = flow.wait_approval("prod", 1).await;
    assert_eq!(
        still_pending.id, approval.id,
        "the approval stays where it is"
    );
    flow.pipeline
        .decide(approval.id, true, by_ada("ship it"))
        .await
        .unwrap();
    flow.wait_deployed("prod", 1).await;
    assert_eq!(
        flow.latest_run("canary").await.unwrap().status,
        RunStatus::Running,
        "canary is still deploying"
    );
    flow.fakes.deployer.release("canary");
    flow.wait_deployed("canary", 1).await;
}

#[tokio::test]
async fn r9_deleting_needs_the_typed_word_and_changes_nothing_otherwise() {
    let flow = Flow::new(&[("prod", false)]).await;
    let prod = flow.stage("prod").await;
    let error = flow
        .pipeline
        .send(Input::DeleteStage {
            stage_id: prod,
            confirmation: "yes".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Invalid);
    assert_eq!(flow.stage_ids().await.len(), 2);
    assert!(flow.fakes.deployer.deleted().is_empty());
}

#[tokio::test]
async fn r9_deleting_a_stage_cancels_its_run_and_the_next_releases_flow_past_the_gap() {
    let flow = Flow::new(&[("canary", false), ("prod", false)]).await;
    flow.fakes.deployer.hold("canary");
    flow.commit(1).await;
    flow.wait_part("canary", PartKind::Deploy).await;
    let canary = flow.stage("canary").await;
    flow.delete_stage(canary).await.unwrap();
    let stack = flow.stack;
    wait_until(&flow.pipeline, "canary is gone", move |s| {
        s.stages_of(stack).len() == 2
    })
    .await;
    let cancelled = flow
        .fakes
        .store
        .runs()
        .into_iter()
        .find(|r| r.stage_id == canary)
        .unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(flow.fakes.deployer.deleted(), ["canary"]);
    flow.commit(2).await;
    flow.wait_deployed("prod", 2).await;
    let positions: Vec<(String, u32)> = flow
        .fakes
        .store
        .stages()
        .into_iter()
        .map(|s| (s.settings.name, s.position))
        .collect();
    assert_eq!(positions, [("dev".to_string(), 0), ("prod".to_string(), 1)]);
}

#[tokio::test]
async fn r9_a_stage_whose_aws_stack_fails_to_delete_stays_listed_and_can_be_retried() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.fakes.deployer.fail_delete("prod", true);
    let prod = flow.stage("prod").await;
    flow.delete_stage(prod).await.unwrap();
    wait_until(&flow.pipeline, "the delete failed", move |s| {
        matches!(
            s.stage(prod).map(|st| &st.lifecycle),
            Some(StageLifecycle::DeleteFailed { .. })
        )
    })
    .await;
    assert_eq!(flow.stage_ids().await.len(), 1, "it has left the flow");
    flow.fakes.deployer.fail_delete("prod", false);
    flow.pipeline
        .send(Input::RetryDeleteStage(prod))
        .await
        .unwrap();
    wait_until(&flow.pipeline, "prod is gone", move |s| {
        s.stage(prod).is_none()
    })
    .await;
}

#[tokio::test]
async fn r16_a_newer_release_waits_at_a_busy_stage_and_a_still_newer_one_supersedes_it() {
    let flow = Flow::new(&[]).await;
    flow.fakes.deployer.hold("dev");
    flow.commit(1).await;
    flow.wait_part("dev", PartKind::Deploy).await;
    flow.commit(2).await;
    flow.commit(3).await;
    flow.settle().await;
    let superseded = flow.fakes.events.all().into_iter().any(|e| {
        matches!(e, PipelineEvent::ReleaseSuperseded { release_id, .. } if release_id == flow.release_of(2))
    });
    assert!(superseded, "commit 2 was superseded by commit 3");
    flow.fakes.deployer.release("dev");
    flow.wait_deployed("dev", 3).await;
    let dev = flow.stage("dev").await;
    let rows: Vec<(ReleaseId, RunStatus)> = flow
        .fakes
        .store
        .runs()
        .into_iter()
        .filter(|r| r.stage_id == dev)
        .map(|r| (r.release_id, r.status))
        .collect();
    assert_eq!(
        rows,
        [
            (flow.release_of(1), RunStatus::Succeeded),
            (flow.release_of(2), RunStatus::Superseded),
            (flow.release_of(3), RunStatus::Succeeded),
        ],
        "commit 2 never ran; its row says it was superseded"
    );
}

#[tokio::test]
async fn r16_only_the_newest_release_waits_at_an_approval_gate() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let first = flow.wait_approval("prod", 1).await;
    flow.commit(2).await;
    let second = flow.wait_approval("prod", 2).await;
    let pending = flow
        .pipeline
        .read(|s| s.pending_approvals().count())
        .await
        .unwrap();
    assert_eq!(pending, 1);
    let stored = flow
        .fakes
        .store
        .approvals()
        .into_iter()
        .find(|a| a.id == first.id)
        .unwrap();
    assert_eq!(stored.status, ApprovalStatus::Superseded);
    assert_ne!(first.id, second.id);
}

#[tokio::test]
async fn r16_approving_a_superseded_release_returns_a_clear_error() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let first = flow.wait_approval("prod", 1).await;
    flow.commit(2).await;
    flow.wait_approval("prod", 2).await;
    let error = flow
        .pipeline
        .decide(first.id, true, by_ada(""))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Superseded);
    assert!(error.to_string().contains("newer release"));
    flow.settle().await;
    assert!(
        flow.latest_run("prod").await.is_none(),
        "nothing was deployed"
    );
}

#[tokio::test]
async fn retrying_a_failed_run_runs_the_release_again_and_it_flows_on() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.fakes.builder.fail(PartKind::Build, &commit(1).sha);
    flow.commit(1).await;
    flow.wait_run("dev", RunStatus::Failed).await;
    flow.fakes.builder.heal();
    let failed = flow.latest_run("dev").await.unwrap();
    flow.pipeline
        .send(Input::Retry {
            run_id: failed.id,
            decision: by_ada("fixed the runner"),
        })
        .await
        .unwrap();
    flow.wait_deployed("prod", 1).await;
    assert_eq!(flow.fakes.builder.count(PartKind::Build), 2);
}

#[tokio::test]
async fn redeploying_an_earlier_release_rolls_back_without_a_rebuild() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    flow.commit(2).await;
    flow.wait_deployed("dev", 2).await;
    let dev = flow.stage("dev").await;
    flow.pipeline
        .redeploy(dev, flow.release_of(1), by_ada("roll back"))
        .await
        .unwrap();
    flow.wait_deployed("dev", 1).await;
    assert_eq!(flow.fakes.builder.count(PartKind::Build), 2, "no rebuild");
    let run = flow.latest_run("dev").await.unwrap();
    assert!(
        matches!(run.trigger, RunTrigger::Redeploy { decision } if decision.comment == "roll back")
    );
}

#[tokio::test]
async fn redeploying_what_a_stage_runs_marks_its_deploy_unchanged() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    let first = flow.latest_run("dev").await.unwrap();
    assert!(!first.part(PartKind::Deploy).unchanged);
    let dev = flow.stage("dev").await;
    flow.pipeline
        .redeploy(dev, flow.release_of(1), by_ada("same again"))
        .await
        .unwrap();
    let first_id = first.id;
    wait_until(&flow.pipeline, "the redeploy ends", move |s| {
        s.latest_run(dev)
            .is_some_and(|r| r.id != first_id && r.status == RunStatus::Succeeded)
    })
    .await;
    let again = flow.latest_run("dev").await.unwrap();
    assert!(
        again.part(PartKind::Deploy).unchanged,
        "the UI reads the flag, not the words"
    );
}

#[tokio::test]
async fn redeploying_a_release_that_never_ran_at_the_stage_is_refused() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    flow.wait_approval("prod", 1).await;
    let prod = flow.stage("prod").await;
    let error = flow
        .pipeline
        .redeploy(prod, flow.release_of(1), by_ada(""))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Conflict);
}

#[tokio::test]
async fn different_stacks_run_in_parallel() {
    let flow = Flow::new(&[]).await;
    let other = test_stack(50, "blog", AccountId(1));
    flow.pipeline
        .send(Input::CreateStack {
            stack: other.clone(),
            first_region: "eu-west-1".into(),
            watch: true,
        })
        .await
        .unwrap();
    // Each stack's build is held on its own: both must be under way at once.
    let (shop_sha, blog_sha) = (commit(1).sha, commit(9).sha);
    flow.fakes.builder.hold_sha(&shop_sha);
    flow.fakes.builder.hold_sha(&blog_sha);
    flow.commit(1).await;
    let input = Input::CommitDetected {
        stack_id: other.id,
        head: commit(9),
        included: vec![],
        forced: false,
    };
    flow.pipeline.send(input).await.unwrap();
    let builds_started = |fakes: &Fakes| {
        let calls = fakes.builder.calls();
        let started = |sha: &str| {
            calls
                .iter()
                .any(|c| c.part == PartKind::Build && c.sha == sha)
        };
        started(&commit(1).sha) && started(&commit(9).sha)
    };
    for _ in 0..2000 {
        if builds_started(&flow.fakes) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        builds_started(&flow.fakes),
        "both builds run at the same time, neither finished"
    );
    // The second stack finishes first while the first is still held.
    flow.fakes.builder.release_sha(&blog_sha);
    wait_until(&flow.pipeline, "blog's dev runs commit 9", move |s| {
        s.flow_of(other.id)
            .first()
            .is_some_and(|st| s.flow(st.id).deployed.is_some())
    })
    .await;
    assert_eq!(
        flow.deployed_sha("dev").await,
        None,
        "shop is still building"
    );
    flow.fakes.builder.release_sha(&shop_sha);
    flow.wait_deployed("dev", 1).await;
}

#[tokio::test]
async fn every_transition_emits_an_event_the_ui_can_render() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    flow.pipeline
        .decide(approval.id, true, by_ada(""))
        .await
        .unwrap();
    flow.wait_deployed("prod", 1).await;
    let kinds: Vec<String> = flow
        .fakes
        .events
        .all()
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        // The service URL is read beside the verify part: its event comes in either order.
        .filter(|k| k != "stageChanged" && k != "stackChanged" && k != "serviceChanged")
        .collect();
    assert_eq!(
        kinds,
        [
            "releaseCreated",
            "runStarted",
            "partChanged", // release
            "partChanged", // deploy
            "partChanged", // verify
            "runFinished",
            "approvalRequested",
            "approvalDecided",
            "runStarted",
            "partChanged", // deploy
            "partChanged", // verify
            "runFinished",
        ]
    );
}

#[tokio::test]
async fn a_failed_write_changes_nothing() {
    let flow = Flow::new(&[]).await;
    flow.fakes.store.fail_next_apply();
    let error = flow
        .create_stage(Some(flow.stage("dev").await), settings("prod", false))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Store);
    assert_eq!(flow.stage_ids().await.len(), 1, "memory follows the store");
    assert_eq!(flow.fakes.store.stages().len(), 1);
}

#[tokio::test]
async fn bad_stage_settings_are_refused_and_nothing_is_written() {
    let flow = Flow::new(&[("prod", false)]).await;
    let writes = flow.fakes.store.applies();
    let mut bad = settings("prod", false);
    bad.routing = Routing::LoadBalancer;
    bad.caching = true;
    let error = flow.create_stage(None, bad).await.unwrap_err();
    let EngineError::Invalid(fields) = error else {
        panic!("expected a validation error")
    };
    assert!(fields.has("name") && fields.has("caching"));
    assert_eq!(flow.fakes.store.applies(), writes);
}

#[tokio::test]
async fn scaling_a_stage_reaches_its_service_without_a_redeploy_r12() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    let dev = flow.stage("dev").await;
    let mut stopped = settings("dev", false);
    stopped.desired_count = 0;
    flow.pipeline
        .send(Input::UpdateStage {
            stage_id: dev,
            settings: stopped,
        })
        .await
        .unwrap();
    flow.settle().await;
    assert_eq!(flow.fakes.deployer.scales(), [("dev".to_string(), 0)]);
    assert_eq!(flow.fakes.deployer.deploys().len(), 1, "no redeploy");
}
