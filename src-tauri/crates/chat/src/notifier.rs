//! From pipeline events to chat messages, off the pipeline's path.
//!
//! [`ChatNotifier::push`] is called with every event the engine emits; it
//! never waits: it keeps the events a chat message is made of in a bounded
//! queue (the oldest dropped, and counted, when it is full). One task drains
//! the queue, looks up what a message says (names, the release, the first
//! error line) and hands each message to a delivery task; at most
//! [`DELIVERIES`] deliveries run at once, so a webhook that hangs or keeps
//! failing holds back only chat messages, never the pipeline.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use stageline_engine::ports::BoxFuture;
use stageline_engine::{
    ApprovalStatus, PartKind, PartStatus, PipelineEvent, Release, ReleaseId, Run, RunId, RunStatus,
    RunTrigger, StackId, StageId,
};
use tokio::sync::{Notify, Semaphore};

use crate::message::{body, ChatEvent, ChatMessage};
use crate::sender::{DeliveryError, HttpSender};
use crate::webhook::Webhook;

/// Events waiting to become messages; past this the oldest is dropped.
pub const QUEUE_CAPACITY: usize = 256;

/// Deliveries (with their retries) running at once.
pub const DELIVERIES: usize = 4;

/// A stage as a message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageFacts {
    pub stack_id: StackId,
    pub stack: String,
    pub stage: String,
    /// The stage's service URL, when it has one.
    pub url: Option<String>,
}

/// What the notifier looks up to write a message (the app reads its
/// pipeline state, store and logs; tests answer from a table).
pub trait ChatFacts: Send + Sync + 'static {
    fn stage(&self, stage: StageId) -> BoxFuture<'_, Option<StageFacts>>;
    fn release(&self, release: ReleaseId) -> BoxFuture<'_, Option<Release>>;
    /// The first line of the part's log that reports an error.
    fn first_error_line(&self, run: RunId, part: PartKind) -> BoxFuture<'_, Option<String>>;
}

/// Each stack's webhook, in memory (the app fills it from the keychain).
#[derive(Debug, Clone, Default)]
pub struct Webhooks(Arc<RwLock<HashMap<StackId, Webhook>>>);

impl Webhooks {
    /// The stack's webhook, if it has one.
    pub fn get(&self, stack: StackId) -> Option<Webhook> {
        self.0.read().ok()?.get(&stack).cloned()
    }

    /// Sets (`Some`) or removes (`None`) the stack's webhook.
    pub fn set(&self, stack: StackId, hook: Option<Webhook>) {
        if let Ok(mut hooks) = self.0.write() {
            match hook {
                Some(hook) => hooks.insert(stack, hook),
                None => hooks.remove(&stack),
            };
        }
    }
}

/// Where the notifier reports a stack's chat warning (`None` clears it).
pub type WarningSink = Arc<dyn Fn(StackId, Option<String>) + Send + Sync>;

/// How the notifier retries (the app's are [`crate::sender::BACKOFF`]).
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    pub backoff: Vec<Duration>,
    pub capacity: usize,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            backoff: crate::sender::BACKOFF.to_vec(),
            capacity: QUEUE_CAPACITY,
        }
    }
}

/// Whether a run that starts is a rollback, and who asked for it.
///
/// The one place rollbacks are recognised: a redeploy of an earlier release
/// (the stage window's "Redeploy", by someone) and R19's automatic rollback
/// after a failed verification (by nobody: Stageline itself).
pub fn rollback_of(trigger: &RunTrigger) -> Option<Option<String>> {
    match trigger {
        RunTrigger::Redeploy { decision } => Some(Some(decision.by.clone())),
        RunTrigger::Rollback { .. } => Some(None),
        RunTrigger::Flow | RunTrigger::NewStage | RunTrigger::Retry { .. } => None,
    }
}

/// Whether an event becomes a chat message (checked before it is queued).
pub fn wanted(event: &PipelineEvent) -> bool {
    match event {
        PipelineEvent::ApprovalRequested { .. } => true,
        PipelineEvent::ApprovalDecided { approval } => {
            matches!(
                approval.status,
                ApprovalStatus::Approved | ApprovalStatus::Rejected
            ) && approval.decision.is_some()
        }
        PipelineEvent::RunFinished { run } => run.status == RunStatus::Failed,
        PipelineEvent::RunStarted { run } => rollback_of(&run.trigger).is_some(),
        _ => false,
    }
}

/// The part a failed run failed in (the last that did not succeed).
fn failed_part(run: &Run) -> PartKind {
    run.parts
        .iter()
        .find(|p| p.status == PartStatus::Failed)
        .or_else(|| {
            run.parts
                .iter()
                .rev()
                .find(|p| !matches!(p.status, PartStatus::Succeeded | PartStatus::Reused))
        })
        .map_or(PartKind::Build, |p| p.kind)
}

