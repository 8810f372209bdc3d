-- Instants are TEXT in the fixed-width form 2006-01-02T15:04:05.000000Z
-- (UTC, microseconds) so that text order is time order; civil dates are
-- TEXT 'YYYY-MM-DD'. Documents are JSON text.

-- +goose Up
CREATE TABLE authority (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    name       TEXT NOT NULL,
    kid        TEXT NOT NULL,
    public_key BLOB NOT NULL,
    sealed     BLOB NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE institutions (
    id             TEXT PRIMARY KEY,
    prefix         TEXT NOT NULL UNIQUE,
    latest_version INTEGER NOT NULL
);

CREATE TABLE institution_versions (
    id           TEXT NOT NULL REFERENCES institutions (id),
    version      INTEGER NOT NULL,
    effective_at TEXT NOT NULL,
    doc          TEXT NOT NULL,
    token        TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE INDEX institution_versions_effective ON institution_versions (id, effective_at);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    institution_id TEXT NOT NULL REFERENCES institutions (id),
    public_key     BLOB NOT NULL,
    sealed         BLOB NOT NULL,
    created_at     TEXT NOT NULL,
    retired_at     TEXT
);
CREATE INDEX signing_keys_institution ON signing_keys (institution_id, created_at);

CREATE TABLE occupations (
    code TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
);

CREATE TABLE serials (
    prefix TEXT NOT NULL,
    year   INTEGER NOT NULL,
    level  INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (prefix, year, level)
) WITHOUT ROWID;

-- fingerprint is NULL for batches that have none (a reissue), so that the
-- uniqueness below only binds real rosters.
CREATE TABLE batches (
    id             TEXT PRIMARY KEY,
    institution_id TEXT NOT NULL REFERENCES institutions (id),
    fingerprint    TEXT,
    source         TEXT NOT NULL,
    count          INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    UNIQUE (institution_id, fingerprint)
);

CREATE TABLE certificates (
    number          TEXT PRIMARY KEY,
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    institution_ver INTEGER NOT NULL,
    batch_id        TEXT NOT NULL REFERENCES batches (id),
    holder_name     TEXT NOT NULL,
    doc_type        TEXT NOT NULL,
    doc_number      TEXT NOT NULL,
    student_no      TEXT NOT NULL,
    major           TEXT NOT NULL,
    candidate_type  TEXT NOT NULL,
    occupation      TEXT NOT NULL,
    occupation_name TEXT NOT NULL,
    specialty       TEXT NOT NULL,
    level           INTEGER NOT NULL,
    assessed_on     TEXT,
    issued_on       TEXT NOT NULL,
    issued_at       TEXT,
    kid             TEXT NOT NULL,
    token           TEXT NOT NULL,
    verify_code     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('valid', 'revoked', 'superseded')),
    revoked_reason  TEXT,
    revoked_note    TEXT,
    revoked_at      TEXT,
    revoked_by      TEXT,
    superseded_by   TEXT,
    supersedes      TEXT,
    pdf_sha256      TEXT
) WITHOUT ROWID;
CREATE INDEX certificates_institution ON certificates (institution_id);
CREATE INDEX certificates_batch ON certificates (batch_id);
CREATE INDEX certificates_doc_number ON certificates (doc_number);
-- One valid certificate per person, occupation, 工种 and level: revoked and
-- superseded ones drop out of the index and stop blocking a reissue.
CREATE UNIQUE INDEX certificates_valid_holding
    ON certificates (doc_type, doc_number, occupation, specialty, level)
    WHERE status = 'valid';

CREATE TABLE pdfs (
    number TEXT PRIMARY KEY REFERENCES certificates (number),
    bytes  BLOB NOT NULL
);

CREATE TABLE audit (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    at             TEXT NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    institution_id TEXT NOT NULL,
    subject        TEXT NOT NULL,
    detail         TEXT NOT NULL
);
CREATE INDEX audit_institution ON audit (institution_id, seq);
CREATE INDEX audit_subject ON audit (subject, seq);

-- +goose Down
DROP TABLE audit;
DROP TABLE pdfs;
DROP TABLE certificates;
DROP TABLE batches;
DROP TABLE serials;
DROP TABLE occupations;
DROP TABLE signing_keys;
DROP TABLE institution_versions;
DROP TABLE institutions;
DROP TABLE authority;
