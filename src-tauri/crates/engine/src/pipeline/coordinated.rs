//! R22: a part of a team stack runs on the desktop whose turn it is; the
//! others adopt the result it shares. Solo stacks always run here.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::domain::{Artifact, PartKind, Run};
use crate::flow::{Input, PartContext, PartOutcome};
use crate::ids::{RunId, StackId};
use crate::pipeline::Ports;
use crate::ports::{DeployOutcome, InputSink, LogSink};
use crate::team::{Fence, SharedPart, SharedResult, Turn, WaitingNotice, SHARED_LOG_BYTES};

/// The part as every desktop names it (its run by `team::run_key`).
pub(super) fn shared_part(run: &Run, context: &PartContext, kind: PartKind) -> SharedPart {
    SharedPart {
        stack_id: run.stack_id,
        lease: format!("stages/{}", context.stage.settings.name),
        run_key: crate::team::run_key(run, &context.release.commit.sha),
        kind,
    }
}

/// A release's build, once per commit across the team's desktops.
pub(super) fn shared_build(stack_id: StackId, sha: &str) -> SharedPart {
    SharedPart {
        stack_id,
        lease: "builds".into(),
        run_key: sha.to_string(),
        kind: PartKind::Build,
    }
}

/// Runs `here` if it is this desktop's turn (`here` is told whether the
/// turn was taken over from a desktop that stopped mid-part, and the lease
/// it runs under), else adopts the result another desktop shared.
/// While the turn waits for a teammate's desktop, the run's part shows who
/// runs it (`feedback`: `TeammateRunsPart`).
pub(super) async fn coordinated<F, Fut>(
    ports: &Ports,
    part: SharedPart,
    (run_id, log, feedback): (RunId, Arc<dyn LogSink>, &InputSink),
    here: F,
) -> SharedResult
where
    F: FnOnce(bool, Option<Fence>) -> Fut,
    Fut: Future<Output = SharedResult>,
{
    let waited = Arc::new(AtomicBool::new(false));
    let notice: WaitingNotice = {
        let (feedback, waited, kind) = (feedback.clone(), waited.clone(), part.kind);
        Arc::new(move || {
            if !waited.swap(true, Ordering::SeqCst) {
                feedback(Input::TeammateRunsPart {
                    run_id,
                    part: kind,
                    waiting: true,
                });
            }
        })
    };
    let turn = ports
        .coordinator
        .turn(part.clone(), log.clone(), notice)
        .await;
    if waited.load(Ordering::SeqCst) {
        feedback(Input::TeammateRunsPart {
            run_id,
            part: part.kind,
            waiting: false,
        });
    }
    let turn = match turn {
        Ok(turn) => turn,
        Err(error) => {
            return SharedResult::Failed {
                message: format!(
                    "Could not agree with the team's desktops on who runs this part: {}",
                    error.message
                ),
            }
        }
    };
    match turn {
        Turn::Theirs(result) => result,
        Turn::Mine { taken_over, fence } => {
            // Only a team part's log is read back: a solo one stays here.
            let team_part = fence.is_some();
            let result = here(taken_over, fence).await;
            let text = team_part
                .then(|| ports.logs.text(run_id, part.kind, SHARED_LOG_BYTES))
                .flatten();
            let shared = ports.coordinator.finished(part, result.clone(), text);
            if let Err(error) = shared.await {
                log.line(&format!(
                    "[Stageline] Could not share this part's result with the team: {}",
                    error.message
                ));
            }
            result
        }
    }
}

impl From<Result<Artifact, String>> for SharedResult {
    fn from(result: Result<Artifact, String>) -> Self {
        match result {
            Ok(artifact) => SharedResult::Built {
                image: artifact.image,
            },
            Err(message) => SharedResult::Failed { message },
        }
    }
}

impl From<Result<PartOutcome, String>> for SharedResult {
    fn from(result: Result<PartOutcome, String>) -> Self {
        match result {
            Ok(PartOutcome::Released { image, access }) => SharedResult::Released { image, access },
            Ok(PartOutcome::Deployed(outcome)) => SharedResult::Deployed {
                unchanged: outcome == DeployOutcome::NoChanges,
            },
            Ok(PartOutcome::Verified) => SharedResult::Verified,
            Err(message) => SharedResult::Failed { message },
        }
    }
}

impl SharedResult {
    /// A build's result, as the engine takes it.
    pub(super) fn into_build(self) -> Result<Artifact, String> {
        match self {
            SharedResult::Built { image } => Ok(Artifact { image }),
            SharedResult::Failed { message } => Err(message),
            other => Err(mismatch(&other)),
        }
    }

    /// A release, deploy or verify part's result, as the engine takes it.
    pub(super) fn into_part(self) -> Result<PartOutcome, String> {
        match self {
            SharedResult::Released { image, access } => Ok(PartOutcome::Released { image, access }),
            SharedResult::Deployed { unchanged } => Ok(PartOutcome::Deployed(if unchanged {
                DeployOutcome::NoChanges
            } else {
                DeployOutcome::Deployed
            })),
            SharedResult::Verified => Ok(PartOutcome::Verified),
            SharedResult::Failed { message } => Err(message),
            other => Err(mismatch(&other)),
        }
    }
}

fn mismatch(result: &SharedResult) -> String {
    format!("A teammate's desktop shared a result of another kind for this part ({result:?}).")
}
