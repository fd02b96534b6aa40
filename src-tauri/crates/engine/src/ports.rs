//! The ports through which the engine reaches the outside world. Adapters
//! (store, git, build, aws, secrets) implement them; tests use in-memory fakes.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::{
    Account, Approval, Artifact, BuildAccess, Commit, PartKind, Release, Run, Stack, Stage,
};
use crate::error::PortError;
use crate::events::PipelineEvent;
use crate::ids::{AccountId, ApprovalId, Millis, ReleaseId, RunId, StackId, StageId};
use crate::verification::{Freeze, StageService};

/// A boxed future, so ports can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Time and fresh ids.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the epoch.
    fn now(&self) -> Millis;
    /// A new id, unique across restarts (and safe as a JavaScript number).
    fn new_id(&self) -> i64;
    /// From now on every new id is above `floor` (the store's highest id, so
    /// ids never go back even if the wall clock does across a restart).
    fn ids_above(&self, floor: i64);
}

/// Where pipeline events go (the UI, in the app).
pub trait Events: Send + Sync {
    fn emit(&self, event: PipelineEvent);
    /// Whether this sink shows a dashboard: then the pipeline also sends it
    /// the changed stacks' views, coalesced ([`Events::dashboard`]).
    fn wants_dashboard(&self) -> bool {
        false
    }
    /// The stacks that changed since the last update, as the dashboard shows
    /// them, so a dashboard applies them instead of reloading everything.
    fn dashboard(&self, _update: crate::flow::DashboardUpdate) {}
}

/// Receives one part's output, line by line.
pub trait LogSink: Send + Sync {
    fn line(&self, text: &str);
}

/// A log nobody reads: for calls whose outcome is their result alone
/// (a stage's deletion, an approval's preview).
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscardedLog;

impl LogSink for DiscardedLog {
    fn line(&self, _text: &str) {}
}

/// Opens the log of one part of one run (stored with the run, streamed to the UI).
pub trait Logs: Send + Sync {
    fn open(&self, run: RunId, part: PartKind) -> Arc<dyn LogSink>;
    /// The part's log as written so far, at most its last `max_bytes`
    /// (from a line's start); `None` when there is none. Shared with the
    /// team when a team stack's part ends (R22).
    fn text(&self, run: RunId, part: PartKind, max_bytes: usize) -> Option<String>;
}

/// The end of `text` within `max_bytes`, from a line's start, saying how
/// much was left out (`skipped`: bytes before `text` already left out).
pub fn last_bytes(text: &str, max_bytes: usize, skipped: u64) -> String {
    if text.len() <= max_bytes && skipped == 0 {
        return text.to_string();
    }
    let mut start = text.len().saturating_sub(max_bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let start = text[start..].find('\n').map_or(start, |n| start + n + 1);
    format!(
        "[Stageline] The first {} bytes of this log are only on the desktop that ran the part.\n{}",
        skipped + start as u64,
        &text[start..]
    )
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
    /// The newest release that reached the stage through the flow or as its
    /// first deploy: a gate never asks for one at or below it (R17).
    pub reached: Option<ReleaseId>,
}

/// An effect the flow asked for whose result is not in yet (R17). It is
/// written before it starts and started again at every start until its
/// result arrives. A stage has at most one of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Request {
    /// A new first stage's first deploy: its branch head is to be read (R7).
    #[serde(rename_all = "camelCase")]
    FirstDeploy { stage_id: StageId },
    /// The stage's service is to run `count` tasks (R12).
    #[serde(rename_all = "camelCase")]
    Scale { stage_id: StageId, count: u32 },
}

impl Request {
    /// The stage the request is for.
    pub fn stage_id(&self) -> StageId {
        match self {
            Request::FirstDeploy { stage_id } | Request::Scale { stage_id, .. } => *stage_id,
        }
    }

    /// The kind's name, as stored (`firstDeploy`, `scale`).
    pub fn kind(&self) -> &'static str {
        match self {
            Request::FirstDeploy { .. } => "firstDeploy",
            Request::Scale { .. } => "scale",
        }
    }
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
    /// Requested effects whose result is not in yet.
    pub requests: Vec<Request>,
    /// Stacks and stages frozen (R21).
    pub freezes: Vec<Freeze>,
    /// What each stage learned about its service (URL, deployed image).
    pub services: Vec<(StageId, StageService)>,
    /// The highest id of any row (new ids are minted above it).
    pub highest_id: i64,
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
    /// Records a requested effect, in place of the stage's request of that kind.
    PutRequest(Request),
    /// The stage's request of that kind has its result.
    ClearRequest(Request),
    /// R21: a stack or stage is frozen (in place of its earlier freeze).
    PutFreeze(Freeze),
    /// R21: the stack (`stage_id: None`) or stage is no longer frozen.
    ClearFreeze {
        stack_id: StackId,
        stage_id: Option<StageId>,
    },
    /// What the stage knows of its service now.
    PutService {
        stage_id: StageId,
        service: StageService,
    },
}

