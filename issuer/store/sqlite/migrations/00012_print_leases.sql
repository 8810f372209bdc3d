-- A lease on a print job, so that of several certd processes sharing one
-- database (serve instances, a command-line run) only one prints a batch at
-- a time: lease_owner holds the job until lease_until and renews it as it
-- goes; another process takes the job over only once the lease has run out
-- (its holder crashed). run_started_at and run_from (the items pending when
-- the holder took the job) give the console the rate and the time left of
-- the run in progress, whichever process runs it; failure (JSON: code, zh,
-- en) and failed_at say why the last run stopped.

-- +goose Up
ALTER TABLE print_jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE print_jobs ADD COLUMN lease_until TEXT;
ALTER TABLE print_jobs ADD COLUMN run_started_at TEXT;
ALTER TABLE print_jobs ADD COLUMN run_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE print_jobs ADD COLUMN failure TEXT;
ALTER TABLE print_jobs ADD COLUMN failed_at TEXT;

-- +goose Down
ALTER TABLE print_jobs DROP COLUMN failed_at;
ALTER TABLE print_jobs DROP COLUMN failure;
ALTER TABLE print_jobs DROP COLUMN run_from;
ALTER TABLE print_jobs DROP COLUMN run_started_at;
ALTER TABLE print_jobs DROP COLUMN lease_until;
ALTER TABLE print_jobs DROP COLUMN lease_owner;
