//! Input rules. Every check names the field it concerns and the rule it
//! breaks, so the UI can show the message beside that field; a failed check
//! changes nothing.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

mod accounts_stacks;
mod team_place;
pub use accounts_stacks::*;
pub use team_place::{check_bucket_name, check_team_place, MAX_TEAM_PREFIX_BYTES};

use crate::domain::{Database, EnvValue, EnvVar, Stage, StageSettings};
use crate::regions::is_aws_region;
use crate::verification::{
    Verification, APPROVAL_EXPIRY_RANGE, HEALTH_TIMEOUT_RANGE, MAX_ALARMS, MAX_ALARM_NAME_LENGTH,
    MAX_SOAK_MINUTES,
};

/// One broken rule, tied to the input field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FieldError {
    /// The field as the UI names it: `name`, `region`, `caching`,
    /// `buildEnv.2.name`, `database.identifier`…
    pub field: String,
    /// What is wrong, in words a user understands.
    pub message: String,
}

/// All broken rules of one input. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// Records a broken rule.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// `Ok` when no rule is broken.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Whether a rule on `field` is broken.
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let messages: Vec<&str> = self.0.iter().map(|e| e.message.as_str()).collect();
        f.write_str(&messages.join("; "))
    }
}

impl std::error::Error for FieldErrors {}

/// The image tag every build also pushes; a stage may not be called this (R14).
pub const RESERVED_STAGE_NAME: &str = "latest";

/// Variables Stageline sets for every part (R3a); users cannot override them.
/// Some are empty or absent where they do not apply (`REGIONAL_*` in the
/// home region, `AWS_SESSION_TOKEN` for long-lived keys, `AWS_ENDPOINT_URL`
/// for real AWS, `BUILD_IMAGE` in build.yml).
pub const INJECTED_VARIABLES: &[&str] = &[
    "STAGE_NAME",
    "PREVIOUS_STAGE_NAME",
    "STAGE_REGION",
    "ECR_ENDPOINT",
    "ECR_IMAGE_URL",
    "REGIONAL_ECR_ENDPOINT",
    "REGIONAL_ECR_IMAGE_URL",
    "CLUSTER_ARN",
    "SERVICE_NAME",
    "STAGELINE_SERVICE_NAME",
    "TASK_ROLE_ARN",
    "S3_BUCKET",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCOUNT_ID",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "COMMIT_SHA",
    "BUILD_IMAGE",
];

/// Variables the database setting gives the app (R15); users cannot override them.
pub const DATABASE_VARIABLES: &[&str] =
    &["PG_HOST", "PG_PORT", "PG_DATABASE", "PG_CREDENTIALS_SECRET"];

fn is_lower_name(s: &str, max_len: usize) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && s.len() <= max_len
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// R14: `^[a-z][a-z0-9-]{0,31}$`, never `latest`.
pub fn check_stage_name(name: &str, errors: &mut FieldErrors) {
    if name.is_empty() {
        errors.add("name", "Stage name is required.");
    } else if !is_lower_name(name, 32) {
        errors.add(
            "name",
            "Stage name must start with a lowercase letter and use only lowercase letters, digits and hyphens (at most 32 characters).",
        );
    } else if name == RESERVED_STAGE_NAME {
        errors.add(
            "name",
            "Stage name \"latest\" is reserved for the image tag; choose another name.",
        );
    }
}

/// A stack name becomes part of every CloudFormation stack and ECR repository name.
pub fn check_stack_name(name: &str, errors: &mut FieldErrors) {
    if name.is_empty() {
        errors.add("name", "Stack name is required.");
    } else if !is_lower_name(name, 32) {
        errors.add(
            "name",
            "Stack name must start with a lowercase letter and use only lowercase letters, digits and hyphens (at most 32 characters).",
        );
    }
}

/// R10: a known AWS region code.
pub fn check_region(field: &str, region: &str, errors: &mut FieldErrors) {
    if region.is_empty() {
        errors.add(field, "Region is required.");
    } else if !is_aws_region(region) {
        errors.add(
            field,
            format!("\"{region}\" is not an AWS region code (for example us-east-1)."),
        );
    }
}

