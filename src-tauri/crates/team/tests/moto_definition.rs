//! The team stack's definition in S3: shared once, changed by compare-and-
//! swap; two teammates inserting stages at once both keep theirs, and a name
//! taken meanwhile is refused with words a user understands.

mod support;

use stageline_engine::order::first_stage_settings;
use stageline_engine::testing::test_stack;
use stageline_engine::{AccountId, EnvValue, EnvVar, StageSettings};
use stageline_team::definition::*;
use support::*;

fn stage(name: &str) -> StageSettings {
    let mut settings = first_stage_settings("eu-west-1");
    settings.name = name.into();
    settings
}

fn shop() -> SharedStack {
    SharedStack::of(
        &test_stack(2, "shop", AccountId(1)),
        vec![stage("dev"), stage("prod")],
    )
    .unwrap()
}

fn names(stack: &SharedStack) -> Vec<&str> {
    stack.stages.iter().map(|s| s.name.as_str()).collect()
}

#[tokio::test]
async fn a_stack_is_shared_once_per_prefix() {
    let prefix = team_prefix("share").await;
    share_definition(&prefix, &shop()).await.unwrap();
    let again = share_definition(&seen_by_another_desktop(&prefix).await, &shop()).await;
    assert_eq!(again, Err(DefinitionError::AlreadyShared("shop".into())));
    let read = read_definition(&prefix).await.unwrap().unwrap();
    assert_eq!(names(&read), ["dev", "prod"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn teammates_inserting_stages_at_once_both_keep_theirs() {
    let prefix = team_prefix("insert").await;
    share_definition(&prefix, &shop()).await.unwrap();
    let mut tasks = Vec::new();
    for name in ["canary", "staging", "qa", "perf"] {
        let desk = seen_by_another_desktop(&prefix).await;
        tasks.push(tokio::spawn(async move {
            change_definition(&desk, insert_stage(Some("dev".into()), stage(name))).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stack = read_definition(&prefix).await.unwrap().unwrap();
    let mut inserted: Vec<&str> = names(&stack)[1..5].to_vec();
    inserted.sort();
    assert_eq!(inserted, ["canary", "perf", "qa", "staging"]);
    assert_eq!(
        (names(&stack)[0], names(&stack)[5]),
        ("dev", "prod"),
        "existing stages did not move"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_name_a_teammate_just_took_is_refused_and_nothing_is_written() {
    let prefix = team_prefix("taken").await;
    share_definition(&prefix, &shop()).await.unwrap();
    let (a, b) = (
        seen_by_another_desktop(&prefix).await,
        seen_by_another_desktop(&prefix).await,
    );
    let (first, second) = tokio::join!(
        change_definition(&a, insert_stage(Some("dev".into()), stage("canary"))),
        change_definition(&b, insert_stage(None, stage("canary"))),
    );
    let refused = [first, second]
        .into_iter()
        .filter_map(Result::err)
        .collect::<Vec<_>>();
    assert_eq!(
        refused,
        [DefinitionError::Refused(
            "A teammate just added a stage named canary; choose another name.".into()
        )]
    );
    let stack = read_definition(&prefix).await.unwrap().unwrap();
    assert_eq!(
        stack.stages.iter().filter(|s| s.name == "canary").count(),
        1
    );
    let gone = change_definition(&prefix, insert_stage(Some("staging".into()), stage("qa"))).await;
    assert!(
        matches!(gone, Err(DefinitionError::Refused(m)) if m.contains("deleted stage staging"))
    );
}

#[tokio::test]
async fn a_stack_with_a_keychain_secret_is_refused_before_anything_is_shared() {
    let mut prod = stage("prod");
    prod.runtime_env.push(EnvVar {
        name: "DB_PASSWORD".into(),
        value: EnvValue::Secret {
            keychain_ref: "stack/2/stage/prod/DB_PASSWORD".into(),
        },
    });
    let refused = SharedStack::of(
        &test_stack(2, "shop", AccountId(1)),
        vec![stage("dev"), prod],
    )
    .unwrap_err();
    assert!(refused.has("stages.1.runtimeEnv.0"), "{refused}");
    assert!(
        refused
            .to_string()
            .contains("DB_PASSWORD of stage prod is a secret"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn teammates_changing_one_stage_at_once_keep_each_others_settings() {
    let prefix = team_prefix("change").await;
    share_definition(&prefix, &shop()).await.unwrap();
    let before = stage("prod");
    let mut scaled = before.clone();
    scaled.desired_count = 4;
    let mut gated = before.clone();
    gated.requires_approval = true;
    let (a, b) = (
        seen_by_another_desktop(&prefix).await,
        seen_by_another_desktop(&prefix).await,
    );
    let (first, second) = tokio::join!(
        change_definition(&a, change_stage(before.clone(), scaled)),
        change_definition(&b, change_stage(before.clone(), gated)),
    );
    first.unwrap();
    second.unwrap();
    let prod = read_definition(&prefix).await.unwrap().unwrap().stages[1].clone();
    assert_eq!(
        (prod.desired_count, prod.requires_approval),
        (4, true),
        "both changes kept"
    );

    // A stage a teammate deleted meanwhile is not changed back into being.
    change_definition(&prefix, |stack| {
        stack.stages.retain(|s| s.name != "prod");
        Ok(())
    })
    .await
    .unwrap();
    let refused = change_definition(&prefix, change_stage(before.clone(), stage("prod"))).await;
    assert!(
        matches!(&refused, Err(DefinitionError::Refused(m)) if m.contains("deleted stage prod")),
        "{refused:?}"
    );
    assert_eq!(
        names(&read_definition(&prefix).await.unwrap().unwrap()),
        ["dev"]
    );
}

#[tokio::test]
async fn a_definition_unchanged_since_it_was_read_is_not_read_again() {
    let prefix = team_prefix("unchanged").await;
    share_definition(&prefix, &shop()).await.unwrap();
    let (first, etag) = read_definition_if_changed(&prefix, None)
        .await
        .unwrap()
        .expect("the first look reads it");
    assert_eq!(names(&first), ["dev", "prod"]);
    let again = read_definition_if_changed(&prefix, Some(&etag))
        .await
        .unwrap();
    assert!(again.is_none(), "304: nothing new");

    let desk = seen_by_another_desktop(&prefix).await;
    change_definition(&desk, insert_stage(Some("dev".into()), stage("qa")))
        .await
        .unwrap();
    let (changed, newer) = read_definition_if_changed(&prefix, Some(&etag))
        .await
        .unwrap()
        .expect("a teammate's change is read");
    assert_eq!(names(&changed), ["dev", "qa", "prod"]);
    assert_ne!(newer, etag);
}
