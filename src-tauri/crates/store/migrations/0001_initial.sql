-- Stageline's pipeline state. Complex values are JSON written by the engine's
-- types; the columns beside them are what queries filter and join on.
-- No secret value is ever stored here: secrets live in the OS keychain and
-- rows only name their keychain entry.

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    credentials    TEXT NOT NULL,  -- JSON CredentialSource: a keychain reference or a profile name
    default_region TEXT NOT NULL,
    endpoint_url   TEXT
);

CREATE TABLE stacks (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    repository         TEXT NOT NULL,
    branch             TEXT NOT NULL,
    account_id         INTEGER NOT NULL REFERENCES accounts(id),
    poll_interval_secs INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    deleting           INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE stages (
    id        INTEGER PRIMARY KEY,
    stack_id  INTEGER NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    name      TEXT NOT NULL,
    settings  TEXT NOT NULL,  -- JSON StageSettings
    lifecycle TEXT NOT NULL,  -- JSON StageLifecycle
    UNIQUE (stack_id, name)
);
CREATE INDEX stages_by_stack ON stages (stack_id, position);

CREATE TABLE stage_flows (
    stage_id            INTEGER PRIMARY KEY REFERENCES stages(id) ON DELETE CASCADE,
    deployed_release_id INTEGER,
    waiting_release_id  INTEGER
);

CREATE TABLE releases (
    id         INTEGER PRIMARY KEY,
    stack_id   INTEGER NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    sha        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data       TEXT NOT NULL  -- JSON Release
);
CREATE INDEX releases_by_stack ON releases (stack_id, id);

-- Runs and approvals outlive their stage (history), so stage_id has no foreign key.
CREATE TABLE runs (
    id         INTEGER PRIMARY KEY,
    stack_id   INTEGER NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    stage_id   INTEGER NOT NULL,
    release_id INTEGER NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data       TEXT NOT NULL  -- JSON Run
);
CREATE INDEX runs_by_stage ON runs (stage_id, id);
CREATE INDEX runs_running ON runs (status) WHERE status = 'running';

CREATE TABLE approvals (
    id         INTEGER PRIMARY KEY,
    stack_id   INTEGER NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    stage_id   INTEGER NOT NULL,
    release_id INTEGER NOT NULL,
    status     TEXT NOT NULL,
    data       TEXT NOT NULL  -- JSON Approval
);
CREATE INDEX approvals_pending ON approvals (status) WHERE status = 'pending';
CREATE INDEX approvals_by_stage ON approvals (stage_id, id);
