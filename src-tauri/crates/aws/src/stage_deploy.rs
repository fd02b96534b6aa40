//! A deploy: everything the change set needs (secrets stored, database looked
//! up, template rendered), then create → execute → wait, with the stack's
//! events streamed to the run's log.

use std::sync::Arc;

use anyhow::{bail, Context};
use stageline_engine::domain::{Database, Release};
use stageline_engine::ports::{DeployJob, DeployOutcome, LogSink};
use stageline_engine::team::{fence_refusal, Fence, FENCING_TAG};

use crate::change_set::{self, ChangeSetOutcome, ChangeSetRequest, ChangeSetSummary};
use crate::clients::RegionClients;
use crate::lookups;
use crate::naming::StageNames;
use crate::stacks::{self, EventFeed, Patience, StackState};
use crate::template::{
    secret_arn_parameter, secret_variable_names, stage_template, RuntimeVar, PARAM_DATABASE_HOST,
    PARAM_DATABASE_NAME, PARAM_DATABASE_PORT, PARAM_DATABASE_SECRET_ARN,
    PARAM_DATABASE_SECURITY_GROUP, PARAM_DESIRED_COUNT, PARAM_IMAGE_URI, PARAM_SECRETS_VERSION,
    PARAM_SUBNET_IDS, PARAM_VPC_ID,
};

/// Stack tag: the Stageline stack's name.
pub const TAG_STACK: &str = "stageline:stack";
/// Stack tag: the stage's name.
pub const TAG_STAGE: &str = "stageline:stage";
/// Stack tag: the release the stack runs, `<release id>/<short sha>`.
pub const TAG_RELEASE: &str = "stageline:release";

/// The value of the `stageline:release` tag for `release`.
pub fn release_tag(release: &Release) -> String {
    format!("{}/{}", release.id.0, release.commit.short_sha())
}

/// The image the stage runs for a job: the one its release part found,
/// pinned to its digest (`repo@sha256:…`, R3b).
pub fn image_uri(job: &DeployJob) -> &str {
    &job.artifact.image
}

/// Everything one change set is made of.
pub(crate) struct PreparedChangeSet {
    pub stack_name: String,
    pub template_body: String,
    pub parameters: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// R22: a team stack's stage lease, asked before the change set runs.
    pub fence: Option<Fence>,
}

/// Stores secret variables in Secrets Manager, looks up an existing
/// database and renders the template. Secret values go to Secrets Manager
/// only: never into the template, the parameters or the log.
pub(crate) async fn prepare(
    clients: &RegionClients,
    names: &StageNames,
    job: &DeployJob,
    log: &dyn LogSink,
) -> anyhow::Result<PreparedChangeSet> {
    let settings = &job.stage.settings;
    let env = RuntimeVar::from_resolved(&job.runtime_env);
    let mut parameters = vec![
        (PARAM_IMAGE_URI.to_owned(), image_uri(job).to_owned()),
        (
            PARAM_DESIRED_COUNT.to_owned(),
            settings.desired_count.to_string(),
        ),
    ];

    let mut versions = Vec::new();
    for (index, name) in secret_variable_names(&env).into_iter().enumerate() {
        let value = job
            .runtime_env
            .iter()
            .find(|var| var.secret && var.name == name)
            .map(|var| var.value.as_str())
            .unwrap_or_default();
        let secret_name = names.runtime_secret(name);
        let stored = lookups::store_secret(clients, &secret_name, value).await?;
        log.line(&format!(
            "Secret variable {name} is in Secrets Manager as {secret_name}"
        ));
        parameters.push((secret_arn_parameter(index + 1), stored.arn));
        versions.push(stored.version_id);
    }
    if !versions.is_empty() {
        parameters.push((
            PARAM_SECRETS_VERSION.to_owned(),
            fingerprint(&versions.join(",")),
        ));
    }

    if let Database::ExistingRds { identifier } = &settings.database {
        let database = lookups::existing_database(clients, identifier).await?;
        log.line(&format!(
            "Database: RDS instance {identifier} at {}:{}",
            database.host, database.port
        ));
        log.line(&format!(
            "The stage runs in the database's VPC {} ({} subnets), let in through its security group {}",
            database.vpc_id,
            database.subnet_ids.len(),
            database.security_group_id
        ));
        parameters.push((PARAM_DATABASE_HOST.to_owned(), database.host));
        parameters.push((PARAM_DATABASE_PORT.to_owned(), database.port));
        parameters.push((PARAM_DATABASE_NAME.to_owned(), database.name));
        parameters.push((PARAM_DATABASE_SECRET_ARN.to_owned(), database.secret_arn));
        parameters.push((
            PARAM_DATABASE_SECURITY_GROUP.to_owned(),
            database.security_group_id,
        ));
        parameters.push((PARAM_VPC_ID.to_owned(), database.vpc_id));
        parameters.push((PARAM_SUBNET_IDS.to_owned(), database.subnet_ids.join(",")));
    }

    let template = stage_template(&job.stack, &job.stage, &env);
    let mut tags = vec![
        (TAG_STACK.to_owned(), job.stack.name.clone()),
        (TAG_STAGE.to_owned(), settings.name.clone()),
        (TAG_RELEASE.to_owned(), release_tag(&job.release)),
    ];
    if let Some(fence) = &job.fence {
        // On the stack once the change set runs: a later holder's number
        // refuses an earlier one's change set (fence_refusal).
        tags.push((FENCING_TAG.to_owned(), fence.number.to_string()));
    }
    Ok(PreparedChangeSet {
        stack_name: names.cloudformation_stack(),
        template_body: serde_json::to_string(&template).context("Could not write the template")?,
        parameters,
        tags,
        fence: job.fence.clone(),
    })
}

