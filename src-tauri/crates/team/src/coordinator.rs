//! The engine's `PartCoordinator` for team stacks: a part runs on the
//! desktop holding its lease (renewed while it runs); the others wait for the
//! result it shares (`results/<lease>/<run>/<part>.json`, create-only) and
//! adopt it, or take the lease over when its holder stopped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use stageline_engine::ids::{Millis, StackId};
use stageline_engine::ports::{BoxFuture, LogSink};
use stageline_engine::team::{
    clock_refusal, Fence, Lease, LeaseTimes, PartCoordinator, SharedPart, SharedResult, Turn,
    WaitingNotice,
};
use stageline_engine::{PortError, System};

use crate::clock_watch::ClockWatch;
use crate::leases::{LeaseAnswer, StageLeases};
use crate::objects::{to_json, ObjectError, TeamPrefix};

/// The desktop's clock, in milliseconds since the epoch.
pub type WallClock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// Coordinates the parts of the stacks shared with a team; every other
/// stack's parts run here at once. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct TeamCoordinator {
    inner: Arc<Coordination>,
}

struct Coordination {
    me: String,
    times: LeaseTimes,
    /// How often a waiting desktop looks again.
    poll: Duration,
    clock: WallClock,
    /// This desktop's clock against the team's S3 (read from every answer).
    clock_watch: ClockWatch,
    stacks: RwLock<HashMap<StackId, TeamPrefix>>,
    /// The renewals of the leases this desktop holds, by part.
    renewing: Mutex<HashMap<SharedPart, tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for TeamCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamCoordinator")
            .field("me", &self.inner.me)
            .field("times", &self.inner.times)
            .finish_non_exhaustive()
    }
}

