//! Stage environment variables: secret values to the keychain, one entry per
//! value, so deleting or editing one stage never touches another's.

use stageline_engine::team::ApprovalPolicy;
use stageline_engine::validation::{check_env_value_size, FieldErrors};
use stageline_engine::verification::DEFAULT_APPROVAL_EXPIRY_HOURS;
use stageline_engine::{EnvValue, EnvVar, StageSettings, Verification};

use crate::core::Core;
use crate::error::{AppError, AppResult};
use crate::inputs::{EnvValueInput, EnvVarInput, StageSettingsInput};

/// Settings ready for the engine, and the keychain entries written for them
/// (removed again if the engine refuses the settings).
pub struct PreparedSettings {
    pub settings: StageSettings,
    pub written: Vec<String>,
}

fn new_reference(core: &Core) -> String {
    stageline_engine::keychain_names::secret_variable(stageline_engine::ports::Clock::new_id(
        core.clock.as_ref(),
    ))
}

async fn prepare_list(
    core: &Core,
    list_field: &str,
    vars: Vec<EnvVarInput>,
    own_refs: &[String],
    written: &mut Vec<String>,
) -> AppResult<Vec<EnvVar>> {
    let mut result = Vec::with_capacity(vars.len());
    for (index, var) in vars.into_iter().enumerate() {
        let value = match var.value {
            EnvValueInput::Plain { value } => EnvValue::Plain { value },
            EnvValueInput::NewSecret { value } => {
                // The engine only sees the keychain entry: the value's size
                // is checked here, on its way there (same limit as plain values).
                let field = format!("{list_field}.{index}.value");
                let mut errors = FieldErrors::default();
                check_env_value_size(&field, &value, &mut errors);
                errors.into_result()?;
                let reference = new_reference(core);
                core.keychain.put(&reference, &value).await?;
                written.push(reference.clone());
                EnvValue::Secret {
                    keychain_ref: reference,
                }
            }
            // Secrets Manager holds one value per ARN for the whole team; a
            // copy refers to the same secret.
            EnvValueInput::KeepTeamSecret { arn } => EnvValue::TeamSecret { arn },
            EnvValueInput::KeepSecret { keychain_ref } if own_refs.contains(&keychain_ref) => {
                EnvValue::Secret { keychain_ref }
            }
            EnvValueInput::KeepSecret { keychain_ref } => {
                // Copied from another stage: this stage gets its own entry.
                let value = core.keychain.get(&keychain_ref).await.map_err(|e| {
                    AppError::field(
                        &format!("{list_field}.{index}.value"),
                        format!("Could not copy the secret value: {}", e.message),
                    )
                })?;
                let reference = new_reference(core);
                core.keychain.put(&reference, &value).await?;
                written.push(reference.clone());
                EnvValue::Secret {
                    keychain_ref: reference,
                }
            }
        };
        result.push(EnvVar {
            name: var.name.trim().to_string(),
            value,
        });
    }
    Ok(result)
}

/// The keychain entries a stage's settings refer to.
pub fn secret_refs(settings: &StageSettings) -> Vec<String> {
    settings
        .build_env
        .iter()
        .chain(&settings.runtime_env)
        .filter_map(|v| match &v.value {
            EnvValue::Secret { keychain_ref } => Some(keychain_ref.clone()),
            EnvValue::Plain { .. } | EnvValue::TeamSecret { .. } => None,
        })
        .collect()
}

/// Writes new secret values to the keychain and returns the settings.
/// `own_refs` are the entries the stage already has (kept as they are).
pub async fn prepare(
    core: &Core,
    input: StageSettingsInput,
    own_refs: &[String],
) -> AppResult<PreparedSettings> {
    let mut written = Vec::new();
    let result = async {
        let build_env =
            prepare_list(core, "buildEnv", input.build_env, own_refs, &mut written).await?;
        let runtime_env = prepare_list(
            core,
            "runtimeEnv",
            input.runtime_env,
            own_refs,
            &mut written,
        )
        .await?;
        Ok::<_, AppError>(StageSettings {
            name: input.name.trim().to_string(),
            region: input.region,
            database: input.database,
            requires_approval: input.requires_approval,
            routing: input.routing,
            caching: input.caching,
            build_env,
            runtime_env,
            desired_count: input.desired_count,
            container_port: input.container_port,
            health_path: input.health_path.trim().to_string(),
            cpu_architecture: input.cpu_architecture,
            submodules_and_lfs: input.submodules_and_lfs,
            run_without_sandbox: input.run_without_sandbox,
            verification: input
                .verification
                .unwrap_or_else(|| Verification::for_new_stage(input.requires_approval)),
            approval_expiry_hours: input
                .approval_expiry_hours
                .unwrap_or(DEFAULT_APPROVAL_EXPIRY_HOURS),
            deploy_window: input.deploy_window,
            approval_policy: input
                .approval_policy
                .map(ApprovalPolicy::tidied)
                .unwrap_or_default(),
        })
    }
    .await;
    match result {
        Ok(settings) => Ok(PreparedSettings { settings, written }),
        Err(error) => {
            forget(core, &written).await;
            Err(error)
        }
    }
}

/// Removes keychain entries no stage refers to any more.
pub async fn forget(core: &Core, references: &[String]) {
    for reference in references {
        let _ = core.keychain.delete(reference).await;
    }
}
