//! What each op does to a run of a sequence, and how the simulated world
//! completes effects.

use stageline_engine::flow::{Effect, Input, PartOutcome};
use stageline_engine::order::first_stage_settings;
use stageline_engine::ports::{DeployOutcome, DeployedState, Store};
use stageline_engine::testing::commit;
use stageline_engine::*;

use super::harness::{build_of, run_of, Harness, Stop, STACK};
use super::Op;

const MAX_STAGES: usize = 5;

fn decision(step: usize) -> Decision {
    Decision {
        by: "ada".into(),
        at: step as i64,
        comment: format!("step {step}"),
        via: if step % 2 == 0 {
            DecisionSource::Dashboard
        } else {
            DecisionSource::Notification
        },
    }
}

impl Harness {
    fn flow(&self) -> Vec<Stage> {
        self.state().flow_of(STACK).into_iter().cloned().collect()
    }

    fn stage_at(&self, index: u8) -> Option<Stage> {
        let flow = self.flow();
        (!flow.is_empty()).then(|| flow[index as usize % flow.len()].clone())
    }

    /// Applies the op; what follows from it is drained by the caller.
    pub(super) async fn op(&mut self, op: Op, step: usize) -> Result<(), Stop> {
        match op {
            Op::Commit => {
                self.world.commits += 1;
                self.push(commit(self.world.commits), false).await?;
            }
            Op::ForcePush { back } => {
                if self.world.commits > u32::from(back) {
                    self.push(commit(self.world.commits - u32::from(back)), true)
                        .await?;
                }
            }
            Op::Finish {
                stage,
                ok,
                write_fails,
            } => {
                self.finish(stage, ok, write_fails && !self.reference)
                    .await?
            }
            Op::Decide { stage, approve } => {
                let pending = self
                    .stage_at(stage)
                    .and_then(|s| self.state().pending_at(s.id).cloned());
                if let Some(approval) = pending {
                    let decision = decision(step);
                    self.check.expect_decision(approval.id, approve, &decision);
                    let input = Input::Decide {
                        approval_id: approval.id,
                        approve,
                        decision,
                    };
                    if let Err(error) = self.apply(input, false).await? {
                        return Err(Stop::Broken(format!(
                            "a pending approval was refused: {error}"
                        )));
                    }
                }
            }
            Op::DecideStale { pick } => {
                let decided: Vec<Approval> = self
                    .world
                    .store
                    .approvals()
                    .into_iter()
                    .filter(|a| a.status != ApprovalStatus::Pending)
                    .collect();
                if !decided.is_empty() {
                    let approval = &decided[pick as usize % decided.len()];
                    let input = Input::Decide {
                        approval_id: approval.id,
                        approve: true,
                        decision: decision(step),
                    };
                    if self.apply(input, false).await?.is_ok() {
                        return Err(Stop::Broken(format!(
                            "an approval no longer pending ({:?}) was decided again",
                            approval.status
                        )));
                    }
                }
            }
            Op::CreateStage { after, manual } => {
                let flow = self.flow();
                if flow.len() < MAX_STAGES {
                    self.created += 1;
                    let name = format!("s{}", self.created);
                    let mut settings = first_stage_settings("us-east-1");
                    settings.name = name.clone();
                    settings.requires_approval = manual;
                    // R19's default: stages that require approval roll back.
                    settings.verification.roll_back = manual;
                    let slot = after as usize % (flow.len() + 1);
                    let input = Input::CreateStage {
                        stack_id: STACK,
                        after: slot.checked_sub(1).map(|i| flow[i].id),
                        settings,
                    };
                    if let Err(error) = self.apply(input, false).await? {
                        return Err(Stop::Broken(format!(
                            "the new stage {name} was refused: {error}"
                        )));
                    }
                }
            }
            Op::DeleteStage { stage } => {
                if let Some(stage) = self.stage_at(stage) {
                    let input = Input::DeleteStage {
                        stage_id: stage.id,
                        confirmation: "delete".into(),
                    };
                    let only = self.flow().len() == 1;
                    let refused = self.apply(input, false).await?.is_err();
                    if refused != only {
                        return Err(Stop::Broken(format!(
                            "deleting {} (the only stage: {only}) was refused: {refused}",
                            stage.settings.name
                        )));
                    }
                }
            }
            Op::RetryDelete { pick } => {
                let failed: Vec<StageId> = self
                    .state()
                    .stages_of(STACK)
                    .iter()
                    .filter(|s| matches!(s.lifecycle, StageLifecycle::DeleteFailed { .. }))
                    .map(|s| s.id)
                    .collect();
                if !failed.is_empty() {
                    let stage = failed[pick as usize % failed.len()];
                    let _ = self.apply(Input::RetryDeleteStage(stage), false).await?;
                }
            }
            Op::SetManual { stage, manual } => {
                if let Some(stage) = self.stage_at(stage) {
                    if manual && !stage.settings.requires_approval {
                        self.check.switched_to_manual(stage.id, step);
                    }
                    let mut settings = stage.settings.clone();
                    settings.requires_approval = manual;
                    let input = Input::UpdateStage {
                        stage_id: stage.id,
                        settings,
                    };
                    if let Err(error) = self.apply(input, false).await? {
                        return Err(Stop::Broken(format!(
                            "switching approval was refused: {error}"
                        )));
                    }
                }
            }
            Op::Retry { stage } => {
                let latest = self
                    .stage_at(stage)
                    .and_then(|s| self.state().latest_run(s.id).cloned());
                if let Some(run) = latest.filter(|r| r.status == RunStatus::Failed) {
                    let input = Input::Retry {
                        run_id: run.id,
                        decision: decision(step),
                    };
                    let _ = self.apply(input, false).await?;
                }
            }
            Op::Redeploy { stage, pick } => {
                if let Some(stage) = self.stage_at(stage) {
                    let mut once: Vec<ReleaseId> = self
                        .world
                        .store
                        .runs()
                        .into_iter()
                        .filter(|r| r.stage_id == stage.id && r.status == RunStatus::Succeeded)
                        .map(|r| r.release_id)
                        .collect();
                    once.sort();
                    once.dedup();
                    if !once.is_empty() {
                        let release_id = once[pick as usize % once.len()];
                        let deployed = self
                            .world
                            .store
                            .deployed_release(stage.id, release_id)
                            .await
                            .map_err(|e| e.to_string())?
                            .ok_or_else(|| {
                                "a release that succeeded there is not redeployable".to_string()
                            })?;
                        let input = Input::Redeploy {
                            stage_id: stage.id,
                            release: deployed.release,
                            image: deployed.image,
                            decision: decision(step),
                        };
                        let _ = self.apply(input, false).await?;
                    }
                }
            }
            Op::Scale { stage, count } => {
                if let Some(stage) = self.stage_at(stage) {
                    let input = Input::Scale {
                        stage_id: stage.id,
                        count: u32::from(count),
                    };
                    if let Err(error) = self.apply(input, false).await? {
                        return Err(Stop::Broken(format!("scaling was refused: {error}")));
                    }
                }
            }
            Op::Restart {
                after,
                aws_finishes,
                clock_back,
            } => {
                if self.reference {
                    if aws_finishes {
                        self.finish_deploys_in_flight().await?;
                    }
                } else if after == 0 {
                    self.restart(aws_finishes, clock_back).await?;
                } else {
                    self.crash_after = Some((u32::from(after), clock_back));
                }
            }
            Op::LateHead { stage } => {
                if let (Some(stage), Some(head)) = (self.stage_at(stage), self.world.head.clone()) {
                    let input = Input::HeadFetched {
                        stage_id: stage.id,
                        result: Ok(head),
                    };
                    let _ = self.apply(input, true).await?;
                }
            }
            Op::AwsTrouble { reconciles } => {
                self.world.reconcile_trouble = u32::from(reconciles);
                self.world.reconcile_failures.clear();
            }
            Op::DeleteFails(fails) => self.world.delete_fails = fails,
            Op::ScaleFails(fails) => self.world.scale_fails = fails,
        }
        Ok(())
    }

