-- R17, added after the first release: what the flow remembers so a restart
-- resumes everything. Databases made by 0001 keep every row; the new column
-- starts empty (the engine then judges from the deployed, waiting, pending
-- and running releases, as before).

-- The newest release that reached a stage through the flow or as its first
-- deploy: a gate never asks for a release at or below it.
ALTER TABLE stage_flows ADD COLUMN reached_release_id INTEGER;

-- Requested effects whose result is not in yet (a new first stage's first
-- deploy, a scale), written before they start and asked for again at every
-- start. At most one of each kind per stage; they go with their stage.
CREATE TABLE effect_requests (
    stage_id INTEGER NOT NULL REFERENCES stages(id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,  -- firstDeploy | scale
    data     TEXT NOT NULL,  -- JSON Request
    PRIMARY KEY (stage_id, kind)
);

-- The highest id ever written, also of rows deleted since (a deleted stage
-- or stack): new ids are minted above it, so no id is ever used twice.
CREATE TABLE id_floor (id INTEGER NOT NULL);
INSERT INTO id_floor SELECT COALESCE(MAX(id), 0) FROM (
    SELECT MAX(id) AS id FROM accounts UNION ALL SELECT MAX(id) FROM stacks
    UNION ALL SELECT MAX(id) FROM stages UNION ALL SELECT MAX(id) FROM releases
    UNION ALL SELECT MAX(id) FROM runs UNION ALL SELECT MAX(id) FROM approvals);

-- A release superseded while it waited at a busy stage is a run row with
-- status 'superseded' (it never ran); a stage's latest run skips those.
CREATE INDEX runs_latest_by_stage ON runs (stage_id, id) WHERE status != 'superseded';
