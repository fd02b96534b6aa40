//! The invariants the SPEC implies, checked on every transition's events
//! and effects and after every step.

use std::collections::{BTreeMap, HashMap, HashSet};

use stageline_engine::flow::{Effect, FlowState};
use stageline_engine::ports::Store;
use stageline_engine::testing::MemStore;
use stageline_engine::*;

use super::harness::{build_of, run_of, Harness, STACK};

/// What the checks remember across steps (and across restarts).
#[derive(Default)]
pub struct Checker {
    /// Every id ever written, and the highest.
    ids: HashSet<i64>,
    highest: i64,
    /// (stage, release) pairs that reached the stage through the flow.
    arrived: HashSet<(StageId, ReleaseId)>,
    /// (stage, release) pairs superseded or rejected there.
    refused: HashSet<(StageId, ReleaseId)>,
    /// Every approval as last seen, and the decisions users made.
    approvals: BTreeMap<ApprovalId, Approval>,
    expected: HashMap<ApprovalId, (ApprovalStatus, Decision)>,
    /// Runs that had finished: they never change again.
    finished: BTreeMap<RunId, Run>,
    /// Whether a run's release flows on when it succeeds, as the model sees
    /// it: a flow run does, a new stage's first run and a redeploy do not,
    /// and a retry does what the run it retried did (R7, R17).
    flows: HashMap<RunId, bool>,
    /// The step at which a stage was last switched to manual approval.
    manual_since: HashMap<StageId, usize>,
}

fn flows_on(trigger: &RunTrigger) -> bool {
    matches!(trigger, RunTrigger::Flow)
}

impl Checker {
    /// A user decides `approval`: it must end exactly so.
    pub fn expect_decision(&mut self, approval: ApprovalId, approve: bool, decision: &Decision) {
        let status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        self.expected.insert(approval, (status, decision.clone()));
    }

    /// R6: from this step on, what waits at the stage needs a decision.
    pub fn switched_to_manual(&mut self, stage: StageId, step: usize) {
        self.manual_since.insert(stage, step);
    }

    /// R6: a release queued at a stage that requires approval was approved
    /// there by someone since the stage last became manual.
    fn queued_at_a_gate_was_approved(
        &self,
        stage: &Stage,
        waiting: ReleaseId,
    ) -> Result<(), String> {
        if !stage.settings.requires_approval {
            return Ok(());
        }
        let since = self.manual_since.get(&stage.id).copied().unwrap_or(0);
        let approved = self.approvals.values().any(|a| {
            a.stage_id == stage.id
                && a.release_id == waiting
                && self.expected.get(&a.id).is_some_and(|(status, d)| {
                    *status == ApprovalStatus::Approved && d.at as usize >= since
                })
        });
        if approved {
            Ok(())
        } else {
            Err(format!(
                "release {waiting} is queued at {}, which requires approval, without being approved there (R6)",
                stage.settings.name
            ))
        }
    }

