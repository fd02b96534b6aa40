//! Delivery figures (DORA) for a stack's Insights view, computed in SQL over
//! the run history (the columns migration 0004 keeps beside each run's JSON).
//!
//! What each figure means here, per stage, over the window's runs that ended:
//! - **deployments**: runs that succeeded (a deploy of a release, a retry or a
//!   rollback that worked);
//! - **lead time for changes**: the release's commit time → the run's end at
//!   that stage, median of the successful runs (at the last stage this is
//!   commit → production);
//! - **change failure rate**: runs that failed, plus rollbacks (a rollback
//!   means the change before it failed in use), over all runs that ended
//!   succeeded or failed; superseded and cancelled runs are not changes;
//! - **time to restore**: from the first failed run of a failing streak to the
//!   next successful run at the stage, median over the window's streaks.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use ts_rs::TS;

use stageline_engine::*;

use crate::open::{store_error, SqliteStore};

const DAY_MS: Millis = 86_400_000;
/// Points of the run-duration chart: enough for a smooth line, few enough to
/// send in one small message however many runs the window holds.
const DURATION_POINTS: i64 = 120;
/// Which runs count (?1: the window's start, ?3: the stack): those that ended
/// in the window, at the stack's stages. Written as the `runs_figures` index's
/// own condition and key, so SQLite reads that index alone, stage by stage.
const ENDED_IN_WINDOW: &str =
    "stack_id = ?3 AND stage_id IN (SELECT id FROM stages WHERE stack_id = ?3)
    AND finished_at >= ?1 AND status IN ('succeeded', 'failed') AND finished_at IS NOT NULL";

/// A stack's delivery figures over the last `days` days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StackInsights {
    pub days: u32,
    /// Where the window starts (now − days); day buckets count from here.
    pub since: Millis,
    /// The stack's stages in pipeline order.
    pub stages: Vec<StageInsights>,
}

/// One stage's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StageInsights {
    pub stage_id: StageId,
    pub name: String,
    pub deployments: u32,
    pub failures: u32,
    pub rollbacks: u32,
    /// Median commit → deployed here; none without a successful run.
    pub lead_time_ms: Option<Millis>,
    /// Failed changes over changes (0–1); none when nothing ended.
    pub change_failure_rate: Option<f64>,
    /// Median failure → next success; none without a restored failure.
    pub time_to_restore_ms: Option<Millis>,
    /// One entry per day of the window, oldest first.
    pub per_day: Vec<DayFigures>,
    /// Run durations over the window, averaged into at most 120 points.
    pub durations: Vec<DurationPoint>,
}

/// What ended at a stage on one day of the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DayFigures {
    /// The day's start (since + n days).
    pub day: Millis,
    pub deployments: u32,
    pub failures: u32,
    /// Mean commit → deployed of the day's successful runs.
    pub lead_time_ms: Option<Millis>,
}

/// Mean part durations of the runs that ended around `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DurationPoint {
    pub at: Millis,
    pub runs: u32,
    pub build_ms: Millis,
    pub release_ms: Millis,
    pub deploy_ms: Millis,
}

impl SqliteStore {
    /// The stack's delivery figures over the `days` days before `now`.
    pub async fn insights(
        &self,
        stack: StackId,
        days: u32,
        now: Millis,
    ) -> Result<StackInsights, PortError> {
        let since = now - days as Millis * DAY_MS;
        let mut stages = self.insight_stages(stack, days).await?;
        self.fill_days(stack, since, &mut stages).await?;
        self.fill_lead_times(stack, since, &mut stages).await?;
        self.fill_restores(stack, since, &mut stages).await?;
        self.fill_durations(stack, since, now, &mut stages).await?;
        Ok(StackInsights {
            days,
            since,
            stages,
        })
    }

