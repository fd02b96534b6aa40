//! What verify reads (R18), against a real moto server over HTTP: a deployed
//! stage's URL for both routings, CloudWatch alarm states, and the health
//! check through moto_server.py's stand-in for the deployed service.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use stageline_aws::{health_check_url, probe_health, AlarmReading, AlarmState};
use stageline_engine::domain::Routing;
use stageline_engine::ports::{DeployOutcome, Deployer};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_balanced_stage_url_is_its_load_balancer_over_http() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("url-alb");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("v1"));
    let outcome = deployer
        .deploy(
            job(&account, &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    assert_eq!(outcome, DeployOutcome::Deployed);

    let stage_url = deployer
        .stage_url(account, stack, stage)
        .await
        .unwrap()
        .expect("a deployed stage has a URL");

    assert!(stage_url.starts_with("http://"), "{stage_url}");
    assert!(stage_url.ends_with(".elb.amazonaws.com"), "{stage_url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_gateway_stage_url_names_its_api_region_and_stage() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("url-api");
    let mut settings = settings("beta", "eu-west-1");
    settings.routing = Routing::ApiGateway;
    let stage = stage(&stack, settings);
    let release = release(&stack, 1, &sha("v2"));
    deployer
        .deploy(
            job(&account, &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();

    let stage_url = deployer
        .stage_url(account, stack, stage)
        .await
        .unwrap()
        .expect("a deployed stage has a URL");

    assert!(stage_url.starts_with("https://"), "{stage_url}");
    assert!(
        stage_url.ends_with(".execute-api.eu-west-1.amazonaws.com/beta"),
        "{stage_url}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_never_deployed_has_no_url() {
    let url = moto_url();
    let stack = unique_stack("url-none");
    let stage = stage(&stack, settings("dev", "us-east-1"));

    let found = deployer()
        .stage_url(account(&url), stack, stage)
        .await
        .unwrap();

    assert_eq!(found, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_readings_give_each_named_alarm_its_state_or_missing() {
    let url = moto_url();
    let stack = unique_stack("alarms");
    let stage = stage(&stack, settings("dev", "eu-central-1"));
    let calm = format!("{}-latency", stack.name);
    let firing = format!("{}-errors", stack.name);
    let unknown = format!("{}-no-such-alarm", stack.name);
    for name in [&calm, &firing] {
        put_alarm(&url, "eu-central-1", name).await;
    }
    set_alarm_state(&url, "eu-central-1", &calm, StateValue::Ok, "All quiet").await;
    set_alarm_state(
        &url,
        "eu-central-1",
        &firing,
        StateValue::Alarm,
        "Threshold crossed: 3 errors",
    )
    .await;

    let readings = deployer()
        .alarm_readings(
            account(&url),
            stage.settings.region.clone(),
            vec![firing.clone(), unknown.clone(), calm.clone()],
        )
        .await
        .unwrap();

    assert_eq!(
        readings,
        vec![
            AlarmReading {
                name: firing,
                state: Some(AlarmState::Alarm),
                reason: "Threshold crossed: 3 errors".into(),
            },
            AlarmReading {
                name: unknown,
                state: None,
                reason: String::new(),
            },
            AlarmReading {
                name: calm,
                state: Some(AlarmState::Ok),
                reason: "All quiet".into(),
            },
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_are_read_in_their_stage_region_only() {
    let url = moto_url();
    let stack = unique_stack("alarm-region");
    let name = format!("{}-errors", stack.name);
    put_alarm(&url, "us-west-2", &name).await;

    let elsewhere = deployer()
        .alarm_readings(account(&url), "us-east-1".to_string(), vec![name.clone()])
        .await
        .unwrap();

    assert_eq!(elsewhere[0].state, None, "{elsewhere:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_alarms_than_one_request_may_name_are_read_in_several() {
    let url = moto_url();
    let stack = unique_stack("alarm-many");
    let names: Vec<String> = (0..130)
        .map(|n| format!("{}-alarm-{n:03}", stack.name))
        .collect();
    for name in &names {
        put_alarm(&url, "ap-south-1", name).await;
    }

    // moto_server.py refuses more than 100 AlarmNames, as AWS does.
    let readings = deployer()
        .alarm_readings(account(&url), "ap-south-1".to_string(), names.clone())
        .await
        .unwrap();

    assert_eq!(readings.len(), 130);
    let missing: Vec<&str> = readings
        .iter()
        .filter(|r| r.state.is_none())
        .map(|r| r.name.as_str())
        .collect();
    assert!(missing.is_empty(), "not found: {missing:?}");
}

/// The stand-in's control: what it answers for requests matching `matching`.
async fn set_service_health(url: &str, body: &str) {
    let answer = tokio::process::Command::new("curl")
        .args(["-fsS", "-X", "POST", "-H", "Content-Type: application/json"])
        .args(["--data", body])
        .arg(format!("{url}/_stageline/service-health"))
        .output()
        .await
        .unwrap();
    assert!(answer.status.success(), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_of_an_emulated_stage_reaches_the_stand_in() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("health");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("h1"));
    deployer
        .deploy(
            job(&account, &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    let stage_url = deployer
        .stage_url(account.clone(), stack.clone(), stage.clone())
        .await
        .unwrap()
        .unwrap();
    let check = health_check_url(&account, &stage_url, "/health");
    assert!(
        check.starts_with(&format!("{url}/_stageline/service/")),
        "{check}"
    );

    let healthy = probe_health(&check, Duration::from_secs(10)).await.unwrap();

    // Tests share one moto: the failure matches this stack's host only.
    let host = stage_url.trim_start_matches("http://");
    set_service_health(
        &url,
        &format!(r#"{{"status": 500, "match": "{host}/health"}}"#),
    )
    .await;
    let failing = probe_health(&check, Duration::from_secs(10)).await.unwrap();
    let other = health_check_url(&account, &stage_url, "/other");
    let elsewhere = probe_health(&other, Duration::from_secs(10)).await.unwrap();

    assert_eq!(healthy, 200);
    assert_eq!(failing, 500);
    assert_eq!(elsewhere, 200, "a control matches its own requests only");
}
