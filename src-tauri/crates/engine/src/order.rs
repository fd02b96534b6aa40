//! Stage order (R1) and deletion (R9). A stage's position is chosen once, at
//! creation; there is deliberately no operation that moves an existing stage.

use crate::domain::{
    CpuArchitecture, Database, Routing, Stack, Stage, StageLifecycle, StageSettings,
};
use crate::ids::StageId;
use crate::validation::FieldErrors;
use crate::verification::{Verification, DEFAULT_APPROVAL_EXPIRY_HOURS};
use crate::EngineError;

/// The word a user types to delete a stage (R9).
pub const DELETE_CONFIRMATION: &str = "delete";

/// R9: deletion goes ahead only when the typed word is exactly `delete`.
pub fn check_delete_confirmation(typed: &str) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::default();
    if typed != DELETE_CONFIRMATION {
        errors.add("confirmation", "Type the word delete to confirm.");
    }
    errors.into_result()
}

/// The stack's stages in flow order (active ones only: a stage being deleted
/// has left the flow).
pub fn flow_order<'a>(stages: impl IntoIterator<Item = &'a Stage>) -> Vec<&'a Stage> {
    let mut ordered: Vec<&Stage> = stages.into_iter().filter(|s| s.is_active()).collect();
    ordered.sort_by_key(|s| s.position);
    ordered
}

/// R1: the position a new stage takes when inserted right after `after`
/// (`None`: first). `stages` are all of the stack's stages. Stages at or
/// after the returned position move one place on, in the same transaction.
pub fn insert_position(stages: &[Stage], after: Option<StageId>) -> Result<u32, EngineError> {
    match after {
        None => Ok(0),
        Some(id) => {
            let previous = stages
                .iter()
                .find(|s| s.id == id && s.is_active())
                .ok_or(EngineError::NotFound("The stage to insert after"))?;
            Ok(previous.position + 1)
        }
    }
}

/// Renumbers `stages` in place as the store does when a stage is inserted at `position`.
pub fn shift_for_insert(stages: &mut [Stage], position: u32) {
    for stage in stages.iter_mut().filter(|s| s.position >= position) {
        stage.position += 1;
    }
}

/// Renumbers `stages` in place as the store does when the stage at `position` is removed.
pub fn close_gap(stages: &mut [Stage], position: u32) {
    for stage in stages.iter_mut().filter(|s| s.position > position) {
        stage.position -= 1;
    }
}

/// The settings of the `dev` stage every new stack starts with.
pub fn first_stage_settings(region: &str) -> StageSettings {
    StageSettings {
        name: "dev".to_string(),
        region: region.to_string(),
        database: Database::None,
        requires_approval: false,
        routing: Routing::ApiGateway,
        caching: false,
        build_env: Vec::new(),
        runtime_env: Vec::new(),
        desired_count: 1,
        container_port: DEFAULT_CONTAINER_PORT,
        health_path: DEFAULT_HEALTH_PATH.to_string(),
        cpu_architecture: CpuArchitecture::X86_64,
        submodules_and_lfs: true,
        run_without_sandbox: false,
        verification: Verification::for_new_stage(false),
        approval_expiry_hours: DEFAULT_APPROVAL_EXPIRY_HOURS,
        deploy_window: None,
        approval_policy: Default::default(),
    }
}

/// The container port a new stage starts with: TinyStacks' templates serve on 80.
pub const DEFAULT_CONTAINER_PORT: u16 = 80;

/// The health-check path a new stage starts with: TinyStacks' templates answer `/ping`.
pub const DEFAULT_HEALTH_PATH: &str = "/ping";

/// The `dev` stage a new stack is created with.
pub fn first_stage(stack: &Stack, id: StageId, region: &str) -> Stage {
    Stage {
        id,
        stack_id: stack.id,
        position: 0,
        settings: first_stage_settings(region),
        lifecycle: StageLifecycle::Active,
    }
}
