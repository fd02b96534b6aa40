//! Each stage's build role (issue 15), against moto over HTTP: made by the
//! stage bootstrap with exactly the statements TinyStacks' buildspecs need
//! (read back from IAM and compared whole: moto enforces no IAM policy, so
//! the test is what keeps the role narrow), assumed for the parts with a
//! session named after the stack, stage and release — the real AWS CLI
//! called with the parts' credentials names the assumed role, not the
//! account's user — and an account that may not create roles falls back to
//! session credentials of the account, marked as such.

mod support;

use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use stageline_aws::StageNames;
use stageline_engine::domain::BuildAccess;
use stageline_engine::ports::{Deployer, PartCredentials};
use support::fault_proxy::{cfn_error, FaultProxy, Reply};
use support::*;

const MOTO_ACCOUNT: &str = "123456789012";

async fn iam(url: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk_config(url, "us-east-1").await)
}

/// IAM answers policy documents URL-encoded (RFC 3986); moto may not.
fn policy_json(document: &str) -> Value {
    let mut bytes = Vec::with_capacity(document.len());
    let raw = document.as_bytes();
    let mut at = 0;
    while at < raw.len() {
        if raw[at] == b'%' && at + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[at + 1..at + 3]).unwrap();
            bytes.push(u8::from_str_radix(hex, 16).unwrap());
            at += 3;
        } else {
            bytes.push(raw[at]);
            at += 1;
        }
    }
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {document}"))
}