/// The message an event makes, looked up through `facts`.
pub async fn message_for(event: &PipelineEvent, facts: &dyn ChatFacts) -> Option<ChatMessage> {
    let (stage_id, release, chat_event) = match event {
        PipelineEvent::ApprovalRequested { approval, release } => (
            approval.stage_id,
            Some(release.clone()),
            ChatEvent::ApprovalRequested,
        ),
        PipelineEvent::ApprovalDecided { approval } => {
            let decision = approval.decision.as_ref()?;
            (
                approval.stage_id,
                facts.release(approval.release_id).await,
                ChatEvent::ApprovalDecided {
                    approved: approval.status == ApprovalStatus::Approved,
                    by: decision.by.clone(),
                    comment: decision.comment.clone(),
                },
            )
        }
        PipelineEvent::RunFinished { run } if run.status == RunStatus::Failed => {
            let part = failed_part(run);
            let logged = facts.first_error_line(run.id, part).await;
            let error = logged
                .or_else(|| run.part(part).message.clone())
                .unwrap_or_default();
            (
                run.stage_id,
                facts.release(run.release_id).await,
                ChatEvent::RunFailed { part, error },
            )
        }
        PipelineEvent::RunStarted { run } => {
            let by = rollback_of(&run.trigger)?;
            (
                run.stage_id,
                facts.release(run.release_id).await,
                ChatEvent::Rollback { by },
            )
        }
        _ => return None,
    };
    let stage = facts.stage(stage_id).await?;
    let ships = match (&chat_event, &release) {
        (ChatEvent::ApprovalRequested, Some(release)) => std::iter::once(&release.commit)
            .chain(release.included.iter())
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    Some(ChatMessage {
        stack_id: stage.stack_id,
        stack: stage.stack,
        stage: stage.stage,
        release: release.map(|r| r.commit),
        ships,
        event: chat_event,
        url: stage.url,
    })
}

/// The bounded queue between the pipeline and the notifier's task.
struct Queue {
    events: Mutex<VecDeque<PipelineEvent>>,
    capacity: usize,
    /// Events dropped since the last report.
    dropped: Mutex<u64>,
    wake: Notify,
}

/// Sends each stack's chat messages to its webhook, in the background.
#[derive(Clone)]
pub struct ChatNotifier {
    queue: Arc<Queue>,
}

impl std::fmt::Debug for ChatNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChatNotifier")
    }
}

/// What one delivery needs.
struct Delivery {
    sender: Arc<HttpSender>,
    warnings: WarningSink,
    warned: Arc<Mutex<HashSet<StackId>>>,
    backoff: Arc<[Duration]>,
}

impl Delivery {
    async fn deliver(&self, hook: Webhook, message: ChatMessage) {
        let stack = message.stack_id;
        let result = self
            .sender
            .send(&hook, &body(hook.kind, &message), &self.backoff)
            .await;
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(_) => {
                if warned.remove(&stack) {
                    (self.warnings)(stack, None);
                }
            }
            Err(error) => {
                eprintln!(
                    "Stageline: a chat message about {} was not delivered to {}: {error}",
                    message.stack,
                    hook.host()
                );
                warned.insert(stack);
                (self.warnings)(stack, Some(warning_text(&hook, &error)));
            }
        }
    }
}

/// The stack warning a failed delivery shows.
pub fn warning_text(hook: &Webhook, error: &DeliveryError) -> String {
    format!(
        "Chat messages to {} are not getting through: {error}. Check the webhook in the stack's chat settings.",
        hook.host()
    )
}

impl ChatNotifier {
    /// Starts the notifier's task (on the current Tokio runtime).
    pub fn start(
        facts: Arc<dyn ChatFacts>,
        webhooks: Webhooks,
        sender: Arc<HttpSender>,
        warnings: WarningSink,
        options: NotifierOptions,
    ) -> Self {
        let queue = Arc::new(Queue {
            events: Mutex::new(VecDeque::new()),
            capacity: options.capacity.max(1),
            dropped: Mutex::new(0),
            wake: Notify::new(),
        });
        let delivery = Arc::new(Delivery {
            sender,
            warnings,
            warned: Arc::default(),
            backoff: options.backoff.into(),
        });
        let draining = queue.clone();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(DELIVERIES));
            loop {
                let next = draining
                    .events
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pop_front();
                let Some(event) = next else {
                    draining.wake.notified().await;
                    continue;
                };
                report_dropped(&draining);
                let Some(message) = message_for(&event, facts.as_ref()).await else {
                    continue;
                };
                let Some(hook) = webhooks.get(message.stack_id) else {
                    continue;
                };
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let delivery = delivery.clone();
                tokio::spawn(async move {
                    delivery.deliver(hook, message).await;
                    drop(slot);
                });
            }
        });
        ChatNotifier { queue }
    }

    /// Queues an event if it makes a chat message; never waits.
    pub fn push(&self, event: &PipelineEvent) {
        if !wanted(event) {
            return;
        }
        {
            let mut events = self.queue.events.lock().unwrap_or_else(|e| e.into_inner());
            if events.len() >= self.queue.capacity {
                events.pop_front();
                *self.queue.dropped.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            }
            events.push_back(event.clone());
        }
        self.queue.wake.notify_one();
    }
}

fn report_dropped(queue: &Queue) {
    let mut dropped = queue.dropped.lock().unwrap_or_else(|e| e.into_inner());
    if *dropped > 0 {
        eprintln!(
            "Stageline: {} chat messages were dropped: more events came than webhooks took.",
            *dropped
        );
        *dropped = 0;
    }
}
