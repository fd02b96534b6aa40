//! Each stage's build role (issue 15): an IAM role whose policy allows only
//! what TinyStacks' buildspecs do, assumed for every build and release part
//! so that a part never holds the account's own rights. Made idempotently by
//! the stage bootstrap; an account that cannot make (or assume) it falls back
//! to session credentials of the account, and says so.

use std::time::{Duration, SystemTime};

use anyhow::anyhow;
use aws_sdk_iam::types::Tag as IamTag;
use serde_json::{json, Value};
use stageline_engine::domain::Release;
use stageline_engine::ports::LogSink;

use crate::bootstrap::IssuedCredentials;
use crate::clients::RegionClients;
use crate::errors::{error_code, SdkResultExt};
use crate::naming::{partition, StageNames};
use crate::stage_deploy::TAG_STACK;

/// The inline policy's name on the build role.
pub(crate) const POLICY_NAME: &str = "stageline-build";
/// The path every build role is created under.
pub(crate) const ROLE_PATH: &str = "/stageline/";
/// How long a part's role session lasts: longer than a part may run (30
/// minutes), and within the 1 hour AWS allows a chained role session.
pub(crate) const ROLE_SESSION: Duration = Duration::from_secs(60 * 60);
/// How long a role just created may take to become assumable (IAM is
/// eventually consistent: AssumeRole can refuse it for some seconds).
const NEW_ROLE_PATIENCE: Duration = Duration::from_secs(60);

