//! Approvals of a team stack: the request and its one decision are
//! create-only objects, so the first decision wins on every desktop and the
//! record cannot be rewritten afterwards (the bucket is versioned as well).

use serde::{Deserialize, Serialize};
use stageline_engine::ids::Millis;
use stageline_engine::team::{
    check_approver, ApprovalPolicy, ApprovalRequestParties, PolicyRefusal,
};

use crate::objects::{to_json, ObjectError, TeamPrefix, Written};

/// A release waiting at a stage, as every desktop sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedApprovalRequest {
    pub approval_id: String,
    pub stage_id: String,
    pub release_id: String,
    pub requested_at: Millis,
    /// The AWS principal of the desktop that made the release.
    pub release_started_by: Option<String>,
    pub commit_author_email: String,
    /// The stage's policy when it was asked (a later change does not move an
    /// open request's rules under the approvers' feet).
    pub policy: ApprovalPolicy,
}

/// The one decision on a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedDecision {
    pub approved: bool,
    /// The decider's AWS principal ARN (`sts:GetCallerIdentity`).
    pub by: String,
    pub at: Millis,
    pub comment: String,
}

/// What deciding came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideOutcome {
    /// This decision is the one.
    Recorded,
    /// Someone decided first: theirs stands.
    AlreadyDecided(SharedDecision),
}

/// Why a decision was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Refused(#[from] PolicyRefusal),
    #[error("This approval is not in the team's bucket (it was withdrawn or never shared).")]
    NoSuchRequest,
    #[error(transparent)]
    Objects(#[from] ObjectError),
}

/// The approvals of one team stack.
#[derive(Debug, Clone)]
pub struct SharedApprovals {
    objects: TeamPrefix,
}

impl SharedApprovals {
    pub fn new(objects: TeamPrefix) -> Self {
        SharedApprovals { objects }
    }

    fn request_name(approval_id: &str) -> String {
        format!("approvals/{approval_id}/request.json")
    }

    fn decision_name(approval_id: &str) -> String {
        format!("approvals/{approval_id}/decision.json")
    }

    /// Shares a request. Asking twice (two desktops saw the same release
    /// arrive) is harmless: the first request stays.
    pub async fn request(&self, request: &SharedApprovalRequest) -> Result<(), ObjectError> {
        let name = Self::request_name(&request.approval_id);
        self.objects.create(&name, &to_json(request)).await?;
        Ok(())
    }

    /// The request `approval_id`, if shared.
    pub async fn find_request(
        &self,
        approval_id: &str,
    ) -> Result<Option<SharedApprovalRequest>, ObjectError> {
        Ok(self
            .objects
            .read_json(&Self::request_name(approval_id))
            .await?
            .map(|(r, _)| r))
    }

    /// The decision on `approval_id`, if anyone decided.
    pub async fn decision(&self, approval_id: &str) -> Result<Option<SharedDecision>, ObjectError> {
        Ok(self
            .objects
            .read_json(&Self::decision_name(approval_id))
            .await?
            .map(|(d, _)| d))
    }

    /// Records `decision` unless the request's policy refuses the decider
    /// (approvals only: anyone may reject) or someone decided first.
    pub async fn decide(
        &self,
        approval_id: &str,
        decision: &SharedDecision,
    ) -> Result<DecideOutcome, DecideError> {
        let request = self
            .find_request(approval_id)
            .await?
            .ok_or(DecideError::NoSuchRequest)?;
        if decision.approved {
            let parties = ApprovalRequestParties {
                approver: &decision.by,
                release_started_by: request.release_started_by.as_deref(),
                commit_author_email: &request.commit_author_email,
            };
            check_approver(&request.policy, &parties)?;
        }
        let name = Self::decision_name(approval_id);
        match self.objects.create(&name, &to_json(decision)).await? {
            Written::Done { .. } => Ok(DecideOutcome::Recorded),
            Written::Refused => {
                let first = self.decision(approval_id).await?.ok_or_else(|| {
                    ObjectError(format!(
                        "The decision on {approval_id} vanished after it was made."
                    ))
                })?;
                Ok(DecideOutcome::AlreadyDecided(first))
            }
        }
    }
}
