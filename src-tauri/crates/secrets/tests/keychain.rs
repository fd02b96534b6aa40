//! Against a real Secret Service: run inside the isolated gnome-keyring the
//! test command starts (TESTING.md), never the developer's own keychain.

use stageline_engine::ports::Secrets;
use stageline_secrets::{check_profile_readable, AwsKeys, Keychain, ProfileFiles};

fn isolated_keychain() -> Keychain {
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_default();
    assert!(
        !bus.is_empty(),
        "the keychain tests need the isolated Secret Service the test command starts (see README: the test command)"
    );
    // A service name of its own per test process keeps parallel runs apart.
    Keychain::new(format!("stageline-test-{}", std::process::id()))
}

#[tokio::test]
async fn a_secret_is_stored_read_and_deleted() {
    let keychain = isolated_keychain();
    keychain
        .put("stage/1/runtime/API_KEY", "s3cr3t-value")
        .await
        .unwrap();
    assert_eq!(
        keychain.get("stage/1/runtime/API_KEY").await.unwrap(),
        "s3cr3t-value"
    );
    assert_eq!(
        keychain.read("stage/1/runtime/API_KEY").await.unwrap(),
        "s3cr3t-value",
        "through the Secrets port"
    );
    keychain
        .put("stage/1/runtime/API_KEY", "rotated")
        .await
        .unwrap();
    assert_eq!(
        keychain.get("stage/1/runtime/API_KEY").await.unwrap(),
        "rotated"
    );
    keychain.delete("stage/1/runtime/API_KEY").await.unwrap();
    keychain.delete("stage/1/runtime/API_KEY").await.unwrap();
    let missing = keychain.get("stage/1/runtime/API_KEY").await.unwrap_err();
    assert!(
        missing.message.contains("no such entry"),
        "{}",
        missing.message
    );
}

#[tokio::test]
async fn aws_keys_round_trip_and_never_print() {
    let keychain = isolated_keychain();
    let keys = AwsKeys {
        access_key_id: "AKIDEXAMPLETEST00001".into(),
        secret_access_key: "wJalrXUtnFEMI-example-secret".into(),
        session_token: Some("token-example".into()),
    };
    keychain.put_aws_keys("account/7", &keys).await.unwrap();
    assert_eq!(keychain.aws_keys("account/7").await.unwrap(), keys);
    assert_eq!(format!("{keys:?}"), "AwsKeys(***)");
    keychain.delete("account/7").await.unwrap();
}

#[tokio::test]
async fn a_profile_is_readable_only_with_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let files = ProfileFiles {
        config: dir.path().join("config"),
        credentials: dir.path().join("credentials"),
    };
    std::fs::write(
        &files.config,
        "[default]\nregion = us-east-1\n\n[profile work]\nsso_session = corp\n\n[profile empty]\nregion = eu-west-1\n",
    )
    .unwrap();
    std::fs::write(
        &files.credentials,
        "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n",
    )
    .unwrap();
    assert!(check_profile_readable("default", &files).is_ok());
    assert!(check_profile_readable("work", &files).is_ok());
    assert!(check_profile_readable("empty", &files)
        .unwrap_err()
        .contains("has no credentials"));
    assert!(check_profile_readable("nope", &files)
        .unwrap_err()
        .contains("There is no profile \"nope\""));
}
