//! R22: a stack is shared with a team at a place (bucket, prefix, region),
//! which is validated field by field, kept across restarts, and given up
//! again by making the stack solo. Bad input changes nothing.

mod common;

use common::*;
use stageline_engine::flow::Input;
use stageline_engine::validation::{check_bucket_name, check_team_place, FieldErrors};
use stageline_engine::*;

fn place(bucket: &str, prefix: &str) -> TeamPlace {
    TeamPlace {
        bucket: bucket.into(),
        prefix: prefix.into(),
        region: "eu-west-1".into(),
    }
}

fn fields(place: &TeamPlace) -> Vec<String> {
    let mut errors = FieldErrors::default();
    check_team_place(place, &mut errors);
    match errors.into_result() {
        Ok(()) => vec![],
        Err(errors) => errors.0.iter().map(|e| e.field.clone()).collect(),
    }
}

#[test]
fn bucket_names_follow_s3s_rules() {
    let ok = |name: &str| {
        let mut errors = FieldErrors::default();
        check_bucket_name("bucket", name, &mut errors);
        errors.into_result().is_ok()
    };
    for good in ["abc", "team-state.example", "a1b2c3", &"a".repeat(63)] {
        assert!(ok(good), "{good} is a valid bucket name");
    }
    for bad in [
        "",
        "ab",
        &"a".repeat(64),
        "Team",
        "-team",
        "team-",
        "team_state",
        "a..b",
        "192.168.1.1",
        "xn--team",
        "team-s3alias",
        "sthree-team",
    ] {
        assert!(!ok(bad), "{bad:?} is refused");
    }
}

#[test]
fn a_team_place_is_checked_field_by_field() {
    assert!(fields(&place("team-state", "stageline/shop")).is_empty());
    assert_eq!(fields(&place("Team", "stageline/shop")), ["team.bucket"]);
    for bad_prefix in [
        "",
        "/shop",
        "shop/",
        "a//b",
        "a/../b",
        "shop state",
        &"a".repeat(513),
    ] {
        assert_eq!(
            fields(&place("team-state", bad_prefix)),
            ["team.prefix"],
            "{bad_prefix:?}"
        );
    }
    let mut nowhere = place("team-state", "shop");
    nowhere.region = "mars-1".into();
    assert_eq!(fields(&nowhere), ["team.region"]);
}

/// Shares the stack at `team`, or makes it solo (`None`).
async fn set_team(
    flow: &Flow,
    stack_id: StackId,
    team: Option<TeamPlace>,
) -> Result<stageline_engine::flow::Reply, EngineError> {
    flow.pipeline
        .send(Input::SetTeam {
            stack_id,
            team,
            moved_secrets: Vec::new(),
        })
        .await
}

async fn team_of(flow: &Flow, stack_id: StackId) -> Option<TeamPlace> {
    flow.pipeline
        .read(move |s| s.stack(stack_id).and_then(|st| st.team.clone()))
        .await
        .unwrap()
}

#[tokio::test]
async fn sharing_a_stack_is_kept_and_can_be_undone() {
    let flow = Flow::new(&[]).await;
    let stack_id = flow.stack;
    set_team(&flow, stack_id, Some(place("team-state", "stageline/shop")))
        .await
        .unwrap();
    let flow = flow.restart().await;
    assert_eq!(
        team_of(&flow, stack_id).await,
        Some(place("team-state", "stageline/shop")),
        "kept across a restart"
    );
    let elsewhere = set_team(&flow, stack_id, Some(place("team-state", "other")))
        .await
        .unwrap_err();
    assert!(
        elsewhere
            .to_string()
            .contains("already shared at s3://team-state/stageline/shop"),
        "{elsewhere}"
    );
    set_team(&flow, stack_id, None).await.unwrap();
    assert_eq!(team_of(&flow, stack_id).await, None);
}

#[tokio::test]
async fn a_bad_place_changes_nothing() {
    let flow = Flow::new(&[]).await;
    let stack_id = flow.stack;
    let refused = set_team(&flow, stack_id, Some(place("Team State", "/shop")))
        .await
        .unwrap_err();
    let EngineError::Invalid(errors) = refused else {
        panic!("expected field errors, got {refused}");
    };
    let named: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(named, ["team.bucket", "team.prefix"]);
    assert_eq!(team_of(&flow, stack_id).await, None);
}

#[tokio::test]
async fn two_stacks_of_one_desktop_never_share_one_place() {
    let flow = Flow::new(&[]).await;
    let shared = place("team-state", "stageline/shop");
    set_team(&flow, flow.stack, Some(shared.clone()))
        .await
        .unwrap();
    let mut other = stageline_engine::testing::test_stack(77, "other", AccountId(1));
    other.team = Some(shared);
    let refused = flow
        .pipeline
        .send(Input::CreateStack {
            stack: other,
            first_region: "us-east-1".into(),
            watch: true,
        })
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("already shared at this bucket and prefix"),
        "{refused}"
    );
}

