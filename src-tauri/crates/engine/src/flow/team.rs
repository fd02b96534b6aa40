//! Team stacks on this desktop (R22): a stack shared at a team place, made
//! solo again, or joined from a teammate's shared definition.

use crate::domain::{Stack, Stage, StageLifecycle, StageSettings, TeamPlace};
use crate::error::EngineError;
use crate::events::PipelineEvent;
use crate::flow::tx::Tx;
use crate::flow::Reply;
use crate::ids::{StackId, StageId};
use crate::ports::Change;
use crate::validation::{check_stage_settings, check_team_place, FieldErrors};

impl Tx<'_> {
    /// R22: a teammate's team stack opened on this desktop, with the stages
    /// of its shared definition in order. All of it or nothing: every
    /// stage is checked before anything is kept.
    pub fn join_stack(
        &mut self,
        mut stack: Stack,
        stages: Vec<StageSettings>,
    ) -> Result<Reply, EngineError> {
        let mut errors = FieldErrors::default();
        self.check_new_stack(&stack, &mut errors);
        if stack.team.is_none() {
            errors.add("team", "A joined stack is shared with a team.");
        }
        if stages.is_empty() {
            errors.add("stages", "The team stack has no stages.");
        }
        errors.into_result()?;
        let mut joined: Vec<Stage> = Vec::with_capacity(stages.len());
        for (position, settings) in stages.into_iter().enumerate() {
            check_stage_settings(&settings, &joined).map_err(|errors| {
                FieldErrors(
                    errors
                        .0
                        .into_iter()
                        .map(|mut e| {
                            e.field = format!("stages.{position}.{}", e.field);
                            e
                        })
                        .collect(),
                )
            })?;
            joined.push(Stage {
                id: StageId(self.new_id()),
                stack_id: stack.id,
                position: position as u32,
                settings,
                lifecycle: StageLifecycle::Active,
            });
        }
        // R3a: the team's images are in the home region the definition names.
        if stack.home_region.is_empty() {
            stack.home_region = joined[0].settings.region.clone();
        }
        self.s.stacks.insert(stack.id, stack.clone());
        self.change(Change::PutStack(stack.clone()));
        for stage in joined {
            self.s.stages.insert(stage.id, stage.clone());
            self.change(Change::InsertStage(stage));
        }
        self.event(PipelineEvent::StackChanged { stack_id: stack.id });
        Ok(Reply::Stack(stack))
    }

    /// R22: shares the stack with a team at `team`, or makes it solo again.
    pub fn set_team(
        &mut self,
        stack_id: StackId,
        team: Option<TeamPlace>,
    ) -> Result<(), EngineError> {
        let mut stack = self
            .s
            .stacks
            .get(&stack_id)
            .cloned()
            .ok_or(EngineError::NotFound("The stack"))?;
        if stack.deleting {
            return Err(EngineError::Conflict(
                "The stack is being deleted.".to_string(),
            ));
        }
        if let Some(place) = &team {
            let mut errors = FieldErrors::default();
            check_team_place(place, &mut errors);
            self.refuse_taken_team_place(stack_id, place, &mut errors);
            errors.into_result()?;
            if stack.team.as_ref().is_some_and(|now| now != place) {
                return Err(EngineError::Conflict(format!(
                    "The stack is already shared at {}; stop sharing it first.",
                    stack
                        .team
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                )));
            }
        }
        if stack.team == team {
            return Ok(());
        }
        stack.team = team;
        self.s.stacks.insert(stack_id, stack.clone());
        self.change(Change::PutStack(stack));
        self.event(PipelineEvent::StackChanged { stack_id });
        Ok(())
    }

    /// Two stacks on one desktop never share one team place: they would
    /// take each other's leases and results.
    pub(super) fn refuse_taken_team_place(
        &self,
        me: StackId,
        place: &TeamPlace,
        errors: &mut FieldErrors,
    ) {
        let same = |p: &TeamPlace| p.bucket == place.bucket && p.prefix == place.prefix;
        if let Some(other) = self
            .s
            .stacks
            .values()
            .find(|s| s.id != me && s.team.as_ref().is_some_and(same))
        {
            errors.add(
                "team.prefix",
                format!(
                    "The stack \"{}\" on this computer is already shared at this bucket and prefix.",
                    other.name
                ),
            );
        }
    }
}
