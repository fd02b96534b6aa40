//! R22's approvals against moto's S3: the first decision wins on every
//! desktop and cannot be rewritten; the stage's policy refuses self-approval
//! and approvers outside it, writing nothing.

mod support;

use stageline_engine::team::{ApprovalPolicy, PolicyRefusal};
use stageline_team::identity::caller_arn;
use stageline_team::{
    DecideError, DecideOutcome, SharedApprovalRequest, SharedApprovals, SharedDecision,
};
use support::*;

const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev/alice@example.com";
const BOB: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev/bob@example.com";

fn request(policy: ApprovalPolicy) -> SharedApprovalRequest {
    SharedApprovalRequest {
        approval_id: "approval-7".into(),
        stage_id: "prod".into(),
        release_id: "release-3".into(),
        requested_at: 1_000,
        release_started_by: Some(ALICE.into()),
        commit_author_email: "alice@example.com".into(),
        policy,
    }
}

fn decision(by: &str, approved: bool, comment: &str) -> SharedDecision {
    SharedDecision {
        approved,
        by: by.into(),
        at: 2_000,
        comment: comment.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn desktops_deciding_at_once_agree_on_the_first_decision() {
    let prefix = team_prefix("decide").await;
    SharedApprovals::new(prefix.clone())
        .request(&request(ApprovalPolicy::default()))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for desk in 0..8 {
        let approvals = SharedApprovals::new(seen_by_another_desktop(&prefix).await);
        tasks.push(tokio::spawn(async move {
            let mine = decision(BOB, desk % 2 == 0, &format!("desk {desk}"));
            (
                mine.clone(),
                approvals.decide("approval-7", &mine).await.unwrap(),
            )
        }));
    }
    let mut recorded = Vec::new();
    let mut lost_to = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (mine, DecideOutcome::Recorded) => recorded.push(mine),
            (_, DecideOutcome::AlreadyDecided(first)) => lost_to.push(first),
        }
    }
    assert_eq!(recorded.len(), 1, "exactly one decision is recorded");
    assert!(
        lost_to.iter().all(|first| *first == recorded[0]),
        "the others see that one"
    );
    let stored = SharedApprovals::new(prefix)
        .decision("approval-7")
        .await
        .unwrap();
    assert_eq!(stored.as_ref(), Some(&recorded[0]));
}

#[tokio::test]
async fn a_decision_cannot_be_rewritten_afterwards() {
    let prefix = team_prefix("rewrite").await;
    let approvals = SharedApprovals::new(prefix.clone());
    approvals
        .request(&request(ApprovalPolicy::default()))
        .await
        .unwrap();
    let first = decision(BOB, false, "Not before the freeze ends");
    assert_eq!(
        approvals.decide("approval-7", &first).await.unwrap(),
        DecideOutcome::Recorded
    );
    let later = decision(BOB, true, "changed my mind");
    assert_eq!(
        approvals.decide("approval-7", &later).await.unwrap(),
        DecideOutcome::AlreadyDecided(first.clone())
    );
    // A request shared again by a second desktop keeps the first.
    let mut again = request(ApprovalPolicy::default());
    again.requested_at = 9_999;
    approvals.request(&again).await.unwrap();
    assert_eq!(
        approvals
            .find_request("approval-7")
            .await
            .unwrap()
            .unwrap()
            .requested_at,
        1_000
    );
    // One version of the decision exists in the versioned bucket.
    let versions = s3_client()
        .await
        .list_object_versions()
        .bucket(prefix.bucket())
        .prefix("stacks/shop/approvals/approval-7/decision.json")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1);
}

#[tokio::test]
async fn self_approval_is_refused_with_a_clear_error_and_nothing_written() {
    let prefix = team_prefix("self").await;
    let approvals = SharedApprovals::new(prefix);
    let policy = ApprovalPolicy {
        approvers: vec![],
        no_self_approval: true,
    };
    approvals.request(&request(policy)).await.unwrap();
    let refused = approvals
        .decide("approval-7", &decision(ALICE, true, "lgtm"))
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        DecideError::Refused(PolicyRefusal::SelfApproval(_))
    ));
    assert_eq!(
        refused.to_string(),
        format!("You started this release ({ALICE}); this stage does not accept self-approval. Ask a teammate to approve it.")
    );
    assert_eq!(approvals.decision("approval-7").await.unwrap(), None);
    // Rejecting one's own release is always allowed; a teammate's approval is not needed then.
    let reject = decision(ALICE, false, "found a bug");
    assert_eq!(
        approvals.decide("approval-7", &reject).await.unwrap(),
        DecideOutcome::Recorded
    );
}

#[tokio::test]
async fn an_approver_outside_the_policy_is_refused_and_one_inside_decides() {
    let prefix = team_prefix("policy").await;
    let approvals = SharedApprovals::new(prefix);
    let policy = ApprovalPolicy {
        approvers: vec!["arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Release/*".into()],
        no_self_approval: false,
    };
    approvals.request(&request(policy)).await.unwrap();
    let refused = approvals
        .decide("approval-7", &decision(BOB, true, ""))
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        format!("{BOB} is not one of this stage's approvers. Ask an approver, or change the stage's approval policy.")
    );
    assert_eq!(approvals.decision("approval-7").await.unwrap(), None);
    let releaser =
        "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Release/carol@example.com";
    assert_eq!(
        approvals
            .decide("approval-7", &decision(releaser, true, ""))
            .await
            .unwrap(),
        DecideOutcome::Recorded
    );
}

#[tokio::test]
async fn deciding_an_approval_nobody_shared_is_refused() {
    let approvals = SharedApprovals::new(team_prefix("missing").await);
    let refused = approvals
        .decide("approval-404", &decision(BOB, true, ""))
        .await
        .unwrap_err();
    assert_eq!(refused, DecideError::NoSuchRequest);
}

#[tokio::test]
async fn the_approver_is_the_callers_aws_principal() {
    let sts = aws_sdk_sts::Client::new(&sdk_config().await);
    let arn = caller_arn(&sts).await.unwrap();
    assert!(arn.starts_with("arn:aws:"), "{arn}");
}