/// The largest value of one environment variable, in bytes (plain or secret).
pub const MAX_ENV_VALUE_BYTES: usize = 8 * 1024;

/// The most one stage's list of build or of runtime variables may take, in
/// bytes: every name and plain value, and [`SECRET_REFERENCE_BYTES`] per
/// secret. AWS limits a task definition's container definitions to 64 KiB in
/// all; the runtime list stays well under that, leaving room for the image,
/// ports, logging and Stageline's own variables.
pub const MAX_ENV_LIST_BYTES: usize = 32 * 1024;

/// What a secret variable adds to its list's size: its value is not in the
/// list (it is in the keychain, and reaches the task as a reference).
pub const SECRET_REFERENCE_BYTES: usize = 128;

/// One value is at most [`MAX_ENV_VALUE_BYTES`]; `field` names it
/// (`runtimeEnv.2.value`). Used for plain values here and for secret values
/// where they pass on their way to the keychain.
pub fn check_env_value_size(field: &str, value: &str, errors: &mut FieldErrors) {
    if value.len() > MAX_ENV_VALUE_BYTES {
        errors.add(
            field,
            format!(
                "This value is {} KiB; a variable's value may be at most {} KiB.",
                value.len().div_ceil(1024),
                MAX_ENV_VALUE_BYTES / 1024
            ),
        );
    }
}

/// What a list of variables takes against [`MAX_ENV_LIST_BYTES`].
pub fn env_list_bytes(vars: &[EnvVar]) -> usize {
    vars.iter()
        .map(|var| {
            var.name.len()
                + match &var.value {
                    EnvValue::Plain { value } => value.len(),
                    EnvValue::Secret { .. } | EnvValue::TeamSecret { .. } => SECRET_REFERENCE_BYTES,
                }
        })
        .sum()
}

/// Environment variable names: `^[A-Za-z_][A-Za-z0-9_]*$`, unique in their list,
/// never one Stageline sets itself; values and the whole list within their
/// size limits.
pub fn check_env_vars(list_field: &str, vars: &[EnvVar], errors: &mut FieldErrors) {
    let mut seen = std::collections::HashSet::new();
    for (index, var) in vars.iter().enumerate() {
        if let EnvValue::Plain { value } = &var.value {
            check_env_value_size(&format!("{list_field}.{index}.value"), value, errors);
        }
        let field = format!("{list_field}.{index}.name");
        let name = var.name.as_str();
        let mut chars = name.chars();
        let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if name.is_empty() {
            errors.add(field, "Variable name is required.");
        } else if !valid {
            errors.add(
                field,
                format!("\"{name}\" is not a valid variable name: use letters, digits and _, not starting with a digit."),
            );
        } else if INJECTED_VARIABLES.contains(&name) || DATABASE_VARIABLES.contains(&name) {
            errors.add(
                field,
                format!("{name} is set by Stageline for every release and cannot be overridden."),
            );
        } else if !seen.insert(name) {
            errors.add(field, format!("{name} is defined twice."));
        }
    }
    let total = env_list_bytes(vars);
    if total > MAX_ENV_LIST_BYTES {
        errors.add(
            list_field,
            format!(
                "These variables take {} KiB; a stage's list may take at most {} KiB in all (AWS limits a task definition to 64 KiB).",
                total.div_ceil(1024),
                MAX_ENV_LIST_BYTES / 1024
            ),
        );
    }
}

/// RDS instance identifiers: a letter first, letters, digits and single hyphens, at most 63.
fn check_rds_identifier(identifier: &str, errors: &mut FieldErrors) {
    let mut chars = identifier.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && identifier.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !identifier.contains("--")
        && !identifier.ends_with('-');
    if identifier.is_empty() {
        errors.add(
            "database.identifier",
            "The existing RDS instance's identifier is required.",
        );
    } else if !valid {
        errors.add(
            "database.identifier",
            "An RDS identifier starts with a letter and uses letters, digits and single hyphens (at most 63, no hyphen at the end).",
        );
    }
}

/// The largest desired count a stage may ask for.
pub const MAX_DESIRED_COUNT: u32 = 100;