/// A short stable digest (FNV-1a, 64 bit) of text that is not secret itself.
fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Makes the stack ready for a change set: waits for an operation in
/// progress, and removes a stack that holds nothing after a failed creation
/// (CloudFormation cannot update one). Returns whether the change set creates
/// the stack.
pub(crate) async fn ready_stack(
    clients: &RegionClients,
    stack_name: &str,
    patience: Patience,
    log: &Arc<dyn LogSink>,
) -> anyhow::Result<bool> {
    let client = &clients.cloudformation;
    let mut state = stacks::describe(client, stack_name).await?;
    if state.as_ref().is_some_and(StackState::in_progress) {
        log.line(&format!(
            "Waiting for the operation in progress on {stack_name} to finish"
        ));
        let mut feed = EventFeed::start(client, stack_name, log.clone()).await;
        state = stacks::wait_until_settled(client, &mut feed, patience).await?;
    }
    match state {
        None => Ok(true),
        Some(state) if state.status == "ROLLBACK_COMPLETE" => {
            log.line(&format!(
                "Removing {stack_name}, left empty by a failed creation ({})",
                state.status
            ));
            delete_stack(clients, stack_name, patience, log).await?;
            Ok(true)
        }
        Some(state) => Ok(state.status == "REVIEW_IN_PROGRESS"),
    }
}

/// Which deploy a change set belongs to: its release and the run deploying it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeployIds {
    pub release: i64,
    pub run: i64,
}

/// Where a deploy picks up: a fresh change set, or (after a restart, R17)
/// the one this run made before Stageline stopped.
enum Next {
    Create,
    /// Computed, not executed: execute it.
    Execute(String),
    /// Executed already: wait for the stack.
    Settle,
}

