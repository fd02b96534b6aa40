//! Team stacks on this desktop (R22): a stack shared at a team place, made
//! solo again, or joined from a teammate's shared definition.

use crate::domain::{EnvValue, EnvVar, Stack, Stage, StageLifecycle, StageSettings, TeamPlace};
use crate::domain::{PartKind, Release, Run, RunStatus, RunTrigger};
use crate::error::EngineError;
use crate::events::PipelineEvent;
use crate::flow::state::WarningSource;
use crate::flow::tx::Tx;
use crate::flow::{FlowState, Reply};
use crate::ids::{RunId, StackId, StageId};
use crate::ports::Change;
use crate::team::SharedRunSummary;
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
        let mut errors = self.s.check_new_stack(&stack).err().unwrap_or_default();
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
        moved_secrets: Vec<(StageId, StageSettings)>,
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
            self.s.refuse_taken_team_place(stack_id, place, &mut errors);
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
        for (stage_id, settings) in &moved_secrets {
            self.check_moved_secrets(stack_id, *stage_id, settings)?;
        }
        for (stage_id, settings) in moved_secrets {
            let mut stage = self.s.stages[&stage_id].clone();
            stage.settings = settings;
            self.put_stage(&stage);
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

    /// R22: the team's shared definition changed; this desktop's stages
    /// follow it by name (names are unique in a stack and the same on every
    /// desktop, local ids are not). A stage the team has and this desktop
    /// lacks is inserted after the team's stage before it (R1: existing
    /// stages never move); one whose settings differ takes the team's
    /// through the same checks and rules as an edit here (R6, R12, R21); one
    /// the team no longer has is forgotten here without touching AWS, since
    /// the teammate who deleted it tears its stack down. A stage being
    /// deleted on this desktop is left to that. A shared stage this desktop
    /// refuses (a newer version's setting, a region changed under its name)
    /// is left out and named in the stack's warning; the rest still applies,
    /// and the next change of the definition tries it again.
    pub fn follow_team_definition(
        &mut self,
        stack_id: StackId,
        shared: Vec<StageSettings>,
    ) -> Result<(), EngineError> {
        let shared_here = self
            .s
            .stacks
            .get(&stack_id)
            .is_some_and(|s| s.team.is_some() && !s.deleting);
        if !shared_here {
            return Err(EngineError::NotFound("The team stack"));
        }
        if shared.is_empty() {
            return Err(EngineError::Conflict(
                "The team's definition of this stack has no stages.".to_string(),
            ));
        }
        let gone: Vec<StageId> = self
            .s
            .flow_of(stack_id)
            .into_iter()
            .filter(|stage| !shared.iter().any(|s| s.name == stage.settings.name))
            .map(|stage| stage.id)
            .collect();
        for stage_id in gone {
            self.forget_stage(stage_id);
        }
        let mut refused = Vec::new();
        let mut previous: Option<StageId> = None;
        for settings in shared {
            let name = settings.name.clone();
            let here = self
                .s
                .stages_of(stack_id)
                .into_iter()
                .find(|s| s.settings.name == name)
                .cloned();
            let followed = match here {
                Some(stage) if !stage.is_active() => Ok(()),
                Some(stage) => {
                    // The next new stage goes after this one, even when its
                    // change is refused here.
                    previous = Some(stage.id);
                    if stage.settings == settings {
                        Ok(())
                    } else {
                        self.update_stage(stage.id, settings).map(|_| ())
                    }
                }
                None => self
                    .create_stage(stack_id, previous, settings)
                    .map(|reply| {
                        if let Reply::Stage(stage) = reply {
                            previous = Some(stage.id);
                        }
                    }),
            };
            if let Err(error) = followed {
                refused.push(format!("{name}: {error}"));
            }
        }
        let warning = (!refused.is_empty()).then(|| {
            format!(
                "A teammate's change to this stack could not be applied here: {}",
                refused.join("; ")
            )
        });
        self.set_warning(stack_id, WarningSource::TeamDefinition, warning);
        Ok(())
    }

    /// Settings that only move secret values to Secrets Manager: the stage
    /// is the stack's, and nothing but where its secrets live differs
    /// (anything else changed since sharing began refuses the step).
    fn check_moved_secrets(
        &self,
        stack_id: StackId,
        stage_id: StageId,
        settings: &StageSettings,
    ) -> Result<(), EngineError> {
        let stage = self
            .s
            .stages
            .get(&stage_id)
            .filter(|stage| stage.stack_id == stack_id && stage.is_active())
            .ok_or(EngineError::NotFound("The stage"))?;
        if !only_secret_places_differ(&stage.settings, settings) {
            return Err(EngineError::Conflict(format!(
                "Stage {} changed while the stack was being shared; share it again.",
                stage.settings.name
            )));
        }
        Ok(())
    }

    /// R22: a teammate's desktop runs `part` of an active run here (or no
    /// longer does): the dashboard shows who runs it. Nothing is stored.
    pub fn teammate_runs_part(&mut self, run_id: RunId, part: PartKind, waiting: bool) {
        let Some(run) = self.s.active_runs.get(&run_id).cloned() else {
            self.s.teammate_parts.remove(&run_id);
            return;
        };
        let changed = if waiting {
            self.s.teammate_parts.insert(run_id, part) != Some(part)
        } else {
            self.s.teammate_parts.remove(&run_id).is_some()
        };
        if changed {
            let status = run.part(part).status;
            self.event(PipelineEvent::PartChanged { run, part, status });
        }
    }

    /// R22: a teammate's desktop redeployed, rolled back or retried at a
    /// stage: the run is recorded here as it ended there and the stage runs
    /// its release (a retry that flows on sends it on, and this desktop's
    /// next stage then takes the teammate's results of it). Ignored unless
    /// it succeeded and is newer than everything this desktop ran at the
    /// stage, with nothing running or waiting there (then this desktop's
    /// own run decides), so reading the same summary again changes nothing.
    pub fn follow_teammate_run(
        &mut self,
        stack_id: StackId,
        release: Release,
        summary: SharedRunSummary,
    ) {
        let shared = self
            .s
            .stacks
            .get(&stack_id)
            .is_some_and(|s| s.team.is_some());
        let stage = self
            .s
            .flow_of(stack_id)
            .into_iter()
            .find(|s| s.settings.name == summary.stage_name)
            .map(|s| s.id);
        let made_by_every_desktop =
            matches!(summary.trigger, RunTrigger::Flow | RunTrigger::NewStage);
        let (Some(stage_id), true, false) = (stage, shared, made_by_every_desktop) else {
            return;
        };
        let newer = self.s.latest_run(stage_id).is_none_or(|latest| {
            latest.status.is_finished()
                && latest.finished_at.unwrap_or(latest.created_at) < summary.finished_at
        });
        let busy = self.s.running_at(stage_id).is_some() || self.s.pending_at(stage_id).is_some();
        if summary.status != RunStatus::Succeeded
            || !newer
            || busy
            || release.stack_id != stack_id
            || release.commit.sha != summary.commit.sha
        {
            return;
        }
        self.put_release(&release);
        let run = Run {
            id: RunId(self.new_id()),
            stack_id,
            stage_id,
            release_id: release.id,
            status: RunStatus::Running,
            trigger: summary.trigger,
            parts: summary.parts,
            created_at: summary.created_at,
            // When it ended there: the same summary read again is not newer.
            finished_at: Some(summary.finished_at),
            image: summary.image,
            build_access: None,
            followed_from: Some(summary.run_key),
        };
        self.succeed_run(run);
    }
}

/// Whether `new` is `old` with some secret values kept elsewhere (keychain
/// entry → Secrets Manager ARN) and nothing else changed.
fn only_secret_places_differ(old: &StageSettings, new: &StageSettings) -> bool {
    let same_vars = |a: &[EnvVar], b: &[EnvVar]| {
        a.len() == b.len()
            && a.iter().zip(b).all(|(a, b)| {
                a.name == b.name
                    && match (&a.value, &b.value) {
                        (EnvValue::Plain { .. }, _) | (_, EnvValue::Plain { .. }) => a == b,
                        _ => true,
                    }
            })
    };
    let without_env = |s: &StageSettings| StageSettings {
        build_env: Vec::new(),
        runtime_env: Vec::new(),
        ..s.clone()
    };
    same_vars(&old.build_env, &new.build_env)
        && same_vars(&old.runtime_env, &new.runtime_env)
        && without_env(old) == without_env(new)
}

impl FlowState {
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
