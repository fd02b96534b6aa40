//! R9 on a team stack (R22): a stage is deleted by the desktop that holds
//! its lease, so no teammate's desktop runs a part of it meanwhile. Order,
//! and why nothing is lost on a crash:
//! 1. the stage's lease is taken (refused at once while a teammate's desktop
//!    runs a part of the stage);
//! 2. this desktop's engine begins the deletion (`DeleteTeamStage`): the
//!    teardown request is durable here from now on (R17 resumes it);
//! 3. the stage goes from the team's definition: teammates' desktops forget
//!    it at their next poll, without touching AWS;
//! 4. once the AWS stack is gone (or failed to go), the lease is given up.
//!
//! A desktop stopped between 2 and 3 finishes 3 at its next start
//! (`resume_deletions`); one stopped in 4 leaves the lease to expire.

use std::time::Duration;

use stageline_engine::flow::Input;
use stageline_engine::ids::{StackId, StageId};
use stageline_engine::pipeline::Pipeline;
use stageline_engine::StageLifecycle;

use crate::definition::{remove_stage, DefinitionError};
use crate::follow::{TeamChangeError, TeamDefinitions};
use crate::stage_hold::{HoldAnswer, StageHold};

/// How long a deletion waits between looks (the team's S3 unreachable, the
/// stage's AWS stack not gone yet, a teammate's part still running).
const LOOK_AGAIN: Duration = Duration::from_secs(2);

/// A team stage's deletion begun here: `finish` shares it with the team and
/// gives the stage's lease up once its AWS stack is gone.
#[derive(Debug)]
pub struct TeamDeletion {
    definitions: TeamDefinitions,
    stack_id: StackId,
    stage_id: StageId,
    name: String,
    hold: Option<StageHold>,
}

impl TeamDefinitions {
    /// Deletes `stage_id` of a team stack (the word `delete` typed as
    /// `confirmation`): checked by the engine's rules, refused while a
    /// teammate's desktop runs a part of the stage; nothing changes when
    /// refused. The caller drives the returned deletion to its end.
    pub async fn delete_stage(
        &self,
        pipeline: &Pipeline,
        stage_id: StageId,
        confirmation: String,
    ) -> Result<TeamDeletion, TeamChangeError> {
        let typed = confirmation.clone();
        let (stack_id, name) = pipeline
            .read(move |s| {
                s.check_stage_delete(stage_id, &typed)
                    .map(|stage| (stage.stack_id, stage.settings.name.clone()))
            })
            .await??;
        let hold = match self.coordinator().hold_stage(stack_id, &name).await? {
            HoldAnswer::Held(hold) => hold,
            HoldAnswer::Busy { .. } => return Err(TeamChangeError::StageBusy(name)),
            HoldAnswer::Refused(why) => return Err(TeamChangeError::Refused(why)),
        };
        let begun = pipeline
            .send(Input::DeleteTeamStage {
                stage_id,
                confirmation,
            })
            .await;
        if let Err(error) = begun {
            hold.release().await;
            return Err(error.into());
        }
        Ok(TeamDeletion {
            definitions: self.clone(),
            stack_id,
            stage_id,
            name,
            hold: Some(hold),
        })
    }

    /// The team stages this desktop began deleting and may not have taken
    /// out of the team's definition (it stopped in between): each to be
    /// finished, as after `delete_stage`.
    pub async fn resume_deletions(&self, pipeline: &Pipeline) -> Vec<TeamDeletion> {
        let shared: Vec<StackId> = self
            .coordinator()
            .shared()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let deleting = pipeline
            .read(move |s| {
                shared
                    .iter()
                    .flat_map(|stack_id| s.stages_of(*stack_id))
                    .filter(|stage| matches!(stage.lifecycle, StageLifecycle::Deleting))
                    .map(|stage| (stage.stack_id, stage.id, stage.settings.name.clone()))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
        deleting
            .into_iter()
            .map(|(stack_id, stage_id, name)| TeamDeletion {
                definitions: self.clone(),
                stack_id,
                stage_id,
                name,
                hold: None,
            })
            .collect()
    }
}

impl TeamDeletion {
    /// Takes the stage out of the team's definition (trying again while S3
    /// cannot be reached), waits for this desktop to delete its AWS stack,
    /// then gives the stage's lease up.
    pub async fn finish(mut self, pipeline: &Pipeline) {
        let coordinator = self.definitions.coordinator().clone();
        while self.hold.is_none() {
            match coordinator.hold_stage(self.stack_id, &self.name).await {
                Ok(HoldAnswer::Held(hold)) => self.hold = Some(hold),
                Ok(_) => tokio::time::sleep(LOOK_AGAIN).await,
                Err(error) => {
                    tracing::warn!(%error, stage = %self.name, "could not take a deleted stage's lease");
                    tokio::time::sleep(LOOK_AGAIN).await;
                }
            }
        }
        loop {
            match self
                .definitions
                .write(self.stack_id, remove_stage(self.name.clone()))
                .await
            {
                Ok(()) => break,
                Err(TeamChangeError::Definition(DefinitionError::Refused(why))) => {
                    tracing::warn!(%why, stage = %self.name, "the team keeps a deleted stage");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, stage = %self.name, "could not take a deleted stage out of the team's definition");
                    tokio::time::sleep(LOOK_AGAIN).await;
                }
            }
        }
        let stage_id = self.stage_id;
        loop {
            let deleting = pipeline
                .read(move |s| {
                    s.stage(stage_id)
                        .is_some_and(|st| matches!(st.lifecycle, StageLifecycle::Deleting))
                })
                .await
                .unwrap_or(false);
            if !deleting {
                break;
            }
            tokio::time::sleep(LOOK_AGAIN).await;
        }
        if let Some(hold) = self.hold.take() {
            hold.release().await;
        }
    }
}
