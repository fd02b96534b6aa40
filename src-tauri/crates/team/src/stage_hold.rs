//! A stage held by this desktop for something other than a part: deleting
//! it (R9 on a team stack). Holding the stage's lease — the one its parts
//! run under — means no teammate's desktop starts a part of the stage while
//! its AWS stack is torn down; the lease is renewed until the hold ends.

use std::time::Duration;

use stageline_engine::ids::{Millis, StackId};

use crate::coordinator::TeamCoordinator;
use crate::leases::{LeaseAnswer, StageLeases};
use crate::objects::ObjectError;

/// The run key a deletion holds the lease under (a run's is its commit).
const DELETION: &str = "delete";

/// How many times a lease written by a teammate between read and write is
/// read again before giving up for now.
const LOST_ATTEMPTS: usize = 5;

/// The answer to asking for a stage's lease to delete it.
#[derive(Debug)]
pub enum HoldAnswer {
    /// This desktop holds the stage until the hold is released.
    Held(StageHold),
    /// A teammate's desktop runs a part of the stage now (until `until`, on
    /// its clock, unless it renews).
    Busy { until: Millis },
    /// This desktop may hold no lease now (its clock is far off S3's).
    Refused(String),
}

/// A stage's lease held by this desktop, renewed until released.
#[derive(Debug)]
pub struct StageHold {
    leases: StageLeases,
    lease: String,
    fencing: u64,
    renewal: tokio::task::JoinHandle<()>,
}

impl StageHold {
    /// Stops renewing and gives the lease up (it stays, expired, so the next
    /// holder's fencing number is still one more). A lease that cannot be
    /// given up expires by itself within a minute.
    pub async fn release(self) {
        self.renewal.abort();
        if let Err(error) = self.leases.release(&self.lease, self.fencing).await {
            tracing::warn!(%error, lease = %self.lease, "could not give a stage's lease up");
        }
    }
}

impl TeamCoordinator {
    /// Asks for `stage_name`'s lease of team stack `stack_id` to delete the
    /// stage. Never waits for a teammate: a stage busy elsewhere is said so.
    pub async fn hold_stage(
        &self,
        stack_id: StackId,
        stage_name: &str,
    ) -> Result<HoldAnswer, ObjectError> {
        if let Some(refusal) = self.clock_refusal() {
            return Ok(HoldAnswer::Refused(refusal));
        }
        let prefix = self
            .prefix(stack_id)
            .ok_or_else(|| ObjectError("This stack is not shared with a team here.".into()))?;
        let leases = self.leases(prefix);
        let lease = format!("stages/{stage_name}");
        for _ in 0..LOST_ATTEMPTS {
            match leases.acquire(&lease, Some(DELETION), self.now()).await? {
                LeaseAnswer::Held { lease: held, .. } => {
                    let renewal = self.keep_renewing(leases.clone(), lease.clone());
                    return Ok(HoldAnswer::Held(StageHold {
                        leases,
                        lease,
                        fencing: held.fencing,
                        renewal,
                    }));
                }
                LeaseAnswer::HeldElsewhere { until, .. } => return Ok(HoldAnswer::Busy { until }),
                LeaseAnswer::Lost => {}
            }
        }
        Err(ObjectError(
            "Teammates' desktops keep taking this stage's turn; try again in a moment.".into(),
        ))
    }

    /// Renews `lease` every renewal period until aborted.
    fn keep_renewing(&self, leases: StageLeases, lease: String) -> tokio::task::JoinHandle<()> {
        let every = Duration::from_millis(self.times().renew_every.max(1) as u64);
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match leases.acquire(&lease, Some(DELETION), this.now()).await {
                    Ok(LeaseAnswer::Held { .. }) => {}
                    Ok(_) => {
                        tracing::warn!(%lease, "lost a stage's lease while deleting it");
                        return;
                    }
                    // S3 unreachable for a moment: the next renewal may reach it.
                    Err(error) => tracing::warn!(%error, %lease, "could not renew a stage's lease"),
                }
            }
        })
    }
}
