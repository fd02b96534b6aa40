//! The ports through which the engine reaches the outside world. Adapters
//! (store, git, build, aws, secrets) implement them; tests use in-memory fakes.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Account, Approval, Artifact, Commit, PartKind, Release, Run, Stack, Stage};
use crate::error::PortError;
use crate::events::PipelineEvent;
use crate::ids::{AccountId, ApprovalId, Millis, ReleaseId, RunId, StackId, StageId};

/// A boxed future, so ports can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Time and fresh ids.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the epoch.
    fn now(&self) -> Millis;
    /// A new id, unique across restarts (and safe as a JavaScript number).
    fn new_id(&self) -> i64;
}

/// Where pipeline events go (the UI, in the app).
pub trait Events: Send + Sync {
    fn emit(&self, event: PipelineEvent);
}

/// Receives one part's output, line by line.
pub trait LogSink: Send + Sync {
    fn line(&self, text: &str);
}

/// Opens the log of one part of one run (stored with the run, streamed to the UI).
pub trait Logs: Send + Sync {
    fn open(&self, run: RunId, part: PartKind) -> Arc<dyn LogSink>;
}

/// Reads secret values from the keychain.
pub trait Secrets: Send + Sync {
    /// The secret stored under `keychain_ref`.
    fn read(&self, keychain_ref: &str) -> BoxFuture<'_, Result<String, PortError>>;
}

/// Per stage, what the flow remembers besides runs: the release it last
/// deployed successfully and the release waiting for it to be free (R16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageFlow {
    pub stage_id: StageId,
    pub deployed: Option<ReleaseId>,
    pub waiting: Option<ReleaseId>,
}

/// Everything the engine needs to resume after a start (R17). History (finished
/// runs, decided approvals) is not loaded: the engine's cost does not grow with it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub accounts: Vec<Account>,
    pub stacks: Vec<Stack>,
    /// Every stage, active or being deleted.
    pub stages: Vec<Stage>,
    pub flows: Vec<StageFlow>,
    /// Every release referenced by `flows`, `active_runs`, `latest_runs` or
    /// `pending_approvals`, and each stack's newest release.
    pub releases: Vec<Release>,
    /// Runs not finished.
    pub active_runs: Vec<Run>,
    /// Each stage's newest run (finished or not).
    pub latest_runs: Vec<Run>,
    pub pending_approvals: Vec<Approval>,
}

/// One write of a transition. A transition's writes are applied in one
/// database transaction, before any of its effects run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    PutAccount(Account),
    DeleteAccount(AccountId),
    PutStack(Stack),
    /// Deletes the stack and everything of it.
    DeleteStack(StackId),
    /// A new stage at `stage.position`; stages at or after it move one place on.
    InsertStage(Stage),
    /// New settings or lifecycle; the position is not changed.
    PutStage(Stage),
    /// The stage is gone; stages after it move one place back.
    RemoveStage(StageId),
    PutFlow(StageFlow),
    PutRelease(Release),
    PutRun(Run),
    PutApproval(Approval),
}

/// Durable pipeline state.
pub trait Store: Send + Sync {
    /// What the engine resumes from.
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, PortError>>;
    /// Applies all `changes` atomically, in order.
    fn apply(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<(), PortError>>;
    /// An approval in any status (to tell a superseded one from an unknown one).
    fn approval(&self, id: ApprovalId) -> BoxFuture<'_, Result<Option<Approval>, PortError>>;
    /// The release, if a run of it once succeeded at the stage (what can be redeployed).
    fn deployed_release(
        &self,
        stage: StageId,
        release: ReleaseId,
    ) -> BoxFuture<'_, Result<Option<Release>, PortError>>;
}

/// What a part's workspace holds besides the commit's own files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckoutOptions {
    /// The repository's submodules (recursively, at the commits it records)
    /// and the real content of its Git LFS files. Off: submodule folders stay
    /// empty and LFS files hold their pointers.
    pub submodules_and_lfs: bool,
}

