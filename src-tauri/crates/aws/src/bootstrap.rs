//! R3a/R3b: what a stage needs in AWS before any of its parts runs. The
//! stack's image repository (home region), the stage's regional repository
//! (other regions) and the stage's bucket are made to exist idempotently, by
//! direct API calls and outside any CloudFormation stack, so no stage's stack
//! ever creates them a second time and they outlive every stage. Parts get
//! short-lived credentials of the stage's account.

use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_cloudformation::primitives::{DateTime, DateTimeFormat};
use aws_sdk_ecr::types::{ImageTagMutability, Tag as EcrTag};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration,
};
use stageline_engine::domain::BuildAccess;
use stageline_engine::ports::{LogSink, PartCredentials};

use crate::clients::RegionClients;
use crate::errors::{error_code, SdkResultExt};
use crate::stage_deploy::TAG_STACK;

/// Makes the ECR repository `name` exist; `true` when it was created now.
pub(crate) async fn ensure_repository(
    clients: &RegionClients,
    name: &str,
    stack_name: &str,
) -> anyhow::Result<bool> {
    let created = clients
        .ecr
        .create_repository()
        .repository_name(name)
        // Stage tags (:dev, :prod, :latest) move with every release.
        .image_tag_mutability(ImageTagMutability::Mutable)
        .tags(EcrTag::builder().key(TAG_STACK).value(stack_name).build()?)
        .send()
        .await;
    match created {
        Ok(_) => Ok(true),
        Err(error) if error_code(&error) == Some("RepositoryAlreadyExistsException") => Ok(false),
        Err(error) => Err(error).aws(|| format!("Could not create the image repository {name}")),
    }
}

/// Makes the stage's bucket exist in `region`, private; `true` when it was created now.
pub(crate) async fn ensure_bucket(
    clients: &RegionClients,
    bucket: &str,
    region: &str,
) -> anyhow::Result<bool> {
    // Asked first: in us-east-1, CreateBucket on a bucket the account owns
    // answers success, which would read as "created" every time.
    if clients.s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(false);
    }
    let mut create = clients.s3.create_bucket().bucket(bucket);
    // us-east-1 is the one region CreateBucket refuses a location constraint for.
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(error) if error_code(&error) == Some("BucketAlreadyOwnedByYou") => return Ok(false),
        Err(error) if error_code(&error) == Some("BucketAlreadyExists") => {
            // Taken: by this account (some emulators answer so) or by another.
            return match clients.s3.head_bucket().bucket(bucket).send().await {
                Ok(_) => Ok(false),
                Err(_) => Err(anyhow!(
                    "The bucket name {bucket} is taken by another AWS account; bucket names are \
                     global, so this stage cannot have its bucket"
                )),
            };
        }
        Err(error) => {
            return Err(error).aws(|| format!("Could not create the stage's bucket {bucket}"))
        }
    }
    clients
        .s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .aws(|| format!("Could not make the bucket {bucket} private"))?;
    Ok(true)
}

/// How long parts' session credentials are asked for, and how much of that
/// must be left to hand them to another part (a part may run 30 minutes).
pub(crate) const SESSION_DURATION: Duration = Duration::from_secs(2 * 60 * 60);
pub(crate) const SESSION_MARGIN: Duration = Duration::from_secs(40 * 60);

/// Credentials for parts, and until when they may be handed out.
#[derive(Clone)]
pub(crate) struct IssuedCredentials {
    pub credentials: PartCredentials,
    /// `None`: they do not expire (long-lived keys, when STS refused).
    pub expires: Option<SystemTime>,
}

impl IssuedCredentials {
    /// The build role's session credentials (`assumed`: the session's ARN).
    pub fn build_role(
        access_key_id: String,
        secret_access_key: String,
        session_token: String,
        assumed: String,
        expires: Option<SystemTime>,
    ) -> Self {
        IssuedCredentials {
            credentials: PartCredentials {
                access_key_id,
                secret_access_key,
                session_token: Some(session_token),
                description: format!("the stage's build role ({assumed}){}", until(expires)),
                access: BuildAccess::BuildRole,
            },
            expires,
        }
    }

    /// Whether a part that starts now can use them to its end.
    pub fn fresh(&self) -> bool {
        self.expires
            .is_none_or(|at| at > SystemTime::now() + SESSION_MARGIN)
    }
}

