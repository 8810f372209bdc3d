-- +goose Up
CREATE TABLE authority (
    id         smallint PRIMARY KEY CHECK (id = 1),
    name       text NOT NULL,
    kid        text NOT NULL,
    public_key bytea NOT NULL,
    sealed     bytea NOT NULL,
    created_at timestamptz
);

-- Keys that callers sort or page by use the "C" collation: byte order,
-- the same as SQLite, whatever the database's locale.
CREATE TABLE institutions (
    id             text COLLATE "C" PRIMARY KEY,
    prefix         text NOT NULL CONSTRAINT institutions_prefix_key UNIQUE,
    latest_version integer NOT NULL
);

CREATE TABLE institution_versions (
    id           text NOT NULL REFERENCES institutions (id),
    version      integer NOT NULL,
    effective_at timestamptz NOT NULL,
    doc          jsonb NOT NULL,
    token        text NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE INDEX institution_versions_effective ON institution_versions (id, effective_at);

CREATE TABLE signing_keys (
    kid            text COLLATE "C" PRIMARY KEY,
    institution_id text NOT NULL REFERENCES institutions (id),
    public_key     bytea NOT NULL,
    sealed         bytea NOT NULL,
    created_at     timestamptz,
    retired_at     timestamptz
);
CREATE INDEX signing_keys_institution ON signing_keys (institution_id, created_at);

CREATE TABLE occupations (
    code text COLLATE "C" PRIMARY KEY,
    doc  jsonb NOT NULL
);

CREATE TABLE serials (
    prefix text NOT NULL,
    year   integer NOT NULL,
    level  integer NOT NULL,
    last   bigint NOT NULL,
    PRIMARY KEY (prefix, year, level)
);

-- fingerprint is NULL for batches that have none (a reissue); NULLs are
-- distinct, so the uniqueness only binds real rosters.
CREATE TABLE batches (
    id             text PRIMARY KEY,
    institution_id text NOT NULL REFERENCES institutions (id),
    fingerprint    text,
    source         text NOT NULL,
    count          integer NOT NULL,
    created_at     timestamptz,
    created_by     text NOT NULL,
    CONSTRAINT batches_fingerprint_key UNIQUE (institution_id, fingerprint)
);

CREATE TABLE certificates (
    number          text COLLATE "C" PRIMARY KEY,
    institution_id  text NOT NULL REFERENCES institutions (id),
    institution_ver integer NOT NULL,
    batch_id        text NOT NULL REFERENCES batches (id),
    holder_name     text NOT NULL,
    doc_type        text NOT NULL,
    doc_number      text NOT NULL,
    student_no      text NOT NULL,
    major           text NOT NULL,
    candidate_type  text NOT NULL,
    occupation      text NOT NULL,
    occupation_name text NOT NULL,
    specialty       text NOT NULL,
    level           integer NOT NULL,
    assessed_on     date,
    issued_on       date NOT NULL,
    issued_at       timestamptz,
    kid             text NOT NULL,
    token           text NOT NULL,
    verify_code     text NOT NULL,
    status          text NOT NULL CHECK (status IN ('valid', 'revoked', 'superseded')),
    revoked_reason  text,
    revoked_note    text,
    revoked_at      timestamptz,
    revoked_by      text,
    superseded_by   text,
    supersedes      text,
    pdf_sha256      text
);
CREATE INDEX certificates_institution ON certificates (institution_id);
CREATE INDEX certificates_batch ON certificates (batch_id);
CREATE INDEX certificates_doc_number ON certificates (doc_number);
-- One valid certificate per person, occupation, 工种 and level: revoked and
-- superseded ones drop out of the index and stop blocking a reissue.
CREATE UNIQUE INDEX certificates_valid_holding
    ON certificates (doc_type, doc_number, occupation, specialty, level)
    WHERE status = 'valid';

CREATE TABLE pdfs (
    number text PRIMARY KEY REFERENCES certificates (number),
    bytes  bytea NOT NULL
);

CREATE TABLE audit (
    seq            bigserial PRIMARY KEY,
    at             timestamptz NOT NULL,
    actor          text NOT NULL,
    action         text NOT NULL,
    institution_id text NOT NULL,
    subject        text NOT NULL,
    detail         text NOT NULL
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
