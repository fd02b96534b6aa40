//! What a user configures: accounts, stacks and stages with their settings.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ids::{AccountId, Millis, StackId, StageId};
use crate::verification::{default_approval_expiry_hours, Verification};

/// Where an account's AWS credentials come from. Nothing secret is held here:
/// keychain accounts only name their keychain entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum CredentialSource {
    /// Access key id, secret and optional session token in the OS keychain.
    #[serde(rename_all = "camelCase")]
    Keychain {
        /// The keychain entry's name (not a secret).
        keychain_ref: String,
    },
    /// A named profile of the standard AWS config files (`~/.aws/config`).
    #[serde(rename_all = "camelCase")]
    Profile {
        /// The profile name.
        profile: String,
    },
}

/// A set of AWS credentials and where to send requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub credentials: CredentialSource,
    /// The region new stages default to (R10).
    pub default_region: String,
    /// A custom endpoint (an AWS emulator such as moto); `None` means real AWS.
    pub endpoint_url: Option<String>,
}

/// One service: a repository branch deployed through an ordered line of stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Stack {
    pub id: StackId,
    pub name: String,
    /// A local path, or a `file://`, `https://` or `ssh://` URL.
    pub repository: String,
    pub branch: String,
    pub account_id: AccountId,
    /// How often a remote repository is fetched; local ones are watched.
    pub poll_interval_secs: u32,
    pub created_at: Millis,
    /// Its stages are being deleted; the stack goes when the last one is gone.
    pub deleting: bool,
    /// Where the stack's one image repository lives (R3a): its first stage's
    /// region when the stack was created. Parts' AWS calls default to it.
    #[serde(default)]
    pub home_region: String,
    /// R22: where the stack's state is shared with a team (`None`: a solo
    /// stack, run by this desktop alone).
    #[serde(default)]
    pub team: Option<TeamPlace>,
}

/// Where a team stack's shared state lives (R22): a prefix in an S3 bucket
/// of the stack's account. What a teammate enters to join the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TeamPlace {
    pub bucket: String,
    /// No leading or trailing slash, for example `stageline/shop`.
    pub prefix: String,
    /// The bucket's region.
    pub region: String,
}

/// `s3://bucket/prefix`, as the user reads a team place.
impl std::fmt::Display for TeamPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The database a stage's app gets (R15).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum Database {
    None,
    /// A new RDS Postgres instance created in the stage's stack.
    NewPostgres,
    /// An existing RDS instance, looked up by its identifier.
    #[serde(rename_all = "camelCase")]
    ExistingRds {
        identifier: String,
    },
}

/// How requests reach the stage's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum Routing {
    /// Amazon API Gateway: standard scale, the default.
    ApiGateway,
    /// Application Load Balancer: hyperscale.
    LoadBalancer,
}

/// The CPU architecture a stage's containers run on (the image must be built for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum CpuArchitecture {
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

/// The container port of stages made before the setting existed (they kept listening there).
pub const LEGACY_CONTAINER_PORT: u16 = 8080;

/// The health-check path of stages made before the setting existed.
pub const LEGACY_HEALTH_PATH: &str = "/";

fn legacy_container_port() -> u16 {
    LEGACY_CONTAINER_PORT
}

fn legacy_health_path() -> String {
    LEGACY_HEALTH_PATH.to_string()
}

/// The value of an environment variable. Secret values live in the keychain;
/// only the entry's name is kept here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum EnvValue {
    Plain {
        value: String,
    },
    #[serde(rename_all = "camelCase")]
    Secret {
        keychain_ref: String,
    },
    /// R22: a team stack's secret, kept in the account's Secrets Manager so
    /// every teammate's builds read it with their own IAM rights; only its
    /// ARN is kept here and in the team's S3.
    TeamSecret {
        arn: String,
    },
}

/// A build or runtime environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

impl EnvVar {
    /// Whether the value is secret (in the keychain or Secrets Manager).
    pub fn is_secret(&self) -> bool {
        !matches!(self.value, EnvValue::Plain { .. })
    }
}

/// Every setting of a stage (SPEC.md's table), as chosen in the new-stage dialog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StageSettings {
    pub name: String,
    pub region: String,
    pub database: Database,
    pub requires_approval: bool,
    pub routing: Routing,
    /// API Gateway response caching; only with API Gateway (R13).
    pub caching: bool,
    pub build_env: Vec<EnvVar>,
    pub runtime_env: Vec<EnvVar>,
    /// Desired running tasks; 0 stops the service (R12).
    pub desired_count: u32,
    /// The port the app's container listens on (`PORT` is set to it).
    #[serde(default = "legacy_container_port")]
    pub container_port: u16,
    /// The path the load balancer checks for a 2xx/3xx answer.
    #[serde(default = "legacy_health_path")]
    pub health_path: String,
    /// What the containers run on.
    #[serde(default)]
    pub cpu_architecture: CpuArchitecture,
    /// Checkouts include submodules and the content of Git LFS files (on
    /// unless turned off; stores written before the setting existed read as on).
    #[serde(default = "submodules_and_lfs_by_default")]
    pub submodules_and_lfs: bool,
    /// Build and release parts run without the sandbox, with all of the
    /// user's rights (for machines where user namespaces are off).
    #[serde(default)]
    pub run_without_sandbox: bool,
    /// How a deploy is checked before the release flows on (R18, R19).
    #[serde(default)]
    pub verification: Verification,
    /// How long a release waits at this stage's approval gate before the
    /// request expires (R20).
    #[serde(default = "default_approval_expiry_hours")]
    pub approval_expiry_hours: u32,
    /// R21: when the stage takes releases (`None`: at any time).
    #[serde(default)]
    pub deploy_window: Option<crate::window::DeployWindow>,
    /// R22: who may approve this stage's releases when its stack is shared
    /// with a team (anyone, by default).
    #[serde(default)]
    pub approval_policy: crate::team::ApprovalPolicy,
}

/// Stages check out submodules and LFS files unless told not to (as CodeBuild does).
fn submodules_and_lfs_by_default() -> bool {
    true
}

/// Where a stage is in its life. A stage being deleted has left the flow but
/// stays listed until AWS no longer runs it (R9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum StageLifecycle {
    Active,
    Deleting,
    DeleteFailed { message: String },
}

/// One deployment of a stack for one use (dev, canary, prod…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Stage {
    pub id: StageId,
    pub stack_id: StackId,
    /// 0-based place in the stack's order (R1). Set at creation, renumbered
    /// only when a stage is inserted before it or one before it is removed.
    pub position: u32,
    pub settings: StageSettings,
    pub lifecycle: StageLifecycle,
}

impl Stage {
    /// Whether the stage takes part in the flow.
    pub fn is_active(&self) -> bool {
        matches!(self.lifecycle, StageLifecycle::Active)
    }
}
