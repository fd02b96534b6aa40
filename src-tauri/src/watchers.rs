//! One branch watcher per stack, feeding new heads and warnings to the engine.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use stageline_engine::flow::Input;
use stageline_engine::{Stack, StackId};
use stageline_git::{WatchEvent, WatchHandle};
use tokio::sync::mpsc;

use crate::core::Core;

/// The running watches.
#[derive(Default)]
pub struct Watchers {
    handles: HashMap<StackId, WatchHandle>,
    events: Option<mpsc::Sender<WatchEvent>>,
}

/// Starts forwarding watch events to the engine and watches every stack.
pub async fn watch_all(core: &Arc<Core>) {
    let (sender, mut receiver) = mpsc::channel::<WatchEvent>(64);
    let weak: Weak<Core> = Arc::downgrade(core);
    tokio::spawn(async move {
        while let Some(event) = receiver.recv().await {
            let Some(core) = weak.upgrade() else { break };
            core.pipeline.notify(Input::from(event));
        }
    });
    core.watchers.lock().unwrap().events = Some(sender);
    let stacks = core
        .pipeline
        .read(|s| {
            s.stacks()
                .filter(|stack| !stack.deleting)
                .map(|stack| {
                    (
                        stack.clone(),
                        s.newest_release_of(stack.id).map(|r| r.commit.sha.clone()),
                    )
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
    for (stack, last_seen) in stacks {
        watch(core, &stack, last_seen);
    }
}

/// Watches one stack's branch (replacing an earlier watch of it).
pub fn watch(core: &Core, stack: &Stack, last_seen_head: Option<String>) {
    let mut watchers = core.watchers.lock().unwrap();
    let Some(events) = watchers.events.clone() else {
        return;
    };
    let handle = core.git.watch(stack, last_seen_head, events);
    watchers.handles.insert(stack.id, handle);
}

/// Stops watching a stack.
pub fn unwatch(core: &Core, stack: StackId) {
    core.watchers.lock().unwrap().handles.remove(&stack);
}