    /// R2/R7/R16/R17, on one transition's events.
    pub fn events(
        &mut self,
        events: &[PipelineEvent],
        state: &FlowState,
        store: &MemStore,
    ) -> Result<(), String> {
        for event in events {
            match event {
                PipelineEvent::ApprovalRequested { approval, .. } => {
                    self.arrival(approval.stage_id, approval.release_id, state, store)?;
                }
                PipelineEvent::ReleaseQueued {
                    release_id,
                    stage_id,
                } => self.arrival(*stage_id, *release_id, state, store)?,
                PipelineEvent::RunStarted { run } => {
                    let key = (run.stage_id, run.release_id);
                    let flows = match &run.trigger {
                        RunTrigger::Flow => true,
                        RunTrigger::NewStage
                        | RunTrigger::Redeploy { .. }
                        | RunTrigger::Rollback { .. } => false,
                        RunTrigger::Retry { .. } => {
                            // The run it retried: the stage's run before this one.
                            let retried = store
                                .runs()
                                .into_iter()
                                .filter(|r| {
                                    r.stage_id == run.stage_id
                                        && r.id < run.id
                                        && r.status != RunStatus::Superseded
                                })
                                .max_by_key(|r| r.id);
                            retried
                                .and_then(|r| self.flows.get(&r.id).copied())
                                .ok_or_else(|| format!("run {} retries no known run", run.id))?
                        }
                    };
                    self.flows.insert(run.id, flows);
                    if flows_on(&run.trigger) {
                        self.arrival(run.stage_id, run.release_id, state, store)?;
                    }
                    if matches!(run.trigger, RunTrigger::Flow | RunTrigger::NewStage) {
                        if self.refused.contains(&key) {
                            return Err(format!(
                                "release {} runs at stage {} where it was superseded or rejected",
                                run.release_id, run.stage_id
                            ));
                        }
                        let again = store.runs().into_iter().filter(|r| {
                            (r.stage_id, r.release_id) == key
                                && r.status != RunStatus::Superseded
                                && matches!(r.trigger, RunTrigger::Flow | RunTrigger::NewStage)
                        });
                        if again.count() > 1 {
                            return Err(format!(
                                "release {} runs a second time at stage {} without a retry or redeploy",
                                run.release_id, run.stage_id
                            ));
                        }
                    }
                }
                PipelineEvent::ReleaseSuperseded {
                    release_id,
                    stage_id,
                    ..
                } => {
                    self.refused.insert((*stage_id, *release_id));
                }
                PipelineEvent::ApprovalDecided { approval }
                    if approval.status == ApprovalStatus::Rejected =>
                {
                    self.refused
                        .insert((approval.stage_id, approval.release_id));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A release first reaches a stage through the flow: only at the first
    /// stage, or after it succeeded at the stage before.
    fn arrival(
        &mut self,
        stage: StageId,
        release: ReleaseId,
        state: &FlowState,
        store: &MemStore,
    ) -> Result<(), String> {
        if !self.arrived.insert((stage, release)) {
            return Ok(());
        }
        let Some(previous) = state.previous_stage(stage) else {
            return Ok(());
        };
        let succeeded = store.runs().into_iter().any(|r| {
            r.stage_id == previous.id
                && r.release_id == release
                && r.status == RunStatus::Succeeded
                && self.flows.get(&r.id) == Some(&true)
        });
        if succeeded {
            Ok(())
        } else {
            Err(format!(
                "release {release} reached stage {stage} without a run at {} before it that flows on",
                previous.settings.name
            ))
        }
    }

    /// No succeeded part runs again (R3, R17): a built release is not built
    /// again, a release part that succeeded does not run again, a deploy AWS
    /// completed is not asked for again.
    pub fn effect_started(
        &self,
        effect: &Effect,
        store: &MemStore,
        deploys: &HashMap<RunId, u32>,
    ) -> Result<(), String> {
        if let Some(release) = build_of(effect) {
            let built = store
                .releases()
                .into_iter()
                .any(|r| r.id == release && r.artifact.is_some());
            if built {
                return Err(format!("release {release} is built a second time"));
            }
        }
        if let (Effect::Release { run, .. }, Some(stored)) = (
            effect,
            store
                .runs()
                .into_iter()
                .find(|r| Some(r.id) == run_of(effect)),
        ) {
            if stored.part(PartKind::Release).status == PartStatus::Succeeded {
                return Err(format!("release.yml of run {} runs again", run.id));
            }
        }
        if let Effect::Deploy { run, .. } = effect {
            if deploys.get(&run.id).is_some_and(|n| *n > 0) {
                return Err(format!("run {} is deployed a second time", run.id));
            }
        }
        Ok(())
    }

    /// Every invariant of a settled step.
    pub async fn after_step(&mut self, h: &Harness) -> Result<(), String> {
        let store = &h.world.store;
        let state = h.state();
        self.memory_is_the_store(h).await?;
        self.ids_only_go_up(store)?;
        let runs = store.runs();
        let mut running: HashMap<StageId, &Run> = HashMap::new();
        for run in runs.iter().filter(|r| r.status == RunStatus::Running) {
            if running.insert(run.stage_id, run).is_some() {
                return Err(format!(
                    "stage {} runs two releases at once (R16)",
                    run.stage_id
                ));
            }
            let active = state.stage(run.stage_id).is_some_and(|s| s.is_active());
            if !active {
                return Err(format!(
                    "run {} goes on at a stage that left the flow",
                    run.id
                ));
            }
            let behind = h.pending.iter().any(|e| match run.running_part() {
                Some(PartKind::Build) => build_of(e) == Some(run.release_id),
                _ => run_of(e) == Some(run.id),
            });
            if !behind {
                return Err(format!(
                    "run {} is in its {:?} part with nothing running behind it",
                    run.id,
                    run.running_part()
                ));
            }
        }
        for stage in state.stages_of(STACK) {
            let flow = state.flow(stage.id);
            if let Some(waiting) = flow.waiting {
                let busy = running.get(&stage.id).map(|r| r.release_id);
                if busy.is_none_or(|r| r >= waiting) {
                    return Err(format!(
                        "release {waiting} waits at stage {} which does not run an older one (R16)",
                        stage.settings.name
                    ));
                }
            }
        }
        let pending: Vec<&Approval> = state.pending_approvals().collect();
        let mut gates = HashSet::new();
        for approval in &pending {
            if !gates.insert(approval.stage_id) {
                return Err(format!(
                    "two releases wait at one gate ({})",
                    approval.stage_id
                ));
            }
        }
        let positions: Vec<u32> = store
            .stages()
            .iter()
            .filter(|s| s.stack_id == STACK)
            .map(|s| s.position)
            .collect();
        if positions != (0..positions.len() as u32).collect::<Vec<_>>() {
            return Err(format!("stage positions have a gap: {positions:?} (R1)"));
        }
        if state.flow_of(STACK).is_empty() {
            return Err("the stack has no stage left in its flow (R9)".into());
        }
        for (run, count) in &h.world.deploys {
            if *count > 1 {
                return Err(format!("run {run} was deployed {count} times"));
            }
        }
        self.approvals_are_kept(store)?;
        for stage in state.stages_of(STACK) {
            if let Some(waiting) = state.flow(stage.id).waiting {
                self.queued_at_a_gate_was_approved(stage, waiting)?;
            }
        }
        self.finished_runs_never_change(&runs)
    }

    /// The live state is exactly what the store says (memory never runs ahead).
    async fn memory_is_the_store(&self, h: &Harness) -> Result<(), String> {
        let snapshot = h.world.store.load().await.map_err(|e| e.to_string())?;
        let reloaded = FlowState::from_snapshot(snapshot);
        let view = |s: &FlowState| {
            let stages: Vec<_> = s
                .stages_of(STACK)
                .into_iter()
                .map(|st| {
                    (
                        st.clone(),
                        s.flow(st.id),
                        s.latest_run(st.id).cloned(),
                        s.pending_at(st.id).cloned(),
                    )
                })
                .collect();
            let runs: Vec<Run> = s.active_runs().cloned().collect();
            let requests: Vec<_> = s.requests().copied().collect();
            let newest = s.newest_release_of(STACK).cloned();
            (stages, runs, requests, newest)
        };
        if view(h.state()) != view(&reloaded) {
            return Err(format!(
                "the engine's memory differs from its store:\nmemory {:#?}\nstore {:#?}",
                view(h.state()),
                view(&reloaded)
            ));
        }
        Ok(())
    }

    /// R17: every new row's id is above every id before it.
    fn ids_only_go_up(&mut self, store: &MemStore) -> Result<(), String> {
        let mut ids: Vec<i64> = Vec::new();
        ids.extend(store.releases().iter().map(|r| r.id.0));
        ids.extend(store.runs().iter().map(|r| r.id.0));
        ids.extend(store.approvals().iter().map(|a| a.id.0));
        ids.extend(store.stages().iter().map(|s| s.id.0));
        let mut new: Vec<i64> = ids
            .into_iter()
            .filter(|id| !self.ids.contains(id))
            .collect();
        new.sort();
        if let Some(lowest) = new.first() {
            if *lowest <= self.highest {
                return Err(format!(
                    "a new row has id {lowest}, not above the highest before it ({})",
                    self.highest
                ));
            }
            self.highest = *new.last().unwrap();
        }
        self.ids.extend(new);
        Ok(())
    }

    /// R5/R17: no approval is lost or decided twice; every decision keeps
    /// who, when, comment and where from.
    fn approvals_are_kept(&mut self, store: &MemStore) -> Result<(), String> {
        let now: BTreeMap<ApprovalId, Approval> =
            store.approvals().into_iter().map(|a| (a.id, a)).collect();
        for (id, before) in &self.approvals {
            let Some(after) = now.get(id) else {
                return Err(format!("approval {id} was lost"));
            };
            if before.status != ApprovalStatus::Pending && after != before {
                return Err(format!(
                    "approval {id} changed after its decision: {before:?} → {after:?}"
                ));
            }
        }
        for (id, approval) in &now {
            if let Some((status, decision)) = self.expected.get(id) {
                if approval.status != *status || approval.decision.as_ref() != Some(decision) {
                    return Err(format!(
                        "approval {id} does not keep its decision: {approval:?}, expected {status:?} {decision:?}"
                    ));
                }
            }
            let decided = matches!(
                approval.status,
                ApprovalStatus::Approved | ApprovalStatus::Rejected
            );
            if decided != approval.decision.is_some() {
                return Err(format!(
                    "approval {id} is {:?} with decision {:?}",
                    approval.status, approval.decision
                ));
            }
        }
        self.approvals = now;
        Ok(())
    }

    fn finished_runs_never_change(&mut self, runs: &[Run]) -> Result<(), String> {
        for run in runs {
            match self.finished.get(&run.id) {
                Some(before) if before != run => {
                    return Err(format!(
                        "finished run {} changed: {before:?} → {run:?}",
                        run.id
                    ))
                }
                None if run.status.is_finished() => {
                    self.finished.insert(run.id, run.clone());
                }
                _ => {}
            }
        }
        Ok(())
    }
}
