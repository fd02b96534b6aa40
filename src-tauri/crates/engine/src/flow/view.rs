//! What the dashboard shows, read from the live state.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::{Approval, Release, Run, Stack, Stage};
use crate::events::PipelineEvent;
use crate::flow::FlowState;
use crate::ids::{StackId, StageId};
use crate::verification::{Freeze, StageService};

/// A release waiting for a decision, with the release itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PendingApproval {
    pub approval: Approval,
    pub release: Release,
}

/// One stage as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StageView {
    pub stage: Stage,
    /// The stage's newest run (running or finished) and its release.
    pub latest_run: Option<Run>,
    pub latest_release: Option<Release>,
    /// The release the stage runs now (its last successful deploy).
    pub deployed: Option<Release>,
    /// A release waiting for the stage to be free (R16).
    pub waiting: Option<Release>,
    pub pending_approval: Option<PendingApproval>,
    /// Why the stage cannot be deleted now, if it cannot (R9: a stack's last
    /// stage goes with the stack), shown before anyone types `delete`.
    pub delete_refusal: Option<String>,
    /// Its service's URL and deployed image.
    pub service: StageService,
    /// R21: what holds releases out of it (its own freeze, else its stack's).
    pub freeze: Option<Freeze>,
    /// R21: why releases are held out of it now, in words (a freeze, a closed
    /// deploy window); `None` when they may enter.
    pub hold_reason: Option<String>,
    /// R22: the part of its current run that a teammate's desktop runs now
    /// (this desktop waits for its result).
    pub teammate_runs: Option<crate::domain::PartKind>,
}

/// One stack and its stages in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StackView {
    pub stack: Stack,
    pub account_name: String,
    /// What the user should know about the stack (an unreachable remote, a
    /// failed scale…), one line per source.
    pub warnings: Vec<String>,
    pub newest_release: Option<Release>,
    /// Every stage (being deleted ones too), in position order.
    pub stages: Vec<StageView>,
    /// R21: the whole stack is frozen.
    pub freeze: Option<Freeze>,
}

/// What changed on the dashboard: the changed stacks' views and the order
/// of every stack, which the dashboard applies instead of reloading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DashboardUpdate {
    /// Each changed stack that still exists, as the dashboard shows it.
    pub stacks: Vec<StackView>,
    /// Every stack's id in the dashboard's order; a stack missing from it is gone.
    pub order: Vec<StackId>,
}

impl FlowState {
    /// Every stack as the dashboard shows it, by name.
    pub fn dashboard(&self) -> Vec<StackView> {
        self.stacks_in_order()
            .into_iter()
            .map(|stack| self.stack_view(stack))
            .collect()
    }

    /// The views of the `changed` stacks, and every stack's place.
    pub fn dashboard_update(&self, changed: &BTreeSet<StackId>) -> DashboardUpdate {
        let stacks = self.stacks_in_order();
        DashboardUpdate {
            order: stacks.iter().map(|stack| stack.id).collect(),
            stacks: stacks
                .into_iter()
                .filter(|stack| changed.contains(&stack.id))
                .map(|stack| self.stack_view(stack))
                .collect(),
        }
    }

    /// The dashboard's order: by name.
    fn stacks_in_order(&self) -> Vec<&Stack> {
        let mut stacks: Vec<&Stack> = self.stacks().collect();
        stacks.sort_by(|a, b| a.name.cmp(&b.name));
        stacks
    }

    /// The stack an event changes the view of.
    pub fn stack_of_event(&self, event: &PipelineEvent) -> Option<StackId> {
        let of_stage = |id: StageId| self.stage(id).map(|stage| stage.stack_id);
        match event {
            PipelineEvent::ReleaseCreated { release } => Some(release.stack_id),
            PipelineEvent::RunStarted { run }
            | PipelineEvent::PartChanged { run, .. }
            | PipelineEvent::RunFinished { run } => Some(run.stack_id),
            PipelineEvent::ApprovalRequested { approval, .. }
            | PipelineEvent::ApprovalDecided { approval } => Some(approval.stack_id),
            PipelineEvent::ReleaseSuperseded { stage_id, .. }
            | PipelineEvent::ReleaseQueued { stage_id, .. }
            | PipelineEvent::ServiceChanged { stage_id, .. } => of_stage(*stage_id),
            PipelineEvent::StageChanged { stage } => Some(stage.stack_id),
            PipelineEvent::StageRemoved { stack_id, .. }
            | PipelineEvent::StackChanged { stack_id }
            | PipelineEvent::FreezeChanged { stack_id, .. }
            | PipelineEvent::StackWarning { stack_id, .. } => Some(*stack_id),
        }
    }

    fn stack_view(&self, stack: &Stack) -> StackView {
        let release = |id| self.release(id).cloned();
        let stages = self
            .stages_of(stack.id)
            .into_iter()
            .map(|stage| {
                let flow = self.flow(stage.id);
                let latest_run = self.latest_run(stage.id).cloned();
                StageView {
                    teammate_runs: latest_run.as_ref().and_then(|r| self.teammate_part(r)),
                    latest_release: latest_run.as_ref().and_then(|r| release(r.release_id)),
                    latest_run,
                    deployed: flow.deployed.and_then(release),
                    waiting: flow.waiting.and_then(release),
                    pending_approval: self.pending_at(stage.id).and_then(|approval| {
                        Some(PendingApproval {
                            approval: approval.clone(),
                            release: release(approval.release_id)?,
                        })
                    }),
                    delete_refusal: self.delete_refusal(stage.id),
                    service: self.service(stage.id),
                    freeze: self.freeze_of(stage.id).cloned(),
                    hold_reason: self.hold_reason(stage.id, self.now),
                    stage: stage.clone(),
                }
            })
            .collect();
        StackView {
            account_name: self
                .account(stack.account_id)
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            warnings: self
                .stack_warnings(stack.id)
                .into_iter()
                .map(str::to_string)
                .collect(),
            newest_release: self.newest_release_of(stack.id).cloned(),
            freeze: self.stack_freeze(stack.id).cloned(),
            stack: stack.clone(),
            stages,
        }
    }
}
