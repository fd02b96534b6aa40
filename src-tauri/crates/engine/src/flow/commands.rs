//! Configuration commands: accounts, stacks and stages (R1, R6, R7, R9, R12).

use crate::domain::{
    Account, Decision, DecisionSource, RunTrigger, Stack, Stage, StageLifecycle, StageSettings,
};
use crate::error::EngineError;
use crate::events::PipelineEvent;
use crate::flow::state::WarningSource;
use crate::flow::tx::Tx;
use crate::flow::{Effect, FlowState, Reply};
use crate::ids::{AccountId, StackId, StageId};
use crate::order::{check_delete_confirmation, close_gap, first_stage};
use crate::ports::Change;
use crate::ports::Request;
use crate::validation::{
    check_account, check_account_name_unique, check_desired_count, check_stack_fields,
    check_team_place, FieldErrors,
};

impl FlowState {
    /// A new or changed account: its fields, and a name no other account
    /// has. The engine's `PutAccount` checks it; the app asks first, so
    /// nothing goes to the keychain for an account that will be refused.
    pub fn check_account(&self, account: &Account) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        check_account(account, &mut errors);
        check_account_name_unique(account, self.accounts.values(), &mut errors);
        errors.into_result()
    }

    /// A new stack: its fields, a unique name, an account of this desktop
    /// and, when shared, a team place no other stack here uses. The engine's
    /// `CreateStack` checks it; the app asks first, before Git is asked.
    pub fn check_new_stack(&self, stack: &Stack) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        check_stack_fields(stack, &mut errors);
        if self.stacks.values().any(|s| s.name == stack.name) {
            errors.add(
                "name",
                format!(
                    "A stack named \"{}\" already exists; stack names must be unique.",
                    stack.name
                ),
            );
        }
        if let Err(refused) = self.chosen_account(stack.account_id) {
            errors.0.extend(refused.0);
        }
        if let Some(place) = &stack.team {
            check_team_place(place, &mut errors);
            self.refuse_taken_team_place(stack.id, place, &mut errors);
        }
        errors.into_result()
    }
}

