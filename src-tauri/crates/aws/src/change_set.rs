//! Change sets: created, waited on, read, executed or deleted. Every deploy
//! goes through one, so an empty one ends the deploy without touching the stack.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, Tag};
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use crate::errors::SdkResultExt;
use crate::stacks::{describe_duration, Patience};

/// One resource a change set would add, modify or remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, `Import` or `Dynamic`.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// For `Modify`: `True`, `False` or `Conditional` (whether the resource is replaced).
    pub replacement: Option<String>,
}

/// What a deploy would change, for the approval dialog.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSetSummary {
    /// Whether the stack would be created (rather than updated).
    pub creates_stack: bool,
    pub changes: Vec<ResourceChange>,
}

/// A change set to create.
pub(crate) struct ChangeSetRequest {
    pub stack_name: String,
    pub name: String,
    pub create: bool,
    pub template_body: String,
    pub parameters: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

/// How creating a change set ended.
pub(crate) enum ChangeSetOutcome {
    /// Ready to execute: its id (ARN) and what it changes.
    Ready {
        id: String,
        changes: Vec<ResourceChange>,
    },
    /// It changes nothing; it was deleted again.
    Empty,
}

/// A change set name unique per stack: `stageline-<purpose>-<millis>`.
pub(crate) fn change_set_name(purpose: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("stageline-{purpose}-{millis}")
}

/// The change set name of run `run_id` deploying release `release_id`
/// (`stageline-r<release>-a<run>-<millis>`): after a restart, the run finds
/// its own change set again, and never takes an earlier attempt's of the same
/// release for its own.
pub(crate) fn run_change_set_name(release_id: i64, run_id: i64) -> String {
    change_set_name(&format!("r{release_id}-a{run_id}"))
}

/// Whether change set `name` was made by run `run_id` of release `release_id`.
pub(crate) fn is_run_change_set(name: &str, release_id: i64, run_id: i64) -> bool {
    name.starts_with(&format!("stageline-r{release_id}-a{run_id}-"))
}

/// A change set the stack has, as ListChangeSets shows it.
#[derive(Debug, Clone)]
pub(crate) struct ExistingChangeSet {
    pub id: String,
    pub name: String,
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `FAILED`…
    pub status: String,
    /// `AVAILABLE`, `EXECUTE_IN_PROGRESS`, `EXECUTE_COMPLETE`, `UNAVAILABLE`…
    pub execution_status: String,
    pub reason: Option<String>,
}

impl ExistingChangeSet {
    /// CloudFormation computed it as empty: the stack already is what it describes.
    pub fn is_empty(&self) -> bool {
        self.status == "FAILED" && self.reason.as_deref().is_some_and(means_no_changes)
    }
}

/// The stack's change sets whose name satisfies `wanted` (none for a stack
/// that does not exist).
pub(crate) async fn find(
    client: &Client,
    stack: &str,
    wanted: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<ExistingChangeSet>> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let listed = client
            .list_change_sets()
            .stack_name(stack)
            .set_next_token(token.clone())
            .send()
            .await;
        let page = match listed {
            Ok(page) => page,
            Err(error)
                if crate::errors::error_code(&error) == Some("ValidationError")
                    && crate::errors::error_message(&error)
                        .is_some_and(|m| m.contains("does not exist")) =>
            {
                return Ok(found)
            }
            Err(error) => {
                return Err(error).aws(|| format!("Could not list the change sets of {stack}"))
            }
        };
        // Stricter than the emulator, which lists every stack's change sets.
        for summary in page
            .summaries()
            .iter()
            .filter(|s| s.stack_name() == Some(stack))
        {
            let name = summary.change_set_name().unwrap_or_default();
            if wanted(name) {
                found.push(ExistingChangeSet {
                    id: summary.change_set_id().unwrap_or(name).to_owned(),
                    name: name.to_owned(),
                    status: summary
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    execution_status: summary
                        .execution_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    reason: summary.status_reason().map(str::to_owned),
                });
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// Creates the change set and waits until CloudFormation has computed it.
pub(crate) async fn create(
    client: &Client,
    request: &ChangeSetRequest,
    patience: Patience,
) -> anyhow::Result<ChangeSetOutcome> {
    let stack = &request.stack_name;
    let created = client
        .create_change_set()
        .stack_name(stack)
        .change_set_name(&request.name)
        .change_set_type(if request.create {
            ChangeSetType::Create
        } else {
            ChangeSetType::Update
        })
        .template_body(&request.template_body)
        .set_parameters(Some(
            request
                .parameters
                .iter()
                .map(|(key, value)| {
                    Parameter::builder()
                        .parameter_key(key)
                        .parameter_value(value)
                        .build()
                })
                .collect(),
        ))
        .set_tags(Some(
            request
                .tags
                .iter()
                .map(|(key, value)| Tag::builder().key(key).value(value).build())
                .collect(),
        ))
        // Named IAM: the task role has a name parts know before the stack exists.
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .aws(|| format!("Could not create a change set for the CloudFormation stack {stack}"))?;
    let id = created.id().unwrap_or(&request.name).to_owned();
    computed(client, stack, &id, patience).await
}

/// Waits until CloudFormation has computed change set `id` of `stack`.
pub(crate) async fn computed(
    client: &Client,
    stack: &str,
    id: &str,
    patience: Patience,
) -> anyhow::Result<ChangeSetOutcome> {
    let id = id.to_owned();
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let described = client
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(&id)
            .send()
            .await
            .aws(|| format!("Could not read the change set of the CloudFormation stack {stack}"))?;
        let status = described.status().map(|s| s.as_str()).unwrap_or_default();
        match status {
            "CREATE_COMPLETE" => {
                let changes = read_changes(client, stack, &id).await?;
                return Ok(ChangeSetOutcome::Ready { id, changes });
            }
            "FAILED" => {
                let reason = described
                    .status_reason()
                    .unwrap_or("no reason given")
                    .to_owned();
                if means_no_changes(&reason) {
                    delete(client, stack, &id).await?;
                    return Ok(ChangeSetOutcome::Empty);
                }
                bail!("CloudFormation could not prepare the change set for {stack}: {reason}");
            }
            _ if started.elapsed() >= patience.max_wait => {
                bail!(
                    "The change set for {stack} was not ready within {} (it is {status})",
                    describe_duration(patience.max_wait)
                );
            }
            _ => {
                tokio::time::sleep(delay).await;
                // Short first looks: an empty change set is known within a
                // second or two and should end the deploy at once.
                delay = (delay * 2).min(patience.poll_interval.max(Duration::from_millis(100)));
            }
        }
    }
}

/// AWS's two ways of saying a change set is empty.
fn means_no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

async fn read_changes(
    client: &Client,
    stack: &str,
    id: &str,
) -> anyhow::Result<Vec<ResourceChange>> {
    let mut changes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .set_next_token(token.clone())
            .send()
            .await
            .aws(|| format!("Could not read the change set of the CloudFormation stack {stack}"))?;
        for change in page.changes() {
            let Some(resource) = change.resource_change() else {
                continue;
            };
            changes.push(ResourceChange {
                action: resource
                    .action()
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default(),
                logical_id: resource
                    .logical_resource_id()
                    .unwrap_or_default()
                    .to_owned(),
                resource_type: resource.resource_type().unwrap_or_default().to_owned(),
                replacement: resource.replacement().map(|r| r.as_str().to_owned()),
            });
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(changes);
        }
    }
}

/// Starts the change set; the caller waits for the stack. When the answer
/// is lost (the request may have reached CloudFormation), the change set's
/// own state says whether it runs: it is never started twice.
pub(crate) async fn execute(client: &Client, stack: &str, id: &str) -> anyhow::Result<()> {
    let started = client
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(id)
        .send()
        .await
        .aws(|| format!("Could not start the change set of the CloudFormation stack {stack}"));
    let Err(error) = started else {
        return Ok(());
    };
    if !crate::errors::is_transient_error(&error) {
        return Err(error);
    }
    let described = client
        .describe_change_set()
        .stack_name(stack)
        .change_set_name(id)
        .send()
        .await
        .aws(|| format!("Could not read the change set of the CloudFormation stack {stack}"))?;
    match described.execution_status().map(|s| s.as_str()) {
        Some(status) if status.starts_with("EXECUTE_") => Ok(()),
        Some("AVAILABLE") => {
            client
                .execute_change_set()
                .stack_name(stack)
                .change_set_name(id)
                .send()
                .await
                .aws(|| {
                    format!("Could not start the change set of the CloudFormation stack {stack}")
                })?;
            Ok(())
        }
        _ => Err(error),
    }
}

/// Deletes a change set that will not be executed.
pub(crate) async fn delete(client: &Client, stack: &str, id: &str) -> anyhow::Result<()> {
    client
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(id)
        .send()
        .await
        .aws(|| {
            format!("Could not delete an unused change set of the CloudFormation stack {stack}")
        })?;
    Ok(())
}
