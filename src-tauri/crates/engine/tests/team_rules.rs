//! R22's pure rules: stage leases with fencing numbers, and approval policies.

use stageline_engine::team::*;
use stageline_engine::validation::FieldErrors;

fn held_by(holder: &str, fencing: u64, expires_at: i64) -> Lease {
    Lease {
        holder: holder.into(),
        fencing,
        expires_at,
        run_id: None,
    }
}

#[test]
fn a_lease_nobody_held_is_created_with_fencing_number_one() {
    let LeaseStep::Create(lease) = next_lease_step(None, "desk-a", Some("run-1"), 1_000, LEASE_TTL)
    else {
        panic!("expected a create");
    };
    assert_eq!(lease.fencing, 1);
    assert_eq!(lease.expires_at, 1_000 + LEASE_TTL);
    assert_eq!(lease.run_id.as_deref(), Some("run-1"));
}

#[test]
fn renewing_keeps_the_fencing_number_and_moves_the_expiry() {
    let held = held_by("desk-a", 7, 5_000);
    let LeaseStep::Renew(lease) = next_lease_step(Some(&held), "desk-a", None, 4_000, LEASE_TTL)
    else {
        panic!("expected a renewal");
    };
    assert_eq!(lease.fencing, 7);
    assert_eq!(lease.expires_at, 4_000 + LEASE_TTL);
}

#[test]
fn a_lease_held_by_another_desktop_waits_until_it_expires() {
    let held = held_by("desk-a", 3, 5_000);
    assert_eq!(
        next_lease_step(Some(&held), "desk-b", None, 5_000, LEASE_TTL),
        LeaseStep::Wait {
            holder: "desk-a".into(),
            until: 5_000
        }
    );
}

#[test]
fn an_expired_lease_is_taken_over_with_the_next_fencing_number() {
    let held = held_by("desk-a", 3, 5_000);
    let LeaseStep::TakeOver { lease, from } =
        next_lease_step(Some(&held), "desk-b", None, 5_001, LEASE_TTL)
    else {
        panic!("expected a takeover");
    };
    assert_eq!(
        (lease.fencing, lease.holder.as_str(), from.as_str()),
        (4, "desk-b", "desk-a")
    );
}

#[test]
fn a_holder_starts_no_effect_near_the_end_of_its_lease_or_with_an_old_fencing_number() {
    let lease = held_by("desk-a", 4, 100_000);
    assert!(may_start_effect(
        &lease,
        "desk-a",
        4,
        100_000 - LEASE_SAFETY_MARGIN - 1,
        LEASE_SAFETY_MARGIN
    ));
    assert!(!may_start_effect(
        &lease,
        "desk-a",
        4,
        100_000 - LEASE_SAFETY_MARGIN,
        LEASE_SAFETY_MARGIN
    ));
    assert!(
        !may_start_effect(&lease, "desk-a", 3, 0, LEASE_SAFETY_MARGIN),
        "a stale fencing number"
    );
    assert!(
        !may_start_effect(&lease, "desk-b", 4, 0, LEASE_SAFETY_MARGIN),
        "another desktop"
    );
}

#[test]
fn a_stack_changed_under_a_higher_fencing_number_refuses_a_stale_change_set() {
    assert!(fence_admits(4, None));
    assert!(fence_admits(4, Some(4)));
    assert!(fence_admits(5, Some(4)));
    assert!(!fence_admits(3, Some(4)));
}

#[test]
fn renewals_never_let_a_lease_expire_while_its_holder_runs() {
    // Renewing every LEASE_RENEW_EVERY leaves more than the safety margin.
    const { assert!(LEASE_TTL - LEASE_RENEW_EVERY > LEASE_SAFETY_MARGIN) };
}

const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev/alice@example.com";
const BOB: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev/bob@example.com";
const CI_USER: &str = "arn:aws:iam::123456789012:user/ci";

fn parties<'a>(
    approver: &'a str,
    started_by: &'a str,
    author: &'a str,
) -> ApprovalRequestParties<'a> {
    ApprovalRequestParties {
        approver,
        release_started_by: Some(started_by),
        commit_author_email: author,
    }
}

#[test]
fn without_a_policy_anyone_may_approve() {
    let policy = ApprovalPolicy::default();
    assert_eq!(
        check_approver(&policy, &parties(ALICE, ALICE, "alice@example.com")),
        Ok(())
    );
}

#[test]
fn no_self_approval_refuses_whoever_started_or_authored_the_release() {
    let policy = ApprovalPolicy {
        approvers: vec![],
        no_self_approval: true,
    };
    let started = check_approver(&policy, &parties(ALICE, ALICE, "carol@example.com"));
    assert_eq!(started, Err(PolicyRefusal::SelfApproval(ALICE.into())));
    let authored = check_approver(&policy, &parties(ALICE, CI_USER, "Alice@Example.com"));
    assert_eq!(authored, Err(PolicyRefusal::SelfApproval(ALICE.into())));
    assert!(authored
        .unwrap_err()
        .to_string()
        .contains("does not accept self-approval"));
    assert_eq!(
        check_approver(&policy, &parties(BOB, ALICE, "alice@example.com")),
        Ok(())
    );
}

