//! Read-only queries for the stage window: run history and releases.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use stageline_engine::*;

use crate::open::{store_error, SqliteStore};
use crate::rows::from_json;

/// A past or current run with its release, for the stage window's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RunRecord {
    pub run: Run,
    pub release: Release,
}

impl SqliteStore {
    /// The stage's newest runs first, at most `limit`.
    pub async fn run_history(
        &self,
        stage: StageId,
        limit: u32,
    ) -> Result<Vec<RunRecord>, PortError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT runs.data, releases.data FROM runs JOIN releases ON releases.id = runs.release_id
             WHERE runs.stage_id = ? ORDER BY runs.id DESC LIMIT ?",
        )
        .bind(stage.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error("read the run history", e))?;
        rows.iter()
            .map(|(run, release)| {
                Ok(RunRecord {
                    run: from_json(run)?,
                    release: from_json(release)?,
                })
            })
            .collect()
    }

    /// A run by id.
    pub async fn run(&self, id: RunId) -> Result<Option<Run>, PortError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT data FROM runs WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| store_error("read a run", e))?;
        row.map(|(json,)| from_json(&json)).transpose()
    }

    /// A release by id.
    pub async fn release(&self, id: ReleaseId) -> Result<Option<Release>, PortError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT data FROM releases WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| store_error("read a release", e))?;
        row.map(|(json,)| from_json(&json)).transpose()
    }

    /// An approval's decisions at a stage, newest first (the audit trail).
    pub async fn approval_history(
        &self,
        stage: StageId,
        limit: u32,
    ) -> Result<Vec<Approval>, PortError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT data FROM approvals WHERE stage_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(stage.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error("read the approvals", e))?;
        rows.iter().map(|(json,)| from_json(json)).collect()
    }
}
