//! The approval gate and retries (R5, R6, R16, R17): a gate never asks for a
//! release at or below one running, queued or deployed there; a retry keeps
//! the flow behaviour of the run it retries; switching to manual holds what
//! is queued.

mod common;

use common::*;
use stageline_engine::flow::Input;
use stageline_engine::testing::wait_until;
use stageline_engine::*;

async fn approvals_of(flow: &Flow, stage: &str, n: u32) -> Vec<Approval> {
    let stage = flow.stage(stage).await;
    let release = flow.release_of(n);
    flow.fakes
        .store
        .approvals()
        .into_iter()
        .filter(|a| a.stage_id == stage && a.release_id == release)
        .collect()
}

async fn retry_latest(flow: &Flow, stage: &str) {
    let failed = flow.latest_run(stage).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    flow.pipeline
        .send(Input::Retry {
            run_id: failed.id,
            decision: by_ada("try again"),
        })
        .await
        .unwrap();
}

async fn switch_approval(flow: &Flow, name: &str, manual: bool) {
    let stage = flow.stage(name).await;
    flow.pipeline
        .send(Input::UpdateStage {
            stage_id: stage,
            settings: settings(name, manual),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn r17_a_gate_never_asks_again_for_a_release_deployed_there() {
    // The path: a new canary's first run fails, prod's approval of
    // the same release is approved and deployed, then canary is retried.
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    flow.fakes.deployer.fail("canary");
    let dev = flow.stage("dev").await;
    flow.create_stage(Some(dev), settings("canary", false))
        .await
        .unwrap();
    flow.wait_run("canary", RunStatus::Failed).await;
    flow.fakes.deployer.hold("prod");
    flow.pipeline
        .decide(approval.id, true, by_ada("ship"))
        .await
        .unwrap();
    flow.wait_part("prod", PartKind::Deploy).await;

    // The retried canary succeeds while prod is still deploying commit 1.
    flow.fakes.deployer.heal("canary");
    retry_latest(&flow, "canary").await;
    flow.wait_deployed("canary", 1).await;
    flow.settle().await;
    assert_eq!(approvals_of(&flow, "prod", 1).await.len(), 1, "asked once");
    flow.fakes.deployer.release("prod");
    flow.wait_deployed("prod", 1).await;
    flow.settle().await;
    let prod_deploys = flow
        .fakes
        .deployer
        .deploys()
        .into_iter()
        .filter(|(name, _)| name == "prod")
        .count();
    assert_eq!(prod_deploys, 1, "deployed once");
}

#[tokio::test]
async fn r17_a_retry_keeps_the_flow_behaviour_of_the_run_it_retries() {
    // A retried first run of a new stage stays where it is (R7)…
    let flow = Flow::new(&[("prod", false)]).await;
    flow.commit(1).await;
    flow.wait_deployed("prod", 1).await;
    flow.fakes.deployer.fail("canary");
    let dev = flow.stage("dev").await;
    flow.create_stage(Some(dev), settings("canary", false))
        .await
        .unwrap();
    flow.wait_run("canary", RunStatus::Failed).await;
    flow.fakes.deployer.heal("canary");
    retry_latest(&flow, "canary").await;
    flow.wait_deployed("canary", 1).await;
    flow.settle().await;
    let retried = flow.latest_run("canary").await.unwrap();
    assert!(matches!(
        retried.trigger,
        RunTrigger::Retry {
            flows_on: false,
            ..
        }
    ));
    let prod = flow.stage("prod").await;
    let prod_runs = flow
        .fakes
        .store
        .runs()
        .into_iter()
        .filter(|r| r.stage_id == prod && r.release_id == flow.release_of(1))
        .count();
    assert_eq!(prod_runs, 1, "prod ran commit 1 once, not again");

    // …and a retried run that came through the flow flows on.
    flow.fakes.deployer.fail("canary");
    flow.commit(2).await;
    flow.wait_run("canary", RunStatus::Failed).await;
    flow.fakes.deployer.heal("canary");
    retry_latest(&flow, "canary").await;
    flow.wait_deployed("prod", 2).await;
}

#[tokio::test]
async fn r17_a_rejected_release_is_never_asked_for_again() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    flow.pipeline
        .decide(approval.id, false, by_ada("not this one"))
        .await
        .unwrap();
    // A new stage before prod takes commit 1 and, after a failure, is retried.
    flow.fakes.deployer.fail("canary");
    let dev = flow.stage("dev").await;
    flow.create_stage(Some(dev), settings("canary", false))
        .await
        .unwrap();
    flow.wait_run("canary", RunStatus::Failed).await;
    flow.fakes.deployer.heal("canary");
    retry_latest(&flow, "canary").await;
    flow.wait_deployed("canary", 1).await;
    flow.settle().await;
    let asked = approvals_of(&flow, "prod", 1).await;
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].status, ApprovalStatus::Rejected);
    assert!(flow.latest_run("prod").await.is_none(), "never ran at prod");
}

