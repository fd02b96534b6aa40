//! The team stack's definition (`stack.json`): what every desktop needs to
//! open the same stack — repository, branch, and the stages in order with
//! their settings. Created once when the stack is shared; every change is a
//! compare-and-swap, re-applied on a fresh read when a teammate changed it
//! in between.

use serde::{Deserialize, Serialize};
use stageline_engine::validation::FieldErrors;
use stageline_engine::{EnvValue, Stack, StageSettings};

use crate::objects::{to_json, Fresh, ObjectError, TeamPrefix, Versioned, Written};

/// The object's name under the team prefix.
const NAME: &str = "stack.json";

/// How often a change is re-applied after a teammate's change got in first.
const SWAP_ATTEMPTS: usize = 8;

/// A stack as every desktop of the team opens it. Local ids and the
/// account are not in it: each desktop has its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedStack {
    pub name: String,
    pub repository: String,
    pub branch: String,
    pub poll_interval_secs: u32,
    pub home_region: String,
    /// In flow order (R1).
    pub stages: Vec<StageSettings>,
}

impl SharedStack {
    /// The shared form of `stack` with `stages` in order. Refused when a
    /// stage still has a keychain secret: teammates cannot read this
    /// desktop's keychain, and no secret value is ever written to S3 (sharing
    /// moves them to Secrets Manager first: `move_secrets_to_team`).
    pub fn of(stack: &Stack, stages: Vec<StageSettings>) -> Result<SharedStack, FieldErrors> {
        let mut errors = FieldErrors::default();
        for (index, stage) in stages.iter().enumerate() {
            let vars = [
                ("buildEnv", &stage.build_env),
                ("runtimeEnv", &stage.runtime_env),
            ];
            for (list, vars) in vars {
                for (n, var) in vars.iter().enumerate() {
                    if matches!(var.value, EnvValue::Secret { .. }) {
                        errors.add(
                            format!("stages.{index}.{list}.{n}"),
                            format!(
                                "{} of stage {} is a secret kept in this computer's keychain, which teammates cannot read. Move it to Secrets Manager first (Share does this), or make it plain.",
                                var.name, stage.name
                            ),
                        );
                    }
                }
            }
        }
        errors.into_result()?;
        Ok(SharedStack {
            name: stack.name.clone(),
            repository: stack.repository.clone(),
            branch: stack.branch.clone(),
            poll_interval_secs: stack.poll_interval_secs,
            home_region: stack.home_region.clone(),
            stages,
        })
    }
}

/// Why a change to the definition was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("This bucket and prefix already hold the team stack {0}. Choose another prefix, or join that stack.")]
    AlreadyShared(String),
    #[error("There is no team stack at this bucket and prefix. Check both with the teammate who shared it.")]
    NotShared,
    /// The change does not fit the definition as a teammate left it.
    #[error("{0}")]
    Refused(String),
    #[error("Teammates kept changing the stack at the same moment; try again.")]
    Busy,
    #[error(transparent)]
    Objects(#[from] ObjectError),
}

/// Shares `stack` at `prefix`: only if nothing is shared there yet.
pub async fn share_definition(
    prefix: &TeamPrefix,
    stack: &SharedStack,
) -> Result<(), DefinitionError> {
    match prefix.create(NAME, &to_json(stack)).await? {
        Written::Done { .. } => Ok(()),
        Written::Refused => {
            let existing = read_definition(prefix)
                .await?
                .map(|s| s.name)
                .unwrap_or_default();
            Err(DefinitionError::AlreadyShared(existing))
        }
    }
}

/// The definition at `prefix` with its ETag, unless it is still the version
/// `seen` (`None`: unchanged, or nothing shared there).
pub async fn read_definition_if_changed(
    prefix: &TeamPrefix,
    seen: Option<&str>,
) -> Result<Option<(SharedStack, String)>, ObjectError> {
    match prefix.read_if_changed(NAME, seen).await? {
        Fresh::Changed(Versioned { bytes, etag }) => {
            let stack = serde_json::from_slice(&bytes).map_err(|e| {
                ObjectError(format!("The team's {NAME} in S3 is not readable: {e}"))
            })?;
            Ok(Some((stack, etag)))
        }
        Fresh::Unchanged | Fresh::Gone => Ok(None),
    }
}

