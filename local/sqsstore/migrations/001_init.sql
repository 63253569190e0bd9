-- Queues, their messages and message move tasks. Times are Unix milliseconds.
-- Tables are prefixed sqs_ so that other packages may keep theirs in the same file.
CREATE TABLE sqs_queues (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT    NOT NULL UNIQUE,
    created_at           INTEGER NOT NULL,
    modified_at          INTEGER NOT NULL,
    visibility_timeout   INTEGER NOT NULL,
    retention_period     INTEGER NOT NULL,
    delay_seconds        INTEGER NOT NULL,
    maximum_message_size INTEGER NOT NULL,
    receive_wait_time    INTEGER NOT NULL,
    redrive_policy       TEXT    NOT NULL DEFAULT '',
    dlq_name             TEXT    NOT NULL DEFAULT '',
    max_receive_count    INTEGER NOT NULL DEFAULT 0,
    redrive_allow_policy TEXT    NOT NULL DEFAULT '',
    extra_attributes     TEXT    NOT NULL DEFAULT '{}',
    tags                 TEXT    NOT NULL DEFAULT '{}',
    last_purge_at        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sqs_messages (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id           INTEGER NOT NULL REFERENCES sqs_queues(id) ON DELETE CASCADE,
    message_id         TEXT    NOT NULL,
    body               TEXT    NOT NULL,
    attributes         TEXT    NOT NULL DEFAULT '',
    md5_of_body        TEXT    NOT NULL,
    sender_id          TEXT    NOT NULL DEFAULT '',
    trace_header       TEXT    NOT NULL DEFAULT '',
    sent_at            INTEGER NOT NULL,
    visible_at         INTEGER NOT NULL,
    receive_count      INTEGER NOT NULL DEFAULT 0,
    first_received_at  INTEGER NOT NULL DEFAULT 0,
    received_at        INTEGER NOT NULL DEFAULT 0,
    receipt            TEXT,
    dead_letter_source TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sqs_messages_visible ON sqs_messages (queue_id, visible_at);
CREATE INDEX sqs_messages_sent ON sqs_messages (queue_id, sent_at);

CREATE TABLE sqs_move_tasks (
    handle            TEXT    PRIMARY KEY,
    source_name       TEXT    NOT NULL,
    source_arn        TEXT    NOT NULL,
    destination_arn   TEXT    NOT NULL DEFAULT '',
    max_per_second    INTEGER NOT NULL DEFAULT 0,
    status            TEXT    NOT NULL,
    moved             INTEGER NOT NULL DEFAULT 0,
    to_move           INTEGER NOT NULL DEFAULT 0,
    bound_id          INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    failure_reason    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sqs_move_tasks_source ON sqs_move_tasks (source_name, started_at);
