//! R18–R21: promotion of only what works — verification, automatic
//! rollback, approval expiry, freezes — and the stage's service URL.

mod common;

use std::time::Duration;

use common::{by_ada, settings, Flow};
use stageline_engine::flow::{FlowState, Input};
use stageline_engine::ports::AlarmState;
use stageline_engine::testing::{commit, FakeService};
use stageline_engine::*;

/// dev → canary (rolls back, watches `canary-5xx`) → prod (approval).
async fn canary_line() -> Flow {
    let flow = Flow::new(&[]).await;
    let dev = flow.stage("dev").await;
    let mut canary = settings("canary", false);
    canary.verification.roll_back = true;
    canary.verification.alarms = vec!["canary-5xx".into()];
    flow.create_stage(Some(dev), canary).await.unwrap();
    let canary = flow.stage("canary").await;
    flow.create_stage(Some(canary), settings("prod", true))
        .await
        .unwrap();
    flow.fakes
        .deployer
        .service
        .set_alarm("canary-5xx", AlarmState::Ok);
    flow
}

/// Waits up to 30 s (a health check's shortest time limit is 10 s).
async fn wait_long(
    flow: &Flow,
    what: &str,
    check: impl Fn(&FlowState) -> bool + Send + Sync + Clone + 'static,
) {
    stageline_engine::testing::wait_within(&flow.pipeline, Duration::from_secs(30), what, check)
        .await;
}

/// Waits until `check` holds of the live state.
async fn wait_for(
    flow: &Flow,
    what: &str,
    check: impl Fn(&FlowState) -> bool + Send + Sync + Clone + 'static,
) {
    stageline_engine::testing::wait_until(&flow.pipeline, what, check).await;
}

/// The release waiting for approval at stage `name`.
async fn awaiting_approval(flow: &Flow, name: &str) -> Option<ReleaseId> {
    let stage = flow.stage(name).await;
    flow.pipeline
        .read(move |s| s.pending_at(stage).map(|a| a.release_id))
        .await
        .unwrap()
}

