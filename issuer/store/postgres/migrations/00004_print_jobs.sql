-- The durable print job of a batch, recorded in the transaction that issues
-- the batch: a certificate is never committed without the job that makes
-- its PDF. print_items holds one row per certificate of a job not yet done,
-- with the holder's photo (NULL when none) and whether its PDF is stored;
-- when the last PDF of the batch is stored the job gets done_at and its
-- items, photos included, are deleted: certd keeps no photo outside the
-- PDFs once they all exist.

-- +goose Up
CREATE TABLE print_jobs (
    batch_id       text PRIMARY KEY REFERENCES batches (id),
    institution_id text NOT NULL REFERENCES institutions (id),
    public_url     text NOT NULL,
    items          integer NOT NULL,
    created_at     timestamptz NOT NULL,
    done_at        timestamptz
);
CREATE INDEX print_jobs_pending ON print_jobs (created_at) WHERE done_at IS NULL;

CREATE TABLE print_items (
    number   text PRIMARY KEY REFERENCES certificates (number),
    batch_id text NOT NULL REFERENCES print_jobs (batch_id),
    photo    bytea,
    done     boolean NOT NULL DEFAULT false
);
CREATE INDEX print_items_batch ON print_items (batch_id, done, number);

-- +goose Down
DROP TABLE print_items;
DROP TABLE print_jobs;
