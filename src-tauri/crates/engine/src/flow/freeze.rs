//! Stop the line (R21): a frozen stage (or every stage of a frozen stack)
//! holds arriving releases — the newest of them, as a busy stage does (R16) —
//! and refuses approvals; builds of new commits still run up to it.

use crate::error::EngineError;
use crate::events::PipelineEvent;
use crate::flow::tx::Tx;
use crate::flow::Effect;
use crate::ids::{StackId, StageId};
use crate::ports::Change;
use crate::validation::FieldErrors;
use crate::verification::{Freeze, MAX_FREEZE_REASON_LENGTH};

impl Tx<'_> {
    /// Freezes the stack (`stage_id: None`) or one of its stages.
    pub fn freeze(
        &mut self,
        stack_id: StackId,
        stage_id: Option<StageId>,
        reason: &str,
        by: &str,
    ) -> Result<(), EngineError> {
        self.check_freeze_target(stack_id, stage_id)?;
        let reason = reason.trim();
        let mut errors = FieldErrors::default();
        if reason.is_empty() {
            errors.add(
                "reason",
                "Say why the line stops: teammates see the reason on the dashboard.",
            );
        } else if reason.chars().count() > MAX_FREEZE_REASON_LENGTH {
            errors.add(
                "reason",
                format!("The reason must be at most {MAX_FREEZE_REASON_LENGTH} characters."),
            );
        }
        if by.trim().is_empty() {
            errors.add("by", "Who froze it is required.");
        }
        errors.into_result()?;
        let freeze = Freeze {
            stack_id,
            stage_id,
            reason: reason.to_string(),
            by: by.trim().to_string(),
            at: self.now,
        };
        self.s.freezes.insert((stack_id, stage_id), freeze.clone());
        self.change(Change::PutFreeze(freeze.clone()));
        self.event(PipelineEvent::FreezeChanged {
            stack_id,
            stage_id,
            freeze: Some(freeze),
        });
        Ok(())
    }

    /// Unfreezes the stack or stage: each stage no longer frozen takes the
    /// newest release it held (R21), if it is free.
    pub fn unfreeze(
        &mut self,
        stack_id: StackId,
        stage_id: Option<StageId>,
    ) -> Result<(), EngineError> {
        self.check_freeze_target(stack_id, stage_id)?;
        if self.s.freezes.remove(&(stack_id, stage_id)).is_none() {
            return Err(EngineError::Conflict(match stage_id {
                Some(_) => "This stage is not frozen.".to_string(),
                None => "This stack is not frozen.".to_string(),
            }));
        }
        self.change(Change::ClearFreeze { stack_id, stage_id });
        self.event(PipelineEvent::FreezeChanged {
            stack_id,
            stage_id,
            freeze: None,
        });
        let stages: Vec<StageId> = match stage_id {
            Some(stage_id) => vec![stage_id],
            None => self.s.flow_of(stack_id).iter().map(|s| s.id).collect(),
        };
        for stage_id in stages {
            self.stage_freed(stage_id);
        }
        Ok(())
    }

    /// R21: whether releases are held out of the stage now (a freeze, or a
    /// closed deploy window).
    pub fn held(&self, stage_id: StageId) -> bool {
        self.s.hold_reason(stage_id, self.now).is_some()
    }

    /// R21: a stage outside its deploy window looks again when it opens
    /// (a freeze ends only by unfreezing).
    pub fn wake_when_window_opens(&mut self, stage_id: StageId) {
        if self.s.freeze_of(stage_id).is_some() {
            return;
        }
        let Some(window) = self
            .s
            .stages
            .get(&stage_id)
            .and_then(|s| s.settings.deploy_window.as_ref())
        else {
            return;
        };
        if let Some(opens) = window.next_open(self.now) {
            self.effect(Effect::WakeStage {
                stage_id,
                after: std::time::Duration::from_millis((opens - self.now).max(0) as u64),
            });
        }
    }

    /// R21: why nothing may enter the stage now, for a refused approval or retry.
    pub fn refuse_if_frozen(&self, stage_id: StageId, what: &str) -> Result<(), EngineError> {
        let Some(freeze) = self.s.freeze_of(stage_id) else {
            return Ok(());
        };
        let frozen = match freeze.stage_id {
            Some(_) => self
                .s
                .stages
                .get(&stage_id)
                .map(|s| s.settings.name.clone())
                .unwrap_or_else(|| "This stage".to_string()),
            None => self
                .s
                .stacks
                .get(&freeze.stack_id)
                .map(|s| s.name.clone())
                .unwrap_or_else(|| "This stack".to_string()),
        };
        Err(EngineError::Conflict(format!(
            "{frozen} is frozen by {}: {}. Unfreeze it to {what}.",
            freeze.by, freeze.reason
        )))
    }

    fn check_freeze_target(
        &self,
        stack_id: StackId,
        stage_id: Option<StageId>,
    ) -> Result<(), EngineError> {
        if !self.s.stacks.contains_key(&stack_id) {
            return Err(EngineError::NotFound("The stack"));
        }
        if let Some(stage_id) = stage_id {
            let belongs = self
                .s
                .stages
                .get(&stage_id)
                .is_some_and(|s| s.stack_id == stack_id);
            if !belongs {
                return Err(EngineError::NotFound("The stage"));
            }
        }
        Ok(())
    }
}
