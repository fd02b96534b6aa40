//! The pipeline: one task that owns the flow state, applies inputs one at a
//! time (persisting each transition before anything else happens), and runs
//! effects as separate tasks whose results come back as inputs. Stacks run
//! in parallel; nothing a caller does waits on a build or a deploy.

mod coordinated;
mod dashboard_feed;
mod effects;
mod team_secrets;
mod verify;
mod workspace;

pub use dashboard_feed::DASHBOARD_EVERY;
pub use effects::{prepare_deploy_job, resolve, SecretSources};
pub use team_secrets::{move_secrets_to_team, team_secret_name, MovedSecrets};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

use crate::domain::Stack;
use crate::domain::{ApprovalStatus, Decision};
use crate::error::EngineError;
use crate::events::PipelineEvent;
use crate::flow::{apply_input, Effect, FlowState, Input, Reply};
use crate::ids::{ApprovalId, ReleaseId, RunId, StackId, StageId};
use crate::ports::{Builder, Clock, Deployer, Events, InputSink, Logs, Secrets, Source, Store};

/// The outside world, as the engine sees it.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub source: Arc<dyn Source>,
    pub builder: Arc<dyn Builder>,
    pub deployer: Arc<dyn Deployer>,
    pub secrets: Arc<dyn Secrets>,
    pub logs: Arc<dyn Logs>,
    pub clock: Arc<dyn Clock>,
    pub events: Arc<dyn Events>,
    /// R22: which desktop runs each part of a team stack (`SoloCoordinator`
    /// when no stack is shared).
    pub coordinator: Arc<dyn crate::team::PartCoordinator>,
}

/// Where checkouts go, and whether they are kept after a part (for debugging).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub workspaces: PathBuf,
    pub keep_workspaces: bool,
    /// How often verification asks again: the health check until it
    /// answers, the alarms during a soak (R18).
    pub verify_poll: Duration,
}

/// How often verification asks again, unless configured otherwise.
pub const VERIFY_POLL: Duration = Duration::from_secs(5);

/// The longest single sleep before an approval's expiry (or a deploy window) is checked against
/// the clock again: a machine that slept does not stop monotonic timers'
/// clocks, so long waits are checked in steps (R20).
const EXPIRY_STEP: Duration = Duration::from_secs(300);

type ReadFn = Box<dyn FnOnce(&FlowState) + Send>;

enum Message {
    Input(
        Box<Input>,
        Option<oneshot::Sender<Result<Reply, EngineError>>>,
    ),
    Read(ReadFn),
}

/// How long an input nobody waits for (an effect's result, a watcher's
/// report) waits before it is applied again when its write failed.
pub const UNSAVED_INPUT_RETRY: Duration = Duration::from_millis(500);

/// The engine without its tasks: the live state kept in step with the store,
/// one input at a time. The pipeline's actor runs on it; tests that complete
/// effects themselves (the model test of the flow) drive it directly.
pub struct Engine {
    state: FlowState,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

/// What one input did, once written: the answer, what to tell, what to do.
#[derive(Debug)]
pub struct Applied {
    /// The command's answer.
    pub reply: Reply,
    /// To emit, in order.
    pub events: Vec<PipelineEvent>,
    /// To run, now that the transition is written.
    pub effects: Vec<Effect>,
}

impl Engine {
    /// Loads the state from the store. New ids are minted above the store's
    /// highest, whatever the wall clock says (R17).
    pub async fn open(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<Engine, EngineError> {
        let snapshot = store.load().await?;
        clock.ids_above(snapshot.highest_id);
        Ok(Engine {
            state: FlowState::from_snapshot(snapshot),
            store,
            clock,
        })
    }

    /// The live state.
    pub fn state(&self) -> &FlowState {
        &self.state
    }

    /// One transition: decide, then persist; the caller tells and acts. When
    /// the write fails the state is read back from the store (memory never
    /// runs ahead of the file) and the error returned, except for an input
    /// nobody waits for (`unattended`): that one comes back as an
    /// `ApplyLater` effect, so a result is never dropped (R17).
    pub async fn apply(&mut self, input: Input, unattended: bool) -> Result<Applied, EngineError> {
        let retry = unattended.then(|| input.clone());
        let transition = apply_input(&mut self.state, input, self.clock.as_ref())?;
        if !transition.changes.is_empty() {
            if let Err(error) = self.store.apply(transition.changes).await {
                self.reload().await;
                return match retry {
                    Some(input) => Ok(Applied {
                        reply: Reply::Done,
                        events: Vec::new(),
                        effects: vec![Effect::ApplyLater {
                            after: UNSAVED_INPUT_RETRY,
                            input: Box::new(input),
                        }],
                    }),
                    None => Err(error.into()),
                };
            }
        }
        Ok(Applied {
            reply: transition.reply,
            events: transition.events,
            effects: transition.effects,
        })
    }

    /// Starts again from the store, keeping what is only in memory.
    async fn reload(&mut self) {
        if let Ok(snapshot) = self.store.load().await {
            let mut state = FlowState::from_snapshot(snapshot);
            state.stack_warnings = std::mem::take(&mut self.state.stack_warnings);
            state.reconcile_attempts = std::mem::take(&mut self.state.reconcile_attempts);
            state.unwatched = std::mem::take(&mut self.state.unwatched);
            state.highest_id = state.highest_id.max(self.state.highest_id);
            self.state = state;
        }
    }
}

/// A handle on the running pipeline. Dropping it stops the engine at once,
/// as a crash would: what was persisted is what a restart resumes from.
pub struct Pipeline {
    inbox: mpsc::UnboundedSender<Message>,
    actor: JoinHandle<()>,
    /// The dashboard's feed, when the events go to a dashboard.
    feed: Option<JoinHandle<()>>,
    store: Arc<dyn Store>,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.actor.abort();
        if let Some(feed) = &self.feed {
            feed.abort();
        }
    }
}

impl Pipeline {
    /// Loads the state from the store and resumes what was in flight (R17).
    pub async fn start(ports: Ports, config: PipelineConfig) -> Result<Pipeline, EngineError> {
        let engine = Engine::open(ports.store.clone(), ports.clock.clone()).await?;
        let (inbox, receiver) = mpsc::unbounded_channel();
        let store = ports.store.clone();
        let (dashboard, feed) = match ports.events.wants_dashboard() {
            true => {
                let (changed, feed) = dashboard_feed::start(inbox.clone(), ports.events.clone());
                (Some(changed), Some(feed))
            }
            false => (None, None),
        };
        let actor = Actor {
            engine,
            ports,
            config,
            inbox: inbox.clone(),
            tasks: JoinSet::new(),
            handles: HashMap::new(),
            dashboard,
            watching: HashMap::new(),
        };
        let actor = tokio::spawn(actor.run(receiver));
        let pipeline = Pipeline {
            inbox,
            actor,
            feed,
            store,
        };
        pipeline.send(Input::Started).await?;
        Ok(pipeline)
    }

