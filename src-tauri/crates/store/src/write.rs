//! `apply`: a transition's changes in one transaction.

use sqlx::{Sqlite, Transaction};
use stageline_engine::ports::Change;
use stageline_engine::{PartKind, PortError, Run, RunTrigger};

use crate::open::{store_error, SqliteStore};
use crate::rows::{tag, to_json};

impl SqliteStore {
    pub(crate) async fn apply_changes(&self, changes: Vec<Change>) -> Result<(), PortError> {
        let highest = changes.iter().filter_map(written_id).max();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| store_error("start a transaction", e))?;
        for change in changes {
            apply_one(&mut tx, change).await?;
        }
        if let Some(id) = highest {
            sqlx::query("UPDATE id_floor SET id = ? WHERE id < ?")
                .bind(id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| store_error("save the highest id", e))?;
        }
        tx.commit().await.map_err(|e| store_error("commit", e))
    }
}

/// The id of the row a change writes, if it writes one.
fn written_id(change: &Change) -> Option<i64> {
    match change {
        Change::PutAccount(a) => Some(a.id.0),
        Change::PutStack(s) => Some(s.id.0),
        Change::InsertStage(s) | Change::PutStage(s) => Some(s.id.0),
        Change::PutRelease(r) => Some(r.id.0),
        Change::PutRun(r) => Some(r.id.0),
        Change::PutApproval(a) => Some(a.id.0),
        _ => None,
    }
}

