//! What the moto tests share: a running moto server (the one the test command
//! started, or one started here through .ci/moto.sh), accounts, stages and
//! jobs, a log that keeps its lines, and SDK clients to check AWS's side.

#![allow(dead_code)]

pub mod fault_proxy;
pub mod scripted;
mod stack_queries;

#[allow(unused_imports)] // not every test file reads AWS back
pub use stack_queries::*;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use stageline_aws::{AwsCredentials, CloudFormationDeployer, CredentialsLookup, DeployerOptions};
use stageline_engine::domain::*;
use stageline_engine::ids::*;
use stageline_engine::ports::{BoxFuture, DeployJob, LogSink, ResolvedVar};
use stageline_engine::PortError;

/// The port moto runs on when the test command did not start it.
const OWN_MOTO_PORT: u16 = 5055;

/// The repository root (for .ci/moto.sh and .venv-moto).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

/// The moto server's URL: `STAGELINE_MOTO_URL`, or a server started here.
pub fn moto_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("STAGELINE_MOTO_URL") {
            return url.trim_end_matches('/').to_owned();
        }
        let script = repo_root().join(".ci/moto.sh");
        for args in [
            vec!["install".to_owned()],
            vec!["start".to_owned(), OWN_MOTO_PORT.to_string()],
        ] {
            let status = Command::new("bash")
                .arg(&script)
                .args(&args)
                .status()
                .expect("run .ci/moto.sh");
            assert!(
                status.success(),
                ".ci/moto.sh {args:?} failed: the moto tests need moto"
            );
        }
        format!("http://127.0.0.1:{OWN_MOTO_PORT}")
    })
    .clone()
}

/// The cfn-lint installed by `.ci/moto.sh install`.
pub fn cfn_lint() -> PathBuf {
    let path = repo_root().join(".venv-moto/bin/cfn-lint");
    if !path.exists() {
        let status = Command::new("bash")
            .arg(repo_root().join(".ci/moto.sh"))
            .arg("install")
            .status()
            .unwrap();
        assert!(status.success(), ".ci/moto.sh install failed");
    }
    path
}

/// Test keys: moto accepts any.
pub const ACCESS_KEY: &str = "AKIASTAGELINETEST";
pub const SECRET_KEY: &str = "stageline-test-secret-key";

/// Keychain keys, as the app's lookup would return them.
pub struct FixedKeys;

impl CredentialsLookup for FixedKeys {
    fn credentials(
        &self,
        _account: &Account,
    ) -> BoxFuture<'static, Result<Option<AwsCredentials>, PortError>> {
        Box::pin(async {
            Ok(Some(AwsCredentials {
                access_key_id: ACCESS_KEY.into(),
                secret_access_key: SECRET_KEY.into(),
                session_token: None,
            }))
        })
    }
}

/// Options for tests: no retries, short polls, short waits.
pub fn test_options() -> DeployerOptions {
    DeployerOptions {
        retries: false,
        max_wait: Duration::from_secs(60),
        poll_interval: Duration::from_millis(100),
        profile_files: None,
    }
}

/// A deployer against `endpoint` with test options.
pub fn deployer() -> CloudFormationDeployer {
    CloudFormationDeployer::new(Arc::new(FixedKeys), test_options())
}

/// A keychain account whose requests go to `endpoint`.
pub fn account(endpoint: &str) -> Account {
    Account {
        id: AccountId(1),
        name: "test".into(),
        credentials: CredentialSource::Keychain {
            keychain_ref: "stageline-test".into(),
        },
        default_region: "us-east-1".into(),
        endpoint_url: Some(endpoint.to_owned()),
    }
}

/// A stack name no other test uses (tests share one moto and run in parallel).
pub fn unique_stack(prefix: &str) -> Stack {
    static NEXT: AtomicI64 = AtomicI64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Stack {
        id: StackId(n),
        name: format!("{prefix}-{n}-{:x}", nanos % 0xfffff),
        repository: "/tmp/repo".into(),
        branch: "main".into(),
        account_id: AccountId(1),
        poll_interval_secs: 60,
        created_at: 0,
        deleting: false,
        home_region: "us-east-1".into(),
        team: None,
    }
}

/// Settings of a stage `name` in `region`.
pub fn settings(name: &str, region: &str) -> StageSettings {
    StageSettings {
        name: name.into(),
        region: region.into(),
        database: Database::None,
        requires_approval: false,
        routing: Routing::LoadBalancer,
        caching: false,
        build_env: vec![],
        runtime_env: vec![],
        desired_count: 1,
        container_port: 8080,
        health_path: "/".into(),
        cpu_architecture: CpuArchitecture::X86_64,
        submodules_and_lfs: true,
        run_without_sandbox: false,
        verification: stageline_engine::Verification::legacy(),
        approval_expiry_hours: stageline_engine::verification::DEFAULT_APPROVAL_EXPIRY_HOURS,
        deploy_window: None,
        approval_policy: Default::default(),
    }
}

