//! Stacks: the repository and branch checked through Git before anything is saved.

use stageline_engine::flow::{Input, Reply, StackView};
use stageline_engine::validation::FieldErrors;
use stageline_engine::{Stack, StackId};
use stageline_git::{check_repository, GitCredentials};

use crate::core::Core;
use crate::error::{AppError, AppResult};
use crate::inputs::NewStack;

/// Every stack with its stages, as the dashboard shows them.
pub async fn dashboard(core: &Core) -> AppResult<Vec<StackView>> {
    Ok(core.pipeline.read(|s| s.dashboard()).await?)
}

/// Creates a stack with its `dev` stage (in the account's region); the
/// engine watches its branch, whose head becomes its first release.
/// `watch: false` holds the watch until `Input::WatchBranch` (its stages can
/// be set up before the head flows in).
pub async fn create(core: &Core, input: NewStack, watch: bool) -> AppResult<Stack> {
    let stack = Stack {
        id: StackId(stageline_engine::ports::Clock::new_id(core.clock.as_ref())),
        name: input.name.trim().to_string(),
        repository: input.repository.trim().to_string(),
        branch: input.branch.trim().to_string(),
        account_id: input.account_id,
        poll_interval_secs: input.poll_interval_secs,
        created_at: stageline_engine::ports::Clock::now(core.clock.as_ref()),
        deleting: false,
        // Set by the engine: its first stage's region.
        home_region: String::new(),
        team: None,
    };
    // The engine's rules, asked before Git is.
    let candidate = stack.clone();
    let region = core
        .pipeline
        .read(move |s| {
            s.check_new_stack(&candidate)?;
            Ok::<_, FieldErrors>(
                s.chosen_account(candidate.account_id)?
                    .default_region
                    .clone(),
            )
        })
        .await??;
    let https_token = input
        .https_token
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().to_string());
    let credentials = GitCredentials {
        https_token: https_token.clone(),
        ssh_key_file: None,
    };
    check_repository(&stack.repository, &stack.branch, credentials)
        .await
        .map_err(FieldErrors::from)?;

    if let Some(token) = &https_token {
        core.keychain
            .put(
                &stageline_engine::keychain_names::https_token(stack.id),
                token,
            )
            .await?;
        if let Ok(mut tokens) = core.git_tokens.write() {
            tokens.insert(stack.id, token.to_string());
        }
    }
    let Reply::Stack(stack) = core
        .pipeline
        .send(Input::CreateStack {
            stack,
            first_region: region,
            watch,
        })
        .await?
    else {
        return Err(AppError::internal("The stack was not created."));
    };
    Ok(stack)
}

/// Deletes every stage's AWS stack, then the stack (`confirmation` must be `delete`).
pub async fn delete(core: &Core, id: StackId, confirmation: String) -> AppResult<()> {
    core.pipeline
        .send(Input::DeleteStack {
            stack_id: id,
            confirmation,
        })
        .await?;
    // A stack being deleted posts no more chat messages; its webhook goes now.
    let _ = core
        .keychain
        .delete(&stageline_engine::keychain_names::chat_webhook(id))
        .await;
    Ok(())
}
