//! `load`: what the engine resumes from, and the Store port itself.

use stageline_engine::ports::{
    BoxFuture, Change, DeployedRelease, Request, Snapshot, StageFlow, Store,
};
use stageline_engine::*;

use crate::open::{store_error, SqliteStore};
use crate::rows::from_json;

type AccountRow = (i64, String, String, String, Option<String>);
type StackRow = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    bool,
    Option<String>,
    Option<String>,
);
type StageRow = (i64, i64, i64, String, String);
type FlowRow = (i64, Option<i64>, Option<i64>, Option<i64>);

/// Each stage's newest run that was not superseded, and each stack's newest
/// release: one index lookup per stage or stack, so loading takes as long
/// with 10,000 past runs per stage as with 10 (`MAX(id) … GROUP BY stage_id`
/// reads every run: 0.1 s at 400,000 runs).
const LATEST_RUN_IDS: &str = "SELECT (SELECT r.id FROM runs r WHERE r.stage_id = s.id
    AND r.status != 'superseded' ORDER BY r.id DESC LIMIT 1) FROM stages s";
const NEWEST_RELEASE_IDS: &str =
    "SELECT (SELECT r.id FROM releases r WHERE r.stack_id = k.id ORDER BY r.id DESC LIMIT 1) FROM stacks k";

