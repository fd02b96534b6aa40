//! Throttling and server errors, which moto never produces, injected by the
//! fault proxy in front of moto: retried with backoff when the SDK's retries
//! are on, and reported as what they are when they are off.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stageline_engine::ports::{DeployOutcome, Deployer};
use support::fault_proxy::{cfn_error, FaultProxy, Reply};
use support::scripted::*;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_are_retried_with_backoff_when_retries_are_on() {
    let url = moto_url();
    let throttled = Arc::new(AtomicUsize::new(0));
    let counter = throttled.clone();
    let proxy = FaultProxy::start(&url, move |request| {
        if request.action() == "CreateChangeSet" && counter.fetch_add(1, Ordering::SeqCst) < 2 {
            return Reply::Respond {
                status: 400,
                body: cfn_error("Throttling", "Rate exceeded"),
            };
        }
        Reply::Forward
    })
    .await;
    let stack = unique_stack("throttle");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("o1"));

    let outcome = deployer_with(true, Duration::from_secs(60))
        .deploy(
            job(&account(&proxy.url), &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();

    assert_eq!(outcome, DeployOutcome::Deployed);
    assert_eq!(
        proxy.count("CreateChangeSet"),
        3,
        "two throttled tries, then one that went through"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_shows_as_such_when_retries_are_off() {
    let url = moto_url();
    let proxy = FaultProxy::start(&url, |request| {
        if request.action() == "CreateChangeSet" {
            return Reply::Respond {
                status: 400,
                body: cfn_error("Throttling", "Rate exceeded"),
            };
        }
        Reply::Forward
    })
    .await;
    let stack = unique_stack("throttle-off");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("p1"));

    let error = deployer()
        .deploy(
            job(&account(&proxy.url), &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        format!(
            "Could not create a change set for the CloudFormation stack {}-dev: \
             AWS throttled the request (Throttling: Rate exceeded)",
            stack.name
        )
    );
    assert_eq!(proxy.count("CreateChangeSet"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_when_retries_are_on_and_reported_when_off() {
    let url = moto_url();
    let failures = Arc::new(AtomicUsize::new(0));
    let counter = failures.clone();
    let proxy = FaultProxy::start(&url, move |request| {
        if request.action() == "DescribeStacks" && counter.fetch_add(1, Ordering::SeqCst) == 0 {
            return Reply::Respond {
                status: 500,
                body: cfn_error("InternalFailure", "Internal failure"),
            };
        }
        Reply::Forward
    })
    .await;
    let stack = unique_stack("five-hundred");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("q1"));
    let account = account(&proxy.url);

    let outcome = deployer_with(true, Duration::from_secs(60))
        .deploy(
            job(&account, &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    assert_eq!(outcome, DeployOutcome::Deployed);

    failures.store(0, Ordering::SeqCst);
    let error = deployer()
        .reconcile(
            job(&account, &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap_err();
    assert!(
        error.message.ends_with("InternalFailure: Internal failure"),
        "{}",
        error.message
    );
}