#[tokio::test]
async fn joining_opens_the_teams_stages_in_order_or_nothing() {
    let flow = Flow::new(&[]).await;
    let mut joined = stageline_engine::testing::test_stack(90, "team-shop", AccountId(1));
    joined.team = Some(place("team-state", "stageline/team-shop"));
    joined.home_region = "eu-west-1".into();
    let stages = vec![settings("dev", false), settings("prod", true)];
    let mut twice = stages.clone();
    twice.push(settings("dev", false));
    let refused = flow
        .pipeline
        .send(Input::JoinStack {
            stack: joined.clone(),
            stages: twice,
        })
        .await
        .unwrap_err();
    let EngineError::Invalid(errors) = &refused else {
        panic!("expected field errors, got {refused}");
    };
    assert_eq!(errors.0[0].field, "stages.2.name", "{refused}");
    let exists = move |s: &stageline_engine::flow::FlowState| s.stack(StackId(90)).is_some();
    assert!(!flow.pipeline.read(exists).await.unwrap(), "nothing kept");

    flow.pipeline
        .send(Input::JoinStack {
            stack: joined,
            stages,
        })
        .await
        .unwrap();
    let flow = flow.restart().await;
    let (names, home, team) = flow
        .pipeline
        .read(|s| {
            let names: Vec<String> = s
                .flow_of(StackId(90))
                .iter()
                .map(|st| st.settings.name.clone())
                .collect();
            let stack = s.stack(StackId(90)).unwrap();
            (names, stack.home_region.clone(), stack.team.clone())
        })
        .await
        .unwrap();
    assert_eq!(names, ["dev", "prod"]);
    assert_eq!(home, "eu-west-1", "the team's image region");
    assert_eq!(team, Some(place("team-state", "stageline/team-shop")));
}

#[tokio::test]
async fn a_team_stage_is_deleted_only_under_its_lease_and_a_team_stack_not_from_one_desktop() {
    let flow = Flow::new(&[("prod", false)]).await;
    let stack_id = flow.stack;
    set_team(&flow, stack_id, Some(place("team-state", "stageline/shop")))
        .await
        .unwrap();
    let prod = flow.stage("prod").await;
    for input in [
        Input::DeleteStage {
            stage_id: prod,
            confirmation: "delete".into(),
        },
        Input::DeleteStack {
            stack_id,
            confirmation: "delete".into(),
        },
    ] {
        let refused = flow.pipeline.send(input).await.unwrap_err();
        assert!(
            refused.to_string().contains("is shared with a team"),
            "{refused}"
        );
    }
    assert_eq!(flow.stage_ids().await.len(), 2, "nothing deleted");
    assert!(flow.fakes.deployer.deleted().is_empty());

    // The dashboard offers deleting the stage (through its lease).
    let offered = flow
        .pipeline
        .read(move |s| {
            s.dashboard()
                .into_iter()
                .flat_map(|stack| stack.stages)
                .find(|v| v.stage.id == prod)
                .map(|v| v.delete_refusal)
        })
        .await
        .unwrap();
    assert_eq!(offered, Some(None), "no refusal shown for a team stage");

    // Held: the usual R9 rules, then torn down.
    let mistyped = flow
        .pipeline
        .send(Input::DeleteTeamStage {
            stage_id: prod,
            confirmation: "Delete".into(),
        })
        .await
        .unwrap_err();
    assert!(
        mistyped.to_string().contains("Type the word delete"),
        "{mistyped}"
    );
    flow.pipeline
        .send(Input::DeleteTeamStage {
            stage_id: prod,
            confirmation: "delete".into(),
        })
        .await
        .unwrap();
    flow.settle().await;
    assert_eq!(flow.fakes.deployer.deleted(), ["prod"]);
    assert_eq!(flow.stage_ids().await.len(), 1);
    // The last stage stays, as on a solo stack.
    let dev = flow.stage("dev").await;
    let last = flow
        .pipeline
        .send(Input::DeleteTeamStage {
            stage_id: dev,
            confirmation: "delete".into(),
        })
        .await
        .unwrap_err();
    assert!(last.to_string().contains("only stage"), "{last}");
}

#[tokio::test]
async fn sharing_moves_keychain_secrets_to_secrets_manager_in_one_step() {
    let flow = Flow::new(&[]).await;
    let stack_id = flow.stack;
    let dev = flow.stage("dev").await;
    flow.fakes.secrets.put("env/9", "s3cr3t");
    let mut with_secret = settings("dev", false);
    with_secret.build_env = vec![EnvVar {
        name: "NPM_TOKEN".into(),
        value: EnvValue::Secret {
            keychain_ref: "env/9".into(),
        },
    }];
    flow.pipeline
        .send(Input::UpdateStage {
            stage_id: dev,
            settings: with_secret,
        })
        .await
        .unwrap();
    let (stack, stages) = flow
        .pipeline
        .read(move |s| {
            let stages: Vec<Stage> = s.flow_of(stack_id).into_iter().cloned().collect();
            (s.stack(stack_id).cloned().unwrap(), stages)
        })
        .await
        .unwrap();
    let moved = stageline_engine::pipeline::move_secrets_to_team(
        &stageline_engine::testing::test_account(1),
        &stack,
        &stages,
        flow.fakes.secrets.as_ref(),
        flow.fakes.deployer.as_ref(),
    )
    .await
    .unwrap();
    assert_eq!(moved.keychain_refs, ["env/9"]);

    // Settings that changed anything but where secrets live are refused,
    // and nothing is shared.
    let mut stale = moved.stages.clone();
    stale[0].1.desired_count += 1;
    let refused = flow
        .pipeline
        .send(Input::SetTeam {
            stack_id,
            team: Some(place("team-state", "stageline/shop")),
            moved_secrets: stale,
        })
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("changed while"), "{refused}");
    assert_eq!(team_of(&flow, stack_id).await, None);

    flow.pipeline
        .send(Input::SetTeam {
            stack_id,
            team: Some(place("team-state", "stageline/shop")),
            moved_secrets: moved.stages,
        })
        .await
        .unwrap();
    let flow = flow.restart().await;
    let kept = flow
        .pipeline
        .read(move |s| s.stage(dev).unwrap().settings.build_env.clone())
        .await
        .unwrap();
    assert!(
        matches!(&kept[0].value, EnvValue::TeamSecret { arn } if arn.ends_with(":secret:stageline/shop/dev/build/NPM_TOKEN")),
        "{kept:?}"
    );
}
