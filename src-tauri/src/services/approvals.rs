//! "What will ship" for an approval: the commits since what the stage runs,
//! the CloudFormation changes the deploy would make, and the variables that
//! differ from the previous stage — with a drift guard for ones missing here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use stageline_engine::pipeline::{prepare_deploy_job, SecretSources};
use stageline_engine::ports::DiscardedLog;
use stageline_engine::{ApprovalId, Commit, EnvValue, EnvVar, Release, StageSettings};
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

/// How a variable compares with the previous stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum VariableStatus {
    /// Set upstream but not here: the drift guard flags it.
    MissingHere,
    /// Only this stage sets it.
    OnlyHere,
    /// Both set it, to different values (or one as a secret).
    Differs,
}

/// A build or runtime variable that differs from the previous stage.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VariableDifference {
    pub name: String,
    /// `build` or `runtime`.
    pub scope: String,
    pub status: VariableStatus,
    pub secret: bool,
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

/// Keys only: a variable's value as compared, never as shown.
fn value_key(var: &EnvVar) -> (bool, String) {
    match &var.value {
        EnvValue::Plain { value } => (false, value.clone()),
        EnvValue::Secret { .. } | EnvValue::TeamSecret { .. } => (true, String::new()),
    }
}

fn compare(scope: &str, here: &[EnvVar], upstream: &[EnvVar]) -> Vec<VariableDifference> {
    let here: BTreeMap<&str, &EnvVar> = here.iter().map(|v| (v.name.as_str(), v)).collect();
    let upstream: BTreeMap<&str, &EnvVar> = upstream.iter().map(|v| (v.name.as_str(), v)).collect();
    let mut names: Vec<&str> = here.keys().chain(upstream.keys()).copied().collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (status, secret) = match (here.get(name), upstream.get(name)) {
                (None, Some(up)) => (VariableStatus::MissingHere, up.is_secret()),
                (Some(own), None) => (VariableStatus::OnlyHere, own.is_secret()),
                (Some(own), Some(up)) if value_key(own) != value_key(up) => {
                    (VariableStatus::Differs, own.is_secret())
                }
                _ => return None,
            };
            Some(VariableDifference {
                name: name.to_string(),
                scope: scope.to_string(),
                status,
                secret,
            })
        })
        .collect()
}

/// The variables of `here` that differ from `upstream` (build, then runtime).
pub fn variable_differences(
    here: &StageSettings,
    upstream: &StageSettings,
) -> Vec<VariableDifference> {
    let mut all = compare("build", &here.build_env, &upstream.build_env);
    all.extend(compare("runtime", &here.runtime_env, &upstream.runtime_env));
    all
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

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, value: EnvValue) -> EnvVar {
        EnvVar {
            name: name.into(),
            value,
        }
    }

    fn plain(value: &str) -> EnvValue {
        EnvValue::Plain {
            value: value.into(),
        }
    }

    #[test]
    fn the_drift_guard_flags_variables_set_upstream_but_missing_here() {
        let mut upstream = stageline_engine::order::first_stage_settings("us-east-1");
        upstream.runtime_env = vec![
            var(
                "API_KEY",
                EnvValue::Secret {
                    keychain_ref: "env/1".into(),
                },
            ),
            var("LOG_LEVEL", plain("debug")),
            var("REGION_HINT", plain("east")),
        ];
        let mut here = upstream.clone();
        here.runtime_env = vec![
            var("LOG_LEVEL", plain("info")),
            var("REGION_HINT", plain("east")),
            var("EXTRA", plain("1")),
        ];
        let found: Vec<(String, VariableStatus, bool)> = variable_differences(&here, &upstream)
            .into_iter()
            .map(|d| (d.name, d.status, d.secret))
            .collect();
        assert_eq!(
            found,
            [
                ("API_KEY".to_string(), VariableStatus::MissingHere, true),
                ("EXTRA".to_string(), VariableStatus::OnlyHere, false),
                ("LOG_LEVEL".to_string(), VariableStatus::Differs, false),
            ]
        );
    }
}
