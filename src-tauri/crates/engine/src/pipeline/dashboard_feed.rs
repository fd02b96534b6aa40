//! The dashboard's feed: after a transition the actor names the stack it
//! changed; this task gathers the names for a moment and then sends the
//! dashboard those stacks' views, read from the live state. A busy pipeline
//! (a run ending every 100 ms across 50 stacks) sends a few small updates a
//! second instead of the dashboard reloading every stack after each event.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Message;
use crate::ids::StackId;
use crate::ports::Events;

/// How long changes are gathered into one update: at most ten a second.
pub const DASHBOARD_EVERY: Duration = Duration::from_millis(100);

/// Starts the feed; the actor sends each changed stack's id to the sender.
pub(super) fn start(
    inbox: mpsc::UnboundedSender<Message>,
    events: Arc<dyn Events>,
) -> (mpsc::UnboundedSender<StackId>, JoinHandle<()>) {
    let (changed, mut receiver) = mpsc::unbounded_channel::<StackId>();
    let task = tokio::spawn(async move {
        while let Some(first) = receiver.recv().await {
            tokio::time::sleep(DASHBOARD_EVERY).await;
            let mut stacks = BTreeSet::from([first]);
            while let Ok(more) = receiver.try_recv() {
                stacks.insert(more);
            }
            match super::read_through(&inbox, move |state| state.dashboard_update(&stacks)).await {
                Ok(update) => events.dashboard(update),
                Err(_) => return,
            }
        }
    });
    (changed, task)
}
