//! The stage window and the approval dialog's "what will ship".

use stageline_engine::{ApprovalId, Stage, StageId};
use tauri::{AppHandle, Manager};

use crate::commands::CoreState;
use crate::error::{AppError, AppResult};
use crate::services::approvals::{self, ApprovalPreview};
use crate::services::stages;
use crate::windows;

/// Opens (or focuses) the stage's own window.
#[tauri::command]
pub async fn open_stage_window(
    app: AppHandle,
    core: CoreState<'_>,
    stage_id: StageId,
) -> AppResult<()> {
    let title = stages::window_title(&core, stage_id)
        .await?
        .ok_or_else(|| AppError::field("stage", "This stage no longer exists."))?;
    windows::open_stage_window(&app, stage_id, &title)
        .map_err(|e| AppError::internal(format!("Could not open the stage window: {e}")))
}

/// The stage's CloudFormation template, as it would be deployed now.
#[tauri::command]
pub async fn stage_template(core: CoreState<'_>, stage_id: StageId) -> AppResult<String> {
    stages::template(&core, stage_id).await
}

/// Saves the stage's template in the Downloads folder; returns where.
#[tauri::command]
pub async fn export_template(
    app: AppHandle,
    core: CoreState<'_>,
    stage_id: StageId,
) -> AppResult<String> {
    let folder = app
        .path()
        .download_dir()
        .or_else(|_| app.path().home_dir())
        .map_err(|e| AppError::internal(e.to_string()))?;
    stages::export_template(&core, stage_id, &folder).await
}

/// Opens the stage's service URL (from its stack's outputs) in the browser.
#[tauri::command]
pub async fn open_stage_url(core: CoreState<'_>, stage_id: StageId) -> AppResult<()> {
    let url = core
        .pipeline
        .read(move |s| s.service(stage_id).url)
        .await?
        .ok_or_else(|| {
            crate::error::AppError::field(
                "stage",
                "This stage has no address yet: its stack is not deployed.",
            )
        })?;
    crate::browser::open(&url)
}

/// R12: scale the stage's service (0 stops it) without a redeploy.
#[tauri::command]
pub async fn scale_stage(core: CoreState<'_>, stage_id: StageId, count: u32) -> AppResult<Stage> {
    stages::scale(&core, stage_id, count).await
}

/// The stage's CloudFormation stack now (a failed rollback is offered a way out).
#[tauri::command]
pub async fn stage_stack_health(
    core: CoreState<'_>,
    stage_id: StageId,
) -> AppResult<stages::StageStackHealth> {
    stages::stack_health(&core, stage_id).await
}

/// Continues the stage stack's failed rollback.
#[tauri::command]
pub async fn continue_rollback(
    core: CoreState<'_>,
    stage_id: StageId,
) -> AppResult<stages::StageStackHealth> {
    stages::continue_rollback(&core, stage_id).await
}

/// What approving would ship.
#[tauri::command]
pub async fn approval_preview(
    core: CoreState<'_>,
    approval_id: ApprovalId,
) -> AppResult<ApprovalPreview> {
    approvals::preview(&core, approval_id).await
}
