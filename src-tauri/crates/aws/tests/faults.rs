//! Failures moto never produces — a failed update rolled back, a failed
//! creation, throttling, server errors, an operation that outlasts the wait,
//! a failed delete, AWS's empty change set — injected by a small HTTP proxy
//! in front of moto, so the real SDK code paths see them over HTTP.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stageline_engine::ports::{DeployOutcome, DeployedState, Deployer};
use support::fault_proxy::{
    cfn_error, cfn_response, described_events, described_stack, FaultProxy, Reply,
};
use support::scripted::*;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_update_names_the_resource_and_the_rollback_and_reconcile_reports_it() {
    let url = moto_url();
    let stack = unique_stack("rollback");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let name = format!("{}-dev", stack.name);
    let first = release(&stack, 1, &sha("m1"));
    let second = release(&stack, 2, &sha("m2"));
    let script = Arc::new(AfterTrigger {
        trigger: "ExecuteChangeSet",
        stack: name.clone(),
        change_set: "stageline-r2-a20-1".into(),
        tags: vec![(
            "stageline:release".into(),
            format!("1/{}", &first.commit.sha[..7]),
        )],
        statuses: vec![
            "UPDATE_IN_PROGRESS",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "UPDATE_ROLLBACK_COMPLETE",
        ],
        events: vec![
            (
                name_leak(&name),
                "AWS::CloudFormation::Stack",
                "UPDATE_IN_PROGRESS",
                "User Initiated",
            ),
            (
                "TaskDefinition",
                "AWS::ECS::TaskDefinition",
                "UPDATE_COMPLETE",
                "",
            ),
            (
                "Service",
                "AWS::ECS::Service",
                "UPDATE_FAILED",
                CIRCUIT_BREAKER,
            ),
            (
                name_leak(&name),
                "AWS::CloudFormation::Stack",
                "UPDATE_ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to update: [Service].",
            ),
            ("Service", "AWS::ECS::Service", "UPDATE_COMPLETE", ""),
            (
                name_leak(&name),
                "AWS::CloudFormation::Stack",
                "UPDATE_ROLLBACK_COMPLETE",
                "",
            ),
        ],
        triggered: Mutex::new(false),
        describes: AtomicUsize::new(0),
    });
    let deployer = deployer();
    let direct = account(&url);
    deployer
        .deploy(
            job(&direct, &stack, &stage, &first, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    let handler = script.clone();
    let proxy = FaultProxy::start(&url, move |request| handler.reply(request)).await;
    let account = account(&proxy.url);
    let log = Arc::new(KeptLog::default());

    let error = deployer
        .deploy(job(&account, &stack, &stage, &second, &[]), log.clone())
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        format!(
            "Service (AWS::ECS::Service) UPDATE_FAILED: {CIRCUIT_BREAKER}; \
             the stack rolled back to its previous version (UPDATE_ROLLBACK_COMPLETE)"
        )
    );
    let log_text = log.text();
    assert!(
        log_text.contains("Service  AWS::ECS::Service  UPDATE_FAILED  Resource handler"),
        "{log_text}"
    );
    assert!(log_text.contains("UPDATE_ROLLBACK_COMPLETE"), "{log_text}");

    let reconciled = deployer
        .reconcile(job(&account, &stack, &stage, &second, &[]), log)
        .await
        .unwrap();
    assert_eq!(
        reconciled,
        DeployedState::Failed {
            message: error.message.clone()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_creation_reports_the_first_failure_not_the_cancelled_ones() {
    let url = moto_url();
    let stack = unique_stack("create-fail");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let name = format!("{}-dev", stack.name);
    let script = Arc::new(AfterTrigger {
        trigger: "ExecuteChangeSet",
        stack: name.clone(),
        change_set: "stageline-r1-a10-1".into(),
        tags: vec![],
        statuses: vec![
            "CREATE_IN_PROGRESS",
            "ROLLBACK_IN_PROGRESS",
            "ROLLBACK_COMPLETE",
        ],
        events: vec![
            (
                name_leak(&name),
                "AWS::CloudFormation::Stack",
                "CREATE_IN_PROGRESS",
                "User Initiated",
            ),
            (
                "Bucket",
                "AWS::S3::Bucket",
                "CREATE_FAILED",
                "Resource creation cancelled",
            ),
            (
                "Repository",
                "AWS::ECR::Repository",
                "CREATE_FAILED",
                "shop/dev already exists in stack arn:aws:cloudformation:other",
            ),
            (
                "Cluster",
                "AWS::ECS::Cluster",
                "CREATE_FAILED",
                "Resource creation cancelled",
            ),
            (
                name_leak(&name),
                "AWS::CloudFormation::Stack",
                "ROLLBACK_COMPLETE",
                "",
            ),
        ],
        triggered: Mutex::new(false),
        describes: AtomicUsize::new(0),
    });
    let handler = script.clone();
    let proxy = FaultProxy::start(&url, move |request| handler.reply(request)).await;
    let release = release(&stack, 1, &sha("n1"));

    let error = deployer()
        .deploy(
            job(&account(&proxy.url), &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap_err();

    assert!(
        error.message.starts_with(
            "Repository (AWS::ECR::Repository) CREATE_FAILED: shop/dev already exists"
        ),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .contains("rolled back and holds nothing (ROLLBACK_COMPLETE)"),
        "{}",
        error.message
    );
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_outlasts_the_maximum_wait_fails_with_the_stack_status() {
    let url = moto_url();
    let stack = unique_stack("slow");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let name = format!("{}-dev", stack.name);
    let script = Arc::new(AfterTrigger {
        trigger: "ExecuteChangeSet",
        stack: name.clone(),
        change_set: "stageline-r1-a10-1".into(),
        tags: vec![],
        statuses: vec!["CREATE_IN_PROGRESS"],
        events: vec![(
            name_leak(&name),
            "AWS::CloudFormation::Stack",
            "CREATE_IN_PROGRESS",
            "User Initiated",
        )],
        triggered: Mutex::new(false),
        describes: AtomicUsize::new(0),
    });
    let handler = script.clone();
    let proxy = FaultProxy::start(&url, move |request| handler.reply(request)).await;
    let release = release(&stack, 1, &sha("r1"));

    let error = deployer_with(false, Duration::from_secs(1))
        .deploy(
            job(&account(&proxy.url), &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        format!(
            "The CloudFormation stack {name} did not finish within 1 s (it is still CREATE_IN_PROGRESS); \
             CloudFormation goes on with it"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delete_names_the_resource_that_stayed() {
    let url = moto_url();
    let stack = unique_stack("delete-fail");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let name = format!("{}-dev", stack.name);
    let release = release(&stack, 1, &sha("s1"));
    let deployer = deployer();
    deployer
        .deploy(
            job(&account(&url), &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    let script = Arc::new(AfterTrigger {
        trigger: "DeleteStack",
        stack: name.clone(),
        change_set: "stageline-r1-a10-1".into(),
        tags: vec![],
        statuses: vec!["DELETE_IN_PROGRESS", "DELETE_FAILED"],
        events: vec![
            (
                name_leak(&name),
                "AWS::CloudFormation::Stack",
                "DELETE_IN_PROGRESS",
                "User Initiated",
            ),
            (
                "Bucket",
                "AWS::S3::Bucket",
                "DELETE_FAILED",
                "The bucket you tried to delete is not empty",
            ),
            (
                name_leak(&name),
                "AWS::CloudFormation::Stack",
                "DELETE_FAILED",
                "The following resource(s) failed to delete: [Bucket].",
            ),
        ],
        triggered: Mutex::new(false),
        describes: AtomicUsize::new(0),
    });
    let handler = script.clone();
    let proxy = FaultProxy::start(&url, move |request| handler.reply(request)).await;

    let error = deployer
        .delete_stage(account(&proxy.url), stack, stage)
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        format!(
            "The CloudFormation stack {name} could not be deleted: Bucket (AWS::S3::Bucket) DELETE_FAILED: \
             The bucket you tried to delete is not empty (DELETE_FAILED)"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_change_set_ends_the_deploy_as_no_changes_without_executing() {
    let url = moto_url();
    let stack = unique_stack("empty");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("t1"));
    let deployer = deployer();
    deployer
        .deploy(
            job(&account(&url), &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    // What AWS answers for a change set without changes.
    let proxy = FaultProxy::start(&url, |request| {
        if request.action() == "DescribeChangeSet" {
            let result = "<ChangeSetName>x</ChangeSetName><Status>FAILED</Status><ExecutionStatus>UNAVAILABLE</ExecutionStatus>\
                <StatusReason>The submitted information didn't contain changes. Submit different information to create a change set.</StatusReason>";
            return Reply::Respond { status: 200, body: cfn_response("DescribeChangeSet", result) };
        }
        Reply::Forward
    })
    .await;
    let started = Instant::now();

    let outcome = deployer
        .deploy(
            again(job(&account(&proxy.url), &stack, &stage, &release, &[])),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();

    println!("no-change deploy took {:?}", started.elapsed());
    assert_eq!(outcome, DeployOutcome::NoChanges);
    assert_eq!(proxy.count("ExecuteChangeSet"), 0);
    assert_eq!(proxy.count("DeleteChangeSet"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_waits_for_an_operation_in_progress_and_streams_its_events() {
    let url = moto_url();
    let stack = unique_stack("settling");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let name = format!("{}-dev", stack.name);
    let release = release(&stack, 4, &sha("u1"));
    let tag = format!("4/{}", &release.commit.sha[..7]);
    let describes = Arc::new(AtomicUsize::new(0));
    let seen = describes.clone();
    let stack_name = name.clone();
    // The stack settles after three looks; its service's event appears meanwhile.
    let proxy = FaultProxy::start(&url, move |request| {
        let looks = seen.load(Ordering::SeqCst);
        let stack_event = (
            name_leak(&stack_name),
            "AWS::CloudFormation::Stack",
            "UPDATE_IN_PROGRESS",
            "User Initiated",
        );
        let service_event = ("Service", "AWS::ECS::Service", "UPDATE_COMPLETE", "");
        match request.action().as_str() {
            "DescribeStacks" => {
                let status = [
                    "UPDATE_IN_PROGRESS",
                    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                    "UPDATE_COMPLETE",
                ][looks.min(2)];
                seen.fetch_add(1, Ordering::SeqCst);
                let body = described_stack(
                    &stack_name,
                    status,
                    "",
                    "stageline-r4-a40-1",
                    &[("stageline:release", &tag)],
                );
                Reply::Respond { status: 200, body }
            }
            "DescribeStackEvents" => {
                let events = if looks <= 1 {
                    vec![stack_event]
                } else {
                    vec![stack_event, service_event]
                };
                Reply::Respond {
                    status: 200,
                    body: described_events(&stack_name, "injected", &events),
                }
            }
            _ => Reply::Forward,
        }
    })
    .await;
    let log = Arc::new(KeptLog::default());

    let state = deployer()
        .reconcile(
            job(&account(&proxy.url), &stack, &stage, &release, &[]),
            log.clone(),
        )
        .await
        .unwrap();

    assert_eq!(state, DeployedState::Deployed);
    assert!(
        log.text()
            .contains("Service  AWS::ECS::Service  UPDATE_COMPLETE"),
        "{}",
        log.text()
    );
    assert!(describes.load(Ordering::SeqCst) >= 3);
}