    async fn push(&mut self, head: Commit, forced: bool) -> Result<(), Stop> {
        self.world.head = Some(head.clone());
        let input = Input::CommitDetected {
            stack_id: STACK,
            head,
            included: vec![],
            forced,
        };
        let _ = self.apply(input, true).await?;
        Ok(())
    }

    /// The part running at a stage ends.
    async fn finish(&mut self, stage: u8, ok: bool, write_fails: bool) -> Result<(), Stop> {
        let Some(stage) = self.stage_at(stage) else {
            return Ok(());
        };
        let Some(run) = self.state().running_at(stage.id).cloned() else {
            return Ok(());
        };
        let index = match run.running_part() {
            Some(PartKind::Build) => self
                .pending
                .iter()
                .position(|e| build_of(e) == Some(run.release_id)),
            Some(_) => self.pending.iter().position(|e| {
                run_of(e) == Some(run.id) && !matches!(e, Effect::ReconcileDeploy { .. })
            }),
            None => None,
        };
        let Some(index) = index else {
            return Err(Stop::Broken(format!(
                "the run at {} has nothing running behind it",
                stage.settings.name
            )));
        };
        let effect = self.pending.remove(index);
        let input = self.complete(effect, ok);
        if write_fails {
            self.world.store.fail_next_apply();
        }
        let _ = self.apply(input, true).await?;
        Ok(())
    }

