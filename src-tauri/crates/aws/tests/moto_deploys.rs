//! Deploys against a real moto server over HTTP: create, update, no-op,
//! scale, delete, regions, both routings, an existing RDS instance, secrets.

mod support;

use std::sync::Arc;

use stageline_aws::{CloudFormationDeployer, TAG_RELEASE};
use stageline_engine::domain::{Database, Routing};
use stageline_engine::ports::{DeployOutcome, DeployedState, Deployer};
use support::*;

async fn stack_parameter(endpoint: &str, region: &str, stack: &str, key: &str) -> Option<String> {
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(endpoint, region).await);
    let described = cfn.describe_stacks().stack_name(stack).send().await.ok()?;
    let stack = described.stacks().first()?.clone();
    stack.parameters().iter().find(|p| p.parameter_key() == Some(key)).and_then(|p| p.parameter_value().map(str::to_owned))
}

async fn stack_status(endpoint: &str, region: &str, stack: &str) -> Option<String> {
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(endpoint, region).await);
    let described = cfn.describe_stacks().stack_name(stack).send().await.ok()?;
    described.stacks().first().and_then(|s| s.stack_status().map(|s| s.as_str().to_owned()))
}

async fn desired_count(endpoint: &str, region: &str, cluster: &str, service: &str) -> i32 {
    let ecs = aws_sdk_ecs::Client::new(&sdk_config(endpoint, region).await);
    let described = ecs.describe_services().cluster(cluster).services(service).send().await.unwrap();
    described.services().first().expect("the service exists").desired_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_deploy_creates_the_stage_stack_with_its_service() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("create");
    let stage = stage(&stack, settings("dev", "us-east-1"));
    let release = release(&stack, 1, &sha("a1"));
    let log = Arc::new(KeptLog::default());

    let outcome = deployer.deploy(job(&account, &stack, &stage, &release, &[]), log.clone()).await.unwrap();

    assert_eq!(outcome, DeployOutcome::Deployed);
    let name = format!("{}-dev", stack.name);
    assert_eq!(stack_status(&url, "us-east-1", &name).await.as_deref(), Some("CREATE_COMPLETE"));
    let facts = deployer.stage_facts(&account, &stack, &stage);
    assert_eq!(facts.service_name, name);
    assert!(facts.cluster_arn.starts_with("arn:aws:ecs:us-east-1:123456789012:cluster/"), "{}", facts.cluster_arn);
    assert_eq!(desired_count(&url, "us-east-1", &facts.cluster_arn, &facts.service_name).await, 1);
    let image = stack_parameter(&url, "us-east-1", &name, "ImageUri").await.unwrap();
    assert_eq!(image, format!("{}:{}", facts.ecr_image_url, release.commit.sha));
    assert!(log.text().contains("Creating change set"), "{}", log.text());
}
