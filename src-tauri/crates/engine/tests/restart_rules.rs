//! R17 on the in-memory store: the engine dropped without shutdown resumes.
//! (The same on a real SQLite file, interrupted at every transition, lives in
//! the cross-crate tests.)

mod common;

use common::*;
use stageline_engine::*;

#[tokio::test]
async fn r17_an_interrupted_deploy_is_checked_then_done_once() {
    let flow = Flow::new(&[]).await;
    flow.fakes.deployer.hold("dev");
    flow.commit(1).await;
    flow.wait_part("dev", PartKind::Deploy).await;
    let flow = flow.restart().await;
    flow.fakes.deployer.release("dev");
    flow.wait_deployed("dev", 1).await;
    assert_eq!(flow.fakes.deployer.deploys().len(), 1);
}

#[tokio::test]
async fn r17_a_deploy_that_finished_while_stopped_is_never_redone() {
    let flow = Flow::new(&[]).await;
    flow.fakes.deployer.hold("dev");
    flow.commit(1).await;
    flow.wait_part("dev", PartKind::Deploy).await;
    let release = flow.release_of(1);
    // AWS finishes the deploy while Stageline is down.
    flow.fakes.deployer.pretend_deployed("dev", release);
    let flow = flow.restart().await;
    flow.wait_deployed("dev", 1).await;
    flow.fakes.deployer.release("dev");
    flow.settle().await;
    assert!(
        flow.fakes.deployer.deploys().is_empty(),
        "not deployed a second time"
    );
    let run = flow.latest_run("dev").await.unwrap();
    assert!(run
        .part(PartKind::Deploy)
        .message
        .as_deref()
        .unwrap()
        .contains("restart"));
}

#[tokio::test]
async fn r17_an_interrupted_build_runs_again() {
    let flow = Flow::new(&[]).await;
    flow.fakes.builder.hold(PartKind::Build);
    flow.commit(1).await;
    flow.wait_part("dev", PartKind::Build).await;
    let flow = flow.restart().await;
    flow.fakes.builder.release(PartKind::Build);
    flow.wait_deployed("dev", 1).await;
    assert_eq!(flow.fakes.builder.count(PartKind::Build), 2);
}

#[tokio::test]
async fn r17_no_approval_is_lost_across_a_restart() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    let flow = flow.restart().await;
    let kept = flow.wait_approval("prod", 1).await;
    assert_eq!(kept.id, approval.id);
    flow.pipeline
        .decide(approval.id, true, by_ada("after restart"))
        .await
        .unwrap();
    flow.wait_deployed("prod", 1).await;
}

#[tokio::test]
async fn r17_a_release_waiting_at_a_busy_stage_survives_a_restart() {
    let flow = Flow::new(&[]).await;
    flow.fakes.deployer.hold("dev");
    flow.commit(1).await;
    flow.wait_part("dev", PartKind::Deploy).await;
    flow.commit(2).await;
    flow.settle().await;
    let flow = flow.restart().await;
    flow.fakes.deployer.release("dev");
    flow.wait_deployed("dev", 2).await;
}
