//! Fakes of the outside world: a clock that moves when told, a branch, a
//! registry, a builder that can be held, failed and counted, secrets, logs
//! and events in memory (the deployer is in `fake_deployer`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::domain::{Commit, PartKind, Stack};
use crate::error::{PortError, System};
use crate::events::PipelineEvent;
use crate::ids::{Millis, RunId, StackId};
use crate::ports::{
    BoxFuture, BuildJob, Builder, CheckoutOptions, CheckoutReport, Clock, Events, InputSink,
    LogSink, Logs, Secrets, Source,
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
pub(super) struct Gates {
    gates: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl Gates {
    pub(super) fn sender(&self, name: &str) -> watch::Sender<bool> {
        self.gates
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .clone()
    }

    pub(super) fn hold(&self, name: &str) {
        self.sender(name).send_replace(true);
    }

    pub(super) fn release(&self, name: &str) {
        self.sender(name).send_replace(false);
    }
}

/// A branch per stack; checkouts write a marker file. A watched branch
/// reports a head set with [`FakeSource::push`], as a watcher would.
#[derive(Default)]
pub struct FakeSource {
    heads: Mutex<HashMap<StackId, Commit>>,
    /// The watched branches: the head each watch started from, and where it reports.
    watches: Mutex<BTreeMap<StackId, (Option<String>, InputSink)>>,
    watch_starts: AtomicI64,
    checkouts: Mutex<Vec<(StackId, String)>>,
    head_reads: AtomicI64,
    gates: Gates,
}

impl FakeSource {
    /// Sets a stack's branch head.
    pub fn set_head(&self, stack: StackId, commit: Commit) {
        self.heads.lock().unwrap().insert(stack, commit);
    }

    /// A push to a stack's branch: its head becomes `commit`, and a watch
    /// of the branch reports it to the engine.
    pub fn push(&self, stack: StackId, commit: Commit) {
        self.set_head(stack, commit.clone());
        let sink = self
            .watches
            .lock()
            .unwrap()
            .get(&stack)
            .map(|w| w.1.clone());
        if let Some(sink) = sink {
            sink(crate::flow::Input::CommitDetected {
                stack_id: stack,
                head: commit,
                included: Vec::new(),
                forced: false,
            });
        }
    }

    /// The watched branches, each with the sha its watch started from.
    pub fn watched(&self) -> BTreeMap<StackId, Option<String>> {
        let watches = self.watches.lock().unwrap();
        watches.iter().map(|(id, w)| (*id, w.0.clone())).collect()
    }

    /// How many watches were started (a watch started again counts again).
    pub fn watch_starts(&self) -> i64 {
        self.watch_starts.load(Ordering::SeqCst)
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

    fn watch(&self, stack: &Stack, last_seen_head: Option<String>, inputs: InputSink) {
        self.watch_starts.fetch_add(1, Ordering::SeqCst);
        let mut watches = self.watches.lock().unwrap();
        watches.insert(stack.id, (last_seen_head, inputs));
    }

    fn unwatch(&self, stack: StackId) {
        self.watches.lock().unwrap().remove(&stack);
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

    fn text(&self, run: RunId, part: PartKind, max_bytes: usize) -> Option<String> {
        let lines = self.lines(run, part);
        (!lines.is_empty())
            .then(|| crate::ports::last_bytes(&(lines.join("\n") + "\n"), max_bytes, 0))
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

/// Every event and every dashboard update: a sink that shows a dashboard.
#[derive(Default)]
pub struct RecordingDashboard {
    pub events: RecordingEvents,
    updates: Mutex<Vec<crate::flow::DashboardUpdate>>,
}

impl RecordingDashboard {
    pub fn updates(&self) -> Vec<crate::flow::DashboardUpdate> {
        self.updates.lock().unwrap().clone()
    }
}

impl Events for RecordingDashboard {
    fn emit(&self, event: PipelineEvent) {
        self.events.emit(event);
    }

    fn wants_dashboard(&self) -> bool {
        true
    }

    fn dashboard(&self, update: crate::flow::DashboardUpdate) {
        self.updates.lock().unwrap().push(update);
    }
}
