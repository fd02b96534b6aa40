//! The input rules: every rule names its field and its reason.

use stageline_engine::order::{
    check_delete_confirmation, close_gap, first_stage, flow_order, insert_position,
    shift_for_insert,
};
use stageline_engine::validation::*;
use stageline_engine::*;

fn settings(name: &str) -> StageSettings {
    order::first_stage_settings("us-east-1").with_name(name)
}

trait WithName {
    fn with_name(self, name: &str) -> Self;
}

impl WithName for StageSettings {
    fn with_name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }
}

fn stage(id: i64, name: &str, position: u32) -> Stage {
    Stage {
        id: StageId(id),
        stack_id: StackId(1),
        position,
        settings: settings(name),
        lifecycle: StageLifecycle::Active,
    }
}

fn plain(name: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: EnvValue::Plain { value: "x".into() },
    }
}

fn field_errors(result: Result<(), FieldErrors>) -> Vec<String> {
    result
        .err()
        .map(|e| e.0.into_iter().map(|f| f.field).collect())
        .unwrap_or_default()
}

#[test]
fn stage_name_follows_r14_pattern() {
    for good in [
        "dev",
        "prod",
        "canary-2",
        "a",
        "x0123456789012345678901234567890",
    ] {
        assert!(
            check_stage_settings(&settings(good), &[]).is_ok(),
            "{good} should be accepted"
        );
    }
    for bad in [
        "",
        "Dev",
        "1dev",
        "-dev",
        "dev_1",
        "dev stage",
        "x01234567890123456789012345678901",
    ] {
        assert_eq!(
            field_errors(check_stage_settings(&settings(bad), &[])),
            ["name"],
            "{bad:?} should be refused"
        );
    }
}

#[test]
fn stage_name_latest_is_reserved() {
    let errors = check_stage_settings(&settings("latest"), &[]).unwrap_err();
    assert_eq!(errors.0[0].field, "name");
    assert!(errors.0[0].message.contains("reserved"));
}

#[test]
fn stage_name_must_be_unique_within_the_stack() {
    let others = [stage(1, "dev", 0), stage(2, "prod", 1)];
    let errors = check_stage_settings(&settings("prod"), &others).unwrap_err();
    assert_eq!(errors.0[0].field, "name");
    assert!(errors.0[0]
        .message
        .contains("already has a stage named \"prod\""));
    assert!(check_stage_settings(&settings("canary"), &others).is_ok());
}

#[test]
fn caching_is_refused_with_a_load_balancer_r13() {
    let mut s = settings("prod");
    s.caching = true;
    assert!(
        check_stage_settings(&s, &[]).is_ok(),
        "caching with API Gateway is fine"
    );
    s.routing = Routing::LoadBalancer;
    let errors = check_stage_settings(&s, &[]).unwrap_err();
    assert_eq!(errors.0[0].field, "caching");
    assert!(errors.0[0].message.contains("API Gateway"));
}

#[test]
fn region_must_be_an_aws_region_code_r10() {
    let mut s = settings("prod");
    for good in ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-2"] {
        s.region = good.into();
        assert!(check_stage_settings(&s, &[]).is_ok());
    }
    for bad in ["", "us-east-9", "mars-north-1", "US-EAST-1"] {
        s.region = bad.into();
        assert_eq!(
            field_errors(check_stage_settings(&s, &[])),
            ["region"],
            "{bad:?}"
        );
    }
}

#[test]
fn env_var_names_follow_the_pattern() {
    let mut s = settings("prod");
    s.build_env = vec![
        plain("GOOD_1"),
        plain("_ok"),
        plain("1BAD"),
        plain("has-dash"),
        plain(""),
    ];
    s.runtime_env = vec![
        plain("A"),
        plain("A"),
        plain("STAGE_NAME"),
        plain("PG_HOST"),
    ];
    let fields = field_errors(check_stage_settings(&s, &[]));
    assert_eq!(
        fields,
        [
            "buildEnv.2.name",
            "buildEnv.3.name",
            "buildEnv.4.name",
            "runtimeEnv.1.name",
            "runtimeEnv.2.name",
            "runtimeEnv.3.name"
        ]
    );
}

#[test]
fn existing_rds_needs_a_valid_identifier_r15() {
    let mut s = settings("prod");
    s.database = Database::ExistingRds {
        identifier: "orders-db".into(),
    };
    assert!(check_stage_settings(&s, &[]).is_ok());
    for bad in ["", "1db", "db--x", "db-", "db_x"] {
        s.database = Database::ExistingRds {
            identifier: bad.into(),
        };
        assert_eq!(
            field_errors(check_stage_settings(&s, &[])),
            ["database.identifier"],
            "{bad:?}"
        );
    }
}

#[test]
fn desired_count_has_an_upper_bound_r12() {
    let mut s = settings("prod");
    s.desired_count = 0;
    assert!(check_stage_settings(&s, &[]).is_ok(), "0 stops the service");
    s.desired_count = MAX_DESIRED_COUNT + 1;
    assert_eq!(
        field_errors(check_stage_settings(&s, &[])),
        ["desiredCount"]
    );
}

