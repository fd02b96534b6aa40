//! The team's bucket: made once, when a stack is first shared, with what a
//! bucket holding a pipeline's state needs — versioned (every lease and
//! decision ever written can be read back), encrypted, never public.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use aws_sdk_s3::Client;

use crate::objects::{describe, ObjectError};

/// Creates `bucket` in `region` (or takes it if this account already owns
/// it) and makes it versioned, encrypted and private.
pub async fn prepare_team_bucket(
    client: &Client,
    bucket: &str,
    region: &str,
) -> Result<(), ObjectError> {
    let mut create = client.create_bucket().bucket(bucket);
    // us-east-1 is the one region that takes no location constraint.
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    if let Err(error) = create.send().await {
        if error.code() != Some("BucketAlreadyOwnedByYou") {
            return Err(refusal(bucket, "create", &error));
        }
    }
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| refusal(bucket, "turn on versioning of", &e))?;
    client
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| refusal(bucket, "block public access to", &e))?;
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .expect("the algorithm is set");
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(by_default)
        .build();
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .expect("one rule is set");
    client
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(encryption)
        .send()
        .await
        .map_err(|e| refusal(bucket, "encrypt", &e))?;
    Ok(())
}

/// Checks a bucket a teammate names to join: it must exist, be reachable with
/// their credentials, and be versioned (a team bucket always is).
pub async fn check_team_bucket(client: &Client, bucket: &str) -> Result<(), ObjectError> {
    let versioning = client
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| refusal(bucket, "read", &e))?;
    if versioning.status() != Some(&BucketVersioningStatus::Enabled) {
        return Err(ObjectError(format!(
            "The bucket {bucket} is not a team bucket (its versioning is off). Ask the teammate who shared the stack for its bucket name."
        )));
    }
    Ok(())
}

fn refusal<E: ProvideErrorMetadata + std::error::Error + 'static>(
    bucket: &str,
    what: &str,
    error: &SdkError<E>,
) -> ObjectError {
    ObjectError(format!(
        "Could not {what} the team bucket {bucket}: {}",
        describe(error)
    ))
}
