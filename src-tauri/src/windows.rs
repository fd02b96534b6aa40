//! The app's windows: the dashboard ("main") and one window per stage. Both
//! remember their size and place (window-state plugin); closing the
//! dashboard hides it, so the pipeline keeps running in the tray.

use stageline_engine::StageId;
use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder};

/// The label of the dashboard window.
pub const MAIN: &str = "main";

/// Shows and focuses the dashboard.
pub fn show_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Shows the dashboard with an approval's dialog open (a notification's body was clicked).
pub fn show_approval(app: &AppHandle, approval_id: i64) {
    show_main(app);
    let _ = app.emit_to(MAIN, "open-approval", approval_id);
}

/// Opens (or focuses) the stage's own window.
pub fn open_stage_window(app: &AppHandle, stage: StageId, title: &str) -> tauri::Result<()> {
    let label = format!("stage-{stage}");
    if let Some(window) = app.get_webview_window(&label) {
        let _ = window.unminimize();
        window.show()?;
        return window.set_focus();
    }
    WebviewWindowBuilder::new(
        app,
        &label,
        WebviewUrl::App(format!("index.html?stage={stage}").into()),
    )
    .title(title)
    .inner_size(980.0, 720.0)
    .min_inner_size(640.0, 420.0)
    .build()?;
    Ok(())
}
