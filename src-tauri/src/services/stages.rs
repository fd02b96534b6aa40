//! Stages: settings with their secrets, inserted, updated and deleted through the engine.

use std::sync::Arc;

use stageline_engine::flow::{Input, Reply};
use stageline_engine::{StackId, Stage, StageId};

use crate::core::Core;
use crate::error::{AppError, AppResult};
use crate::inputs::StageSettingsInput;
use crate::services::{alarms, env, team_stages};

async fn stage(core: &Core, id: StageId) -> AppResult<Stage> {
    core.pipeline
        .read(move |s| s.stage(id).cloned())
        .await?
        .ok_or_else(|| AppError::field("stage", "This stage no longer exists."))
}

/// R1/R7: inserts a stage right after `after` (`None`: first).
pub async fn create(
    core: &Core,
    stack_id: StackId,
    after: Option<StageId>,
    input: StageSettingsInput,
) -> AppResult<Stage> {
    alarms::check_alarms_exist(core, stack_id, &input.region, input.verification.as_ref()).await?;
    let prepared = env::prepare(core, input, &[]).await?;
    if let Some(team) = team_stages::shared(core, stack_id).await? {
        let created = team_stages::create(core, team, after, prepared.settings).await;
        return finish_team_change(core, created, &prepared.written).await;
    }
    match core
        .pipeline
        .send(Input::CreateStage {
            stack_id,
            after,
            settings: prepared.settings,
        })
        .await
    {
        Ok(Reply::Stage(stage)) => Ok(stage),
        Ok(_) => Err(AppError::internal("The stage was not created.")),
        Err(error) => {
            env::forget(core, &prepared.written).await;
            Err(error.into())
        }
    }
}

/// New settings for a stage (approval switch R6, desired count R12, variables).
pub async fn update(core: &Core, id: StageId, input: StageSettingsInput) -> AppResult<Stage> {
    let before = stage(core, id).await?;
    alarms::check_alarms_exist(
        core,
        before.stack_id,
        &input.region,
        input.verification.as_ref(),
    )
    .await?;
    let own = env::secret_refs(&before.settings);
    let prepared = env::prepare(core, input, &own).await?;
    if let Some(team) = team_stages::shared(core, before.stack_id).await? {
        let updated = team_stages::update(core, team, &before, prepared.settings).await;
        return finish_team_change(core, updated, &prepared.written).await;
    }
    match core
        .pipeline
        .send(Input::UpdateStage {
            stage_id: id,
            settings: prepared.settings,
        })
        .await
    {
        Ok(Reply::Stage(updated)) => {
            let still_used = env::secret_refs(&updated.settings);
            let dropped: Vec<String> = own
                .into_iter()
                .filter(|r| !still_used.contains(r))
                .collect();
            env::forget(core, &dropped).await;
            Ok(updated)
        }
        Ok(_) => Err(AppError::internal("The stage was not updated.")),
        Err(error) => {
            env::forget(core, &prepared.written).await;
            Err(error.into())
        }
    }
}

/// A team stage change done or refused: the keychain entries written for it
/// go either way (done: their values are in Secrets Manager now).
async fn finish_team_change(
    core: &Core,
    change: AppResult<Stage>,
    written: &[String],
) -> AppResult<Stage> {
    env::forget(core, written).await;
    change
}

/// R9: deletes a stage once the word `delete` is typed (checked by the engine).
pub async fn delete(core: &Arc<Core>, id: StageId, confirmation: String) -> AppResult<()> {
    let before = stage(core, id).await?;
    if team_stages::shared(core, before.stack_id).await?.is_some() {
        // Team secrets are in Secrets Manager, not this keychain.
        return team_stages::delete(core, id, confirmation).await;
    }
    core.pipeline
        .send(Input::DeleteStage {
            stage_id: id,
            confirmation,
        })
        .await?;
    env::forget(core, &env::secret_refs(&before.settings)).await;
    Ok(())
}

/// Tries again to delete a stage whose AWS stack failed to delete.
pub async fn retry_delete(core: &Core, id: StageId) -> AppResult<()> {
    core.pipeline.send(Input::RetryDeleteStage(id)).await?;
    Ok(())
}

/// "stack · stage", for window titles and notifications.
pub async fn window_title(core: &Core, id: StageId) -> AppResult<Option<String>> {
    Ok(core
        .pipeline
        .read(move |s| {
            let stage = s.stage(id)?;
            Some(format!(
                "{} · {}",
                s.stack(stage.stack_id)?.name,
                stage.settings.name
            ))
        })
        .await?)
}

