//! What the engine tells the UI. Every transition emits exactly one event.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::{Approval, PartKind, PartStatus, Release, Run, Stage};
use crate::ids::{ReleaseId, StackId, StageId};
use crate::verification::{Freeze, StageService};

/// The name every window gets each [`PipelineEvent`] under.
pub const PIPELINE_EVENT: &str = "pipeline";
/// The name the dashboard gets each [`crate::flow::DashboardUpdate`] under.
pub const DASHBOARD_EVENT: &str = "dashboard";

/// One pipeline transition, ready to render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum PipelineEvent {
    /// A commit became a release (R2).
    ReleaseCreated { release: Release },
    /// A run began at a stage.
    RunStarted { run: Run },
    /// A part of a run changed status.
    #[serde(rename_all = "camelCase")]
    PartChanged {
        run: Run,
        part: PartKind,
        status: PartStatus,
    },
    /// A run ended (succeeded, failed or cancelled).
    RunFinished { run: Run },
    /// A release is held at a stage that requires approval (R5).
    ApprovalRequested {
        approval: Approval,
        release: Release,
    },
    /// An approval was decided (approved, rejected, superseded or cancelled).
    ApprovalDecided { approval: Approval },
    /// A newer release took this one's place at a stage (R16).
    #[serde(rename_all = "camelCase")]
    ReleaseSuperseded {
        release_id: ReleaseId,
        stage_id: StageId,
        by: ReleaseId,
    },
    /// A release waits at a busy stage (R16).
    #[serde(rename_all = "camelCase")]
    ReleaseQueued {
        release_id: ReleaseId,
        stage_id: StageId,
    },
    /// A stage was created, changed, or started or failed deleting.
    StageChanged { stage: Stage },
    /// A stage is gone: its AWS stack was deleted.
    #[serde(rename_all = "camelCase")]
    StageRemoved {
        stack_id: StackId,
        stage_id: StageId,
    },
    /// A stack was created or changed.
    #[serde(rename_all = "camelCase")]
    StackChanged { stack_id: StackId },
    /// R21: a stack (`stage_id: None`) or stage was frozen (`freeze`) or unfrozen.
    #[serde(rename_all = "camelCase")]
    FreezeChanged {
        stack_id: StackId,
        stage_id: Option<StageId>,
        freeze: Option<Freeze>,
    },
    /// The stage's service URL or deployed image changed.
    #[serde(rename_all = "camelCase")]
    ServiceChanged {
        stage_id: StageId,
        service: StageService,
    },
    /// Something about a stack the user should know (an unreachable remote…); `None` clears it.
    #[serde(rename_all = "camelCase")]
    StackWarning {
        stack_id: StackId,
        message: Option<String>,
    },
}
