//! The flow rules (R2–R9, R16, R17) as a pure state machine: an `Input` and
//! the current `FlowState` give a `Transition` — the writes to persist, the
//! events to emit and the effects to run — and nothing else happens.

mod commands;
mod freeze;
mod rules;
mod runs;
mod state;
mod team;
mod tx;
mod verify;
mod view;

pub use rules::{apply_input, reconcile_delay};
pub use state::FlowState;
pub use view::{DashboardUpdate, PendingApproval, StackView, StageView};

use std::time::Duration;

use crate::domain::{
    Account, Commit, Decision, PartKind, Release, Run, Stack, Stage, StageSettings,
};
use crate::events::PipelineEvent;
use crate::ids::{AccountId, ApprovalId, ReleaseId, RunId, StackId, StageId};
use crate::ports::{Change, DeployOutcome, DeployedState};

/// Something that happened: a user's command, or an effect's result.
#[derive(Debug, Clone)]
pub enum Input {
    /// The engine (re)started: resume what was in flight (R17).
    Started,
    PutAccount(Account),
    DeleteAccount(AccountId),
    /// A new stack with its `dev` stage (in `first_region`).
    CreateStack {
        stack: Stack,
        first_region: String,
        /// Whether its branch is watched at once (R2). `false`: not until
        /// [`Input::WatchBranch`], so its stages can be set up before the
        /// head flows in (as the demo does); a restart watches it anyway.
        watch: bool,
    },
    /// Starts watching the branch of a stack created with `watch: false`.
    WatchBranch {
        stack_id: StackId,
    },
    /// Deletes every stage's AWS stack, then the stack; `confirmation` must be `delete`.
    DeleteStack {
        stack_id: StackId,
        confirmation: String,
    },
    /// R1/R7: a new stage right after `after` (`None`: first).
    CreateStage {
        stack_id: StackId,
        after: Option<StageId>,
        settings: StageSettings,
    },
    /// New settings (R6 when approval is switched off, R12 for the count).
    UpdateStage {
        stage_id: StageId,
        settings: StageSettings,
    },
    /// R9: `confirmation` must be the word `delete`.
    DeleteStage {
        stage_id: StageId,
        confirmation: String,
    },
    /// R9 on a team stack (R22): this desktop holds the stage's lease, so
    /// no teammate's desktop runs a part of it while its AWS stack is torn
    /// down (the team's definition loses the stage once this is accepted).
    DeleteTeamStage {
        stage_id: StageId,
        confirmation: String,
    },
    /// Retry deleting a stage whose AWS stack failed to delete.
    RetryDeleteStage(StageId),
    /// R2: the branch has a new head.
    CommitDetected {
        stack_id: StackId,
        head: Commit,
        included: Vec<Commit>,
        forced: bool,
    },
    /// R12: the stage's service is to run `count` tasks (0 stops it), without
    /// a redeploy. Only the desired count changes.
    Scale {
        stage_id: StageId,
        count: u32,
    },
    /// R22: a teammate's team stack opened here with its shared stages.
    JoinStack {
        stack: Stack,
        stages: Vec<StageSettings>,
    },
    /// R22: the stack is shared with a team at `team` (`None`: it is solo
    /// again; its shared state stays in S3 for the teammates).
    SetTeam {
        stack_id: StackId,
        team: Option<crate::domain::TeamPlace>,
        /// Stages whose secret values moved to Secrets Manager on sharing:
        /// their settings with the secrets' ARNs, applied in the same step.
        moved_secrets: Vec<(StageId, crate::domain::StageSettings)>,
    },
    /// R22: the team's shared definition of a team stack changed (a
    /// teammate added, changed or deleted a stage): this desktop's stages
    /// follow it, by name (`stages` in flow order).
    FollowTeamDefinition {
        stack_id: StackId,
        stages: Vec<crate::domain::StageSettings>,
    },
    /// R22: a teammate's desktop runs `part` of the run (`waiting`: this
    /// desktop waits for its result), or no longer does.
    TeammateRunsPart {
        run_id: RunId,
        part: PartKind,
        waiting: bool,
    },
    /// R22: a run a teammate's desktop made (a redeploy, rollback or retry
    /// asked for there) succeeded at the stage named in `summary`: this
    /// desktop's stage runs `release` now too, if that run is newer than
    /// everything this desktop ran there.
    FollowTeammateRun {
        stack_id: StackId,
        release: Release,
        summary: crate::team::SharedRunSummary,
    },
    /// The watcher's warning about a stack (`None` clears it).
    StackWarning {
        stack_id: StackId,
        message: Option<String>,
    },
    /// The chat notifier's warning about a stack's webhook (`None` clears it).
    ChatWarning {
        stack_id: StackId,
        message: Option<String>,
    },
    /// R5: approve or reject a waiting release.
    Decide {
        approval_id: ApprovalId,
        approve: bool,
        decision: Decision,
    },
    /// Run a failed run's release again at its stage.
    Retry {
        run_id: RunId,
        decision: Decision,
    },
    /// Deploy an earlier successful release to a stage again (rollback):
    /// exactly the `image` its earlier run deployed, when that is known.
    Redeploy {
        stage_id: StageId,
        release: Release,
        image: Option<String>,
        decision: Decision,
    },
    /// A build of a release ended (shared by every run of that release).
    BuildFinished {
        release_id: ReleaseId,
        result: Result<crate::domain::Artifact, String>,
    },
    /// The release or deploy part of a run ended.
    PartFinished {
        run_id: RunId,
        part: PartKind,
        result: Result<PartOutcome, String>,
    },
    /// The real state of an interrupted deploy (R17).
    DeployReconciled {
        run_id: RunId,
        result: Result<DeployedState, String>,
    },
    /// The branch head, asked for by a new first stage (R7).
    HeadFetched {
        stage_id: StageId,
        result: Result<Commit, String>,
    },
    /// A stage's AWS stack was deleted, or failed to be.
    StageStackDeleted {
        stage_id: StageId,
        result: Result<(), String>,
    },
    /// Scaling a stage's service to `count` ended.
    ScaleFinished {
        stage_id: StageId,
        count: u32,
        result: Result<(), String>,
    },
    /// R20: an approval's time is up (it may have been decided since).
    ApprovalExpired {
        approval_id: ApprovalId,
    },
    /// R21: stop the line at a stage (`stage_id`) or the whole stack.
    Freeze {
        stack_id: StackId,
        stage_id: Option<StageId>,
        reason: String,
        by: String,
    },
    /// R21: the line moves again; held releases (the newest of each stage) enter.
    Unfreeze {
        stack_id: StackId,
        stage_id: Option<StageId>,
    },
    /// R21: a stage held by its deploy window looks again (it may be open now).
    WindowCheck {
        stage_id: StageId,
    },
    /// The stage's service URL, read from its stack's outputs.
    ServiceUrlRead {
        stage_id: StageId,
        result: Result<Option<String>, String>,
    },
}