    /// Applies an input and waits until it is persisted.
    pub async fn send(&self, input: Input) -> Result<Reply, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.inbox
            .send(Message::Input(Box::new(input), Some(reply)))
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Queues an input without waiting (watcher events).
    pub fn notify(&self, input: Input) {
        let _ = self.inbox.send(Message::Input(Box::new(input), None));
    }

    /// Reads the live state.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&FlowState) -> T + Send + 'static,
    ) -> Result<T, EngineError> {
        read_through(&self.inbox, f).await
    }

    /// R5/R16: approves or rejects a waiting release. An approval that is no
    /// longer pending gets a clear error saying why.
    pub async fn decide(
        &self,
        approval_id: ApprovalId,
        approve: bool,
        decision: Decision,
    ) -> Result<(), EngineError> {
        match self
            .send(Input::Decide {
                approval_id,
                approve,
                decision,
            })
            .await
        {
            Err(EngineError::NotFound(_)) => Err(match self.store.approval(approval_id).await? {
                None => EngineError::NotFound("The approval"),
                Some(a) if a.status == ApprovalStatus::Superseded => {
                    EngineError::ApprovalSuperseded
                }
                Some(a) if a.status == ApprovalStatus::Cancelled => EngineError::Conflict(
                    "The stage was deleted; this approval no longer applies.".to_string(),
                ),
                Some(_) => EngineError::Conflict("This approval was already decided.".to_string()),
            }),
            other => other.map(|_| ()),
        }
    }

    /// Deploys an earlier successful release to a stage again (rollback; no rebuild).
    pub async fn redeploy(
        &self,
        stage_id: StageId,
        release_id: ReleaseId,
        decision: Decision,
    ) -> Result<RunId, EngineError> {
        let deployed = self.store.deployed_release(stage_id, release_id).await?.ok_or_else(|| {
            EngineError::Conflict("Only a release that once deployed successfully to this stage can be redeployed.".to_string())
        })?;
        match self
            .send(Input::Redeploy {
                stage_id,
                release: deployed.release,
                image: deployed.image,
                decision,
            })
            .await?
        {
            Reply::Run(id) => Ok(id),
            _ => Err(EngineError::Stopped),
        }
    }
}

/// Reads the live state through the actor's inbox, in turn with inputs.
async fn read_through<T: Send + 'static>(
    inbox: &mpsc::UnboundedSender<Message>,
    f: impl FnOnce(&FlowState) -> T + Send + 'static,
) -> Result<T, EngineError> {
    let (reply, answer) = oneshot::channel();
    let read: ReadFn = Box::new(move |state| {
        let _ = reply.send(f(state));
    });
    inbox
        .send(Message::Read(read))
        .map_err(|_| EngineError::Stopped)?;
    answer.await.map_err(|_| EngineError::Stopped)
}

/// Which running task an effect belongs to, so it can be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TaskKey {
    Run(RunId),
    Build(ReleaseId),
}

/// What a branch watch is started with: when one of these changes, the
/// watch starts again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WatchedBranch {
    repository: String,
    branch: String,
    poll_interval_secs: u32,
}

