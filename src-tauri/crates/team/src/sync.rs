//! Approvals of team stacks across desktops: a decision made here is written
//! to the team first (the first decision wins, the stage's policy is asked),
//! and decisions made on teammates' desktops are applied to this desktop's
//! engine as they appear.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use stageline_engine::ids::{ApprovalId, Millis, StackId};
use stageline_engine::pipeline::Pipeline;
use stageline_engine::team::ApprovalPolicy;
use stageline_engine::{Decision, DecisionSource, EngineError};

use crate::approvals::{
    DecideError, DecideOutcome, SharedApprovalRequest, SharedApprovals, SharedDecision,
};
use crate::coordinator::TeamCoordinator;

/// A pending approval of a team stack, as every desktop names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingHere {
    approval_id: ApprovalId,
    stack_id: StackId,
    /// `<stage name>@<commit sha>`: the same on every desktop.
    key: String,
    stage_name: String,
    sha: String,
    author_email: String,
    requested_at: Millis,
    /// The stage's policy when the request was made: written into the
    /// shared request, so every desktop asks the same one.
    policy: ApprovalPolicy,
}

/// Why deciding on a team stack did not record this desktop's decision.
#[derive(Debug, thiserror::Error)]
pub enum TeamDecideError {
    /// A teammate decided first; their decision is now applied here too.
    #[error("{by} already {verb} this release on their desktop.", verb = if *approved { "approved" } else { "rejected" })]
    DecidedFirst { by: String, approved: bool },
    #[error(transparent)]
    Team(#[from] DecideError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The approvals of the stacks `coordinator` shares, on this desktop.
#[derive(Debug, Clone)]
pub struct TeamApprovals {
    coordinator: TeamCoordinator,
    /// Requests this desktop shared already (so a poll does not write again).
    shared: Arc<Mutex<HashSet<String>>>,
}

impl TeamApprovals {
    pub fn new(coordinator: TeamCoordinator) -> Self {
        TeamApprovals {
            coordinator,
            shared: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    async fn pending(&self, pipeline: &Pipeline) -> Result<Vec<PendingHere>, EngineError> {
        pipeline
            .read(|s| {
                s.pending_approvals()
                    .filter_map(|approval| {
                        let stage = s.stage(approval.stage_id)?;
                        let release = s.release(approval.release_id)?;
                        Some(PendingHere {
                            approval_id: approval.id,
                            stack_id: approval.stack_id,
                            key: format!("{}@{}", stage.settings.name, release.commit.sha),
                            stage_name: stage.settings.name.clone(),
                            sha: release.commit.sha.clone(),
                            author_email: release.commit.author_email.clone(),
                            requested_at: approval.requested_at,
                            policy: stage.settings.approval_policy.clone(),
                        })
                    })
                    .collect()
            })
            .await
    }

    fn approvals_of(&self, stack_id: StackId) -> Option<SharedApprovals> {
        self.coordinator.prefix(stack_id).map(SharedApprovals::new)
    }

    async fn share_request(
        &self,
        approvals: &SharedApprovals,
        pending: &PendingHere,
    ) -> Result<(), DecideError> {
        if self.shared.lock().unwrap().contains(&pending.key) {
            return Ok(());
        }
        let request = SharedApprovalRequest {
            approval_id: pending.key.clone(),
            stage_id: pending.stage_name.clone(),
            release_id: pending.sha.clone(),
            requested_at: pending.requested_at,
            release_started_by: None,
            commit_author_email: pending.author_email.clone(),
            policy: pending.policy.clone(),
        };
        approvals.request(&request).await?;
        self.shared.lock().unwrap().insert(pending.key.clone());
        Ok(())
    }

    async fn apply(
        &self,
        pipeline: &Pipeline,
        approval_id: ApprovalId,
        decision: &SharedDecision,
        via: DecisionSource,
    ) -> Result<(), EngineError> {
        let local = Decision {
            by: decision.by.clone(),
            at: decision.at,
            comment: decision.comment.clone(),
            via,
        };
        pipeline.decide(approval_id, decision.approved, local).await
    }

    /// Decides `approval_id` here as `principal` (their AWS ARN). On a solo
    /// stack this is the engine's decision alone.
    pub async fn decide(
        &self,
        pipeline: &Pipeline,
        approval_id: ApprovalId,
        decision: SharedDecision,
        via: DecisionSource,
    ) -> Result<(), TeamDecideError> {
        let pending = self
            .pending(pipeline)
            .await?
            .into_iter()
            .find(|p| p.approval_id == approval_id);
        let Some(approvals) = pending.as_ref().and_then(|p| self.approvals_of(p.stack_id)) else {
            return Ok(self.apply(pipeline, approval_id, &decision, via).await?);
        };
        let pending = pending.expect("found above");
        self.share_request(&approvals, &pending).await?;
        match approvals.decide(&pending.key, &decision).await? {
            DecideOutcome::Recorded => {
                Ok(self.apply(pipeline, approval_id, &decision, via).await?)
            }
            DecideOutcome::AlreadyDecided(first) => {
                self.apply(pipeline, approval_id, &first, DecisionSource::Teammate)
                    .await?;
                Err(TeamDecideError::DecidedFirst {
                    by: first.by,
                    approved: first.approved,
                })
            }
        }
    }

    /// Shares the requests of this desktop's pending team approvals and
    /// applies the decisions teammates made on them. Called every few seconds.
    pub async fn sync_once(&self, pipeline: &Pipeline) -> Result<usize, TeamDecideError> {
        let mut applied = 0;
        for pending in self.pending(pipeline).await? {
            let Some(approvals) = self.approvals_of(pending.stack_id) else {
                continue;
            };
            self.share_request(&approvals, &pending).await?;
            if let Some(decision) = approvals
                .decision(&pending.key)
                .await
                .map_err(DecideError::from)?
            {
                self.apply(
                    pipeline,
                    pending.approval_id,
                    &decision,
                    DecisionSource::Teammate,
                )
                .await?;
                applied += 1;
            }
        }
        Ok(applied)
    }
}