#[tokio::test]
async fn r17_a_gate_never_asks_for_a_release_older_than_one_waiting_there() {
    // dev deploys 1 then 2; canary (new, first run fails) holds 1 while
    // prod's gate already waits on 2: the retried 1 must not take 2's place.
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let first = flow.wait_approval("prod", 1).await;
    flow.pipeline
        .decide(first.id, true, by_ada(""))
        .await
        .unwrap();
    flow.wait_deployed("prod", 1).await;
    flow.commit(2).await;
    flow.wait_approval("prod", 2).await;
    let dev = flow.stage("dev").await;
    flow.pipeline
        .redeploy(dev, flow.release_of(1), by_ada("roll back dev"))
        .await
        .unwrap();
    flow.wait_deployed("dev", 1).await;
    flow.fakes.deployer.fail("canary");
    flow.create_stage(Some(dev), settings("canary", false))
        .await
        .unwrap();
    flow.wait_run("canary", RunStatus::Failed).await;
    flow.fakes.deployer.heal("canary");
    retry_latest(&flow, "canary").await;
    flow.wait_deployed("canary", 1).await;
    flow.settle().await;
    let still = flow.wait_approval("prod", 2).await;
    assert_eq!(
        still.status,
        ApprovalStatus::Pending,
        "2 still waits at prod"
    );
    assert_eq!(approvals_of(&flow, "prod", 1).await.len(), 1);
}

#[tokio::test]
async fn r6_switching_to_manual_turns_a_queued_release_into_a_pending_approval() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.fakes.deployer.hold("prod");
    flow.commit(1).await;
    flow.wait_part("prod", PartKind::Deploy).await;
    flow.commit(2).await;
    let prod = flow.stage("prod").await;
    let release = flow.release_of(2);
    wait_until(&flow.pipeline, "commit 2 is queued at prod", move |s| {
        s.flow(prod).waiting == Some(release)
    })
    .await;

    switch_approval(&flow, "prod", true).await;
    let approval = flow.wait_approval("prod", 2).await;
    assert_eq!(approval.status, ApprovalStatus::Pending);
    let queued = flow
        .pipeline
        .read(move |s| s.flow(prod).waiting)
        .await
        .unwrap();
    assert_eq!(queued, None, "no longer queued: it waits for a decision");

    // The release already running finishes; the held one does not start.
    flow.fakes.deployer.release("prod");
    flow.wait_deployed("prod", 1).await;
    flow.settle().await;
    assert_eq!(
        flow.latest_run("prod").await.unwrap().release_id,
        flow.release_of(1)
    );
    flow.pipeline
        .decide(approval.id, true, by_ada("now"))
        .await
        .unwrap();
    flow.wait_deployed("prod", 2).await;
}

#[tokio::test]
async fn r6_switching_to_manual_and_restarting_still_holds_the_queued_release() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.fakes.deployer.hold("prod");
    flow.commit(1).await;
    flow.wait_part("prod", PartKind::Deploy).await;
    flow.commit(2).await;
    flow.settle().await;
    switch_approval(&flow, "prod", true).await;
    let flow = flow.restart().await;
    flow.fakes.deployer.release("prod");
    flow.wait_deployed("prod", 1).await;
    flow.wait_approval("prod", 2).await;
    flow.settle().await;
    assert_eq!(
        flow.latest_run("prod").await.unwrap().release_id,
        flow.release_of(1),
        "the restart did not start the held release"
    );
}
