//! R17 on the in-memory store: the engine dropped without shutdown resumes.
//! (The same on a real SQLite file, interrupted at every transition, lives in
//! the cross-crate tests.)

mod common;

use common::*;
use stageline_engine::flow::Input;
use stageline_engine::testing::{commit, wait_until};
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

#[tokio::test]
async fn r17_a_new_first_stage_gets_its_first_deploy_even_if_the_engine_stops_before_asking() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    // The head read is under way when the engine dies: only the record survives.
    flow.fakes.source.hold_heads();
    flow.create_stage(None, settings("build", false))
        .await
        .unwrap();
    assert_eq!(flow.fakes.store.requests().len(), 1, "recorded first");
    let flow = flow.restart().await;
    flow.fakes.source.release_heads();
    flow.wait_deployed("build", 1).await;
    let run = flow.latest_run("build").await.unwrap();
    assert_eq!(run.trigger, RunTrigger::NewStage);
    flow.settle().await;
    assert!(flow.fakes.store.requests().is_empty(), "its result is in");
}

#[tokio::test]
async fn r17_a_head_read_twice_deploys_a_new_first_stage_once() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    let build = flow
        .create_stage(None, settings("build", false))
        .await
        .unwrap();
    flow.wait_deployed("build", 1).await;
    // A second answer (asked again after a restart) arrives late.
    flow.pipeline
        .send(Input::HeadFetched {
            stage_id: build.id,
            result: Ok(commit(1)),
        })
        .await
        .unwrap();
    flow.settle().await;
    let runs = flow
        .fakes
        .store
        .runs()
        .into_iter()
        .filter(|r| r.stage_id == build.id)
        .count();
    assert_eq!(runs, 1, "the head ran once at the new stage");
}

#[tokio::test]
async fn r17_a_scale_request_lost_in_a_restart_is_made_again() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    flow.fakes.deployer.hold_scales();
    let dev = flow.stage("dev").await;
    flow.pipeline
        .send(Input::Scale {
            stage_id: dev,
            count: 3,
        })
        .await
        .unwrap();
    let flow = flow.restart().await;
    flow.fakes.deployer.release_scales();
    flow.settle().await;
    assert_eq!(flow.fakes.deployer.scales(), [("dev".to_string(), 3)]);
    assert!(flow.fakes.store.requests().is_empty());
    let flow = flow.restart().await;
    flow.settle().await;
    assert_eq!(
        flow.fakes.deployer.scales().len(),
        1,
        "done once its result was in"
    );
}

#[tokio::test(start_paused = true)]
async fn r17_a_reconcile_that_cannot_reach_aws_keeps_the_run_and_tries_again_later() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.fakes.deployer.hold("dev");
    flow.commit(1).await;
    flow.wait_part("dev", PartKind::Deploy).await;
    // AWS finishes the deploy while Stageline is down, and is unreachable
    // for the first checks after the restart.
    flow.fakes
        .deployer
        .pretend_deployed("dev", flow.release_of(1));
    flow.fakes.deployer.fail_reconciles(3);
    let flow = flow.restart().await;
    let dev = flow.stage("dev").await;
    wait_until(&flow.pipeline, "the run says it is resuming", move |s| {
        s.running_at(dev).is_some_and(|r| {
            r.part(PartKind::Deploy)
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with("Resuming: could not reach AWS"))
        })
    })
    .await;
    flow.wait_deployed("dev", 1).await;
    flow.wait_deployed("prod", 1).await;
    assert_eq!(
        flow.fakes.deployer.reconciles(),
        4,
        "three failures, then the answer"
    );
    let run = flow.latest_run("dev").await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "never failed");
    let dev_deploys = flow
        .fakes
        .deployer
        .deploys()
        .into_iter()
        .filter(|(name, _)| name == "dev")
        .count();
    assert_eq!(dev_deploys, 0, "not deployed a second time");
}

#[test]
fn r17_reconcile_backs_off_up_to_a_minute() {
    use stageline_engine::flow::reconcile_delay;
    use std::time::Duration;
    let delays: Vec<u64> = (1..=8).map(|n| reconcile_delay(n).as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
    assert_eq!(reconcile_delay(0), Duration::ZERO);
}

#[tokio::test]
async fn r17_a_result_whose_write_failed_is_applied_again() {
    let flow = Flow::new(&[]).await;
    flow.fakes.builder.hold(PartKind::Build);
    flow.commit(1).await;
    flow.wait_part("dev", PartKind::Build).await;
    // The build's result arrives while the disk is full for one write.
    flow.fakes.store.fail_next_apply();
    flow.fakes.builder.release(PartKind::Build);
    flow.wait_deployed("dev", 1).await;
    assert_eq!(flow.fakes.builder.count(PartKind::Build), 1, "not rebuilt");
}

#[tokio::test]
async fn r17_ids_never_go_back_after_a_restart() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    let before = flow.release_of(1);
    // The wall clock stepped back across the restart.
    flow.fakes.clock.set_next_id(5);
    let flow = flow.restart().await;
    flow.commit(2).await;
    flow.wait_deployed("dev", 2).await;
    let after = flow.release_of(2);
    assert!(after > before, "{after:?} is above {before:?}");
    let runs = flow.fakes.store.runs();
    assert_eq!(runs.len(), 2, "no row was overwritten");
}
