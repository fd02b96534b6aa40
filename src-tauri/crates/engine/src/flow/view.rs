//! What the dashboard shows, read from the live state.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::{Approval, Release, Run, Stack, Stage};
use crate::flow::FlowState;
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

impl FlowState {
    /// Every stack as the dashboard shows it, by name.
    pub fn dashboard(&self) -> Vec<StackView> {
        let mut stacks: Vec<StackView> =
            self.stacks().map(|stack| self.stack_view(stack)).collect();
        stacks.sort_by(|a, b| a.stack.name.cmp(&b.stack.name));
        stacks
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