/// Creates (or, after a restart, finds again), executes and waits for the
/// change set of a deploy: every change set is executed at most once.
pub(crate) async fn run(
    clients: &RegionClients,
    prepared: PreparedChangeSet,
    ids: DeployIds,
    patience: Patience,
    log: Arc<dyn LogSink>,
) -> anyhow::Result<DeployOutcome> {
    let client = &clients.cloudformation;
    let stack = prepared.stack_name.clone();
    let create = ready_stack(clients, &stack, patience, &log).await?;
    let mut next = Next::Create;
    let mine = change_set::find(client, &stack, |name| {
        change_set::is_run_change_set(name, ids.release, ids.run)
    })
    .await?;
    if create && mine.is_empty() && stacks::describe(client, &stack).await?.is_some() {
        // REVIEW_IN_PROGRESS with no change set of this run: another deploy
        // (an earlier attempt, or a teammate's desktop that stopped, R22)
        // left a creation never executed. Nothing runs in the stack; it is
        // made again from this run's change set, and the change set left
        // behind goes with it, so it can never be executed late.
        log.line(&format!(
            "Removing {stack}: its creation was left unexecuted by another deploy (nothing runs in it)"
        ));
        delete_stack(clients, &stack, patience, &log).await?;
    }
    // Names end in their creation time: the last is the newest.
    if let Some(existing) = mine.into_iter().max_by(|a, b| a.name.cmp(&b.name)) {
        if existing.is_empty() {
            log.line("No changes: the stack already runs this release");
            return Ok(DeployOutcome::NoChanges);
        }
        next = match (existing.status.as_str(), existing.execution_status.as_str()) {
            ("CREATE_PENDING" | "CREATE_IN_PROGRESS", _) => {
                log.line(&format!(
                    "Resuming: waiting for the change set {} made before Stageline stopped",
                    existing.name
                ));
                match change_set::computed(client, &stack, &existing.id, patience).await? {
                    ChangeSetOutcome::Empty => {
                        log.line("No changes: the stack already runs this release");
                        return Ok(DeployOutcome::NoChanges);
                    }
                    ChangeSetOutcome::Ready { id, .. } => Next::Execute(id),
                }
            }
            ("CREATE_COMPLETE", "AVAILABLE") => {
                log.line(&format!(
                    "Resuming: executing the change set {} made before Stageline stopped",
                    existing.name
                ));
                Next::Execute(existing.id)
            }
            (_, execution) if execution.starts_with("EXECUTE_") => {
                log.line(&format!(
                    "Resuming: the change set {} was executed before Stageline stopped",
                    existing.name
                ));
                Next::Settle
            }
            // Failed for another reason, or obsolete: start again.
            _ => Next::Create,
        };
    }
    let mut feed = EventFeed::start(client, &stack, log.clone()).await;
    match next {
        Next::Settle => {}
        Next::Execute(id) => {
            check_fence(client, &stack, prepared.fence.as_ref(), &log).await?;
            change_set::execute(client, &stack, &id).await?;
            log.line(&format!("Executing the change set on {stack}"));
        }
        Next::Create => {
            let fence = prepared.fence;
            let request = ChangeSetRequest {
                stack_name: stack.clone(),
                name: change_set::run_change_set_name(ids.release, ids.run),
                create,
                template_body: prepared.template_body,
                parameters: prepared.parameters,
                tags: prepared.tags,
            };
            log.line(&format!(
                "Creating change set {} ({})",
                request.name,
                if create { "new stack" } else { "update" }
            ));
            let id = match change_set::create(client, &request, patience).await? {
                ChangeSetOutcome::Empty => {
                    log.line("No changes: the stack already runs this release");
                    return Ok(DeployOutcome::NoChanges);
                }
                ChangeSetOutcome::Ready { id, changes } => {
                    for change in &changes {
                        log.line(&describe_change(change));
                    }
                    id
                }
            };
            feed = EventFeed::start(client, &stack, log.clone()).await;
            check_fence(client, &stack, fence.as_ref(), &log).await?;
            change_set::execute(client, &stack, &id).await?;
            log.line(&format!("Executing the change set on {stack}"));
        }
    }
    let settled = stacks::wait_until_settled(client, &mut feed, patience).await?;
    match settled {
        Some(state) if state.succeeded() => {
            log.line(&format!("{stack} is {}", state.status));
            Ok(DeployOutcome::Deployed)
        }
        Some(state) => {
            let mut message = failure_message(&feed, &state);
            if feed.first_failure().is_none() {
                // Executed before a restart: its events were never watched.
                if let Some(cause) =
                    stacks::last_operation_failure(client, &stack, log.clone()).await
                {
                    message = format!("{cause}; {}", state.outcome());
                }
            }
            bail!("{message}")
        }
        None => bail!("The CloudFormation stack {stack} disappeared while it was being deployed"),
    }
}

/// R22: a team stack's change set runs only while this desktop holds the
/// stage's lease and no later holder has changed the stack (its fencing tag).
async fn check_fence(
    client: &aws_sdk_cloudformation::Client,
    stack: &str,
    fence: Option<&Fence>,
    log: &Arc<dyn LogSink>,
) -> anyhow::Result<()> {
    let Some(fence) = fence else {
        return Ok(());
    };
    let tags = stacks::describe(client, stack)
        .await?
        .map(|state| state.tags)
        .unwrap_or_default();
    if let Some(refusal) = fence_refusal(fence, &tags) {
        log.line(&format!("[Stageline] {refusal}"));
        bail!("{refusal}");
    }
    Ok(())
}

/// "<resource> (<type>) <status>: <reason>; <what the rollback left>".
pub(crate) fn failure_message(feed: &EventFeed, state: &StackState) -> String {
    let cause = feed
        .first_failure()
        .or_else(|| state.reason.clone())
        .unwrap_or_else(|| "CloudFormation gave no reason".to_owned());
    format!("{cause}; {}", state.outcome())
}

