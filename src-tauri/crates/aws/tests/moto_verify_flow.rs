//! Verify and rollback end to end (R18, R19, issue 11): the real pipeline
//! (engine with in-memory store and fake builds) deploys through the real
//! CloudFormation deployer to moto, and its verify part reads a CloudWatch
//! alarm created in moto. Set to ALARM (SetAlarmState) during release 2's
//! soak, the alarm fails the verify part within seconds, and the stage rolls
//! back to the exact image release 1 ran.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StateValue;
use stageline_engine::flow::Input;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::ports::Deployer;
use stageline_engine::testing::*;
use stageline_engine::*;
use support::*;

/// What SetAlarmState gives as its reason: the verify part must quote it.
const ALARM_REASON: &str = "Threshold Crossed: 7 datapoints were >= 1.0 (stageline moto test)";

/// Pushes commit `n`'s image to the stack's repository in moto as its build
/// and dev's release would (`:<sha>`, `:latest`, `:dev`); the repository is
/// made by the deployer's own stage preparation.
async fn push_images(url: &str, stack: &Stack, n: u32) {
    let dev = stage(stack, settings("dev", "us-east-1"));
    deployer()
        .prepare_stage(
            account(url),
            stack.clone(),
            dev,
            release(stack, 1, &sha("prep")),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    let ecr = aws_sdk_ecr::Client::new(&sdk_config(url, "us-east-1").await);
    let digest = format!("sha256:{n:0>64}");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": digest },
        "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": digest }],
    })
    .to_string();
    for tag in [commit(n).sha, "latest".into(), "dev".into()] {
        ecr.put_image()
            .repository_name(stageline_aws::repository_name(&stack.name))
            .image_tag(tag)
            .image_manifest(&manifest)
            .send()
            .await
            .unwrap();
    }
}

async fn detect(fakes: &Fakes, pipeline: &Pipeline, stack: &Stack, n: u32) {
    fakes.source.set_head(stack.id, commit(n));
    pipeline
        .send(Input::CommitDetected {
            stack_id: stack.id,
            head: commit(n),
            included: vec![],
            forced: false,
        })
        .await
        .unwrap();
}

async fn latest_run(pipeline: &Pipeline, dev: StageId) -> Run {
    pipeline
        .read(move |s| s.latest_run(dev).cloned())
        .await
        .unwrap()
        .expect("dev has a run")
}

