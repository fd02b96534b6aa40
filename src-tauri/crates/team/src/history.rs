//! The run history of team stacks across desktops (R22): each desktop
//! shares the summary of every team run that ends on it, create-only under
//! `stages/<stage>/runs/`, named so that S3's listing (in key order) gives
//! the newest first; a stage window reads the newest with one
//! `ListObjectsV2` and a `GetObject` per summary it has not read before
//! (summaries never change, so each is read once per app run).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use stageline_engine::flow::Input;
use stageline_engine::ids::{Millis, StackId};
use stageline_engine::pipeline::Pipeline;
use stageline_engine::ports::Store;
use stageline_engine::team::SharedRunSummary;
use stageline_engine::{RunStatus, RunTrigger};

use crate::coordinator::TeamCoordinator;
use crate::objects::{to_json, ObjectError, TeamPrefix};

/// How many of each stage's newest team runs a desktop follows each time.
const FOLLOWED_RUNS: usize = 5;

/// Keys hold this minus the run's end, so later runs sort first.
const NEWEST_FIRST: Millis = 9_999_999_999_999;

fn folder(stage_name: &str) -> String {
    format!("stages/{stage_name}/runs/")
}

/// Where `summary` is shared. Two desktops that ended the same run (one ran
/// its parts, the other took their results) write two names; readers keep
/// the newest of each run.
pub fn summary_name(summary: &SharedRunSummary) -> String {
    let inverted = NEWEST_FIRST - summary.finished_at.clamp(0, NEWEST_FIRST);
    format!(
        "{}{inverted:013}-{}.json",
        folder(&summary.stage_name),
        summary.run_key
    )
}

/// Shares `summary` (create-only: the same name written twice keeps the first).
pub async fn share_summary(
    prefix: &TeamPrefix,
    summary: &SharedRunSummary,
) -> Result<(), ObjectError> {
    prefix
        .create(&summary_name(summary), &to_json(summary))
        .await?;
    Ok(())
}

/// The team's run history of the stacks this desktop shares.
#[derive(Debug, Clone)]
pub struct TeamHistory {
    coordinator: TeamCoordinator,
    /// Summaries read, by object name (they never change).
    read: Arc<Mutex<HashMap<String, SharedRunSummary>>>,
}

impl TeamHistory {
    pub fn new(coordinator: TeamCoordinator) -> Self {
        TeamHistory {
            coordinator,
            read: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The newest `limit` runs of `stage_name` any desktop of the team
    /// shared, newest first, one per run.
    pub async fn runs(
        &self,
        stack_id: StackId,
        stage_name: &str,
        limit: usize,
    ) -> Result<Vec<SharedRunSummary>, ObjectError> {
        let Some(prefix) = self.coordinator.prefix(stack_id) else {
            return Ok(Vec::new());
        };
        // Each run may be there twice (see `summary_name`).
        let max = i32::try_from(limit * 2).unwrap_or(i32::MAX);
        let names = prefix.list_first(&folder(stage_name), max).await?;
        let mut runs = Vec::new();
        let mut seen = HashSet::new();
        for name in names {
            let known = self.read.lock().unwrap().get(&name).cloned();
            let summary = match known {
                Some(summary) => summary,
                None => {
                    let Some((summary, _)) = prefix.read_json::<SharedRunSummary>(&name).await?
                    else {
                        continue;
                    };
                    self.read.lock().unwrap().insert(name, summary.clone());
                    summary
                }
            };
            if seen.insert(summary.run_key.clone()) {
                runs.push(summary);
            }
        }
        runs.truncate(limit);
        Ok(runs)
    }

    /// Follows what teammates' desktops ran at every stage of the stacks
    /// shared here: the newest few runs of each stage, oldest first, through
    /// the engine's `FollowTeammateRun` (which takes only a success newer than
    /// anything this desktop ran there). One `ListObjectsV2` per stage.
    pub async fn follow_once(
        &self,
        pipeline: &Pipeline,
        store: &dyn Store,
    ) -> Result<(), ObjectError> {
        for (stack_id, _) in self.coordinator.shared() {
            let stages = pipeline
                .read(move |s| {
                    s.flow_of(stack_id)
                        .iter()
                        .map(|stage| stage.settings.name.clone())
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            for name in stages {
                let mut runs = self.runs(stack_id, &name, FOLLOWED_RUNS).await?;
                runs.reverse();
                for summary in runs {
                    let made_here_only =
                        !matches!(summary.trigger, RunTrigger::Flow | RunTrigger::NewStage);
                    if summary.status != RunStatus::Succeeded || !made_here_only {
                        continue;
                    }
                    let Ok(Some(release)) =
                        store.release_of_commit(stack_id, &summary.commit.sha).await
                    else {
                        // A commit this desktop never saw: listed in the stage window only.
                        continue;
                    };
                    let input = Input::FollowTeammateRun {
                        stack_id,
                        release,
                        summary,
                    };
                    if let Err(error) = pipeline.send(input).await {
                        tracing::warn!(%error, "could not follow a teammate's run");
                    }
                }
            }
        }
        Ok(())
    }
}
