//! Promotion of only what works (R18–R21): how a stage verifies a deploy,
//! when an approval expires, and what freezing a stack or stage holds.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ids::{Millis, StackId, StageId};

/// How a stage checks a deploy before the release flows on (R18), and
/// whether it rolls back when the check fails (R19).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Verification {
    /// `GET <stage URL><health path>` until it answers 2xx.
    pub health_check: bool,
    /// How long the health check may take to see a 2xx, in seconds.
    pub health_timeout_secs: u32,
    /// Run the repository's `verify.yml` with `STAGE_URL` (smoke tests).
    pub smoke_tests: bool,
    /// How long the release stays at the stage before it may flow on, while
    /// `alarms` are watched (0: the alarms are read once).
    pub soak_minutes: u32,
    /// CloudWatch alarms (in the stage's region) that must not be in ALARM.
    pub alarms: Vec<String>,
    /// When verification fails, redeploy the image of the stage's previous
    /// successful release (R19).
    pub roll_back: bool,
}

impl Verification {
    /// What a new stage verifies: its health check (R18's default); it rolls
    /// back by itself when it requires approval (a production stage).
    pub fn for_new_stage(requires_approval: bool) -> Self {
        Verification {
            health_check: true,
            health_timeout_secs: DEFAULT_HEALTH_TIMEOUT_SECS,
            smoke_tests: false,
            soak_minutes: 0,
            alarms: Vec::new(),
            roll_back: requires_approval,
        }
    }

    /// Stages made before verification existed verify nothing: turning a
    /// check on by itself could stop a pipeline that flowed yesterday.
    pub fn legacy() -> Self {
        Verification {
            health_check: false,
            roll_back: false,
            ..Verification::for_new_stage(false)
        }
    }

    /// Whether a deploy at the stage gets a verify part at all.
    pub fn is_on(&self) -> bool {
        self.health_check || self.smoke_tests || self.soak_minutes > 0 || !self.alarms.is_empty()
    }
}

impl Default for Verification {
    fn default() -> Self {
        Verification::legacy()
    }
}

/// How long a new stage's health check waits for a 2xx (a fresh load
/// balancer takes a minute or two to register its targets).
pub const DEFAULT_HEALTH_TIMEOUT_SECS: u32 = 300;
/// The health check's limits, in seconds.
pub const HEALTH_TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 10..=3600;
/// The longest soak: one day.
pub const MAX_SOAK_MINUTES: u32 = 24 * 60;
/// The most alarms a stage watches (one DescribeAlarms call's worth is 100).
pub const MAX_ALARMS: usize = 20;
/// CloudWatch's limit on an alarm name.
pub const MAX_ALARM_NAME_LENGTH: usize = 255;

/// How long a pending approval waits before it expires (R20): 7 days, as
/// CodePipeline's manual approvals.
pub const DEFAULT_APPROVAL_EXPIRY_HOURS: u32 = 7 * 24;
/// An approval expires after 1 hour at the soonest and 30 days at the latest.
pub const APPROVAL_EXPIRY_RANGE: std::ops::RangeInclusive<u32> = 1..=30 * 24;

pub(crate) fn default_approval_expiry_hours() -> u32 {
    DEFAULT_APPROVAL_EXPIRY_HOURS
}

/// A stop of the line (R21): nothing enters the frozen stage (or any stage
/// of a frozen stack) until it is unfrozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Freeze {
    pub stack_id: StackId,
    /// `None`: the whole stack.
    pub stage_id: Option<StageId>,
    pub reason: String,
    pub by: String,
    pub at: Millis,
}

/// The longest freeze reason.
pub const MAX_FREEZE_REASON_LENGTH: usize = 500;

/// What a stage learned about its deployed service: its URL (from the
/// stack's outputs) and the image its last successful run deployed (what a
/// rollback redeploys, R19).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StageService {
    /// The ALB DNS name or API Gateway invoke URL; `None` until its stack exists.
    pub url: Option<String>,
    /// Whether `url` was read from the stage's stack (a stage may have none
    /// for good). A start asks only for the URLs never read — not every
    /// stage's on every start.
    #[serde(default)]
    pub url_read: bool,
    /// `repo@sha256:…` of the last successful deploy.
    pub deployed_image: Option<String>,
}
