//! What the engine holds in memory: configuration and the pipeline's live
//! state, never its history (so its cost does not grow with past runs).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::domain::{
    Account, Approval, ApprovalStatus, Release, Run, Stack, Stage, StageLifecycle,
};
use crate::error::EngineError;
use crate::ids::{AccountId, ApprovalId, ReleaseId, RunId, StackId, StageId};
use crate::order::{flow_order, insert_position};
use crate::ports::{Request, Snapshot, StageFlow};
use crate::validation::{check_stage_settings, FieldErrors};
use crate::verification::{Freeze, StageService};

/// Who raised a stack warning: each source sets and clears only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum WarningSource {
    /// The branch watcher (an unreachable remote…).
    Watcher,
    /// The chat notifier (a webhook that keeps failing).
    Chat,
    /// A new first stage whose branch head could not be read.
    FirstDeploy(StageId),
    /// A stage whose service could not be scaled.
    Scale(StageId),
    /// A team stack whose shared definition could not be followed in full.
    TeamDefinition,
}

/// The engine's live state, loaded from a `Snapshot` and kept in step with
/// the store by every transition.
#[derive(Debug, Default, Clone)]
pub struct FlowState {
    pub(crate) accounts: BTreeMap<AccountId, Account>,
    pub(crate) stacks: BTreeMap<StackId, Stack>,
    pub(crate) stages: BTreeMap<StageId, Stage>,
    pub(crate) flows: HashMap<StageId, StageFlow>,
    /// Only releases still referenced by live state (see `prune_releases`).
    pub(crate) releases: HashMap<ReleaseId, Release>,
    /// Runs not finished.
    pub(crate) active_runs: BTreeMap<RunId, Run>,
    /// Each stage's newest run, finished or not (what the dashboard shows).
    pub(crate) latest_runs: HashMap<StageId, Run>,
    pub(crate) pending_approvals: BTreeMap<ApprovalId, Approval>,
    /// Each stack's newest release.
    pub(crate) newest_release: HashMap<StackId, ReleaseId>,
    /// Warnings about stacks by source (an unreachable remote…); not persisted.
    pub(crate) stack_warnings: HashMap<StackId, BTreeMap<WarningSource, String>>,
    /// Requested effects whose result is not in yet, by stage and kind (R17).
    pub(crate) requests: BTreeMap<(StageId, &'static str), Request>,
    /// R22: the part of each run here that a teammate's desktop runs now
    /// (this desktop waits for its result). Not persisted: after a restart
    /// the part asks for its turn again.
    pub(crate) teammate_parts: HashMap<RunId, crate::domain::PartKind>,
    /// Stacks created with `watch: false` whose branch is not watched yet
    /// (`Input::WatchBranch` starts it). Not persisted: a restart watches them.
    pub(crate) unwatched: BTreeSet<StackId>,
    /// Failed reconcile attempts of runs interrupted mid-deploy (for the backoff).
    pub(crate) reconcile_attempts: HashMap<RunId, u32>,
    /// The highest id the state has seen (the store's at load, then every new one).
    pub(crate) highest_id: i64,
    /// R21: freezes by stack and stage (`None`: the whole stack).
    pub(crate) freezes: BTreeMap<(StackId, Option<StageId>), Freeze>,
    /// What each stage knows of its service (URL, deployed image).
    pub(crate) services: HashMap<StageId, StageService>,
    /// The time of the latest transition (what deploy windows are judged at
    /// when the dashboard is read).
    pub(crate) now: crate::ids::Millis,
}

impl FlowState {
    /// The state a snapshot describes.
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let mut state = FlowState {
            accounts: snapshot.accounts.into_iter().map(|a| (a.id, a)).collect(),
            stacks: snapshot.stacks.into_iter().map(|s| (s.id, s)).collect(),
            stages: snapshot.stages.into_iter().map(|s| (s.id, s)).collect(),
            flows: snapshot
                .flows
                .into_iter()
                .map(|f| (f.stage_id, f))
                .collect(),
            requests: snapshot
                .requests
                .into_iter()
                .map(|r| ((r.stage_id(), r.kind()), r))
                .collect(),
            highest_id: snapshot.highest_id,
            freezes: snapshot
                .freezes
                .into_iter()
                .map(|f| ((f.stack_id, f.stage_id), f))
                .collect(),
            services: snapshot.services.into_iter().collect(),
            ..FlowState::default()
        };
        for release in snapshot.releases {
            let newest = state
                .newest_release
                .entry(release.stack_id)
                .or_insert(release.id);
            if release.id > *newest {
                *newest = release.id;
            }
            state.releases.insert(release.id, release);
        }
        for run in snapshot.latest_runs {
            state.latest_runs.insert(run.stage_id, run);
        }
        for run in snapshot.active_runs {
            state
                .latest_runs
                .entry(run.stage_id)
                .or_insert_with(|| run.clone());
            state.active_runs.insert(run.id, run);
        }
        state.pending_approvals = snapshot
            .pending_approvals
            .into_iter()
            .filter(|a| a.status == ApprovalStatus::Pending)
            .map(|a| (a.id, a))
            .collect();
        state
    }

