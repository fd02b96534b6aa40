//! The app's services on the real parts: a SQLite file, an isolated Secret
//! Service keychain (the test command's private GNOME Keyring), real Git.
//! Bad input gets an error naming the field and writes nothing.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use stageline_app::core::{Core, CoreConfig};
use stageline_app::inputs::*;
use stageline_app::services::{accounts, stacks, stages};
use stageline_engine::ports::Events;
use stageline_engine::{Database, ErrorCode, PipelineEvent, Routing};

struct NoEvents;

impl Events for NoEvents {
    fn emit(&self, _event: PipelineEvent) {}
}

/// The diagnostic log every core of this test process writes to (the log
/// is process-wide, as in the app).
fn diagnostic_log() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        stageline_app::diagnostics::start(dir.path()).unwrap();
        dir
    });
    stageline_app::diagnostics::log_path(dir.path())
}

/// The diagnostic log's bytes, with its rotated files.
fn diagnostic_bytes() -> Vec<u8> {
    let path = diagnostic_log();
    let mut bytes = std::fs::read(&path).unwrap();
    for n in 1..10 {
        let mut rotated = path.clone().into_os_string();
        rotated.push(format!(".{n}"));
        bytes.extend(std::fs::read(rotated).unwrap_or_default());
    }
    bytes
}

async fn core(dir: &Path) -> Arc<Core> {
    diagnostic_log();
    assert!(
        std::env::var("DBUS_SESSION_BUS_ADDRESS").is_ok(),
        "these tests need the private keyring the test command starts"
    );
    let mut config = CoreConfig::new(dir);
    config.keychain_service = format!("stageline-test-{}", std::process::id());
    Core::start(config, Arc::new(NoEvents)).await.unwrap()
}

fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["stageline.db", "stageline.db-wal", "stageline.db-shm"] {
        if let Ok(content) = std::fs::read(dir.join(name)) {
            bytes.extend(content);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn keys_account(name: &str, secret: &str) -> NewAccount {
    NewAccount {
        name: name.into(),
        default_region: "us-east-1".into(),
        endpoint_url: Some("http://127.0.0.1:5055".into()),
        credentials: CredentialsInput::Keys {
            access_key_id: "AKIDCORETEST".into(),
            secret_access_key: secret.into(),
            session_token: None,
        },
    }
}

fn git_repo(dir: &Path) -> String {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["commit", "-q", "--allow-empty", "-m", "first"],
    ] {
        let status = Command::new("git")
            .args(&args)
            .current_dir(&repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &repo)
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.com")
            .status()
            .unwrap();
        assert!(status.success());
    }
    repo.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_secret_appears_nowhere_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let secret = "wJalrXUtnFEMI-K7MDENG-unique-e2e-secret";
    let account = accounts::create(&core, keys_account("Sandbox", secret))
        .await
        .unwrap();
    accounts::check_readable(&core, account.id).await.unwrap();
    core.store.close().await;
    let bytes = database_bytes(dir.path());
    assert!(contains(&bytes, "Sandbox"), "the account itself is stored");
    assert!(
        !contains(&bytes, secret),
        "the secret key is not in the SQLite file"
    );
    assert!(!contains(&bytes, "AKIDCORETEST"), "nor the access key id");
    let log = diagnostic_bytes();
    assert!(
        contains(&log, "Stageline started"),
        "the diagnostic log is written"
    );
    assert!(
        !contains(&log, secret),
        "the secret key is not in the diagnostic log"
    );
    core.keychain
        .delete(&format!("account/{}", account.id))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_account_input_names_each_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let mut input = keys_account("", "");
    input.default_region = "mars-1".into();
    input.endpoint_url = Some("localhost:5000".into());
    let error = accounts::create(&core, input).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid);
    let fields: Vec<&str> = error.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        ["name", "defaultRegion", "endpointUrl", "secretAccessKey"]
    );
    assert!(accounts::list(&core).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_without_readable_credentials_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let empty = dir.path().join("no-aws");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(
        empty.join("config"),
        "[profile empty]\nregion = eu-west-1\n",
    )
    .unwrap();
    std::env::set_var("AWS_CONFIG_FILE", empty.join("config"));
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", empty.join("credentials"));
    for profile in ["empty", "missing"] {
        let input = NewAccount {
            name: "Work".into(),
            default_region: "eu-west-1".into(),
            endpoint_url: None,
            credentials: CredentialsInput::Profile {
                profile: profile.into(),
            },
        };
        let error = accounts::create(&core, input).await.unwrap_err();
        assert_eq!(error.fields[0].field, "profile", "{profile}");
    }
    assert!(accounts::list(&core).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_needs_a_git_repository_with_the_branch() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let account = accounts::create(&core, keys_account("Sandbox", "s3cret"))
        .await
        .unwrap();
    let repo = git_repo(dir.path());
    let not_a_repo = dir.path().join("plain");
    std::fs::create_dir_all(&not_a_repo).unwrap();
    let stack = |repository: String, branch: &str| NewStack {
        name: "shop".into(),
        repository,
        branch: branch.into(),
        account_id: account.id,
        poll_interval_secs: 30,
        https_token: None,
    };
    let error = stacks::create(&core, stack(not_a_repo.display().to_string(), "main"), true)
        .await
        .unwrap_err();
    assert_eq!(error.fields[0].field, "repository");
    let error = stacks::create(&core, stack(repo.clone(), "release"), true)
        .await
        .unwrap_err();
    assert_eq!(error.fields[0].field, "branch");
    let error = stacks::create(&core, stack(repo.clone(), "bad..name"), true)
        .await
        .unwrap_err();
    assert_eq!(error.fields[0].field, "branch");
    assert!(
        stacks::dashboard(&core).await.unwrap().is_empty(),
        "nothing was written"
    );
    let created = stacks::create(&core, stack(repo, "main"), true)
        .await
        .unwrap();
    let dashboard = stacks::dashboard(&core).await.unwrap();
    assert_eq!(dashboard[0].stack.id, created.id);
    assert_eq!(
        dashboard[0].stages[0].stage.settings.name, "dev",
        "a stack starts with dev"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stages_secret_variable_lives_in_the_keychain_only() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let account = accounts::create(&core, keys_account("Sandbox", "s3cret"))
        .await
        .unwrap();
    let repo = git_repo(dir.path());
    let stack = stacks::create(
        &core,
        NewStack {
            name: "shop".into(),
            repository: repo,
            branch: "main".into(),
            account_id: account.id,
            poll_interval_secs: 30,
            https_token: None,
        },
        true,
    )
    .await
    .unwrap();
    let dev = stacks::dashboard(&core).await.unwrap()[0].stages[0]
        .stage
        .id;
    let secret = "db-password-unique-9f8e7d";
    let settings = |name: &str, routing, caching| StageSettingsInput {
        name: name.into(),
        region: "us-west-2".into(),
        database: Database::None,
        requires_approval: true,
        routing,
        caching,
        build_env: vec![],
        runtime_env: vec![EnvVarInput {
            name: "DB_PASSWORD".into(),
            value: EnvValueInput::NewSecret {
                value: secret.into(),
            },
        }],
        desired_count: 1,
        container_port: 80,
        health_path: "/ping".into(),
        cpu_architecture: stageline_engine::CpuArchitecture::X86_64,
        submodules_and_lfs: true,
        run_without_sandbox: false,
        verification: Some(stageline_engine::Verification::legacy()),
        approval_expiry_hours: None,
        deploy_window: None,
        approval_policy: None,
    };
    // Refused settings leave nothing behind, not even in the keychain.
    let error = stages::create(
        &core,
        stack.id,
        Some(dev),
        settings("prod", Routing::LoadBalancer, true),
    )
    .await
    .unwrap_err();
    assert_eq!(error.fields[0].field, "caching");
    let prod = stages::create(
        &core,
        stack.id,
        Some(dev),
        settings("prod", Routing::ApiGateway, true),
    )
    .await
    .unwrap();
    let stageline_engine::EnvValue::Secret { keychain_ref } = &prod.settings.runtime_env[0].value
    else {
        panic!("a secret value")
    };
    assert_eq!(core.keychain.get(keychain_ref).await.unwrap(), secret);
    core.store.close().await;
    assert!(!contains(&database_bytes(dir.path()), secret));
    let log = diagnostic_bytes();
    assert!(
        contains(&log, "stage changed"),
        "the stage's creation is in the diagnostic log"
    );
    assert!(!contains(&log, secret), "its secret value is not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_account_may_not_take_an_existing_name() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let first = accounts::create(&core, keys_account("Sandbox", "s3cret"))
        .await
        .unwrap();
    let error = accounts::create(&core, keys_account(" sandbox ", "other"))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid);
    assert_eq!(error.fields[0].field, "name");
    assert!(error.fields[0].message.contains("already exists"));
    let kept = accounts::list(&core).await.unwrap();
    assert_eq!(kept.len(), 1, "nothing of the second account is kept");
    core.keychain
        .delete(&format!("account/{}", first.id))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_value_over_the_size_limit_is_refused_before_the_keychain() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let account = accounts::create(&core, keys_account("Sandbox", "s3cret"))
        .await
        .unwrap();
    let stack = stacks::create(
        &core,
        NewStack {
            name: "shop".into(),
            repository: git_repo(dir.path()),
            branch: "main".into(),
            account_id: account.id,
            poll_interval_secs: 30,
            https_token: None,
        },
        true,
    )
    .await
    .unwrap();
    let dev = stacks::dashboard(&core).await.unwrap()[0].stages[0]
        .stage
        .id;
    let huge = "k".repeat(stageline_engine::validation::MAX_ENV_VALUE_BYTES + 1);
    let input = StageSettingsInput {
        name: "prod".into(),
        region: "us-west-2".into(),
        database: Database::None,
        requires_approval: false,
        routing: Routing::ApiGateway,
        caching: false,
        build_env: vec![],
        runtime_env: vec![EnvVarInput {
            name: "CERTIFICATE".into(),
            value: EnvValueInput::NewSecret {
                value: huge.clone(),
            },
        }],
        desired_count: 1,
        container_port: 80,
        health_path: "/ping".into(),
        cpu_architecture: stageline_engine::CpuArchitecture::X86_64,
        submodules_and_lfs: true,
        run_without_sandbox: false,
        verification: Some(stageline_engine::Verification::legacy()),
        approval_expiry_hours: None,
        deploy_window: None,
        approval_policy: None,
    };
    let error = stages::create(&core, stack.id, Some(dev), input)
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid);
    assert_eq!(error.fields[0].field, "runtimeEnv.0.value");
    core.store.close().await;
    assert!(!contains(&database_bytes(dir.path()), &huge[..64]));
    core.keychain
        .delete(&format!("account/{}", account.id))
        .await
        .unwrap();
}
