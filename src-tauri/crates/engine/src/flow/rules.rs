//! The entry point of the state machine: one input, one transition.

use std::collections::HashSet;
use std::time::Duration;

use crate::domain::{PartKind, Release, RunStatus, RunTrigger, StageLifecycle};
use crate::error::EngineError;
use crate::flow::state::WarningSource;
use crate::flow::tx::Tx;
use crate::flow::{Effect, FlowState, Input, Reply, Transition};
use crate::ids::{ReleaseId, RunId};
use crate::ports::{Clock, DeployedState, Request};

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
            tx.put_account(account)?;
            Reply::Done
        }
        Input::DeleteAccount(id) => {
            tx.delete_account(id)?;
            Reply::Done
        }
        Input::CreateStack {
            stack,
            first_region,
            watch,
        } => {
            let stack_id = stack.id;
            let reply = tx.create_stack(stack, &first_region)?;
            if !watch {
                tx.s.unwatched.insert(stack_id);
            }
            reply
        }
        Input::WatchBranch { stack_id } => {
            tx.s.unwatched.remove(&stack_id);
            Reply::Done
        }
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
        Input::Scale { stage_id, count } => tx.scale_stage(stage_id, count)?,
        Input::DeleteStage {
            stage_id,
            confirmation,
        } => {
            tx.delete_stage(stage_id, &confirmation, false)?;
            Reply::Done
        }
        Input::DeleteTeamStage {
            stage_id,
            confirmation,
        } => {
            tx.delete_stage(stage_id, &confirmation, true)?;
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
        Input::JoinStack { stack, stages } => tx.join_stack(stack, stages)?,
        Input::SetTeam {
            stack_id,
            team,
            moved_secrets,
        } => {
            tx.set_team(stack_id, team, moved_secrets)?;
            Reply::Done
        }
        Input::FollowTeamDefinition { stack_id, stages } => {
            tx.follow_team_definition(stack_id, stages)?;
            Reply::Done
        }
        Input::FollowTeammateRun {
            stack_id,
            release,
            summary,
        } => {
            tx.follow_teammate_run(stack_id, release, summary);
            Reply::Done
        }
        Input::TeammateRunsPart {
            run_id,
            part,
            waiting,
        } => {
            tx.teammate_runs_part(run_id, part, waiting);
            Reply::Done
        }
        Input::StackWarning { stack_id, message } => {
            if tx.s.stacks.contains_key(&stack_id) {
                tx.set_warning(stack_id, WarningSource::Watcher, message);
            }
            Reply::Done
        }
        Input::ChatWarning { stack_id, message } => {
            if tx.s.stacks.contains_key(&stack_id) {
                tx.set_warning(stack_id, WarningSource::Chat, message);
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
            if approve {
                tx.refuse_if_frozen(approval.stage_id, "approve")?;
            }
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
            tx.refuse_if_frozen(run.stage_id, "retry")?;
            // R17: a retry keeps the flow behaviour of the run it retries.
            let flows_on = match run.trigger {
                RunTrigger::Flow => true,
                RunTrigger::NewStage
                | RunTrigger::Redeploy { .. }
                | RunTrigger::Rollback { .. } => false,
                RunTrigger::Retry { flows_on, .. } => flows_on,
            };
            let trigger = RunTrigger::Retry { decision, flows_on };
            let id = tx.start_run(run.stage_id, run.release_id, trigger);
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
        Input::ScaleFinished {
            stage_id,
            count,
            result,
        } => {
            tx.scale_finished(stage_id, count, result);
            Reply::Done
        }
        Input::ApprovalExpired { approval_id } => {
            tx.approval_expired(approval_id);
            Reply::Done
        }
        Input::Freeze {
            stack_id,
            stage_id,
            reason,
            by,
        } => {
            tx.freeze(stack_id, stage_id, &reason, &by)?;
            Reply::Done
        }
        Input::Unfreeze { stack_id, stage_id } => {
            tx.unfreeze(stack_id, stage_id)?;
            Reply::Done
        }
        Input::WindowCheck { stage_id } => {
            tx.stage_freed(stage_id);
            Reply::Done
        }
        Input::ServiceUrlRead { stage_id, result } => {
            tx.service_url_read(stage_id, result);
            Reply::Done
        }
    };
    tx.out.reply = reply;
    Ok(tx.finish())
}

/// R17: how long to wait before reconciling an interrupted deploy again
/// after `failures` failed attempts: 1 s, doubling, at most a minute.
pub fn reconcile_delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let secs = 1u64 << (failures - 1).min(6);
    Duration::from_secs(secs.min(60))
}

