//! Deploys against a real moto server over HTTP: create, update, no-op,
//! scale, delete, regions and both routings.

mod support;

use std::sync::Arc;

use stageline_engine::domain::Routing;
use stageline_engine::ports::{DeployOutcome, DeployedState, Deployer};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_deploy_creates_the_stage_stack_with_its_service() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("create");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("a1"));
    let log = Arc::new(KeptLog::default());

    let outcome = deployer
        .deploy(job(&account, &stack, &stage, &release, &[]), log.clone())
        .await
        .unwrap();

    assert_eq!(outcome, DeployOutcome::Deployed);
    let name = format!("{}-dev", stack.name);
    assert_eq!(
        stack_status(&url, "us-east-1", &name).await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    let names = deployer.stage_names(&account, &stack, &stage);
    assert_eq!(names.service(), name);
    assert!(
        names
            .cluster_arn()
            .starts_with("arn:aws:ecs:us-east-1:123456789012:cluster/"),
        "{}",
        names.cluster_arn()
    );
    assert_eq!(
        desired_count(&url, "us-east-1", &names.cluster_arn(), &names.service()).await,
        1
    );
    let image = stack_parameter(&url, "us-east-1", &name, "ImageUri")
        .await
        .unwrap();
    assert_eq!(
        image,
        image_of(&stack, &release),
        "the image pinned to its digest"
    );
    assert!(log.text().contains("Creating change set"), "{}", log.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_with_a_new_image_points_the_service_at_it() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("update");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let log = Arc::new(KeptLog::default());
    let first = release(&stack, 1, &sha("b1"));
    let second = release(&stack, 2, &sha("b2"));
    deployer
        .deploy(job(&account, &stack, &stage, &first, &[]), log.clone())
        .await
        .unwrap();

    let outcome = deployer
        .deploy(job(&account, &stack, &stage, &second, &[]), log.clone())
        .await
        .unwrap();

    assert_eq!(outcome, DeployOutcome::Deployed);
    let name = format!("{}-dev", stack.name);
    assert_eq!(
        stack_status(&url, "us-east-1", &name).await.as_deref(),
        Some("UPDATE_COMPLETE")
    );
    let image = stack_parameter(&url, "us-east-1", &name, "ImageUri")
        .await
        .unwrap();
    assert!(image.ends_with(&second.commit.sha), "{image}");
    let reconciled = deployer
        .reconcile(job(&account, &stack, &stage, &second, &[]), log.clone())
        .await
        .unwrap();
    assert_eq!(reconciled, DeployedState::Deployed);
}

/// AWS answers an unchanged deploy with an empty change set (NoChanges, never
/// executed); moto computes no change lists and executes it as an update.
/// Both end with the stack as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeploying_the_same_release_leaves_the_stack_as_it_was() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("noop");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let log = Arc::new(KeptLog::default());
    let release = release(&stack, 1, &sha("c1"));
    deployer
        .deploy(job(&account, &stack, &stage, &release, &[]), log.clone())
        .await
        .unwrap();
    let name = format!("{}-dev", stack.name);
    let image_before = stack_parameter(&url, "us-east-1", &name, "ImageUri").await;

    // Another run of the same release (a redeploy): nothing to change.
    let outcome = deployer
        .deploy(
            again(job(&account, &stack, &stage, &release, &[])),
            log.clone(),
        )
        .await
        .unwrap();

    assert_eq!(outcome, DeployOutcome::NoChanges);
    assert_eq!(
        stack_parameter(&url, "us-east-1", &name, "ImageUri").await,
        image_before
    );
    let reconciled = deployer
        .reconcile(job(&account, &stack, &stage, &release, &[]), log)
        .await
        .unwrap();
    assert_eq!(reconciled, DeployedState::Deployed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_to_zero_and_back_sets_the_desired_count_without_a_redeploy() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("scale");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("d1"));
    deployer
        .deploy(
            job(&account, &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    let names = deployer.stage_names(&account, &stack, &stage);

    deployer
        .scale(account.clone(), stack.clone(), stage.clone(), 0)
        .await
        .unwrap();
    assert_eq!(
        desired_count(&url, "us-east-1", &names.cluster_arn(), &names.service()).await,
        0
    );
    deployer
        .scale(account.clone(), stack.clone(), stage.clone(), 3)
        .await
        .unwrap();
    assert_eq!(
        desired_count(&url, "us-east-1", &names.cluster_arn(), &names.service()).await,
        3
    );

    let name = format!("{}-dev", stack.name);
    assert_eq!(
        stack_status(&url, "us-east-1", &name).await.as_deref(),
        Some("CREATE_COMPLETE"),
        "no redeploy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_a_stage_never_deployed_says_to_deploy_it_first() {
    let url = moto_url();
    let deployer = deployer();
    let stack = unique_stack("scale-none");
    let stage = stage(&stack, settings("dev", "us-east-1"));

    let error = deployer
        .scale(account(&url), stack, stage, 2)
        .await
        .unwrap_err();

    assert!(
        error.message.contains("deploy it once before scaling"),
        "{}",
        error.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_stage_removes_its_stack_and_its_secrets() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("delete");
    let mut settings = settings("dev", "us-east-1");
    settings.runtime_env = vec![secret_var("API_TOKEN")];
    let stage = stage(&stack, settings);
    let release = release(&stack, 1, &sha("e1"));
    let job = job(
        &account,
        &stack,
        &stage,
        &release,
        &[("API_TOKEN", "tok-delete-me")],
    );
    deployer
        .deploy(job.clone(), Arc::new(KeptLog::default()))
        .await
        .unwrap();

    deployer
        .delete_stage(account.clone(), stack.clone(), stage.clone())
        .await
        .unwrap();

    let name = format!("{}-dev", stack.name);
    assert_eq!(stack_status(&url, "us-east-1", &name).await, None);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config(&url, "us-east-1").await);
    let found = secrets
        .describe_secret()
        .secret_id(format!("stageline/{}/dev/API_TOKEN", stack.name))
        .send()
        .await;
    assert!(found.is_err(), "the secret is gone");
    assert_eq!(
        deployer
            .reconcile(job, Arc::new(KeptLog::default()))
            .await
            .unwrap(),
        DeployedState::NotDeployed
    );
    // Deleting again finds nothing to delete.
    deployer.delete_stage(account, stack, stage).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_in_two_regions_are_isolated() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("regions");
    let east = stage(&stack, settings("prod", "us-east-1"));
    let mut west = stage(&stack, settings("canary", "us-west-2"));
    west.id.0 += 1;
    let release = release(&stack, 1, &sha("f1"));
    deployer
        .deploy(
            job(&account, &stack, &east, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    deployer
        .deploy(
            job(&account, &stack, &west, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();

    let east_name = format!("{}-prod", stack.name);
    let west_name = format!("{}-canary", stack.name);
    assert!(stack_status(&url, "us-east-1", &east_name).await.is_some());
    assert_eq!(
        stack_status(&url, "us-west-2", &east_name).await,
        None,
        "us-west-2 does not see prod"
    );
    assert!(stack_status(&url, "us-west-2", &west_name).await.is_some());
    assert_eq!(
        stack_status(&url, "us-east-1", &west_name).await,
        None,
        "us-east-1 does not see canary"
    );
    let west_names = deployer.stage_names(&account, &stack, &west);
    assert!(west_names
        .regional_ecr_endpoint()
        .unwrap()
        .ends_with(".dkr.ecr.us-west-2.amazonaws.com"));
    assert_eq!(
        desired_count(
            &url,
            "us-west-2",
            &west_names.cluster_arn(),
            &west_names.service()
        )
        .await,
        1
    );
    deployer
        .delete_stage(account.clone(), stack.clone(), west)
        .await
        .unwrap();
    assert!(
        stack_status(&url, "us-east-1", &east_name).await.is_some(),
        "deleting canary leaves prod"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_routing_with_caching_deploys_a_rest_api() {
    let url = moto_url();
    let deployer = deployer();
    let stack = unique_stack("apigw");
    let mut settings = settings("dev", "eu-west-1");
    settings.routing = Routing::ApiGateway;
    settings.caching = true;
    let stage = stage(&stack, settings);
    let release = release(&stack, 1, &sha("g1"));

    // .ci/moto_server.py makes moto honour the network load balancer's type
    // (and so its TCP listener), as AWS does: the template goes as it is.
    let account = account(&url);

    let outcome = deployer
        .deploy(
            job(&account, &stack, &stage, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();

    assert_eq!(outcome, DeployOutcome::Deployed);
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(&url, "eu-west-1").await);
    let resources = cfn
        .list_stack_resources()
        .stack_name(format!("{}-dev", stack.name))
        .send()
        .await
        .unwrap();
    let types: Vec<&str> = resources
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| r.resource_type())
        .collect();
    assert!(types.contains(&"AWS::ApiGateway::RestApi"), "{types:?}");
    assert!(types.contains(&"AWS::ECS::Service"), "{types:?}");
}

/// R22: a teammate's desktop created the stage's stack through a change set
/// and stopped before executing it (its run ids are not this desktop's). The
/// deploy here removes the empty stack with that change set — it can never
/// be executed late — and creates the stack from its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_another_desktop_left_unexecuted_is_replaced_by_this_runs() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("abandoned");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("d1"));
    let name = format!("{}-dev", stack.name);
    let cloudformation = aws_sdk_cloudformation::Client::new(&sdk_config(&url, "us-east-1").await);
    let left = "stageline-r777-a888-1";
    cloudformation
        .create_change_set()
        .stack_name(&name)
        .change_set_name(left)
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
        .template_body(r#"{"Resources":{"Topic":{"Type":"AWS::SNS::Topic"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stack_status(&url, "us-east-1", &name).await.as_deref(),
        Some("REVIEW_IN_PROGRESS")
    );
    let log = Arc::new(KeptLog::default());

    let outcome = deployer
        .deploy(job(&account, &stack, &stage, &release, &[]), log.clone())
        .await
        .unwrap();

    assert_eq!(outcome, DeployOutcome::Deployed, "{}", log.text());
    assert_eq!(
        stack_status(&url, "us-east-1", &name).await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert!(log.text().contains("left unexecuted by another deploy"));
    // The stack is a new one: the change set left behind belonged to the
    // stack that was removed (AWS deletes a stack's change sets with it;
    // moto keeps listing them, so the stack ids are compared).
    let now = cloudformation
        .describe_stacks()
        .stack_name(&name)
        .send()
        .await
        .unwrap();
    let now_id = now.stacks()[0].stack_id().unwrap().to_string();
    let change_sets = cloudformation
        .list_change_sets()
        .stack_name(&name)
        .send()
        .await
        .unwrap();
    let left_in = change_sets
        .summaries()
        .iter()
        .find(|s| s.change_set_name() == Some(left))
        .and_then(|s| s.stack_id())
        .map(str::to_string);
    assert_ne!(
        left_in.as_deref(),
        Some(now_id.as_str()),
        "the change set left behind went with its stack"
    );
}
