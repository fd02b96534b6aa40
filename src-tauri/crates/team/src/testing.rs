//! Team stacks on the test command's moto: clients (one per desktop, as
//! each desktop has its own) and fresh team buckets.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;

use crate::bucket::prepare_team_bucket;
use crate::TeamPrefix;

/// The region test buckets are made in.
pub const REGION: &str = "eu-west-1";

/// The moto server's URL: `STAGELINE_MOTO_URL`, or a server started here on 5055.
pub fn moto_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("STAGELINE_MOTO_URL") {
            return url.trim_end_matches('/').to_owned();
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
        for args in [&["install"][..], &["start", "5055"][..]] {
            let status = Command::new("bash")
                .arg(root.join(".ci/moto.sh"))
                .args(args)
                .status()
                .expect("run .ci/moto.sh");
            assert!(
                status.success(),
                ".ci/moto.sh {args:?} failed: the team tests need moto"
            );
        }
        "http://127.0.0.1:5055".to_owned()
    })
    .clone()
}

/// SDK settings for one desktop on moto (its own connection pool).
pub async fn sdk_config() -> aws_config::SdkConfig {
    let keys = Credentials::from_keys("AKIASTAGELINETEST", "stageline-test-secret-key", None);
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(moto_url())
        .credentials_provider(keys)
        .load()
        .await
}

/// An S3 client for one desktop.
pub async fn s3_client() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config().await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A bucket name no other test uses (tests share one moto).
pub fn unique_bucket(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("stageline-team-{label}-{}-{n}", std::process::id())
}

/// A prepared team bucket and the prefix of one team stack in it.
pub async fn team_prefix(label: &str) -> TeamPrefix {
    let client = s3_client().await;
    let bucket = unique_bucket(label);
    prepare_team_bucket(&client, &bucket, REGION).await.unwrap();
    TeamPrefix::new(client, bucket, "stacks/shop")
}

/// The same prefix seen by another desktop (its own client).
pub async fn seen_by_another_desktop(prefix: &TeamPrefix) -> TeamPrefix {
    TeamPrefix::new(s3_client().await, prefix.bucket(), prefix.prefix())
}