impl Tx<'_> {
    /// The stage is active and runs nothing now (R16: one run per stage).
    fn ensure_idle(&self, stage_id: crate::ids::StageId) -> Result<(), EngineError> {
        self.s.active_stage(stage_id)?;
        if self.s.running_at(stage_id).is_some() {
            return Err(EngineError::Conflict(
                "This stage is running a release; wait for it to finish.".to_string(),
            ));
        }
        Ok(())
    }

    /// R17: after a start, every part that was running is resumed: builds and
    /// releases run again, deploys are first checked against AWS; deletions
    /// go on; every requested effect without its result is asked for again;
    /// a free stage takes its waiting release.
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
                Some(PartKind::Deploy) => self.effect(Effect::ReconcileDeploy {
                    run,
                    context,
                    delay: Duration::ZERO,
                }),
                // R18: verification starts again from its beginning.
                Some(PartKind::Verify) => self.begin_verify(run),
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
        self.resume_expiries();
        // Stages that deployed before their URL was recorded learn it now
        // (once: a URL read as none stays none until the next deploy).
        let without_url: Vec<_> = self
            .s
            .flows
            .values()
            .filter(|f| {
                let service = self.s.service(f.stage_id);
                f.deployed.is_some() && service.url.is_none() && !service.url_read
            })
            .filter(|f| {
                self.s
                    .stages
                    .get(&f.stage_id)
                    .is_some_and(|s| s.is_active())
            })
            .map(|f| f.stage_id)
            .collect();
        for stage_id in without_url {
            self.read_service_url(stage_id);
        }
        let requests: Vec<Request> = self.s.requests.values().copied().collect();
        for request in requests {
            self.issue_request(request);
        }
        let mut idle_with_waiting: Vec<_> = self
            .s
            .flows
            .values()
            .filter(|f| f.waiting.is_some() && self.s.running_at(f.stage_id).is_none())
            .map(|f| f.stage_id)
            .collect();
        // In a fixed order, so a start is reproducible.
        idle_with_waiting.sort();
        for stage_id in idle_with_waiting {
            self.stage_freed(stage_id);
        }
    }

    /// R17: what AWS says about a deploy interrupted by a restart. When AWS
    /// cannot be asked, the run keeps running (the deploy may well have
    /// succeeded) and the question is asked again, later and later.
    fn deploy_reconciled(&mut self, run_id: RunId, result: Result<DeployedState, String>) {
        let Some(mut run) = self.s.active_runs.get(&run_id).cloned() else {
            return;
        };
        if run.running_part() != Some(PartKind::Deploy) {
            return;
        }
        if result.is_ok() {
            self.s.reconcile_attempts.remove(&run_id);
        }
        match result {
            Ok(DeployedState::Deployed) => self.deploy_confirmed(run_id),
            Ok(DeployedState::Failed { message }) => self.fail_run(run, PartKind::Deploy, message),
            Ok(DeployedState::NotDeployed) => {
                if run.part(PartKind::Deploy).message.is_some() {
                    run.part_mut(PartKind::Deploy).message = None;
                    self.put_run(&run);
                }
                let context = self.context(run.stage_id, run.release_id);
                self.effect(Effect::Deploy { run, context });
            }
            Err(message) => {
                let failures = self.s.reconcile_attempts.entry(run_id).or_insert(0);
                *failures += 1;
                let delay = reconcile_delay(*failures);
                run.part_mut(PartKind::Deploy).message = Some(format!(
                    "Resuming: could not reach AWS to check this deploy ({message}); trying again in {} s.",
                    delay.as_secs()
                ));
                self.put_run(&run);
                let context = self.context(run.stage_id, run.release_id);
                self.effect(Effect::ReconcileDeploy {
                    run: run.clone(),
                    context,
                    delay,
                });
                self.event(crate::events::PipelineEvent::PartChanged {
                    run,
                    part: PartKind::Deploy,
                    status: crate::domain::PartStatus::Running,
                });
            }
        }
    }
}