    /// Every account.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// Every stack.
    pub fn stacks(&self) -> impl Iterator<Item = &Stack> {
        self.stacks.values()
    }

    /// A stack by id.
    pub fn stack(&self, id: StackId) -> Option<&Stack> {
        self.stacks.get(&id)
    }

    /// A stage by id.
    pub fn stage(&self, id: StageId) -> Option<&Stage> {
        self.stages.get(&id)
    }

    /// An account by id.
    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    /// A live release by id.
    pub fn release(&self, id: ReleaseId) -> Option<&Release> {
        self.releases.get(&id)
    }

    /// A run that has not finished.
    pub fn active_run(&self, id: RunId) -> Option<&Run> {
        self.active_runs.get(&id)
    }

    /// Every run that has not finished.
    pub fn active_runs(&self) -> impl Iterator<Item = &Run> {
        self.active_runs.values()
    }

    /// Every approval waiting for a decision.
    pub fn pending_approvals(&self) -> impl Iterator<Item = &Approval> {
        self.pending_approvals.values()
    }

    /// R22: the part of the run that a teammate's desktop runs now, if this
    /// desktop waits for its result (the part shows as running there).
    pub fn teammate_part(&self, run: &Run) -> Option<crate::domain::PartKind> {
        let kind = *self.teammate_parts.get(&run.id)?;
        (run.part(kind).status == crate::domain::PartStatus::Running).then_some(kind)
    }

    /// Whether a team stack here runs a part or waits for a decision (R22):
    /// then the team's state is read often (`team::team_poll_due`).
    pub fn team_busy(&self) -> bool {
        let team = |stack_id| self.stack(stack_id).is_some_and(|s| s.team.is_some());
        self.active_runs().any(|r| team(r.stack_id))
            || self.pending_approvals().any(|a| team(a.stack_id))
    }

    /// The stack's stages (all lifecycles), in position order.
    pub fn stages_of(&self, stack: StackId) -> Vec<&Stage> {
        let mut stages: Vec<&Stage> = self
            .stages
            .values()
            .filter(|s| s.stack_id == stack)
            .collect();
        stages.sort_by_key(|s| s.position);
        stages
    }

    /// The stack's stages that take part in the flow, in order (R1).
    pub fn flow_of(&self, stack: StackId) -> Vec<&Stage> {
        flow_order(self.stages.values().filter(|s| s.stack_id == stack))
    }

    /// The stage's flow record (deployed and waiting releases).
    pub fn flow(&self, stage: StageId) -> StageFlow {
        self.flows.get(&stage).copied().unwrap_or(StageFlow {
            stage_id: stage,
            deployed: None,
            waiting: None,
            reached: None,
        })
    }

    /// The run now running at a stage (R16: at most one).
    pub fn running_at(&self, stage: StageId) -> Option<&Run> {
        self.active_runs.values().find(|r| r.stage_id == stage)
    }

    /// R21: what holds releases out of a stage: its own freeze, else its stack's.
    pub fn freeze_of(&self, stage: StageId) -> Option<&Freeze> {
        let stack = self.stages.get(&stage)?.stack_id;
        self.freezes
            .get(&(stack, Some(stage)))
            .or_else(|| self.freezes.get(&(stack, None)))
    }

    /// R21: why releases are held out of the stage at `now`, if they are:
    /// a freeze, or a deploy window that is closed.
    pub fn hold_reason(&self, stage: StageId, now: crate::ids::Millis) -> Option<String> {
        if let Some(freeze) = self.freeze_of(stage) {
            return Some(format!("Frozen by {}: {}", freeze.by, freeze.reason));
        }
        let window = self.stages.get(&stage)?.settings.deploy_window.as_ref()?;
        (!window.is_open(now)).then(|| format!("Outside its deploy window ({})", window.describe()))
    }

    /// R21: the stack's own freeze (not its stages').
    pub fn stack_freeze(&self, stack: StackId) -> Option<&Freeze> {
        self.freezes.get(&(stack, None))
    }