/// A release that once deployed successfully at a stage, and the image it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedRelease {
    pub release: Release,
    /// `repo@sha256:…`; `None` for runs from before images were pinned.
    pub image: Option<String>,
}

/// Durable pipeline state.
pub trait Store: Send + Sync {
    /// What the engine resumes from.
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, PortError>>;
    /// Applies all `changes` atomically, in order.
    fn apply(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<(), PortError>>;
    /// An approval in any status (to tell a superseded one from an unknown one).
    fn approval(&self, id: ApprovalId) -> BoxFuture<'_, Result<Option<Approval>, PortError>>;
    /// The release, if a run of it once succeeded at the stage (what can be
    /// redeployed), with the image that run deployed.
    fn deployed_release(
        &self,
        stage: StageId,
        release: ReleaseId,
    ) -> BoxFuture<'_, Result<Option<DeployedRelease>, PortError>>;
    /// The stack's release of commit `sha`, if the stack has one (R22: a
    /// teammate's run names its release by commit).
    fn release_of_commit(
        &self,
        stack: StackId,
        sha: &str,
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
    /// Starts watching `stack`'s branch, replacing an earlier watch of it:
    /// new heads and warnings go to `inputs` as engine inputs. At start the
    /// head is compared with `last_seen_head` (the sha of the stack's newest
    /// release), so commits made while the app was closed are reported. The
    /// engine decides which stacks are watched ([`crate::flow::FlowState::watched_branches`]).
    fn watch(&self, stack: &Stack, last_seen_head: Option<String>, inputs: InputSink);
    /// Stops watching a stack's branch (nothing if it was not watched).
    fn unwatch(&self, stack: StackId);
}

/// Where an adapter's own findings (a branch's new head) reach the engine:
/// queued as inputs, in turn with everything else.
pub type InputSink = Arc<dyn Fn(crate::flow::Input) + Send + Sync>;

/// An environment variable with its value read from the keychain if secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedVar {
    pub name: String,
    pub value: String,
    /// Secret values are masked (`***`) in every log.
    pub secret: bool,
}

impl ResolvedVar {
    /// A variable shown as it is in logs.
    pub fn plain(name: &str, value: impl Into<String>) -> Self {
        ResolvedVar {
            name: name.to_string(),
            value: value.into(),
            secret: false,
        }
    }

    /// A variable whose value is masked in every log.
    pub fn secret(name: &str, value: impl Into<String>) -> Self {
        ResolvedVar {
            name: name.to_string(),
            value: value.into(),
            secret: true,
        }
    }
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
    /// Stageline's variables (R3a), which the user's cannot override. Secret
    /// ones (the stage's AWS credentials) are masked like the user's secrets.
    pub injected: Vec<ResolvedVar>,
    /// Run inside the sandbox (only the checkout writable, an empty home, its
    /// own processes); `false` when the stage is set to run without it.
    pub sandboxed: bool,
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

/// AWS credentials a stage's parts call AWS with (R3a): short-lived session
/// credentials where the account allows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PartCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// What they are, for the part's log ("session credentials valid until 14:05 UTC").
    pub description: String,
    /// Whose rights they carry: the stage's build role, or the account's.
    pub access: BuildAccess,
}

impl std::fmt::Debug for PartCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PartCredentials({}, ***)", self.access_key_id)
    }
}

/// What a stage's parts need from AWS (R3a), learned — and the stage's image
/// repositories and bucket made to exist (R3b) — before any part runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageFacts {
    /// The 12-digit account number (never a placeholder).
    pub account_id: String,
    /// The stack's home region: its image repository, and `AWS_REGION` of parts.
    pub home_region: String,
    /// The registry of the stack's image repository.
    pub ecr_endpoint: String,
    /// The stack's one image repository URL (no tag).
    pub ecr_image_url: String,
    /// The stage's regional registry and repository, when the stage is not in
    /// the home region.
    pub regional_ecr_endpoint: Option<String>,
    pub regional_ecr_image_url: Option<String>,
    pub cluster_arn: String,
    /// The stage's ECS service's real name.
    pub service_name: String,
    pub task_role_arn: String,
    pub s3_bucket: String,
    /// The account's custom endpoint (an AWS emulator), if any.
    pub endpoint_url: Option<String>,
    pub credentials: PartCredentials,
}

