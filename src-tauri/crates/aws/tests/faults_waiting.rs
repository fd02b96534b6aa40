//! Waiting on CloudFormation when AWS is not always there, and stacks that
//! need their user: looks that fail (a network blip, a laptop that slept)
//! are tried again until CloudFormation's own state decides, and a failed
//! rollback is reported and can be continued. Through the fault proxy, with
//! the SDK's own retries off, so only Stageline's waiting is at work.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use stageline_engine::ports::{DeployOutcome, Deployer};
use support::fault_proxy::{FaultProxy, Reply};
use support::scripted::*;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_that_fails_twice_while_deploying_is_tried_again_and_the_deploy_succeeds() {
    let url = moto_url();
    let stack = unique_stack("blip");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let executed = Arc::new(Mutex::new(false));
    let failed_looks = Arc::new(AtomicUsize::new(0));
    let (seen_execute, failures) = (executed.clone(), failed_looks.clone());
    // After the change set runs, the next two looks at the stack fail: once
    // with a 503, once with the connection dropped mid-answer.
    let proxy = FaultProxy::start(&url, move |request| {
        let action = request.action();
        if action == "ExecuteChangeSet" {
            *seen_execute.lock().unwrap() = true;
        }
        if action == "DescribeStacks" && *seen_execute.lock().unwrap() {
            match failures.fetch_add(1, Ordering::SeqCst) {
                0 => {
                    return Reply::Respond {
                        status: 503,
                        body: "Service Unavailable".into(),
                    }
                }
                1 => return Reply::Drop,
                _ => {}
            }
        }
        Reply::Forward
    })
    .await;
    let account = account(&proxy.url);
    let log = Arc::new(KeptLog::default());

    let outcome = deployer()
        .deploy(
            job(
                &account,
                &stack,
                &stage,
                &release(&stack, 1, &sha("q1")),
                &[],
            ),
            log.clone(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", e.message, log.text()));

    assert_eq!(outcome, DeployOutcome::Deployed);
    assert!(failed_looks.load(Ordering::SeqCst) >= 3, "tried again");
    let text = log.text();
    assert!(text.contains("Could not ask AWS about"), "{text}");
    assert!(text.contains("AWS answers again"), "{text}");
    assert_eq!(proxy.count("ExecuteChangeSet"), 1, "executed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rollback_names_the_resource_and_the_rollback_can_be_continued() {
    let url = moto_url();
    let stack = unique_stack("stuck");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let name = format!("{}-dev", stack.name);
    let first = release(&stack, 1, &sha("s1"));
    let second = release(&stack, 2, &sha("s2"));
    let deployer = deployer();
    deployer
        .deploy(
            job(&account(&url), &stack, &stage, &first, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    let script = Arc::new(AfterTrigger {
        trigger: "ExecuteChangeSet",
        stack: name.clone(),
        change_set: "stageline-r2-a20-1".into(),
        tags: vec![],
        statuses: vec![
            "UPDATE_IN_PROGRESS",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "UPDATE_ROLLBACK_FAILED",
        ],
        events: vec![
            (
                name_leak(&name),
                "AWS::CloudFormation::Stack",
                "UPDATE_IN_PROGRESS",
                "User Initiated",
            ),
            (
                "Service",
                "AWS::ECS::Service",
                "UPDATE_FAILED",
                CIRCUIT_BREAKER,
            ),
            (
                "TaskRole",
                "AWS::IAM::Role",
                "UPDATE_FAILED",
                "Role is in use by another stack",
            ),
            (
                name_leak(&name),
                "AWS::CloudFormation::Stack",
                "UPDATE_ROLLBACK_FAILED",
                "The following resource(s) failed to update: [TaskRole].",
            ),
        ],
        triggered: Mutex::new(false),
        describes: AtomicUsize::new(0),
    });
    let continued = Arc::new(Mutex::new(false));
    let (handler, continue_seen) = (script.clone(), continued.clone());
    let proxy = FaultProxy::start(&url, move |request| {
        if request.action() == "ContinueUpdateRollback" {
            *continue_seen.lock().unwrap() = true;
            return Reply::Respond {
                status: 200,
                body: support::fault_proxy::cfn_response("ContinueUpdateRollback", ""),
            };
        }
        if *continue_seen.lock().unwrap() && request.action() == "DescribeStacks" {
            let body = support::fault_proxy::described_stack(
                &format!("{}-dev", "ignored"),
                "UPDATE_ROLLBACK_COMPLETE",
                "",
                "stageline-r2-a20-1",
                &[],
            );
            return Reply::Respond { status: 200, body };
        }
        handler.reply(request)
    })
    .await;
    let account = account(&proxy.url);

    let error = deployer
        .deploy(
            job(&account, &stack, &stage, &second, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap_err();
    assert!(
        error
            .message
            .starts_with("Service (AWS::ECS::Service) UPDATE_FAILED"),
        "the first failing resource: {}",
        error.message
    );
    assert!(
        error.message.contains("UPDATE_ROLLBACK_FAILED"),
        "{}",
        error.message
    );

    let health = deployer
        .stack_health(account.clone(), stack.clone(), stage.clone())
        .await
        .unwrap();
    assert!(health.rollback_failed, "{health:?}");

    let health = deployer
        .continue_rollback(account, stack, stage, Arc::new(KeptLog::default()))
        .await
        .unwrap();
    assert!(*continued.lock().unwrap());
    assert_eq!(health.status.as_deref(), Some("UPDATE_ROLLBACK_COMPLETE"));
    assert!(!health.rollback_failed);
}
