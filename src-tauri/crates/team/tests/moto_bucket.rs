//! The team bucket made when a stack is first shared: versioned, encrypted,
//! private; a bucket that is not one is refused when a teammate joins.

mod support;

use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption};
use stageline_team::bucket::{check_team_bucket, prepare_team_bucket};
use support::*;

#[tokio::test]
async fn a_team_bucket_is_versioned_encrypted_and_private() {
    let client = s3_client().await;
    let bucket = unique_bucket("made");
    prepare_team_bucket(&client, &bucket, REGION).await.unwrap();
    // Sharing a second stack in the same bucket takes it as it is.
    prepare_team_bucket(&client, &bucket, REGION).await.unwrap();

    let versioning = client
        .get_bucket_versioning()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    let block = client
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let encryption = client
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let rule = &encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm(),
        &ServerSideEncryption::Aes256
    );
    let location = client
        .get_bucket_location()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        location.location_constraint().map(|l| l.as_str()),
        Some(REGION)
    );
    check_team_bucket(&client, &bucket).await.unwrap();
}

#[tokio::test]
async fn joining_with_a_bucket_that_is_not_a_team_bucket_is_refused() {
    let client = s3_client().await;
    let plain = unique_bucket("plain");
    client
        .create_bucket()
        .bucket(&plain)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let refused = check_team_bucket(&client, &plain).await.unwrap_err();
    assert!(
        refused.to_string().contains("is not a team bucket"),
        "{refused}"
    );
    let missing = check_team_bucket(&client, "stageline-team-nobody-made-this")
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("Could not read the team bucket"),
        "{missing}"
    );
}