    /// What the stage knows of its service.
    pub fn service(&self, stage: StageId) -> StageService {
        self.services.get(&stage).cloned().unwrap_or_default()
    }

    /// The approval waiting at a stage (R16: at most one).
    pub fn pending_at(&self, stage: StageId) -> Option<&Approval> {
        self.pending_approvals
            .values()
            .find(|a| a.stage_id == stage)
    }

    /// The stage's newest run.
    pub fn latest_run(&self, stage: StageId) -> Option<&Run> {
        self.latest_runs.get(&stage)
    }

    /// The stack's newest release.
    pub fn newest_release_of(&self, stack: StackId) -> Option<&Release> {
        self.newest_release
            .get(&stack)
            .and_then(|id| self.releases.get(id))
    }

    /// R2: the stacks whose branch is watched, each with the sha of its
    /// newest release (what the watch compares the head with at start):
    /// every stack not being deleted, but one created with `watch: false`
    /// until `Input::WatchBranch`.
    pub fn watched_branches(&self) -> impl Iterator<Item = (&Stack, Option<&str>)> {
        self.stacks
            .values()
            .filter(|stack| !stack.deleting && !self.unwatched.contains(&stack.id))
            .map(|stack| {
                let newest = self.newest_release_of(stack.id);
                (stack, newest.map(|release| release.commit.sha.as_str()))
            })
    }