/// R12: sets the stage's desired count; its service scales without a redeploy.
/// Only the count changes, inside the engine (no other setting is read here
/// and written back, so a concurrent change is never undone).
pub async fn scale(core: &Core, id: StageId, count: u32) -> AppResult<Stage> {
    let before = stage(core, id).await?;
    if let Some((_, stack)) = team_stages::shared(core, before.stack_id).await? {
        return team_stages::scale(core, &stack, &before, count).await;
    }
    match core
        .pipeline
        .send(Input::Scale {
            stage_id: id,
            count,
        })
        .await?
    {
        Reply::Stage(stage) => Ok(stage),
        _ => Err(AppError::internal("The stage was not updated.")),
    }
}

/// The stage's CloudFormation template (pretty JSON).
pub async fn template(core: &Core, id: StageId) -> AppResult<String> {
    let stage = stage(core, id).await?;
    let stack_id = stage.stack_id;
    let stack = core
        .pipeline
        .read(move |s| s.stack(stack_id).cloned())
        .await?
        .ok_or_else(|| AppError::field("stage", "This stage's stack no longer exists."))?;
    Ok(stageline_aws::template_text(&stack, &stage))
}

/// Writes the template to `<folder>/<stack>-<stage>.template.json`; returns the path.
pub async fn export_template(
    core: &Core,
    id: StageId,
    folder: &std::path::Path,
) -> AppResult<String> {
    let text = template(core, id).await?;
    let name = window_title(core, id)
        .await?
        .unwrap_or_default()
        .replace(" · ", "-");
    let path = folder.join(format!("{name}.template.json"));
    std::fs::create_dir_all(folder)
        .and_then(|_| std::fs::write(&path, text))
        .map_err(|e| {
            AppError::internal(format!(
                "Could not save the template to {}: {e}",
                path.display()
            ))
        })?;
    Ok(path.display().to_string())
}

/// A stage's CloudFormation stack as the stage window shows it.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StageStackHealth {
    /// CloudFormation's status; `None` when the stage has no stack yet.
    pub status: Option<String>,
    /// CloudFormation's reason for it, if any.
    pub reason: Option<String>,
    /// The last rollback failed: the stack takes no deploy until the
    /// rollback is continued (offered in the stage window).
    pub rollback_failed: bool,
}

impl From<stageline_aws::StackHealth> for StageStackHealth {
    fn from(health: stageline_aws::StackHealth) -> Self {
        StageStackHealth {
            status: health.status,
            reason: health.reason,
            rollback_failed: health.rollback_failed,
        }
    }
}

/// The stage with its stack and account, for calls the deployer makes outside a run.
async fn stage_in_aws(
    core: &Core,
    id: StageId,
) -> AppResult<(stageline_engine::Account, stageline_engine::Stack, Stage)> {
    core.pipeline
        .read(move |s| {
            let stage = s.stage(id)?.clone();
            let stack = s.stack(stage.stack_id)?.clone();
            let account = s.account(stack.account_id)?.clone();
            Some((account, stack, stage))
        })
        .await?
        .ok_or_else(|| AppError::field("stage", "This stage no longer exists."))
}

/// What the stage's CloudFormation stack is now.
pub async fn stack_health(core: &Core, id: StageId) -> AppResult<StageStackHealth> {
    let (account, stack, stage) = stage_in_aws(core, id).await?;
    Ok(core
        .deployer
        .stack_health(account, stack, stage)
        .await?
        .into())
}

/// Continues the stack's failed rollback (UPDATE_ROLLBACK_FAILED) and waits
/// until CloudFormation has settled it.
pub async fn continue_rollback(core: &Core, id: StageId) -> AppResult<StageStackHealth> {
    let (account, stack, stage) = stage_in_aws(core, id).await?;
    Ok(core
        .deployer
        .continue_rollback(
            account,
            stack,
            stage,
            std::sync::Arc::new(stageline_engine::ports::DiscardedLog),
        )
        .await?
        .into())
}

/// R21: stops the line at the stack (`stage_id: None`) or one stage, with a
/// reason; the freeze is recorded as the user's.
pub async fn freeze(
    core: &Core,
    stack_id: StackId,
    stage_id: Option<StageId>,
    reason: String,
) -> AppResult<()> {
    core.pipeline
        .send(Input::Freeze {
            stack_id,
            stage_id,
            reason,
            by: core.user(),
        })
        .await?;
    Ok(())
}

/// R21: the line moves again; each stage takes the newest release it held.
pub async fn unfreeze(core: &Core, stack_id: StackId, stage_id: Option<StageId>) -> AppResult<()> {
    core.pipeline
        .send(Input::Unfreeze { stack_id, stage_id })
        .await?;
    Ok(())
}
