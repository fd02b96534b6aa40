//! The things a user configures (accounts, stacks, stages) and the things the
//! pipeline records (releases, runs, approvals).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ids::{AccountId, ApprovalId, Millis, ReleaseId, RunId, StackId, StageId};
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

/// A commit as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Commit {
    pub sha: String,
    /// The first line of the commit message.
    pub message: String,
    pub author: String,
    /// The author's e-mail (R22: no self-approval); empty in releases made
    /// before it was kept.
    #[serde(default)]
    pub author_email: String,
    pub time: Millis,
}

impl Commit {
    /// The first 7 characters of the sha, as shown in the dashboard.
    pub fn short_sha(&self) -> &str {
        &self.sha[..self.sha.len().min(7)]
    }
}

/// What the build hands to every stage's release and deploy (the image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Artifact {
    /// The image the build pushed, pinned to its digest:
    /// `<stack repository url>@sha256:…` (R3b). Releases built before
    /// digests were recorded hold `<repository url>:<commit sha>`.
    pub image: String,
}

impl Artifact {
    /// The image's digest (`sha256:…`), when the reference is pinned to one.
    pub fn digest(&self) -> Option<&str> {
        image_digest(&self.image)
    }
}

/// The digest part of an image reference `repo@sha256:…`.
pub fn image_digest(reference: &str) -> Option<&str> {
    reference.split_once('@').map(|(_, digest)| digest)
}

/// One commit of the branch moving through the stages (R2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Release {
    pub id: ReleaseId,
    pub stack_id: StackId,
    pub commit: Commit,
    /// Older commits pushed together with `commit` (one release for the head).
    pub included: Vec<Commit>,
    /// The head was not a descendant of the previous one (a force-push).
    pub forced: bool,
    pub created_at: Millis,
    /// Set once the commit's build succeeded; reused by every later stage (R3).
    pub artifact: Option<Artifact>,
}

/// The parts of a run (R3; verify is R18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum PartKind {
    Build,
    Release,
    Deploy,
    /// R18: the deploy's health check, smoke tests and soak time.
    Verify,
}

impl PartKind {
    /// The parts in the order they run.
    pub const ALL: [PartKind; 4] = [
        PartKind::Build,
        PartKind::Release,
        PartKind::Deploy,
        PartKind::Verify,
    ];

    /// A word for logs and file names.
    pub fn as_str(self) -> &'static str {
        match self {
            PartKind::Build => "build",
            PartKind::Release => "release",
            PartKind::Deploy => "deploy",
            PartKind::Verify => "verify",
        }
    }
}

/// Where one part of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum PartStatus {
    Pending,
    Running,
    Succeeded,
    /// The build of this commit had already succeeded in an earlier run.
    Reused,
    Failed,
    Cancelled,
    /// The part does not apply to this run (a stage that verifies nothing,
    /// a rollback, a run from before the part existed).
    Skipped,
}

/// One part of a run, with its own log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Part {
    pub kind: PartKind,
    pub status: PartStatus,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// A short outcome for the user ("no changes", the failing resource…).
    pub message: Option<String>,
    /// A deploy that found nothing to change (its change set was empty): the
    /// stage already ran this. The UI says so from this, never from `message`.
    #[serde(default)]
    pub unchanged: bool,
}

impl Part {
    /// A part that has not started.
    pub fn pending(kind: PartKind) -> Self {
        Part {
            kind,
            status: PartStatus::Pending,
            started_at: None,
            finished_at: None,
            message: None,
            unchanged: false,
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// The release waited at the busy stage and a newer one took its place
    /// (R16): it never ran there. Kept so the stage's history shows it.
    Superseded,
}

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Running)
    }
}

/// Where a decision came from (R5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum DecisionSource {
    Dashboard,
    Notification,
    /// The `stageline` command line (a terminal, an ssh session, a script).
    Cli,
    /// The stage was switched to automatic while the release waited (R6).
    SwitchedToAutomatic,
    /// Nobody decided in time (R20).
    Expired,
    /// On a teammate's desktop (R22): `by` is their AWS principal.
    Teammate,
}

/// Who decided what, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Decision {
    pub by: String,
    pub at: Millis,
    pub comment: String,
    pub via: DecisionSource,
}