/// A stage of `stack`.
pub fn stage(stack: &Stack, settings: StageSettings) -> Stage {
    Stage {
        id: StageId(stack.id.0 * 100),
        stack_id: stack.id,
        position: 0,
        settings,
        lifecycle: StageLifecycle::Active,
    }
}

/// Release `id` of commit `sha` (40 hex characters).
pub fn release(stack: &Stack, id: i64, sha: &str) -> Release {
    Release {
        id: ReleaseId(id),
        stack_id: stack.id,
        commit: Commit {
            sha: sha.into(),
            message: "change".into(),
            author: "dev".into(),
            author_email: String::new(),
            time: 0,
        },
        included: vec![],
        forced: false,
        created_at: 0,
        artifact: None,
    }
}

/// A deploy job of `release` to `stage`, with the stage's plain runtime
/// variables and the given secret ones.
pub fn job(
    account: &Account,
    stack: &Stack,
    stage: &Stage,
    release: &Release,
    secrets: &[(&str, &str)],
) -> DeployJob {
    let mut runtime_env: Vec<ResolvedVar> = stage
        .settings
        .runtime_env
        .iter()
        .filter_map(|var| match &var.value {
            EnvValue::Plain { value } => Some(ResolvedVar {
                name: var.name.clone(),
                value: value.clone(),
                secret: false,
            }),
            EnvValue::Secret { .. } | EnvValue::TeamSecret { .. } => None,
        })
        .collect();
    for (name, value) in secrets {
        runtime_env.push(ResolvedVar {
            name: (*name).into(),
            value: (*value).into(),
            secret: true,
        });
    }
    DeployJob {
        run_id: RunId(release.id.0 * 10),
        account: account.clone(),
        stack: stack.clone(),
        stage: stage.clone(),
        release: release.clone(),
        artifact: Artifact {
            image: image_of(stack, release),
        },
        runtime_env,
        fence: None,
    }
}

/// The same deploy made by another run (a retry or a redeploy of the same
/// release): its change set is its own.
pub fn again(mut job: DeployJob) -> DeployJob {
    job.run_id.0 += 1;
    job
}

/// The image a test release deploys: the stack's repository in moto's
/// account, pinned to a digest made from the release's sha.
pub fn image_of(stack: &Stack, release: &Release) -> String {
    format!(
        "{MOTO_ACCOUNT}.dkr.ecr.{}.amazonaws.com/{}@sha256:{:0>64}",
        stack.home_region,
        stageline_aws::repository_name(&stack.name),
        release.commit.sha
    )
}

/// The account moto answers for every request.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// A secret runtime variable of the settings.
pub fn secret_var(name: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: EnvValue::Secret {
            keychain_ref: format!("ref-{name}"),
        },
    }
}

/// A plain runtime variable of the settings.
pub fn plain_var(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: EnvValue::Plain {
            value: value.into(),
        },
    }
}

/// A log that keeps its lines.
#[derive(Default)]
pub struct KeptLog {
    pub lines: Mutex<Vec<String>>,
}

impl LogSink for KeptLog {
    fn line(&self, text: &str) {
        self.lines.lock().unwrap().push(text.to_owned());
    }
}

impl KeptLog {
    pub fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

/// SDK clients to look at what moto holds, in `region`.
pub async fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .profile_files(no_profile_files())
        .load()
        .await
}

/// A 40-character sha from a short seed.
pub fn sha(seed: &str) -> String {
    format!("{seed:0<40}")
}

/// No shared AWS files: tests never read the developer's ~/.aws.
fn no_profile_files() -> aws_runtime::env_config::file::EnvConfigFiles {
    aws_runtime::env_config::file::EnvConfigFiles::builder()
        .include_default_config_file(false)
        .include_default_credentials_file(false)
        .with_contents(aws_runtime::env_config::file::EnvConfigFileKind::Config, "")
        .build()
}

/// Creates a metric alarm `name` in `region` (AWS starts it INSUFFICIENT_DATA,
/// moto OK).
pub async fn put_alarm(url: &str, region: &str, name: &str) {
    aws_sdk_cloudwatch::Client::new(&sdk_config(url, region).await)
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("Stageline/Test")
        .metric_name("Errors")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .send()
        .await
        .unwrap();
}

pub async fn set_alarm_state(
    url: &str,
    region: &str,
    name: &str,
    state: aws_sdk_cloudwatch::types::StateValue,
    reason: &str,
) {
    aws_sdk_cloudwatch::Client::new(&sdk_config(url, region).await)
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason(reason)
        .send()
        .await
        .unwrap();
}