/// `aws sts get-caller-identity` with a part's credentials: the caller's ARN.
fn caller_arn(url: &str, credentials: &PartCredentials) -> String {
    let output = Command::new(repo_root().join(".venv-moto/bin/aws"))
        .args([
            "sts",
            "get-caller-identity",
            "--query",
            "Arn",
            "--output",
            "text",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_ENDPOINT_URL", url)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", &credentials.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key)
        .env(
            "AWS_SESSION_TOKEN",
            credentials.session_token.as_deref().unwrap_or_default(),
        )
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_build_role_exists_after_the_bootstrap_with_exactly_the_statements_builds_need() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("role");
    // A stage outside the stack's home region pushes to two repositories.
    let prod = stage(&stack, settings("prod", "us-west-2"));
    let release = release(&stack, 7, &sha("abcdef1"));
    let log = Arc::new(KeptLog::default());

    let facts = deployer
        .prepare_stage(
            account.clone(),
            stack.clone(),
            prod.clone(),
            release.clone(),
            log.clone(),
        )
        .await
        .unwrap();

    let names = StageNames::new(&stack.name, "prod", "us-west-2", MOTO_ACCOUNT)
        .with_home_region("us-east-1");
    let role = names.build_role();
    let iam = iam(&url).await;
    let found = iam.get_role().role_name(&role).send().await.unwrap();
    let found = found.role().unwrap();
    assert_eq!(found.path(), "/stageline/");
    assert_eq!(
        found.arn(),
        format!("arn:aws:iam::{MOTO_ACCOUNT}:role/stageline/{role}")
    );
    assert_eq!(
        policy_json(found.assume_role_policy_document().unwrap()),
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:aws:iam::{MOTO_ACCOUNT}:root") },
                "Action": "sts:AssumeRole"
            }]
        }),
        "assumable by the account's own principals only"
    );

    let inline = iam
        .list_role_policies()
        .role_name(&role)
        .send()
        .await
        .unwrap();
    assert_eq!(inline.policy_names(), ["stageline-build"]);
    let attached = iam
        .list_attached_role_policies()
        .role_name(&role)
        .send()
        .await
        .unwrap();
    assert!(
        attached.attached_policies().is_empty(),
        "no managed policy widens it"
    );
    let policy = iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("stageline-build")
        .send()
        .await
        .unwrap();
    let repository = stageline_aws::repository_name(&stack.name);
    let bucket = names.bucket();
    let service = format!("{}-prod", stack.name);
    assert_eq!(
        policy_json(policy.policy_document()),
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "RegistryLogin",
                    "Effect": "Allow",
                    "Action": ["ecr:GetAuthorizationToken"],
                    "Resource": "*"
                },
                {
                    "Sid": "PushAndPullTheStacksImages",
                    "Effect": "Allow",
                    "Action": [
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:CompleteLayerUpload",
                        "ecr:DescribeImages",
                        "ecr:DescribeRepositories",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:InitiateLayerUpload",
                        "ecr:ListImages",
                        "ecr:PutImage",
                        "ecr:UploadLayerPart"
                    ],
                    "Resource": [
                        format!("arn:aws:ecr:us-east-1:{MOTO_ACCOUNT}:repository/{repository}"),
                        format!("arn:aws:ecr:us-west-2:{MOTO_ACCOUNT}:repository/{repository}")
                    ]
                },
                {
                    "Sid": "DescribeAndUpdateTheStagesService",
                    "Effect": "Allow",
                    "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
                    "Resource": format!("arn:aws:ecs:us-west-2:{MOTO_ACCOUNT}:service/{service}/{service}")
                },
                {
                    "Sid": "DescribeAndRegisterTaskDefinitions",
                    "Effect": "Allow",
                    "Action": ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"],
                    "Resource": "*"
                },
                {
                    "Sid": "ListTheStagesBucket",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": format!("arn:aws:s3:::{bucket}")
                },
                {
                    "Sid": "ReadAndWriteTheStagesBucket",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": format!("arn:aws:s3:::{bucket}/*")
                },
                {
                    "Sid": "PassTheTaskRole",
                    "Effect": "Allow",
                    "Action": ["iam:PassRole"],
                    "Resource": facts.task_role_arn,
                    "Condition": {
                        "StringEquals": { "iam:PassedToService": "ecs-tasks.amazonaws.com" }
                    }
                }
            ]
        })
    );

    // The parts act as the role, in a session named after stack, stage and release.
    assert_eq!(facts.credentials.access, BuildAccess::BuildRole);
    assert_ne!(facts.credentials.secret_access_key, SECRET_KEY);
    assert_ne!(facts.credentials.access_key_id, ACCESS_KEY);
    let session = format!("{}.prod.r7-abcdef1", stack.name);
    assert_eq!(
        caller_arn(&url, &facts.credentials),
        format!("arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/{role}/{session}"),
        "the AWS CLI in a part names the build role, not the account's user"
    );
    let text = log.text();
    assert!(
        text.contains(&format!("Created the stage's build role {role}")),
        "{text}"
    );
    assert!(!text.contains(SECRET_KEY));

    // Again: nothing new, the same exact policy, a fresh session for the next release.
    let again = deployer
        .prepare_stage(
            account.clone(),
            stack.clone(),
            prod.clone(),
            support::release(&stack, 8, &sha("0777777")),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    assert!(
        caller_arn(&url, &again.credentials).ends_with(&format!("{}.prod.r8-0777777", stack.name))
    );

    // The role goes with the stage.
    deployer
        .delete_stage(account, stack.clone(), prod)
        .await
        .unwrap();
    let gone = iam.get_role().role_name(&role).send().await;
    assert!(gone.is_err(), "the build role outlived its stage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_cannot_create_roles_gets_session_credentials_marked_as_such() {
    let url = moto_url();
    let proxy = FaultProxy::start(&url, |request| {
        if request.action() == "CreateRole" {
            return Reply::Respond {
                status: 403,
                body: cfn_error(
                    "AccessDenied",
                    "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:CreateRole",
                ),
            };
        }
        Reply::Forward
    })
    .await;
    let account = account(&proxy.url);
    let stack = unique_stack("norole");
    let dev = stage(&stack, settings("dev", "us-east-1"));
    let log = Arc::new(KeptLog::default());

    let facts = deployer()
        .prepare_stage(
            account,
            stack.clone(),
            dev,
            release(&stack, 1, &sha("1")),
            log.clone(),
        )
        .await
        .unwrap();

    assert_eq!(facts.credentials.access, BuildAccess::AccountSession);
    assert!(
        facts
            .credentials
            .description
            .contains("session credentials from AWS STS"),
        "{}",
        facts.credentials.description
    );
    assert_ne!(facts.credentials.secret_access_key, SECRET_KEY);
    let text = log.text();
    assert!(
        text.contains("No build role for this stage: the account may not create the IAM role"),
        "{text}"
    );
    assert!(
        text.contains("session credentials of the account instead"),
        "{text}"
    );
    assert_eq!(proxy.count("AssumeRole"), 0);
    let names = StageNames::new(&stack.name, "dev", "us-east-1", MOTO_ACCOUNT);
    assert!(iam(&url)
        .await
        .get_role()
        .role_name(names.build_role())
        .send()
        .await
        .is_err());
}
