-- Delivery figures (DORA, the Insights view) are computed in SQL over the run
-- history: a stack has tens of thousands of runs, and reading each run's JSON
-- for every chart would be slow. So what the figures need is kept in columns
-- beside the JSON, written with every run and release. Rows made before this
-- migration are filled from their JSON here.

-- When the run ended, and how long each of its parts took (NULL: did not run).
ALTER TABLE runs ADD COLUMN finished_at INTEGER;
ALTER TABLE runs ADD COLUMN build_ms INTEGER;
ALTER TABLE runs ADD COLUMN release_ms INTEGER;
ALTER TABLE runs ADD COLUMN deploy_ms INTEGER;
-- Why it ran: flow | newStage | retry | redeploy (a redeploy is a rollback).
ALTER TABLE runs ADD COLUMN trigger_kind TEXT;
-- Lead time for changes: the release's commit time → the run's end.
ALTER TABLE runs ADD COLUMN lead_ms INTEGER;

-- The commit's own time, where lead time for changes starts.
ALTER TABLE releases ADD COLUMN commit_time INTEGER;

UPDATE runs SET
    finished_at = json_extract(data, '$.finishedAt'),
    trigger_kind = json_extract(data, '$.trigger.kind'),
    build_ms = (SELECT json_extract(p.value, '$.finishedAt') - json_extract(p.value, '$.startedAt')
                FROM json_each(runs.data, '$.parts') AS p WHERE json_extract(p.value, '$.kind') = 'build'),
    release_ms = (SELECT json_extract(p.value, '$.finishedAt') - json_extract(p.value, '$.startedAt')
                FROM json_each(runs.data, '$.parts') AS p WHERE json_extract(p.value, '$.kind') = 'release'),
    deploy_ms = (SELECT json_extract(p.value, '$.finishedAt') - json_extract(p.value, '$.startedAt')
                FROM json_each(runs.data, '$.parts') AS p WHERE json_extract(p.value, '$.kind') = 'deploy');
UPDATE releases SET commit_time = json_extract(data, '$.commit.time');
UPDATE runs SET lead_ms = finished_at - (SELECT commit_time FROM releases WHERE releases.id = runs.release_id);

-- The figures read a stack's ended runs in a time window, stage by stage, in
-- the order they ended. This index holds every column they read, so they
-- never touch the wide rows (each run's JSON) and each stage's runs are
-- already in order for the window functions.
CREATE INDEX runs_figures ON runs
    (stack_id, stage_id, finished_at, status, trigger_kind, lead_ms, build_ms, release_ms, deploy_ms)
    WHERE status IN ('succeeded', 'failed') AND finished_at IS NOT NULL;
