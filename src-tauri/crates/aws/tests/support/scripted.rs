//! A scripted stack: after a chosen request, the fault proxy answers for
//! the stack itself (statuses one look after the other, events), so the
//! SDK's real code paths see what moto never produces.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stageline_aws::CloudFormationDeployer;

use super::fault_proxy::{cfn_response, described_events, described_stack, Reply};
use super::{test_options, FixedKeys};

pub type Event = (&'static str, &'static str, &'static str, &'static str);

/// After the first `trigger` request (answered here, never reaching moto),
/// the stack reports `statuses` one DescribeStacks after the other (the last
/// one for good) and lists `events`; everything before goes to moto.
pub struct AfterTrigger {
    pub trigger: &'static str,
    pub stack: String,
    pub change_set: String,
    pub tags: Vec<(String, String)>,
    pub statuses: Vec<&'static str>,
    pub events: Vec<Event>,
    pub triggered: Mutex<bool>,
    pub describes: AtomicUsize,
}

impl AfterTrigger {
    pub fn reply(&self, request: &super::fault_proxy::Request) -> Reply {
        let action = request.action();
        let mut triggered = self.triggered.lock().unwrap();
        if action == self.trigger && !*triggered {
            *triggered = true;
            return Reply::Respond {
                status: 200,
                body: cfn_response(self.trigger, ""),
            };
        }
        if !*triggered {
            return Reply::Forward;
        }
        let tags: Vec<(&str, &str)> = self
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match action.as_str() {
            "DescribeStacks" => {
                let n = self
                    .describes
                    .fetch_add(1, Ordering::SeqCst)
                    .min(self.statuses.len() - 1);
                let reason = if self.statuses[n].contains("ROLLBACK") {
                    "The following resource(s) failed"
                } else {
                    ""
                };
                let body = described_stack(
                    &self.stack,
                    self.statuses[n],
                    reason,
                    &self.change_set,
                    &tags,
                );
                Reply::Respond { status: 200, body }
            }
            "DescribeStackEvents" => Reply::Respond {
                status: 200,
                body: described_events(&self.stack, "injected", &self.events),
            },
            _ => Reply::Forward,
        }
    }
}

pub fn deployer_with(retries: bool, max_wait: Duration) -> CloudFormationDeployer {
    let mut options = test_options();
    options.retries = retries;
    options.max_wait = max_wait;
    CloudFormationDeployer::new(Arc::new(FixedKeys), options)
}

pub const CIRCUIT_BREAKER: &str =
    "Resource handler returned message: \"Error occurred during operation 'ECS Deployment Circuit Breaker was triggered'.\"";

/// The stack name as a `'static` str for the event table.
pub fn name_leak(name: &str) -> &'static str {
    Box::leak(name.to_owned().into_boxed_str())
}
