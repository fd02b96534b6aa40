//! A part's log: followed live, read in pages, searched, saved, opened.

use std::path::PathBuf;

use stageline_engine::{PartKind, RunId};
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::Manager;

use crate::commands::CoreState;
use crate::error::{AppError, AppResult};
use crate::logs::read;
use crate::logs::view::{LogErrors, LogLines, LogMatches, LogStart, SavedLog};
use crate::logs::LogFiles;

fn files(core: &crate::core::Core, run_id: RunId, part: PartKind) -> AppResult<LogFiles> {
    core.logs
        .files(run_id, part)
        .map_err(|e| AppError::internal(format!("The log could not be read: {e}")))
}

fn unreadable(error: std::io::Error) -> AppError {
    AppError::internal(format!("The log could not be read: {error}"))
}

/// How many lines the log has so far; later ones arrive on `feed` in
/// batches (`LogBatch` messages, small enough to be evaluated in the page at once).
#[tauri::command]
pub async fn follow_log(
    core: CoreState<'_>,
    run_id: RunId,
    part: PartKind,
    feed: Channel<InvokeResponseBody>,
) -> AppResult<LogStart> {
    core.logs
        .follow(run_id, part, move |message| {
            feed.send(InvokeResponseBody::Json(message.to_json()))
                .is_ok()
        })
        .map_err(unreadable)
}

/// Stops sending a followed log's batches (its view closed).
#[tauri::command]
pub async fn unfollow_log(core: CoreState<'_>, follower: u64) -> AppResult<()> {
    core.logs.unfollow(follower);
    Ok(())
}

/// Lines `from..from + count` of the log, as stored.
#[tauri::command]
pub async fn read_log(
    core: CoreState<'_>,
    run_id: RunId,
    part: PartKind,
    from: u64,
    count: u64,
) -> AppResult<LogLines> {
    let files = files(&core, run_id, part)?;
    tauri::async_runtime::spawn_blocking(move || read::page(&files, from, count))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
        .map_err(unreadable)
}

/// The lines whose text contains `query`, ignoring case.
#[tauri::command]
pub async fn find_in_log(
    core: CoreState<'_>,
    run_id: RunId,
    part: PartKind,
    query: String,
) -> AppResult<LogMatches> {
    let files = files(&core, run_id, part)?;
    tauri::async_runtime::spawn_blocking(move || read::find(&files, &query))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
        .map_err(unreadable)
}

/// The lines that report an error (the first `listed` with their text).
#[tauri::command]
pub async fn log_errors(
    core: CoreState<'_>,
    run_id: RunId,
    part: PartKind,
    listed: u32,
) -> AppResult<LogErrors> {
    let files = files(&core, run_id, part)?;
    tauri::async_runtime::spawn_blocking(move || read::errors(&files, listed as usize))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
        .map_err(unreadable)
}

/// Saves the log as a plain-text file in the user's Downloads folder.
#[tauri::command]
pub async fn save_log(
    app: tauri::AppHandle,
    core: CoreState<'_>,
    run_id: RunId,
    part: PartKind,
) -> AppResult<SavedLog> {
    // The user's Downloads folder, or ~/Downloads where none is configured (as browsers do).
    let folder = app
        .path()
        .download_dir()
        .or_else(|_| app.path().home_dir().map(|home| home.join("Downloads")))
        .map_err(|e| AppError::internal(format!("No folder to save the log in: {e}")))?;
    let files = files(&core, run_id, part)?;
    let name = crate::logs::saved_name(run_id, part);
    tauri::async_runtime::spawn_blocking(move || crate::logs::save(&files, &folder, &name))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
        .map_err(|e| AppError::internal(format!("The log could not be saved: {e}")))
}

/// Opens a plain-text copy of the log in the program the system opens text files with.
#[tauri::command]
pub async fn open_log(
    app: tauri::AppHandle,
    core: CoreState<'_>,
    run_id: RunId,
    part: PartKind,
) -> AppResult<SavedLog> {
    let folder: PathBuf = app
        .path()
        .app_cache_dir()
        .map_err(|e| AppError::internal(format!("No folder for the copy of the log: {e}")))?
        .join("logs");
    let files = files(&core, run_id, part)?;
    let name = crate::logs::saved_name(run_id, part);
    tauri::async_runtime::spawn_blocking(move || {
        crate::logs::open_in_editor(&files, &folder, &name)
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))?
}