#[test]
fn every_broken_rule_is_reported_at_once() {
    let mut s = settings("Bad Name");
    s.region = "nowhere".into();
    s.routing = Routing::LoadBalancer;
    s.caching = true;
    assert_eq!(
        field_errors(check_stage_settings(&s, &[])),
        ["name", "region", "caching"]
    );
}

#[test]
fn repository_location_is_a_path_or_a_supported_url() {
    for good in [
        "/home/me/app",
        "file:///srv/git/app.git",
        "https://github.com/me/app.git",
        "ssh://git@host/me/app.git",
    ] {
        let mut errors = FieldErrors::default();
        check_repository_location(good, &mut errors);
        assert!(errors.0.is_empty(), "{good}");
    }
    for bad in [
        "",
        "relative/path",
        "ftp://host/x",
        "https://",
        "file://relative",
        "git@github.com:me/app",
    ] {
        let mut errors = FieldErrors::default();
        check_repository_location(bad, &mut errors);
        assert!(errors.has("repository"), "{bad:?}");
    }
}

#[test]
fn branch_names_follow_git_rules() {
    for good in ["main", "release/1.2", "feature-x", "v1"] {
        let mut errors = FieldErrors::default();
        check_branch_name(good, &mut errors);
        assert!(errors.0.is_empty(), "{good}");
    }
    for bad in [
        "",
        "-x",
        "a..b",
        "a b",
        "x.lock",
        "x/",
        "/x",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[b",
        "@",
        "a@{1}",
        "x/.hidden",
    ] {
        let mut errors = FieldErrors::default();
        check_branch_name(bad, &mut errors);
        assert!(errors.has("branch"), "{bad:?}");
    }
}

#[test]
fn stack_names_endpoint_urls_profiles_and_poll_intervals() {
    let mut errors = FieldErrors::default();
    check_stack_name("orders-api", &mut errors);
    check_endpoint_url("http://127.0.0.1:5000", &mut errors);
    check_profile_name("default", &mut errors);
    check_poll_interval(30, &mut errors);
    assert!(errors.0.is_empty());
    check_stack_name("Orders API", &mut errors);
    check_endpoint_url("localhost:5000", &mut errors);
    check_profile_name("my profile", &mut errors);
    check_poll_interval(1, &mut errors);
    let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["name", "endpointUrl", "profile", "pollIntervalSecs"]
    );
}

#[test]
fn deleting_needs_the_typed_word_delete_r9() {
    assert!(check_delete_confirmation("delete").is_ok());
    for wrong in ["", "Delete", "delete ", "yes", "canary"] {
        let errors = check_delete_confirmation(wrong).unwrap_err();
        assert_eq!(errors.0[0].field, "confirmation");
    }
}

#[test]
fn insert_at_any_position_renumbers_later_stages_r1() {
    let mut stages = vec![stage(1, "dev", 0), stage(2, "prod", 1)];
    // canary between dev and prod
    let position = insert_position(&stages, Some(StageId(1))).unwrap();
    assert_eq!(position, 1);
    shift_for_insert(&mut stages, position);
    stages.push(stage(3, "canary", position));
    let names: Vec<&str> = flow_order(&stages)
        .iter()
        .map(|s| s.settings.name.as_str())
        .collect();
    assert_eq!(names, ["dev", "canary", "prod"]);
    // a new first stage
    let position = insert_position(&stages, None).unwrap();
    assert_eq!(position, 0);
    shift_for_insert(&mut stages, position);
    stages.push(stage(4, "build", 0));
    let names: Vec<&str> = flow_order(&stages)
        .iter()
        .map(|s| s.settings.name.as_str())
        .collect();
    assert_eq!(names, ["build", "dev", "canary", "prod"]);
}

#[test]
fn inserting_after_an_unknown_stage_is_refused() {
    let stages = vec![stage(1, "dev", 0)];
    assert!(matches!(
        insert_position(&stages, Some(StageId(9))),
        Err(EngineError::NotFound(_))
    ));
}

#[test]
fn removing_a_stage_closes_the_gap_r9() {
    let mut stages = vec![
        stage(1, "dev", 0),
        stage(2, "canary", 1),
        stage(3, "prod", 2),
    ];
    close_gap(&mut stages, 1);
    stages.retain(|s| s.id != StageId(2));
    let positions: Vec<(String, u32)> = stages
        .iter()
        .map(|s| (s.settings.name.clone(), s.position))
        .collect();
    assert_eq!(positions, [("dev".into(), 0), ("prod".into(), 1)]);
}

#[test]
fn stages_being_deleted_leave_the_flow() {
    let mut stages = vec![
        stage(1, "dev", 0),
        stage(2, "canary", 1),
        stage(3, "prod", 2),
    ];
    stages[1].lifecycle = StageLifecycle::Deleting;
    let names: Vec<&str> = flow_order(&stages)
        .iter()
        .map(|s| s.settings.name.as_str())
        .collect();
    assert_eq!(names, ["dev", "prod"]);
}

