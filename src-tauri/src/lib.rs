//! The app shell: the composition root. It opens the core (engine plus
//! adapters) in the app data dir, exposes thin commands, and forwards
//! pipeline events to the windows.

mod browser;
mod chat;
pub mod cli;
mod clock;
mod commands;
pub mod core;
pub mod demo;
pub mod diagnostics;
pub mod error;
mod events;
pub mod inputs;
mod logs;
mod notifications;
pub mod services;
mod tray;
mod windows;

use std::sync::Arc;

use tauri::Manager;

use crate::core::{Core, CoreConfig};
use crate::events::WindowEvents;

/// When the process started, for the startup figure (`dashboard_painted`).
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// The UI calls this once the dashboard has painted; with
/// `STAGELINE_REPORT_STARTUP` set, the time since start is printed for
/// `.ci/measure-startup`.
#[tauri::command]
fn dashboard_painted() {
    static REPORTED: std::sync::Once = std::sync::Once::new();
    REPORTED.call_once(|| {
        let elapsed = since_start_ms();
        tracing::info!(ms = elapsed, "the dashboard painted");
        if std::env::var_os("STAGELINE_REPORT_STARTUP").is_some() {
            println!("stageline-dashboard-painted-ms {elapsed:.0}");
        }
    });
}

/// Milliseconds since the process started (for the diagnostic log's startup figures).
fn since_start_ms() -> u64 {
    STARTED.get().map_or(0, |t| t.elapsed().as_millis() as u64)
}

/// Starts the desktop app.
pub fn run() {
    STARTED.get_or_init(std::time::Instant::now);
    tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            windows::show_main(app);
        }))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .setup(|app| {
            let data_dir = app.path().app_data_dir()?;
            if let Err(error) = diagnostics::start(&data_dir) {
                eprintln!("Stageline: the diagnostic log cannot be written: {error}");
            }
            let chat = tauri::async_runtime::block_on(async { chat::Chat::start() });
            let events = Arc::new(WindowEvents {
                app: app.handle().clone(),
                chat: chat.notifier.clone(),
            });
            let core =
                tauri::async_runtime::block_on(Core::start(CoreConfig::new(&data_dir), events))?;
            tracing::info!(ms = since_start_ms(), "the engine started");
            tauri::async_runtime::block_on(async { chat.attach(&core) });
            app.manage(chat);
            if let Ok(endpoint) = std::env::var(demo::DEMO_ENDPOINT_VARIABLE) {
                let core = core.clone();
                tauri::async_runtime::spawn(async move {
                    if let Err(error) = demo::seed_if_empty(&core, &endpoint).await {
                        tracing::warn!(%error, "the demo could not be set up");
                    }
                });
            }
            if let Err(error) = cli::server::serve(core.clone(), &data_dir) {
                tracing::warn!(%error, "the command line cannot reach this app");
            }
            app.manage(core);
            notifications::register(app.handle())?;
            tray::install(app.handle())?;
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            dashboard_painted,
            commands::accounts::list_accounts,
            commands::accounts::create_account,
            commands::accounts::delete_account,
            commands::accounts::check_account,
            commands::chat::chat_webhook,
            commands::chat::set_chat_webhook,
            commands::chat::clear_chat_webhook,
            commands::chat::test_chat_webhook,
            commands::stacks::dashboard,
            commands::stacks::aws_regions,
            commands::stacks::create_stack,
            commands::stacks::delete_stack,
            commands::stacks::create_stage,
            commands::stacks::update_stage,
            commands::stacks::delete_stage,
            commands::stacks::retry_delete_stage,
            commands::stacks::freeze,
            commands::team::share_stack,
            commands::team::join_team_stack,
            commands::team::stop_sharing_stack,
            commands::stacks::unfreeze,
            commands::pipeline::decide,
            commands::pipeline::retry_run,
            commands::pipeline::redeploy,
            commands::pipeline::run_history,
            commands::pipeline::teammates_runs,
            commands::logs::follow_log,
            commands::logs::unfollow_log,
            commands::logs::read_log,
            commands::logs::find_in_log,
            commands::logs::log_errors,
            commands::logs::save_log,
            commands::logs::open_log,
            commands::pipeline::approval_history,
            commands::pipeline::stack_insights,
            commands::stage_window::open_stage_window,
            commands::stage_window::stage_template,
            commands::stage_window::export_template,
            commands::stage_window::scale_stage,
            commands::stage_window::open_stage_url,
            commands::stage_window::approval_preview,
            commands::stage_window::stage_stack_health,
            commands::stage_window::continue_rollback,
        ])
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while running Stageline");
}
