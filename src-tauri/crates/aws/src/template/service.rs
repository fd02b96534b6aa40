//! The log group, ECS cluster, Fargate task definition and service, and the
//! roles they run with. The image repositories and the stage's bucket are not
//! here: they exist before the stage's first part (see `bootstrap`).

use serde_json::{json, Map, Value};

use stageline_engine::domain::{CpuArchitecture, StageSettings};

use super::database::DatabaseEnv;
use super::network::Network;
use super::{
    attribute, reference, secret_arn_parameter, RuntimeVar, PARAM_DESIRED_COUNT, PARAM_IMAGE_URI,
    PARAM_SECRETS_VERSION,
};
use crate::naming::StageNames;

/// The container's name in the task definition.
pub const CONTAINER_NAME: &str = "app";

/// The container's `Environment` and `Secrets` entries.
pub(super) struct ContainerEnv {
    environment: Vec<Value>,
    secrets: Vec<Value>,
    /// What the execution role may read: the secrets' ARNs.
    secret_arns: Vec<Value>,
}

impl ContainerEnv {
    pub(super) fn new(env: &[RuntimeVar], database: Option<DatabaseEnv>, port: u16) -> Self {
        let mut environment = Vec::new();
        let mut secrets = Vec::new();
        let mut secret_arns = Vec::new();
        let mut secret_index = 0;
        for var in env {
            match &var.plain_value {
                Some(value) => environment.push(json!({ "Name": var.name, "Value": value })),
                None => {
                    secret_index += 1;
                    let arn = reference(&secret_arn_parameter(secret_index));
                    secrets.push(json!({ "Name": var.name, "ValueFrom": arn }));
                    secret_arns.push(arn);
                }
            }
        }
        if secret_index > 0 {
            environment.push(json!({ "Name": "STAGELINE_SECRETS_VERSION", "Value": reference(PARAM_SECRETS_VERSION) }));
        }
        if !env.iter().any(|var| var.name == "PORT") {
            environment.push(json!({ "Name": "PORT", "Value": port.to_string() }));
        }
        if let Some(database) = database {
            environment.push(json!({ "Name": "PG_HOST", "Value": database.host }));
            environment.push(json!({ "Name": "PG_PORT", "Value": database.port }));
            environment.push(json!({ "Name": "PG_DATABASE", "Value": database.name }));
            secrets
                .push(json!({ "Name": "PG_CREDENTIALS_SECRET", "ValueFrom": database.secret_arn }));
            secret_arns.push(database.secret_arn);
        }
        ContainerEnv {
            environment,
            secrets,
            secret_arns,
        }
    }
}