/// Why a run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum RunTrigger {
    /// The release flowed here from the previous stage (or the commit, for the first).
    Flow,
    /// The stage was just created and takes its predecessor's release (R7).
    NewStage,
    /// A user retried a failed run.
    #[serde(rename_all = "camelCase")]
    Retry {
        decision: Decision,
        /// Whether the release flows on when it succeeds: as the retried run
        /// would have (a new stage's first run and a redeploy do not, R7, R17).
        #[serde(default = "flows_on_by_default")]
        flows_on: bool,
    },
    /// A user redeployed an earlier successful release (rollback).
    Redeploy { decision: Decision },
    /// R19: verification of `failed_run` failed and the stage redeployed the
    /// image of its previous successful release by itself.
    #[serde(rename_all = "camelCase")]
    Rollback { failed_run: RunId, reason: String },
}

/// Retries recorded before `flows_on` existed flowed on.
fn flows_on_by_default() -> bool {
    true
}

/// Whose AWS rights a run's build and release parts had (issue 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum BuildAccess {
    /// The stage's build role: only what TinyStacks' buildspecs need.
    BuildRole,
    /// The account could not create or assume the build role: the parts had
    /// session credentials of the account, with all of its rights.
    AccountSession,
}

/// One release in one stage: build → release → deploy (R3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Run {
    pub id: RunId,
    pub stack_id: StackId,
    pub stage_id: StageId,
    pub release_id: ReleaseId,
    pub status: RunStatus,
    pub trigger: RunTrigger,
    /// Build, release, deploy and verify, in that order.
    #[serde(deserialize_with = "every_part")]
    pub parts: Vec<Part>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
    /// The image this run deploys, pinned to its digest (`repo@sha256:…`):
    /// known once its release part has run (R3b); a redeploy runs exactly it.
    #[serde(default)]
    pub image: Option<String>,
    /// Whose AWS rights the run's release part (and build, when it ran one)
    /// had; `None` until it ran, and for redeploys and older runs.
    #[serde(default)]
    pub build_access: Option<BuildAccess>,
    /// R22: the team's name of the run when it was made on a teammate's
    /// desktop and followed here (`team::run_key`); `None` for runs made here.
    #[serde(default)]
    pub followed_from: Option<String>,
}

/// Runs written before a part existed (verify) read it as skipped, so
/// every run has every part.
fn every_part<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Part>, D::Error> {
    let mut parts = Vec::<Part>::deserialize(deserializer)?;
    for kind in PartKind::ALL {
        if !parts.iter().any(|p| p.kind == kind) {
            let mut part = Part::pending(kind);
            part.status = PartStatus::Skipped;
            parts.push(part);
        }
    }
    parts.sort_by_key(|p| p.kind);
    Ok(parts)
}

impl Run {
    /// The part of the given kind.
    pub fn part(&self, kind: PartKind) -> &Part {
        self.parts
            .iter()
            .find(|p| p.kind == kind)
            .expect("every run has every part")
    }

    /// The part of the given kind, to change it.
    pub fn part_mut(&mut self, kind: PartKind) -> &mut Part {
        self.parts
            .iter_mut()
            .find(|p| p.kind == kind)
            .expect("every run has every part")
    }

    /// The part running now, if any.
    pub fn running_part(&self) -> Option<PartKind> {
        self.parts
            .iter()
            .find(|p| p.status == PartStatus::Running)
            .map(|p| p.kind)
    }
}

/// Where an approval request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    /// A newer release arrived at the gate (R16).
    Superseded,
    /// The stage was deleted.
    Cancelled,
    /// Nobody decided before it expired (R20).
    Expired,
}

/// A release held at a stage that requires manual approval (R5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Approval {
    pub id: ApprovalId,
    pub stack_id: StackId,
    pub stage_id: StageId,
    pub release_id: ReleaseId,
    pub status: ApprovalStatus,
    pub requested_at: Millis,
    pub decision: Option<Decision>,
    /// When it expires if nobody decides (R20); `None` for requests made
    /// before approvals expired.
    #[serde(default)]
    pub expires_at: Option<Millis>,
}