    /// Every warning about a stack (from the watcher, a failed scale…).
    pub fn stack_warnings(&self, stack: StackId) -> Vec<&str> {
        self.stack_warnings
            .get(&stack)
            .map(|by_source| by_source.values().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Requested effects whose result is not in yet (R17).
    pub fn requests(&self) -> impl Iterator<Item = &Request> {
        self.requests.values()
    }

    /// The highest id the engine knows of.
    pub fn highest_id(&self) -> i64 {
        self.highest_id
    }

    /// R17: the newest release that reached the stage, is waiting or asked
    /// there, runs or ran there: a gate never asks for one at or below it.
    pub fn reached(&self, stage: StageId) -> Option<ReleaseId> {
        let flow = self.flow(stage);
        [
            flow.reached,
            flow.deployed,
            flow.waiting,
            self.pending_at(stage).map(|a| a.release_id),
            self.running_at(stage).map(|r| r.release_id),
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// R9: why the stage cannot be deleted now, if it cannot (the last stage
    /// of a stack is deleted with the stack).
    pub fn delete_refusal(&self, stage: StageId) -> Option<String> {
        let stage = self.stages.get(&stage)?;
        let only = stage.is_active()
            && self
                .flow_of(stage.stack_id)
                .iter()
                .all(|other| other.id == stage.id);
        only.then(|| {
            let stack = self
                .stacks
                .get(&stage.stack_id)
                .map(|s| s.name.as_str())
                .unwrap_or("its stack");
            format!(
                "{} is the only stage of {stack}; a stack needs at least one stage. Delete the stack instead.",
                stage.settings.name
            )
        })
    }

    /// R9: the stage, if deleting it may begin now: the word `delete` was
    /// typed, it is not being deleted already and it is not its stack's
    /// only stage. Asked by the engine and, on a team stack, before the
    /// stage's lease is taken.
    pub fn check_stage_delete(
        &self,
        stage_id: StageId,
        confirmation: &str,
    ) -> Result<&Stage, EngineError> {
        crate::order::check_delete_confirmation(confirmation)?;
        let stage = self
            .stages
            .get(&stage_id)
            .ok_or(EngineError::NotFound("The stage"))?;
        if matches!(stage.lifecycle, StageLifecycle::Deleting) {
            return Err(EngineError::Conflict(
                "This stage is already being deleted.".to_string(),
            ));
        }
        if let Some(reason) = self.delete_refusal(stage_id) {
            return Err(EngineError::Conflict(reason));
        }
        Ok(stage)
    }

    /// The stage, refused when it is gone or being deleted.
    pub fn active_stage(&self, stage_id: StageId) -> Result<&Stage, EngineError> {
        let stage = self
            .stages
            .get(&stage_id)
            .ok_or(EngineError::NotFound("The stage"))?;
        if !stage.is_active() {
            return Err(EngineError::Conflict(
                "This stage is being deleted.".to_string(),
            ));
        }
        Ok(stage)
    }

    /// The account a stack is to deploy with, refused beside the account
    /// field when this desktop has none of that id.
    pub fn chosen_account(&self, id: AccountId) -> Result<&Account, FieldErrors> {
        self.accounts.get(&id).ok_or_else(|| {
            let mut errors = FieldErrors::default();
            errors.add("accountId", "Choose an account.");
            errors
        })
    }

    /// R1: why a new stage with `settings` after `after` (`None`: first)
    /// would be refused; else the position it takes. The same checks
    /// whether the stage is added here or first written to a team's
    /// definition.
    pub fn check_new_stage(
        &self,
        stack_id: StackId,
        after: Option<StageId>,
        settings: &crate::domain::StageSettings,
    ) -> Result<u32, EngineError> {
        let stack = self
            .stacks
            .get(&stack_id)
            .ok_or(EngineError::NotFound("The stack"))?;
        if stack.deleting {
            return Err(EngineError::Conflict(
                "This stack is being deleted.".to_string(),
            ));
        }
        let existing: Vec<Stage> = self.stages_of(stack_id).into_iter().cloned().collect();
        check_stage_settings(settings, &existing)?;
        insert_position(&existing, after)
    }

    /// Why the stage's settings could not become `settings`: name and
    /// region name its AWS stack, so they are fixed; the rest is checked as
    /// for a new stage.
    pub fn check_stage_change(
        &self,
        stage_id: StageId,
        settings: &crate::domain::StageSettings,
    ) -> Result<(), EngineError> {
        let stage = self.active_stage(stage_id)?;
        let mut errors = FieldErrors::default();
        if settings.name != stage.settings.name {
            errors.add("name", "A stage's name cannot change (it names its AWS stack); delete and re-create the stage instead.");
        }
        if settings.region != stage.settings.region {
            errors.add(
                "region",
                "A stage's region cannot change; delete and re-create the stage instead.",
            );
        }
        errors.into_result()?;
        let others: Vec<Stage> = self
            .stages_of(stage.stack_id)
            .into_iter()
            .filter(|s| s.id != stage_id)
            .cloned()
            .collect();
        check_stage_settings(settings, &others)?;
        Ok(())
    }

    /// What running `release_id` at `stage_id` needs: the account, stack,
    /// stage, the previous stage's name (`latest` for the first) and the release.
    pub fn part_context(
        &self,
        stage_id: StageId,
        release_id: ReleaseId,
    ) -> Option<super::PartContext> {
        let stage = self.stages.get(&stage_id)?.clone();
        let stack = self.stacks.get(&stage.stack_id)?.clone();
        let account = self.accounts.get(&stack.account_id)?.clone();
        let flow = self.flow_of(stack.id);
        let previous_stage_name = flow
            .iter()
            .position(|s| s.id == stage_id)
            .and_then(|i| i.checked_sub(1))
            .map(|i| flow[i].settings.name.clone())
            .unwrap_or_else(|| crate::validation::RESERVED_STAGE_NAME.to_string());
        let release = self.releases.get(&release_id)?.clone();
        Some(super::PartContext {
            account,
            stack,
            stage,
            previous_stage_name,
            release,
        })
    }

    /// The stage before `stage_id` in its stack's flow.
    pub fn previous_stage(&self, stage_id: StageId) -> Option<&Stage> {
        let stage = self.stages.get(&stage_id)?;
        let flow = self.flow_of(stage.stack_id);
        let index = flow.iter().position(|s| s.id == stage_id)?;
        index.checked_sub(1).map(|i| flow[i])
    }

    /// Forgets releases nothing live refers to any more; they stay in the store.
    pub(crate) fn prune_releases(&mut self) {
        let mut keep: std::collections::HashSet<ReleaseId> = std::collections::HashSet::new();
        keep.extend(
            self.flows
                .values()
                .flat_map(|f| [f.deployed, f.waiting])
                .flatten(),
        );
        keep.extend(self.active_runs.values().map(|r| r.release_id));
        keep.extend(self.latest_runs.values().map(|r| r.release_id));
        keep.extend(self.pending_approvals.values().map(|a| a.release_id));
        keep.extend(self.newest_release.values().copied());
        self.releases.retain(|id, _| keep.contains(id));
    }
}

/// R22: a team stack is the team's AWS stacks. Deleting it all is not done
/// through the team (each stage can be, one by one), so this desktop does
/// not do it alone.
pub fn team_delete_refusal(stack: &crate::domain::Stack) -> Option<String> {
    stack.team.as_ref().map(|_| {
        format!(
            "{} is shared with a team: deleting would remove the AWS stacks your teammates deploy to. Stop sharing it on this computer first, once the team agrees.",
            stack.name
        )
    })
}
