//! Each team stack's shared definition, followed on this desktop. A change
//! made here (a stage added, its settings or its desired count changed) is
//! written to the team's `stack.json` first and applied here only once that
//! write succeeded, so no desktop shows a stage the others do not have; a
//! teammate's change is read by polling (a conditional `GetObject`: `304`
//! while nothing changed) and applied through the engine's
//! `FollowTeamDefinition` input.

use std::collections::HashMap;
use std::sync::Arc;

use stageline_engine::flow::{Input, Reply};
use stageline_engine::ids::StackId;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::EngineError;

use crate::coordinator::TeamCoordinator;
use crate::definition::{
    change_definition, read_definition_if_changed, DefinitionError, SharedStack,
};
use crate::objects::ObjectError;

/// Why a team stack's definition was not followed or changed.
#[derive(Debug, thiserror::Error)]
pub enum TeamChangeError {
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    #[error(transparent)]
    Objects(#[from] ObjectError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("This stack is not shared with a team on this computer.")]
    NotShared,
    /// A teammate's desktop holds the stage's lease (it runs a part of it).
    #[error("A teammate's desktop is running {0} now; delete it once that run ends (within a minute, if that desktop has stopped).")]
    StageBusy(String),
    /// This desktop may not take the stage's lease now.
    #[error("{0}")]
    Refused(String),
}

/// The definitions of the stacks `coordinator` shares, on this desktop.
#[derive(Debug, Clone)]
pub struct TeamDefinitions {
    coordinator: TeamCoordinator,
    /// The ETag of the definition each stack follows now. Held while a
    /// change is written and applied, and while a poll reads and applies,
    /// so an older definition is never applied over a newer one.
    seen: Arc<tokio::sync::Mutex<HashMap<StackId, String>>>,
}

impl TeamDefinitions {
    pub fn new(coordinator: TeamCoordinator) -> Self {
        TeamDefinitions {
            coordinator,
            seen: Arc::new(tokio::sync::Mutex::new(HashMap::new())),
        }
    }

    /// Looks once at every shared stack's definition and applies each one
    /// that changed since it was last followed. One stack's failure does not
    /// stop the others; the first is returned, and that stack is looked at
    /// again next time.
    pub async fn follow_once(&self, pipeline: &Pipeline) -> Result<(), TeamChangeError> {
        let mut seen = self.seen.lock().await;
        let mut first_failure = None;
        for (stack_id, prefix) in self.coordinator.shared() {
            let last = seen.get(&stack_id).cloned();
            let followed = async {
                let Some((shared, etag)) =
                    read_definition_if_changed(&prefix, last.as_deref()).await?
                else {
                    return Ok(None);
                };
                let input = Input::FollowTeamDefinition {
                    stack_id,
                    stages: shared.stages,
                };
                pipeline.send(input).await?;
                Ok::<_, TeamChangeError>(Some(etag))
            }
            .await;
            match followed {
                Ok(Some(etag)) => {
                    seen.insert(stack_id, etag);
                }
                Ok(None) => {}
                Err(error) => {
                    first_failure.get_or_insert(error);
                }
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// The coordinator of the stacks followed.
    pub fn coordinator(&self) -> &TeamCoordinator {
        &self.coordinator
    }

    /// Writes `change` into the team's definition of `stack_id` (re-applied
    /// on a fresh read when a teammate changed it in between), and nothing
    /// here: the caller has applied it already.
    pub async fn write(
        &self,
        stack_id: StackId,
        change: impl Fn(&mut SharedStack) -> Result<(), String>,
    ) -> Result<(), TeamChangeError> {
        let prefix = self
            .coordinator
            .prefix(stack_id)
            .ok_or(TeamChangeError::NotShared)?;
        let mut seen = self.seen.lock().await;
        change_definition(&prefix, change).await?;
        // The next poll reads the version written (and finds it applied).
        seen.remove(&stack_id);
        Ok(())
    }

    /// Writes `change` into the team's definition of `stack_id` (re-applied
    /// on a fresh read when a teammate changed it in between), then sends
    /// `here` to this desktop's engine. Nothing happens here when the
    /// team's write is refused. Should this desktop's engine refuse `here`
    /// after the write, the next poll applies the team's definition.
    pub async fn change(
        &self,
        pipeline: &Pipeline,
        stack_id: StackId,
        change: impl Fn(&mut SharedStack) -> Result<(), String>,
        here: Input,
    ) -> Result<Reply, TeamChangeError> {
        let prefix = self
            .coordinator
            .prefix(stack_id)
            .ok_or(TeamChangeError::NotShared)?;
        let mut seen = self.seen.lock().await;
        change_definition(&prefix, change).await?;
        // The next poll reads the version written (and finds it applied).
        seen.remove(&stack_id);
        Ok(pipeline.send(here).await?)
    }
}