/// The definition at `prefix`, if a stack is shared there.
pub async fn read_definition(prefix: &TeamPrefix) -> Result<Option<SharedStack>, ObjectError> {
    Ok(prefix.read_json(NAME).await?.map(|(stack, _)| stack))
}

/// Applies `change` to the definition as stored now and swaps it in. When a
/// teammate's change got in first, reads theirs and applies `change` to it
/// again, so both changes stay; `change` refuses (with the user's words) what
/// no longer fits, and nothing is written then.
pub async fn change_definition(
    prefix: &TeamPrefix,
    change: impl Fn(&mut SharedStack) -> Result<(), String>,
) -> Result<SharedStack, DefinitionError> {
    for _ in 0..SWAP_ATTEMPTS {
        let (mut stack, etag) = prefix
            .read_json::<SharedStack>(NAME)
            .await?
            .ok_or(DefinitionError::NotShared)?;
        change(&mut stack).map_err(DefinitionError::Refused)?;
        if let Written::Done { .. } = prefix.swap(NAME, &etag, &to_json(&stack)).await? {
            return Ok(stack);
        }
    }
    Err(DefinitionError::Busy)
}

/// A change inserting a stage after the stage named `after` (`None`: first),
/// refused when a teammate's stage took its name. Existing stages never move
/// (R1).
pub fn insert_stage(
    after: Option<String>,
    settings: StageSettings,
) -> impl Fn(&mut SharedStack) -> Result<(), String> {
    move |stack| {
        if stack.stages.iter().any(|s| s.name == settings.name) {
            return Err(format!(
                "A teammate just added a stage named {}; choose another name.",
                settings.name
            ));
        }
        let at = match &after {
            None => 0,
            Some(name) => match stack.stages.iter().position(|s| &s.name == name) {
                Some(position) => position + 1,
                None => {
                    return Err(format!(
                    "A teammate just deleted stage {name}; choose where the new stage goes again."
                ))
                }
            },
        };
        stack.stages.insert(at, settings.clone());
        Ok(())
    }
}

/// A change taking the stage named `name` out (a stage already gone is
/// fine: deleting is finished again after a restart). Refused when it is
/// the team's last stage: a stack needs at least one.
pub fn remove_stage(name: String) -> impl Fn(&mut SharedStack) -> Result<(), String> {
    move |stack| {
        if stack.stages.len() == 1 && stack.stages[0].name == name {
            return Err(format!(
                "{name} is the team's only stage of {}; a stack needs at least one stage.",
                stack.name
            ));
        }
        stack.stages.retain(|s| s.name != name);
        Ok(())
    }
}

/// A change of one stage's settings on this desktop, from `before` to
/// `after` (name and region stay: they name its AWS stack). Applied setting
/// by setting to the stage as the team has it now, so a teammate's change to
/// another setting in between stays; a setting both changed takes this one.
/// Refused when a teammate deleted the stage.
pub fn change_stage(
    before: StageSettings,
    after: StageSettings,
) -> impl Fn(&mut SharedStack) -> Result<(), String> {
    move |stack| {
        let Some(theirs) = stack.stages.iter_mut().find(|s| s.name == before.name) else {
            return Err(format!(
                "A teammate just deleted stage {}; its settings cannot change.",
                before.name
            ));
        };
        *theirs = merged(&before, &after, theirs);
        Ok(())
    }
}

/// `theirs` with each setting that differs between `before` and `after`
/// set to `after`'s.
fn merged(before: &StageSettings, after: &StageSettings, theirs: &StageSettings) -> StageSettings {
    let as_map = |settings: &StageSettings| match serde_json::to_value(settings) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (before, mut result) = (as_map(before), as_map(theirs));
    for (setting, value) in as_map(after) {
        if before.get(&setting) != Some(&value) {
            result.insert(setting, value);
        }
    }
    serde_json::from_value(serde_json::Value::Object(result)).unwrap_or_else(|_| after.clone())
}
