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

-- What ended at each stage in each 6-hour slot (UTC, counted from the epoch):
-- the Insights view's counts, means and charts add up these rows (at most
-- 360 a stage for 90 days) instead of reading every run. The triggers below
-- keep them exact whatever writes the runs.
CREATE TABLE run_slots (
    stack_id    INTEGER NOT NULL,
    stage_id    INTEGER NOT NULL,
    slot        INTEGER NOT NULL,  -- finished_at / 21600000
    succeeded   INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    rollbacks   INTEGER NOT NULL DEFAULT 0,  -- succeeded redeploys
    lead_sum    INTEGER NOT NULL DEFAULT 0,  -- of the successful runs with a lead time
    lead_count  INTEGER NOT NULL DEFAULT 0,
    build_sum   INTEGER NOT NULL DEFAULT 0,  -- of every ended run (a part that did not run counts 0)
    release_sum INTEGER NOT NULL DEFAULT 0,
    deploy_sum  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stack_id, stage_id, slot)
) WITHOUT ROWID;

INSERT INTO run_slots
SELECT stack_id, stage_id, finished_at / 21600000,
       SUM(status = 'succeeded'), SUM(status = 'failed'),
       SUM(status = 'succeeded' AND trigger_kind IS 'redeploy'),
       SUM(CASE WHEN status = 'succeeded' THEN COALESCE(lead_ms, 0) ELSE 0 END),
       SUM(status = 'succeeded' AND lead_ms IS NOT NULL),
       SUM(COALESCE(build_ms, 0)), SUM(COALESCE(release_ms, 0)), SUM(COALESCE(deploy_ms, 0))
FROM runs WHERE status IN ('succeeded', 'failed') AND finished_at IS NOT NULL
GROUP BY stack_id, stage_id, finished_at / 21600000;

-- Every change to run_slots goes through this view: a run entering a slot
-- (sign 1) or leaving it (sign -1). The triggers on runs below only say which.
CREATE VIEW run_slot_moves AS
SELECT 0 AS sign, stack_id, stage_id, finished_at, status, trigger_kind, lead_ms, build_ms, release_ms, deploy_ms
FROM runs WHERE 0;

CREATE TRIGGER run_slot_move INSTEAD OF INSERT ON run_slot_moves
WHEN NEW.status IN ('succeeded', 'failed') AND NEW.finished_at IS NOT NULL
BEGIN
    INSERT INTO run_slots VALUES (NEW.stack_id, NEW.stage_id, NEW.finished_at / 21600000,
        NEW.sign * (NEW.status = 'succeeded'), NEW.sign * (NEW.status = 'failed'),
        NEW.sign * (NEW.status = 'succeeded' AND NEW.trigger_kind IS 'redeploy'),
        NEW.sign * CASE WHEN NEW.status = 'succeeded' THEN COALESCE(NEW.lead_ms, 0) ELSE 0 END,
        NEW.sign * (NEW.status = 'succeeded' AND NEW.lead_ms IS NOT NULL),
        NEW.sign * COALESCE(NEW.build_ms, 0), NEW.sign * COALESCE(NEW.release_ms, 0),
        NEW.sign * COALESCE(NEW.deploy_ms, 0))
    ON CONFLICT (stack_id, stage_id, slot) DO UPDATE SET
        succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed,
        rollbacks = rollbacks + excluded.rollbacks, lead_sum = lead_sum + excluded.lead_sum,
        lead_count = lead_count + excluded.lead_count, build_sum = build_sum + excluded.build_sum,
        release_sum = release_sum + excluded.release_sum, deploy_sum = deploy_sum + excluded.deploy_sum;
END;

-- A run written enters its slot; rewritten (its status or times changed), it
-- leaves the old one and enters the new; deleted, it leaves.
CREATE TRIGGER run_slots_on_insert AFTER INSERT ON runs BEGIN
    INSERT INTO run_slot_moves VALUES (1, NEW.stack_id, NEW.stage_id, NEW.finished_at, NEW.status,
        NEW.trigger_kind, NEW.lead_ms, NEW.build_ms, NEW.release_ms, NEW.deploy_ms);
END;

CREATE TRIGGER run_slots_on_update AFTER UPDATE ON runs BEGIN
    INSERT INTO run_slot_moves VALUES (-1, OLD.stack_id, OLD.stage_id, OLD.finished_at, OLD.status,
        OLD.trigger_kind, OLD.lead_ms, OLD.build_ms, OLD.release_ms, OLD.deploy_ms);
    INSERT INTO run_slot_moves VALUES (1, NEW.stack_id, NEW.stage_id, NEW.finished_at, NEW.status,
        NEW.trigger_kind, NEW.lead_ms, NEW.build_ms, NEW.release_ms, NEW.deploy_ms);
END;

CREATE TRIGGER run_slots_on_delete AFTER DELETE ON runs BEGIN
    INSERT INTO run_slot_moves VALUES (-1, OLD.stack_id, OLD.stage_id, OLD.finished_at, OLD.status,
        OLD.trigger_kind, OLD.lead_ms, OLD.build_ms, OLD.release_ms, OLD.deploy_ms);
END;

-- The medians: a stage's successful runs in lead-time order (the median is
-- the middle one of those in the window), and its ended runs by status in
-- time order (failures, and the first success after each).
CREATE INDEX runs_by_lead_time ON runs (stack_id, stage_id, lead_ms, finished_at, status)
    WHERE status = 'succeeded' AND finished_at IS NOT NULL AND lead_ms IS NOT NULL;
CREATE INDEX runs_ended ON runs (stack_id, stage_id, status, finished_at)
    WHERE status IN ('succeeded', 'failed') AND finished_at IS NOT NULL;
