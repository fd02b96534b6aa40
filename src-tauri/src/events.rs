//! Pipeline events to the UI (every window listens to `pipeline`).

use stageline_engine::ports::Events;
use stageline_engine::PipelineEvent;
use tauri::{AppHandle, Emitter};

/// The name of the event every window listens to.
pub const PIPELINE_EVENT: &str = "pipeline";

/// Forwards engine events to every window.
pub struct WindowEvents {
    pub app: AppHandle,
    /// Chat messages are made from the same events (queued, never waited for).
    pub chat: stageline_chat::ChatNotifier,
}

impl Events for WindowEvents {
    fn emit(&self, event: PipelineEvent) {
        self.chat.push(&event);
        crate::notifications::notify(&self.app, &event);
        crate::tray::refresh(&self.app);
        let _ = self.app.emit(PIPELINE_EVENT, &event);
    }
}
