//! Reading a CloudFormation stack: its state, its events streamed to a log as
//! they happen, waiting until an operation settles, and what a failure was.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use aws_sdk_cloudformation::primitives::DateTimeFormat;
use aws_sdk_cloudformation::types::StackEvent;
use aws_sdk_cloudformation::Client;
use stageline_engine::ports::LogSink;

use crate::errors::{error_code, error_message, is_transient_error, SdkResultExt};

/// A stack as DescribeStacks shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StackState {
    pub status: String,
    pub reason: Option<String>,
    pub tags: Vec<(String, String)>,
    pub parameters: Vec<(String, String)>,
    /// The name of the change set last executed on the stack, if AWS says.
    pub last_change_set: Option<String>,
    /// The template's outputs as of the last completed operation (none while
    /// the stack is first being created).
    pub outputs: Vec<(String, String)>,
}

impl StackState {
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of parameter `key`.
    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of output `key`.
    pub fn output(&self, key: &str) -> Option<&str> {
        self.outputs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// An operation is running; wait before anything else.
    pub fn in_progress(&self) -> bool {
        // REVIEW_IN_PROGRESS: created by a change set never executed; nothing runs.
        self.status.ends_with("_IN_PROGRESS") && self.status != "REVIEW_IN_PROGRESS"
    }

    /// The last operation succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(
            self.status.as_str(),
            "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE"
        )
    }

    /// A stack that exists for CloudFormation only on paper: created by a
    /// change set never executed, or rolled back from its creation.
    pub fn holds_nothing(&self) -> bool {
        matches!(
            self.status.as_str(),
            "REVIEW_IN_PROGRESS" | "ROLLBACK_COMPLETE"
        )
    }

    /// What the rollback (if any) left, for a failure message.
    pub fn outcome(&self) -> String {
        let status = self.status.as_str();
        match status {
            "UPDATE_ROLLBACK_COMPLETE" => format!("the stack rolled back to its previous version ({status})"),
            "ROLLBACK_COMPLETE" => {
                format!("the new stack rolled back and holds nothing ({status}); the next deploy creates it again")
            }
            "UPDATE_ROLLBACK_FAILED" => format!(
                "the rollback failed as well ({status}); continue the rollback from the CloudFormation console"
            ),
            "ROLLBACK_FAILED" => {
                format!("the rollback failed as well ({status}); delete the stack from the CloudFormation console")
            }
            _ => format!("the stack is {status}"),
        }
    }
}

