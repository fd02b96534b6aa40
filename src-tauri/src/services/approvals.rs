//! "What will ship" for an approval: the commits since what the stage runs,
//! the CloudFormation changes the deploy would make, and the variables that
//! differ from the previous stage — with the engine's drift guard for ones
//! missing here.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use stageline_engine::drift::{variable_differences, VariableDifference};
use stageline_engine::pipeline::{prepare_deploy_job, SecretSources};
use stageline_engine::ports::DiscardedLog;
use stageline_engine::{ApprovalId, Commit, Release};
use ts_rs::TS;

use crate::core::Core;
use crate::error::{AppError, AppResult};

/// One resource the deploy would add, modify or remove.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ResourceChangeView {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// For a modification: whether the resource is replaced (`True`, `False`, `Conditional`).
    pub replacement: Option<String>,
}

/// Everything the approval dialog shows about what will ship.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ApprovalPreview {
    pub stage_name: String,
    pub release: Release,
    /// What the stage runs now.
    pub current: Option<Release>,
    pub previous_stage_name: Option<String>,
    /// The commits the candidate adds, newest first.
    pub commits: Vec<Commit>,
    pub commits_error: Option<String>,
    pub creates_stack: bool,
    pub changes: Vec<ResourceChangeView>,
    pub changes_error: Option<String>,
    pub variables: Vec<VariableDifference>,
}

/// What approving `id` would ship.
pub async fn preview(core: &Core, id: ApprovalId) -> AppResult<ApprovalPreview> {
    let found = core
        .pipeline
        .read(move |s| {
            let approval = s.pending_approvals().find(|a| a.id == id)?.clone();
            let context = s.part_context(approval.stage_id, approval.release_id)?;
            let current = s
                .flow(approval.stage_id)
                .deployed
                .and_then(|r| s.release(r))
                .cloned();
            let previous = s.previous_stage(approval.stage_id).cloned();
            Some((context, current, previous))
        })
        .await?;
    let (context, current, previous) = found
        .ok_or_else(|| AppError::field("approval", "This release no longer waits for approval."))?;

    let from = current.as_ref().map(|r| r.commit.sha.clone());
    let (commits, commits_error) = match core
        .git
        .commits_between(
            &context.stack,
            from.as_deref(),
            &context.release.commit.sha,
            50,
        )
        .await
    {
        Ok(commits) => (commits, None),
        Err(error) => (Vec::new(), Some(error.message)),
    };

    let secrets = SecretSources {
        keychain: &core.keychain,
        deployer: &core.deployer,
        account: &context.account,
    };
    let change_set = async {
        // The release's own image (its build), which release.yml tags for the stage.
        let image = context
            .release
            .artifact
            .as_ref()
            .map(|a| a.image.clone())
            .ok_or_else(|| "This release has no image yet.".to_string())?;
        let job = prepare_deploy_job(&context, image, secrets).await?;
        let summary = tokio::time::timeout(
            Duration::from_secs(90),
            core.deployer.preview(job, Arc::new(DiscardedLog)),
        )
        .await
        .map_err(|_| "AWS took too long to compute the change set.".to_string())?
        .map_err(|e| e.message)?;
        Ok::<_, String>(summary)
    };
    let (creates_stack, changes, changes_error) = match change_set.await {
        Ok(summary) => (
            summary.creates_stack,
            summary
                .changes
                .into_iter()
                .map(|c| ResourceChangeView {
                    action: c.action,
                    logical_id: c.logical_id,
                    resource_type: c.resource_type,
                    replacement: c.replacement,
                })
                .collect(),
            None,
        ),
        Err(message) => (false, Vec::new(), Some(message)),
    };

    let variables = previous
        .as_ref()
        .map(|up| variable_differences(&context.stage.settings, &up.settings))
        .unwrap_or_default();
    Ok(ApprovalPreview {
        stage_name: context.stage.settings.name.clone(),
        release: context.release.clone(),
        current,
        previous_stage_name: previous.map(|s| s.settings.name),
        commits,
        commits_error,
        creates_stack,
        changes,
        changes_error,
        variables,
    })
}