impl WatchedBranch {
    fn of(stack: &Stack) -> Self {
        WatchedBranch {
            repository: stack.repository.clone(),
            branch: stack.branch.clone(),
            poll_interval_secs: stack.poll_interval_secs,
        }
    }
}

struct Actor {
    engine: Engine,
    ports: Ports,
    config: PipelineConfig,
    inbox: mpsc::UnboundedSender<Message>,
    /// Dropping the actor drops this set, which aborts every effect.
    tasks: JoinSet<()>,
    handles: HashMap<TaskKey, AbortHandle>,
    /// Where the stacks each transition changed go, for the dashboard's feed.
    dashboard: Option<mpsc::UnboundedSender<StackId>>,
    /// The branches the source watches now.
    watching: HashMap<StackId, WatchedBranch>,
}

impl Actor {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Message>) {
        while let Some(message) = receiver.recv().await {
            match message {
                Message::Read(read) => read(self.engine.state()),
                Message::Input(input, reply) => {
                    let result = self.step(*input, reply.is_none()).await;
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                }
            }
            while self.tasks.try_join_next().is_some() {}
        }
    }

    /// One transition: decide, persist, tell, then act.
    async fn step(&mut self, input: Input, unattended: bool) -> Result<Reply, EngineError> {
        let applied = self.engine.apply(input, unattended).await?;
        if let Some(dashboard) = &self.dashboard {
            let state = self.engine.state();
            for stack in applied
                .events
                .iter()
                .filter_map(|e| state.stack_of_event(e))
            {
                let _ = dashboard.send(stack);
            }
        }
        for event in applied.events {
            self.ports.events.emit(event);
        }
        for effect in applied.effects {
            self.spawn(effect);
        }
        self.follow_branches();
        Ok(applied.reply)
    }

    /// Has the source watch exactly the branches the state says (R2): a new
    /// stack's, every stack's after a start, none of a stack being deleted.
    fn follow_branches(&mut self) {
        let sink = self.sink();
        let mut wanted = HashMap::new();
        for (stack, last_seen_head) in self.engine.state().watched_branches() {
            let branch = WatchedBranch::of(stack);
            if self.watching.get(&stack.id) != Some(&branch) {
                let last_seen_head = last_seen_head.map(str::to_string);
                self.ports.source.watch(stack, last_seen_head, sink.clone());
            }
            wanted.insert(stack.id, branch);
        }
        for stack in self.watching.keys().filter(|s| !wanted.contains_key(s)) {
            self.ports.source.unwatch(*stack);
        }
        self.watching = wanted;
    }

    /// Inputs from outside the actor, queued in turn with everything else.
    fn sink(&self) -> InputSink {
        let inbox = self.inbox.clone();
        Arc::new(move |input| {
            let _ = inbox.send(Message::Input(Box::new(input), None));
        })
    }

    fn spawn(&mut self, effect: Effect) {
        let key = match &effect {
            Effect::CancelRun(run_id) => return self.abort(TaskKey::Run(*run_id)),
            Effect::CancelBuild(release_id) => return self.abort(TaskKey::Build(*release_id)),
            Effect::ApplyLater { after, input } => {
                let (after, input) = (*after, input.clone());
                let inbox = self.inbox.clone();
                self.tasks.spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = inbox.send(Message::Input(input, None));
                });
                return;
            }
            Effect::ExpireApproval { approval_id, after } => {
                let input = Input::ApprovalExpired {
                    approval_id: *approval_id,
                };
                return self.wake(*after, input);
            }
            Effect::WakeStage { stage_id, after } => {
                let input = Input::WindowCheck {
                    stage_id: *stage_id,
                };
                return self.wake(*after, input);
            }
            Effect::Build { context, .. } => Some(TaskKey::Build(context.release.id)),
            Effect::Release { run, .. }
            | Effect::Deploy { run, .. }
            | Effect::Verify { run, .. }
            | Effect::ReconcileDeploy { run, .. } => Some(TaskKey::Run(run.id)),
            _ => None,
        };
        let delay = match &effect {
            Effect::ReconcileDeploy { delay, .. } => *delay,
            _ => Duration::ZERO,
        };
        let work = effects::perform(effect, self.ports.clone(), self.config.clone(), self.sink());
        let inbox = self.inbox.clone();
        let handle = self.tasks.spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if let Some(input) = work.await {
                let _ = inbox.send(Message::Input(Box::new(input), None));
            }
        });
        if let Some(key) = key {
            self.handles.retain(|_, h| !h.is_finished());
            self.handles.insert(key, handle);
        }
    }

    /// Gives `input` after `after`, at most `EXPIRY_STEP` later: the engine
    /// judges by the wall clock and asks again if its time has not come.
    fn wake(&mut self, after: Duration, input: Input) {
        let inbox = self.inbox.clone();
        self.tasks.spawn(async move {
            tokio::time::sleep(after.min(EXPIRY_STEP)).await;
            let _ = inbox.send(Message::Input(Box::new(input), None));
        });
    }

    fn abort(&mut self, key: TaskKey) {
        if let Some(handle) = self.handles.remove(&key) {
            handle.abort();
        }
    }
}
