//! The entry point of the state machine: one input, one transition.

use std::collections::HashSet;

use crate::domain::{PartKind, Release, RunStatus, RunTrigger, StageLifecycle};
use crate::error::EngineError;
use crate::flow::tx::Tx;
use crate::flow::{Effect, FlowState, Input, Reply, Transition};
use crate::ids::ReleaseId;
use crate::ports::{Clock, DeployedState};

/// Applies one input to the state. On `Err` the state is unchanged and
/// nothing is to be written; on `Ok` the transition's changes must be
/// persisted before its effects run.
pub fn apply_input(
    state: &mut FlowState,
    input: Input,
    clock: &dyn Clock,
) -> Result<Transition, EngineError> {
    let mut tx = Tx::new(state, clock);
    let reply = match input {
        Input::Started => {
            tx.resume();
            Reply::Done
        }
        Input::PutAccount(account) => {
            tx.put_account(account);
            Reply::Done
        }
        Input::DeleteAccount(id) => {
            tx.delete_account(id)?;
            Reply::Done
        }
        Input::CreateStack {
            stack,
            first_region,
        } => tx.create_stack(stack, &first_region)?,
        Input::DeleteStack {
            stack_id,
            confirmation,
        } => {
            tx.delete_stack(stack_id, &confirmation)?;
            Reply::Done
        }
        Input::CreateStage {
            stack_id,
            after,
            settings,
        } => tx.create_stage(stack_id, after, settings)?,
        Input::UpdateStage { stage_id, settings } => tx.update_stage(stage_id, settings)?,
        Input::DeleteStage {
            stage_id,
            confirmation,
        } => {
            tx.delete_stage(stage_id, &confirmation)?;
            Reply::Done
        }
        Input::RetryDeleteStage(stage_id) => {
            tx.retry_delete_stage(stage_id)?;
            Reply::Done
        }
        Input::CommitDetected {
            stack_id,
            head,
            included,
            forced,
        } => {
            let known = tx.s.stacks.get(&stack_id).is_some_and(|s| !s.deleting);
            let seen =
                tx.s.newest_release_of(stack_id)
                    .is_some_and(|r| r.commit.sha == head.sha);
            if known && !seen {
                let release = Release {
                    id: ReleaseId(tx.new_id()),
                    stack_id,
                    commit: head,
                    included,
                    forced,
                    created_at: tx.now,
                    artifact: None,
                };
                tx.new_release(release);
            }
            Reply::Done
        }
        Input::StackWarning { stack_id, message } => {
            if tx.s.stack_warning(stack_id) != message.as_deref() {
                tx.set_warning(stack_id, message);
            }
            Reply::Done
        }
        Input::Decide {
            approval_id,
            approve,
            decision,
        } => {
            let approval =
                tx.s.pending_approvals
                    .get(&approval_id)
                    .cloned()
                    .ok_or(EngineError::NotFound("The approval"))?;
            tx.decide(approval, approve, decision);
            Reply::Done
        }
        Input::Retry { run_id, decision } => {
            let run =
                tx.s.latest_runs
                    .values()
                    .find(|r| r.id == run_id)
                    .cloned()
                    .ok_or_else(|| {
                        EngineError::Conflict(
                            "Only a stage's most recent run can be retried.".to_string(),
                        )
                    })?;
            if run.status != RunStatus::Failed && run.status != RunStatus::Cancelled {
                return Err(EngineError::Conflict(
                    "Only a failed run can be retried.".to_string(),
                ));
            }
            tx.ensure_idle(run.stage_id)?;
            let id = tx.start_run(run.stage_id, run.release_id, RunTrigger::Retry { decision });
            Reply::Run(id)
        }
        Input::Redeploy {
            stage_id,
            release,
            image,
            decision,
        } => {
            tx.ensure_idle(stage_id)?;
            if release.artifact.is_none() {
                return Err(EngineError::Conflict(
                    "This release was never built; it cannot be redeployed.".to_string(),
                ));
            }
            tx.s.releases.insert(release.id, release.clone());
            let trigger = RunTrigger::Redeploy { decision };
            let id = match image {
                Some(image) => tx.start_redeploy(stage_id, release.id, image, trigger),
                // Runs from before images were pinned: release.yml tags it again.
                None => tx.start_run(stage_id, release.id, trigger),
            };
            Reply::Run(id)
        }
        Input::BuildFinished { release_id, result } => {
            tx.build_finished(release_id, result);
            Reply::Done
        }
        Input::PartFinished {
            run_id,
            part,
            result,
        } => {
            tx.part_finished(run_id, part, result);
            Reply::Done
        }
        Input::DeployReconciled { run_id, result } => {
            tx.deploy_reconciled(run_id, result);
            Reply::Done
        }
        Input::HeadFetched { stage_id, result } => {
            tx.head_fetched(stage_id, result);
            Reply::Done
        }
        Input::StageStackDeleted { stage_id, result } => {
            tx.stage_stack_deleted(stage_id, result);
            Reply::Done
        }
        Input::ScaleFailed { stage_id, message } => {
            if let Some(stage) = tx.s.stages.get(&stage_id).cloned() {
                let text = format!("Could not scale {}: {message}", stage.settings.name);
                tx.set_warning(stage.stack_id, Some(text));
            }
            Reply::Done
        }
    };
    tx.out.reply = reply;
    Ok(tx.finish())
}