/// How a release or deploy part ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome {
    /// release.yml ran; the stage deploys `image` (`repo@sha256:…`, R3b).
    /// `access`: whose AWS rights its parts had (the stage's build role or,
    /// where the account cannot make one, the account's session).
    Released {
        image: String,
        access: crate::domain::BuildAccess,
    },
    /// The deploy ended.
    Deployed(DeployOutcome),
    /// R18: the deploy answered its health check, passed its smoke tests and
    /// kept its alarms OK through the soak time.
    Verified,
}

/// Everything a part needs to run, copied out of the state.
#[derive(Debug, Clone)]
pub struct PartContext {
    pub account: Account,
    pub stack: Stack,
    pub stage: Stage,
    /// `latest` for the first stage (R3).
    pub previous_stage_name: String,
    pub release: Release,
}

/// Work for the outside world, run after the transition is persisted.
#[derive(Debug, Clone)]
pub enum Effect {
    /// R22: a team stack's run ended here; its summary goes to the team.
    ShareRunSummary {
        stack_id: StackId,
        summary: crate::team::SharedRunSummary,
    },
    /// Check out the release's commit and run build.yml (once per commit, R3);
    /// its log is kept with `run_id`, the run that asked for it.
    Build { run_id: RunId, context: PartContext },
    /// Run release.yml for the run's stage.
    Release { run: Run, context: PartContext },
    /// Deploy the run's release to its stage.
    Deploy { run: Run, context: PartContext },
    /// Find out the real state of an interrupted deploy (R17), after
    /// `delay` (the backoff when AWS could not be reached before).
    ReconcileDeploy {
        run: Run,
        context: PartContext,
        delay: Duration,
    },
    /// Stop a run's release or deploy part.
    CancelRun(RunId),
    /// Stop a release's build (no run waits for it any more).
    CancelBuild(ReleaseId),
    /// Ask the Source for the branch head, for a new first stage (R7).
    FetchHead { stack: Stack, stage_id: StageId },
    /// Delete a stage's AWS stack (R9).
    DeleteStageStack {
        account: Account,
        stack: Stack,
        stage: Stage,
    },
    /// Set a stage's desired count on its service (R12).
    Scale {
        account: Account,
        stack: Stack,
        stage: Stage,
    },
    /// R18: check the run's deploy (health check, verify.yml, soak time).
    Verify { run: Run, context: PartContext },
    /// R20: give `ApprovalExpired` after `after`.
    ExpireApproval {
        approval_id: ApprovalId,
        after: Duration,
    },
    /// R21: give `WindowCheck` after `after` (when the deploy window opens).
    WakeStage { stage_id: StageId, after: Duration },
    /// Read the stage's service URL from its stack's outputs.
    ReadServiceUrl {
        account: Account,
        stack: Stack,
        stage: Stage,
    },
    /// Give `input` to the engine again after `after`: an effect's result
    /// whose write failed (nobody waits for it, so it must not be dropped).
    ApplyLater { after: Duration, input: Box<Input> },
}

/// What an input did: the writes (one transaction), the events, the effects.
#[derive(Debug, Default)]
pub struct Transition {
    pub changes: Vec<Change>,
    pub events: Vec<PipelineEvent>,
    pub effects: Vec<Effect>,
    /// What a command created or changed, for its reply.
    pub reply: Reply,
}

/// A command's answer.
#[derive(Debug, Clone, Default)]
pub enum Reply {
    #[default]
    Done,
    Stack(Stack),
    Stage(Stage),
    Run(RunId),
}