async fn set_verification(pipeline: &Pipeline, dev: StageId, verification: Verification) {
    let mut settings = pipeline
        .read(move |s| s.stage(dev).unwrap().settings.clone())
        .await
        .unwrap();
    settings.routing = Routing::LoadBalancer;
    settings.verification = verification;
    pipeline
        .send(Input::UpdateStage {
            stage_id: dev,
            settings,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_set_to_alarm_during_the_soak_fails_verify_and_dev_rolls_back_to_its_image() {
    let url = moto_url();
    let stack = unique_stack("verify-flow");
    let alarm = format!("{}-5xx", stack.name);
    put_alarm(&url, "us-east-1", &alarm).await;
    set_alarm_state(&url, "us-east-1", &alarm, StateValue::Ok, "All quiet").await;

    let fakes = Fakes::default();
    // Builds and releases push nothing: the test pushes their images to moto's ECR.
    fakes.builder.push_nothing(PartKind::Build);
    fakes.builder.push_nothing(PartKind::Release);
    let mut ports = fakes.ports();
    ports.deployer = Arc::new(deployer());
    let pipeline = Pipeline::start(ports, test_config()).await.unwrap();
    pipeline
        .send(Input::PutAccount(account(&url)))
        .await
        .unwrap();
    pipeline
        .send(Input::CreateStack {
            stack: stack.clone(),
            first_region: "us-east-1".into(),
            watch: true,
        })
        .await
        .unwrap();
    let stack_id = stack.id;
    let dev = pipeline
        .read(move |s| s.flow_of(stack_id)[0].id)
        .await
        .unwrap();
    let mut verification = Verification {
        health_check: true,
        health_timeout_secs: 10,
        smoke_tests: false,
        // Release 1: the alarm is read once (a minute's soak is too slow here).
        soak_minutes: 0,
        alarms: vec![alarm.clone()],
        roll_back: true,
    };
    set_verification(&pipeline, dev, verification.clone()).await;

    // Release 1 deploys and passes verify (the health check reaches
    // moto_server.py's stand-in; the alarm is OK).
    push_images(&url, &stack, 1).await;
    detect(&fakes, &pipeline, &stack, 1).await;
    let sha1 = commit(1).sha;
    wait_within(
        &pipeline,
        Duration::from_secs(90),
        "dev's run of release 1 ends",
        move |s| {
            s.latest_run(dev).is_some_and(|r| {
                r.status.is_finished()
                    && s.release(r.release_id).map(|r| &r.commit.sha) == Some(&sha1)
            })
        },
    )
    .await;
    let first = latest_run(&pipeline, dev).await;
    assert_eq!(
        first.status,
        RunStatus::Succeeded,
        "release 1 deploys and verifies: {first:#?}\n{}",
        fakes.logs.all_text()
    );
    assert_eq!(first.part(PartKind::Verify).status, PartStatus::Succeeded);
    let first_log = fakes.logs.lines(first.id, PartKind::Verify).join("\n");
    assert!(
        first_log.contains("answered 200") && first_log.contains(&alarm),
        "release 1's verify checked the health and read the alarm: {first_log}"
    );
    let first_image = first.image.clone().expect("release 1's run has its image");
    assert!(
        first_image.contains("@sha256:"),
        "pinned to a digest: {first_image}"
    );

    let first_release = first.release_id;
    // Release 2 soaks for a minute while the alarm is watched.
    verification.soak_minutes = 1;
    set_verification(&pipeline, dev, verification).await;
    push_images(&url, &stack, 2).await;
    detect(&fakes, &pipeline, &stack, 2).await;
    let logs = fakes.logs.clone();
    wait_within(
        &pipeline,
        Duration::from_secs(90),
        "release 2's soak at dev began",
        move |s| {
            s.latest_run(dev).is_some_and(|r| {
                r.release_id != first_release
                    && r.part(PartKind::Verify).status == PartStatus::Running
                    && logs
                        .lines(r.id, PartKind::Verify)
                        .iter()
                        .any(|l| l.contains("Soak time: 1 min"))
            })
        },
    )
    .await;
    let second = latest_run(&pipeline, dev).await;
    let second_image = second.image.clone().expect("release 2's run has its image");
    assert_ne!(second_image, first_image, "release 2 deploys another image");

    set_alarm_state(&url, "us-east-1", &alarm, StateValue::Alarm, ALARM_REASON).await;
    let alarmed = Instant::now();
    let second_id = second.id;
    wait_within(
        &pipeline,
        Duration::from_secs(20),
        "release 2's run ends after its alarm went off",
        move |s| s.active_run(second_id).is_none(),
    )
    .await;
    let failed_after = alarmed.elapsed();
    let failed = fakes
        .store
        .runs()
        .into_iter()
        .find(|r| r.id == second_id)
        .unwrap();
    assert_eq!(failed.status, RunStatus::Failed, "{failed:#?}");
    let verify = failed.part(PartKind::Verify);
    assert_eq!(verify.status, PartStatus::Failed, "{failed:#?}");
    let message = verify.message.clone().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "Alarm {alarm} went into ALARM during the soak time"
        )),
        "the failure names the alarm and its state: {message}"
    );
    assert!(
        message.contains(ALARM_REASON),
        "the state reason was read from moto: {message}"
    );
    assert!(
        failed_after < Duration::from_secs(15),
        "verify failed {failed_after:?} after the alarm went off, not at the soak's end"
    );

    // The stage rolls back to release 1's exact image.
    wait_within(
        &pipeline,
        Duration::from_secs(90),
        "dev's rollback run ends",
        move |s| {
            s.latest_run(dev).is_some_and(|r| {
                matches!(r.trigger, RunTrigger::Rollback { .. }) && r.status.is_finished()
            })
        },
    )
    .await;
    let rollback = latest_run(&pipeline, dev).await;
    assert_eq!(
        rollback.status,
        RunStatus::Succeeded,
        "the rollback deploys: {rollback:#?}\n{}",
        fakes.logs.all_text()
    );
    let RunTrigger::Rollback { failed_run, reason } = &rollback.trigger else {
        unreachable!()
    };
    assert_eq!(*failed_run, second_id, "the rollback names the failed run");
    assert!(
        reason.contains(&alarm) && reason.contains("ALARM") && reason.contains(ALARM_REASON),
        "the rollback records why: {reason}"
    );
    assert_eq!(
        rollback.part(PartKind::Verify).status,
        PartStatus::Skipped,
        "a rollback is not verified"
    );
    assert_eq!(rollback.release_id, first.release_id, "release 1 again");
    assert_eq!(
        rollback.image.as_deref(),
        Some(first_image.as_str()),
        "the exact image release 1 ran"
    );
    let (deployed, service) = pipeline
        .read(move |s| (s.flow(dev).deployed, s.service(dev)))
        .await
        .unwrap();
    assert_eq!(deployed, Some(first.release_id), "dev runs release 1");
    assert_eq!(
        service.deployed_image.as_deref(),
        Some(first_image.as_str())
    );
    // AWS's side: the stage's stack runs release 1's image again.
    let in_stack = stack_parameter(
        &url,
        "us-east-1",
        &format!("{}-dev", stack.name),
        "ImageUri",
    )
    .await
    .expect("dev's stack has an ImageUri");
    assert_eq!(
        in_stack, first_image,
        "the stack's service runs release 1's image"
    );
}
