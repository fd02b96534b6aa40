//! What a stage needs before its first part (R3a/R3b), against moto over
//! HTTP: its image repositories and bucket made (once, idempotently, outside
//! any CloudFormation stack), the account number and the parts'
//! credentials, images found by tag and re-tagged, and the bucket emptied
//! and removed with the stage.

mod support;

use std::sync::Arc;

use stageline_aws::CloudFormationDeployer;
use stageline_engine::ports::{Deployer, ImageScope};
use support::*;

async fn ecr(url: &str, region: &str) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&sdk_config(url, region).await)
}

async fn s3(url: &str, region: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config(url, region).await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn repository_exists(url: &str, region: &str, name: &str) -> bool {
    ecr(url, region)
        .await
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
        .is_ok()
}

/// Pushes a manifest as `tag` (what `docker push` does at the end); its digest.
async fn push(url: &str, region: &str, repository: &str, tag: &str, content: &str) -> String {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": format!("sha256:{content:0>64}") },
        "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": format!("sha256:{content:0>64}") }],
    });
    let pushed = ecr(url, region)
        .await
        .put_image()
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(manifest.to_string())
        .send()
        .await
        .unwrap();
    pushed
        .image()
        .and_then(|i| i.image_id())
        .and_then(|id| id.image_digest())
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_has_its_repositories_and_private_bucket_before_its_first_part() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("boot");
    let prod = stage(&stack, settings("prod", "us-west-2"));
    let log = Arc::new(KeptLog::default());
    let repository = stageline_aws::repository_name(&stack.name);
    assert!(!repository_exists(&url, "us-east-1", &repository).await);

    let facts = deployer
        .prepare_stage(
            account.clone(),
            stack.clone(),
            prod.clone(),
            release(&stack, 1, &sha("boot")),
            log.clone(),
        )
        .await
        .unwrap();

    assert_eq!(
        facts.account_id, MOTO_ACCOUNT,
        "the real number, never a placeholder"
    );
    assert_eq!(facts.home_region, "us-east-1");
    assert_eq!(
        facts.ecr_image_url,
        format!("{MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{repository}")
    );
    assert_eq!(
        facts.regional_ecr_image_url.as_deref(),
        Some(format!("{MOTO_ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/{repository}").as_str())
    );
    assert_eq!(facts.endpoint_url.as_deref(), Some(url.as_str()));
    assert!(
        repository_exists(&url, "us-east-1", &repository).await,
        "the stack's repository"
    );
    assert!(
        repository_exists(&url, "us-west-2", &repository).await,
        "prod's regional repository"
    );
    let bucket = s3(&url, "us-west-2")
        .await
        .get_public_access_block()
        .bucket(&facts.s3_bucket)
        .send()
        .await
        .unwrap();
    let block = bucket.public_access_block_configuration().unwrap();
    assert_eq!(
        block.block_public_acls(),
        Some(true),
        "the bucket is private"
    );
    assert_eq!(block.restrict_public_buckets(), Some(true));
    // Short-lived credentials of the stage's build role, never the account's own secret key.
    assert_ne!(facts.credentials.secret_access_key, SECRET_KEY);
    assert!(facts.credentials.session_token.is_some());
    assert!(
        facts
            .credentials
            .description
            .contains("the stage's build role"),
        "{}",
        facts.credentials.description
    );
    let text = log.text();
    assert!(text.contains("Created the image repository"), "{text}");
    assert!(!text.contains(SECRET_KEY));

    // A second time changes nothing and fails nothing.
    let again = deployer
        .prepare_stage(
            account,
            stack.clone(),
            prod,
            release(&stack, 1, &sha("boot")),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    assert_eq!(again.ecr_image_url, facts.ecr_image_url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_found_by_tag_pinned_to_their_digest_and_retagged() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("images");
    let dev = stage(&stack, settings("dev", "us-east-1"));
    let facts = deployer
        .prepare_stage(
            account.clone(),
            stack.clone(),
            dev.clone(),
            release(&stack, 1, &sha("prep")),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    let repository = stageline_aws::repository_name(&stack.name);
    let digest = push(&url, "us-east-1", &repository, "abc123", "1").await;

    let found = deployer
        .find_image(
            account.clone(),
            stack.clone(),
            dev.clone(),
            ImageScope::Stack,
            "abc123".into(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.digest, digest);
    assert_eq!(found.repository_url, facts.ecr_image_url);
    let missing = deployer
        .find_image(
            account.clone(),
            stack.clone(),
            dev.clone(),
            ImageScope::Stack,
            "dev".into(),
        )
        .await
        .unwrap();
    assert_eq!(missing, None, "a tag nobody pushed");
    let regional = deployer
        .find_image(
            account.clone(),
            stack.clone(),
            dev.clone(),
            ImageScope::Regional,
            "abc123".into(),
        )
        .await
        .unwrap();
    assert_eq!(
        regional, None,
        "a home-region stage has no regional repository"
    );

    deployer
        .tag_image(account.clone(), stack.clone(), found.clone(), "dev".into())
        .await
        .unwrap();
    let tagged = deployer
        .find_image(account, stack, dev, ImageScope::Stack, "dev".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tagged.digest, digest, ":dev names the same image");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_stage_empties_and_removes_its_bucket() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("bucket");
    let dev = stage(&stack, settings("dev", "eu-west-1"));
    let facts = deployer
        .prepare_stage(
            account.clone(),
            stack.clone(),
            dev.clone(),
            release(&stack, 1, &sha("prep")),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();
    let client = s3(&url, "eu-west-1").await;
    client
        .put_object()
        .bucket(&facts.s3_bucket)
        .key("release/notes.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let release = release(&stack, 1, &sha("t1"));
    deployer
        .deploy(
            job(&account, &stack, &dev, &release, &[]),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();

    deployer.delete_stage(account, stack, dev).await.unwrap();

    assert!(
        client
            .head_bucket()
            .bucket(&facts.s3_bucket)
            .send()
            .await
            .is_err(),
        "the bucket is gone with its objects"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_with_a_credential_process_makes_and_assumes_the_build_role() {
    let url = moto_url();
    let dir = tempfile::tempdir().unwrap();
    let helper = dir.path().join("credentials-helper");
    std::fs::write(
        &helper,
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"ASIAPROCESS\", \"SecretAccessKey\": \"process-secret\", \"SessionToken\": \"process-token\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile sso-like]\nregion = us-east-1\ncredential_process = {}\n",
            helper.display()
        ),
    )
    .unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "").unwrap();
    let mut options = test_options();
    options.profile_files = Some(stageline_aws::ProfileFilePaths {
        config,
        credentials,
    });
    let deployer = CloudFormationDeployer::new(Arc::new(FixedKeys), options);
    let mut account = account(&url);
    account.credentials = stageline_engine::domain::CredentialSource::Profile {
        profile: "sso-like".into(),
    };
    let stack = unique_stack("process");

    let facts = deployer
        .prepare_stage(
            account,
            stack.clone(),
            stage(&stack, settings("dev", "us-east-1")),
            release(&stack, 1, &sha("prep")),
            Arc::new(KeptLog::default()),
        )
        .await
        .unwrap();

    // The process's credentials made and assumed the role; parts get the role's.
    assert_eq!(
        facts.credentials.access,
        stageline_engine::domain::BuildAccess::BuildRole
    );
    assert_ne!(facts.credentials.access_key_id, "ASIAPROCESS");
    assert!(facts.credentials.session_token.is_some());
    assert!(facts
        .credentials
        .description
        .contains("the stage's build role"));
}