#[test]
fn an_approver_outside_the_policy_is_refused_with_their_arn() {
    let policy = ApprovalPolicy {
        approvers: vec!["arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev/bob@*".into()],
        no_self_approval: false,
    };
    assert_eq!(check_approver(&policy, &parties(BOB, CI_USER, "")), Ok(()));
    let refused = check_approver(&policy, &parties(ALICE, CI_USER, "")).unwrap_err();
    assert_eq!(refused, PolicyRefusal::NotAnApprover(ALICE.into()));
    assert!(refused
        .to_string()
        .contains("is not one of this stage's approvers"));
}

#[test]
fn approver_patterns_match_as_iam_globs() {
    assert!(arn_matches("arn:aws:iam::123456789012:user/*", CI_USER));
    assert!(arn_matches(CI_USER, CI_USER));
    assert!(arn_matches(
        "arn:aws:sts::*:assumed-role/*/alice@example.com",
        ALICE
    ));
    assert!(!arn_matches("arn:aws:iam::123456789012:user/c", CI_USER));
    assert!(!arn_matches("arn:aws:iam::999999999999:*", CI_USER));
    assert!(!arn_matches("arn:*:role/*", CI_USER));
}

#[test]
fn approver_patterns_must_be_arns() {
    let mut errors = FieldErrors::default();
    let policy = ApprovalPolicy {
        approvers: vec![
            CI_USER.into(),
            "alice".into(),
            "arn:aws:iam::1:user/a b".into(),
        ],
        no_self_approval: false,
    };
    check_approval_policy(&policy, &mut errors);
    assert!(!errors.has("approvalPolicy.approvers.0"));
    assert!(errors.has("approvalPolicy.approvers.1"));
    assert!(errors.has("approvalPolicy.approvers.2"));
}

fn fence(number: u64, held: bool) -> stageline_engine::team::Fence {
    stageline_engine::team::Fence {
        number,
        held: std::sync::Arc::new(move || held),
    }
}

#[test]
fn a_fenced_change_set_runs_only_under_a_held_lease_not_older_than_the_stacks() {
    use stageline_engine::team::{fence_refusal, FENCING_TAG};
    let tagged = |n: &str| vec![(FENCING_TAG.to_string(), n.to_string())];
    assert_eq!(fence_refusal(&fence(3, true), &[]), None, "never fenced");
    assert_eq!(
        fence_refusal(&fence(3, true), &tagged("3")),
        None,
        "same holder"
    );
    assert_eq!(
        fence_refusal(&fence(4, true), &tagged("3")),
        None,
        "a later holder"
    );
    let stale = fence_refusal(&fence(3, true), &tagged("4")).unwrap();
    assert!(stale.contains("under a later lease (4 > 3)"), "{stale}");
    let expired = fence_refusal(&fence(5, false), &tagged("4")).unwrap();
    assert!(expired.contains("lease on the stage ran out"), "{expired}");
}

#[test]
fn a_desktop_whose_clock_is_off_s3s_by_more_than_ten_seconds_runs_no_team_stage() {
    assert_eq!(clock_refusal(None), None, "not known yet: no refusal");
    for fine in [0, 999, -4_000, MAX_CLOCK_SKEW, -MAX_CLOCK_SKEW] {
        assert_eq!(clock_refusal(Some(fine)), None, "{fine} ms is fine");
    }
    let ahead = clock_refusal(Some(42_300)).unwrap();
    assert!(ahead.contains("42 s ahead of AWS's"), "{ahead}");
    let behind = clock_refusal(Some(-MAX_CLOCK_SKEW - 1_000)).unwrap();
    assert!(behind.contains("11 s behind AWS's"), "{behind}");
    const {
        assert!(
            MAX_CLOCK_SKEW < LEASE_SAFETY_MARGIN,
            "off by less than the margin"
        )
    };
}

#[test]
fn a_shared_log_is_the_end_of_the_parts_log_from_a_lines_start() {
    use stageline_engine::ports::last_bytes;
    assert_eq!(
        last_bytes("one\ntwo\n", 100, 0),
        "one\ntwo\n",
        "whole when it fits"
    );
    let cut = last_bytes("first line\nsecond\nthird\n", 12, 0);
    assert_eq!(
        cut,
        "[Stageline] The first 18 bytes of this log are only on the desktop that ran the part.\nthird\n"
    );
    // A piece read from the middle of a file: its partial first line goes too.
    let piece = last_bytes("ne\nlast\n", 100, 40);
    assert!(
        piece.starts_with("[Stageline] The first 43 bytes"),
        "{piece}"
    );
    assert!(piece.ends_with("\nlast\n"), "{piece}");
    let wide = last_bytes("ééééé\nz\n", 5, 0);
    assert!(
        wide.ends_with("\nz\n"),
        "cut on a character boundary: {wide}"
    );
}
