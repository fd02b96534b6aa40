//! Fakes of the outside world: a clock that moves when told, a branch, a
//! builder and a deployer that can be held, failed and counted.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::domain::{Account, Commit, PartKind, Stack, Stage};
use crate::error::{PortError, System};
use crate::events::PipelineEvent;
use crate::ids::{Millis, ReleaseId, RunId, StackId};
use crate::ports::{
    BoxFuture, BuildJob, Builder, CheckoutOptions, CheckoutReport, Clock, DeployJob, DeployOutcome,
    DeployedState, Deployer, Events, LogSink, Logs, Secrets, Source, StageFacts,
};

/// A clock at a fixed time, with ids counting up from 1,000.
pub struct FixedClock {
    now: AtomicI64,
    next_id: AtomicI64,
}

impl Default for FixedClock {
    fn default() -> Self {
        FixedClock {
            now: AtomicI64::new(1_700_000_000_000),
            next_id: AtomicI64::new(1000),
        }
    }
}

impl FixedClock {
    /// Moves the clock on.
    pub fn advance(&self, ms: Millis) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }

    fn new_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }
}

/// Named gates a fake operation waits at while they are held.
#[derive(Default)]
struct Gates {
    gates: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl Gates {
    fn sender(&self, name: &str) -> watch::Sender<bool> {
        self.gates
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .clone()
    }

    fn hold(&self, name: &str) {
        self.sender(name).send_replace(true);
    }

    fn release(&self, name: &str) {
        self.sender(name).send_replace(false);
    }
}

/// A branch per stack; checkouts write a marker file.
#[derive(Default)]
pub struct FakeSource {
    heads: Mutex<HashMap<StackId, Commit>>,
    checkouts: Mutex<Vec<(StackId, String)>>,
}

impl FakeSource {
    /// Sets a stack's branch head.
    pub fn set_head(&self, stack: StackId, commit: Commit) {
        self.heads.lock().unwrap().insert(stack, commit);
    }

    /// How many checkouts were made.
    pub fn checkouts(&self) -> usize {
        self.checkouts.lock().unwrap().len()
    }
}

impl Source for FakeSource {
    fn head(&self, stack: &Stack) -> BoxFuture<'_, Result<Commit, PortError>> {
        let head = self.heads.lock().unwrap().get(&stack.id).cloned();
        Box::pin(async move {
            head.ok_or_else(|| PortError::new(System::Git, "The branch has no commits."))
        })
    }

    fn checkout(
        &self,
        stack: &Stack,
        sha: &str,
        dir: PathBuf,
        _options: CheckoutOptions,
    ) -> BoxFuture<'_, Result<CheckoutReport, PortError>> {
        self.checkouts
            .lock()
            .unwrap()
            .push((stack.id, sha.to_string()));
        Box::pin(async move {
            std::fs::create_dir_all(&dir)
                .map_err(|e| PortError::new(System::Git, e.to_string()))?;
            Ok(CheckoutReport {
                files: 0,
                elapsed: std::time::Duration::ZERO,
                details: Vec::new(),
            })
        })
    }
}

/// One call of the fake builder.
#[derive(Debug, Clone)]
pub struct BuilderCall {
    pub part: PartKind,
    pub sha: String,
    pub stage: String,
    pub injected: Vec<(String, String)>,
}

/// Runs nothing; records calls. Builds of a held sha wait; failing shas fail.
#[derive(Default)]
pub struct FakeBuilder {
    calls: Mutex<Vec<BuilderCall>>,
    failing: Mutex<HashSet<(PartKind, String)>>,
    gates: Gates,
}

impl FakeBuilder {
    /// Makes `part` fail for the commit `sha`.
    pub fn fail(&self, part: PartKind, sha: &str) {
        self.failing.lock().unwrap().insert((part, sha.to_string()));
    }

    /// Lets every part succeed again.
    pub fn heal(&self) {
        self.failing.lock().unwrap().clear();
    }

    /// Holds `part` (for any commit) until released.
    pub fn hold(&self, part: PartKind) {
        self.gates.hold(part.as_str());
    }

