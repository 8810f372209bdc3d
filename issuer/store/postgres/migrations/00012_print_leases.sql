-- A lease on a print job, so that of several certd processes sharing one
-- database (serve instances, a command-line run) only one prints a batch at
-- a time: lease_owner holds the job until lease_until and renews it as it
-- goes; another process takes the job over only once the lease has run out
-- (its holder crashed). run_started_at and run_from (the items pending when
-- the holder took the job) give the console the rate and the time left of
-- the run in progress, whichever process runs it; failure (JSON: code, zh,
-- en) and failed_at say why the last run stopped.

-- +goose Up
ALTER TABLE print_jobs
    ADD COLUMN lease_owner    text,
    ADD COLUMN lease_until    timestamptz,
    ADD COLUMN run_started_at timestamptz,
    ADD COLUMN run_from       integer NOT NULL DEFAULT 0,
    ADD COLUMN failure        text,
    ADD COLUMN failed_at      timestamptz;

-- +goose Down
ALTER TABLE print_jobs
    DROP COLUMN failed_at,
    DROP COLUMN failure,
    DROP COLUMN run_from,
    DROP COLUMN run_started_at,
    DROP COLUMN lease_until,
    DROP COLUMN lease_owner;