impl SqliteStore {
    async fn json_column<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
    ) -> Result<Vec<T>, PortError> {
        let rows: Vec<(String,)> = sqlx::query_as(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_error("read the pipeline state", e))?;
        rows.iter().map(|(json,)| from_json(json)).collect()
    }

    /// Every stack (what the app needs before the engine starts: the
    /// remote repositories whose tokens the watches sign in with).
    pub async fn stacks(&self) -> Result<Vec<Stack>, PortError> {
        let read = |e| store_error("read the pipeline state", e);
        let stacks: Vec<StackRow> = sqlx::query_as(
            "SELECT id, name, repository, branch, account_id, poll_interval_secs, created_at, deleting, home_region, team
             FROM stacks ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(read)?;
        stacks
            .into_iter()
            .map(
                |(
                    id,
                    name,
                    repository,
                    branch,
                    account,
                    poll,
                    created_at,
                    deleting,
                    home_region,
                    team,
                )| {
                    Ok(Stack {
                        id: StackId(id),
                        name,
                        repository,
                        branch,
                        account_id: AccountId(account),
                        poll_interval_secs: poll as u32,
                        created_at,
                        deleting,
                        home_region: home_region.unwrap_or_default(),
                        team: team.as_deref().map(from_json).transpose()?,
                    })
                },
            )
            .collect()
    }

    async fn load_snapshot(&self) -> Result<Snapshot, PortError> {
        let read = |e| store_error("read the pipeline state", e);
        let accounts: Vec<AccountRow> = sqlx::query_as(
            "SELECT id, name, credentials, default_region, endpoint_url FROM accounts ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(read)?;
        let accounts = accounts
            .into_iter()
            .map(|(id, name, credentials, default_region, endpoint_url)| {
                Ok(Account {
                    id: AccountId(id),
                    name,
                    credentials: from_json(&credentials)?,
                    default_region,
                    endpoint_url,
                })
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        let stacks = self.stacks().await?;
        let stages: Vec<StageRow> =
            sqlx::query_as("SELECT id, stack_id, position, settings, lifecycle FROM stages ORDER BY stack_id, position")
                .fetch_all(&self.pool)
                .await
                .map_err(read)?;
        let stages = stages
            .into_iter()
            .map(|(id, stack_id, position, settings, lifecycle)| {
                Ok(Stage {
                    id: StageId(id),
                    stack_id: StackId(stack_id),
                    position: position as u32,
                    settings: from_json(&settings)?,
                    lifecycle: from_json(&lifecycle)?,
                })
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        // Stacks made before the home region was recorded pushed their images
        // in their first stage's region.
        let stacks: Vec<Stack> = stacks
            .into_iter()
            .map(|mut stack: Stack| {
                if stack.home_region.is_empty() {
                    if let Some(first) = stages
                        .iter()
                        .filter(|s| s.stack_id == stack.id)
                        .min_by_key(|s| s.position)
                    {
                        stack.home_region = first.settings.region.clone();
                    }
                }
                stack
            })
            .collect();
        let flows: Vec<FlowRow> = sqlx::query_as(
            "SELECT stage_id, deployed_release_id, waiting_release_id, reached_release_id FROM stage_flows",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(read)?;
        let flows = flows
            .into_iter()
            .map(|(stage, deployed, waiting, reached)| StageFlow {
                stage_id: StageId(stage),
                deployed: deployed.map(ReleaseId),
                waiting: waiting.map(ReleaseId),
                reached: reached.map(ReleaseId),
            })
            .collect();
        let active_runs: Vec<Run> = self
            .json_column("SELECT data FROM runs WHERE status = 'running' ORDER BY id")
            .await?;
        let latest_runs: Vec<Run> = self
            .json_column(&format!(
                "SELECT data FROM runs WHERE id IN ({LATEST_RUN_IDS}) ORDER BY id"
            ))
            .await?;
        let pending_approvals: Vec<Approval> = self
            .json_column("SELECT data FROM approvals WHERE status = 'pending' ORDER BY id")
            .await?;
        // Only the releases live state refers to: the load does not grow with history.
        let releases: Vec<Release> = self
            .json_column(&format!(
                "SELECT data FROM releases WHERE id IN (
                    SELECT deployed_release_id FROM stage_flows UNION SELECT waiting_release_id FROM stage_flows
                    UNION SELECT release_id FROM runs WHERE status = 'running'
                    UNION SELECT release_id FROM runs WHERE id IN ({LATEST_RUN_IDS})
                    UNION SELECT release_id FROM approvals WHERE status = 'pending'
                    UNION {NEWEST_RELEASE_IDS})
                 ORDER BY id"
            ))
            .await?;
        let requests: Vec<Request> = self
            .json_column("SELECT data FROM effect_requests ORDER BY stage_id, kind")
            .await?;
        let freezes: Vec<Freeze> = self
            .json_column("SELECT data FROM freezes ORDER BY stack_id, stage_id")
            .await?;
        let services: Vec<(i64, String)> =
            sqlx::query_as("SELECT stage_id, data FROM stage_services ORDER BY stage_id")
                .fetch_all(&self.pool)
                .await
                .map_err(read)?;
        let services = services
            .into_iter()
            .map(|(stage, json)| Ok((StageId(stage), from_json::<StageService>(&json)?)))
            .collect::<Result<Vec<_>, PortError>>()?;
        let (highest_id,): (Option<i64>,) = sqlx::query_as(
            "SELECT MAX(id) FROM (
                SELECT MAX(id) AS id FROM accounts UNION ALL SELECT MAX(id) FROM stacks
                UNION ALL SELECT MAX(id) FROM stages UNION ALL SELECT MAX(id) FROM releases
                UNION ALL SELECT MAX(id) FROM runs UNION ALL SELECT MAX(id) FROM approvals
                UNION ALL SELECT MAX(id) FROM id_floor)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(read)?;
        Ok(Snapshot {
            requests,
            freezes,
            services,
            highest_id: highest_id.unwrap_or(0),
            accounts,
            stacks,
            stages,
            flows,
            releases,
            active_runs,
            latest_runs,
            pending_approvals,
        })
    }
}

impl Store for SqliteStore {
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, PortError>> {
        Box::pin(self.load_snapshot())
    }

    fn apply(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<(), PortError>> {
        Box::pin(self.apply_changes(changes))
    }

    fn approval(&self, id: ApprovalId) -> BoxFuture<'_, Result<Option<Approval>, PortError>> {
        Box::pin(async move {
            let row: Option<(String,)> = sqlx::query_as("SELECT data FROM approvals WHERE id = ?")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| store_error("read an approval", e))?;
            row.map(|(json,)| from_json(&json)).transpose()
        })
    }

    fn release_of_commit(
        &self,
        stack: StackId,
        sha: &str,
    ) -> BoxFuture<'_, Result<Option<Release>, PortError>> {
        let sha = sha.to_string();
        Box::pin(async move {
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT data FROM releases WHERE stack_id = ? AND sha = ? ORDER BY id DESC LIMIT 1",
            )
            .bind(stack.0)
            .bind(sha)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| store_error("read a release", e))?;
            row.map(|(json,)| from_json(&json)).transpose()
        })
    }

    fn deployed_release(
        &self,
        stage: StageId,
        release: ReleaseId,
    ) -> BoxFuture<'_, Result<Option<DeployedRelease>, PortError>> {
        Box::pin(async move {
            // The image of the newest successful run of the release there.
            let row: Option<(String, String)> = sqlx::query_as(
                "SELECT releases.data, runs.data FROM releases JOIN runs ON runs.release_id = releases.id
                 WHERE releases.id = ? AND runs.stage_id = ? AND runs.status = 'succeeded'
                 ORDER BY runs.id DESC LIMIT 1",
            )
            .bind(release.0)
            .bind(stage.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| store_error("read a release", e))?;
            let Some((release, run)) = row else {
                return Ok(None);
            };
            let run: Run = from_json(&run)?;
            Ok(Some(DeployedRelease {
                release: from_json(&release)?,
                image: run.image,
            }))
        })
    }
}
