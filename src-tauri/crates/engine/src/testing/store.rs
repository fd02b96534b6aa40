//! The Store port in memory, with the same rules as the SQLite store.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::domain::{Account, Approval, ApprovalStatus, Release, Run, RunStatus, Stack, Stage};
use crate::error::{PortError, System};
use crate::ids::{AccountId, ApprovalId, ReleaseId, RunId, StackId, StageId};
use crate::ports::{BoxFuture, Change, DeployedRelease, Request, Snapshot, StageFlow, Store};
use crate::verification::{Freeze, StageService};

#[derive(Default, Clone)]
struct Data {
    accounts: BTreeMap<AccountId, Account>,
    stacks: BTreeMap<StackId, Stack>,
    stages: BTreeMap<StageId, Stage>,
    flows: BTreeMap<StageId, StageFlow>,
    releases: BTreeMap<ReleaseId, Release>,
    runs: BTreeMap<RunId, Run>,
    approvals: BTreeMap<ApprovalId, Approval>,
    requests: BTreeMap<(StageId, &'static str), Request>,
    freezes: BTreeMap<(StackId, Option<StageId>), Freeze>,
    services: BTreeMap<StageId, StageService>,
    /// The highest id ever written, also of rows deleted since.
    id_floor: i64,
}

impl Data {
    /// The highest id of any row, as the SQLite store computes it.
    fn highest_id(&self) -> i64 {
        let ids = [
            self.accounts.keys().map(|k| k.0).max(),
            self.stacks.keys().map(|k| k.0).max(),
            self.stages.keys().map(|k| k.0).max(),
            self.releases.keys().map(|k| k.0).max(),
            self.runs.keys().map(|k| k.0).max(),
            self.approvals.keys().map(|k| k.0).max(),
            Some(self.id_floor),
        ];
        ids.into_iter().flatten().max().unwrap_or(0)
    }
}

/// Pipeline state in memory.
#[derive(Default)]
pub struct MemStore {
    data: Mutex<Data>,
    fail_next_apply: AtomicBool,
    applies: AtomicUsize,
}

impl MemStore {
    /// Makes the next `apply` fail (as a full disk would).
    pub fn fail_next_apply(&self) {
        self.fail_next_apply.store(true, Ordering::SeqCst);
    }

    /// How many transitions were written.
    pub fn applies(&self) -> usize {
        self.applies.load(Ordering::SeqCst)
    }

    /// Every run ever written.
    pub fn runs(&self) -> Vec<Run> {
        self.data.lock().unwrap().runs.values().cloned().collect()
    }

    /// Every release ever written (of stacks that still exist).
    pub fn releases(&self) -> Vec<Release> {
        self.data
            .lock()
            .unwrap()
            .releases
            .values()
            .cloned()
            .collect()
    }

    /// Every approval ever written.
    pub fn approvals(&self) -> Vec<Approval> {
        self.data
            .lock()
            .unwrap()
            .approvals
            .values()
            .cloned()
            .collect()
    }

    /// Every requested effect without its result.
    pub fn requests(&self) -> Vec<Request> {
        self.data
            .lock()
            .unwrap()
            .requests
            .values()
            .copied()
            .collect()
    }

    /// Every stage, in position order.
    pub fn stages(&self) -> Vec<Stage> {
        let mut stages: Vec<Stage> = self.data.lock().unwrap().stages.values().cloned().collect();
        stages.sort_by_key(|s| (s.stack_id, s.position));
        stages
    }

