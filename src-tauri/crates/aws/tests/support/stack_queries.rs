//! Reading AWS's side of a deployed stage back through the SDK.

use super::sdk_config;

/// The stack as DescribeStacks shows it, if there is one.
async fn described_stack(
    endpoint: &str,
    region: &str,
    stack: &str,
) -> Option<aws_sdk_cloudformation::types::Stack> {
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(endpoint, region).await);
    let described = cfn.describe_stacks().stack_name(stack).send().await.ok()?;
    described.stacks().first().cloned()
}

pub async fn stack_parameter(
    endpoint: &str,
    region: &str,
    stack: &str,
    key: &str,
) -> Option<String> {
    described_stack(endpoint, region, stack)
        .await?
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value().map(str::to_owned))
}

pub async fn stack_status(endpoint: &str, region: &str, stack: &str) -> Option<String> {
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(endpoint, region).await);
    let described = cfn.describe_stacks().stack_name(stack).send().await.ok()?;
    described
        .stacks()
        .first()
        .and_then(|s| s.stack_status().map(|s| s.as_str().to_owned()))
}

pub async fn desired_count(endpoint: &str, region: &str, cluster: &str, service: &str) -> i32 {
    let ecs = aws_sdk_ecs::Client::new(&sdk_config(endpoint, region).await);
    let described = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .unwrap();
    described
        .services()
        .first()
        .expect("the service exists")
        .desired_count()
}

/// A tag of the stack, as CloudFormation shows it.
pub async fn stack_tag(endpoint: &str, region: &str, stack: &str, key: &str) -> Option<String> {
    described_stack(endpoint, region, stack)
        .await?
        .tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value().map(str::to_owned))
}
