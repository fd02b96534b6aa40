//! How a release moves: arriving at a stage, the approval gate, waiting at a
//! busy stage, the three parts of a run, and what happens when a run ends.

use crate::domain::{
    Approval, ApprovalStatus, Artifact, Decision, Part, PartKind, PartStatus, Release, Run,
    RunStatus, RunTrigger,
};
use crate::events::PipelineEvent;
use crate::flow::tx::Tx;
use crate::flow::{Effect, PartContext, PartOutcome};
use crate::ids::{ApprovalId, ReleaseId, RunId, StageId};
use crate::ports::{DeployOutcome, Request, StageFlow};

impl Tx<'_> {
    /// What a part of a run at `stage_id` needs, copied out of the state.
    pub fn context(&self, stage_id: StageId, release_id: ReleaseId) -> PartContext {
        self.s
            .part_context(stage_id, release_id)
            .expect("a run's stage, stack, account and release are live")
    }

    /// R2/R5/R16/R17: a release reaches a stage through the flow. A gate
    /// never asks for a release at or below one that reached the stage, is
    /// waiting or asked there, runs or ran there.
    pub fn arrive(&mut self, stage_id: StageId, release_id: ReleaseId) {
        if self.s.reached(stage_id).is_some_and(|r| r >= release_id) {
            return;
        }
        self.mark_reached(stage_id, release_id);
        // A release reaching a new first stage before its head was read
        // is its first release: approval governs it (R7), the head is moot.
        self.clear_request(Request::FirstDeploy { stage_id });
        if !self.s.stages[&stage_id].settings.requires_approval {
            self.enter(stage_id, release_id);
            return;
        }
        if let Some(pending) = self.s.pending_at(stage_id).cloned() {
            // R16: only the newest release waits at an approval gate.
            let mut superseded = pending;
            superseded.status = ApprovalStatus::Superseded;
            self.put_approval(&superseded);
            self.event(PipelineEvent::ReleaseSuperseded {
                release_id: superseded.release_id,
                stage_id,
                by: release_id,
            });
        }
        self.ask(stage_id, release_id);
    }

    /// R5: holds the release at the stage's gate until someone decides.
    pub fn ask(&mut self, stage_id: StageId, release_id: ReleaseId) {
        let hours = self.s.stages[&stage_id].settings.approval_expiry_hours;
        let after = std::time::Duration::from_secs(u64::from(hours) * 3600);
        let approval = Approval {
            id: ApprovalId(self.new_id()),
            stack_id: self.s.stages[&stage_id].stack_id,
            stage_id,
            release_id,
            status: ApprovalStatus::Pending,
            requested_at: self.now,
            decision: None,
            expires_at: Some(self.now + after.as_millis() as i64),
        };
        self.put_approval(&approval);
        self.effect(Effect::ExpireApproval {
            approval_id: approval.id,
            after,
        });
        let release = self.s.releases[&release_id].clone();
        self.event(PipelineEvent::ApprovalRequested { approval, release });
    }

    /// R16: a release passes the gate; it runs now, or waits if the stage is busy.
    /// R21: a frozen stage holds it the same way, until it is unfrozen.
    pub fn enter(&mut self, stage_id: StageId, release_id: ReleaseId) {
        let held = self.held(stage_id);
        let running = self.s.running_at(stage_id).map(|r| r.release_id);
        if running.is_none() && !held {
            self.start_run(stage_id, release_id, RunTrigger::Flow);
            return;
        }
        if running.is_some_and(|r| r >= release_id) {
            return;
        }
        let mut flow = self.s.flow(stage_id);
        if let Some(waiting) = flow.waiting {
            if waiting >= release_id {
                return;
            }
            self.record_superseded(stage_id, waiting, release_id);
        }
        flow.waiting = Some(release_id);
        self.put_flow(flow);
        self.event(PipelineEvent::ReleaseQueued {
            release_id,
            stage_id,
        });
        if held && running.is_none() {
            self.wake_when_window_opens(stage_id);
        }
    }

    /// R16: a release waiting at a busy stage gave its place to a newer one.
    /// It leaves a row in the stage's history that says so.
    fn record_superseded(&mut self, stage_id: StageId, release_id: ReleaseId, by: ReleaseId) {
        let newer = self
            .s
            .releases
            .get(&by)
            .map(|r| r.commit.short_sha().to_string())
            .unwrap_or_default();
        let mut run = self.new_run(stage_id, release_id, RunTrigger::Flow);
        run.status = RunStatus::Superseded;
        run.finished_at = Some(self.now);
        // On the deploy part: what the stage window shows first.
        run.part_mut(PartKind::Deploy).message = Some(format!(
            "A newer release ({newer}) took its place while it waited; it never ran here."
        ));
        self.put_run(&run);
        self.event(PipelineEvent::ReleaseSuperseded {
            release_id,
            stage_id,
            by,
        });
    }

    /// Starts a run of `release_id` at an idle stage. The build runs once per
    /// commit (R3): an earlier artifact is reused, a build under way is shared.
    pub fn start_run(
        &mut self,
        stage_id: StageId,
        release_id: ReleaseId,
        trigger: RunTrigger,
    ) -> RunId {
        if matches!(trigger, RunTrigger::Flow | RunTrigger::NewStage) {
            self.mark_reached(stage_id, release_id);
        }
        // A run at a new first stage is the result of its first-deploy request.
        self.clear_request(Request::FirstDeploy { stage_id });
        let mut run = self.new_run(stage_id, release_id, trigger);
        let has_artifact = self.s.releases[&release_id].artifact.is_some();
        let build_under_way = self.build_under_way(release_id);
        let context = self.context(stage_id, release_id);
        if has_artifact {
            let build = run.part_mut(PartKind::Build);
            build.status = PartStatus::Reused;
            build.message = Some("Built earlier for this commit".to_string());
            self.begin_part(&mut run, PartKind::Release);
            self.effect(Effect::Release {
                run: run.clone(),
                context,
            });
        } else {
            self.begin_part(&mut run, PartKind::Build);
            if !build_under_way {
                self.effect(Effect::Build {
                    run_id: run.id,
                    context,
                });
            }
        }
        self.put_run(&run);
        self.event(PipelineEvent::RunStarted { run: run.clone() });
        run.id
    }

    /// A run of `release_id` at `stage_id` with every part pending.
    fn new_run(&mut self, stage_id: StageId, release_id: ReleaseId, trigger: RunTrigger) -> Run {
        let skip_verify = self.verify_skipped_because(stage_id, &trigger);
        let mut run = Run {
            id: RunId(self.new_id()),
            stack_id: self.s.stages[&stage_id].stack_id,
            stage_id,
            release_id,
            status: RunStatus::Running,
            trigger,
            parts: PartKind::ALL.iter().map(|k| Part::pending(*k)).collect(),
            created_at: self.now,
            finished_at: None,
            image: None,
            build_access: None,
            followed_from: None,
        };
        if let Some(reason) = skip_verify {
            let verify = run.part_mut(PartKind::Verify);
            verify.status = PartStatus::Skipped;
            verify.message = reason.map(str::to_string);
        }
        run
    }

    fn build_under_way(&self, release_id: ReleaseId) -> bool {
        self.s.active_runs.values().any(|r| {
            r.release_id == release_id && r.part(PartKind::Build).status == PartStatus::Running
        })
    }

    pub(super) fn begin_part(&self, run: &mut Run, kind: PartKind) {
        let part = run.part_mut(kind);
        part.status = PartStatus::Running;
        part.started_at = Some(self.now);
    }

    pub(super) fn end_part(
        &self,
        run: &mut Run,
        kind: PartKind,
        status: PartStatus,
        message: Option<String>,
    ) {
        let part = run.part_mut(kind);
        part.status = status;
        part.finished_at = Some(self.now);
        part.message = message;
    }

    /// The build of a release ended: every run waiting for it moves on or fails.
    pub fn build_finished(&mut self, release_id: ReleaseId, result: Result<Artifact, String>) {
        if let (Ok(artifact), Some(release)) = (&result, self.s.releases.get(&release_id)) {
            let mut release = release.clone();
            release.artifact = Some(artifact.clone());
            self.put_release(&release);
        }
        let waiting: Vec<Run> = self
            .s
            .active_runs
            .values()
            .filter(|r| {
                r.release_id == release_id && r.part(PartKind::Build).status == PartStatus::Running
            })
            .cloned()
            .collect();
        for mut run in waiting {
            match &result {
                Ok(_) => {
                    self.end_part(&mut run, PartKind::Build, PartStatus::Succeeded, None);
                    self.begin_part(&mut run, PartKind::Release);
                    self.put_run(&run);
                    let context = self.context(run.stage_id, release_id);
                    self.effect(Effect::Release {
                        run: run.clone(),
                        context,
                    });
                    self.event(PipelineEvent::PartChanged {
                        run,
                        part: PartKind::Release,
                        status: PartStatus::Running,
                    });
                }
                Err(message) => self.fail_run(run, PartKind::Build, message.clone()),
            }
        }
    }

    /// The release or deploy part of a run ended. Results for runs that are no
    /// longer running (cancelled, or from before a restart) are ignored.
    pub fn part_finished(
        &mut self,
        run_id: RunId,
        kind: PartKind,
        result: Result<PartOutcome, String>,
    ) {
        let Some(mut run) = self.s.active_runs.get(&run_id).cloned() else {
            return;
        };
        if run.part(kind).status != PartStatus::Running {
            return;
        }
        match (kind, result) {
            (_, Err(message)) => self.fail_run(run, kind, message),
            (PartKind::Verify, Ok(PartOutcome::Verified)) => {
                self.end_part(&mut run, PartKind::Verify, PartStatus::Succeeded, None);
                self.succeed_run(run);
            }
            (PartKind::Release, Ok(PartOutcome::Released { image, access })) => {
                // R3b: the run deploys exactly this image, recorded before the deploy starts.
                run.image = Some(image);
                run.build_access = Some(access);
                self.end_part(&mut run, PartKind::Release, PartStatus::Succeeded, None);
                self.begin_deploy(run);
            }
            (PartKind::Deploy, Ok(PartOutcome::Deployed(outcome))) => {
                let unchanged = outcome == DeployOutcome::NoChanges;
                let message = unchanged.then(|| "No changes".to_string());
                self.end_part(&mut run, PartKind::Deploy, PartStatus::Succeeded, message);
                run.part_mut(PartKind::Deploy).unchanged = unchanged;
                self.deployed(run);
            }
            // An outcome that does not belong to the part: nothing to do.
            (_, Ok(_)) => {}
        }
    }

    /// Starts the deploy part of a run whose image is known.
    fn begin_deploy(&mut self, mut run: Run) {
        self.begin_part(&mut run, PartKind::Deploy);
        self.put_run(&run);
        let context = self.context(run.stage_id, run.release_id);
        self.effect(Effect::Deploy {
            run: run.clone(),
            context,
        });
        self.event(PipelineEvent::PartChanged {
            run,
            part: PartKind::Deploy,
            status: PartStatus::Running,
        });
    }

    /// A redeploy of the exact image an earlier run deployed (R3b): no build,
    /// no release.yml (which would copy whatever the previous stage runs now).
    pub fn start_redeploy(
        &mut self,
        stage_id: StageId,
        release_id: ReleaseId,
        image: String,
        trigger: RunTrigger,
    ) -> RunId {
        let mut run = self.new_run(stage_id, release_id, trigger);
        run.image = Some(image);
        for kind in [PartKind::Build, PartKind::Release] {
            let part = run.part_mut(kind);
            part.status = PartStatus::Reused;
            part.message = Some("Redeploying the image this stage ran before".to_string());
        }
        self.begin_part(&mut run, PartKind::Deploy);
        self.put_run(&run);
        let context = self.context(stage_id, release_id);
        self.effect(Effect::Deploy {
            run: run.clone(),
            context,
        });
        let id = run.id;
        self.event(PipelineEvent::RunStarted { run });
        id
    }

    /// A deploy that succeeded before a restart is recorded, never redone (R17).
    pub fn deploy_confirmed(&mut self, run_id: RunId) {
        let Some(mut run) = self.s.active_runs.get(&run_id).cloned() else {
            return;
        };
        let message = Some("Deployed (confirmed after a restart)".to_string());
        self.end_part(&mut run, PartKind::Deploy, PartStatus::Succeeded, message);
        self.deployed(run);
    }

    /// R3/R4: the run succeeded: the stage now runs the release, which flows on.
    pub(super) fn succeed_run(&mut self, mut run: Run) {
        run.status = RunStatus::Succeeded;
        // Now, unless it ended elsewhere (a teammate's run followed here).
        run.finished_at = Some(run.finished_at.unwrap_or(self.now));
        self.put_run(&run);
        self.event(PipelineEvent::RunFinished { run: run.clone() });
        let mut flow = self.s.flow(run.stage_id);
        flow.deployed = Some(run.release_id);
        self.put_flow(flow);
        // R19: what a rollback after the next release would redeploy.
        if run.image.is_some() {
            let mut service = self.s.service(run.stage_id);
            service.deployed_image = run.image.clone();
            self.put_service(run.stage_id, service);
        }
        // A new stage's first run and a rollback stay where they are (R7),
        // and so does a retry of one (R17).
        let flows_on = match run.trigger {
            RunTrigger::Flow => true,
            RunTrigger::Retry { flows_on, .. } => flows_on,
            RunTrigger::NewStage | RunTrigger::Redeploy { .. } | RunTrigger::Rollback { .. } => {
                false
            }
        };
        if flows_on {
            if let Some(next) = self.next_stage(run.stage_id) {
                self.arrive(next, run.release_id);
            }
        }
        self.stage_freed(run.stage_id);
    }

    /// R4: a failed part fails the run; the release goes no further.
    pub fn fail_run(&mut self, mut run: Run, kind: PartKind, message: String) {
        self.end_part(&mut run, kind, PartStatus::Failed, Some(message));
        run.status = RunStatus::Failed;
        run.finished_at = Some(self.now);
        self.put_run(&run);
        let stage_id = run.stage_id;
        self.event(PipelineEvent::RunFinished { run: run.clone() });
        // R19: a failed verification rolls the stage back before anything
        // waiting may enter it.
        if kind == PartKind::Verify {
            self.roll_back(&run);
        }
        self.stage_freed(stage_id);
    }

    /// R9: stops a stage's run. A build shared with another run keeps going.
    pub fn cancel_run(&mut self, mut run: Run) {
        if let Some(kind) = run.running_part() {
            self.end_part(
                &mut run,
                kind,
                PartStatus::Cancelled,
                Some("Cancelled".to_string()),
            );
        }
        run.status = RunStatus::Cancelled;
        run.finished_at = Some(self.now);
        self.put_run(&run);
        self.effect(Effect::CancelRun(run.id));
        if run.part(PartKind::Build).status == PartStatus::Cancelled
            && !self.build_under_way(run.release_id)
        {
            self.effect(Effect::CancelBuild(run.release_id));
        }
        self.event(PipelineEvent::RunFinished { run });
    }

    /// R16: a free stage takes the release waiting for it.
    pub fn stage_freed(&mut self, stage_id: StageId) {
        let flow = self.s.flow(stage_id);
        let active = self.s.stages.get(&stage_id).is_some_and(|s| s.is_active());
        let idle = self.s.running_at(stage_id).is_none();
        // R21: a frozen stage, or one outside its deploy window, keeps holding it.
        if flow.waiting.is_some() && active && idle && self.held(stage_id) {
            self.wake_when_window_opens(stage_id);
            return;
        }
        if let (Some(waiting), true, true) = (flow.waiting, active, idle) {
            self.put_flow(StageFlow {
                waiting: None,
                ..flow
            });
            self.start_run(stage_id, waiting, RunTrigger::Flow);
        }
    }

    /// The stage after `stage_id` in its stack's flow.
    pub fn next_stage(&self, stage_id: StageId) -> Option<StageId> {
        let stack = self.s.stages.get(&stage_id)?.stack_id;
        let flow = self.s.flow_of(stack);
        let index = flow.iter().position(|s| s.id == stage_id)?;
        flow.get(index + 1).map(|s| s.id)
    }

    /// R5: decides a pending approval.
    pub fn decide(&mut self, mut approval: Approval, approve: bool, decision: Decision) {
        approval.status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        approval.decision = Some(decision);
        self.put_approval(&approval);
        self.event(PipelineEvent::ApprovalDecided {
            approval: approval.clone(),
        });
        if approve {
            self.enter(approval.stage_id, approval.release_id);
        }
    }

    /// A release the flow has not seen yet, entering the stack's first stage.
    pub fn new_release(&mut self, release: Release) {
        self.put_release(&release);
        self.event(PipelineEvent::ReleaseCreated {
            release: release.clone(),
        });
        if let Some(first) = self.s.flow_of(release.stack_id).first().map(|s| s.id) {
            self.arrive(first, release.id);
        }
    }
}