#[test]
fn a_new_stack_starts_with_dev_in_the_accounts_region() {
    let stack = Stack {
        id: StackId(7),
        name: "orders".into(),
        repository: "/tmp/repo".into(),
        branch: "main".into(),
        account_id: AccountId(1),
        poll_interval_secs: 30,
        created_at: 0,
        deleting: false,
        home_region: "eu-west-1".into(),
        team: None,
    };
    let dev = first_stage(&stack, StageId(8), "eu-west-1");
    assert_eq!(dev.settings.name, "dev");
    assert_eq!(dev.settings.region, "eu-west-1");
    assert_eq!(dev.position, 0);
    assert!(!dev.settings.requires_approval);
    assert_eq!(dev.settings.routing, Routing::ApiGateway);
}

#[test]
fn r18_r20_verification_and_expiry_settings_are_checked_field_by_field() {
    let mut bad = settings("canary");
    bad.verification.health_timeout_secs = 5;
    bad.verification.soak_minutes = 24 * 60 + 1;
    bad.verification.alarms = vec![
        "ok-alarm".into(),
        " padded".into(),
        "".into(),
        "x".repeat(256),
        "ok-alarm".into(),
    ];
    bad.approval_expiry_hours = 0;
    let errors = check_stage_settings(&bad, &[]).unwrap_err();
    for field in [
        "verification.healthTimeoutSecs",
        "verification.soakMinutes",
        "verification.alarms.1",
        "verification.alarms.2",
        "verification.alarms.3",
        "verification.alarms.4",
        "approvalExpiryHours",
    ] {
        assert!(errors.has(field), "{field}: {errors:?}");
    }
    assert!(!errors.has("verification.alarms.0"));
    let mut too_many = settings("canary");
    too_many.verification.alarms = (0..21).map(|i| format!("alarm-{i}")).collect();
    assert!(check_stage_settings(&too_many, &[])
        .unwrap_err()
        .has("verification.alarms"));
    let mut late = settings("canary");
    late.approval_expiry_hours = 30 * 24 + 1;
    assert!(check_stage_settings(&late, &[])
        .unwrap_err()
        .has("approvalExpiryHours"));
}

#[test]
fn r18_new_stages_verify_their_health_and_older_ones_nothing() {
    let new = Verification::for_new_stage(true);
    assert!(new.health_check && new.roll_back && new.is_on());
    assert!(!Verification::for_new_stage(false).roll_back);
    // Settings saved before verification existed read as verifying nothing.
    let mut old = serde_json::to_value(settings("prod")).unwrap();
    old.as_object_mut().unwrap().remove("verification");
    old.as_object_mut().unwrap().remove("approvalExpiryHours");
    let read: StageSettings = serde_json::from_value(old).unwrap();
    assert!(!read.verification.is_on());
    assert_eq!(read.approval_expiry_hours, 7 * 24);
}

#[test]
fn r18_runs_saved_before_the_verify_part_read_it_as_skipped() {
    let parts: Vec<serde_json::Value> = ["build", "release", "deploy"]
        .iter()
        .map(|kind| {
            serde_json::json!({
                "kind": kind, "status": "succeeded", "startedAt": 0, "finishedAt": 1, "message": null
            })
        })
        .collect();
    let json = serde_json::json!({
        "id": 1, "stackId": 2, "stageId": 3, "releaseId": 4, "status": "succeeded",
        "trigger": { "kind": "flow" }, "createdAt": 0, "finishedAt": 5, "parts": parts,
    });
    let run: Run = serde_json::from_value(json).unwrap();
    assert_eq!(run.parts.len(), 4);
    assert_eq!(run.part(PartKind::Verify).status, PartStatus::Skipped);
}

#[test]
fn r21_a_deploy_window_is_checked_with_the_stage() {
    let mut bad = settings("prod");
    bad.deploy_window = Some(DeployWindow {
        days: vec![],
        start_hour: 9,
        end_hour: 9,
        time_zone: "Nowhere/Atlantis".into(),
    });
    let errors = check_stage_settings(&bad, &[]).unwrap_err();
    assert!(errors.has("deployWindow.days"));
    assert!(errors.has("deployWindow.hours"));
    assert!(errors.has("deployWindow.timeZone"));
}

#[test]
fn a_stages_approval_policy_is_checked_with_its_other_settings() {
    let mut good = settings("prod");
    good.approval_policy.approvers = vec!["arn:aws:iam::123456789012:user/*".into()];
    assert!(check_stage_settings(&good, &[]).is_ok());
    let mut bad = settings("prod");
    bad.approval_policy.approvers = vec![
        "arn:aws:iam::123456789012:user/alice".into(),
        "alice".into(),
    ];
    assert_eq!(
        field_errors(check_stage_settings(&bad, &[])),
        vec!["approvalPolicy.approvers.1"]
    );
}

#[test]
fn a_typed_policy_drops_blank_lines_and_spaces() {
    let typed = team::ApprovalPolicy {
        approvers: vec!["  arn:aws:iam::1:user/a ".into(), "".into(), "  ".into()],
        no_self_approval: true,
    };
    assert_eq!(
        typed.tidied(),
        team::ApprovalPolicy {
            approvers: vec!["arn:aws:iam::1:user/a".into()],
            no_self_approval: true,
        }
    );
}