/// An image in one of the stack's repositories, pinned to its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The repository URL, `<registry>/<name>` (no tag).
    pub repository_url: String,
    /// `sha256:…`.
    pub digest: String,
}

impl ImageRef {
    /// `<repository url>@sha256:…`, what a task definition names.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.repository_url, self.digest)
    }

    /// The image a reference `repo@sha256:…` names (`None` for a tag reference).
    pub fn parse(reference: &str) -> Option<ImageRef> {
        let (repository_url, digest) = reference.split_once('@')?;
        Some(ImageRef {
            repository_url: repository_url.to_string(),
            digest: digest.to_string(),
        })
    }
}

/// Which repository an image tag is looked up in (R3b).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageScope {
    /// The stack's repository in its home region.
    Stack,
    /// The stage's regional repository (stages outside the home region only).
    Regional,
}

/// A deploy of a release to a stage.
#[derive(Debug, Clone)]
pub struct DeployJob {
    /// The run deploying (an approval's preview deploys nothing: its run is 0).
    /// The change set is named after it, so a restart finds this run's own
    /// change set, not an earlier attempt's of the same release (R17).
    pub run_id: RunId,
    pub account: Account,
    pub stack: Stack,
    pub stage: Stage,
    pub release: Release,
    /// The image to run, pinned to its digest (`repo@sha256:…`).
    pub artifact: Artifact,
    pub runtime_env: Vec<ResolvedVar>,
    /// R22: the stage lease a team stack's deploy runs under (`None`: solo).
    pub fence: Option<crate::team::Fence>,
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
    /// R3a/R3b: learns the account number and the parts' credentials, and
    /// makes the stage's image repositories, bucket and build role exist
    /// (idempotently; they are never part of the stage's CloudFormation
    /// stack). Called before every build and release, so existing stages get
    /// them too. The credentials are for a part of `release` (AWS names their
    /// session after the stack, stage and release).
    fn prepare_stage(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
        release: Release,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<StageFacts, PortError>>;
    /// The image tagged `tag` in the stack's (or the stage's regional)
    /// repository, pinned to its digest; `None` when no image has that tag.
    fn find_image(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
        scope: ImageScope,
        tag: String,
    ) -> BoxFuture<'static, Result<Option<ImageRef>, PortError>>;
    /// Points `tag` at `image` in the stack's repository (the image is there).
    fn tag_image(
        &self,
        account: Account,
        stack: Stack,
        image: ImageRef,
        tag: String,
    ) -> BoxFuture<'static, Result<(), PortError>>;
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
    /// The stage's service URL from its stack's outputs; `None` while the
    /// stack does not exist.
    fn service_url(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
    ) -> BoxFuture<'static, Result<Option<String>, PortError>>;
    /// R22: stores `value` as the Secrets Manager secret `name` in `region`
    /// (creating it, or adding a version when the value differs) and
    /// returns its ARN. A team stack's secret values live there.
    fn store_team_secret(
        &self,
        account: Account,
        region: String,
        name: String,
        value: String,
    ) -> BoxFuture<'static, Result<String, PortError>>;
    /// R22: the value of the Secrets Manager secret `arn`, read with this
    /// desktop's credentials for `account`.
    fn read_team_secret(
        &self,
        account: Account,
        arn: String,
    ) -> BoxFuture<'static, Result<String, PortError>>;
    /// R18: one `GET` of `path` on the stage's service at `url`: the HTTP
    /// status, or why no answer came (refused, timed out…).
    fn probe(
        &self,
        account: Account,
        url: String,
        path: String,
    ) -> BoxFuture<'static, Result<u16, PortError>>;
    /// R18: the named CloudWatch alarms in `region`, each with its state
    /// (`None`: no alarm has that name).
    fn alarms(
        &self,
        account: Account,
        region: String,
        names: Vec<String>,
    ) -> BoxFuture<'static, Result<Vec<AlarmReading>, PortError>>;
}

/// A CloudWatch alarm's state (R18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

/// One named alarm as CloudWatch reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmReading {
    pub name: String,
    /// `None`: no alarm has this name in the region.
    pub state: Option<AlarmState>,
    /// CloudWatch's reason for the state.
    pub reason: String,
}
