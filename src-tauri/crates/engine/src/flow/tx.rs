//! A transition being built: every change to the state goes through here, so
//! the in-memory state, the store's writes and the events never drift apart.

use crate::domain::{Approval, ApprovalStatus, Release, Run, RunStatus, Stage};
use crate::events::PipelineEvent;
use crate::flow::state::WarningSource;
use crate::flow::{Effect, FlowState, Transition};
use crate::ids::Millis;
use crate::ids::{ReleaseId, StackId, StageId};
use crate::ports::{Change, Clock, Request, StageFlow};
use crate::verification::StageService;

/// The state, the clock, and the transition collected so far.
pub(crate) struct Tx<'a> {
    pub s: &'a mut FlowState,
    pub clock: &'a dyn Clock,
    pub now: Millis,
    pub out: Transition,
}

impl<'a> Tx<'a> {
    pub fn new(s: &'a mut FlowState, clock: &'a dyn Clock) -> Self {
        let now = clock.now();
        s.now = now;
        Tx {
            s,
            clock,
            now,
            out: Transition::default(),
        }
    }

    /// A fresh id, above every id the state has seen (R17: ids never go
    /// back, even if the wall clock does).
    pub fn new_id(&mut self) -> i64 {
        let mut id = self.clock.new_id();
        if id <= self.s.highest_id {
            self.clock.ids_above(self.s.highest_id);
            id = self.clock.new_id();
        }
        self.s.highest_id = self.s.highest_id.max(id);
        id
    }

    pub fn event(&mut self, event: PipelineEvent) {
        self.out.events.push(event);
    }

    pub fn effect(&mut self, effect: Effect) {
        self.out.effects.push(effect);
    }

    pub fn change(&mut self, change: Change) {
        self.out.changes.push(change);
    }

    /// Records a run: active while running, and the stage's latest if newest.
    pub fn put_run(&mut self, run: &Run) {
        if run.status.is_finished() {
            if self.s.active_runs.remove(&run.id).is_some() {
                self.share_run_summary(run);
            }
            self.s.reconcile_attempts.remove(&run.id);
            self.s.teammate_parts.remove(&run.id);
        } else {
            self.s.active_runs.insert(run.id, run.clone());
        }
        // A superseded release never ran: the stage's latest run stays what it was.
        let newer_exists = self
            .s
            .latest_runs
            .get(&run.stage_id)
            .is_some_and(|latest| latest.id > run.id);
        if !newer_exists && run.status != RunStatus::Superseded {
            self.s.latest_runs.insert(run.stage_id, run.clone());
        }
        self.change(Change::PutRun(run.clone()));
    }

    /// R22: a team stack's run that just ended here goes to the team's
    /// history (a superseded one never ran).
    fn share_run_summary(&mut self, run: &Run) {
        let shared = self
            .s
            .stacks
            .get(&run.stack_id)
            .is_some_and(|s| s.team.is_some());
        let (Some(stage), Some(release)) = (
            self.s.stages.get(&run.stage_id),
            self.s.releases.get(&run.release_id),
        ) else {
            return;
        };
        if !shared || run.status == RunStatus::Superseded {
            return;
        }
        let summary = crate::team::SharedRunSummary {
            run_key: crate::team::run_key(run, &release.commit.sha),
            stage_name: stage.settings.name.clone(),
            commit: release.commit.clone(),
            status: run.status,
            trigger: run.trigger.clone(),
            parts: run.parts.clone(),
            created_at: run.created_at,
            finished_at: run.finished_at.unwrap_or(self.now),
            image: run.image.clone(),
        };
        self.effect(Effect::ShareRunSummary {
            stack_id: run.stack_id,
            summary,
        });
    }

    pub fn put_release(&mut self, release: &Release) {
        let newest = self
            .s
            .newest_release
            .entry(release.stack_id)
            .or_insert(release.id);
        if release.id > *newest {
            *newest = release.id;
        }
        self.s.releases.insert(release.id, release.clone());
        self.change(Change::PutRelease(release.clone()));
    }

    pub fn put_flow(&mut self, flow: StageFlow) {
        self.s.flows.insert(flow.stage_id, flow);
        self.change(Change::PutFlow(flow));
    }

    /// R17: the release has reached the stage (through the flow, or as its
    /// first deploy); the gate will not ask for it or an older one again.
    pub fn mark_reached(&mut self, stage_id: StageId, release_id: ReleaseId) {
        let flow = self.s.flow(stage_id);
        if flow.reached.is_none_or(|r| r < release_id) {
            self.put_flow(StageFlow {
                reached: Some(release_id),
                ..flow
            });
        }
    }

    /// R17: records a requested effect before it is started.
    pub fn put_request(&mut self, request: Request) {
        self.s
            .requests
            .insert((request.stage_id(), request.kind()), request);
        self.change(Change::PutRequest(request));
    }

    /// The stage's request of this kind has its result (or no longer applies).
    pub fn clear_request(&mut self, request: Request) {
        let key = (request.stage_id(), request.kind());
        if let Some(stored) = self.s.requests.remove(&key) {
            self.change(Change::ClearRequest(stored));
        }
    }

    /// Sets (or with `None` clears) one source's warning about a stack.
    pub fn set_warning(
        &mut self,
        stack_id: StackId,
        source: WarningSource,
        message: Option<String>,
    ) {
        let by_source = self.s.stack_warnings.entry(stack_id).or_default();
        let changed = match &message {
            Some(m) => by_source.insert(source, m.clone()).as_ref() != Some(m),
            None => by_source.remove(&source).is_some(),
        };
        if by_source.is_empty() {
            self.s.stack_warnings.remove(&stack_id);
        }
        if changed {
            self.event(PipelineEvent::StackWarning { stack_id, message });
        }
    }

    /// Records an approval: kept in memory only while pending.
    pub fn put_approval(&mut self, approval: &Approval) {
        if approval.status == ApprovalStatus::Pending {
            self.s
                .pending_approvals
                .insert(approval.id, approval.clone());
        } else {
            self.s.pending_approvals.remove(&approval.id);
        }
        self.change(Change::PutApproval(approval.clone()));
    }

    /// New settings or lifecycle of an existing stage (position unchanged).
    pub fn put_stage(&mut self, stage: &Stage) {
        self.s.stages.insert(stage.id, stage.clone());
        self.change(Change::PutStage(stage.clone()));
        self.event(PipelineEvent::StageChanged {
            stage: stage.clone(),
        });
    }

    /// What the stage knows of its service now (nothing when unchanged).
    pub fn put_service(&mut self, stage_id: StageId, service: StageService) {
        if self.s.services.get(&stage_id) == Some(&service) {
            return;
        }
        self.s.services.insert(stage_id, service.clone());
        self.change(Change::PutService {
            stage_id,
            service: service.clone(),
        });
        self.event(PipelineEvent::ServiceChanged { stage_id, service });
    }

    pub fn finish(self) -> Transition {
        self.s.prune_releases();
        self.out
    }
}