async fn apply_one(tx: &mut Transaction<'_, Sqlite>, change: Change) -> Result<(), PortError> {
    let result = match change {
        Change::PutAccount(a) => {
            sqlx::query(
                "INSERT INTO accounts (id, name, credentials, default_region, endpoint_url) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, credentials = excluded.credentials,
                   default_region = excluded.default_region, endpoint_url = excluded.endpoint_url",
            )
            .bind(a.id.0)
            .bind(&a.name)
            .bind(to_json(&a.credentials)?)
            .bind(&a.default_region)
            .bind(&a.endpoint_url)
            .execute(&mut **tx)
            .await
        }
        Change::DeleteAccount(id) => sqlx::query("DELETE FROM accounts WHERE id = ?").bind(id.0).execute(&mut **tx).await,
        Change::PutStack(s) => {
            sqlx::query(
                "INSERT INTO stacks (id, name, repository, branch, account_id, poll_interval_secs, created_at, deleting, home_region, team)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, repository = excluded.repository,
                   branch = excluded.branch, account_id = excluded.account_id,
                   poll_interval_secs = excluded.poll_interval_secs, deleting = excluded.deleting,
                   home_region = excluded.home_region, team = excluded.team",
            )
            .bind(s.id.0)
            .bind(&s.name)
            .bind(&s.repository)
            .bind(&s.branch)
            .bind(s.account_id.0)
            .bind(s.poll_interval_secs)
            .bind(s.created_at)
            .bind(s.deleting)
            .bind(&s.home_region)
            .bind(s.team.as_ref().map(to_json).transpose()?)
            .execute(&mut **tx)
            .await
        }
        Change::DeleteStack(id) => sqlx::query("DELETE FROM stacks WHERE id = ?").bind(id.0).execute(&mut **tx).await,
        Change::InsertStage(stage) => {
            // R1: the new stage takes its place; the ones at or after it move one on.
            sqlx::query("UPDATE stages SET position = position + 1 WHERE stack_id = ? AND position >= ?")
                .bind(stage.stack_id.0)
                .bind(stage.position)
                .execute(&mut **tx)
                .await
                .map_err(|e| store_error("renumber stages", e))?;
            sqlx::query("INSERT INTO stages (id, stack_id, position, name, settings, lifecycle) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(stage.id.0)
                .bind(stage.stack_id.0)
                .bind(stage.position)
                .bind(&stage.settings.name)
                .bind(to_json(&stage.settings)?)
                .bind(to_json(&stage.lifecycle)?)
                .execute(&mut **tx)
                .await
        }
        Change::PutStage(stage) => {
            sqlx::query("UPDATE stages SET name = ?, settings = ?, lifecycle = ? WHERE id = ?")
                .bind(&stage.settings.name)
                .bind(to_json(&stage.settings)?)
                .bind(to_json(&stage.lifecycle)?)
                .bind(stage.id.0)
                .execute(&mut **tx)
                .await
        }
        Change::RemoveStage(id) => {
            let gone: Option<(i64, i64)> = sqlx::query_as("SELECT stack_id, position FROM stages WHERE id = ?")
                .bind(id.0)
                .fetch_optional(&mut **tx)
                .await
                .map_err(|e| store_error("find a stage", e))?;
            sqlx::query("DELETE FROM stages WHERE id = ?")
                .bind(id.0)
                .execute(&mut **tx)
                .await
                .map_err(|e| store_error("remove a stage", e))?;
            // A freeze of the stage goes with it (its stack's stays).
            sqlx::query("DELETE FROM freezes WHERE stage_id = ?")
                .bind(id.0)
                .execute(&mut **tx)
                .await
                .map_err(|e| store_error("remove a stage's freeze", e))?;
            match gone {
                Some((stack_id, position)) => {
                    sqlx::query("UPDATE stages SET position = position - 1 WHERE stack_id = ? AND position > ?")
                        .bind(stack_id)
                        .bind(position)
                        .execute(&mut **tx)
                        .await
                }
                None => return Ok(()),
            }
        }
        Change::PutFlow(f) => {
            sqlx::query(
                "INSERT INTO stage_flows (stage_id, deployed_release_id, waiting_release_id, reached_release_id) VALUES (?, ?, ?, ?)
                 ON CONFLICT (stage_id) DO UPDATE SET deployed_release_id = excluded.deployed_release_id,
                   waiting_release_id = excluded.waiting_release_id, reached_release_id = excluded.reached_release_id",
            )
            .bind(f.stage_id.0)
            .bind(f.deployed.map(|r| r.0))
            .bind(f.waiting.map(|r| r.0))
            .bind(f.reached.map(|r| r.0))
            .execute(&mut **tx)
            .await
        }
        Change::PutRelease(r) => {
            sqlx::query(
                "INSERT INTO releases (id, stack_id, sha, created_at, commit_time, data) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            )
            .bind(r.id.0)
            .bind(r.stack_id.0)
            .bind(&r.commit.sha)
            .bind(r.created_at)
            .bind(r.commit.time)
            .bind(to_json(&r)?)
            .execute(&mut **tx)
            .await
        }
        Change::PutRun(r) => {
            // lead_ms: the release is in the store before any of its runs.
            sqlx::query(
                "INSERT INTO runs (id, stack_id, stage_id, release_id, status, created_at, finished_at,
                   build_ms, release_ms, deploy_ms, trigger_kind, lead_ms, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                   ?7 - (SELECT commit_time FROM releases WHERE id = ?4), ?12)
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at,
                   build_ms = excluded.build_ms, release_ms = excluded.release_ms,
                   deploy_ms = excluded.deploy_ms, lead_ms = excluded.lead_ms, data = excluded.data",
            )
            .bind(r.id.0)
            .bind(r.stack_id.0)
            .bind(r.stage_id.0)
            .bind(r.release_id.0)
            .bind(tag(&r.status))
            .bind(r.created_at)
            .bind(r.finished_at)
            .bind(part_ms(&r, PartKind::Build))
            .bind(part_ms(&r, PartKind::Release))
            .bind(part_ms(&r, PartKind::Deploy))
            .bind(trigger_kind(&r.trigger))
            .bind(to_json(&r)?)
            .execute(&mut **tx)
            .await
        }
        Change::PutApproval(a) => {
            sqlx::query(
                "INSERT INTO approvals (id, stack_id, stage_id, release_id, status, data) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data",
            )
            .bind(a.id.0)
            .bind(a.stack_id.0)
            .bind(a.stage_id.0)
            .bind(a.release_id.0)
            .bind(tag(&a.status))
            .bind(to_json(&a)?)
            .execute(&mut **tx)
            .await
        }
        Change::PutRequest(r) => {
            sqlx::query(
                "INSERT INTO effect_requests (stage_id, kind, data) VALUES (?, ?, ?)
                 ON CONFLICT (stage_id, kind) DO UPDATE SET data = excluded.data",
            )
            .bind(r.stage_id().0)
            .bind(r.kind())
            .bind(to_json(&r)?)
            .execute(&mut **tx)
            .await
        }
        Change::ClearRequest(r) => {
            sqlx::query("DELETE FROM effect_requests WHERE stage_id = ? AND kind = ?")
                .bind(r.stage_id().0)
                .bind(r.kind())
                .execute(&mut **tx)
                .await
        }
        Change::PutFreeze(f) => {
            sqlx::query(
                "INSERT INTO freezes (stack_id, stage_id, data) VALUES (?, ?, ?)
                 ON CONFLICT (stack_id, stage_id) DO UPDATE SET data = excluded.data",
            )
            .bind(f.stack_id.0)
            .bind(f.stage_id.map_or(0, |s| s.0))
            .bind(to_json(&f)?)
            .execute(&mut **tx)
            .await
        }
        Change::ClearFreeze { stack_id, stage_id } => {
            sqlx::query("DELETE FROM freezes WHERE stack_id = ? AND stage_id = ?")
                .bind(stack_id.0)
                .bind(stage_id.map_or(0, |s| s.0))
                .execute(&mut **tx)
                .await
        }
        Change::PutService { stage_id, service } => {
            sqlx::query(
                "INSERT INTO stage_services (stage_id, data) VALUES (?, ?)
                 ON CONFLICT (stage_id) DO UPDATE SET data = excluded.data",
            )
            .bind(stage_id.0)
            .bind(to_json(&service)?)
            .execute(&mut **tx)
            .await
        }
    };
    result
        .map(|_| ())
        .map_err(|e| store_error("save a change", e))
}

/// How long a part took, once it has ended (the Insights view's durations).
/// Read without `Run::part`, which panics: a row written from a run that
/// lacks a part (an older or hand-made one) still stores, without a duration.
fn part_ms(run: &Run, kind: PartKind) -> Option<i64> {
    let part = run.parts.iter().find(|p| p.kind == kind)?;
    Some(part.finished_at? - part.started_at?)
}

/// The trigger's kind as its JSON names it (`flow`, `redeploy`, …).
fn trigger_kind(trigger: &RunTrigger) -> &'static str {
    match trigger {
        RunTrigger::Flow => "flow",
        RunTrigger::NewStage => "newStage",
        RunTrigger::Retry { .. } => "retry",
        RunTrigger::Redeploy { .. } => "redeploy",
        RunTrigger::Rollback { .. } => "rollback",
    }
}
