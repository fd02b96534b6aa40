//! Approvals, retries, rollbacks and history (logs are in `logs`).

use stageline_engine::flow::Input;
use stageline_engine::{ApprovalId, Decision, DecisionSource, ReleaseId, RunId, StageId};
use stageline_store::RunRecord;

use crate::commands::CoreState;
use crate::error::AppResult;

fn decision(core: &crate::core::Core, comment: String, via: DecisionSource) -> Decision {
    Decision {
        by: core.user(),
        at: stageline_engine::ports::Clock::now(core.clock.as_ref()),
        comment,
        via,
    }
}

/// R5: approve or reject a waiting release.
#[tauri::command]
pub async fn decide(
    core: CoreState<'_>,
    approval_id: ApprovalId,
    approve: bool,
    comment: String,
) -> AppResult<()> {
    crate::services::team::decide(
        &core,
        approval_id,
        approve,
        comment,
        DecisionSource::Dashboard,
    )
    .await
}

/// Runs a failed run's release again at its stage.
#[tauri::command]
pub async fn retry_run(core: CoreState<'_>, run_id: RunId, comment: String) -> AppResult<()> {
    let decision = decision(&core, comment, DecisionSource::Dashboard);
    core.pipeline
        .send(Input::Retry { run_id, decision })
        .await?;
    Ok(())
}

/// Deploys an earlier successful release to the stage again (rollback).
#[tauri::command]
pub async fn redeploy(
    core: CoreState<'_>,
    stage_id: StageId,
    release_id: ReleaseId,
    comment: String,
) -> AppResult<()> {
    let decision = decision(&core, comment, DecisionSource::Dashboard);
    core.pipeline
        .redeploy(stage_id, release_id, decision)
        .await?;
    Ok(())
}

/// The stage's runs, newest first.
#[tauri::command]
pub async fn run_history(core: CoreState<'_>, stage_id: StageId) -> AppResult<Vec<RunRecord>> {
    Ok(core
        .store
        .run_history(stage_id, crate::services::team::HISTORY_LIMIT)
        .await?)
}

/// R22: the runs of a team stack's stage that teammates' desktops made and
/// this one has not (none for a solo stack), newest first.
#[tauri::command]
pub async fn teammates_runs(
    core: CoreState<'_>,
    stage_id: StageId,
) -> AppResult<Vec<stageline_engine::team::SharedRunSummary>> {
    crate::services::team::teammates_runs(&core, stage_id).await
}

/// The approvals asked at a stage and how each was decided, newest first.
#[tauri::command]
pub async fn approval_history(
    core: CoreState<'_>,
    stage_id: StageId,
) -> AppResult<Vec<stageline_engine::Approval>> {
    Ok(core.store.approval_history(stage_id, 50).await?)
}

/// The windows the Insights view offers; anything else is refused, so a
/// mistyped value cannot ask for a year of day buckets by accident.
const INSIGHT_WINDOWS: [u32; 3] = [7, 30, 90];

/// A stack's delivery figures (deployment frequency, lead time, change
/// failure rate, time to restore, run durations) over the last `days` days.
#[tauri::command]
pub async fn stack_insights(
    core: CoreState<'_>,
    stack_id: stageline_engine::StackId,
    days: u32,
) -> AppResult<stageline_store::StackInsights> {
    if !INSIGHT_WINDOWS.contains(&days) {
        return Err(crate::error::AppError::field(
            "days",
            "Choose 7, 30 or 90 days.",
        ));
    }
    let now = stageline_engine::ports::Clock::now(core.clock.as_ref());
    Ok(core.store.insights(stack_id, days, now).await?)
}