    async fn insight_stages(
        &self,
        stack: StackId,
        days: u32,
    ) -> Result<Vec<StageInsights>, PortError> {
        let rows = sqlx::query("SELECT id, name FROM stages WHERE stack_id = ? ORDER BY position")
            .bind(stack.0)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_error("read the stages", e))?;
        Ok(rows
            .iter()
            .map(|row| StageInsights {
                stage_id: StageId(row.get(0)),
                name: row.get(1),
                deployments: 0,
                failures: 0,
                rollbacks: 0,
                lead_time_ms: None,
                change_failure_rate: None,
                time_to_restore_ms: None,
                per_day: (0..days)
                    .map(|_| DayFigures {
                        day: 0,
                        deployments: 0,
                        failures: 0,
                        lead_time_ms: None,
                    })
                    .collect(),
                durations: vec![],
            })
            .collect())
    }

    /// Per day: what succeeded, failed and was rolled back, and the mean lead
    /// time; the stage's totals are the sums of its days.
    async fn fill_days(
        &self,
        stack: StackId,
        since: Millis,
        stages: &mut [StageInsights],
    ) -> Result<(), PortError> {
        for stage in stages.iter_mut() {
            for (n, day) in stage.per_day.iter_mut().enumerate() {
                day.day = since + n as Millis * DAY_MS;
            }
        }
        let rows = sqlx::query(&format!(
            "SELECT stage_id, (finished_at - ?1) / ?2 AS day,
                    SUM(status = 'succeeded'), SUM(status = 'failed'),
                    SUM(status = 'succeeded' AND trigger_kind = 'redeploy'),
                    CAST(AVG(CASE WHEN status = 'succeeded' THEN lead_ms END) AS INTEGER)
             FROM runs WHERE {ENDED_IN_WINDOW}
             GROUP BY stage_id, day"
        ))
        .bind(since)
        .bind(DAY_MS)
        .bind(stack.0)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error("count the runs per day", e))?;
        for row in rows {
            let Some(stage) = find(stages, row.get(0)) else {
                continue;
            };
            let (succeeded, failed) = (row.get::<i64, _>(2) as u32, row.get::<i64, _>(3) as u32);
            stage.deployments += succeeded;
            stage.failures += failed;
            stage.rollbacks += row.get::<i64, _>(4) as u32;
            // A run that ended this very millisecond falls past the last day.
            let index = (row.get::<i64, _>(1) as usize).min(stage.per_day.len().saturating_sub(1));
            if let Some(day) = stage.per_day.get_mut(index) {
                day.deployments += succeeded;
                day.failures += failed;
                day.lead_time_ms = day.lead_time_ms.or(row.get(5));
            }
        }
        for stage in stages.iter_mut() {
            let changes = stage.deployments + stage.failures;
            if changes > 0 {
                stage.change_failure_rate =
                    Some((stage.failures + stage.rollbacks) as f64 / changes as f64);
            }
        }
        Ok(())
    }

    async fn fill_lead_times(
        &self,
        stack: StackId,
        since: Millis,
        stages: &mut [StageInsights],
    ) -> Result<(), PortError> {
        let rows = sqlx::query(&format!(
            "SELECT stage_id, lead_ms FROM (
                SELECT stage_id, lead_ms,
                       ROW_NUMBER() OVER (PARTITION BY stage_id ORDER BY lead_ms) AS n,
                       COUNT(*) OVER (PARTITION BY stage_id) AS count
                FROM runs WHERE {ENDED_IN_WINDOW} AND status = 'succeeded' AND lead_ms IS NOT NULL)
             WHERE n = (count + 1) / 2"
        ))
        .bind(since)
        .bind(DAY_MS)
        .bind(stack.0)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error("measure the lead times", e))?;
        for row in rows {
            if let Some(stage) = find(stages, row.get(0)) {
                stage.lead_time_ms = Some(row.get(1));
            }
        }
        Ok(())
    }

    async fn fill_restores(
        &self,
        stack: StackId,
        since: Millis,
        stages: &mut [StageInsights],
    ) -> Result<(), PortError> {
        // Newest first, the running MIN over the rows before is the nearest
        // later success; a streak starts where the run before (LEAD, older)
        // did not fail. Both windows are incremental: one pass per stage.
        let rows = sqlx::query(&format!(
            "SELECT stage_id, restore FROM (
                SELECT stage_id, next_success - finished_at AS restore,
                       ROW_NUMBER() OVER (PARTITION BY stage_id ORDER BY next_success - finished_at) AS n,
                       COUNT(*) OVER (PARTITION BY stage_id) AS count
                FROM (
                    SELECT stage_id, status, finished_at,
                           LEAD(status) OVER newest_first AS older_status,
                           MIN(CASE WHEN status = 'succeeded' THEN finished_at END) OVER (newest_first
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS next_success
                    FROM runs WHERE {ENDED_IN_WINDOW}
                    WINDOW newest_first AS (PARTITION BY stage_id ORDER BY finished_at DESC, id DESC))
                WHERE status = 'failed' AND older_status IS NOT 'failed' AND next_success IS NOT NULL)
             WHERE n = (count + 1) / 2"
        ))
        .bind(since)
        .bind(DAY_MS)
        .bind(stack.0)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error("measure the times to restore", e))?;
        for row in rows {
            if let Some(stage) = find(stages, row.get(0)) {
                stage.time_to_restore_ms = Some(row.get(1));
            }
        }
        Ok(())
    }

    async fn fill_durations(
        &self,
        stack: StackId,
        since: Millis,
        now: Millis,
        stages: &mut [StageInsights],
    ) -> Result<(), PortError> {
        let width = ((now - since) / DURATION_POINTS).max(1);
        let rows = sqlx::query(&format!(
            "SELECT stage_id, (finished_at - ?1) / ?2 AS point, COUNT(*),
                    CAST(AVG(COALESCE(build_ms, 0)) AS INTEGER), CAST(AVG(COALESCE(release_ms, 0)) AS INTEGER),
                    CAST(AVG(COALESCE(deploy_ms, 0)) AS INTEGER)
             FROM runs WHERE {ENDED_IN_WINDOW}
             GROUP BY stage_id, point ORDER BY stage_id, point"
        ))
        .bind(since)
        .bind(width)
        .bind(stack.0)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error("measure the run durations", e))?;
        for row in rows {
            if let Some(stage) = find(stages, row.get(0)) {
                stage.durations.push(DurationPoint {
                    at: since + row.get::<i64, _>(1) * width + width / 2,
                    runs: row.get::<i64, _>(2) as u32,
                    build_ms: row.get(3),
                    release_ms: row.get(4),
                    deploy_ms: row.get(5),
                });
            }
        }
        Ok(())
    }
}

fn find(stages: &mut [StageInsights], id: i64) -> Option<&mut StageInsights> {
    stages.iter_mut().find(|s| s.stage_id.0 == id)
}
