//! Stage leases in S3: the engine's lease rules (`stageline_engine::team`)
//! applied with conditional writes, so at most one desktop holds a stage.

use stageline_engine::ids::Millis;
use stageline_engine::team::{next_lease_step, Lease, LeaseStep, LeaseTimes};

use crate::objects::{to_json, ObjectError, TeamPrefix, Written};

/// What asking for a stage's lease came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAnswer {
    /// This desktop holds the lease until `lease.expires_at` (its own clock).
    /// `taken_over` is the expired lease of another desktop it replaced: when
    /// that one was still running a run (`run_id`), the stage must be
    /// reconciled with CloudFormation before any effect.
    Held {
        lease: Lease,
        taken_over: Option<Lease>,
    },
    /// Another desktop holds it until `until` (that desktop's clock).
    HeldElsewhere { holder: String, until: Millis },
    /// Another desktop wrote the lease between this one's read and write;
    /// asking again reads what it wrote.
    Lost,
}

/// The leases of one team stack: each stage's (`stages/<name>`) and its
/// builds' (`builds`), each an object `<lease>/lease.json`.
#[derive(Debug, Clone)]
pub struct StageLeases {
    objects: TeamPrefix,
    /// This desktop's install id.
    me: String,
    times: LeaseTimes,
}

impl StageLeases {
    pub fn new(objects: TeamPrefix, me: impl Into<String>) -> Self {
        StageLeases::with_times(objects, me, LeaseTimes::default())
    }

    /// With other lease times (tests run a takeover in seconds).
    pub fn with_times(objects: TeamPrefix, me: impl Into<String>, times: LeaseTimes) -> Self {
        StageLeases {
            objects,
            me: me.into(),
            times,
        }
    }

    fn name(lease: &str) -> String {
        format!("{lease}/lease.json")
    }

    /// The lease `stage_id` (`stages/<name>` or `builds`) as stored now.
    pub async fn current(&self, stage_id: &str) -> Result<Option<Lease>, ObjectError> {
        Ok(self.read(stage_id).await?.map(|(lease, _)| lease))
    }

    async fn read(&self, stage_id: &str) -> Result<Option<(Lease, String)>, ObjectError> {
        self.objects.read_json(&Self::name(stage_id)).await
    }

    /// Takes or renews the lease of `stage_id` for `run_id` at `now` (this
    /// desktop's clock). Renewing is the same call: it keeps the fencing number.
    pub async fn acquire(
        &self,
        stage_id: &str,
        run_id: Option<&str>,
        now: Millis,
    ) -> Result<LeaseAnswer, ObjectError> {
        let read = self.read(stage_id).await?;
        let name = Self::name(stage_id);
        let (lease, taken_over, written) = match (
            next_lease_step(
                read.as_ref().map(|(l, _)| l),
                &self.me,
                run_id,
                now,
                self.times.ttl,
            ),
            &read,
        ) {
            (LeaseStep::Wait { holder, until }, _) => {
                return Ok(LeaseAnswer::HeldElsewhere { holder, until })
            }
            (LeaseStep::Create(lease), _) => {
                let written = self.objects.create(&name, &to_json(&lease)).await?;
                (lease, None, written)
            }
            (LeaseStep::Renew(lease), Some((_, etag))) => {
                let written = self.objects.swap(&name, etag, &to_json(&lease)).await?;
                (lease, None, written)
            }
            (LeaseStep::TakeOver { lease, .. }, Some((previous, etag))) => {
                let written = self.objects.swap(&name, etag, &to_json(&lease)).await?;
                (lease, Some(previous.clone()), written)
            }
            (LeaseStep::Renew(_) | LeaseStep::TakeOver { .. }, None) => {
                unreachable!("renewing or taking over needs a lease that was read")
            }
        };
        Ok(match written {
            Written::Done { .. } => LeaseAnswer::Held { lease, taken_over },
            Written::Refused => LeaseAnswer::Lost,
        })
    }

    /// Gives the lease up at once (the run ended), if this desktop still
    /// holds it with `fencing`: it stays in place, expired, so the next
    /// holder's fencing number is still one more.
    pub async fn release(&self, stage_id: &str, fencing: u64) -> Result<bool, ObjectError> {
        let Some((lease, etag)) = self.read(stage_id).await? else {
            return Ok(false);
        };
        if lease.holder != self.me || lease.fencing != fencing {
            return Ok(false);
        }
        let freed = Lease {
            expires_at: Millis::MIN,
            run_id: None,
            ..lease
        };
        let written = self
            .objects
            .swap(&Self::name(stage_id), &etag, &to_json(&freed))
            .await?;
        Ok(matches!(written, Written::Done { .. }))
    }
}
