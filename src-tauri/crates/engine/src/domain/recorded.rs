//! What the pipeline records: commits, releases, runs and their parts,
//! decisions and approvals.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ids::{ApprovalId, Millis, ReleaseId, RunId, StackId, StageId};

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