async fn set_verification(flow: &Flow, name: &str, change: impl FnOnce(&mut Verification)) {
    let id = flow.stage(name).await;
    let mut stage_settings = flow
        .pipeline
        .read(move |s| s.stage(id).unwrap().settings.clone())
        .await
        .unwrap();
    change(&mut stage_settings.verification);
    flow.pipeline
        .send(Input::UpdateStage {
            stage_id: id,
            settings: stage_settings,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn r18_a_release_flows_on_only_after_its_deploy_is_verified() {
    let flow = canary_line().await;
    flow.commit(1).await;
    flow.wait_approval("prod", 1).await;
    let canary = flow.latest_run("canary").await.unwrap();
    assert_eq!(canary.part(PartKind::Verify).status, PartStatus::Succeeded);
    // The health check asked the canary's own URL, at its health path.
    let probes = flow.fakes.deployer.service.probes();
    assert!(
        probes.contains(&format!("{}/ping", FakeService::url("canary"))),
        "{probes:?}"
    );
    let logs = flow
        .fakes
        .logs
        .lines(canary.id, PartKind::Verify)
        .join("\n");
    assert!(logs.contains("answered 200"), "{logs}");
    assert!(logs.contains("canary-5xx"), "{logs}");
}

#[tokio::test]
async fn r18_the_stage_learns_its_service_url_from_its_stack() {
    let flow = canary_line().await;
    flow.commit(1).await;
    flow.wait_deployed("canary", 1).await;
    let canary = flow.stage("canary").await;
    let url = FakeService::url("canary");
    wait_for(&flow, "the canary's URL is known", move |s| {
        s.service(canary).url.as_deref() == Some(url.as_str())
    })
    .await;
}

#[tokio::test]
async fn a_stage_without_a_url_is_not_asked_for_one_on_every_start() {
    let flow = Flow::new(&[]).await;
    flow.fakes.deployer.without_urls();
    // A worker service: nothing to health-check.
    let dev = flow.stage("dev").await;
    let mut worker = settings("dev", false);
    worker.verification = Verification::legacy();
    let update = Input::UpdateStage {
        stage_id: dev,
        settings: worker,
    };
    flow.pipeline.send(update).await.unwrap();
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    wait_for(&flow, "dev's URL was read (as none)", move |s| {
        s.service(dev).url_read && s.service(dev).url.is_none()
    })
    .await;
    let reads = flow.fakes.deployer.url_reads();

    let flow = flow.restart().await;
    flow.settle().await;

    assert_eq!(flow.fakes.deployer.url_reads(), reads);
}

#[tokio::test]
async fn r18_r19_an_alarm_in_alarm_fails_verify_and_the_stage_rolls_back() {
    let flow = canary_line().await;
    flow.commit(1).await;
    flow.wait_approval("prod", 1).await;
    flow.fakes
        .deployer
        .service
        .set_alarm("canary-5xx", AlarmState::Alarm);
    flow.commit(2).await;
    flow.wait_deployed("dev", 2).await;
    let canary = flow.stage("canary").await;
    wait_for(&flow, "the canary rolled back", move |s| {
        s.latest_run(canary).is_some_and(|r| {
            matches!(r.trigger, RunTrigger::Rollback { .. }) && r.status == RunStatus::Succeeded
        })
    })
    .await;
    let rollback = flow.latest_run("canary").await.unwrap();
    let RunTrigger::Rollback { failed_run, reason } = &rollback.trigger else {
        unreachable!()
    };
    assert!(reason.contains("canary-5xx went into ALARM"), "{reason}");
    assert_eq!(rollback.part(PartKind::Verify).status, PartStatus::Skipped);
    // The rollback runs the exact image release 1 ran there, and the canary runs 1 again.
    assert_eq!(flow.deployed_sha("canary").await, Some(commit(1).sha));
    let images = flow.fakes.deployer.deployed_images();
    let canary_images: Vec<&String> = images
        .iter()
        .filter(|(stage, _)| stage == "canary")
        .map(|(_, image)| image)
        .collect();
    assert_eq!(canary_images.len(), 3, "{images:?}");
    assert_eq!(canary_images[0], canary_images[2]);
    // R4: the failed release went no further: prod still waits for 1.
    let failed = flow
        .fakes
        .store
        .runs()
        .into_iter()
        .find(|r| r.id == *failed_run)
        .unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.part(PartKind::Verify).status, PartStatus::Failed);
    assert_eq!(failed.release_id, flow.release_of(2));
    assert_eq!(
        awaiting_approval(&flow, "prod").await,
        Some(flow.release_of(1))
    );

    // Fixed: the next release passes verify and prod is offered it.
    flow.fakes
        .deployer
        .service
        .set_alarm("canary-5xx", AlarmState::Ok);
    flow.commit(3).await;
    flow.wait_approval("prod", 3).await;
}

#[tokio::test]
async fn r18_r19_a_failing_health_check_fails_verify_within_its_time_limit() {
    let flow = canary_line().await;
    set_verification(&flow, "canary", |v| v.health_timeout_secs = 10).await;
    flow.commit(1).await;
    flow.wait_approval("prod", 1).await;
    flow.fakes.deployer.service.set_healthy("canary", false);
    flow.commit(2).await;
    let canary = flow.stage("canary").await;
    wait_long(&flow, "the canary rolled back", move |s| {
        s.latest_run(canary)
            .is_some_and(|r| matches!(r.trigger, RunTrigger::Rollback { .. }))
    })
    .await;
    let RunTrigger::Rollback { reason, .. } = flow.latest_run("canary").await.unwrap().trigger
    else {
        unreachable!()
    };
    assert!(
        reason.contains("/ping gave no 2xx answer within 10 s (last: it answered 500)"),
        "{reason}"
    );
}

#[tokio::test]
async fn r19_without_rollback_the_failed_release_stays_deployed_but_goes_no_further() {
    let flow = canary_line().await;
    set_verification(&flow, "canary", |v| v.roll_back = false).await;
    flow.commit(1).await;
    flow.wait_approval("prod", 1).await;
    flow.fakes
        .deployer
        .service
        .set_alarm("canary-5xx", AlarmState::Alarm);
    flow.commit(2).await;
    flow.wait_deployed("dev", 2).await;
    flow.wait_run("canary", RunStatus::Failed).await;
    let failed = flow.latest_run("canary").await.unwrap();
    assert_eq!(failed.release_id, flow.release_of(2));
    assert_eq!(failed.part(PartKind::Verify).status, PartStatus::Failed);
    // The flow's record of what the stage last deployed *successfully* is unchanged.
    assert_eq!(flow.deployed_sha("canary").await, Some(commit(1).sha));
    assert_eq!(
        awaiting_approval(&flow, "prod").await,
        Some(flow.release_of(1))
    );
}

#[tokio::test]
async fn r19_a_first_release_that_fails_verify_has_nothing_to_roll_back_to() {
    let flow = canary_line().await;
    flow.fakes
        .deployer
        .service
        .set_alarm("canary-5xx", AlarmState::Alarm);
    flow.commit(1).await;
    flow.wait_run("canary", RunStatus::Failed).await;
    let failed = flow.latest_run("canary").await.unwrap();
    let message = failed.part(PartKind::Verify).message.clone().unwrap();
    assert!(message.contains("Nothing to roll back to"), "{message}");
}

#[tokio::test]
async fn r18_an_unknown_alarm_name_fails_verify_and_says_so() {
    let flow = canary_line().await;
    set_verification(&flow, "canary", |v| v.alarms = vec!["no-such-alarm".into()]).await;
    flow.commit(1).await;
    flow.wait_run("canary", RunStatus::Failed).await;
    let failed = flow.latest_run("canary").await.unwrap();
    let message = failed.part(PartKind::Verify).message.clone().unwrap();
    assert!(
        message.contains("No CloudWatch alarm is named no-such-alarm in us-east-1"),
        "{message}"
    );
}

#[tokio::test]
async fn r18_a_stage_that_verifies_nothing_skips_the_part() {
    let flow = Flow::new(&[]).await;
    set_verification(&flow, "dev", |v| *v = Verification::legacy()).await;
    flow.commit(1).await;
    flow.wait_run("dev", RunStatus::Succeeded).await;
    let run = flow.latest_run("dev").await.unwrap();
    assert_eq!(run.part(PartKind::Verify).status, PartStatus::Skipped);
    assert!(flow.fakes.deployer.service.probes().is_empty());
}

#[tokio::test]
async fn r17_r18_verification_interrupted_by_a_restart_starts_again() {
    let flow = Flow::new(&[]).await;
    set_verification(&flow, "dev", |v| v.health_timeout_secs = 60).await;
    flow.fakes.deployer.service.set_healthy("dev", false);
    flow.commit(1).await;
    flow.wait_part("dev", PartKind::Verify).await;
    let flow = flow.restart().await;
    flow.wait_part("dev", PartKind::Verify).await;
    flow.fakes.deployer.service.set_healthy("dev", true);
    flow.wait_run("dev", RunStatus::Succeeded).await;
    // One deploy: the restart verified again, it did not deploy again.
    assert_eq!(flow.fakes.deployer.deploys().len(), 1);
}

#[tokio::test]
async fn r20_an_approval_nobody_decides_expires_after_its_time() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    let week = 7 * 24 * 3600 * 1000;
    assert_eq!(approval.expires_at, Some(approval.requested_at + week));
    // Early: nothing happens (a timer that fired before its time).
    let input = Input::ApprovalExpired {
        approval_id: approval.id,
    };
    flow.pipeline.send(input.clone()).await.unwrap();
    let pending = flow.pipeline.read(|s| s.pending_approvals().count()).await;
    assert_eq!(pending.unwrap(), 1);
    flow.fakes.clock.advance(week);
    flow.pipeline.send(input).await.unwrap();
    let stored = flow
        .fakes
        .store
        .approvals()
        .into_iter()
        .find(|a| a.id == approval.id)
        .unwrap();
    assert_eq!(stored.status, ApprovalStatus::Expired);
    let decision = stored.decision.unwrap();
    assert_eq!(decision.via, DecisionSource::Expired);
    assert_eq!(decision.comment, "Nobody decided within 7 days.");
    // Deciding it now says it was decided; a newer release is asked for again.
    let late = flow.pipeline.decide(approval.id, true, by_ada("")).await;
    assert!(late.is_err());
    flow.commit(2).await;
    flow.wait_approval("prod", 2).await;
}

#[tokio::test]
async fn r21_a_frozen_stage_holds_the_newest_release_and_takes_it_when_unfrozen() {
    let flow = canary_line().await;
    flow.commit(1).await;
    flow.wait_approval("prod", 1).await;
    let canary = flow.stage("canary").await;
    flow.pipeline
        .send(Input::Freeze {
            stack_id: flow.stack,
            stage_id: Some(canary),
            reason: "Incident 42: checkout errors".into(),
            by: "ada".into(),
        })
        .await
        .unwrap();
    flow.commit(2).await;
    flow.wait_deployed("dev", 2).await;
    flow.commit(3).await;
    flow.wait_deployed("dev", 3).await;
    // Builds run up to the frozen stage; the canary keeps 1 and holds only 3.
    let (deployed, waiting) = flow
        .pipeline
        .read(move |s| (s.flow(canary).deployed, s.flow(canary).waiting))
        .await
        .unwrap();
    assert_eq!(deployed, Some(flow.release_of(1)));
    assert_eq!(waiting, Some(flow.release_of(3)));
    let view = flow.pipeline.read(|s| s.dashboard()).await.unwrap();
    let freeze = view[0].stages[1].freeze.clone().unwrap();
    assert_eq!(freeze.reason, "Incident 42: checkout errors");
    assert_eq!(freeze.by, "ada");

    flow.pipeline
        .send(Input::Unfreeze {
            stack_id: flow.stack,
            stage_id: Some(canary),
        })
        .await
        .unwrap();
    flow.wait_approval("prod", 3).await;
}

#[tokio::test]
async fn r21_a_frozen_stack_refuses_approvals_with_the_reason() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    flow.pipeline
        .send(Input::Freeze {
            stack_id: flow.stack,
            stage_id: None,
            reason: "Release freeze for the holidays".into(),
            by: "grace".into(),
        })
        .await
        .unwrap();
    let refused = flow
        .pipeline
        .decide(approval.id, true, by_ada(""))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        refused,
        "shop is frozen by grace: Release freeze for the holidays. Unfreeze it to approve."
    );
    // Rejecting stays possible: it ships nothing.
    let still_pending = flow.pipeline.read(|s| s.pending_approvals().count()).await;
    assert_eq!(still_pending.unwrap(), 1);
    // New commits wait at the first stage.
    flow.commit(2).await;
    let dev = flow.stage("dev").await;
    wait_for(&flow, "dev holds release 2", move |s| {
        s.flow(dev).waiting.is_some()
    })
    .await;
    assert_eq!(flow.deployed_sha("dev").await, Some(commit(1).sha));
    flow.pipeline
        .decide(approval.id, false, by_ada("not now"))
        .await
        .unwrap();
}

