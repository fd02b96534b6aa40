//! Failures moto never produces — a failed update rolled back, a failed
//! creation, a failed delete, AWS's empty change set — injected by a small
//! HTTP proxy in front of moto, so the real SDK code paths see them over HTTP.

mod support;

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use stageline_engine::ports::{DeployOutcome, DeployedState, Deployer};
use support::fault_proxy::{cfn_response, FaultProxy, Reply};
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
