//! Waiting on CloudFormation: a deploy that outlasts the wait, a reconcile
//! that finds an operation in progress, AWS not always there, and stacks that
//! need their user: looks that fail (a network blip, a laptop that slept)
//! are tried again until CloudFormation's own state decides, and a failed
//! rollback is reported and can be continued. Through the fault proxy, with
//! the SDK's own retries off, so only Stageline's waiting is at work.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use stageline_engine::ports::{DeployOutcome, DeployedState, Deployer};
use support::fault_proxy::{described_events, described_stack, FaultProxy, Reply};
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
