//! The drift guard: which build and runtime variables of a stage differ
//! from the previous stage's, so an approver sees a variable set upstream
//! but missing here before it ships. Values are compared, never shown: a
//! secret is only "set" or "differs".

use std::collections::BTreeMap;

use serde::Serialize;
use ts_rs::TS;

use crate::domain::{EnvValue, EnvVar, StageSettings};

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
