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
/// The run_slots table's slot: 6 hours. A window ends at the end of the
/// current slot and starts a whole number of days before, so it is made of
/// whole slots and every count is exact.
const SLOT_MS: Millis = 21_600_000;
const SLOTS_A_DAY: i64 = DAY_MS / SLOT_MS;

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
    /// The stack's delivery figures over the `days` days up to `now` (up to
    /// the end of now's 6-hour slot, when now is inside one).
    pub async fn insights(
        &self,
        stack: StackId,
        days: u32,
        now: Millis,
    ) -> Result<StackInsights, PortError> {
        let end = (now + SLOT_MS - 1).div_euclid(SLOT_MS) * SLOT_MS;
        let since = end - days as Millis * DAY_MS;
        let mut stages = self.insight_stages(stack, days, since).await?;
        let lead_counts = self
            .fill_from_slots(stack, since, days, &mut stages)
            .await?;
        for (stage, count) in stages.iter_mut().zip(lead_counts) {
            self.fill_lead_time(stack, since, stage, count).await?;
        }
        self.fill_restores(stack, since, &mut stages).await?;
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
        since: Millis,
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
                per_day: (0..days as Millis)
                    .map(|n| DayFigures {
                        day: since + n * DAY_MS,
                        deployments: 0,
                        failures: 0,
                        lead_time_ms: None,
                    })
                    .collect(),
                durations: vec![],
            })
            .collect())
    }

    /// Counts, rollbacks, the day's mean lead time and the duration chart,
    /// added up from the window's slots; returns each stage's number of
    /// lead times in the window.
    async fn fill_from_slots(
        &self,
        stack: StackId,
        since: Millis,
        days: u32,
        stages: &mut [StageInsights],
    ) -> Result<Vec<i64>, PortError> {
        let first = since / SLOT_MS;
        // Slots per duration point: one for 7 and 30 days, three for 90.
        let per_point = ((days as i64 * SLOTS_A_DAY) / DURATION_POINTS).max(1);
        let rows = sqlx::query(
            "SELECT stage_id, slot - ?1, succeeded, failed, rollbacks, lead_sum, lead_count,
                    build_sum, release_sum, deploy_sum
             FROM run_slots WHERE stack_id = ?2 AND stage_id IN (SELECT id FROM stages WHERE stack_id = ?2)
               AND slot >= ?1 AND succeeded + failed > 0
             ORDER BY stage_id, slot",
        )
        .bind(first)
        .bind(stack.0)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error("add up the runs", e))?;
        // Per stage and day: the lead times' sum and count, for the day's mean.
        let mut leads: Vec<(i64, i64)> = vec![(0, 0); stages.len() * days as usize];
        for row in rows {
            let Some(at) = stages
                .iter()
                .position(|s| s.stage_id.0 == row.get::<i64, _>(0))
            else {
                continue;
            };
            let slot: i64 = row.get(1);
            let count = |i: usize| row.get::<i64, _>(i) as u32;
            let (succeeded, failed) = (count(2), count(3));
            let stage = &mut stages[at];
            stage.deployments += succeeded;
            stage.failures += failed;
            stage.rollbacks += count(4);
            let day = (slot / SLOTS_A_DAY) as usize;
            if let Some(figures) = stage.per_day.get_mut(day) {
                figures.deployments += succeeded;
                figures.failures += failed;
                let lead = &mut leads[at * days as usize + day];
                lead.0 += row.get::<i64, _>(5);
                lead.1 += row.get::<i64, _>(6);
            }
            let point = since + (slot / per_point) * per_point * SLOT_MS + per_point * SLOT_MS / 2;
            let ended = (succeeded + failed) as i64;
            let sums = [7, 8, 9].map(|i| row.get::<i64, _>(i));
            // Summed here, divided into means below.
            match stage.durations.last_mut() {
                Some(last) if last.at == point => {
                    last.runs += ended as u32;
                    last.build_ms += sums[0];
                    last.release_ms += sums[1];
                    last.deploy_ms += sums[2];
                }
                _ => stage.durations.push(DurationPoint {
                    at: point,
                    runs: ended as u32,
                    build_ms: sums[0],
                    release_ms: sums[1],
                    deploy_ms: sums[2],
                }),
            }
        }
        let mut lead_counts = vec![0; stages.len()];
        for (at, stage) in stages.iter_mut().enumerate() {
            lead_counts[at] = leads[at * days as usize..(at + 1) * days as usize]
                .iter()
                .map(|(_, count)| count)
                .sum();
            for point in stage.durations.iter_mut() {
                let runs = point.runs.max(1) as i64;
                point.build_ms /= runs;
                point.release_ms /= runs;
                point.deploy_ms /= runs;
            }
            for (day, figures) in stage.per_day.iter_mut().enumerate() {
                let (sum, count) = leads[at * days as usize + day];
                figures.lead_time_ms = (count > 0).then(|| sum / count);
            }
            let changes = stage.deployments + stage.failures;
            if changes > 0 {
                stage.change_failure_rate =
                    Some((stage.failures + stage.rollbacks) as f64 / changes as f64);
            }
        }
        Ok(lead_counts)
    }

    /// The median lead time: the middle of the window's `count` successful
    /// runs in lead-time order, read along the `runs_by_lead_time` index.
    async fn fill_lead_time(
        &self,
        stack: StackId,
        since: Millis,
        stage: &mut StageInsights,
        count: i64,
    ) -> Result<(), PortError> {
        if count == 0 {
            return Ok(());
        }
        stage.lead_time_ms = sqlx::query_scalar(
            "SELECT lead_ms FROM runs INDEXED BY runs_by_lead_time
             WHERE stack_id = ?1 AND stage_id = ?2 AND finished_at >= ?3
               AND status = 'succeeded' AND finished_at IS NOT NULL AND lead_ms IS NOT NULL
             ORDER BY lead_ms LIMIT 1 OFFSET ?4",
        )
        .bind(stack.0)
        .bind(stage.stage_id.0)
        .bind(since)
        .bind((count - 1) / 2)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| store_error("measure the lead time", e))?;
        Ok(())
    }

    /// The median time to restore. Each failure in the window gets the first
    /// success after it (one step along `runs_ended`); a failure starts a
    /// streak when a success came between it and the failure before it — or,
    /// for the window's first failure, when the run before it did not fail.
    async fn fill_restores(
        &self,
        stack: StackId,
        since: Millis,
        stages: &mut [StageInsights],
    ) -> Result<(), PortError> {
        let rows = sqlx::query(
            "SELECT stage_id, restore FROM (
                SELECT stage_id, restore,
                       ROW_NUMBER() OVER (PARTITION BY stage_id ORDER BY restore) AS n,
                       COUNT(*) OVER (PARTITION BY stage_id) AS count
                FROM (
                    SELECT f.stage_id, f.finished_at, f.next_success - f.finished_at AS restore,
                           LAG(f.next_success) OVER (PARTITION BY f.stage_id ORDER BY f.finished_at, f.id) AS success_before,
                           ROW_NUMBER() OVER (PARTITION BY f.stage_id ORDER BY f.finished_at, f.id) AS k
                    FROM (
                        SELECT id, stage_id, finished_at,
                               (SELECT s.finished_at FROM runs s
                                WHERE s.stack_id = ?1 AND s.stage_id = failed.stage_id AND s.status = 'succeeded'
                                  AND s.status IN ('succeeded', 'failed') AND s.finished_at IS NOT NULL AND s.finished_at > failed.finished_at
                                ORDER BY s.finished_at LIMIT 1) AS next_success
                        FROM runs AS failed
                        WHERE stack_id = ?1 AND stage_id IN (SELECT id FROM stages WHERE stack_id = ?1)
                          AND status = 'failed' AND status IN ('succeeded', 'failed')
                          AND finished_at IS NOT NULL AND finished_at >= ?2) AS f) AS m
                WHERE restore IS NOT NULL AND (
                    (k > 1 AND success_before < m.finished_at)
                    OR (k = 1 AND COALESCE((SELECT MAX(o.finished_at) FROM runs o
                            WHERE o.stack_id = ?1 AND o.stage_id = m.stage_id AND o.status = 'succeeded'
                              AND o.status IN ('succeeded', 'failed') AND o.finished_at IS NOT NULL AND o.finished_at < m.finished_at), -1)
                        >= COALESCE((SELECT MAX(o.finished_at) FROM runs o
                            WHERE o.stack_id = ?1 AND o.stage_id = m.stage_id AND o.status = 'failed'
                              AND o.status IN ('succeeded', 'failed') AND o.finished_at IS NOT NULL AND o.finished_at < m.finished_at), -1))))
             WHERE n = (count + 1) / 2",
        )
        .bind(stack.0)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error("measure the times to restore", e))?;
        for row in rows {
            if let Some(stage) = stages
                .iter_mut()
                .find(|s| s.stage_id.0 == row.get::<i64, _>(0))
            {
                stage.time_to_restore_ms = Some(row.get(1));
            }
        }
        Ok(())
    }
}
