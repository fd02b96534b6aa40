//! Fakes of the outside world: a clock that moves when told, a branch, a
//! builder and a deployer that can be held, failed and counted.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::domain::{Account, BuildAccess, Commit, PartKind, Release, Stack, Stage};
use crate::error::{PortError, System};
use crate::events::PipelineEvent;
use crate::ids::{Millis, ReleaseId, RunId, StackId};
use crate::ports::{
    BoxFuture, BuildJob, Builder, CheckoutOptions, CheckoutReport, Clock, DeployJob, DeployOutcome,
    DeployedState, Deployer, Events, ImageRef, ImageScope, LogSink, Logs, PartCredentials, Secrets,
    Source, StageFacts,
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

    fn ids_above(&self, floor: i64) {
        self.next_id.fetch_max(floor + 1, Ordering::SeqCst);
    }
}

impl FixedClock {
    /// Sets the next id (as a wall clock stepping back would).
    pub fn set_next_id(&self, id: i64) {
        self.next_id.store(id, Ordering::SeqCst);
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
    head_reads: AtomicI64,
    gates: Gates,
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

    /// Holds every read of a branch head until released.
    pub fn hold_heads(&self) {
        self.gates.hold("head");
    }

    pub fn release_heads(&self) {
        self.gates.release("head");
    }

    /// How many times a branch head was read.
    pub fn head_reads(&self) -> i64 {
        self.head_reads.load(Ordering::SeqCst)
    }
}

impl Source for FakeSource {
    fn head(&self, stack: &Stack) -> BoxFuture<'_, Result<Commit, PortError>> {
        let head = self.heads.lock().unwrap().get(&stack.id).cloned();
        self.head_reads.fetch_add(1, Ordering::SeqCst);
        let gate = self.gates.sender("head");
        Box::pin(async move {
            let _ = gate.subscribe().wait_for(|held| !held).await;
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

/// Image repositories as ECR holds them: repository URL → tag → digest.
/// Stricter than moto: a push to a repository nobody created fails, and a
/// tag copied from one that was never pushed fails.
#[derive(Default)]
pub struct FakeRegistry {
    repositories: Mutex<HashMap<String, HashMap<String, String>>>,
    /// A folder real buildspecs "push" to: a file per tag holding its digest.
    folder: Option<PathBuf>,
}

impl FakeRegistry {
    /// A registry that also holds what real buildspecs write into `folder`
    /// (`echo sha256:… > $folder/<tag>`), in every repository.
    pub fn in_folder(folder: PathBuf) -> Self {
        FakeRegistry {
            folder: Some(folder),
            ..FakeRegistry::default()
        }
    }

    /// Creates the repository (idempotent, as `prepare_stage` does).
    pub fn create(&self, repository_url: &str) {
        self.repositories
            .lock()
            .unwrap()
            .entry(repository_url.to_string())
            .or_default();
    }

    /// Whether the repository exists.
    pub fn exists(&self, repository_url: &str) -> bool {
        self.repositories
            .lock()
            .unwrap()
            .contains_key(repository_url)
    }

    /// Whether the repository holds the image `digest` under any tag.
    pub fn holds(&self, repository_url: &str, digest: &str) -> bool {
        let in_memory = self
            .repositories
            .lock()
            .unwrap()
            .get(repository_url)
            .is_some_and(|tags| tags.values().any(|d| d == digest));
        in_memory
            || self.folder.as_ref().is_some_and(|folder| {
                std::fs::read_dir(folder).is_ok_and(|entries| {
                    entries.flatten().any(|entry| {
                        std::fs::read_to_string(entry.path())
                            .is_ok_and(|text| text.trim() == digest)
                    })
                })
            })
    }

    /// Tags `digest` as `tag`; fails when the repository does not exist.
    pub fn push(&self, repository_url: &str, tag: &str, digest: &str) -> Result<(), String> {
        let mut repositories = self.repositories.lock().unwrap();
        let tags = repositories
            .get_mut(repository_url)
            .ok_or_else(|| format!("push: the repository {repository_url} does not exist"))?;
        tags.insert(tag.to_string(), digest.to_string());
        Ok(())
    }

    /// The digest tagged `tag`, if any.
    pub fn digest(&self, repository_url: &str, tag: &str) -> Option<String> {
        let pushed = self
            .repositories
            .lock()
            .unwrap()
            .get(repository_url)?
            .get(tag)
            .cloned();
        pushed.or_else(|| {
            let text = std::fs::read_to_string(self.folder.as_ref()?.join(tag)).ok()?;
            Some(text.trim().to_string())
        })
    }
}

/// The digest the fake builder's image of commit `sha` gets.
pub fn fake_digest(sha: &str) -> String {
    format!("sha256:{sha:0>64}")
}

/// One call of the fake builder.
#[derive(Debug, Clone)]
pub struct BuilderCall {
    pub part: PartKind,
    pub sha: String,
    pub stage: String,
    /// Stageline's variables, secret values included (the fake keeps them in memory only).
    pub injected: Vec<(String, String)>,
    /// Whether the part was to run in the sandbox.
    pub sandboxed: bool,
}

/// Runs nothing; records calls. Builds of a held sha wait; failing shas
/// fail. A build that succeeds pushes `:<sha>` and `:latest`, a release
/// copies `:$PREVIOUS_STAGE_NAME` to `:$STAGE_NAME`, as TinyStacks'
/// buildspecs do, into the registry shared with the fake deployer.
#[derive(Default)]
pub struct FakeBuilder {
    calls: Mutex<Vec<BuilderCall>>,
    failing: Mutex<HashSet<(PartKind, String)>>,
    gates: Gates,
    registry: Arc<FakeRegistry>,
    pushing_nothing: Mutex<HashSet<PartKind>>,
}

impl FakeBuilder {
    /// A builder pushing into `registry`.
    pub fn with_registry(registry: Arc<FakeRegistry>) -> Self {
        FakeBuilder {
            registry,
            ..FakeBuilder::default()
        }
    }

    /// Makes `part` fail for the commit `sha`.
    pub fn fail(&self, part: PartKind, sha: &str) {
        self.failing.lock().unwrap().insert((part, sha.to_string()));
    }

    /// Makes `part` succeed without pushing any image (a buildspec that
    /// forgets the image contract).
    pub fn push_nothing(&self, part: PartKind) {
        self.pushing_nothing.lock().unwrap().insert(part);
    }

    /// Lets every part succeed again.
    pub fn heal(&self) {
        self.failing.lock().unwrap().clear();
    }

    /// Holds every part of the commit `sha` until released.
    pub fn hold_sha(&self, sha: &str) {
        self.gates.hold(sha);
    }

    pub fn release_sha(&self, sha: &str) {
        self.gates.release(sha);
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
                .find(|v| v.name == name)
                .map(|v| v.value.clone())
                .unwrap_or_default()
        };
        let call = BuilderCall {
            part: job.part,
            sha: lookup("COMMIT_SHA"),
            stage: lookup("STAGE_NAME"),
            sandboxed: job.sandboxed,
            injected: job
                .injected
                .iter()
                .map(|v| (v.name.clone(), v.value.clone()))
                .collect(),
        };
        let repository = lookup("ECR_IMAGE_URL");
        let previous = lookup("PREVIOUS_STAGE_NAME");
        let registry = self.registry.clone();
        let pushes = !self.pushing_nothing.lock().unwrap().contains(&job.part);
        let fails = self
            .failing
            .lock()
            .unwrap()
            .contains(&(call.part, call.sha.clone()));
        let gate = self.gates.sender(call.part.as_str());
        let sha_gate = self.gates.sender(&call.sha);
        self.calls.lock().unwrap().push(call.clone());
        Box::pin(async move {
            let _ = gate.subscribe().wait_for(|held| !held).await;
            let _ = sha_gate.subscribe().wait_for(|held| !held).await;
            log.line(&format!(
                "{} of {} at {}",
                call.part.as_str(),
                &call.sha[..7.min(call.sha.len())],
                call.stage
            ));
            if fails {
                return Err(PortError::new(
                    System::Build,
                    format!(
                        "{}.yml: phase BUILD failed: command `make` exited with code 2",
                        call.part.as_str()
                    ),
                ));
            }
            let pushed = match call.part {
                _ if !pushes => Ok(()),
                PartKind::Build => {
                    let digest = fake_digest(&call.sha);
                    registry
                        .push(&repository, &call.sha, &digest)
                        .and_then(|()| registry.push(&repository, "latest", &digest))
                }
                _ => match registry.digest(&repository, &previous) {
                    Some(digest) => registry.push(&repository, &call.stage, &digest),
                    None => Err(format!("pull: no image {repository}:{previous}")),
                },
            };
            pushed.map_err(|message| {
                PortError::new(
                    System::Build,
                    format!("{}.yml: phase BUILD failed: {message}", call.part.as_str()),
                )
            })
        })
    }
}

/// Deploys nothing; remembers what each stage runs. Deploys to a held stage
/// name wait; failing stage names fail.
#[derive(Default)]
pub struct FakeDeployer {
    registry: Arc<FakeRegistry>,
    deployed_images: Arc<Mutex<Vec<(String, String)>>>,
    deploys: Arc<Mutex<Vec<(String, ReleaseId)>>>,
    running: Arc<Mutex<HashMap<String, ReleaseId>>>,
    failing: Mutex<HashSet<String>>,
    scales: Arc<Mutex<Vec<(String, u32)>>>,
    deleted: Mutex<Vec<String>>,
    failing_deletes: Mutex<HashSet<String>>,
    failing_scales: Mutex<HashSet<String>>,
    unreachable_reconciles: AtomicI64,
    reconciles: AtomicI64,
    gates: Gates,
}

impl FakeDeployer {
    /// A deployer whose stages' repositories are in `registry`.
    pub fn with_registry(registry: Arc<FakeRegistry>) -> Self {
        FakeDeployer {
            registry,
            ..FakeDeployer::default()
        }
    }

    /// The fake account number every stage is in.
    pub const ACCOUNT: &'static str = "123456789012";

    /// The stack's image repository URL in its home region.
    pub fn repository_url(stack: &Stack) -> String {
        format!(
            "{}.dkr.ecr.{}.amazonaws.com/stageline/{}",
            Self::ACCOUNT,
            stack.home_region,
            stack.name
        )
    }

    /// Every image deployed: (stage name, `repo@digest`).
    pub fn deployed_images(&self) -> Vec<(String, String)> {
        self.deployed_images.lock().unwrap().clone()
    }

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

    /// Lets deploys to the stage `name` succeed again.
    pub fn heal(&self, name: &str) {
        self.failing.lock().unwrap().remove(name);
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

    /// Makes scaling the stage `name` fail (or succeed again with `false`).
    pub fn fail_scale(&self, name: &str, fail: bool) {
        let mut set = self.failing_scales.lock().unwrap();
        if fail {
            set.insert(name.to_string());
        } else {
            set.remove(name);
        }
    }

    /// Holds every scale call until released.
    pub fn hold_scales(&self) {
        self.gates.hold("scale");
    }

    pub fn release_scales(&self) {
        self.gates.release("scale");
    }

    /// Makes the next `n` reconciles fail as an unreachable AWS would.
    pub fn fail_reconciles(&self, n: i64) {
        self.unreachable_reconciles.store(n, Ordering::SeqCst);
    }

    /// How many reconciles were asked for.
    pub fn reconciles(&self) -> i64 {
        self.reconciles.load(Ordering::SeqCst)
    }

    /// Every stage whose stack was deleted.
    pub fn deleted(&self) -> Vec<String> {
        self.deleted.lock().unwrap().clone()
    }
}

impl Deployer for FakeDeployer {
    fn prepare_stage(
        &self,
        _account: Account,
        stack: Stack,
        stage: Stage,
        _release: Release,
        _log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<StageFacts, PortError>> {
        let region = stage.settings.region.clone();
        let name = format!("{}-{}", stack.name, stage.settings.name);
        let account = Self::ACCOUNT;
        let image_url = Self::repository_url(&stack);
        self.registry.create(&image_url);
        let regional = (region != stack.home_region).then(|| {
            let endpoint = format!("{account}.dkr.ecr.{region}.amazonaws.com");
            let url = format!("{endpoint}/stageline/{}", stack.name);
            self.registry.create(&url);
            (endpoint, url)
        });
        let facts = StageFacts {
            account_id: account.to_string(),
            home_region: stack.home_region.clone(),
            ecr_endpoint: format!("{account}.dkr.ecr.{}.amazonaws.com", stack.home_region),
            ecr_image_url: image_url,
            regional_ecr_endpoint: regional.as_ref().map(|(e, _)| e.clone()),
            regional_ecr_image_url: regional.map(|(_, u)| u),
            cluster_arn: format!("arn:aws:ecs:{region}:{account}:cluster/{name}"),
            service_name: name.clone(),
            task_role_arn: format!("arn:aws:iam::{account}:role/{name}-task"),
            s3_bucket: format!("{name}-{region}-{account}"),
            endpoint_url: None,
            credentials: PartCredentials {
                access_key_id: "ASIAFAKESESSION".to_string(),
                secret_access_key: "fake-session-secret".to_string(),
                session_token: Some("fake-session-token".to_string()),
                description: "fake build role credentials".to_string(),
                access: BuildAccess::BuildRole,
            },
        };
        Box::pin(async move { Ok(facts) })
    }

    fn find_image(
        &self,
        _account: Account,
        stack: Stack,
        stage: Stage,
        scope: ImageScope,
        tag: String,
    ) -> BoxFuture<'static, Result<Option<ImageRef>, PortError>> {
        let repository_url = match scope {
            ImageScope::Stack => Self::repository_url(&stack),
            ImageScope::Regional => format!(
                "{}.dkr.ecr.{}.amazonaws.com/stageline/{}",
                Self::ACCOUNT,
                stage.settings.region,
                stack.name
            ),
        };
        let found = self
            .registry
            .digest(&repository_url, &tag)
            .map(|digest| ImageRef {
                repository_url,
                digest,
            });
        Box::pin(async move { Ok(found) })
    }

    fn tag_image(
        &self,
        _account: Account,
        stack: Stack,
        image: ImageRef,
        tag: String,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let result = self
            .registry
            .push(&Self::repository_url(&stack), &tag, &image.digest)
            .map_err(|m| PortError::new(System::Aws, m));
        Box::pin(async move { result })
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
        let deployed_images = self.deployed_images.clone();
        // Stricter than moto: AWS refuses a task definition whose image was never pushed.
        let pushed = ImageRef::parse(&job.artifact.image)
            .is_some_and(|image| self.registry.holds(&image.repository_url, &image.digest));
        Box::pin(async move {
            if !pushed {
                return Err(PortError::new(
                    System::Aws,
                    format!("The image {} was never pushed", job.artifact.image),
                ));
            }
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
            deployed_images
                .lock()
                .unwrap()
                .push((name.clone(), job.artifact.image.clone()));
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
        self.reconciles.fetch_add(1, Ordering::SeqCst);
        let unreachable = self.unreachable_reconciles.fetch_sub(1, Ordering::SeqCst) > 0;
        Box::pin(async move {
            if unreachable {
                return Err(PortError::new(
                    System::Aws,
                    "dispatch failure: connection to cloudformation.us-east-1.amazonaws.com timed out",
                ));
            }
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
        let fails = self
            .failing_scales
            .lock()
            .unwrap()
            .contains(&stage.settings.name);
        let gate = self.gates.sender("scale");
        let scales = self.scales.clone();
        Box::pin(async move {
            let _ = gate.subscribe().wait_for(|held| !held).await;
            if fails {
                return Err(PortError::new(
                    System::Aws,
                    "AccessDeniedException: not allowed to call ecs:UpdateService",
                ));
            }
            scales.lock().unwrap().push((stage.settings.name, count));
            Ok(())
        })
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
    /// Every line of every part, for checks that nothing leaks into any log.
    pub fn all_text(&self) -> String {
        let lines = self.lines.lock().unwrap();
        lines
            .values()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

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
