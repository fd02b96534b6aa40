//! What the UI sends. Secret values travel only inward, once, on their way
//! to the keychain; nothing the backend sends back ever holds one.

use serde::Deserialize;
use ts_rs::TS;

use stageline_engine::{AccountId, CpuArchitecture, Database, Routing, Verification};

/// How a new account signs in.
#[derive(Clone, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum CredentialsInput {
    /// Access keys, stored in the OS keychain.
    #[serde(rename_all = "camelCase")]
    Keys {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
    /// A named profile of ~/.aws/config; nothing is stored.
    Profile { profile: String },
}

impl std::fmt::Debug for CredentialsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialsInput::Keys { .. } => f.write_str("Keys(***)"),
            CredentialsInput::Profile { profile } => write!(f, "Profile({profile})"),
        }
    }
}

/// The create-account dialog.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct NewAccount {
    pub name: String,
    pub default_region: String,
    /// An AWS emulator's URL; empty or absent for real AWS.
    pub endpoint_url: Option<String>,
    pub credentials: CredentialsInput,
}

/// The create-stack dialog.
#[derive(Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct NewStack {
    pub name: String,
    pub repository: String,
    pub branch: String,
    pub account_id: AccountId,
    pub poll_interval_secs: u32,
    /// An access token for an `https://` repository (kept in the keychain).
    pub https_token: Option<String>,
}

impl std::fmt::Debug for NewStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewStack")
            .field("name", &self.name)
            .field("repository", &self.repository)
            .field("branch", &self.branch)
            .field("https_token", &self.https_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// An environment variable's value as edited.
#[derive(Clone, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum EnvValueInput {
    Plain {
        value: String,
    },
    /// A new secret value, to be stored in the keychain.
    NewSecret {
        value: String,
    },
    /// An existing keychain entry: this stage's own (kept) or another
    /// stage's (copied into a new entry of this stage).
    #[serde(rename_all = "camelCase")]
    KeepSecret {
        keychain_ref: String,
    },
    /// A team stack's secret in Secrets Manager (R22), kept by its ARN.
    KeepTeamSecret {
        arn: String,
    },
}

impl std::fmt::Debug for EnvValueInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvValueInput::Plain { value } => write!(f, "Plain({value})"),
            EnvValueInput::NewSecret { .. } => f.write_str("NewSecret(***)"),
            EnvValueInput::KeepSecret { keychain_ref } => write!(f, "KeepSecret({keychain_ref})"),
            EnvValueInput::KeepTeamSecret { arn } => write!(f, "KeepTeamSecret({arn})"),
        }
    }
}

/// One environment variable as edited.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct EnvVarInput {
    pub name: String,
    pub value: EnvValueInput,
}

/// Every setting of the new-stage dialog and stage details.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StageSettingsInput {
    pub name: String,
    pub region: String,
    pub database: Database,
    pub requires_approval: bool,
    pub routing: Routing,
    pub caching: bool,
    pub build_env: Vec<EnvVarInput>,
    pub runtime_env: Vec<EnvVarInput>,
    pub desired_count: u32,
    pub container_port: u16,
    pub health_path: String,
    pub cpu_architecture: CpuArchitecture,
    /// Checkouts include submodules and Git LFS content (on when not sent).
    #[serde(default = "on")]
    pub submodules_and_lfs: bool,
    /// Build and release parts run without the sandbox.
    #[serde(default)]
    pub run_without_sandbox: bool,
    /// How deploys are verified (R18); a new stage's default when not sent.
    #[serde(default)]
    #[ts(optional)]
    pub verification: Option<Verification>,
    /// When a pending approval expires (R20); 7 days when not sent.
    #[serde(default)]
    #[ts(optional)]
    pub approval_expiry_hours: Option<u32>,
    /// R21: when the stage takes releases (none: at any time).
    #[serde(default)]
    #[ts(optional)]
    pub deploy_window: Option<stageline_engine::DeployWindow>,
    /// R22: who may approve on a team stack; absent keeps anyone.
    #[serde(default)]
    #[ts(optional)]
    pub approval_policy: Option<stageline_engine::team::ApprovalPolicy>,
}

fn on() -> bool {
    true
}