    /// Adds `count` finished runs of one release at one stage, as history.
    pub fn add_history(&self, stage: &Stage, release: &Release, count: usize, first_id: i64) {
        let mut data = self.data.lock().unwrap();
        data.releases.insert(release.id, release.clone());
        for n in 0..count {
            let id = RunId(first_id + n as i64);
            data.runs.insert(
                id,
                Run {
                    id,
                    stack_id: stage.stack_id,
                    stage_id: stage.id,
                    release_id: release.id,
                    status: RunStatus::Succeeded,
                    trigger: crate::domain::RunTrigger::Flow,
                    parts: Vec::new(),
                    created_at: 0,
                    finished_at: Some(0),
                    image: None,
                    build_access: None,
                    followed_from: None,
                },
            );
        }
    }
}

fn apply_change(data: &mut Data, change: Change) {
    let written = match &change {
        Change::PutAccount(a) => Some(a.id.0),
        Change::PutStack(s) => Some(s.id.0),
        Change::InsertStage(s) | Change::PutStage(s) => Some(s.id.0),
        Change::PutRelease(r) => Some(r.id.0),
        Change::PutRun(r) => Some(r.id.0),
        Change::PutApproval(a) => Some(a.id.0),
        _ => None,
    };
    data.id_floor = data.id_floor.max(written.unwrap_or(0));
    match change {
        Change::PutAccount(a) => {
            data.accounts.insert(a.id, a);
        }
        Change::DeleteAccount(id) => {
            data.accounts.remove(&id);
        }
        Change::PutStack(s) => {
            data.stacks.insert(s.id, s);
        }
        Change::DeleteStack(id) => {
            data.stacks.remove(&id);
            let stages = &data.stages;
            data.requests
                .retain(|(stage, _), _| stages.get(stage).is_some_and(|s| s.stack_id != id));
            data.stages.retain(|_, s| s.stack_id != id);
            let stages = &data.stages;
            data.runs.retain(|_, r| r.stack_id != id);
            data.approvals.retain(|_, a| a.stack_id != id);
            data.releases.retain(|_, r| r.stack_id != id);
            data.freezes.retain(|(stack, _), _| *stack != id);
            data.services.retain(|stage, _| stages.contains_key(stage));
        }
        Change::InsertStage(stage) => {
            for other in data.stages.values_mut() {
                if other.stack_id == stage.stack_id && other.position >= stage.position {
                    other.position += 1;
                }
            }
            data.stages.insert(stage.id, stage);
        }
        Change::PutStage(stage) => {
            let position = data
                .stages
                .get(&stage.id)
                .map(|s| s.position)
                .unwrap_or(stage.position);
            data.stages.insert(stage.id, Stage { position, ..stage });
        }
        Change::RemoveStage(id) => {
            if let Some(gone) = data.stages.remove(&id) {
                for other in data.stages.values_mut() {
                    if other.stack_id == gone.stack_id && other.position > gone.position {
                        other.position -= 1;
                    }
                }
            }
            data.flows.remove(&id);
            data.requests.retain(|(stage, _), _| *stage != id);
            data.freezes.retain(|(_, stage), _| *stage != Some(id));
            data.services.remove(&id);
        }
        Change::PutFlow(f) => {
            data.flows.insert(f.stage_id, f);
        }
        Change::PutRelease(r) => {
            data.releases.insert(r.id, r);
        }
        Change::PutRun(r) => {
            data.runs.insert(r.id, r);
        }
        Change::PutApproval(a) => {
            data.approvals.insert(a.id, a);
        }
        Change::PutRequest(r) => {
            data.requests.insert((r.stage_id(), r.kind()), r);
        }
        Change::ClearRequest(r) => {
            data.requests.remove(&(r.stage_id(), r.kind()));
        }
        Change::PutFreeze(f) => {
            data.freezes.insert((f.stack_id, f.stage_id), f);
        }
        Change::ClearFreeze { stack_id, stage_id } => {
            data.freezes.remove(&(stack_id, stage_id));
        }
        Change::PutService { stage_id, service } => {
            data.services.insert(stage_id, service);
        }
    }
}

impl Store for MemStore {
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, PortError>> {
        let data = self.data.lock().unwrap().clone();
        Box::pin(async move {
            let active_runs: Vec<Run> = data
                .runs
                .values()
                .filter(|r| !r.status.is_finished())
                .cloned()
                .collect();
            let mut latest: BTreeMap<StageId, Run> = BTreeMap::new();
            // A superseded release never ran: it is not a stage's latest run.
            for run in data.runs.values().filter(|r| {
                data.stages.contains_key(&r.stage_id) && r.status != RunStatus::Superseded
            }) {
                latest.insert(run.stage_id, run.clone());
            }
            let pending_approvals: Vec<Approval> = data
                .approvals
                .values()
                .filter(|a| a.status == ApprovalStatus::Pending)
                .cloned()
                .collect();
            let mut wanted: Vec<ReleaseId> = Vec::new();
            wanted.extend(
                data.flows
                    .values()
                    .flat_map(|f| [f.deployed, f.waiting])
                    .flatten(),
            );
            wanted.extend(active_runs.iter().map(|r| r.release_id));
            wanted.extend(latest.values().map(|r| r.release_id));
            wanted.extend(pending_approvals.iter().map(|a| a.release_id));
            for stack in data.stacks.keys() {
                if let Some(newest) = data
                    .releases
                    .values()
                    .filter(|r| r.stack_id == *stack)
                    .map(|r| r.id)
                    .max()
                {
                    wanted.push(newest);
                }
            }
            wanted.sort();
            wanted.dedup();
            Ok(Snapshot {
                accounts: data.accounts.values().cloned().collect(),
                stacks: data.stacks.values().cloned().collect(),
                stages: data.stages.values().cloned().collect(),
                flows: data.flows.values().copied().collect(),
                releases: wanted
                    .iter()
                    .filter_map(|id| data.releases.get(id).cloned())
                    .collect(),
                active_runs,
                latest_runs: latest.into_values().collect(),
                pending_approvals,
                requests: data.requests.values().copied().collect(),
                freezes: data.freezes.values().cloned().collect(),
                services: data
                    .services
                    .iter()
                    .map(|(id, s)| (*id, s.clone()))
                    .collect(),
                highest_id: data.highest_id(),
            })
        })
    }

    fn apply(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<(), PortError>> {
        let result = if self.fail_next_apply.swap(false, Ordering::SeqCst) {
            Err(PortError::new(System::Store, "The disk is full."))
        } else {
            // In memory nothing can fail half-way: the changes apply as one.
            let mut data = self.data.lock().unwrap();
            for change in changes {
                apply_change(&mut data, change);
            }
            self.applies.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        Box::pin(async move { result })
    }

    fn approval(&self, id: ApprovalId) -> BoxFuture<'_, Result<Option<Approval>, PortError>> {
        let found = self.data.lock().unwrap().approvals.get(&id).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn release_of_commit(
        &self,
        stack: StackId,
        sha: &str,
    ) -> BoxFuture<'_, Result<Option<Release>, PortError>> {
        let data = self.data.lock().unwrap();
        let found = data
            .releases
            .values()
            .filter(|r| r.stack_id == stack && r.commit.sha == sha)
            .max_by_key(|r| r.id)
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn deployed_release(
        &self,
        stage: StageId,
        release: ReleaseId,
    ) -> BoxFuture<'_, Result<Option<DeployedRelease>, PortError>> {
        let data = self.data.lock().unwrap();
        let newest_success = data
            .runs
            .values()
            .filter(|r| {
                r.stage_id == stage && r.release_id == release && r.status == RunStatus::Succeeded
            })
            .max_by_key(|r| r.id);
        let found = newest_success.and_then(|run| {
            Some(DeployedRelease {
                release: data.releases.get(&release)?.clone(),
                image: run.image.clone(),
            })
        });
        Box::pin(async move { Ok(found) })
    }
}
