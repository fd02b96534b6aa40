//! The tray: the pipeline keeps running with the dashboard closed. The menu
//! opens the dashboard, shows how many releases await approval, and quits.

use std::sync::Arc;

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, WindowEvent};

use crate::core::Core;
use crate::windows;

/// The menu item whose text follows the number of pending approvals.
struct PendingItem(MenuItem<tauri::Wry>);

fn pending_text(count: usize) -> String {
    match count {
        0 => "No releases awaiting approval".to_string(),
        1 => "1 release awaiting approval…".to_string(),
        n => format!("{n} releases awaiting approval…"),
    }
}

/// Builds the tray icon and menu, and makes closing the dashboard hide it.
pub fn install(app: &AppHandle) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Stageline", true, None::<&str>)?;
    let pending = MenuItem::with_id(app, "pending", pending_text(0), true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Stageline", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[&open, &pending, &PredefinedMenuItem::separator(app)?, &quit],
    )?;
    let mut tray = TrayIconBuilder::with_id("stageline")
        .menu(&menu)
        .tooltip("Stageline")
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" | "pending" => windows::show_main(app),
            "quit" => {
                // The leases this desktop holds expire and a teammate's desktop
                // takes its team stacks' parts over (R22).
                if let Some(core) = app.try_state::<Arc<Core>>() {
                    core.team.stop_renewing();
                }
                app.exit(0)
            }
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    app.manage(PendingItem(pending));

    if let Some(main) = app.get_webview_window(windows::MAIN) {
        let window = main.clone();
        main.on_window_event(move |event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                // The engine keeps running; the tray brings the dashboard back.
                api.prevent_close();
                let _ = window.hide();
            }
        });
    }
    Ok(())
}

/// Updates the pending-approvals item.
pub fn refresh(app: &AppHandle) {
    let (Some(core), Some(item)) = (app.try_state::<Arc<Core>>(), app.try_state::<PendingItem>())
    else {
        return;
    };
    let core = core.inner().clone();
    let item = item.0.clone();
    tauri::async_runtime::spawn(async move {
        if let Ok(count) = core.pipeline.read(|s| s.pending_approvals().count()).await {
            let _ = item.set_text(pending_text(count));
        }
    });
}