/// How a part's workspace was made, for the part's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutReport {
    /// Files written into the workspace.
    pub files: u64,
    /// How long making the workspace took.
    pub elapsed: Duration,
    /// How it was made and what else it holds, one sentence each (the
    /// commit's checkout, submodules, LFS files, a read that was retried).
    pub details: Vec<String>,
}

/// The branch a stack follows.
pub trait Source: Send + Sync {
    /// The branch head now (for a new first stage, R7).
    fn head(&self, stack: &Stack) -> BoxFuture<'_, Result<Commit, PortError>>;
    /// Makes `dir` (absent or empty) a private, writable Git working tree of
    /// exactly `sha`: what a part writes there no other part sees.
    fn checkout(
        &self,
        stack: &Stack,
        sha: &str,
        dir: PathBuf,
        options: CheckoutOptions,
    ) -> BoxFuture<'_, Result<CheckoutReport, PortError>>;
}

/// An environment variable with its value read from the keychain if secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedVar {
    pub name: String,
    pub value: String,
    /// Secret values are masked (`***`) in every log.
    pub secret: bool,
}

impl std::fmt::Debug for ResolvedVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.secret {
            "***"
        } else {
            self.value.as_str()
        };
        write!(f, "{}={}", self.name, value)
    }
}

/// A build (once per commit) or a release (once per stage) to run.
#[derive(Debug, Clone)]
pub struct BuildJob {
    /// The checkout of the release's commit.
    pub workdir: PathBuf,
    /// `build.yml` or `release.yml`.
    pub part: PartKind,
    /// The user's variables (stack and stage build env).
    pub env: Vec<ResolvedVar>,
    /// Stageline's variables (R3), which the user's cannot override.
    pub injected: Vec<(String, String)>,
}

/// Runs the repository's buildspecs.
pub trait Builder: Send + Sync {
    /// Runs `build.yml` (part Build) or `release.yml` (part Release) in `job.workdir`.
    /// Fails with a message a user understands (which file, which phase, which exit code).
    fn run(
        &self,
        job: BuildJob,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<(), PortError>>;
}

/// What the deployer knows of a stage's place in AWS: the values injected
/// into release.yml (R3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageFacts {
    pub ecr_endpoint: String,
    /// The stage's regional image repository URL (no tag).
    pub ecr_image_url: String,
    pub cluster_arn: String,
    pub service_name: String,
    pub s3_bucket: String,
}

/// A deploy of a release to a stage.
#[derive(Debug, Clone)]
pub struct DeployJob {
    pub account: Account,
    pub stack: Stack,
    pub stage: Stage,
    pub release: Release,
    pub artifact: Artifact,
    pub runtime_env: Vec<ResolvedVar>,
}

/// How a deploy ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployOutcome {
    Deployed,
    /// The change set was empty: nothing to execute.
    NoChanges,
}

/// The real state of a stage's stack after a restart (R17), once any
/// operation in progress has settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployedState {
    /// The stack runs the job's release.
    Deployed,
    /// The job's release failed to deploy (the stack rolled back).
    Failed { message: String },
    /// The job's release was never deployed: deploying it is not a second deploy.
    NotDeployed,
}

/// Deploys stages into AWS.
pub trait Deployer: Send + Sync {
    /// The values release.yml gets for this stage (pure naming, no AWS call).
    fn stage_facts(&self, account: &Account, stack: &Stack, stage: &Stage) -> StageFacts;
    /// Creates or updates the stage's stack with the release.
    fn deploy(
        &self,
        job: DeployJob,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<DeployOutcome, PortError>>;
    /// Finds out whether an interrupted deploy of `job` happened.
    fn reconcile(
        &self,
        job: DeployJob,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<DeployedState, PortError>>;
    /// Sets the stage service's desired count without a redeploy (R12).
    fn scale(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
        count: u32,
    ) -> BoxFuture<'static, Result<(), PortError>>;
    /// Deletes the stage's stack and waits until it is gone (R9).
    fn delete_stage(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
    ) -> BoxFuture<'static, Result<(), PortError>>;
}
