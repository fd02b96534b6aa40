//! Team stacks (R22): sharing a stack with the team, joining a teammate's,
//! and the approvals that go through the team's S3. The rules are the
//! engine's and the S3 protocol is `stageline-team`'s; this wires them to
//! the account's clients.

use stageline_engine::flow::{Input, Reply};
use stageline_engine::pipeline::move_secrets_to_team;
use stageline_engine::team::{run_key, team_poll_due, SharedRunSummary, TEAM_HISTORY_EVERY};
use stageline_engine::validation::{check_team_place, FieldErrors};
use stageline_engine::{
    Account, AccountId, ApprovalId, Decision, DecisionSource, ErrorCode, Stack, StackId, Stage,
    StageId, TeamPlace,
};
use stageline_git::{check_repository, GitCredentials};
use stageline_team::bucket::{check_team_bucket, prepare_team_bucket};
use stageline_team::definition::{read_definition, share_definition, SharedStack};
use stageline_team::identity::caller_arn;
use stageline_team::{SharedDecision, TeamDecideError, TeamPrefix};

use crate::core::Core;
use crate::error::{AppError, AppResult};

/// The place as typed, trimmed, with the prefix's slashes at either end gone.
fn tidy(place: TeamPlace) -> TeamPlace {
    TeamPlace {
        bucket: place.bucket.trim().to_string(),
        prefix: place.prefix.trim().trim_matches('/').to_string(),
        region: place.region.trim().to_string(),
    }
}

fn checked(place: TeamPlace) -> AppResult<TeamPlace> {
    let place = tidy(place);
    let mut errors = FieldErrors::default();
    check_team_place(&place, &mut errors);
    errors.into_result()?;
    Ok(place)
}

/// A team failure shown beside the bucket field (it is about the bucket).
fn on_bucket(error: impl std::fmt::Display) -> AppError {
    AppError::field("team.bucket", error.to_string())
}

async fn account(core: &Core, id: AccountId) -> AppResult<Account> {
    Ok(core
        .pipeline
        .read(move |s| s.chosen_account(id).cloned())
        .await??)
}

/// The team's objects of `place`, reached with `account`'s credentials.
async fn team_prefix(core: &Core, account: &Account, place: &TeamPlace) -> TeamPrefix {
    let (s3, _) = core.deployer.team_clients(account, &place.region).await;
    TeamPrefix::new(s3, &place.bucket, &place.prefix)
}

/// Hands the stack's parts and approvals to the team (the coordinator asks
/// its leases from now on). Called at start for every team stack.
pub async fn connect(core: &Core, stack: &Stack) {
    let Some(place) = &stack.team else {
        return;
    };
    let Ok(account) = account(core, stack.account_id).await else {
        return;
    };
    let prefix = team_prefix(core, &account, place).await;
    core.team.share(stack.id, prefix);
}