    pub fn release(&self, part: PartKind) {
        self.gates.release(part.as_str());
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<BuilderCall> {
        self.calls.lock().unwrap().clone()
    }

    /// How many times `part` ran.
    pub fn count(&self, part: PartKind) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.part == part)
            .count()
    }
}

impl Builder for FakeBuilder {
    fn run(
        &self,
        job: BuildJob,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let lookup = |name: &str| {
            job.injected
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let call = BuilderCall {
            part: job.part,
            sha: lookup("COMMIT_SHA"),
            stage: lookup("STAGE_NAME"),
            injected: job.injected.clone(),
        };
        let fails = self
            .failing
            .lock()
            .unwrap()
            .contains(&(call.part, call.sha.clone()));
        let gate = self.gates.sender(call.part.as_str());
        self.calls.lock().unwrap().push(call.clone());
        Box::pin(async move {
            let mut receiver = gate.subscribe();
            let _ = receiver.wait_for(|held| !held).await;
            log.line(&format!(
                "{} of {} at {}",
                call.part.as_str(),
                &call.sha[..7.min(call.sha.len())],
                call.stage
            ));
            if fails {
                Err(PortError::new(
                    System::Build,
                    format!(
                        "{}.yml: phase BUILD failed: command `make` exited with code 2",
                        call.part.as_str()
                    ),
                ))
            } else {
                Ok(())
            }
        })
    }
}

/// Deploys nothing; remembers what each stage runs. Deploys to a held stage
/// name wait; failing stage names fail.
#[derive(Default)]
pub struct FakeDeployer {
    deploys: Arc<Mutex<Vec<(String, ReleaseId)>>>,
    running: Arc<Mutex<HashMap<String, ReleaseId>>>,
    failing: Mutex<HashSet<String>>,
    scales: Mutex<Vec<(String, u32)>>,
    deleted: Mutex<Vec<String>>,
    failing_deletes: Mutex<HashSet<String>>,
    gates: Gates,
}

impl FakeDeployer {
    /// Holds deploys to the stage `name` until released.
    pub fn hold(&self, name: &str) {
        self.gates.hold(name);
    }

    pub fn release(&self, name: &str) {
        self.gates.release(name);
    }

    /// Makes deploys to the stage `name` fail.
    pub fn fail(&self, name: &str) {
        self.failing.lock().unwrap().insert(name.to_string());
    }

    /// Makes deleting the stage `name` fail (or succeed again with `false`).
    pub fn fail_delete(&self, name: &str, fail: bool) {
        let mut set = self.failing_deletes.lock().unwrap();
        if fail {
            set.insert(name.to_string());
        } else {
            set.remove(name);
        }
    }

    /// Every deploy that completed: (stage name, release).
    pub fn deploys(&self) -> Vec<(String, ReleaseId)> {
        self.deploys.lock().unwrap().clone()
    }

    /// What each stage name runs now.
    pub fn running(&self) -> HashMap<String, ReleaseId> {
        self.running.lock().unwrap().clone()
    }

    /// Every scale call: (stage name, count).
    pub fn scales(&self) -> Vec<(String, u32)> {
        self.scales.lock().unwrap().clone()
    }

    /// Pretends AWS finished deploying `release` to the stage `name` (a deploy
    /// that completed while Stageline was not running).
    pub fn pretend_deployed(&self, name: &str, release: ReleaseId) {
        self.running
            .lock()
            .unwrap()
            .insert(name.to_string(), release);
    }

    /// Every stage whose stack was deleted.
    pub fn deleted(&self) -> Vec<String> {
        self.deleted.lock().unwrap().clone()
    }
}

impl Deployer for FakeDeployer {
    fn stage_facts(&self, _account: &Account, stack: &Stack, stage: &Stage) -> StageFacts {
        let region = &stage.settings.region;
        let name = format!("{}-{}", stack.name, stage.settings.name);
        StageFacts {
            ecr_endpoint: format!("000000000000.dkr.ecr.{region}.amazonaws.com"),
            ecr_image_url: format!("000000000000.dkr.ecr.{region}.amazonaws.com/{}", stack.name),
            cluster_arn: format!("arn:aws:ecs:{region}:000000000000:cluster/{name}"),
            service_name: name.clone(),
            s3_bucket: format!("{name}-000000000000"),
        }
    }