/// The stack named `name`, or `None` if there is none.
pub(crate) async fn describe(client: &Client, name: &str) -> anyhow::Result<Option<StackState>> {
    let result = client.describe_stacks().stack_name(name).send().await;
    let output = match result {
        Ok(output) => output,
        Err(error)
            if error_code(&error) == Some("ValidationError")
                && error_message(&error).is_some_and(|m| m.contains("does not exist")) =>
        {
            return Ok(None)
        }
        Err(error) => {
            return Err(error).aws(|| format!("Could not read the CloudFormation stack {name}"))
        }
    };
    let Some(stack) = output.stacks().first() else {
        return Ok(None);
    };
    let status = stack
        .stack_status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    if status == "DELETE_COMPLETE" {
        return Ok(None);
    }
    Ok(Some(StackState {
        status,
        reason: stack.stack_status_reason().map(str::to_owned),
        tags: stack
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        parameters: stack
            .parameters()
            .iter()
            .map(|p| {
                (
                    p.parameter_key().unwrap_or_default().to_owned(),
                    p.parameter_value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        last_change_set: stack.change_set_id().and_then(change_set_name_of_arn),
        outputs: stack
            .outputs()
            .iter()
            .map(|o| {
                (
                    o.output_key().unwrap_or_default().to_owned(),
                    o.output_value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    }))
}

/// `arn:aws:cloudformation:<region>:<account>:changeSet/<name>/<uuid>` → `<name>`.
fn change_set_name_of_arn(arn: &str) -> Option<String> {
    arn.split_once(":changeSet/")
        .and_then(|(_, rest)| rest.split('/').next())
        .map(str::to_owned)
}

/// One resource's event, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

impl Event {
    fn from_sdk(event: &StackEvent) -> Event {
        Event {
            logical_id: event.logical_resource_id().unwrap_or_default().to_owned(),
            resource_type: event.resource_type().unwrap_or_default().to_owned(),
            status: event
                .resource_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            reason: event.resource_status_reason().map(str::to_owned),
        }
    }
}

/// The events of one operation: prints new ones to the log as they appear.
pub(crate) struct EventFeed {
    stack: String,
    seen: HashSet<String>,
    /// This operation's events, oldest first.
    pub events: Vec<Event>,
    log: Arc<dyn LogSink>,
}

/// How many pages of events one poll reads at most (100 events each).
const MAX_EVENT_PAGES: usize = 5;

impl EventFeed {
    /// A feed that shows only events newer than those the stack has now.
    pub async fn start(client: &Client, stack: &str, log: Arc<dyn LogSink>) -> EventFeed {
        let mut feed = EventFeed {
            stack: stack.to_owned(),
            seen: HashSet::new(),
            events: Vec::new(),
            log,
        };
        // A stack that does not exist yet has no events: nothing to skip.
        if let Ok(page) = client
            .describe_stack_events()
            .stack_name(stack)
            .send()
            .await
        {
            feed.seen.extend(
                page.stack_events()
                    .iter()
                    .filter_map(|e| e.event_id().map(str::to_owned)),
            );
        }
        feed
    }

    /// Reads and logs the events that appeared since the last poll.
    pub async fn poll(&mut self, client: &Client) -> anyhow::Result<()> {
        let mut fresh: Vec<StackEvent> = Vec::new();
        let mut token: Option<String> = None;
        'pages: for _ in 0..MAX_EVENT_PAGES {
            let page = client
                .describe_stack_events()
                .stack_name(&self.stack)
                .set_next_token(token.clone())
                .send()
                .await
                .aws(|| {
                    format!(
                        "Could not read the events of the CloudFormation stack {}",
                        self.stack
                    )
                })?;
            for event in page.stack_events() {
                let id = event.event_id().unwrap_or_default();
                if self.seen.contains(id) {
                    break 'pages;
                }
                fresh.push(event.clone());
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        // AWS lists newest first; the log reads oldest first.
        for event in fresh.iter().rev() {
            self.seen
                .insert(event.event_id().unwrap_or_default().to_owned());
            let shown = Event::from_sdk(event);
            let time = event
                .timestamp()
                .and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
                .unwrap_or_default();
            let reason = shown
                .reason
                .as_deref()
                .map(|r| format!("  {r}"))
                .unwrap_or_default();
            self.log.line(&format!(
                "{time}  {}  {}  {}{reason}",
                shown.logical_id, shown.resource_type, shown.status
            ));
            self.events.push(shown);
        }
        Ok(())
    }

    /// The first resource that failed in this operation, as
    /// "Service (AWS::ECS::Service) CREATE_FAILED: <reason>".
    pub fn first_failure(&self) -> Option<String> {
        let cancelled = |e: &&Event| e.reason.as_deref().is_some_and(|r| r.contains("cancelled"));
        let failed = |e: &&Event| e.status.ends_with("_FAILED");
        let resource_failure = self
            .events
            .iter()
            .filter(failed)
            .filter(|e| e.resource_type != "AWS::CloudFormation::Stack")
            .find(|e| !cancelled(e));
        let failure = resource_failure.or_else(|| self.events.iter().find(failed))?;
        Some(format!(
            "{} ({}) {}: {}",
            failure.logical_id,
            failure.resource_type,
            failure.status,
            failure.reason.as_deref().unwrap_or("no reason given")
        ))
    }
}

/// How long to wait for a stack, and how often to look.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience {
    pub max_wait: Duration,
    pub poll_interval: Duration,
}

/// The longest pause between two looks at a stack AWS could not be asked about.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

/// Waits until no operation runs on the stack, streaming its events; `None`
/// once the stack is gone. A look that fails for a reason that says nothing
/// about the stack (network, time-out, throttling, 5xx) is tried again, with
/// growing pauses: CloudFormation goes on meanwhile, and its own state decides.
pub(crate) async fn wait_until_settled(
    client: &Client,
    feed: &mut EventFeed,
    patience: Patience,
) -> anyhow::Result<Option<StackState>> {
    let started = Instant::now();
    let mut pause = patience.poll_interval;
    let mut unreachable = false;
    loop {
        // Events are read after the status so none of this operation's is missed.
        let looked = match describe(client, &feed.stack).await {
            Ok(Some(state)) => feed.poll(client).await.map(|()| Some(state)),
            other => other,
        };
        let state = match looked {
            Ok(state) => state,
            Err(error) if is_transient_error(&error) && started.elapsed() < patience.max_wait => {
                if !unreachable {
                    feed.log.line(&format!(
                        "Could not ask AWS about {} ({error:#}); CloudFormation goes on, trying again",
                        feed.stack
                    ));
                    unreachable = true;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
                continue;
            }
            Err(error) => return Err(error),
        };
        if std::mem::take(&mut unreachable) {
            feed.log.line("AWS answers again");
        }
        pause = patience.poll_interval;
        match state {
            Some(state) if state.in_progress() => {
                if started.elapsed() >= patience.max_wait {
                    bail!(
                        "The CloudFormation stack {} did not finish within {} (it is still {}); \
                         CloudFormation goes on with it",
                        feed.stack,
                        describe_duration(patience.max_wait),
                        state.status
                    );
                }
                tokio::time::sleep(patience.poll_interval).await;
            }
            settled => return Ok(settled),
        }
    }
}

/// "30 min", "90 s".
pub(crate) fn describe_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 60 && secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else if secs >= 1 {
        format!("{secs} s")
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// The first failure of the stack's most recent operation, read back from its
/// events (after a restart, when nobody watched it happen).
pub(crate) async fn last_operation_failure(
    client: &Client,
    stack: &str,
    log: Arc<dyn LogSink>,
) -> Option<String> {
    let page = client
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
        .ok()?;
    // Newest first: everything before the stack's own "User Initiated" start.
    let mut operation: Vec<Event> = Vec::new();
    for event in page.stack_events() {
        let shown = Event::from_sdk(event);
        let starts_operation = shown.resource_type == "AWS::CloudFormation::Stack"
            && shown.status.ends_with("_IN_PROGRESS")
            && shown.reason.as_deref() == Some("User Initiated");
        operation.push(shown);
        if starts_operation {
            break;
        }
    }
    operation.reverse();
    let feed = EventFeed {
        stack: stack.to_owned(),
        seen: HashSet::new(),
        events: operation,
        log,
    };
    feed.first_failure()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_set_name_is_read_from_its_arn() {
        let arn = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/stageline-r42-1/0f1e2d";
        assert_eq!(
            change_set_name_of_arn(arn).as_deref(),
            Some("stageline-r42-1")
        );
    }
}
