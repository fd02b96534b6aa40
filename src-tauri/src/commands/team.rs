//! Team stacks (R22): share a stack, join a teammate's, stop sharing.

use stageline_engine::{AccountId, Stack, StackId, TeamPlace};

use crate::commands::CoreState;
use crate::error::AppResult;
use crate::services::team;

#[tauri::command]
pub async fn share_stack(
    core: CoreState<'_>,
    stack_id: StackId,
    team: TeamPlace,
) -> AppResult<Stack> {
    team::share(&core, stack_id, team).await
}

#[tauri::command]
pub async fn join_team_stack(
    core: CoreState<'_>,
    account_id: AccountId,
    team: TeamPlace,
) -> AppResult<Stack> {
    team::join(&core, account_id, team).await
}

#[tauri::command]
pub async fn stop_sharing_stack(core: CoreState<'_>, stack_id: StackId) -> AppResult<()> {
    team::leave(&core, stack_id).await
}
