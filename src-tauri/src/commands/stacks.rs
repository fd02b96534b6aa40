//! Stacks and stages.

use stageline_engine::flow::StackView;
use stageline_engine::{Stack, StackId, Stage, StageId};

use crate::commands::CoreState;
use crate::error::AppResult;
use crate::inputs::{NewStack, StageSettingsInput};
use crate::services::{stacks, stages};

#[tauri::command]
pub async fn dashboard(core: CoreState<'_>) -> AppResult<Vec<StackView>> {
    stacks::dashboard(&core).await
}

#[tauri::command]
pub async fn create_stack(core: CoreState<'_>, input: NewStack) -> AppResult<Stack> {
    stacks::create(&core, input, true).await
}

#[tauri::command]
pub async fn delete_stack(core: CoreState<'_>, id: StackId, confirmation: String) -> AppResult<()> {
    stacks::delete(&core, id, confirmation).await
}

#[tauri::command]
pub async fn create_stage(
    core: CoreState<'_>,
    stack_id: StackId,
    after: Option<StageId>,
    settings: StageSettingsInput,
) -> AppResult<Stage> {
    stages::create(&core, stack_id, after, settings).await
}

#[tauri::command]
pub async fn update_stage(
    core: CoreState<'_>,
    id: StageId,
    settings: StageSettingsInput,
) -> AppResult<Stage> {
    stages::update(&core, id, settings).await
}

/// R21: freezes the stack (no `stage_id`) or one of its stages.
#[tauri::command]
pub async fn freeze(
    core: CoreState<'_>,
    stack_id: StackId,
    stage_id: Option<StageId>,
    reason: String,
) -> AppResult<()> {
    stages::freeze(&core, stack_id, stage_id, reason).await
}

/// R21: unfreezes the stack (no `stage_id`) or one of its stages.
#[tauri::command]
pub async fn unfreeze(
    core: CoreState<'_>,
    stack_id: StackId,
    stage_id: Option<StageId>,
) -> AppResult<()> {
    stages::unfreeze(&core, stack_id, stage_id).await
}

#[tauri::command]
pub async fn delete_stage(core: CoreState<'_>, id: StageId, confirmation: String) -> AppResult<()> {
    stages::delete(&core, id, confirmation).await
}

#[tauri::command]
pub async fn retry_delete_stage(core: CoreState<'_>, id: StageId) -> AppResult<()> {
    stages::retry_delete(&core, id).await
}

/// The AWS region codes a stage may name (R10).
#[tauri::command]
pub fn aws_regions() -> Vec<&'static str> {
    stageline_engine::regions::AWS_REGIONS.to_vec()
}
