-- The public log's outbox (issue 11). Every change that the public log
-- records (a certificate issued, revoked or reissued, a registration version,
-- a key added or retired) writes its entry here in the same transaction as
-- the change; the one sequencer appends pending rows (log_index NULL) to the
-- log and records their index. entry is unique: every entry commits to a
-- distinct record or event, which is what lets the sequencer match the log's
-- entries to rows after a crash. subject and salt are private (the salt is
-- revealed only in the certificate's own proof).

-- +goose Up
CREATE TABLE tlog_outbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT    NOT NULL,
    institution_id TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    salt           BLOB,
    entry          BLOB    NOT NULL UNIQUE,
    created_at     TEXT    NOT NULL,
    log_index      INTEGER UNIQUE
);
CREATE INDEX tlog_outbox_subject ON tlog_outbox (subject, id);
CREATE INDEX tlog_outbox_institution ON tlog_outbox (institution_id, id);
CREATE INDEX tlog_outbox_pending ON tlog_outbox (id) WHERE log_index IS NULL;

-- The log's checkpoint key, sealed under the KEK (one row).
CREATE TABLE tlog_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    origin     TEXT NOT NULL,
    public_key BLOB NOT NULL,
    sealed     BLOB NOT NULL,
    created_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE tlog_key;
DROP TABLE tlog_outbox;