pub(super) fn add(
    resources: &mut Map<String, Value>,
    outputs: &mut Map<String, Value>,
    names: &StageNames,
    settings: &StageSettings,
    network: &Network,
    env: &ContainerEnv,
) {
    let port = settings.container_port;
    resources.insert(
        "LogGroup".into(),
        json!({
            "Type": "AWS::Logs::LogGroup",
            "Properties": { "LogGroupName": names.log_group(), "RetentionInDays": 30 }
        }),
    );
    resources.insert(
        "Cluster".into(),
        json!({ "Type": "AWS::ECS::Cluster", "Properties": { "ClusterName": names.cluster() } }),
    );
    add_roles(resources, names, env);
    resources.insert(
        "TaskDefinition".into(),
        json!({
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": names.task_family(),
                "Cpu": "256",
                "Memory": "512",
                "NetworkMode": "awsvpc",
                "RequiresCompatibilities": ["FARGATE"],
                "ExecutionRoleArn": attribute("ExecutionRole", "Arn"),
                "TaskRoleArn": attribute("TaskRole", "Arn"),
                "RuntimePlatform": {
                    "CpuArchitecture": match settings.cpu_architecture {
                        CpuArchitecture::X86_64 => "X86_64",
                        CpuArchitecture::Arm64 => "ARM64",
                    },
                    "OperatingSystemFamily": "LINUX",
                },
                "ContainerDefinitions": [{
                    "Name": CONTAINER_NAME,
                    "Image": reference(PARAM_IMAGE_URI),
                    "Essential": true,
                    "PortMappings": [{ "ContainerPort": port, "Protocol": "tcp" }],
                    "Environment": env.environment,
                    "Secrets": env.secrets,
                    "LogConfiguration": {
                        "LogDriver": "awslogs",
                        "Options": {
                            "awslogs-group": reference("LogGroup"),
                            "awslogs-region": reference("AWS::Region"),
                            "awslogs-stream-prefix": CONTAINER_NAME,
                        },
                    },
                }],
            }
        }),
    );
    resources.insert(
        "Service".into(),
        json!({
            "Type": "AWS::ECS::Service",
            "DependsOn": ["Listener"],
            "Properties": {
                "ServiceName": names.service(),
                "Cluster": reference("Cluster"),
                "LaunchType": "FARGATE",
                "DesiredCount": reference(PARAM_DESIRED_COUNT),
                "TaskDefinition": reference("TaskDefinition"),
                "HealthCheckGracePeriodSeconds": 60,
                // A deploy whose tasks never become healthy fails in minutes
                // (and CloudFormation rolls back) instead of hanging for hours.
                "DeploymentConfiguration": {
                    "DeploymentCircuitBreaker": { "Enable": true, "Rollback": true },
                    "MinimumHealthyPercent": 100,
                    "MaximumPercent": 200,
                },
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "AssignPublicIp": "ENABLED",
                        "Subnets": network.subnets(),
                        "SecurityGroups": [network.service_security_group()],
                    }
                },
                "LoadBalancers": [{
                    "ContainerName": CONTAINER_NAME,
                    "ContainerPort": port,
                    "TargetGroupArn": reference("TargetGroup"),
                }],
            }
        }),
    );
    outputs.insert(
        "ClusterArn".into(),
        json!({ "Value": attribute("Cluster", "Arn") }),
    );
    outputs.insert(
        "ServiceName".into(),
        json!({ "Value": attribute("Service", "Name") }),
    );
    outputs.insert("BucketName".into(), json!({ "Value": bucket_name(names) }));
}

/// The stage's bucket (made by the bootstrap), named as `StageNames::bucket`.
fn bucket_name(names: &StageNames) -> Value {
    json!({ "Fn::Sub": format!("{}-${{AWS::AccountId}}", names.bucket_prefix()) })
}

fn add_roles(resources: &mut Map<String, Value>, names: &StageNames, env: &ContainerEnv) {
    let assumed_by_tasks = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ecs-tasks.amazonaws.com" },
            "Action": "sts:AssumeRole",
        }],
    });
    let mut execution = json!({
        "AssumeRolePolicyDocument": assumed_by_tasks,
        "ManagedPolicyArns": [{
            "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
        }],
    });
    if !env.secret_arns.is_empty() {
        execution["Policies"] = json!([{
            "PolicyName": "read-runtime-secrets",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": env.secret_arns,
                }],
            },
        }]);
    }
    resources.insert(
        "ExecutionRole".into(),
        json!({ "Type": "AWS::IAM::Role", "Properties": execution }),
    );
    // The app itself may use the stage's bucket (release.yml uploads there).
    // Named, so parts know its ARN before the stack exists (TASK_ROLE_ARN).
    let bucket = names.bucket_prefix();
    resources.insert(
        "TaskRole".into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": names.task_role(),
                "AssumeRolePolicyDocument": assumed_by_tasks,
                "Policies": [{
                    "PolicyName": "use-stage-bucket",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
                            "Resource": [
                                { "Fn::Sub": format!("arn:${{AWS::Partition}}:s3:::{bucket}-${{AWS::AccountId}}") },
                                { "Fn::Sub": format!("arn:${{AWS::Partition}}:s3:::{bucket}-${{AWS::AccountId}}/*") },
                            ],
                        }],
                    },
                }],
            }
        }),
    );
}
