//! What verifying a deployed stage reads (R18): the stage's service URL from
//! its CloudFormation stack, the state of the CloudWatch alarms its soak time
//! watches, and (in `health`) one health check of the URL.
//!
//! These only read; deciding whether verify passed is the engine's.

mod health;

use anyhow::Context;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use stageline_engine::domain::{Account, Stack, Stage};
use stageline_engine::ports::{AlarmReading, AlarmState, BoxFuture};
use stageline_engine::PortError;

use crate::clients::RegionClients;
use crate::deployer::CloudFormationDeployer;
use crate::errors::{to_port_error, SdkResultExt};
use crate::stacks;
use crate::template::OUTPUT_SERVICE_URL;

pub use health::{health_check_url, probe_health, EMULATOR_SERVICE_PREFIX};

/// How many alarm names one DescribeAlarms call may ask for (AWS's limit on
/// `AlarmNames`; moto takes any number).
const ALARM_NAMES_PER_CALL: usize = 100;

impl CloudFormationDeployer {
    /// The stage's service URL: the `ServiceUrl` output of its CloudFormation
    /// stack (`http://<load balancer DNS>` or
    /// `https://<api>.execute-api.<region>.amazonaws.com/<stage>`), what
    /// verify checks and `verify.yml` gets as `STAGE_URL`.
    ///
    /// `None` while there is no stack, or it has no such output yet (it is
    /// still being created). A stack being updated still shows the outputs of
    /// its last completed operation, so this works mid-deploy.
    pub fn stage_url(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
    ) -> BoxFuture<'static, Result<Option<String>, PortError>> {
        let deployer = self.clone();
        Box::pin(async move {
            // The stack's name needs no account number: no STS call.
            let name = deployer
                .stage_names(&account, &stack, &stage)
                .cloudformation_stack();
            let clients = deployer
                .region_clients(&account, &stage.settings.region)
                .await;
            service_url(&clients, &name).await.map_err(to_port_error)
        })
    }

    /// The current state of each alarm in `names`, in the stage's account and
    /// region, in the order asked for (repeats asked once). Metric and
    /// composite alarms both count; a name no alarm has reads as missing.
    pub fn alarm_readings(
        &self,
        account: Account,
        region: String,
        names: Vec<String>,
    ) -> BoxFuture<'static, Result<Vec<AlarmReading>, PortError>> {
        let deployer = self.clone();
        Box::pin(async move {
            let clients = deployer.region_clients(&account, &region).await;
            read_alarms(&clients, &names).await.map_err(to_port_error)
        })
    }
}

/// How long one health-check request may take (the check asks again until
/// the stage's own time limit).
const HEALTH_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One health check of `path` on the stage's service at `url` (through the
/// emulator's stand-in for an emulated stage, see `health_check_url`).
pub(crate) async fn probe_stage(
    account: &Account,
    url: &str,
    path: &str,
) -> Result<u16, PortError> {
    probe_health(&health_check_url(account, url, path), HEALTH_PROBE_TIMEOUT).await
}

/// The `ServiceUrl` output of the CloudFormation stack `stack`, if both exist.
pub(crate) async fn service_url(
    clients: &RegionClients,
    stack: &str,
) -> anyhow::Result<Option<String>> {
    let state = stacks::describe(&clients.cloudformation, stack).await?;
    Ok(state
        .as_ref()
        .and_then(|s| s.output(OUTPUT_SERVICE_URL))
        .filter(|url| !url.is_empty())
        .map(str::to_owned))
}

/// Reads the alarms `names`, at most [`ALARM_NAMES_PER_CALL`] per request.
pub(crate) async fn read_alarms(
    clients: &RegionClients,
    names: &[String],
) -> anyhow::Result<Vec<AlarmReading>> {
    let asked = distinct(names);
    let mut found: Vec<(String, AlarmState, String)> = Vec::new();
    for chunk in asked.chunks(ALARM_NAMES_PER_CALL) {
        let mut token: Option<String> = None;
        // AWS pages its answer (MaxRecords at most 100) even for named alarms.
        loop {
            let page = clients
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                // Without AlarmTypes AWS returns metric alarms only.
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .max_records(100)
                .set_next_token(token.clone())
                .send()
                .await
                .aws(|| format!("Could not read the CloudWatch alarms {}", chunk.join(", ")))?;
            for alarm in page.metric_alarms() {
                if let Some(name) = alarm.alarm_name() {
                    found.push(reading_of(name, alarm.state_value(), alarm.state_reason())?);
                }
            }
            for alarm in page.composite_alarms() {
                if let Some(name) = alarm.alarm_name() {
                    found.push(reading_of(name, alarm.state_value(), alarm.state_reason())?);
                }
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(asked
        .into_iter()
        .map(|name| match found.iter().find(|(n, _, _)| *n == name) {
            Some((_, state, reason)) => AlarmReading {
                name,
                state: Some(*state),
                reason: reason.clone(),
            },
            None => AlarmReading {
                name,
                state: None,
                reason: String::new(),
            },
        })
        .collect())
}

fn reading_of(
    name: &str,
    state: Option<&StateValue>,
    reason: Option<&str>,
) -> anyhow::Result<(String, AlarmState, String)> {
    let state = state.with_context(|| format!("CloudWatch gave the alarm {name} no state"))?;
    let state = alarm_state(state)
        .with_context(|| format!("CloudWatch gave the alarm {name} an unknown state {state}"))?;
    Ok((
        name.to_owned(),
        state,
        reason.unwrap_or_default().to_owned(),
    ))
}

fn alarm_state(value: &StateValue) -> Option<AlarmState> {
    match value {
        StateValue::Ok => Some(AlarmState::Ok),
        StateValue::Alarm => Some(AlarmState::Alarm),
        StateValue::InsufficientData => Some(AlarmState::InsufficientData),
        _ => None,
    }
}

/// `names` without repeats or empty names, in their first order: AWS refuses
/// an empty name, and an empty `AlarmNames` would list every alarm.
fn distinct(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if !name.is_empty() && !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_empty_alarm_names_are_asked_once() {
        let names = ["a", "", "b", "a"].map(String::from);
        assert_eq!(distinct(&names), ["a", "b"]);
    }

    #[test]
    fn an_unknown_alarm_state_is_no_state_of_ours() {
        assert_eq!(alarm_state(&StateValue::Alarm), Some(AlarmState::Alarm));
        assert_eq!(alarm_state(&StateValue::from("SOMETHING_NEW")), None);
    }
}
