//! R22: sharing a stack moves its secret values out of this desktop's
//! keychain, which teammates cannot read, into the account's Secrets
//! Manager, so every teammate's builds and deploys read them with their own
//! IAM rights. Only the secrets' ARNs are kept in the store and in the
//! team's S3; no secret value is ever written to either.

use crate::domain::{Account, EnvValue, EnvVar, Stack, Stage, StageSettings};
use crate::ids::StageId;
use crate::ports::{Deployer, Secrets};
use crate::validation::FieldErrors;

/// The Secrets Manager name of a team stack's secret variable. The list
/// (`build` or `runtime`) is a path segment, so it never meets the name a
/// deploy gives a runtime secret (`stageline/<stack>/<stage>/<NAME>`:
/// variable names have no `/`).
pub fn team_secret_name(stack: &str, stage: &str, list: &str, variable: &str) -> String {
    format!("stageline/{stack}/{stage}/{list}/{variable}")
}

/// What moving a stack's secrets made: the stages' settings that now refer
/// to Secrets Manager, and the keychain entries they no longer need (to be
/// removed once the stack is shared).
#[derive(Debug, Default)]
pub struct MovedSecrets {
    pub stages: Vec<(StageId, StageSettings)>,
    pub keychain_refs: Vec<String>,
}

/// Copies every keychain secret of `stages` (the stack's, in order) to
/// Secrets Manager in the stage's region. Nothing local changes here: the
/// caller applies the result with the sharing step. A failure names the
/// variable's field (`stages.1.runtimeEnv.0`); secrets stored before it
/// stay in Secrets Manager and are overwritten by the next try.
pub async fn move_secrets_to_team(
    account: &Account,
    stack: &Stack,
    stages: &[Stage],
    keychain: &dyn Secrets,
    deployer: &dyn Deployer,
) -> Result<MovedSecrets, FieldErrors> {
    let mut moved = MovedSecrets::default();
    for (index, stage) in stages.iter().enumerate() {
        let mut settings = stage.settings.clone();
        let mut changed = false;
        for (list, field, vars) in [
            ("build", "buildEnv", &mut settings.build_env),
            ("runtime", "runtimeEnv", &mut settings.runtime_env),
        ] {
            for (n, var) in vars.iter_mut().enumerate() {
                let EnvValue::Secret { keychain_ref } = &var.value else {
                    continue;
                };
                let keychain_ref = keychain_ref.clone();
                let field = format!("stages.{index}.{field}.{n}");
                let name = team_secret_name(&stack.name, &stage.settings.name, list, &var.name);
                let arn = store(account, stage, var, &keychain_ref, name, keychain, deployer)
                    .await
                    .map_err(|message| {
                        let mut errors = FieldErrors::default();
                        errors.add(field, message);
                        errors
                    })?;
                var.value = EnvValue::TeamSecret { arn };
                moved.keychain_refs.push(keychain_ref);
                changed = true;
            }
        }
        if changed {
            moved.stages.push((stage.id, settings));
        }
    }
    Ok(moved)
}

async fn store(
    account: &Account,
    stage: &Stage,
    var: &EnvVar,
    keychain_ref: &str,
    name: String,
    keychain: &dyn Secrets,
    deployer: &dyn Deployer,
) -> Result<String, String> {
    let value = keychain.read(keychain_ref).await.map_err(|e| {
        format!(
            "Could not read the secret value of {} (stage {}) from the keychain: {}",
            var.name, stage.settings.name, e.message
        )
    })?;
    let region = stage.settings.region.clone();
    deployer
        .store_team_secret(account.clone(), region, name, value)
        .await
        .map_err(|e| {
            format!(
                "Could not store {} of stage {} in Secrets Manager: {}",
                var.name, stage.settings.name, e.message
            )
        })
}