/// Every rule on a stage's settings, including uniqueness of its name among
/// the stack's other stages (R13, R14, R10, R15, R11, R12). `others` are the
/// stack's stages except the one being edited.
pub fn check_stage_settings(settings: &StageSettings, others: &[Stage]) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::default();
    check_stage_name(&settings.name, &mut errors);
    if !errors.has("name") && others.iter().any(|s| s.settings.name == settings.name) {
        errors.add(
            "name",
            format!(
                "This stack already has a stage named \"{}\"; stage names must be unique.",
                settings.name
            ),
        );
    }
    check_region("region", &settings.region, &mut errors);
    if let Database::ExistingRds { identifier } = &settings.database {
        check_rds_identifier(identifier, &mut errors);
    }
    if settings.caching && settings.routing == crate::domain::Routing::LoadBalancer {
        errors.add(
            "caching",
            "Caching is only available with Amazon API Gateway; turn it off or choose API Gateway.",
        );
    }
    check_env_vars("buildEnv", &settings.build_env, &mut errors);
    check_env_vars("runtimeEnv", &settings.runtime_env, &mut errors);
    if settings.container_port == 0 {
        errors.add(
            "containerPort",
            "Container port must be between 1 and 65535 (the port the app listens on).",
        );
    }
    check_health_path(&settings.health_path, &mut errors);
    check_desired_count(settings.desired_count, &mut errors);
    check_verification(&settings.verification, &mut errors);
    check_approval_expiry(settings.approval_expiry_hours, &mut errors);
    if let Some(window) = &settings.deploy_window {
        crate::window::check_deploy_window(window, &mut errors);
    }
    crate::team::check_approval_policy(&settings.approval_policy, &mut errors);
    errors.into_result()
}

/// R18/R19: limits a user can reason about; alarm names as CloudWatch
/// allows them (whether each exists is asked of CloudWatch when a stage is
/// saved, and again at every soak).
pub fn check_verification(verification: &Verification, errors: &mut FieldErrors) {
    if !HEALTH_TIMEOUT_RANGE.contains(&verification.health_timeout_secs) {
        errors.add(
            "verification.healthTimeoutSecs",
            format!(
                "The health check's time limit must be between {} and {} seconds.",
                HEALTH_TIMEOUT_RANGE.start(),
                HEALTH_TIMEOUT_RANGE.end()
            ),
        );
    }
    if verification.soak_minutes > MAX_SOAK_MINUTES {
        errors.add(
            "verification.soakMinutes",
            format!("Soak time must be between 0 and {MAX_SOAK_MINUTES} minutes (one day)."),
        );
    }
    if verification.alarms.len() > MAX_ALARMS {
        errors.add(
            "verification.alarms",
            format!("A stage can watch at most {MAX_ALARMS} alarms."),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, name) in verification.alarms.iter().enumerate() {
        let field = format!("verification.alarms.{i}");
        if name.trim().is_empty() {
            errors.add(field, "Alarm name is required.");
        } else if name.trim() != name {
            errors.add(field, "Alarm name must not start or end with spaces.");
        } else if name.chars().count() > MAX_ALARM_NAME_LENGTH {
            errors.add(
                field,
                format!("Alarm name must be at most {MAX_ALARM_NAME_LENGTH} characters."),
            );
        } else if name.chars().any(char::is_control) {
            errors.add(field, "Alarm name must not contain control characters.");
        } else if !seen.insert(name.as_str()) {
            errors.add(field, format!("Alarm {name} is listed twice."));
        }
    }
}

/// R20: an approval waits between an hour and 30 days.
pub fn check_approval_expiry(hours: u32, errors: &mut FieldErrors) {
    if !APPROVAL_EXPIRY_RANGE.contains(&hours) {
        errors.add(
            "approvalExpiryHours",
            format!(
                "An approval must expire after {} to {} hours (30 days).",
                APPROVAL_EXPIRY_RANGE.start(),
                APPROVAL_EXPIRY_RANGE.end()
            ),
        );
    }
}

/// R12: a desired count from 0 (stopped) to [`MAX_DESIRED_COUNT`].
pub fn check_desired_count(count: u32, errors: &mut FieldErrors) {
    if count > MAX_DESIRED_COUNT {
        errors.add(
            "desiredCount",
            format!("Desired instances must be between 0 and {MAX_DESIRED_COUNT}."),
        );
    }
}

/// The longest health-check path a load balancer accepts.
pub const MAX_HEALTH_PATH_LENGTH: usize = 1024;

/// A load balancer's health-check path: starts with `/`, at most 1,024
/// characters, no spaces, no query string, only characters a URL path holds.
pub fn check_health_path(path: &str, errors: &mut FieldErrors) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~/$&'()*+,;=:@%!".contains(c);
    if !path.starts_with('/') {
        errors.add(
            "healthPath",
            "Health-check path must start with /, for example /ping.",
        );
    } else if path.len() > MAX_HEALTH_PATH_LENGTH {
        errors.add(
            "healthPath",
            format!("Health-check path must be at most {MAX_HEALTH_PATH_LENGTH} characters."),
        );
    } else if !path.chars().all(allowed) {
        errors.add(
            "healthPath",
            "Health-check path may hold only the characters of a URL path (no spaces, no query string).",
        );
    }
}

