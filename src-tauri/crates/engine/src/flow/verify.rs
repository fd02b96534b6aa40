//! Promotion of only what works: the verify part (R18), the automatic
//! rollback when it fails (R19), and approvals that expire (R20).

use std::time::Duration;

use crate::domain::{
    ApprovalStatus, Decision, DecisionSource, PartKind, PartStatus, Run, RunTrigger,
};
use crate::events::PipelineEvent;
use crate::flow::tx::Tx;
use crate::flow::Effect;
use crate::ids::{ApprovalId, StageId};

/// Who a decision made by Stageline itself is recorded as.
pub const STAGELINE: &str = "Stageline";

impl Tx<'_> {
    /// The deploy part succeeded: the stage learns its service URL, and the
    /// run verifies the deploy (R18) or, when the stage verifies nothing,
    /// succeeds now. A rollback and a redeploy are not verified: they run an
    /// image the stage ran before, and a failing check must not roll a
    /// rollback back.
    /// Whether it verifies is decided when the run starts (see
    /// `verify_skipped_because`), so the dashboard shows its parts from the start.
    pub fn deployed(&mut self, run: Run) {
        self.read_service_url(run.stage_id);
        if run.part(PartKind::Verify).status == PartStatus::Skipped {
            self.succeed_run(run);
        } else {
            self.begin_verify(run);
        }
    }

    /// `Some` when a run at the stage with `trigger` gets no verify part,
    /// with the reason to show (`None`: the stage verifies nothing).
    pub fn verify_skipped_because(
        &self,
        stage_id: StageId,
        trigger: &RunTrigger,
    ) -> Option<Option<&'static str>> {
        match trigger {
            RunTrigger::Rollback { .. } => Some(Some("A rollback is not verified")),
            RunTrigger::Redeploy { .. } => Some(Some("A redeploy is not verified")),
            _ if !self.s.stages[&stage_id].settings.verification.is_on() => Some(None),
            _ => None,
        }
    }

    /// Starts (or, after a restart, starts again) the run's verify part.
    pub fn begin_verify(&mut self, mut run: Run) {
        if run.part(PartKind::Verify).status != PartStatus::Running {
            self.begin_part(&mut run, PartKind::Verify);
            self.put_run(&run);
        }
        let context = self.context(run.stage_id, run.release_id);
        self.effect(Effect::Verify {
            run: run.clone(),
            context,
        });
        self.event(PipelineEvent::PartChanged {
            run,
            part: PartKind::Verify,
            status: PartStatus::Running,
        });
    }

    /// R19: `failed`'s verification failed; when the stage is set to, it
    /// redeploys the image of its previous successful release. The failed
    /// release goes no further (R4), whatever happens here.
    pub fn roll_back(&mut self, failed: &Run) {
        let stage_id = failed.stage_id;
        if !self.s.stages[&stage_id].settings.verification.roll_back {
            return;
        }
        let previous = self.s.flow(stage_id).deployed;
        let image = self.s.service(stage_id).deployed_image;
        let reason = failed
            .part(PartKind::Verify)
            .message
            .clone()
            .unwrap_or_else(|| "Verification failed".to_string());
        match (previous, image) {
            (Some(previous), Some(image)) if previous != failed.release_id => {
                let trigger = RunTrigger::Rollback {
                    failed_run: failed.id,
                    reason,
                };
                self.start_redeploy(stage_id, previous, image, trigger);
            }
            _ => {
                let mut failed = failed.clone();
                let part = failed.part_mut(PartKind::Verify);
                part.message = Some(format!(
                    "{reason}. Nothing to roll back to: no earlier release succeeded here."
                ));
                self.put_run(&failed);
            }
        }
    }

    /// Asks for the stage's service URL (its stack exists now).
    pub fn read_service_url(&mut self, stage_id: StageId) {
        let Some(stage) = self.s.stages.get(&stage_id).cloned() else {
            return;
        };
        let Some(stack) = self.s.stacks.get(&stage.stack_id).cloned() else {
            return;
        };
        let Some(account) = self.s.accounts.get(&stack.account_id).cloned() else {
            return;
        };
        self.effect(Effect::ReadServiceUrl {
            account,
            stack,
            stage,
        });
    }

    /// The stage's service URL was read. A failed read keeps what was known.
    pub fn service_url_read(&mut self, stage_id: StageId, result: Result<Option<String>, String>) {
        let Ok(url) = result else {
            return;
        };
        if !self.s.stages.contains_key(&stage_id) {
            return;
        }
        let mut service = self.s.service(stage_id);
        service.url = url;
        service.url_read = true;
        self.put_service(stage_id, service);
    }

    /// R20: a pending approval whose time is up expires; one whose time is
    /// not up yet (the clock moved back) waits for the rest of it.
    pub fn approval_expired(&mut self, approval_id: ApprovalId) {
        let Some(mut approval) = self.s.pending_approvals.get(&approval_id).cloned() else {
            return;
        };
        let Some(expires_at) = approval.expires_at else {
            return;
        };
        if self.now < expires_at {
            self.effect(Effect::ExpireApproval {
                approval_id,
                after: Duration::from_millis((expires_at - self.now) as u64),
            });
            return;
        }
        let waited = Duration::from_millis((expires_at - approval.requested_at).max(0) as u64);
        approval.status = ApprovalStatus::Expired;
        approval.decision = Some(Decision {
            by: STAGELINE.to_string(),
            at: self.now,
            comment: format!("Nobody decided within {}.", span(waited)),
            via: DecisionSource::Expired,
        });
        self.put_approval(&approval);
        self.event(PipelineEvent::ApprovalDecided { approval });
    }

    /// R17/R20: after a start, every pending approval's expiry is timed again.
    pub fn resume_expiries(&mut self) {
        let pending: Vec<_> = self
            .s
            .pending_approvals
            .values()
            .filter_map(|a| a.expires_at.map(|at| (a.id, at)))
            .collect();
        for (approval_id, expires_at) in pending {
            let after = Duration::from_millis((expires_at - self.now).max(0) as u64);
            self.effect(Effect::ExpireApproval { approval_id, after });
        }
    }
}

/// "7 days", "1 day", "12 hours", "1 hour".
fn span(duration: Duration) -> String {
    let hours = (duration.as_secs() + 1800) / 3600;
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if hours >= 24 && hours % 24 == 0 {
        plural(hours / 24, "day")
    } else {
        plural(hours.max(1), "hour")
    }
}

#[cfg(test)]
mod tests {
    use super::span;
    use std::time::Duration;

    #[test]
    fn expiry_spans_read_as_a_person_says_them() {
        assert_eq!(span(Duration::from_secs(7 * 86400)), "7 days");
        assert_eq!(span(Duration::from_secs(86400)), "1 day");
        assert_eq!(span(Duration::from_secs(36 * 3600)), "36 hours");
        assert_eq!(span(Duration::from_secs(3600)), "1 hour");
    }
}
