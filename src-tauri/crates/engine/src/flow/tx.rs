//! A transition being built: every change to the state goes through here, so
//! the in-memory state, the store's writes and the events never drift apart.

use crate::domain::{Approval, ApprovalStatus, Release, Run, Stage};
use crate::events::PipelineEvent;
use crate::flow::{Effect, FlowState, Transition};
use crate::ids::Millis;
use crate::ports::{Change, Clock, StageFlow};

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
        Tx {
            s,
            clock,
            now,
            out: Transition::default(),
        }
    }

    pub fn new_id(&self) -> i64 {
        self.clock.new_id()
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
            self.s.active_runs.remove(&run.id);
        } else {
            self.s.active_runs.insert(run.id, run.clone());
        }
        let newer_exists = self
            .s
            .latest_runs
            .get(&run.stage_id)
            .is_some_and(|latest| latest.id > run.id);
        if !newer_exists {
            self.s.latest_runs.insert(run.stage_id, run.clone());
        }
        self.change(Change::PutRun(run.clone()));
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

    pub fn finish(self) -> Transition {
        self.s.prune_releases();
        self.out
    }
}
