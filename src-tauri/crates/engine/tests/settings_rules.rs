//! Rules on changing what is configured under a running flow: deleting the
//! last stage (R9), scaling (R12), variable sizes (R11), account names, and
//! warnings that do not clear each other.

mod common;

use common::*;
use stageline_engine::flow::Input;
use stageline_engine::testing::*;
use stageline_engine::validation::{MAX_ENV_LIST_BYTES, MAX_ENV_VALUE_BYTES};
use stageline_engine::*;

async fn delete(flow: &Flow, name: &str) -> Result<(), EngineError> {
    let stage_id = flow.stage(name).await;
    flow.pipeline
        .send(Input::DeleteStage {
            stage_id,
            confirmation: "delete".into(),
        })
        .await
        .map(|_| ())
}

async fn refusal(flow: &Flow, name: &str) -> Option<String> {
    let stage = flow.stage(name).await;
    flow.pipeline
        .read(move |s| {
            s.dashboard()
                .into_iter()
                .flat_map(|stack| stack.stages)
                .find(|v| v.stage.id == stage)
                .and_then(|v| v.delete_refusal)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn r9_the_last_stage_of_a_stack_cannot_be_deleted() {
    let flow = Flow::new(&[("prod", false)]).await;
    assert_eq!(refusal(&flow, "dev").await, None);
    delete(&flow, "prod").await.unwrap();
    let stack = flow.stack;
    wait_until(&flow.pipeline, "prod is gone", move |s| {
        s.stages_of(stack).len() == 1
    })
    .await;
    // The dashboard says why before anyone types `delete`…
    let reason = refusal(&flow, "dev").await.expect("a reason");
    assert!(reason.contains("only stage") && reason.contains("Delete the stack"));
    // …and the engine refuses, changing nothing.
    let writes = flow.fakes.store.applies();
    let error = delete(&flow, "dev").await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::Conflict);
    assert_eq!(error.to_string(), reason);
    assert_eq!(flow.fakes.store.applies(), writes);
    assert_eq!(flow.fakes.deployer.deleted(), ["prod"]);
    // Deleting the stack still takes every stage with it.
    flow.delete_stack().await;
    wait_until(&flow.pipeline, "the stack is gone", move |s| {
        s.stack(stack).is_none()
    })
    .await;
}

#[tokio::test]
async fn r9_a_stage_is_the_last_one_while_the_others_are_being_deleted() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.fakes.deployer.fail_delete("prod", true);
    delete(&flow, "prod").await.unwrap();
    assert!(
        delete(&flow, "dev").await.is_err(),
        "prod has left the flow"
    );
}

#[tokio::test]
async fn r12_scaling_changes_only_the_desired_count() {
    let flow = Flow::new(&[]).await;
    let dev = flow.stage("dev").await;
    // A settings change lands first; scaling must not undo it.
    let mut manual = settings("dev", true);
    manual.desired_count = 1;
    flow.pipeline
        .send(Input::UpdateStage {
            stage_id: dev,
            settings: manual,
        })
        .await
        .unwrap();
    flow.pipeline
        .send(Input::Scale {
            stage_id: dev,
            count: 0,
        })
        .await
        .unwrap();
    flow.settle().await;
    let stage = flow
        .pipeline
        .read(move |s| s.stage(dev).cloned())
        .await
        .unwrap()
        .unwrap();
    assert!(stage.settings.requires_approval, "kept");
    assert_eq!(stage.settings.desired_count, 0);
    assert_eq!(flow.fakes.deployer.scales(), [("dev".to_string(), 0)]);
    let too_many = flow
        .pipeline
        .send(Input::Scale {
            stage_id: dev,
            count: 1000,
        })
        .await
        .unwrap_err();
    let EngineError::Invalid(fields) = too_many else {
        panic!("expected a validation error")
    };
    assert!(fields.has("desiredCount"));
}

#[tokio::test]
async fn stack_warnings_from_different_sources_do_not_clear_each_other() {
    let flow = Flow::new(&[]).await;
    let dev = flow.stage("dev").await;
    flow.fakes.deployer.fail_scale("dev", true);
    flow.pipeline
        .send(Input::Scale {
            stage_id: dev,
            count: 2,
        })
        .await
        .unwrap();
    let stack = flow.stack;
    wait_until(&flow.pipeline, "the scale failure shows", move |s| {
        s.stack_warnings(stack).len() == 1
    })
    .await;
    let watcher = |message: Option<&str>| Input::StackWarning {
        stack_id: stack,
        message: message.map(str::to_string),
    };
    flow.pipeline
        .send(watcher(Some("Could not fetch the remote")))
        .await
        .unwrap();
    flow.pipeline.send(watcher(None)).await.unwrap();
    let left = flow
        .pipeline
        .read(move |s| {
            s.stack_warnings(stack)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "the watcher cleared only its own: {left:?}");
    assert!(left[0].starts_with("Could not scale dev to 2"));
    // Scaling well clears the scale warning.
    flow.fakes.deployer.fail_scale("dev", false);
    flow.pipeline
        .send(Input::Scale {
            stage_id: dev,
            count: 3,
        })
        .await
        .unwrap();
    wait_until(&flow.pipeline, "no warning is left", move |s| {
        s.stack_warnings(stack).is_empty()
    })
    .await;
}

fn plain(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: EnvValue::Plain { value },
    }
}

#[tokio::test]
async fn r11_a_variable_value_of_a_mebibyte_is_refused_and_nothing_is_written() {
    let flow = Flow::new(&[]).await;
    let writes = flow.fakes.store.applies();
    let mut big = settings("prod", false);
    big.runtime_env = vec![plain("BLOB", "x".repeat(1024 * 1024))];
    let dev = flow.stage("dev").await;
    let EngineError::Invalid(fields) = flow.create_stage(Some(dev), big).await.unwrap_err() else {
        panic!("expected a validation error")
    };
    assert!(fields.has("runtimeEnv.0.value"), "{fields:?}");
    assert!(fields.to_string().contains("at most 8 KiB"));
    assert_eq!(flow.fakes.store.applies(), writes);
}

#[tokio::test]
async fn r11_a_stages_variables_have_a_size_limit_in_all() {
    let flow = Flow::new(&[]).await;
    let mut many = settings("dev", false);
    let each = MAX_ENV_VALUE_BYTES;
    let count = MAX_ENV_LIST_BYTES / each + 1;
    many.build_env = (0..count)
        .map(|i| plain(&format!("VAR_{i}"), "y".repeat(each)))
        .collect();
    let dev = flow.stage("dev").await;
    let EngineError::Invalid(fields) = flow
        .pipeline
        .send(Input::UpdateStage {
            stage_id: dev,
            settings: many,
        })
        .await
        .unwrap_err()
    else {
        panic!("expected a validation error")
    };
    assert!(fields.has("buildEnv"), "{fields:?}");
    assert!(
        !fields.has("buildEnv.0.value"),
        "each value is within its limit"
    );
}

#[tokio::test]
async fn account_names_are_unique() {
    let flow = Flow::new(&[]).await;
    let mut second = test_account(7);
    second.name = " test ACCOUNT ".into();
    let error = flow
        .pipeline
        .send(Input::PutAccount(second.clone()))
        .await
        .unwrap_err();
    let EngineError::Invalid(fields) = error else {
        panic!("expected a validation error")
    };
    assert!(fields.has("name"));
    assert!(fields.to_string().contains("already exists"));
    // Saving the same account again (a rename to its own name) is fine.
    flow.pipeline
        .send(Input::PutAccount(test_account(1)))
        .await
        .unwrap();
    second.name = "Other account".into();
    flow.pipeline.send(Input::PutAccount(second)).await.unwrap();
}

/// The fields a `PutAccount` or `CreateStack` is refused for, and that
/// nothing was kept.
async fn refused_fields(flow: &Flow, input: Input) -> Vec<String> {
    let before = flow.pipeline.read(|s| s.dashboard()).await.unwrap();
    let accounts_before = flow.pipeline.read(|s| s.accounts().count()).await.unwrap();
    let error = flow.pipeline.send(input).await.unwrap_err();
    let EngineError::Invalid(fields) = error else {
        panic!("expected a validation error, got {error:?}")
    };
    assert_eq!(flow.pipeline.read(|s| s.dashboard()).await.unwrap(), before);
    assert_eq!(
        flow.pipeline.read(|s| s.accounts().count()).await.unwrap(),
        accounts_before
    );
    fields.0.iter().map(|f| f.field.clone()).collect()
}

#[tokio::test]
async fn the_engine_checks_an_accounts_fields_itself() {
    let flow = Flow::new(&[]).await;
    let mut bad = test_account(7);
    bad.name = "  ".into();
    bad.default_region = "mars-north-1".into();
    bad.endpoint_url = Some("ftp://127.0.0.1".into());
    let fields = refused_fields(&flow, Input::PutAccount(bad)).await;
    assert_eq!(fields, ["name", "defaultRegion", "endpointUrl"]);
    let mut profile = test_account(8);
    profile.name = "Profile account".into();
    profile.credentials = CredentialSource::Profile {
        profile: "has space".into(),
    };
    assert_eq!(
        refused_fields(&flow, Input::PutAccount(profile)).await,
        ["profile"]
    );
}

#[tokio::test]
async fn the_engine_checks_a_new_stacks_fields_itself() {
    let flow = Flow::new(&[]).await;
    let mut bad = test_stack(9, "Not A Name", AccountId(1));
    bad.repository = "relative/path".into();
    bad.branch = "two..dots".into();
    bad.poll_interval_secs = 1;
    bad.account_id = AccountId(404);
    let fields = refused_fields(
        &flow,
        Input::CreateStack {
            stack: bad,
            first_region: "us-east-1".into(),
            watch: true,
        },
    )
    .await;
    assert_eq!(
        fields,
        [
            "name",
            "repository",
            "branch",
            "pollIntervalSecs",
            "accountId"
        ]
    );
}