#[tokio::test]
async fn r21_a_freeze_needs_a_reason_and_unfreezing_an_unfrozen_stack_is_an_error() {
    let flow = Flow::new(&[]).await;
    let error = flow
        .pipeline
        .send(Input::Freeze {
            stack_id: flow.stack,
            stage_id: None,
            reason: "  ".into(),
            by: "ada".into(),
        })
        .await
        .unwrap_err();
    let EngineError::Invalid(errors) = error else {
        panic!("{error:?}")
    };
    assert!(errors.has("reason"));
    let writes = flow.fakes.store.applies();
    let error = flow
        .pipeline
        .send(Input::Unfreeze {
            stack_id: flow.stack,
            stage_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "This stack is not frozen.");
    assert_eq!(flow.fakes.store.applies(), writes, "nothing was written");
}

#[tokio::test]
async fn r12_r18_a_stopped_service_is_not_health_checked() {
    let flow = Flow::new(&[]).await;
    let dev = flow.stage("dev").await;
    flow.pipeline
        .send(Input::Scale {
            stage_id: dev,
            count: 0,
        })
        .await
        .unwrap();
    flow.fakes.deployer.service.set_healthy("dev", false);
    flow.commit(1).await;
    flow.wait_run("dev", RunStatus::Succeeded).await;
    assert!(flow.fakes.deployer.service.probes().is_empty());
    let run = flow.latest_run("dev").await.unwrap();
    let log = flow.fakes.logs.lines(run.id, PartKind::Verify).join("\n");
    assert!(log.contains("The service is stopped"), "{log}");
}

#[tokio::test]
async fn r21_outside_its_deploy_window_a_stage_holds_the_release_until_it_opens() {
    let flow = Flow::new(&[]).await;
    let dev = flow.stage("dev").await;
    let mut prod = settings("prod", false);
    prod.deploy_window = Some(DeployWindow {
        days: vec![
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
        ],
        start_hour: 9,
        end_hour: 17,
        time_zone: "UTC".into(),
    });
    flow.create_stage(Some(dev), prod).await.unwrap();
    let prod = flow.stage("prod").await;
    // The fake clock reads Tuesday 2023-11-14 22:13:20 UTC: the window is closed.
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    wait_for(&flow, "prod holds release 1", move |s| {
        s.flow(prod).waiting.is_some()
    })
    .await;
    let view = flow.pipeline.read(|s| s.dashboard()).await.unwrap();
    assert_eq!(
        view[0].stages[1].hold_reason.as_deref(),
        Some("Outside its deploy window (Mon–Fri 09:00–17:00 UTC)")
    );
    assert_eq!(flow.deployed_sha("prod").await, None);
    // Wednesday 09:00 UTC: the wake-up finds it open and prod takes the release.
    // (Removing the window would let it in at once: see the next test.)
    flow.fakes.clock.advance(38_800_000);
    flow.pipeline
        .send(Input::WindowCheck { stage_id: prod })
        .await
        .unwrap();
    flow.wait_deployed("prod", 1).await;
}

#[tokio::test]
async fn r21_removing_a_closed_deploy_window_lets_the_held_release_in() {
    let flow = Flow::new(&[]).await;
    let dev = flow.stage("dev").await;
    let mut prod = settings("prod", false);
    // Never open: Sundays only, and the fake clock reads a Tuesday.
    prod.deploy_window = Some(DeployWindow {
        days: vec![Weekday::Sunday],
        start_hour: 0,
        end_hour: 24,
        time_zone: "UTC".into(),
    });
    flow.create_stage(Some(dev), prod).await.unwrap();
    let prod = flow.stage("prod").await;
    flow.commit(1).await;
    wait_for(&flow, "prod holds release 1", move |s| {
        s.flow(prod).waiting.is_some()
    })
    .await;
    let mut changed = flow
        .pipeline
        .read(move |s| s.stage(prod).unwrap().settings.clone())
        .await
        .unwrap();
    changed.deploy_window = None;
    flow.pipeline
        .send(Input::UpdateStage {
            stage_id: prod,
            settings: changed,
        })
        .await
        .unwrap();
    flow.wait_deployed("prod", 1).await;
}
