CREATE TABLE IF NOT EXISTS executions (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    state_machine TEXT NOT NULL,
    status        TEXT NOT NULL,
    input         TEXT,
    output        TEXT,
    error         TEXT,
    cause         TEXT,
    started_at    INTEGER,
    stopped_at    INTEGER,
    item_count    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS executions_started ON executions (started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS executions_status ON executions (status, started_at DESC);

-- An execution's history, encoded and compressed as one value (history.go).
CREATE TABLE IF NOT EXISTS histories (
    execution_id TEXT PRIMARY KEY REFERENCES executions (id) ON DELETE CASCADE,
    encoding     TEXT NOT NULL,
    events       BLOB NOT NULL
);

-- Histories as databases written before the histories table kept them, one
-- row per event; still read, no longer written.
CREATE TABLE IF NOT EXISTS events (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    id           INTEGER NOT NULL,
    previous_id  INTEGER NOT NULL,
    type         TEXT NOT NULL,
    ts           INTEGER,
    details      TEXT,
    PRIMARY KEY (execution_id, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS items (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    message_id   TEXT NOT NULL,
    mail_id      TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    error        TEXT NOT NULL,
    cause        TEXT NOT NULL,
    started_at   INTEGER,
    PRIMARY KEY (execution_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_mail ON items (mail_id, started_at DESC);