    /// Without restarts, deploys that AWS finished meanwhile end well now.
    async fn finish_deploys_in_flight(&mut self) -> Result<(), Stop> {
        let mut deploys: Vec<(RunId, usize)> = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Effect::Deploy { .. }))
            .filter_map(|(i, e)| run_of(e).map(|r| (r, i)))
            .collect();
        deploys.sort();
        for (run_id, _) in deploys {
            if let Some(index) = self
                .pending
                .iter()
                .position(|e| run_of(e) == Some(run_id) && matches!(e, Effect::Deploy { .. }))
            {
                let effect = self.pending.remove(index);
                let input = self.complete(effect, true);
                let _ = self.apply(input, true).await?;
            }
        }
        Ok(())
    }

    /// A build, release or deploy ends, well or not.
    pub(super) fn complete(&mut self, effect: Effect, ok: bool) -> Input {
        match effect {
            Effect::Build { context, .. } => Input::BuildFinished {
                release_id: context.release.id,
                result: if ok {
                    Ok(Artifact {
                        image: format!("repo@sha256:{}", context.release.commit.sha),
                    })
                } else {
                    Err("build.yml: phase BUILD failed".into())
                },
            },
            Effect::Release { run, context } => Input::PartFinished {
                run_id: run.id,
                part: PartKind::Release,
                result: if ok {
                    Ok(PartOutcome::Released {
                        image: format!("repo@sha256:{}", context.release.commit.sha),
                        access: BuildAccess::BuildRole,
                    })
                } else {
                    Err("release.yml failed".into())
                },
            },
            Effect::Deploy { run, .. } => {
                let result = if ok {
                    self.world.aws.insert(run.stage_id, run.release_id);
                    *self.world.deploys.entry(run.id).or_default() += 1;
                    Ok(PartOutcome::Deployed(DeployOutcome::Deployed))
                } else {
                    Err("UPDATE_FAILED; the stack rolled back".into())
                };
                Input::PartFinished {
                    run_id: run.id,
                    part: PartKind::Deploy,
                    result,
                }
            }
            Effect::Verify { run, .. } => Input::PartFinished {
                run_id: run.id,
                part: PartKind::Verify,
                result: if ok {
                    Ok(PartOutcome::Verified)
                } else {
                    Err("The health check failed: /ping answered 500".into())
                },
            },
            other => self.complete_at_once(other),
        }
    }

    /// What the world answers to an effect the sequence does not steer.
    pub(super) fn complete_at_once(&mut self, effect: Effect) -> Input {
        let world = &mut self.world;
        match effect {
            Effect::FetchHead { stage_id, .. } => Input::HeadFetched {
                stage_id,
                result: world
                    .head
                    .clone()
                    .ok_or_else(|| "The branch has no commits.".into()),
            },
            Effect::Scale { stage, .. } => Input::ScaleFinished {
                stage_id: stage.id,
                count: stage.settings.desired_count,
                result: if world.scale_fails {
                    Err("AccessDenied".into())
                } else {
                    world.scaled.insert(stage.id, stage.settings.desired_count);
                    Ok(())
                },
            },
            Effect::DeleteStageStack { stage, .. } => Input::StageStackDeleted {
                stage_id: stage.id,
                result: if world.delete_fails {
                    Err("DELETE_FAILED: the bucket is not empty".into())
                } else {
                    world.aws.remove(&stage.id);
                    Ok(())
                },
            },
            Effect::ReconcileDeploy { run, .. } => {
                let failures = world.reconcile_failures.entry(run.id).or_default();
                let result = if *failures < world.reconcile_trouble {
                    *failures += 1;
                    Err("connection timed out".into())
                } else if world.deploys.get(&run.id).is_some_and(|n| *n > 0) {
                    // AWS finished this run's deploy while the engine was down.
                    // (A stack already running the release from an earlier run
                    // would read the same to the real deployer; the model keeps
                    // to this run so both runs of a sequence stay in step.)
                    Ok(DeployedState::Deployed)
                } else {
                    Ok(DeployedState::NotDeployed)
                };
                Input::DeployReconciled {
                    run_id: run.id,
                    result,
                }
            }
            Effect::ApplyLater { input, .. } => *input,
            Effect::ReadServiceUrl { stage, .. } => Input::ServiceUrlRead {
                stage_id: stage.id,
                result: Ok(Some(format!("https://{}.example", stage.settings.name))),
            },
            other => panic!("{other:?} does not complete on its own"),
        }
    }
}