/// The credentials parts of the account get: the account's own when they
/// are already temporary (a session token: SSO, an assumed role, a
/// credential process), else session credentials from STS GetSessionToken,
/// so a build never holds the account's long-lived secret key. If STS
/// refuses, the long-lived keys are used (still masked) and the log says so.
pub(crate) async fn part_credentials(
    clients: &RegionClients,
    log: &dyn LogSink,
) -> anyhow::Result<IssuedCredentials> {
    let provider = clients
        .credentials
        .as_ref()
        .ok_or_else(|| anyhow!("The account has no credentials"))?;
    let own = provider
        .provide_credentials()
        .await
        .context("Could not read the account's AWS credentials")?;
    if let Some(token) = own.session_token() {
        return Ok(IssuedCredentials {
            credentials: PartCredentials {
                access_key_id: own.access_key_id().to_owned(),
                secret_access_key: own.secret_access_key().to_owned(),
                session_token: Some(token.to_owned()),
                description: format!("the account's temporary credentials{}", until(own.expiry())),
                access: BuildAccess::AccountSession,
            },
            expires: own.expiry(),
        });
    }
    let session = clients
        .sts
        .get_session_token()
        .duration_seconds(SESSION_DURATION.as_secs() as i32)
        .send()
        .await;
    match session.ok().and_then(|s| s.credentials) {
        Some(session) => {
            let expires = SystemTime::try_from(session.expiration).ok();
            Ok(IssuedCredentials {
                credentials: PartCredentials {
                    access_key_id: session.access_key_id,
                    secret_access_key: session.secret_access_key,
                    session_token: Some(session.session_token),
                    description: format!("session credentials from AWS STS{}", until(expires)),
                    access: BuildAccess::AccountSession,
                },
                expires,
            })
        }
        None => {
            log.line(
                "[Stageline] AWS STS refused session credentials for this account; parts use its \
                 access keys (masked in every log)",
            );
            Ok(IssuedCredentials {
                credentials: PartCredentials {
                    access_key_id: own.access_key_id().to_owned(),
                    secret_access_key: own.secret_access_key().to_owned(),
                    session_token: None,
                    description: "the account's access keys".to_owned(),
                    access: BuildAccess::AccountSession,
                },
                expires: None,
            })
        }
    }
}

/// ", valid until 2026-12-01T14:05:00Z" (or nothing when unknown).
fn until(expiry: Option<SystemTime>) -> String {
    expiry
        .and_then(|at| DateTime::from(at).fmt(DateTimeFormat::DateTime).ok())
        .map(|text| format!(", valid until {text}"))
        .unwrap_or_default()
}

/// Deletes every object (and object version) of the stage's bucket; a
/// bucket that does not exist is empty.
pub(crate) async fn empty_bucket(clients: &RegionClients, bucket: &str) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    loop {
        let listed = clients
            .s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await;
        let page = match listed {
            Ok(page) => page,
            Err(error) if error_code(&error) == Some("NoSuchBucket") => return Ok(()),
            Err(error) => {
                return Err(error).aws(|| format!("Could not list the objects of {bucket}"))
            }
        };
        let mut objects: Vec<ObjectIdentifier> = Vec::new();
        for version in page.versions() {
            if let Some(key) = version.key() {
                objects.push(
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.version_id().map(str::to_owned))
                        .build()?,
                );
            }
        }
        for marker in page.delete_markers() {
            if let Some(key) = marker.key() {
                objects.push(
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(marker.version_id().map(str::to_owned))
                        .build()?,
                );
            }
        }
        if objects.is_empty() {
            return Ok(());
        }
        clients
            .s3
            .delete_objects()
            .bucket(bucket)
            .delete(
                Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()?,
            )
            .send()
            .await
            .aws(|| format!("Could not delete the objects of {bucket}"))?;
    }
}

/// Deletes the stage's bucket (emptied first); one already gone is fine.
pub(crate) async fn delete_bucket(clients: &RegionClients, bucket: &str) -> anyhow::Result<()> {
    empty_bucket(clients, bucket).await?;
    match clients.s3.delete_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(error) if error_code(&error) == Some("NoSuchBucket") => Ok(()),
        Err(error) => Err(error).aws(|| format!("Could not delete the stage's bucket {bucket}")),
    }
}