/// The rules the UI applies before the backend checks them again, as
/// TypeScript (written to `ui/src/lib/bindings/rules.ts` by the engine's
/// tests, like the generated types): the UI imports them, never copies them.
pub fn rules_typescript() -> String {
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let reserved: Vec<&str> = INJECTED_VARIABLES
        .iter()
        .chain(DATABASE_VARIABLES)
        .copied()
        .collect();
    format!(
        "// Generated from Rust (stageline-engine's validation rules): do not edit.\n\
         /** R14: a stage name. */\n\
         export const STAGE_NAME_PATTERN = /^[a-z][a-z0-9-]{{0,31}}$/;\n\
         /** R14: the image tag every build also pushes; no stage may be called so. */\n\
         export const RESERVED_STAGE_NAME = \"{RESERVED_STAGE_NAME}\";\n\
         /** Variable names Stageline sets (R3a, R15): users cannot override them. */\n\
         export const RESERVED_VARIABLES: readonly string[] = [{}];\n\
         /** R12: the largest desired count. */\n\
         export const MAX_DESIRED_COUNT = {MAX_DESIRED_COUNT};\n\
         /** A new stage's container port and health-check path (TinyStacks' templates). */\n\
         export const DEFAULT_CONTAINER_PORT = {};\n\
         export const DEFAULT_HEALTH_PATH = \"{}\";\n\
         export const MAX_HEALTH_PATH_LENGTH = {MAX_HEALTH_PATH_LENGTH};\n\
         /** R18: the health check's time limit (seconds), the soak time (minutes), alarms. */\n\
         export const HEALTH_TIMEOUT_RANGE = [{}, {}] as const;\n\
         export const DEFAULT_HEALTH_TIMEOUT_SECS = {};\n\
         export const MAX_SOAK_MINUTES = {MAX_SOAK_MINUTES};\n\
         export const MAX_ALARMS = {MAX_ALARMS};\n\
         export const MAX_ALARM_NAME_LENGTH = {MAX_ALARM_NAME_LENGTH};\n\
         /** R20: when a pending approval expires (hours). */\n\
         export const APPROVAL_EXPIRY_RANGE = [{}, {}] as const;\n\
         export const DEFAULT_APPROVAL_EXPIRY_HOURS = {};\n\
         /** The names of the events the backend sends the windows. */\n\
         export const PIPELINE_EVENT = \"{}\";\n\
         export const DASHBOARD_EVENT = \"{}\";\n",
        list(&reserved),
        crate::order::DEFAULT_CONTAINER_PORT,
        crate::order::DEFAULT_HEALTH_PATH,
        HEALTH_TIMEOUT_RANGE.start(),
        HEALTH_TIMEOUT_RANGE.end(),
        crate::verification::DEFAULT_HEALTH_TIMEOUT_SECS,
        APPROVAL_EXPIRY_RANGE.start(),
        APPROVAL_EXPIRY_RANGE.end(),
        crate::verification::DEFAULT_APPROVAL_EXPIRY_HOURS,
        crate::events::PIPELINE_EVENT,
        crate::events::DASHBOARD_EVENT,
    )
}
