-- R18–R21, added after the Insights release: what a stage knows of its
-- service, and freezes. Stores made before keep every row.

-- Per stage: its service URL (from its stack's outputs) and the image its
-- last successful run deployed (what an automatic rollback redeploys).
CREATE TABLE stage_services (
    stage_id INTEGER PRIMARY KEY REFERENCES stages(id) ON DELETE CASCADE,
    data     TEXT NOT NULL  -- JSON StageService
);

-- Stages that deployed before this table existed can roll back too: their
-- deployed image is the one their newest successful run of the deployed
-- release recorded (the URL is read again at the next start).
INSERT INTO stage_services (stage_id, data)
SELECT f.stage_id, json_object('url', NULL, 'deployedImage', (
        SELECT json_extract(r.data, '$.image') FROM runs AS r
        WHERE r.stage_id = f.stage_id AND r.release_id = f.deployed_release_id AND r.status = 'succeeded'
        ORDER BY r.id DESC LIMIT 1))
FROM stage_flows AS f
WHERE f.deployed_release_id IS NOT NULL AND f.stage_id IN (SELECT id FROM stages);

-- A stack (stage_id 0) or one of its stages frozen, with who, when and why.
CREATE TABLE freezes (
    stack_id INTEGER NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    stage_id INTEGER NOT NULL,  -- 0: the whole stack
    data     TEXT NOT NULL,     -- JSON Freeze
    PRIMARY KEY (stack_id, stage_id)
);