impl Tx<'_> {
    /// The stage is active and runs nothing now (R16: one run per stage).
    fn ensure_idle(&self, stage_id: crate::ids::StageId) -> Result<(), EngineError> {
        let stage = self
            .s
            .stages
            .get(&stage_id)
            .ok_or(EngineError::NotFound("The stage"))?;
        if !stage.is_active() {
            return Err(EngineError::Conflict(
                "This stage is being deleted.".to_string(),
            ));
        }
        if self.s.running_at(stage_id).is_some() {
            return Err(EngineError::Conflict(
                "This stage is running a release; wait for it to finish.".to_string(),
            ));
        }
        Ok(())
    }

    /// R17: after a start, every part that was running is resumed: builds and
    /// releases run again, deploys are first checked against AWS; deletions
    /// go on; a free stage takes its waiting release.
    fn resume(&mut self) {
        let runs: Vec<_> = self.s.active_runs.values().cloned().collect();
        let mut builds_started: HashSet<ReleaseId> = HashSet::new();
        for run in runs {
            let context = self.context(run.stage_id, run.release_id);
            match run.running_part() {
                Some(PartKind::Build) => {
                    if builds_started.insert(run.release_id) {
                        self.effect(Effect::Build {
                            run_id: run.id,
                            context,
                        });
                    }
                }
                Some(PartKind::Release) => self.effect(Effect::Release { run, context }),
                Some(PartKind::Deploy) => self.effect(Effect::ReconcileDeploy { run, context }),
                None => self.fail_run(run, PartKind::Build, "The run was interrupted.".to_string()),
            }
        }
        let deleting: Vec<_> = self
            .s
            .stages
            .values()
            .filter(|s| matches!(s.lifecycle, StageLifecycle::Deleting))
            .cloned()
            .collect();
        for stage in deleting {
            self.request_stage_stack_delete(stage);
        }
        let idle_with_waiting: Vec<_> = self
            .s
            .flows
            .values()
            .filter(|f| f.waiting.is_some() && self.s.running_at(f.stage_id).is_none())
            .map(|f| f.stage_id)
            .collect();
        for stage_id in idle_with_waiting {
            self.stage_freed(stage_id);
        }
    }

    /// R17: what AWS says about a deploy interrupted by a restart.
    fn deploy_reconciled(
        &mut self,
        run_id: crate::ids::RunId,
        result: Result<DeployedState, String>,
    ) {
        let Some(run) = self.s.active_runs.get(&run_id).cloned() else {
            return;
        };
        match result {
            Ok(DeployedState::Deployed) => self.deploy_confirmed(run_id),
            Ok(DeployedState::Failed { message }) => self.fail_run(run, PartKind::Deploy, message),
            Ok(DeployedState::NotDeployed) => {
                let context = self.context(run.stage_id, run.release_id);
                self.effect(Effect::Deploy { run, context });
            }
            Err(message) => self.fail_run(
                run,
                PartKind::Deploy,
                format!("Could not find out whether the deploy finished: {message}"),
            ),
        }
    }
}
