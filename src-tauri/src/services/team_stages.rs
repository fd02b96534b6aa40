//! Stage changes on a team stack (R22): checked here by the engine's rules,
//! new secret values moved to the account's Secrets Manager (teammates
//! cannot read this keychain), written into the team's definition first,
//! and applied on this desktop only once that write succeeded; teammates'
//! desktops follow the definition by polling it.

use stageline_engine::flow::{Input, Reply};
use stageline_engine::pipeline::move_secrets_to_team;
use stageline_engine::validation::{FieldError, FieldErrors};
use stageline_engine::{
    Account, ErrorCode, Stack, StackId, Stage, StageId, StageLifecycle, StageSettings,
};
use stageline_team::definition::{change_stage, insert_stage, DefinitionError, SharedStack};
use stageline_team::{TeamChangeError, TeamDeletion};

use std::sync::Arc;

use crate::core::Core;
use crate::error::{AppError, AppResult};

/// The stack and its account when the stack is shared with a team (`None`:
/// a solo stack, whose stages change on this desktop alone).
pub async fn shared(core: &Core, stack_id: StackId) -> AppResult<Option<(Account, Stack)>> {
    Ok(core
        .pipeline
        .read(move |s| {
            let stack = s.stack(stack_id).filter(|st| st.team.is_some())?.clone();
            Some((s.account(stack.account_id)?.clone(), stack))
        })
        .await?)
}

/// R1 on a team stack: a new stage after `after` (`None`: first).
pub async fn create(
    core: &Core,
    (account, stack): (Account, Stack),
    after: Option<StageId>,
    settings: StageSettings,
) -> AppResult<Stage> {
    let stack_id = stack.id;
    let checked = settings.clone();
    let after_name = core
        .pipeline
        .read(move |s| {
            s.check_new_stage(stack_id, after, &checked)?;
            Ok::<_, stageline_engine::EngineError>(
                after.and_then(|id| s.stage(id).map(|st| st.settings.name.clone())),
            )
        })
        .await??;
    let settings = to_team_secrets(core, &account, &stack, settings).await?;
    let here = Input::CreateStage {
        stack_id,
        after,
        settings: settings.clone(),
    };
    written_then_here(core, stack_id, insert_stage(after_name, settings), here).await
}

/// New settings for a team stack's stage: the settings changed here are
/// written over the team's, setting by setting.
pub async fn update(
    core: &Core,
    (account, stack): (Account, Stack),
    before: &Stage,
    settings: StageSettings,
) -> AppResult<Stage> {
    let stage_id = before.id;
    let checked = settings.clone();
    core.pipeline
        .read(move |s| s.check_stage_change(stage_id, &checked))
        .await??;
    let settings = to_team_secrets(core, &account, &stack, settings).await?;
    let here = Input::UpdateStage {
        stage_id,
        settings: settings.clone(),
    };
    let change = change_stage(before.settings.clone(), settings);
    written_then_here(core, stack.id, change, here).await
}

/// R12 on a team stack: the desired count is the team's, so every
/// desktop's dashboard shows it and none scales it back.
pub async fn scale(core: &Core, stack: &Stack, before: &Stage, count: u32) -> AppResult<Stage> {
    let mut after = before.settings.clone();
    after.desired_count = count;
    let stage_id = before.id;
    let checked = after.clone();
    core.pipeline
        .read(move |s| s.check_stage_change(stage_id, &checked))
        .await??;
    let here = Input::Scale { stage_id, count };
    let change = change_stage(before.settings.clone(), after);
    written_then_here(core, stack.id, change, here).await
}

/// R9 on a team stack: deleted while this desktop holds the stage's lease
/// (refused while a teammate's desktop runs a part of it), taken out of the
/// team's definition, the lease given up once its AWS stack is gone.
pub async fn delete(core: &Arc<Core>, stage_id: StageId, confirmation: String) -> AppResult<()> {
    let deletion = core
        .team_definitions
        .delete_stage(&core.pipeline, stage_id, confirmation)
        .await
        .map_err(team_error)?;
    finish_in_background(core, deletion);
    Ok(())
}

/// Drives a team stage's deletion to its end while the app runs.
pub fn finish_in_background(core: &Arc<Core>, deletion: TeamDeletion) {
    let core = Arc::downgrade(core);
    tokio::spawn(async move {
        if let Some(core) = core.upgrade() {
            deletion.finish(&core.pipeline).await;
        }
    });
}

/// Writes `change` into the team's definition, then sends `here` to this
/// desktop's engine; the stage as it is here after both.
async fn written_then_here(
    core: &Core,
    stack_id: StackId,
    change: impl Fn(&mut SharedStack) -> Result<(), String>,
    here: Input,
) -> AppResult<Stage> {
    let reply = core
        .team_definitions
        .change(&core.pipeline, stack_id, change, here)
        .await
        .map_err(team_error)?;
    match reply {
        Reply::Stage(stage) => Ok(stage),
        _ => Err(AppError::internal("The stage was not changed.")),
    }
}

/// Keychain secrets of `settings` copied to Secrets Manager: the settings
/// with their ARNs (the caller removes the keychain entries it wrote). A
/// failure is shown beside the variable's value.
async fn to_team_secrets(
    core: &Core,
    account: &Account,
    stack: &Stack,
    settings: StageSettings,
) -> AppResult<StageSettings> {
    let stage = Stage {
        id: StageId(0),
        stack_id: stack.id,
        position: 0,
        settings: settings.clone(),
        lifecycle: StageLifecycle::Active,
    };
    let moved = move_secrets_to_team(account, stack, &[stage], &core.keychain, &core.deployer)
        .await
        .map_err(|errors| {
            // `stages.0.buildEnv.1` → the form's `buildEnv.1.value`.
            FieldErrors(
                errors
                    .0
                    .into_iter()
                    .map(|e| FieldError {
                        field: format!("{}.value", e.field.trim_start_matches("stages.0.")),
                        message: e.message,
                    })
                    .collect(),
            )
        })?;
    Ok(moved.stages.into_iter().next().map_or(settings, |(_, s)| s))
}

/// A refused team write in the user's words.
fn team_error(error: TeamChangeError) -> AppError {
    let code = match error {
        TeamChangeError::Engine(error) => return error.into(),
        TeamChangeError::Definition(DefinitionError::Refused(_) | DefinitionError::Busy)
        | TeamChangeError::NotShared
        | TeamChangeError::StageBusy(_)
        | TeamChangeError::Refused(_) => ErrorCode::Conflict,
        TeamChangeError::Definition(_) | TeamChangeError::Objects(_) => ErrorCode::Aws,
    };
    AppError {
        code,
        message: error.to_string(),
        fields: Vec::new(),
    }
}