/// The build role's permissions: what TinyStacks' `build.yml` and
/// `release.yml` do with `$ECR_IMAGE_URL`, `$REGIONAL_ECR_IMAGE_URL`,
/// `$CLUSTER_ARN`/`$SERVICE_NAME`, `$S3_BUCKET` and `$TASK_ROLE_ARN`.
pub(crate) fn permissions_policy(names: &StageNames) -> Value {
    let part = partition(names.region());
    let account = names.account_number();
    let mut repositories = vec![format!(
        "arn:{part}:ecr:{}:{account}:repository/{}",
        names.home_region(),
        names.repository()
    )];
    if names.is_regional() {
        repositories.push(format!(
            "arn:{part}:ecr:{}:{account}:repository/{}",
            names.region(),
            names.repository()
        ));
    }
    let bucket = format!("arn:{part}:s3:::{}", names.bucket());
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                // `docker login` (GetAuthorizationToken has no resource of its own).
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
                "Resource": repositories
            },
            {
                "Sid": "DescribeAndUpdateTheStagesService",
                "Effect": "Allow",
                "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
                "Resource": format!(
                    "arn:{part}:ecs:{}:{account}:service/{}/{}",
                    names.region(),
                    names.cluster(),
                    names.service()
                )
            },
            {
                // Task definitions have no resource-level permissions for these two.
                "Sid": "DescribeAndRegisterTaskDefinitions",
                "Effect": "Allow",
                "Action": ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"],
                "Resource": "*"
            },
            {
                "Sid": "ListTheStagesBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": bucket
            },
            {
                "Sid": "ReadAndWriteTheStagesBucket",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": format!("{bucket}/*")
            },
            {
                "Sid": "PassTheTaskRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": names.task_role_arn(),
                "Condition": {
                    "StringEquals": { "iam:PassedToService": "ecs-tasks.amazonaws.com" }
                }
            }
        ]
    })
}

/// Who may assume the build role: principals of the account itself (the
/// account's own IAM policies then decide which of them may).
pub(crate) fn trust_policy(names: &StageNames) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {
                "AWS": format!("arn:{}:iam::{}:root", partition(names.region()), names.account_number())
            },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The role session's name, so CloudTrail shows which stack, stage and
/// release acted: `<stack>.<stage>.r<release>-<sha>`, within AWS's 64
/// characters of `[\w+=,.@-]`.
pub(crate) fn session_name(stack: &str, stage: &str, release: &Release) -> String {
    const MAX: usize = 64;
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let sha = release.commit.short_sha();
    let suffix = clean(&format!(".r{}-{sha}", release.id.0));
    let room = MAX.saturating_sub(suffix.len());
    let mut head = clean(&format!("{stack}.{stage}"));
    head.truncate(room.max(2));
    let mut name = format!("{head}{suffix}");
    name.truncate(MAX);
    name
}

/// Why the build role could not be used: the account refused (a user or
/// role without IAM rights), so parts fall back to the account's session.
pub(crate) struct Refused(pub String);

/// Whether an AWS error code says "not allowed" (rather than "failed").
fn is_refusal(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "AccessDenied"
                | "AccessDeniedException"
                | "UnauthorizedOperation"
                | "UnauthorizedAccess"
                | "InvalidClientTokenId"
                | "LimitExceeded"
        )
    )
}

/// Makes the stage's build role exist with exactly its policy; the role's
/// ARN and whether it was created now.
pub(crate) async fn ensure(
    clients: &RegionClients,
    names: &StageNames,
) -> anyhow::Result<Result<(String, bool), Refused>> {
    let role = names.build_role();
    let iam = &clients.iam;
    let existing = iam.get_role().role_name(&role).send().await;
    let (arn, created) = match existing {
        Ok(found) => match found.role() {
            Some(found) => (found.arn().to_owned(), false),
            None => return Err(anyhow!("IAM answered GetRole {role} without a role")),
        },
        Err(error) if error_code(&error) == Some("NoSuchEntity") => {
            let made = iam
                .create_role()
                .role_name(&role)
                .path(ROLE_PATH)
                .description(format!(
                    "Stageline builds of stage {} of stack {}: push and pull its images, update its service, use its bucket",
                    names.stage(),
                    names.stack()
                ))
                .assume_role_policy_document(trust_policy(names).to_string())
                .tags(IamTag::builder().key(TAG_STACK).value(names.stack()).build()?)
                .send()
                .await;
            match made {
                Ok(made) => match made.role() {
                    Some(made) => (made.arn().to_owned(), true),
                    None => return Err(anyhow!("IAM answered CreateRole {role} without a role")),
                },
                Err(error) if is_refusal(error_code(&error)) => {
                    return Ok(Err(Refused(format!(
                        "the account may not create the IAM role {role} ({})",
                        error_code(&error).unwrap_or("refused")
                    ))))
                }
                Err(error) if error_code(&error) == Some("EntityAlreadyExists") => {
                    // Made meanwhile by another part of the same stage.
                    (names.build_role_arn(), false)
                }
                Err(error) => {
                    return Err(error).aws(|| format!("Could not create the build role {role}"))
                }
            }
        }
        Err(error) if is_refusal(error_code(&error)) => {
            return Ok(Err(Refused(format!(
                "the account may not read IAM roles ({})",
                error_code(&error).unwrap_or("refused")
            ))))
        }
        Err(error) => return Err(error).aws(|| format!("Could not look up the build role {role}")),
    };
    // Written every time: the policy stays exactly what this version grants.
    let put = iam
        .put_role_policy()
        .role_name(&role)
        .policy_name(POLICY_NAME)
        .policy_document(permissions_policy(names).to_string())
        .send()
        .await;
    match put {
        Ok(_) => Ok(Ok((arn, created))),
        Err(error) if is_refusal(error_code(&error)) => Ok(Err(Refused(format!(
            "the account may not set the build role's policy ({})",
            error_code(&error).unwrap_or("refused")
        )))),
        Err(error) => {
            Err(error).aws(|| format!("Could not set the policy of the build role {role}"))
        }
    }
}

/// Short-lived credentials of the build role for one part (STS AssumeRole).
pub(crate) async fn assume(
    clients: &RegionClients,
    role_arn: &str,
    session: &str,
    just_created: bool,
    log: &dyn LogSink,
) -> anyhow::Result<Result<IssuedCredentials, Refused>> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_secs(1);
    loop {
        let answer = clients
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session)
            .duration_seconds(ROLE_SESSION.as_secs() as i32)
            .send()
            .await;
        let error = match answer {
            Ok(answer) => {
                let credentials = answer
                    .credentials
                    .ok_or_else(|| anyhow!("AWS STS answered AssumeRole without credentials"))?;
                let expires = SystemTime::try_from(credentials.expiration).ok();
                let assumed = answer
                    .assumed_role_user
                    .map(|user| user.arn)
                    .unwrap_or_else(|| role_arn.to_owned());
                return Ok(Ok(IssuedCredentials::build_role(
                    credentials.access_key_id,
                    credentials.secret_access_key,
                    credentials.session_token,
                    assumed,
                    expires,
                )));
            }
            Err(error) => error,
        };
        let code = error_code(&error).map(str::to_owned);
        if !is_refusal(code.as_deref()) {
            return Err(error).aws(|| format!("Could not assume the build role {role_arn}"));
        }
        // A new role is refused until IAM has spread it; an old one is refused for good.
        if !just_created || started.elapsed() + pause > NEW_ROLE_PATIENCE {
            return Ok(Err(Refused(format!(
                "the account may not assume the build role {role_arn} ({})",
                code.as_deref().unwrap_or("refused")
            ))));
        }
        if pause == Duration::from_secs(1) {
            log.line("[Stageline] Waiting for AWS to make the new build role usable…");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(8));
    }
}

/// Removes the stage's build role with the stage (its policy first); one
/// already gone, or an account that may not, is fine.
pub(crate) async fn delete(clients: &RegionClients, names: &StageNames, log: &dyn LogSink) {
    let role = names.build_role();
    let iam = &clients.iam;
    let _ = iam
        .delete_role_policy()
        .role_name(&role)
        .policy_name(POLICY_NAME)
        .send()
        .await;
    match iam.delete_role().role_name(&role).send().await {
        Ok(_) => log.line(&format!("Deleted the build role {role}")),
        Err(error) if error_code(&error) == Some("NoSuchEntity") => {}
        Err(error) => log.line(&format!(
            "Could not delete the build role {role} ({}); delete it in the IAM console",
            error_code(&error).unwrap_or("unknown error")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stageline_engine::domain::Commit;
    use stageline_engine::ids::{ReleaseId, StackId};

    fn release(id: i64) -> Release {
        Release {
            id: ReleaseId(id),
            stack_id: StackId(1),
            commit: Commit {
                sha: "0123456789abcdef0123456789abcdef01234567".into(),
                message: "m".into(),
                author: "a".into(),
                author_email: String::new(),
                time: 0,
            },
            included: vec![],
            forced: false,
            created_at: 0,
            artifact: None,
        }
    }

    #[test]
    fn session_names_name_stack_stage_and_release_within_aws_limits() {
        assert_eq!(
            session_name("shop", "dev", &release(42)),
            "shop.dev.r42-0123456"
        );
        let long = session_name(&"s".repeat(32), &"p".repeat(32), &release(9_999_999_999));
        assert!(long.len() <= 64, "{long}");
        assert!(long.ends_with(".r9999999999-0123456"), "{long}");
        let odd = session_name("a b/c", "d:e", &release(1));
        assert!(odd
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)));
    }

    #[test]
    fn a_stage_in_its_home_region_may_push_only_to_the_stacks_repository() {
        let names = StageNames::new("shop", "dev", "us-east-1", "123456789012");
        let policy = permissions_policy(&names);
        assert_eq!(
            policy["Statement"][1]["Resource"],
            json!(["arn:aws:ecr:us-east-1:123456789012:repository/stageline/shop"])
        );
        assert_eq!(
            policy["Statement"][6]["Resource"],
            json!("arn:aws:iam::123456789012:role/shop-dev-us-east-1-task")
        );
    }
}