/// Connects every team stack of this desktop.
pub async fn connect_all(core: &Core) {
    let stacks = core
        .pipeline
        .read(|s| {
            s.stacks()
                .filter(|st| st.team.is_some() && !st.deleting)
                .cloned()
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
    for stack in stacks {
        connect(core, &stack).await;
    }
}

/// "Share with team…": makes the team's bucket (versioned, encrypted,
/// private) if the account has none of that name, moves the stages' secret
/// values from this desktop's keychain to the account's Secrets Manager
/// (teammates cannot read this keychain; S3 and the store only ever hold
/// the secrets' ARNs), writes the stack's definition under the prefix, and
/// runs the stack as a team stack from now on. Refused before any AWS call
/// when the place is malformed.
pub async fn share(core: &Core, stack_id: StackId, place: TeamPlace) -> AppResult<Stack> {
    let place = checked(place)?;
    let (stack, stages) = core
        .pipeline
        .read(move |s| {
            let stack = s.stack(stack_id).cloned();
            let stages: Vec<Stage> = s.flow_of(stack_id).into_iter().cloned().collect();
            (stack, stages)
        })
        .await?;
    let stack = stack.ok_or(stageline_engine::EngineError::NotFound("The stack"))?;
    if stack.team.is_some() {
        return Err(AppError::field(
            "team.prefix",
            "This stack is already shared with a team.",
        ));
    }
    let account = account(core, stack.account_id).await?;
    let prefix = team_prefix(core, &account, &place).await;
    prepare_team_bucket(prefix.client(), &place.bucket, &place.region)
        .await
        .map_err(on_bucket)?;
    let moved =
        move_secrets_to_team(&account, &stack, &stages, &core.keychain, &core.deployer).await?;
    let shared_stages = stages
        .iter()
        .map(|stage| {
            moved
                .stages
                .iter()
                .find(|(id, _)| *id == stage.id)
                .map_or_else(|| stage.settings.clone(), |(_, settings)| settings.clone())
        })
        .collect();
    let shared = SharedStack::of(&stack, shared_stages)?;
    share_definition(&prefix, &shared)
        .await
        .map_err(|e| AppError::field("team.prefix", e.to_string()))?;
    core.pipeline
        .send(Input::SetTeam {
            stack_id,
            team: Some(place),
            moved_secrets: moved.stages,
        })
        .await?;
    // The values are in Secrets Manager now; the keychain copies would
    // only go stale.
    crate::services::env::forget(core, &moved.keychain_refs).await;
    core.team.share(stack_id, prefix);
    let shared = core
        .pipeline
        .read(move |s| s.stack(stack_id).cloned())
        .await?;
    shared.ok_or_else(|| AppError::internal("The stack went away while it was shared."))
}

/// "Join a team stack…": opens the stack a teammate shared at `place` on
/// this desktop, deploying with `account_id`'s credentials. Its stages are
/// the team's; the branch's head flows in once it is watched.
pub async fn join(core: &Core, account_id: AccountId, place: TeamPlace) -> AppResult<Stack> {
    let place = checked(place)?;
    let account = account(core, account_id).await?;
    let prefix = team_prefix(core, &account, &place).await;
    check_team_bucket(prefix.client(), &place.bucket)
        .await
        .map_err(on_bucket)?;
    let shared = read_definition(&prefix)
        .await
        .map_err(on_bucket)?
        .ok_or_else(|| {
            AppError::field(
                "team.prefix",
                stageline_team::definition::DefinitionError::NotShared.to_string(),
            )
        })?;
    // The teammate's repository must be reachable from here too.
    check_repository(
        &shared.repository,
        &shared.branch,
        GitCredentials {
            https_token: None,
            ssh_key_file: None,
        },
    )
    .await
    .map_err(FieldErrors::from)?;
    let stack = Stack {
        id: StackId(stageline_engine::ports::Clock::new_id(core.clock.as_ref())),
        name: shared.name,
        repository: shared.repository,
        branch: shared.branch,
        account_id,
        poll_interval_secs: shared.poll_interval_secs,
        created_at: stageline_engine::ports::Clock::now(core.clock.as_ref()),
        deleting: false,
        home_region: shared.home_region,
        team: Some(place),
    };
    let Reply::Stack(stack) = core
        .pipeline
        .send(Input::JoinStack {
            stack,
            stages: shared.stages,
        })
        .await?
    else {
        return Err(AppError::internal("The stack was not joined."));
    };
    core.team.share(stack.id, prefix);
    Ok(stack)
}

/// "Stop sharing": this desktop runs the stack alone again. The team's
/// objects stay in S3 for the teammates who still run it.
pub async fn leave(core: &Core, stack_id: StackId) -> AppResult<()> {
    core.pipeline
        .send(Input::SetTeam {
            stack_id,
            team: None,
            moved_secrets: Vec::new(),
        })
        .await?;
    core.team.unshare(stack_id);
    Ok(())
}

/// Decides a waiting approval as the person at this desktop. On a team
/// stack the decision is the team's first (the first decision of any
/// desktop wins) and is recorded by the decider's AWS principal ARN; on a
/// solo stack it is the engine's alone, by the OS user.
pub async fn decide(
    core: &Core,
    approval_id: ApprovalId,
    approve: bool,
    comment: String,
    via: DecisionSource,
) -> AppResult<()> {
    let now = stageline_engine::ports::Clock::now(core.clock.as_ref());
    let team_account = core
        .pipeline
        .read(move |s| {
            let approval = s.pending_approvals().find(|a| a.id == approval_id)?;
            let stack = s.stack(approval.stack_id)?;
            let place = stack.team.clone()?;
            Some((s.account(stack.account_id)?.clone(), place))
        })
        .await?;
    let Some((account, place)) = team_account else {
        let decision = Decision {
            by: core.user(),
            at: now,
            comment,
            via,
        };
        return Ok(core.pipeline.decide(approval_id, approve, decision).await?);
    };
    let (_, sts) = core.deployer.team_clients(&account, &place.region).await;
    let by = caller_arn(&sts).await.map_err(|e| AppError {
        code: ErrorCode::Aws,
        message: e.to_string(),
        fields: Vec::new(),
    })?;
    let decision = SharedDecision {
        approved: approve,
        by,
        at: now,
        comment,
    };
    core.team_approvals
        .decide(&core.pipeline, approval_id, decision, via)
        .await
        .map_err(|error| match error {
            TeamDecideError::Engine(error) => error.into(),
            other => AppError {
                code: ErrorCode::Conflict,
                message: other.to_string(),
                fields: Vec::new(),
            },
        })
}

/// How often this desktop looks whether a team stack is busy here (a cheap
/// read of its own state); the team's S3 is read only when
/// `team_poll_due` says so (every 3 s while busy, 30 s while idle).
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// Keeps this desktop's team stacks in step with the team's: shares the
/// pending approvals' requests and applies teammates' decisions (no S3 call
/// at all while no team approval waits), and follows each stack's shared
/// definition (a teammate's new stage or changed settings) — often while a
/// team stack runs or waits for a decision, seldom while all are idle.
pub fn keep_team_in_sync(core: std::sync::Weak<Core>) {
    tokio::spawn(async move {
        let mut last_definitions: Option<std::time::Instant> = None;
        let mut last_history: Option<std::time::Instant> = None;
        loop {
            let Some(core) = core.upgrade() else {
                return;
            };
            let (waiting, busy) = core
                .pipeline
                .read(|s| {
                    let waiting = s
                        .pending_approvals()
                        .any(|a| s.stack(a.stack_id).is_some_and(|st| st.team.is_some()));
                    (waiting, s.team_busy())
                })
                .await
                .unwrap_or((false, false));
            if waiting {
                if let Err(error) = core.team_approvals.sync_once(&core.pipeline).await {
                    tracing::warn!(%error, "could not sync the team's approvals");
                }
            }
            let since = last_definitions.map_or(i64::MAX, |at| at.elapsed().as_millis() as i64);
            if team_poll_due(busy, since) {
                last_definitions = Some(std::time::Instant::now());
                if let Err(error) = core.team_definitions.follow_once(&core.pipeline).await {
                    tracing::warn!(%error, "could not follow a team stack's definition");
                }
            }
            let due =
                last_history.is_none_or(|at| at.elapsed().as_millis() as i64 >= TEAM_HISTORY_EVERY);
            if due {
                last_history = Some(std::time::Instant::now());
                if let Err(error) = core
                    .team_history
                    .follow_once(&core.pipeline, &core.store)
                    .await
                {
                    tracing::warn!(%error, "could not follow the team's run history");
                }
            }
            drop(core);
            tokio::time::sleep(LOOK_EVERY).await;
        }
    });
}

/// How many of a stage's newest runs the stage window shows, here and the team's.
pub const HISTORY_LIMIT: u32 = 50;

/// R22: the newest runs of a team stack's stage that the team's S3 holds
/// and this desktop's history does not (a rollback or retry made on a
/// teammate's desktop, releases that passed while this one was off).
pub async fn teammates_runs(core: &Core, stage_id: StageId) -> AppResult<Vec<SharedRunSummary>> {
    let stage = core
        .pipeline
        .read(move |s| s.stage(stage_id).cloned())
        .await?
        .ok_or(stageline_engine::EngineError::NotFound("The stage"))?;
    let here: std::collections::HashSet<String> = core
        .store
        .run_history(stage_id, HISTORY_LIMIT)
        .await?
        .iter()
        .map(|record| run_key(&record.run, &record.release.commit.sha))
        .collect();
    let team = core
        .team_history
        .runs(stage.stack_id, &stage.settings.name, HISTORY_LIMIT as usize)
        .await
        .map_err(|error| AppError {
            code: ErrorCode::Aws,
            message: error.to_string(),
            fields: Vec::new(),
        })?;
    Ok(team
        .into_iter()
        .filter(|run| !here.contains(&run.run_key))
        .collect())
}