fn describe_change(change: &change_set::ResourceChange) -> String {
    let replacement = match change.replacement.as_deref() {
        Some("True") => " (replaced)",
        Some("Conditional") => " (may be replaced)",
        _ => "",
    };
    format!(
        "  {} {} ({}){replacement}",
        change.action, change.logical_id, change.resource_type
    )
}

/// Creates the change set a deploy would execute, reads it and deletes it.
pub(crate) async fn preview(
    clients: &RegionClients,
    prepared: PreparedChangeSet,
    patience: Patience,
    log: &Arc<dyn LogSink>,
) -> anyhow::Result<ChangeSetSummary> {
    let client = &clients.cloudformation;
    let stack = prepared.stack_name.clone();
    let state = stacks::describe(client, &stack).await?;
    if state.as_ref().is_some_and(StackState::in_progress) {
        bail!("An operation is in progress on {stack}; try the preview again when it has finished");
    }
    let create = match &state {
        None => true,
        Some(state) => state.holds_nothing(),
    };
    if state
        .as_ref()
        .is_some_and(|s| s.status == "ROLLBACK_COMPLETE")
    {
        // A real deploy deletes such a stack first and creates everything.
        let template: serde_json::Value = serde_json::from_str(&prepared.template_body)?;
        return Ok(summary_of_new_stack(&template));
    }
    let request = ChangeSetRequest {
        stack_name: stack.clone(),
        name: change_set::change_set_name("preview"),
        create,
        template_body: prepared.template_body,
        parameters: prepared.parameters,
        tags: prepared.tags,
    };
    let outcome = change_set::create(client, &request, patience).await?;
    let summary = match outcome {
        ChangeSetOutcome::Empty => ChangeSetSummary {
            creates_stack: create,
            changes: Vec::new(),
        },
        ChangeSetOutcome::Ready { id, changes } => {
            change_set::delete(client, &stack, &id).await?;
            ChangeSetSummary {
                creates_stack: create,
                changes,
            }
        }
    };
    if state.is_none() {
        // The change set of a new stack made a stack in REVIEW_IN_PROGRESS: remove it.
        delete_stack(clients, &stack, patience, log).await?;
    }
    Ok(summary)
}

fn summary_of_new_stack(template: &serde_json::Value) -> ChangeSetSummary {
    let resources = template["Resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    ChangeSetSummary {
        creates_stack: true,
        changes: resources
            .iter()
            .map(|(id, resource)| change_set::ResourceChange {
                action: "Add".to_owned(),
                logical_id: id.clone(),
                resource_type: resource["Type"].as_str().unwrap_or_default().to_owned(),
                replacement: None,
            })
            .collect(),
    }
}

/// Deletes the stack and waits until it is gone (R9).
pub(crate) async fn delete_stack(
    clients: &RegionClients,
    stack_name: &str,
    patience: Patience,
    log: &Arc<dyn LogSink>,
) -> anyhow::Result<()> {
    use crate::errors::SdkResultExt;
    let client = &clients.cloudformation;
    let Some(before) = stacks::describe(client, stack_name).await? else {
        log.line(&format!("{stack_name} does not exist: nothing to delete"));
        return Ok(());
    };
    let mut feed = EventFeed::start(client, stack_name, log.clone()).await;
    if before.in_progress() {
        log.line(&format!(
            "Waiting for the operation in progress on {stack_name} to finish"
        ));
        if stacks::wait_until_settled(client, &mut feed, patience)
            .await?
            .is_none()
        {
            return Ok(());
        }
    }
    client
        .delete_stack()
        .stack_name(stack_name)
        .send()
        .await
        .aws(|| format!("Could not delete the CloudFormation stack {stack_name}"))?;
    log.line(&format!("Deleting {stack_name}"));
    match stacks::wait_until_settled(client, &mut feed, patience).await? {
        None => {
            log.line(&format!("{stack_name} is deleted"));
            Ok(())
        }
        Some(state) => {
            let cause = feed
                .first_failure()
                .or_else(|| state.reason.clone())
                .unwrap_or_else(|| "CloudFormation gave no reason".to_owned());
            bail!(
                "The CloudFormation stack {stack_name} could not be deleted: {cause} ({})",
                state.status
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        assert_eq!(fingerprint("a,b"), fingerprint("a,b"));
        assert_ne!(fingerprint("a,b"), fingerprint("a,c"));
    }
}
