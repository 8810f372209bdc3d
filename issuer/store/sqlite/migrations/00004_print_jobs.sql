-- The durable print job of a batch, recorded in the transaction that issues
-- the batch: a certificate is never committed without the job that makes
-- its PDF. print_items holds one row per certificate of a job not yet done,
-- with the holder's photo (NULL when none) and whether its PDF is stored;
-- when the last PDF of the batch is stored the job gets done_at and its
-- items, photos included, are deleted: certd keeps no photo outside the
-- PDFs once they all exist.

-- +goose Up
CREATE TABLE print_jobs (
    batch_id       TEXT PRIMARY KEY REFERENCES batches (id),
    institution_id TEXT NOT NULL REFERENCES institutions (id),
    public_url     TEXT NOT NULL,
    items          INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    done_at        TEXT
);
CREATE INDEX print_jobs_pending ON print_jobs (created_at) WHERE done_at IS NULL;

CREATE TABLE print_items (
    number   TEXT PRIMARY KEY REFERENCES certificates (number),
    batch_id TEXT NOT NULL REFERENCES print_jobs (batch_id),
    photo    BLOB,
    done     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX print_items_batch ON print_items (batch_id, done, number);

-- +goose Down
DROP TABLE print_items;
DROP TABLE print_jobs;