impl Tx<'_> {
    /// A new or changed account; names are unique (as stack names are).
    pub fn put_account(&mut self, account: Account) -> Result<(), EngineError> {
        self.s.check_account(&account)?;
        self.s.accounts.insert(account.id, account.clone());
        self.change(Change::PutAccount(account));
        Ok(())
    }

    pub fn delete_account(&mut self, id: AccountId) -> Result<(), EngineError> {
        if let Some(stack) = self.s.stacks.values().find(|s| s.account_id == id) {
            return Err(EngineError::Conflict(format!(
                "The stack \"{}\" deploys with this account; delete the stack first.",
                stack.name
            )));
        }
        self.s
            .accounts
            .remove(&id)
            .ok_or(EngineError::NotFound("The account"))?;
        self.change(Change::DeleteAccount(id));
        Ok(())
    }

    /// A stack is created with a single stage named `dev` (SPEC: Stack).
    pub fn create_stack(
        &mut self,
        mut stack: Stack,
        first_region: &str,
    ) -> Result<Reply, EngineError> {
        self.s.check_new_stack(&stack)?;
        // R3a: the stack's image repository lives in its first stage's region.
        stack.home_region = first_region.to_string();
        let dev = first_stage(&stack, StageId(self.new_id()), first_region);
        self.s.stacks.insert(stack.id, stack.clone());
        self.s.stages.insert(dev.id, dev.clone());
        self.change(Change::PutStack(stack.clone()));
        self.change(Change::InsertStage(dev));
        self.event(PipelineEvent::StackChanged { stack_id: stack.id });
        Ok(Reply::Stack(stack))
    }

    /// Starts deleting every stage of the stack; the stack goes with the last.
    pub fn delete_stack(
        &mut self,
        stack_id: StackId,
        confirmation: &str,
    ) -> Result<(), EngineError> {
        check_delete_confirmation(confirmation)?;
        let mut stack = self
            .s
            .stacks
            .get(&stack_id)
            .cloned()
            .ok_or(EngineError::NotFound("The stack"))?;
        if let Some(refusal) = crate::flow::state::team_delete_refusal(&stack) {
            return Err(EngineError::Conflict(refusal));
        }
        stack.deleting = true;
        self.s.stacks.insert(stack.id, stack.clone());
        self.change(Change::PutStack(stack));
        self.event(PipelineEvent::StackChanged { stack_id });
        let stage_ids: Vec<StageId> = self.s.stages_of(stack_id).iter().map(|s| s.id).collect();
        for stage_id in stage_ids {
            if !matches!(self.s.stages[&stage_id].lifecycle, StageLifecycle::Deleting) {
                self.begin_stage_delete(stage_id);
            }
        }
        self.remove_stack_if_empty(stack_id);
        Ok(())
    }

    fn remove_stack_if_empty(&mut self, stack_id: StackId) {
        let deleting = self.s.stacks.get(&stack_id).is_some_and(|s| s.deleting);
        if deleting && self.s.stages_of(stack_id).is_empty() {
            self.s.stacks.remove(&stack_id);
            self.s.newest_release.remove(&stack_id);
            self.s.stack_warnings.remove(&stack_id);
            self.change(Change::DeleteStack(stack_id));
            self.event(PipelineEvent::StackChanged { stack_id });
        }
    }

    /// R1/R7: inserts a stage and deploys its predecessor's last good release at once.
    pub fn create_stage(
        &mut self,
        stack_id: StackId,
        after: Option<StageId>,
        settings: StageSettings,
    ) -> Result<Reply, EngineError> {
        let position = self.s.check_new_stage(stack_id, after, &settings)?;
        let stack = self.s.stacks[&stack_id].clone();
        let stage = Stage {
            id: StageId(self.new_id()),
            stack_id,
            position,
            settings,
            lifecycle: StageLifecycle::Active,
        };
        for other in self
            .s
            .stages
            .values_mut()
            .filter(|s| s.stack_id == stack_id && s.position >= position)
        {
            other.position += 1;
        }
        self.s.stages.insert(stage.id, stage.clone());
        self.change(Change::InsertStage(stage.clone()));
        self.event(PipelineEvent::StageChanged {
            stage: stage.clone(),
        });

        let flow = self.s.flow_of(stack_id);
        let index = flow.iter().position(|s| s.id == stage.id).unwrap_or(0);
        if index == 0 {
            // The stage it displaces no longer takes the head (it now has a
            // predecessor that deployed nothing yet).
            if let Some(displaced) = flow.get(1).map(|s| s.id) {
                self.clear_request(Request::FirstDeploy {
                    stage_id: displaced,
                });
            }
            // R7/R17: recorded before it is asked, asked again at every start
            // until the stage has its first release.
            self.put_request(Request::FirstDeploy { stage_id: stage.id });
            self.effect(Effect::FetchHead {
                stack,
                stage_id: stage.id,
            });
        } else if let Some(release) = self.s.flow(flow[index - 1].id).deployed {
            self.start_run(stage.id, release, RunTrigger::NewStage);
        }
        Ok(Reply::Stage(stage))
    }

    /// R7 for a new first stage: deploy the branch head. Only while the
    /// stage's first-deploy request is open: a second answer (one asked
    /// again after a restart) finds the stage has had its first run.
    pub fn head_fetched(
        &mut self,
        stage_id: StageId,
        result: Result<crate::domain::Commit, String>,
    ) {
        let request = Request::FirstDeploy { stage_id };
        if !self.s.requests.contains_key(&(stage_id, request.kind())) {
            return;
        }
        let Some(stage) = self
            .s
            .stages
            .get(&stage_id)
            .filter(|s| s.is_active())
            .cloned()
        else {
            self.clear_request(request);
            return;
        };
        let source = WarningSource::FirstDeploy(stage_id);
        let commit = match result {
            Ok(commit) => commit,
            Err(message) => {
                // The request stays: the next start asks again (or the next
                // commit reaches the stage first).
                let message = format!(
                    "Could not read the branch head for the new stage {}: {message}",
                    stage.settings.name
                );
                self.set_warning(stage.stack_id, source, Some(message));
                return;
            }
        };
        self.set_warning(stage.stack_id, source, None);
        if self.s.reached(stage_id).is_some() || !self.is_first(stage_id) {
            // A release got there first (R7: approval governs later arrivals),
            // or a stage was inserted before it (it waits for the next release).
            self.clear_request(request);
            return;
        }
        match self
            .s
            .newest_release_of(stage.stack_id)
            .filter(|r| r.commit.sha == commit.sha)
        {
            Some(release) => {
                let id = release.id;
                self.start_run(stage_id, id, RunTrigger::NewStage);
            }
            None => {
                // The head is newer than any release: it flows on from here.
                let release = crate::domain::Release {
                    id: crate::ids::ReleaseId(self.new_id()),
                    stack_id: stage.stack_id,
                    commit,
                    included: Vec::new(),
                    forced: false,
                    created_at: self.now,
                    artifact: None,
                };
                self.put_release(&release);
                self.event(PipelineEvent::ReleaseCreated {
                    release: release.clone(),
                });
                self.start_run(stage_id, release.id, RunTrigger::Flow);
            }
        }
    }

    /// New settings for a stage. Name and region name its AWS stack, so they
    /// are fixed; switching approval off starts a waiting release (R6); a new
    /// desired count scales the service without a redeploy (R12).
    pub fn update_stage(
        &mut self,
        stage_id: StageId,
        settings: StageSettings,
    ) -> Result<Reply, EngineError> {
        self.s.check_stage_change(stage_id, &settings)?;
        let stage = self.s.stages[&stage_id].clone();
        let old = stage.settings.clone();
        let mut updated = stage;
        updated.settings = settings;
        self.put_stage(&updated);
        if old.requires_approval && !updated.settings.requires_approval {
            if let Some(pending) = self.s.pending_at(stage_id).cloned() {
                let decision = Decision {
                    by: "Stageline".to_string(),
                    at: self.now,
                    comment: "The stage was switched to automatic approval.".to_string(),
                    via: DecisionSource::SwitchedToAutomatic,
                };
                self.decide(pending, true, decision);
            }
        }
        if !old.requires_approval && updated.settings.requires_approval {
            // R6: a release queued at the stage now waits for a decision.
            let flow = self.s.flow(stage_id);
            if let Some(waiting) = flow.waiting {
                self.put_flow(crate::ports::StageFlow {
                    waiting: None,
                    ..flow
                });
                self.ask(stage_id, waiting);
            }
        }
        if old.desired_count != updated.settings.desired_count {
            self.request_scale(&updated);
        }
        // R21: a changed (or removed) deploy window may let a held release in now.
        if old.deploy_window != updated.settings.deploy_window {
            self.stage_freed(stage_id);
        }
        Ok(Reply::Stage(updated))
    }

    /// R12: only the desired count changes (read and written inside the
    /// engine, so a concurrent settings change is never undone).
    pub fn scale_stage(&mut self, stage_id: StageId, count: u32) -> Result<Reply, EngineError> {
        let stage = self.s.active_stage(stage_id)?.clone();
        let mut errors = FieldErrors::default();
        check_desired_count(count, &mut errors);
        errors.into_result()?;
        if stage.settings.desired_count == count {
            return Ok(Reply::Stage(stage));
        }
        let mut updated = stage;
        updated.settings.desired_count = count;
        self.put_stage(&updated);
        self.request_scale(&updated);
        Ok(Reply::Stage(updated))
    }

    /// R12/R17: records the scale request, then asks for it.
    fn request_scale(&mut self, stage: &Stage) {
        let request = Request::Scale {
            stage_id: stage.id,
            count: stage.settings.desired_count,
        };
        self.put_request(request);
        self.issue_request(request);
    }

    /// Whether the stage is the first of its stack's flow.
    fn is_first(&self, stage_id: StageId) -> bool {
        self.s
            .stages
            .get(&stage_id)
            .is_some_and(|s| self.s.flow_of(s.stack_id).first().map(|f| f.id) == Some(stage_id))
    }

    /// Starts the effect a request stands for (again, after a start).
    pub(crate) fn issue_request(&mut self, request: Request) {
        let Some(stage) = self
            .s
            .stages
            .get(&request.stage_id())
            .filter(|s| s.is_active())
            .cloned()
        else {
            self.clear_request(request);
            return;
        };
        let stack = self.s.stacks[&stage.stack_id].clone();
        match request {
            Request::FirstDeploy { stage_id } => {
                self.effect(Effect::FetchHead { stack, stage_id });
            }
            Request::Scale { count, .. } => {
                let account = self.s.accounts[&stack.account_id].clone();
                let mut stage = stage;
                stage.settings.desired_count = count;
                self.effect(Effect::Scale {
                    account,
                    stack,
                    stage,
                });
            }
        }
    }

    /// R12: scaling ended. A failure is shown on the stack until the stage
    /// scales well; the request is done either way (the user scales again).
    pub fn scale_finished(&mut self, stage_id: StageId, count: u32, result: Result<(), String>) {
        let request = Request::Scale { stage_id, count };
        let key = (stage_id, request.kind());
        if self.s.requests.get(&key) == Some(&request) {
            self.clear_request(request);
        }
        let Some(stage) = self.s.stages.get(&stage_id).cloned() else {
            return;
        };
        let message = result.err().map(|message| {
            format!(
                "Could not scale {} to {count}: {message}",
                stage.settings.name
            )
        });
        self.set_warning(stage.stack_id, WarningSource::Scale(stage_id), message);
    }

    /// R9: with the word `delete` typed, the stage leaves the flow at once and
    /// its AWS stack is deleted; it stays listed until that is done.
    pub fn delete_stage(
        &mut self,
        stage_id: StageId,
        confirmation: &str,
        team_lease_held: bool,
    ) -> Result<(), EngineError> {
        let stack_id = self.s.check_stage_delete(stage_id, confirmation)?.stack_id;
        let team = self.s.stacks.get(&stack_id).filter(|s| s.team.is_some());
        if let (Some(stack), false) = (team, team_lease_held) {
            return Err(EngineError::Conflict(format!(
                "{} is shared with a team: its stages are deleted through the team, while this desktop holds the stage's turn.",
                stack.name
            )));
        }
        self.begin_stage_delete(stage_id);
        Ok(())
    }

    fn begin_stage_delete(&mut self, stage_id: StageId) {
        let mut stage = self.stop_stage(stage_id);
        stage.lifecycle = StageLifecycle::Deleting;
        self.put_stage(&stage);
        self.request_stage_stack_delete(stage);
    }

    /// Stops everything the stage has going on this desktop: its run is
    /// cancelled, its approval withdrawn, its waiting release and open
    /// requests dropped, its warnings cleared. Returns the stage.
    fn stop_stage(&mut self, stage_id: StageId) -> Stage {
        if let Some(run) = self.s.running_at(stage_id).cloned() {
            self.cancel_run(run);
        }
        if let Some(mut approval) = self.s.pending_at(stage_id).cloned() {
            approval.status = crate::domain::ApprovalStatus::Cancelled;
            self.put_approval(&approval);
            self.event(PipelineEvent::ApprovalDecided { approval });
        }
        let flow = self.s.flow(stage_id);
        if flow.waiting.is_some() {
            self.put_flow(crate::ports::StageFlow {
                waiting: None,
                ..flow
            });
        }
        let requests: Vec<Request> = self
            .s
            .requests
            .values()
            .filter(|r| r.stage_id() == stage_id)
            .copied()
            .collect();
        for request in requests {
            self.clear_request(request);
        }
        let stage = self.s.stages[&stage_id].clone();
        for source in [
            WarningSource::FirstDeploy(stage_id),
            WarningSource::Scale(stage_id),
        ] {
            self.set_warning(stage.stack_id, source, None);
        }
        stage
    }

    /// R22: a stage a teammate deleted from the team stack goes from this
    /// desktop without touching AWS: the teammate's desktop tears its
    /// CloudFormation stack down.
    pub(crate) fn forget_stage(&mut self, stage_id: StageId) {
        let stage = self.stop_stage(stage_id);
        self.remove_stage_row(stage);
    }

    /// Asks the deployer to delete the stage's AWS stack (R9).
    pub(crate) fn request_stage_stack_delete(&mut self, stage: Stage) {
        let stack = self.s.stacks[&stage.stack_id].clone();
        let account = self.s.accounts[&stack.account_id].clone();
        self.effect(Effect::DeleteStageStack {
            account,
            stack,
            stage,
        });
    }

    /// Tries again to delete a stage whose AWS stack failed to delete.
    pub fn retry_delete_stage(&mut self, stage_id: StageId) -> Result<(), EngineError> {
        let mut stage = self
            .s
            .stages
            .get(&stage_id)
            .ok_or(EngineError::NotFound("The stage"))?
            .clone();
        if !matches!(stage.lifecycle, StageLifecycle::DeleteFailed { .. }) {
            return Err(EngineError::Conflict(
                "Only a stage that failed to delete can be retried.".to_string(),
            ));
        }
        stage.lifecycle = StageLifecycle::Deleting;
        self.put_stage(&stage);
        self.request_stage_stack_delete(stage);
        Ok(())
    }

    /// The stage's AWS stack is gone (the stage goes, closing the gap) or failed to go.
    pub fn stage_stack_deleted(&mut self, stage_id: StageId, result: Result<(), String>) {
        let Some(mut stage) = self.s.stages.get(&stage_id).cloned() else {
            return;
        };
        match result {
            Ok(()) => self.remove_stage_row(stage),
            Err(message) => {
                stage.lifecycle = StageLifecycle::DeleteFailed { message };
                self.put_stage(&stage);
            }
        }
    }

    /// The stage goes from the store, and the stages after it close the gap.
    fn remove_stage_row(&mut self, stage: Stage) {
        let stage_id = stage.id;
        self.s.stages.remove(&stage_id);
        let mut siblings: Vec<Stage> = self
            .s
            .stages
            .values()
            .filter(|s| s.stack_id == stage.stack_id)
            .cloned()
            .collect();
        close_gap(&mut siblings, stage.position);
        for sibling in siblings {
            self.s.stages.insert(sibling.id, sibling);
        }
        self.s.flows.remove(&stage_id);
        self.s.latest_runs.remove(&stage_id);
        // The store drops them with the stage's rows.
        self.s.services.remove(&stage_id);
        self.s.freezes.remove(&(stage.stack_id, Some(stage_id)));
        self.change(Change::RemoveStage(stage_id));
        self.event(PipelineEvent::StageRemoved {
            stack_id: stage.stack_id,
            stage_id,
        });
        self.remove_stack_if_empty(stage.stack_id);
    }
}
