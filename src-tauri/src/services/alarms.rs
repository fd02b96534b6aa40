//! R18: a stage's alarm names are checked against CloudWatch when its
//! settings are saved, so a typo is an error beside the field, not a
//! verify part that fails days later. (The soak reads them again.)

use stageline_engine::ports::Deployer;
use stageline_engine::validation::{check_verification, FieldErrors};
use stageline_engine::{StackId, Verification};

use crate::core::Core;
use crate::error::{AppError, AppResult};

/// Every alarm named in `verification` exists in `region` of the stack's account.
pub async fn check_alarms_exist(
    core: &Core,
    stack_id: StackId,
    region: &str,
    verification: Option<&Verification>,
) -> AppResult<()> {
    let Some(verification) = verification.filter(|v| !v.alarms.is_empty()) else {
        return Ok(());
    };
    // The engine's own rules first: CloudWatch is not asked about names it would refuse.
    let mut errors = FieldErrors::default();
    check_verification(verification, &mut errors);
    if !errors.0.is_empty() {
        return Err(errors.into());
    }
    let account = core
        .pipeline
        .read(move |s| {
            s.stack(stack_id)
                .and_then(|stack| s.account(stack.account_id))
                .cloned()
        })
        .await?
        .ok_or_else(|| AppError::field("stack", "This stack no longer exists."))?;
    let readings = core
        .deployer
        .alarms(account, region.to_string(), verification.alarms.clone())
        .await
        .map_err(|e| {
            AppError::field(
                "verification.alarms",
                format!("Could not check the alarms in CloudWatch: {}", e.message),
            )
        })?;
    for reading in readings.iter().filter(|r| r.state.is_none()) {
        if let Some(i) = verification.alarms.iter().position(|n| *n == reading.name) {
            errors.add(
                format!("verification.alarms.{i}"),
                format!(
                    "No CloudWatch alarm is named {} in {region}; check the name (it is case-sensitive) and the stage's region.",
                    reading.name
                ),
            );
        }
    }
    errors.into_result().map_err(Into::into)
}