impl TeamCoordinator {
    /// The coordinator of desktop `me` (its install id).
    pub fn new(me: impl Into<String>, times: LeaseTimes, poll: Duration, clock: WallClock) -> Self {
        TeamCoordinator {
            inner: Arc::new(Coordination {
                me: me.into(),
                times,
                poll,
                clock_watch: ClockWatch::new(clock.clone()),
                clock,
                stacks: RwLock::new(HashMap::new()),
                renewing: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// `stack_id` is shared with the team at `prefix`. Its answers tell
    /// how far this desktop's clock is off S3's.
    pub fn share(&self, stack_id: StackId, prefix: TeamPrefix) {
        let watched = prefix.with_client(self.inner.clock_watch.watching(prefix.client()));
        self.inner.stacks.write().unwrap().insert(stack_id, watched);
    }

    /// Why this desktop takes and renews no lease now (its clock is far off
    /// S3's), if it may not.
    pub fn clock_refusal(&self) -> Option<String> {
        clock_refusal(self.inner.clock_watch.skew())
    }

    /// `stack_id` is solo again: its parts run here at once.
    pub fn unshare(&self, stack_id: StackId) {
        self.inner.stacks.write().unwrap().remove(&stack_id);
    }

    /// Stops renewing every lease this desktop holds (the app is quitting):
    /// they expire, and a teammate's desktop takes its parts over.
    pub fn stop_renewing(&self) {
        for (_, renewal) in self.inner.renewing.lock().unwrap().drain() {
            renewal.abort();
        }
    }

    /// Where `stack_id`'s team state is, if it is shared.
    pub fn prefix(&self, stack_id: StackId) -> Option<TeamPrefix> {
        self.inner.stacks.read().unwrap().get(&stack_id).cloned()
    }

    /// Every stack shared with a team here, with where its state is.
    pub fn shared(&self) -> Vec<(StackId, TeamPrefix)> {
        let stacks = self.inner.stacks.read().unwrap();
        stacks
            .iter()
            .map(|(id, prefix)| (*id, prefix.clone()))
            .collect()
    }

    /// This desktop's clock now.
    pub(crate) fn now(&self) -> Millis {
        (self.inner.clock)()
    }

    /// How long leases last and how often they are renewed.
    pub(crate) fn times(&self) -> LeaseTimes {
        self.inner.times
    }

    pub(crate) fn leases(&self, prefix: TeamPrefix) -> StageLeases {
        StageLeases::with_times(prefix, self.inner.me.clone(), self.inner.times)
    }

    /// The fence of a lease just taken: held while its last renewal's expiry
    /// is more than the safety margin away on this desktop's clock.
    fn fence(&self, lease: &Lease) -> (Fence, Arc<AtomicI64>) {
        let expires_at = Arc::new(AtomicI64::new(lease.expires_at));
        let (clock, margin, seen) = (
            self.inner.clock.clone(),
            self.inner.times.safety_margin,
            expires_at.clone(),
        );
        let fence = Fence {
            number: lease.fencing,
            held: Arc::new(move || clock() + margin < seen.load(Ordering::SeqCst)),
        };
        (fence, expires_at)
    }

    /// Renews the lease until the part finishes, keeping `expires_at` (the
    /// part's fence) up to date; a lost lease sets it to 0.
    fn renew_while_running(
        &self,
        part: &SharedPart,
        leases: StageLeases,
        expires_at: Arc<AtomicI64>,
        log: Arc<dyn LogSink>,
    ) {
        let every = Duration::from_millis(self.inner.times.renew_every.max(1) as u64);
        let (clock, lease, run_key) = (
            self.inner.clock.clone(),
            part.lease.clone(),
            part.run_key.clone(),
        );
        let this = self.clone();
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Some(refusal) = this.clock_refusal() {
                    // Left to expire: a teammate with a right clock takes over.
                    expires_at.store(0, Ordering::SeqCst);
                    log.line(&format!("[Stageline] {refusal}"));
                    return;
                }
                match leases.acquire(&lease, Some(&run_key), clock()).await {
                    Ok(LeaseAnswer::Held { lease, .. }) => {
                        expires_at.store(lease.expires_at, Ordering::SeqCst);
                    }
                    Ok(_) => {
                        expires_at.store(0, Ordering::SeqCst);
                        log.line("[Stageline] This desktop lost the stage's lease to a teammate's desktop; it starts nothing more here.");
                        return;
                    }
                    // S3 unreachable for a moment: the next renewal may reach it.
                    Err(error) => log.line(&format!(
                        "[Stageline] Could not renew the stage's lease: {error}"
                    )),
                }
            }
        });
        if let Some(old) = self
            .inner
            .renewing
            .lock()
            .unwrap()
            .insert(part.clone(), renewal)
        {
            old.abort();
        }
    }
}

fn result_name(part: &SharedPart) -> String {
    let kind = serde_json::to_value(part.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    format!("results/{}/{}/{kind}.json", part.lease, part.run_key)
}

/// Where a part's log is shared (next to nothing else: it is read only by
/// desktops that take the part's result).
fn log_name(part: &SharedPart) -> String {
    result_name(part)
        .replacen("results/", "logs/", 1)
        .replace(".json", ".log")
}

/// Copies the shared log of a part a teammate's desktop ran into this
/// desktop's log of it, so its stage window shows what happened. A log that
/// cannot be read is said so; the result stands either way.
async fn copy_teammates_log(prefix: &TeamPrefix, part: &SharedPart, log: &dyn LogSink) {
    match prefix.read(&log_name(part)).await {
        Ok(Some(shared)) => {
            log.line("[Stageline] The log of the teammate's desktop that ran it:");
            for line in String::from_utf8_lossy(&shared.bytes).lines() {
                log.line(line);
            }
        }
        Ok(None) => log.line("[Stageline] The teammate's desktop shared no log of it."),
        Err(error) => log.line(&format!(
            "[Stageline] Could not read the teammate's log of it: {error}"
        )),
    }
}

fn port_error(error: ObjectError) -> PortError {
    PortError::new(System::Aws, error.0)
}

impl PartCoordinator for TeamCoordinator {
    fn turn(
        &self,
        part: SharedPart,
        log: Arc<dyn LogSink>,
        waiting: WaitingNotice,
    ) -> BoxFuture<'static, Result<Turn, PortError>> {
        let this = self.clone();
        Box::pin(async move {
            let Some(prefix) = this.prefix(part.stack_id) else {
                return Ok(Turn::Mine {
                    taken_over: false,
                    fence: None,
                });
            };
            let leases = this.leases(prefix.clone());
            let name = result_name(&part);
            let (mut said_waiting, mut said_clock) = (false, false);
            loop {
                if let Some((result, _)) = prefix
                    .read_json::<SharedResult>(&name)
                    .await
                    .map_err(port_error)?
                {
                    log.line("[Stageline] A teammate's desktop ran this part; its result is taken as is.");
                    copy_teammates_log(&prefix, &part, log.as_ref()).await;
                    return Ok(Turn::Theirs(result));
                }
                if let Some(refusal) = this.clock_refusal() {
                    if !said_clock {
                        log.line(&format!("[Stageline] {refusal}"));
                        said_clock = true;
                        waiting();
                    }
                    tokio::time::sleep(this.inner.poll).await;
                    continue;
                }
                match leases
                    .acquire(&part.lease, Some(&part.run_key), (this.inner.clock)())
                    .await
                    .map_err(port_error)?
                {
                    LeaseAnswer::Held { lease, taken_over } => {
                        // Its holder may have shared the result just before giving the lease up.
                        if let Some((result, _)) = prefix
                            .read_json::<SharedResult>(&name)
                            .await
                            .map_err(port_error)?
                        {
                            let _ = leases.release(&part.lease, lease.fencing).await;
                            copy_teammates_log(&prefix, &part, log.as_ref()).await;
                            return Ok(Turn::Theirs(result));
                        }
                        let stopped_mid_run = taken_over.is_some_and(|previous| {
                            previous.holder != this.inner.me
                                && previous.run_id.as_deref() == Some(part.run_key.as_str())
                        });
                        let (fence, expires_at) = this.fence(&lease);
                        this.renew_while_running(&part, leases, expires_at, log);
                        return Ok(Turn::Mine {
                            taken_over: stopped_mid_run,
                            fence: Some(fence),
                        });
                    }
                    LeaseAnswer::HeldElsewhere { .. } => {
                        if !said_waiting {
                            log.line("[Stageline] A teammate's desktop is running this stage; waiting for it…");
                            said_waiting = true;
                            waiting();
                        }
                        tokio::time::sleep(this.inner.poll).await;
                    }
                    // Another desktop wrote the lease just now: read what it wrote.
                    LeaseAnswer::Lost => {}
                }
            }
        })
    }

    fn finished(
        &self,
        part: SharedPart,
        result: SharedResult,
        log: Option<String>,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let this = self.clone();
        Box::pin(async move {
            let Some(prefix) = this.prefix(part.stack_id) else {
                return Ok(());
            };
            if let Some(renewal) = this.inner.renewing.lock().unwrap().remove(&part) {
                renewal.abort();
            }
            // The log first: a teammate who sees the result finds it.
            // Create-only, as the result: the first one recorded stands.
            if let Some(text) = log {
                prefix
                    .create(&log_name(&part), text.as_bytes())
                    .await
                    .map_err(port_error)?;
            }
            // Create-only: a result recorded first (by a desktop that took
            // the part over) stands.
            prefix
                .create(&result_name(&part), &to_json(&result))
                .await
                .map_err(port_error)?;
            let leases = this.leases(prefix);
            if let Some(lease) = leases.current(&part.lease).await.map_err(port_error)? {
                leases
                    .release(&part.lease, lease.fencing)
                    .await
                    .map_err(port_error)?;
            }
            Ok(())
        })
    }

    fn run_finished(
        &self,
        stack_id: StackId,
        summary: stageline_engine::team::SharedRunSummary,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let prefix = self.prefix(stack_id);
        Box::pin(async move {
            let Some(prefix) = prefix else {
                return Ok(());
            };
            crate::history::share_summary(&prefix, &summary)
                .await
                .map_err(|error| {
                    tracing::warn!(%error, run = %summary.run_key, "could not share a run's summary");
                    port_error(error)
                })
        })
    }
}
