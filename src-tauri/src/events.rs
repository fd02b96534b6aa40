//! Pipeline events to the UI (every window listens to `pipeline`).

use stageline_engine::events::{DASHBOARD_EVENT, PIPELINE_EVENT};
use stageline_engine::flow::DashboardUpdate;
use stageline_engine::ports::Events;
use stageline_engine::PipelineEvent;
use tauri::{AppHandle, Emitter};

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

    fn wants_dashboard(&self) -> bool {
        true
    }

    /// The dashboard and the stage windows (which show their stage's card)
    /// listen; Tauri sends an event only to windows that listen to it.
    fn dashboard(&self, update: DashboardUpdate) {
        let _ = self.app.emit(DASHBOARD_EVENT, &update);
    }
}