    fn deploy(
        &self,
        job: DeployJob,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<DeployOutcome, PortError>> {
        let name = job.stage.settings.name.clone();
        let fails = self.failing.lock().unwrap().contains(&name);
        let gate = self.gates.sender(&name);
        let running = self.running.clone();
        let deploys = self.deploys.clone();
        Box::pin(async move {
            let mut receiver = gate.subscribe();
            let _ = receiver.wait_for(|held| !held).await;
            if fails {
                log.line("Service UPDATE_FAILED");
                return Err(PortError::new(
                    System::Aws,
                    "Service (AWS::ECS::Service) UPDATE_FAILED: the tasks did not start; the stack rolled back to its previous version",
                ));
            }
            running.lock().unwrap().insert(name.clone(), job.release.id);
            deploys.lock().unwrap().push((name, job.release.id));
            log.line("UPDATE_COMPLETE");
            Ok(DeployOutcome::Deployed)
        })
    }

    fn reconcile(
        &self,
        job: DeployJob,
        _log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<DeployedState, PortError>> {
        let runs_it =
            self.running.lock().unwrap().get(&job.stage.settings.name) == Some(&job.release.id);
        Box::pin(async move {
            Ok(if runs_it {
                DeployedState::Deployed
            } else {
                DeployedState::NotDeployed
            })
        })
    }

    fn scale(
        &self,
        _account: Account,
        _stack: Stack,
        stage: Stage,
        count: u32,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        self.scales
            .lock()
            .unwrap()
            .push((stage.settings.name, count));
        Box::pin(async { Ok(()) })
    }

    fn delete_stage(
        &self,
        _account: Account,
        _stack: Stack,
        stage: Stage,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let name = stage.settings.name;
        let fails = self.failing_deletes.lock().unwrap().contains(&name);
        if !fails {
            self.deleted.lock().unwrap().push(name.clone());
            self.running.lock().unwrap().remove(&name);
        }
        Box::pin(async move {
            if fails {
                Err(PortError::new(
                    System::Aws,
                    format!("Stack DELETE_FAILED: the bucket of {name} is not empty"),
                ))
            } else {
                Ok(())
            }
        })
    }
}

/// Secret values by keychain reference.
#[derive(Default)]
pub struct MemSecrets {
    values: Mutex<HashMap<String, String>>,
}

impl MemSecrets {
    pub fn put(&self, reference: &str, value: &str) {
        self.values
            .lock()
            .unwrap()
            .insert(reference.to_string(), value.to_string());
    }
}

impl Secrets for MemSecrets {
    fn read(&self, reference: &str) -> BoxFuture<'_, Result<String, PortError>> {
        let value = self.values.lock().unwrap().get(reference).cloned();
        Box::pin(async move {
            value.ok_or_else(|| PortError::new(System::Keychain, "No such keychain entry."))
        })
    }
}

type LinesByPart = Arc<Mutex<HashMap<(RunId, PartKind), Vec<String>>>>;

/// Log lines per run and part.
#[derive(Default)]
pub struct MemLogs {
    lines: LinesByPart,
}

impl MemLogs {
    /// The lines of one part of one run.
    pub fn lines(&self, run: RunId, part: PartKind) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .get(&(run, part))
            .cloned()
            .unwrap_or_default()
    }
}

struct MemSink {
    key: (RunId, PartKind),
    lines: LinesByPart,
}

impl LogSink for MemSink {
    fn line(&self, text: &str) {
        self.lines
            .lock()
            .unwrap()
            .entry(self.key)
            .or_default()
            .push(text.to_string());
    }
}

impl Logs for MemLogs {
    fn open(&self, run: RunId, part: PartKind) -> Arc<dyn LogSink> {
        Arc::new(MemSink {
            key: (run, part),
            lines: self.lines.clone(),
        })
    }
}

/// Every event emitted.
#[derive(Default)]
pub struct RecordingEvents {
    events: Mutex<Vec<PipelineEvent>>,
}

impl RecordingEvents {
    pub fn all(&self) -> Vec<PipelineEvent> {
        self.events.lock().unwrap().clone()
    }
}

impl Events for RecordingEvents {
    fn emit(&self, event: PipelineEvent) {
        self.events.lock().unwrap().push(event);
    }
}
